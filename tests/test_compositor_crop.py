# SPDX-License-Identifier: GPL-3.0-or-later
"""A render cropped to its render region: the AI layer made for the region, and the relighting of it, line up with
the render's pixels (off-centre regions, every supported Blender)."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from test_compositor import workbench_render

from depth_addon import api
from depth_addon.app import writeback
from depth_addon.blender.compositor import fx as compositor_fx
from depth_addon.blender.compositor import group as comp
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.blender.images import image_from_array
from depth_addon.texturing.conditioning import normals_from_depth

LIGHT = (1.0, 0.0, 0.2)


def cropped_scene(region: tuple[float, float, float, float]) -> bpy.types.Scene:
    """The demo scene at 96×64, its render cropped to ``region`` (min x, max x, min y, max y)."""
    scene = build_demo_scene(bpy.context.scene, (96, 64))
    r = scene.render
    r.use_border = r.use_crop_to_border = True
    r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y = region
    return scene


def test_the_ai_layer_lines_up_with_a_cropped_render(tmp_out):
    """A picture of the region (its size, as a cropped scene's generation makes it), mixed at opacity 1: each output
    pixel shows the picture's pixel at the same place, not a zoomed, centred piece of it."""
    scene = cropped_scene((0.0, 0.5, 0.1, 0.6))
    h, w = api.render_depth(scene).depth.shape
    rows, cols = np.mgrid[0:h, 0:w]
    coords = np.stack([(cols + 0.5) / w, (rows + 0.5) / h, np.full((h, w), 0.5)], -1).astype(np.float32)
    comp.ensure_compositor_group(scene, image_from_array("Coords", coords), opacity=1.0, use_dof=False)
    comp.activate_compositor(scene)
    out = workbench_render(scene, tmp_out / "crop.exr")[..., :3]
    assert out.shape == coords.shape
    linear = np.where(coords <= 0.04045, coords / 12.92, ((coords + 0.055) / 1.055) ** 2.4)  # the sRGB image, read
    assert np.abs(out[..., :2] - linear[..., :2]).max() < 0.01


def test_relighting_lines_up_with_a_cropped_render(tmp_out):
    """Relit at full strength, a layer's gain at each pixel is the Lambert term of the normals of that pixel of the
    cropped render (not of the whole frame's normals squeezed into the region)."""
    scene = cropped_scene((0.0, 0.5, 0.0, 0.6))
    api.texture_scene(scene, prompt="grey plaster", seed=1, generator="analytic", compositor=False)
    writeback.setup_compositor(scene, relight=1.0, light_direction=LIGHT, opacity=1.0, use_dof=False)
    lit = workbench_render(scene, tmp_out / "lit.exr")[..., :3].sum(-1)
    writeback.setup_compositor(scene, relight=0.0, opacity=1.0, use_dof=False)
    flat = workbench_render(scene, tmp_out / "flat.exr")[..., :3].sum(-1)
    depth = api.render_depth(scene)  # the cropped render's own pixels
    light = np.array(compositor_fx.light_in_camera(depth.camera, LIGHT))
    want = 2.0 * np.clip(normals_from_depth(depth.depth, depth.camera, world=False) @ light, 0.0, None)
    shown = np.isfinite(depth.depth) & (flat > 0.05)
    assert lit.shape == want.shape and shown.sum() > 300
    assert np.median(np.abs((lit + 1e-3) / (flat + 1e-3) - want)[shown]) < 0.02


def test_a_layer_left_at_an_absolute_size_by_4_x_comes_back_to_the_render_size(tmp_out):
    """5.x: our group's Scale node set to an absolute size (as a 4.x build for a cropped render leaves it) is back at
    Render Size once the group is built again, so the layer fills the uncropped render."""
    scene = build_demo_scene(bpy.context.scene, (48, 32))
    group = comp.ensure_compositor_group(scene, image_from_array("Grey", np.full((8, 8, 3), 0.5, np.float32)))
    scale = group.nodes[comp.N_SCALE]
    if "Type" not in scale.inputs:
        pytest.skip("4.x: the Scale node has no menu sockets")
    scale.inputs["Type"].default_value = "Absolute"
    comp.ensure_compositor_group(scene, group.nodes[comp.N_IMAGE].image)
    assert scale.inputs["Type"].default_value == "Render Size"
