# SPDX-License-Identifier: GPL-3.0-or-later
"""The triangles a bake maps, as the render shows them: :func:`surfaces` reads every bake target once.

Most of what a render evaluates differently is a setting that can be set as the render has it while the viewport
depsgraph is read (:mod:`.render_geometry`). Geometry nodes that branch on *Is Viewport* give the render's surface
in a render only: such objects are read inside one (:func:`read_in_render`, the internal render the depth path uses
for the same objects).
"""

from __future__ import annotations

from collections.abc import Callable

import bpy
import numpy as np

from ..depth import cache as depth_cache
from ..depth import gpu as depth_gpu
from ..evaluation import branches_on_viewport, scene_depsgraph, scene_layer
from . import uv_bake
from .render_geometry import simplified_as_rendered


def surfaces(objects: list[bpy.types.Object], depsgraph: bpy.types.Depsgraph, uv_maps: dict[str, str],
             known: dict | None = None) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`.uv_bake.surface_triangles` of each object, read with the scene's Simplify as its render has it
    (:func:`.render_geometry.simplified_as_rendered`); objects whose geometry nodes branch on *Is Viewport* are read
    inside a render (:func:`read_in_render`).

    :param objects: Mesh objects of ``depsgraph``'s scene.
    :param depsgraph: The view layer's evaluated depsgraph.
    :param uv_maps: Object name → UV map to read.
    :param known: Object name → triangles read already (kept as they are).
    """
    known = dict(known or {})
    scene = depsgraph.scene
    in_render = [o for o in objects if o.name not in known and branches_on_viewport(o)]
    if in_render:
        known.update(read_in_render(scene, in_render, lambda o, dg: uv_bake.read_triangles(o, dg, uv_maps[o.name])))
    with simplified_as_rendered(scene, depsgraph):
        return {o.name: known.get(o.name) or uv_bake.surface_triangles(o, depsgraph, uv_maps[o.name])
                for o in objects}


def read_in_render(scene: bpy.types.Scene, objects: list[bpy.types.Object],
                   read: Callable[[bpy.types.Object, bpy.types.Depsgraph], object]) -> dict[str, object]:
    """``read(obj, render depsgraph)`` of each object, inside one internal render of the scene (at 1×1; every render
    setting is put back). Empty when the scene has no camera to render from or this Blender cannot render there (no
    GPU context): the viewport's surface is read then.

    :param scene: The objects' scene.
    :param objects: Objects to read.
    :param read: Reads one object from the depsgraph it is given.
    """
    out: dict[str, object] = {}
    camera = scene.camera or next((o for o in scene.objects if o.type == "CAMERA"), None)
    if camera is None:  # a render needs one
        return out
    layer = scene_layer(scene)

    def job(depsgraph: bpy.types.Depsgraph) -> None:
        for obj in objects:
            out[obj.name] = read(obj, depsgraph)

    try:
        with depth_cache.quiet():  # the render sets and restores settings: not edits
            depth_gpu.run_in_render(scene, layer.name, job, camera)
            scene_depsgraph(scene, layer)
    except depth_gpu.GPUUnavailable:
        out.clear()
    return out
