# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the demo with each compositor effect, and a labelled contact sheet, so a user sees what each does.

The demo scene is textured once (default generator, seed 1), then rendered through our compositor
group with: no effect, depth of field focused near, depth of field focused far, depth fog, relighting.
Writes ``OUT/<effect>.png`` and ``OUT/contact_sheet.png``.

Usage: ``python scripts/gallery.py [--out-dir out/gallery] [--size 320 240]`` (``make gallery``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from depth_addon import api  # noqa: E402
from depth_addon.app import writeback  # noqa: E402
from depth_addon.blender.demo_scene import build_demo_scene  # noqa: E402
from depth_addon.blender.final_render import render_still  # noqa: E402
from depth_addon.io.atomic import atomic_path  # noqa: E402

#: Effect name → ``setup_compositor`` options (the AI layer at full opacity, so each effect shows on it).
EFFECTS: dict[str, dict] = {
    "none": {"use_dof": False},
    "dof_near": {"use_dof": True, "focus": "OBJECT", "fstop": 0.05, "near": True},
    "dof_far": {"use_dof": True, "focus": "OBJECT", "fstop": 0.05, "near": False},
    "fog": {"use_dof": False, "fog_density": 0.06, "fog_start": 6.0},
    "relight": {"use_dof": False, "relight": 0.8, "light_direction": (-0.6, -0.3, 0.75)},
}


def focus_object(near: bool) -> bpy.types.Object:
    """The demo's mesh nearest to (or farthest from) the camera, to focus on."""
    scene = bpy.context.scene
    cam = scene.camera.matrix_world.translation
    meshes = [o for o in scene.objects if o.type == "MESH" and o.name != "Ground"]
    return sorted(meshes, key=lambda o: (o.matrix_world.translation - cam).length)[0 if near else -1]


def render_effects(out_dir: Path, size: tuple[int, int]) -> dict[str, Path]:
    """Texture the demo once and render it with every effect of :data:`EFFECTS`."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = build_demo_scene(bpy.context.scene)
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = *size, 100
    with tempfile.TemporaryDirectory(prefix="depth_addon_gallery_") as tmp:
        api.texture_scene(scene, prompt="brick walls, wooden posts and grass", seed=1, out_dir=tmp)
        paths = {}
        for name, options in EFFECTS.items():
            opts = dict(options)
            near = opts.pop("near", None)
            if opts.get("focus") == "OBJECT":
                opts["focus_object"] = focus_object(near)
            writeback.setup_compositor(scene, opacity=1.0, **opts)
            paths[name] = render_still(scene, out_dir / f"{name}.png", engine="BLENDER_WORKBENCH", resolution=size)
    return paths


def contact_sheet(paths: dict[str, Path], out: Path) -> Path:
    """One row of the renders, each labelled with its effect, written atomically to ``out``."""
    tiles = []
    for name, path in paths.items():
        tile = cv2.imread(str(path), cv2.IMREAD_COLOR)
        band = np.full((28, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(band, name.replace("_", " "), (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
        tiles.append(np.vstack([band, tile]))
    sheet = np.hstack(tiles)
    with atomic_path(out) as tmp:
        if not cv2.imwrite(str(tmp) + ".png", sheet):
            raise OSError(f"cannot write {out}")
        Path(str(tmp) + ".png").replace(tmp)
    return out


def main(argv: list[str] | None = None) -> int:
    """Render the gallery; prints the contact sheet's path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "out" / "gallery")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    paths = render_effects(args.out_dir.resolve(), tuple(args.size))
    print(contact_sheet(paths, args.out_dir / "contact_sheet.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
