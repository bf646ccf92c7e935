# SPDX-License-Identifier: GPL-3.0-or-later
"""Baking relightable projections as a look-dev artist does: several projections baked at once, relightable and
lit ones side by side; a refusal changes nothing, and the result names every object's maps. A generator that gives
only some maps still makes a relightable result."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from test_multiview import snapshot

from depth_addon import api
from depth_addon.app import flow as app_flow
from depth_addon.app import multiview as app_multiview
from depth_addon.app import writeback
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.blender.writeback import bake_apply, projection
from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput
from depth_addon.generation import delight
from depth_addon.generation import maps as gen_maps


def two_projections(second_maps: bool) -> tuple[bpy.types.Scene, bpy.types.Object, bpy.types.Object]:
    """The demo scene with a relightable projection on the box and another one (relightable when ``second_maps``,
    else lit) from a second camera on the sphere."""
    scene = build_demo_scene(bpy.context.scene, (48, 48))
    box, sphere = bpy.data.objects["Box"], bpy.data.objects["Sphere"]
    api.texture_scene(scene, prompt="polished metal", seed=2, compositor=False, maps=True, objects=[box])
    other = scene.camera.copy()
    scene.collection.objects.link(other)
    other.location.x += 0.3
    api.texture_scene(scene, camera=other, prompt="oak wood", seed=2, compositor=False, maps=second_maps,
                      objects=[sphere])
    return scene, box, sphere


@pytest.mark.parametrize("shading", ["PBR", "PBR_DISPLACEMENT"])
def test_baking_a_lit_projection_as_relightable_is_refused_before_anything_is_baked(shading) -> None:
    """One of the chosen projections is lit: nothing is baked (the relightable one is not baked alone first), and the
    message names the lit object and says what to do in the sidebar, not a command-line flag."""
    scene, box, sphere = two_projections(second_maps=False)
    before = snapshot()
    with pytest.raises(BadInput, match="'Sphere' shows a lit projection") as refused:
        writeback.bake_projection(scene, [box, sphere], 32, shading=shading)
    assert "--maps" not in str(refused.value) and "Relightable (PBR)" in str(refused.value)
    assert snapshot() == before
    assert projection.is_projected(box) and not bake_apply.is_baked(box)


def test_the_bake_operator_refuses_a_lit_projection_for_relightable_shading(addon) -> None:
    scene, box, sphere = two_projections(second_maps=False)
    before = snapshot()
    with pytest.raises(RuntimeError, match="'Sphere' shows a lit projection") as refused:
        bpy.ops.depth.bake_textures(bake_size="512", shading="PBR")
    assert "--maps" not in str(refused.value)
    assert snapshot() == before and projection.is_projected(box)
    assert bpy.ops.depth.bake_textures(bake_size="512") == {"FINISHED"}  # As Projected: each as it is
    assert bake_apply.is_baked(box) and bake_apply.is_baked(sphere)


def test_baking_two_relightable_projections_names_the_maps_of_both() -> None:
    """Objects of two projectors are baked from two views; the result holds every object's maps and sizes."""
    scene, box, sphere = two_projections(second_maps=True)
    result = writeback.bake_projection(scene, None, 32)
    assert set(result.images) == {"Box", "Sphere"}
    assert set(result.maps) == {"Box", "Sphere"}, set(result.maps)
    assert all(set(maps) == set(bake_apply.MAP_SUFFIX) for maps in result.maps.values())
    assert result.sizes == {"Box": 32, "Sphere": 32}
    for name in ("Box", "Sphere"):
        bsdf = next(n for n in result.materials[name].node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
        assert bsdf.inputs["Metallic"].links[0].from_node.image == result.maps[name]["metallic"]


class PartialMaps:
    """A generator (a plug-in, say) whose ``generate_maps`` gives only some of the maps: albedo and normal."""

    name = "partial-maps"
    maps = ("albedo", "normal")

    def generate(self, depth, mask=None, prompt="", seed=0, camera=None, **_kw):
        return np.full(np.shape(depth) + (3,), 0.4, np.float32)

    def generate_maps(self, depth, mask=None, prompt="", seed=0, camera=None, **kw):
        rgb = self.generate(depth, mask, prompt, seed, camera, **kw)
        flat = np.broadcast_to(np.array([0.5, 0.5, 1.0], np.float32), rgb.shape).copy()
        return gen_maps.Layers(rgb, {"albedo": np.full_like(rgb, 0.25), "normal": flat})


def test_a_generator_giving_some_maps_gets_the_others_estimated(monkeypatch) -> None:
    """Its own maps are kept, the missing ones estimated from its image (as for a generator that only paints): the
    relightable projection gets every map, and a relightable bake is made rather than refused with "ask the
    generator for maps" (they were asked for)."""
    depth, cam = np.full((32, 32), 3.0, np.float32), CameraModel.from_fov(32, 32, 50.0)
    layers = delight.generate_layers(PartialMaps(), depth, None, "polished metal", 1, cam)
    assert set(layers.maps) == set(gen_maps.MAPS)
    assert np.all(layers.maps["albedo"] == 0.25) and layers.maps["metallic"].min() == 1.0
    monkeypatch.setattr(app_flow, "get_generator", lambda name=None, **_o: PartialMaps())
    scene = build_demo_scene(bpy.context.scene, (48, 48))
    run = api.texture_scene(scene, prompt="polished metal", seed=1, compositor=False, maps=True)
    assert all(bpy.data.images.get(f"{run.image.name} {k.title()}") for k in ("albedo", "roughness", "metallic",
                                                                              "height"))
    result = app_multiview.texture_multiview(scene, views=1, bake_size=32, view_size=48, prompt="polished metal",
                                             maps=True, shading="PBR")
    assert set(result.maps["Box"]) == set(bake_apply.MAP_SUFFIX)
