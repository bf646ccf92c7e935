# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding a scene or object again after a wait, such as a generation in the worker: the user may have renamed or
deleted it meanwhile, and a Python reference held across the wait is not safe to use."""

from __future__ import annotations

from collections.abc import Iterable

import bpy


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
