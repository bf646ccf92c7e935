# SPDX-License-Identifier: GPL-3.0-or-later
"""The scene's parts as the prompt router sees them: objects, or their material slots, with names and shape.

A part is an object, or one material slot of an object that has several (imported scenes are often one
mesh with dozens of materials). Each part carries its names (object, material, collections), its world
bounding box and the shares of its surface that face up, sideways or slope
(:class:`~depth_addon.generation.scene_assign.Part`). :func:`segment_map` turns a depth render's id
passes into one segment id per part.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from ..depthmap import DepthResult
from ..generation.scene_assign import Part
from .writeback.own_materials import slot_materials


def _surface_shares(obj: bpy.types.Object, slot: int | None) -> tuple[float, float, float, np.ndarray]:
    """Area shares facing up, sideways and sloping (world normals), and the world corners of the faces used."""
    me = obj.data
    n = len(me.polygons)
    if n == 0:
        return 0.0, 0.0, 0.0, np.zeros((0, 3))
    normals = np.empty(n * 3, np.float32)
    me.polygons.foreach_get("normal", normals)
    areas = np.empty(n, np.float32)
    me.polygons.foreach_get("area", areas)
    keep = np.ones(n, bool)
    if slot is not None:
        index = np.empty(n, np.int32)
        me.polygons.foreach_get("material_index", index)
        keep = index == slot
    rot = np.array(obj.matrix_world.to_3x3().inverted_safe().transposed(), np.float64)
    world = normals.reshape(-1, 3)[keep] @ rot.T
    world /= np.maximum(np.linalg.norm(world, axis=1, keepdims=True), 1e-12)
    w = areas[keep] / max(float(areas[keep].sum()), 1e-12)
    z = world[:, 2]
    up, side = float(w[z > 0.9].sum()), float(w[np.abs(z) < 0.3].sum())
    slope = float(w[(z >= 0.3) & (z <= 0.9)].sum())
    if slot is None:
        corners = np.array([obj.matrix_world @ Vector(c) for c in obj.bound_box], np.float64)
    else:
        corners = np.array([obj.matrix_world @ v.co for v in me.vertices], np.float64)
    return up, side, slope, corners


def scene_parts(result: DepthResult) -> list[Part]:
    """The parts a depth render with ``ids=True`` draws: one per object, or per material slot when an object
    shows several materials. Objects hidden behind others are parts too, so the list (and each part's palette
    variant, which follows its index) does not depend on what one camera happens to see.

    :param result: A depth render with ``object_ids`` and ``material_ids``.
    """
    parts = []
    for index, name in enumerate(result.objects):
        obj = bpy.data.objects.get(name)
        if obj is None or obj.type != "MESH":
            continue
        seen = np.unique(result.material_ids[result.object_ids == index])
        names = [result.materials[m] for m in seen if m >= 0]
        slots = [(i, m.name) for i, m in enumerate(slot_materials(obj))
                 if m is not None and m.name in names] if len(names) > 1 else [(None, "")]
        for slot, material in slots:
            up, side, slope, corners = _surface_shares(obj, slot)
            lo = tuple(corners.min(0)) if len(corners) else (0.0, 0.0, 0.0)
            hi = tuple(corners.max(0)) if len(corners) else (0.0, 0.0, 0.0)
            parts.append(Part(name, material or (names[0] if len(names) == 1 else ""),
                              tuple(c.name for c in obj.users_collection), lo, hi, up, side, slope))
    return parts


def segment_map(result: DepthResult, parts: list[Part]) -> np.ndarray:
    """H×W segment ids, the index of each pixel's part in ``parts`` (-1 for background and other objects).

    :param result: The depth render the parts were built from.
    :param parts: From :func:`scene_parts`.
    """
    segments = np.full(result.object_ids.shape, -1, np.int32)
    by_object = {result.objects.index(p.object): [] for p in parts}
    for i, part in enumerate(parts):
        by_object[result.objects.index(part.object)].append((i, part.material))
    for obj_index, entries in by_object.items():
        on = result.object_ids == obj_index
        if len(entries) == 1:
            segments[on] = entries[0][0]
            continue
        for i, material in entries:
            segments[on & (result.material_ids == result.materials.index(material))] = i
    return segments
