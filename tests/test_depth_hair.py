# SPDX-License-Identifier: GPL-3.0-or-later
"""Hair curves and point clouds: the engines render them into Z, the gpu path does not, so ``auto`` switches."""

from __future__ import annotations

import bpy
import depth_scenes
import numpy as np
import pytest


def _hair_scene(depth: float = 3.0) -> bpy.types.Scene:
    """The tilted plane 4.6–5.5 m away and a curtain of 40 vertical hair strands 3 m in front of the camera."""
    scene = depth_scenes._base()
    curves = bpy.data.hair_curves.new("Strands")
    n = 40
    curves.add_curves([2] * n)
    pos = np.zeros((n, 2, 3), np.float32)
    pos[:, :, 0] = np.linspace(-1.5, 1.5, n)[:, None]
    pos[:, 0, 1], pos[:, 1, 1], pos[:, :, 2] = -1.5, 1.5, -depth
    curves.attributes["position"].data.foreach_set("vector", pos.ravel())
    radius = curves.attributes.get("radius") or curves.attributes.new("radius", "FLOAT", "POINT")
    radius.data.foreach_set("value", np.full(2 * n, 0.05, np.float32))
    ob = bpy.data.objects.new("Strands", curves)
    scene.collection.objects.link(ob)
    return scene


def test_auto_renders_hair_through_an_engine(addon) -> None:
    from depth_addon_ext.depth_addon.blender.depth.render import render_depth

    scene = _hair_scene()
    result = render_depth(scene, engine="auto")
    assert result.engine == "workbench"
    hair = result.depth < 3.5
    assert 0.3 < hair.mean() < 0.9  # strands 0.1 m thick every 0.077 m: most of the middle is hair
    assert np.allclose(result.depth[hair], 3.0, atol=0.06)
    cycles = render_depth(scene, engine="cycles")
    assert abs((cycles.depth < 3.5).mean() - hair.mean()) < 0.05  # both engines see the same strands


def test_gpu_refuses_what_it_cannot_draw_and_passes_warn(addon) -> None:
    from depth_addon_ext.depth_addon.blender.depth.render import render_depth
    from depth_addon_ext.depth_addon.errors import BadInput

    scene = _hair_scene()
    with pytest.raises(BadInput, match="does not draw hair.*'Strands'"):
        render_depth(scene, engine="gpu")
    result = render_depth(scene, engine="auto", normals=True)
    assert result.engine == "gpu"
    assert "Strands" in result.meta["warnings"][0]


def test_particle_hair_is_drawn_by_an_engine_too(addon) -> None:
    """Particle hair (a mesh's hair particle system, Blender's usual hair) is strands the gpu path does not draw:
    auto renders it through an engine, gpu refuses, and hair hidden from render keeps the fast path."""
    from depth_addon_ext.depth_addon.blender.depth.render import render_depth
    from depth_addon_ext.depth_addon.errors import BadInput

    scene = depth_scenes._base()
    furry = depth_scenes._cube("Furry", 1.5, (0.0, 0.0, -4.0))
    furry.modifiers.new("Hair", "PARTICLE_SYSTEM")
    settings = furry.particle_systems[0].settings
    settings.type, settings.count, settings.hair_length, settings.radius_scale = "HAIR", 300, 1.0, 0.05
    result = render_depth(scene, engine="auto")
    assert result.engine == "workbench"
    with pytest.raises(BadInput, match="does not draw hair.*'Furry'"):
        render_depth(scene, engine="gpu")
    furry.modifiers["Hair"].show_render = False
    bare = render_depth(scene, engine="auto")
    assert bare.engine == "gpu"
    assert (result.depth < bare.depth - 0.05).sum() > 20  # strands in front of the cube and the plane


def test_hidden_hair_keeps_the_fast_path(addon) -> None:
    from depth_addon_ext.depth_addon.blender.depth.render import render_depth

    scene = _hair_scene()
    bpy.data.objects["Strands"].hide_render = True
    result = render_depth(scene, engine="auto")
    assert result.engine == "gpu"
    assert "warnings" not in result.meta
    assert np.isfinite(result.depth).all() and result.depth.min() > 4.0


def test_hair_alone_is_renderable(addon) -> None:
    from depth_addon_ext.depth_addon.blender.depth.render import render_depth

    scene = _hair_scene()
    bpy.data.objects.remove(bpy.data.objects["Plane"])
    result = render_depth(scene, engine="auto")
    assert result.engine == "workbench"
    assert 0.3 < result.mask.mean() < 0.9
