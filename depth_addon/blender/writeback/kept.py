# SPDX-License-Identifier: GPL-3.0-or-later
"""The user's materials that a result replaces in an object's slots, kept on the object until it is given back.

They are kept as ID references in a custom property of the object, not by name: a reference counts as a user,
so a material that only the replaced slot used is not dropped when the file is saved, and it follows a rename
made while the result is shown. Results written before references were kept recorded names; those are still
read (:func:`materials`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import bpy


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
