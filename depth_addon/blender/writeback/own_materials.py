# SPDX-License-Identifier: GPL-3.0-or-later
"""The user's own material of each slot of an object, whether or not one of our results shows there.

A bake puts one material of ours into every slot of an object, and a projection one material per original;
what the slots held is kept for Remove (:mod:`.kept`, :mod:`.bake_apply`, :mod:`.projection`). Whatever names the
parts of a scene (the prompt router, the depth render's material ids) reads the slots through
:func:`own_material`, so an object keeps the parts, names and prompts it had before the first result: a second
run, or a regenerate, routes the prompt exactly as the first did.
"""

from __future__ import annotations

import json

import bpy

from . import kept
from .bake_apply import KEY_BAKE_KEPT, KEY_BAKE_MATERIAL, KEY_BAKE_STATE
from .projection import source_of
from .projection_nodes import KEY_SOURCE


def own_material(obj: bpy.types.Object, index: int, material: bpy.types.Material | None
                 ) -> bpy.types.Material | None:
    """The material slot ``index`` of ``obj`` shows when the results of ours on it are removed.

    :param obj: An original (not evaluated) object.
    :param index: The slot's index.
    :param material: What the slot shows now; returned as it is when it is none of our results.
    """
    if material is not None and KEY_SOURCE in material:  # a projection: one material per slot's original
        material = source_of(material)
    if material is None or not material.get(KEY_BAKE_MATERIAL) or KEY_BAKE_STATE not in obj:
        return material
    slots = json.loads(obj[KEY_BAKE_STATE])["slots"]  # a bake (or coverage): one material in every slot
    if index >= len(slots):
        return material
    if slots[index][0] == "DATA":  # the slot showed the mesh's material, which the bake leaves alone
        return obj.data.materials[index] if index < len(obj.data.materials) else None
    return kept.materials(obj, KEY_BAKE_KEPT, [name for _link, name in slots], bpy.data.materials.get)[index]


def slot_materials(obj: bpy.types.Object) -> list[bpy.types.Material | None]:
    """The user's material of each slot of ``obj`` (:func:`own_material`), None for an empty one.

    :param obj: An original (not evaluated) object.
    """
    return [own_material(obj, i, slot.material) for i, slot in enumerate(obj.material_slots)]
