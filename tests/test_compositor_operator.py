# SPDX-License-Identifier: GPL-3.0-or-later
"""Set Up Compositor as an artist runs it: the relighting light comes from where its tooltip says; a linked scene,
whose changes would not be saved, is refused."""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest
from test_compositor import workbench_render

from depth_addon import api
from depth_addon.blender import compat


def test_the_light_direction_is_a_world_direction_as_its_tooltip_says(addon, tmp_out):
    """A camera looking along +Y at a sphere, Light Direction (0, 0, 1): the top of the sphere is lit (world up), its
    middle, which faces the camera, is not; the tooltip names the space the direction is in."""
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = 64
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.location, cam.rotation_euler = (0.0, -5.0, 0.0), (math.radians(90.0), 0.0, 0.0)
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, segments=64, ring_count=32)
    bpy.ops.object.shade_smooth()
    api.texture_scene(scene, prompt="white plaster", seed=1, generator="analytic", compositor=False)
    assert bpy.ops.depth.setup_compositor(relight=1.0, light_direction=(0.0, 0.0, 1.0), opacity=1.0,
                                          use_dof=False) == {"FINISHED"}
    lit = workbench_render(scene, tmp_out / "lit.exr")[..., :3].sum(-1)
    assert bpy.ops.depth.setup_compositor(relight=0.0, opacity=1.0, use_dof=False) == {"FINISHED"}
    flat = workbench_render(scene, tmp_out / "flat.exr")[..., :3].sum(-1)
    gain = (lit + 1e-3) / (flat + 1e-3)
    assert gain[22, 32] > 0.7 and gain[32, 32] < 0.1 and gain[42, 32] < 0.1, np.round(gain[18:46:4, 32], 2)
    description = bpy.ops.depth.setup_compositor.get_rna_type().properties["light_direction"].description
    assert "world" in description.lower() and "camera" not in description.lower(), description


def test_set_up_on_a_linked_scene_is_refused(addon, tmp_out):
    """A scene linked from a library: its changes are not saved, so Set Up says so and changes nothing, instead of
    reporting a compositor that is gone once the file is reopened."""
    from test_compositor import scene_32, snapshot, user_group

    scene = scene_32()
    scene.name = "Shot"
    user_group(scene)
    library = str(tmp_out / "library.blend")
    bpy.ops.wm.save_as_mainfile(filepath=library)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    with bpy.data.libraries.load(library, link=True) as (_source, target):
        target.scenes = ["Shot"]
    linked = bpy.data.scenes["Shot"]
    bpy.context.window.scene = linked
    tree = compat.scene_compositor(linked)
    before = snapshot(tree), linked.render.use_compositing, [v.use_pass_z for v in linked.view_layers]
    with pytest.raises(RuntimeError, match="linked from the library"):
        bpy.ops.depth.setup_compositor()
    assert compat.scene_compositor(linked) == tree
    assert (snapshot(tree), linked.render.use_compositing, [v.use_pass_z for v in linked.view_layers]) == before
    assert not [g for g in bpy.data.node_groups if g.get("depth_addon_compositor")]
