# SPDX-License-Identifier: GPL-3.0-or-later
"""A file opened headless shows its scene's first view layer, even one that does not render: the command line and
batch take depth through a view layer that renders, as the render does."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def card_on_a_layer_that_does_not_render(tmp_path: Path) -> Path:
    """A wall 10 m in front of the camera and a card 5 m in front of it, in a collection that the file's only
    rendering view layer excludes; its first view layer, which holds the card, is off for rendering."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=200.0, rotation=(math.pi / 2, 0.0, 0.0))
    props = bpy.data.collections.new("Props")
    scene.collection.children.link(props)
    card = bpy.data.objects.new("Card", bpy.data.meshes.new("Card"))
    card.data.from_pydata([(-3, 0, -3), (3, 0, -3), (3, 0, 3), (-3, 0, 3)], [], [(0, 1, 2, 3)])
    card.location.y = -5.0
    props.objects.link(card)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.location, cam.rotation_euler = (0.0, -10.0, 0.0), (math.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.view_layers[0].use = False
    final = scene.view_layers.new("Final")
    final.layer_collection.children["Props"].exclude = True
    bpy.context.window.view_layer = final
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)  # a fresh Blender's window, as a farm's
    return blend


def test_render_depth_and_batch_see_what_renders(tmp_path: Path, capsys) -> None:
    """The card, which no rendering layer holds, was in the depth 5 m away: the generated image and the projection
    then painted a card the render does not have."""
    from depth_addon import cli
    from depth_addon.app.batch_run import run_job
    from depth_addon.batch import parse_job
    from depth_addon.io.depth_read import read_depth

    blend = card_on_a_layer_that_does_not_render(tmp_path)
    code = cli.main(["render-depth", "--blend", str(blend), "--resolution", "32", "24", "--out",
                     str(tmp_path / "d.exr")])
    assert code == 0, capsys.readouterr().err
    depth, _camera, _meta = read_depth(tmp_path / "d.exr")
    assert np.allclose(depth, 10.0, atol=1e-4)  # the wall alone
    job = {"tasks": [{"name": "shot", "blend": str(blend), "resolution": [32, 24], "outputs": ["depth"]}]}
    run_job(parse_job(json.loads(json.dumps(job)), tmp_path), lambda *_a, **_k: None)
    depth, _camera, _meta = read_depth(tmp_path / "out" / "shot" / "Cam_0001" / "depth.exr")
    assert np.allclose(depth, 10.0, atol=1e-4)
