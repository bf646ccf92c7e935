# SPDX-License-Identifier: GPL-3.0-or-later
"""An object split by its material slots keeps its parts across re-runs: a second bake, a regenerate and a second
projection route the prompt by the user's materials, not by the bake or projection material of ours that now sits
in every slot, so the same seed on the same scene gives the same result."""

from __future__ import annotations

import bpy
import numpy as np
from test_multiview import block_scene

from depth_addon import api
from depth_addon.app import multiview as app_multiview
from depth_addon.app import regenerate
from depth_addon.blender.writeback import bake_apply
from depth_addon.blender.writeback import provenance as provenance_props

PROMPT = "polished gold roof, red brick walls, grass"


def roofed_cube() -> bpy.types.Object:
    """The block scene's cube, its top faces in a "Roof" slot that links the object's own material (the mesh's
    material of that slot is another one), its sides in a "Wall" slot that links the mesh's; a camera on it."""
    _ground, cube = block_scene()
    cube.data.materials.append(bpy.data.materials.new("Wall"))
    cube.material_slots[0].link = "OBJECT"
    cube.material_slots[0].material = bpy.data.materials.new("Roof")
    for face in cube.data.polygons:
        face.material_index = 0 if face.normal.z > 0.9 else 1
    scene = bpy.context.scene
    scene.camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(scene.camera)
    scene.camera.location, scene.camera.rotation_euler = (3.0, -3.0, 3.0), (0.9, 0.0, 0.785)
    bpy.context.view_layer.update()
    return cube


def routed(decisions: list[dict]) -> list[tuple[str, str]]:
    return sorted((d["part"], d["prompt"]) for d in decisions)


def pixels(image: bpy.types.Image) -> np.ndarray:
    out = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(out)
    return out


def test_a_second_bake_and_a_regenerate_route_the_roof_and_walls_as_the_first() -> None:
    """Run 1 paints the roof gold and the walls brick; run 2 and a regenerate with the same seed do the same (the
    whole cube used to come out metallic), pixel for pixel."""
    cube = roofed_cube()
    scene = bpy.context.scene
    kw = {"views": 2, "seed": 3, "bake_size": 64, "view_size": 64, "maps": True, "shading": "PBR", "prompt": PROMPT}
    first = app_multiview.texture_multiview(scene, **kw)
    assert ("Cube/Roof", "gold glossy metal") in routed(first.decisions)
    assert ("Cube/Wall", "red brick") in routed(first.decisions)
    metallic = pixels(first.maps["Cube"]["metallic"]).copy()
    assert 0.05 < metallic.reshape(-1, 4)[:, 0].mean() < 0.5  # the roof only
    second = app_multiview.texture_multiview(scene, **kw)
    assert routed(second.decisions) == routed(first.decisions)
    assert np.array_equal(pixels(second.maps["Cube"]["metallic"]), metallic)
    again = regenerate.regenerate(cube, scene)
    assert routed(again.decisions) == routed(first.decisions)
    assert np.array_equal(pixels(again.maps["Cube"]["metallic"]), metallic)
    assert sorted(api.render_depth(scene, resolution=(32, 32), ids=True).materials) == [
        "Ground Original", "Roof", "Wall"]  # the user's, under the bake
    bake_apply.remove_bake()
    assert [(s.link, s.material.name) for s in cube.material_slots] == [("OBJECT", "Roof"), ("DATA", "Wall")]


def test_a_second_projection_and_a_projection_over_a_bake_name_the_parts_as_the_first() -> None:
    """Generate & Project twice: the parts keep the user's material names (not "Roof [Depth]"), and the image is
    the same; projecting over a bake (one material in every slot) still splits the cube by its slots."""
    cube = roofed_cube()
    scene = bpy.context.scene
    first = api.texture_scene(scene, prompt=PROMPT, seed=2, resolution=(64, 64), compositor=False)
    lit = pixels(first.image).copy()
    assert ("Cube/Roof", "gold glossy metal") in routed(first.parts.decisions)
    second = api.texture_scene(scene, prompt=PROMPT, seed=2, resolution=(64, 64), compositor=False)
    assert routed(second.parts.decisions) == routed(first.parts.decisions)
    assert np.array_equal(pixels(second.image), lit)
    again = regenerate.regenerate(cube, scene)
    record, _holder = provenance_props.find(cube)
    assert routed(record["options"]["parts"]) == routed(first.parts.decisions)
    assert np.array_equal(pixels(again), lit)
    app_multiview.texture_multiview(scene, views=1, seed=3, bake_size=32, view_size=32, prompt="red brick")
    over = api.texture_scene(scene, prompt=PROMPT, seed=2, resolution=(64, 64), compositor=False)
    assert routed(over.parts.decisions) == routed(first.parts.decisions)
