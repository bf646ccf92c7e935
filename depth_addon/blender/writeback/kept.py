# SPDX-License-Identifier: GPL-3.0-or-later
"""The user's materials that a result replaces in an object's slots, kept on the object until it is given back.

They are kept as ID references in a custom property of the object, not by name: a reference counts as a user,
so a material that only the replaced slot used is not dropped when the file is saved, and it follows a rename
made while the result is shown. Results written before references were kept recorded names; those are still
read (:func:`materials`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence, Set

import bpy

from .. import idref

#: Custom properties of an object showing a result, holding its JSON state (bake or coverage; projection).
RESULT_KEYS = ("depth_addon_bake", "depth_addon_projection")


def keep(obj: bpy.types.Object, key: str, materials: Sequence[bpy.types.Material | None]) -> None:
    """Keep ``materials`` (one per slot, None for an empty one) on ``obj`` under ``key``.

    :param obj: The object.
    :param key: Custom property name.
    :param materials: The slots' materials.
    """
    obj[key] = {str(i): m for i, m in enumerate(materials) if m is not None}


def materials(obj: bpy.types.Object, key: str, names: Sequence,
              lookup: Callable[[object], bpy.types.Material | None]) -> list[bpy.types.Material | None]:
    """The materials kept under ``key``, one per slot; for a result recorded before references were kept, the
    recorded ``names`` looked up with ``lookup``.

    :param obj: The object.
    :param key: Custom property name.
    :param names: What the result recorded per slot (a name, or another key ``lookup`` reads).
    :param lookup: Recorded value → material, or None.
    """
    group = obj.get(key)
    if group is None:
        return [lookup(name) if name is not None else None for name in names]
    return [group.get(str(i)) for i in range(len(names))]


def forget(obj: bpy.types.Object, key: str) -> None:
    """Drop the references kept under ``key`` (the materials lose that user).

    :param obj: The object.
    :param key: Custom property name.
    """
    if key in obj:
        del obj[key]


def release(obj: bpy.types.Object, keep: Set[str] = frozenset()) -> None:
    """Take our stable id (:func:`~depth_addon.blender.idref.stable_id`) off ``obj`` once it shows no result of ours:
    the object is left as it was before.

    :param obj: An object a result was just taken off.
    :param keep: Stable ids that results still shown name (their Regenerate finds the objects by them): kept.
    """
    if not shows_result(obj) and obj.get(idref.KEY_UID) not in keep:
        idref.forget(obj)


def shows_result(obj: bpy.types.Object) -> bool:
    """Whether ``obj`` shows a result of ours (a projection or a bake).

    :param obj: Any object.
    """
    return any(key in obj for key in RESULT_KEYS)


def release_unnamed(ids: set[str], still_named: set[str]) -> None:
    """:func:`release` the objects holding one of ``ids`` (the stable ids the removed results' records named: they
    also name objects they did not paint, every object in a view, each object prompt), unless a result still shown
    names them too (``still_named``): its Regenerate finds them by those ids after a rename.

    :param ids: Stable ids named by the records of the results just removed.
    :param still_named: Stable ids named by the records of the results still shown.
    """
    drop = ids - still_named
    for obj in bpy.data.objects:
        if obj.get(idref.KEY_UID) in drop and obj.library is None:
            release(obj)


def drop_added_slots(obj: bpy.types.Object, added: int, keys: Sequence[str] = RESULT_KEYS) -> None:
    """Take off the ``added`` material slots a result appended to ``obj``'s mesh (it had none).

    When another object that shares the mesh still shows a result (a JSON state under one of ``keys``), the slots
    stay, and that object takes them over: they go when its result goes. Otherwise its material would be left in
    a slot the mesh no longer has, out of reach and never freed.

    :param obj: The object whose result is being taken off.
    :param added: Slots its result added.
    :param keys: Custom properties holding the results' JSON states (with an ``added`` count).
    """
    if not added:
        return
    heir = next((o for o in bpy.data.objects if o is not obj and o.data is obj.data and any(k in o for k in keys)),
                None)
    if heir is not None:
        key = next(k for k in keys if k in heir)
        state = json.loads(heir[key])
        state["added"] = int(state.get("added", 0)) + added
        heir[key] = json.dumps(state)
    elif len(obj.data.materials) <= added:
        obj.data.materials.clear()  # pop() of the last slot leaves the object's slot count stale
    else:
        for _ in range(added):
            obj.data.materials.pop()
