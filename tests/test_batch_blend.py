# SPDX-License-Identifier: GPL-3.0-or-later
"""What a batch unit's ``scene.blend`` (the ``texture`` output) holds once reopened in a fresh Blender."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def wall_shot(tmp_path: Path) -> Path:
    """A camera 10 m in front of a large wall, saved as ``shot.blend``, and a job that textures it; return the job."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=200.0, location=(0.0, 0.0, 0.0), rotation=(math.pi / 2, 0.0, 0.0))
    bpy.context.object.name = "Wall"
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.location, cam.rotation_euler = (0.0, -10.0, 0.0), (math.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"), copy=True)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"tasks": [{"name": "shot", "blend": "shot.blend", "prompt": "red brick",
                                          "generator": "analytic", "resolution": [32, 24],
                                          "outputs": ["generated", "texture"]}]}))
    return job


def test_the_projection_keeps_its_occlusion_depth_in_the_saved_blend(tmp_path: Path) -> None:
    """The projection hides what its camera did not see by the depth it saw: a batch's scene.blend held that depth
    only in memory, so the reopened file had a black (zero) depth, and the projected image showed on nothing."""
    import bpy

    job = wall_shot(tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "depth_cli.py"), "batch", str(job)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "shot" / "Cam_0001" / "scene.blend"))
    material = bpy.data.objects["Wall"].active_material
    depths = [n.image for n in material.node_tree.nodes if n.type == "TEX_IMAGE" and n.name.endswith("Depth")]
    assert len(depths) == 1 and depths[0].packed_file is not None, [i.name for i in bpy.data.images]
    pixels = np.empty(len(depths[0].pixels), np.float32)
    depths[0].pixels.foreach_get(pixels)
    assert np.allclose(pixels.reshape(-1, 4)[:, 0], 10.0, atol=1e-3)  # the wall, 10 m away in every pixel


def test_a_task_names_the_scene_of_a_file_with_several(tmp_path: Path) -> None:
    """A task's ``scene`` picks one scene of the file: a file saved showing another (an empty layout scene here) was
    rendered through that one, with no way to choose."""
    import bpy

    from depth_addon.io.depth_read import read_depth

    job = wall_shot(tmp_path)
    layout = bpy.data.scenes.new("Layout")
    layout.camera = bpy.data.objects.new("Overview", bpy.data.cameras.new("Overview"))
    layout.collection.objects.link(layout.camera)
    bpy.context.window.scene = layout
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"), copy=True)
    raw = json.loads(job.read_text())
    raw["tasks"][0] |= {"scene": "Scene", "cameras": "all", "outputs": ["depth", "texture"]}
    job.write_text(json.dumps(raw))
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "depth_cli.py"), "batch", str(job)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    unit = tmp_path / "out" / "shot" / "Cam_0001"
    depth, _camera, _meta = read_depth(unit / "depth.exr")
    assert np.allclose(depth, 10.0, atol=1e-4)  # the wall, through the scene's own camera
    bpy.ops.wm.open_mainfile(filepath=str(unit / "scene.blend"))
    assert bpy.context.scene.name == "Scene"  # the result opens on the scene it was made in
    raw["tasks"][0]["scene"] = "Shot"
    job.write_text(json.dumps(raw))
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "depth_cli.py"), "batch", str(job)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    ours = [line for line in proc.stderr.splitlines() if line.startswith("depth_cli:")]
    assert proc.returncode == 2 and ours == [f"depth_cli: error: task 'shot': no scene named 'Shot' in "
                                             f"{tmp_path.resolve() / 'shot.blend'}; its scenes are 'Layout', 'Scene'"]
