# SPDX-License-Identifier: GPL-3.0-or-later
"""Does a relightable bake relight? Issue #19's measure, in Cycles.

A box and a ground plane carry a ground-truth material (Blender's Brick Texture as base colour, roughness
0.85). The scene camera's single view is generated ("red brick") and baked twice: relightable (``maps=True``,
PBR) and lit (``EMISSION``, the picture as generated). Each result, and the ground truth, is rendered under a
sun from the left (A) and from the right (B). The *relighting ratio* ``luminance(B) / luminance(A)`` cancels
the albedo, so it compares how the shading moves with the light whatever colours the generator chose:

* ``gt_self_r2`` — R² of the ground truth's ratio against itself rendered with another sampling seed;
* ``pbr_r2`` — R² of the relightable bake's ratio against the ground truth's (goal ≥ 0.8 × ``gt_self_r2``);
* ``lit_r2`` — the same for the lit bake (which does not change with the light; goal: ``pbr_r2`` ≥ 1.5 ×).

``python scripts/bench_relight.py [--json out.json]``; ``bench.py --quality`` runs it too.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import bpy
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import main_for  # noqa: E402

from depth_addon.app import multiview as app_multiview  # noqa: E402
from depth_addon.blender import compat  # noqa: E402
from depth_addon.blender.final_render import render_still  # noqa: E402
from depth_addon.blender.writeback import bake_apply  # noqa: E402

SIZE = (160, 120)


def scene_with_truth() -> bpy.types.Scene:
    """Box on a ground plane, both with a procedural brick material; a sun; a camera; Standard view."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    mat = bpy.data.materials.new("Truth")
    tree = compat.ensure_node_tree(mat)
    nodes, links = tree.nodes, tree.links
    bsdf = next(n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    bsdf.inputs["Roughness"].default_value = 0.85
    brick = nodes.new("ShaderNodeTexBrick")
    brick.inputs["Scale"].default_value = 3.0
    links.new(brick.outputs["Color"], bsdf.inputs["Base Color"])
    bpy.ops.mesh.primitive_plane_add(size=8.0)
    bpy.ops.mesh.primitive_cube_add(size=1.6, location=(0.0, 0.0, 0.8))
    for obj in scene.objects:
        obj.data.materials.append(mat)
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = 4.0
    scene.collection.objects.link(sun)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = (0.0, -6.5, 3.5), (math.radians(62), 0.0, 0.0)
    scene.camera = cam
    scene.world = bpy.data.worlds.new("Dim")
    scene.world.color = (0.05, 0.05, 0.05)
    scene.render.resolution_x, scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"
    return scene


def luminance(scene: bpy.types.Scene, azimuth: float, folder: Path, name: str, seed: int = 0) -> np.ndarray:
    """Linear luminance of a Cycles render with the sun at ``azimuth`` degrees (45° up)."""
    scene.objects["Sun"].rotation_euler = (math.radians(45.0), 0.0, math.radians(azimuth))
    scene.cycles.seed = seed
    path = render_still(scene, folder / f"{name}.png", samples=64)
    srgb = cv2.imread(str(path))[..., ::-1].astype(np.float32) / 255.0
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def ratio(scene: bpy.types.Scene, folder: Path, name: str, seed: int = 0) -> np.ndarray:
    """``luminance(B) / luminance(A)`` (NaN where A is too dark to divide by)."""
    a = luminance(scene, -60.0, folder, f"{name}_A", seed)
    b = luminance(scene, 60.0, folder, f"{name}_B", seed)
    return np.where(a > 0.02, b / np.maximum(a, 1e-6), np.nan)


def r2(pred: np.ndarray, truth: np.ndarray) -> float:
    """Coefficient of determination of ``pred`` for ``truth`` over the pixels where both are finite."""
    ok = np.isfinite(pred) & np.isfinite(truth)
    t, p = truth[ok], pred[ok]
    ss = float(((t - t.mean()) ** 2).sum())
    return 1.0 - float(((t - p) ** 2).sum()) / ss if ss > 0 else float("nan")


def run() -> dict:
    """Every figure of the module docstring."""
    folder = Path(tempfile.mkdtemp(prefix="bench_relight_"))
    scene = scene_with_truth()
    truth = ratio(scene, folder, "truth")
    again = ratio(scene, folder, "truth_again", seed=7)
    out = {"gt_self_r2": r2(again, truth)}
    for label, kw in (("pbr", dict(maps=True, shading="PBR")), ("lit", dict(shading="EMISSION"))):
        app_multiview.texture_multiview(scene, cameras=[scene.camera], prompt="red brick", seed=1, bake_size=512,
                                        **kw)
        out[f"{label}_r2"] = r2(ratio(scene, folder, label), truth)
        bake_apply.remove_bake()
    out["pbr_vs_gt_self"] = out["pbr_r2"] / out["gt_self_r2"]
    out["renders"] = str(folder)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures."""
    return main_for(__doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
