# SPDX-License-Identifier: GPL-3.0-or-later
"""An imported model is often one object whose parts are material slots: a slot named for a part of the prompt
gets that part's material, even when the object's own name (``Building``, ``House``) is a target word too."""

from __future__ import annotations

import math

import bmesh
import bpy
import numpy as np

from depth_addon import api

SIZE = (96, 72)
#: slot material → (centre, size) of its box; the walls' front face is at y = -2.
BOXES = {"M_Walls": ((0, 0, 1.5), (6, 4, 3)), "M_Roof": ((0, 0, 3.6), (6.4, 4.4, 1.2)),
         "M_Door": ((1.2, -2.1, 0.9), (0.9, 0.2, 1.8)), "M_Trim": ((-1.5, -2.1, 1.6), (1.0, 0.2, 1.0))}


def building(name: str = "Building") -> bpy.types.Object:
    """One mesh object, one slot per box, seen from the front by the scene camera."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = SIZE
    bm = bmesh.new()
    for index, (centre, size) in enumerate(BOXES.values()):
        verts = bmesh.ops.create_cube(bm, size=1.0)["verts"]
        for v in verts:
            v.co = [c + x * s for c, x, s in zip(centre, v.co, size, strict=True)]
        for face in {f for v in verts for f in v.link_faces}:
            face.material_index = index
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    for material in BOXES:
        mesh.materials.append(bpy.data.materials.new(material))
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    camera = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    camera.location, camera.rotation_euler = (0, -14, 2.5), (math.radians(86), 0, 0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    return obj


def slot_colours(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Mean colour of each slot's pixels (from an id render of the same view)."""
    ids = api.render_depth(resolution=SIZE, ids=True)
    return {name: rgb[ids.material_ids == i].mean(0) for i, name in enumerate(ids.materials)}


def test_a_slot_named_for_a_phrase_takes_it_though_the_object_name_is_a_wall() -> None:
    building()
    run = api.texture_scene(prompt="red brick walls, copper roof, wooden door", seed=0, resolution=SIZE,
                            compositor=False, generator="analytic")
    got = {d["part"]: (d["prompt"], d["reason"]) for d in run.parts.decisions}
    assert got["Building/M_Roof"] == ("copper metal", "material")
    assert got["Building/M_Door"] == ("wood", "material")
    assert got["Building/M_Walls"][0] == "red brick"
    assert got["Building/M_Trim"] == ("red brick", "name")  # no slot word: the object's name decides
    assert not any("no object matches" in w for w in run.warnings), run.warnings
    painted = slot_colours(run.rgb)
    copper = slot_colours(api.texture_scene(prompt="red brick", object_prompts={"Building": "copper metal"},
                                            seed=0, resolution=SIZE, compositor=False, generator="analytic").rgb)
    brick = slot_colours(api.texture_scene(prompt="red brick", seed=0, resolution=SIZE, compositor=False,
                                           generator="analytic").rgb)
    roof = painted["M_Roof"]
    assert np.abs(roof - copper["M_Roof"]).sum() < np.abs(roof - brick["M_Roof"]).sum()
