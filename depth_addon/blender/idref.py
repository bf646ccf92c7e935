# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding a scene or object again after a wait, such as a generation in the worker: the user may have renamed or
deleted it meanwhile, and a Python reference held across the wait is not safe to use.

Across sessions (a record saved in the file), an object is found again by the stable id :func:`stable_id` stores on
it: a session id changes when the file is opened again, a name when the user renames the object.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import bpy

#: On an object named by a record of ours: its stable id, which a rename keeps (a duplicate copies it too).
KEY_UID = "depth_addon_uid"


def remember(ids: Iterable[bpy.types.ID]) -> list[tuple[str, int]]:
    """Name and session id of each of ``ids``, to find them again with :func:`find`.

    :param ids: Data-blocks (scenes, objects …).
    """
    return [(item.name, item.session_uid) for item in ids]


def find(collection: bpy.types.bpy_prop_collection, name: str, uid: int) -> bpy.types.ID | None:
    """The data-block that was called ``name`` when it was remembered: by its session id (it keeps that when it is
    renamed), else by its name; None when it is gone.

    :param collection: Where it lives (``bpy.data.scenes``, ``bpy.data.objects`` …).
    :param name: Its name then.
    :param uid: Its ``session_uid`` then.
    """
    found = next((item for item in collection if item.session_uid == uid), None)
    return found if found is not None else collection.get(name)


def find_all(collection: bpy.types.bpy_prop_collection, refs: Iterable[tuple[str, int]]) -> list[bpy.types.ID | None]:
    """:func:`find` for each of ``refs`` (from :func:`remember`), with one pass over ``collection`` for them all.

    :param collection: Where they live.
    :param refs: ``(name, session id)`` of each.
    """
    by_uid = {item.session_uid: item for item in collection}
    out = []
    for name, uid in refs:
        found = by_uid.get(uid)
        out.append(found if found is not None else collection.get(name))
    return out


def stable_id(idb: bpy.types.ID) -> str | None:
    """The stable id of ``idb``, given one now if it has none; None for a data-block that cannot be edited here
    (linked from a library), which is found by its name.

    :param idb: An object (any local data-block).
    """
    uid = idb.get(KEY_UID)
    if isinstance(uid, str):
        return uid
    if not idb.is_editable or idb.library is not None:
        return None
    idb[KEY_UID] = uid = uuid.uuid4().hex
    return uid


def forget(idb: bpy.types.ID) -> None:
    """Take the stable id off ``idb`` (nothing when it has none).

    :param idb: Any data-block.
    """
    if KEY_UID in idb:
        del idb[KEY_UID]


@dataclass
class Index:
    """A collection's data-blocks by stable id (several after a duplicate) and by name, made in one pass: a name
    lookup in a ``bpy.data`` collection walks it, so many lookups want this.

    :param by_uid: Stable id → the data-blocks holding it.
    :param by_name: Name → data-block.
    """

    by_uid: dict[str, list[bpy.types.ID]] = field(default_factory=dict)
    by_name: dict[str, bpy.types.ID] = field(default_factory=dict)


def stable_index(collection: bpy.types.bpy_prop_collection) -> Index:
    """The :class:`Index` of ``collection``, in one pass.

    :param collection: Where they live (``bpy.data.objects``).
    """
    index = Index()
    for item in collection:
        if item.library is None or item.name not in index.by_name:  # a local one before a linked one, as .get has it
            index.by_name[item.name] = item
        uid = item.get(KEY_UID)
        if isinstance(uid, str):
            index.by_uid.setdefault(uid, []).append(item)
    return index


def find_stable(collection: bpy.types.bpy_prop_collection, name: str, uid: str | None,
                index: Index | None = None) -> bpy.types.ID | None:
    """The data-block that was called ``name`` and had stable id ``uid``: the one holding ``uid`` (renamed since or
    not; of several holding it, a duplicate's, the one still called ``name``), else the one called ``name``.

    :param collection: Where it lives.
    :param name: Its name then.
    :param uid: Its stable id then (None: found by name).
    :param index: :func:`stable_index` of ``collection``, when several are looked up.
    """
    item = collection.get(name) if index is None else index.by_name.get(name)
    if uid is None or item is not None and item.get(KEY_UID) == uid:
        return item
    holders = (stable_index(collection) if index is None else index).by_uid.get(uid, [])
    if len(holders) == 1:
        return holders[0]
    return item
