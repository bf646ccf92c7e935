# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark stages of depth import: our reconstruction against the subdivided-plane + Displace route.

Stages (medians over ``runs`` after one warm-up; each run starts from an empty file, untimed):

* ``import_512`` / ``import_2048`` — ``depth_mesh.import_depth_map`` from files (``.npy`` depth in
  metres with a foreground sphere, so tearing has work to do, and an 8-bit ``.png`` colour image):
  read, validate, convert, tear, mesh + UVs, camera, depth image, colour material, depsgraph update;
* ``import_displace_2048`` — the relief route other importers take, as reference:
  ``primitive_grid_add`` subdivided to one vertex per pixel, float depth image, ``IMAGE`` texture,
  ``DISPLACE`` modifier, the same colour material, depsgraph update (modifier evaluated).

Run alone: ``python scripts/bench_import.py [--runs N]``; ``scripts/bench.py`` calls :func:`import_stages`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import measure  # noqa: E402

from depth_addon.blender.mesh import build as depth_mesh
from depth_addon.io.png import write_png  # noqa: E402

FOV = 60.0
Stage = tuple[str, list[float], dict, str | None]


def bench_inputs(size: int, folder: Path) -> tuple[Path, Path]:
    """Write a ``size``² depth (ground plane seen from 1.6 m plus a sphere, metres) and a colour PNG."""
    h = w = size
    f = w / (2.0 * np.tan(np.radians(FOV) / 2.0))
    x = (np.arange(w) + 0.5 - w / 2) / f
    y = (h / 2 - np.arange(h) - 0.5) / f
    rx, ry = np.meshgrid(x, y)
    with np.errstate(divide="ignore"):
        ground = np.where(ry < -0.02, 1.6 / -ry, 80.0)  # horizon: a far wall
    ground = np.minimum(ground, 80.0)
    centre, radius = np.array([0.3, -0.4, -4.0]), 0.9  # sphere: smallest t with |t·ray - c| = r
    b = rx * centre[0] + ry * centre[1] - centre[2]
    a = rx ** 2 + ry ** 2 + 1.0
    disc = b * b - a * (centre @ centre - radius ** 2)
    t = (b - np.sqrt(np.maximum(disc, 0.0))) / a
    depth = np.where((disc > 0) & (t < ground), t, ground).astype(np.float32)
    depth_path = folder / f"depth_{size}.npy"
    np.save(depth_path, depth)
    rgb = np.stack([np.clip(depth / 20.0, 0, 1), 0.5 + 0.5 * np.sin(rx * 20), 0.5 + 0.5 * np.cos(ry * 20)], -1)
    color_path = folder / f"color_{size}.png"
    write_png(color_path, np.rint(rgb * 255).astype(np.uint8))
    return depth_path, color_path


def _reset() -> None:
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)


def import_ours(depth_path: Path, color_path: Path) -> None:
    """Our route: reconstruct with a camera, colour material, evaluated."""
    depth_mesh.import_depth_map(depth_path, color_path, fov=FOV)
    bpy.context.view_layer.update()


def import_displace_reference(depth_path: Path, color_path: Path) -> None:
    """The relief route: subdivided grid primitive + float image + Displace modifier, evaluated."""
    depth = np.load(depth_path)
    h, w = depth.shape
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=w - 1, y_subdivisions=h - 1, size=2.0, calc_uvs=True)
    ob = bpy.context.object
    image = bpy.data.images.new("Depth", w, h, alpha=True, float_buffer=True)
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = depth[::-1, :, None]
    image.pixels.foreach_set(rgba.ravel())
    image.colorspace_settings.name = "Non-Color"
    tex = bpy.data.textures.new("Depth", "IMAGE")
    tex.image, tex.use_interpolation, tex.extension = image, False, "EXTEND"
    mod = ob.modifiers.new("Displace", "DISPLACE")
    mod.texture, mod.texture_coords, mod.direction, mod.mid_level, mod.strength = tex, "UV", "Z", 0.0, -1.0
    color = bpy.data.images.load(str(color_path), check_existing=False)
    ob.data.materials.append(depth_mesh.materials.color_material("Colour", color))
    bpy.context.view_layer.update()


def import_stages(measure: Callable[..., list[float]], runs: int) -> list[Stage]:
    """Time the import stages with ``measure(fn, runs, warmup=1, setup=None)`` (from ``scripts/bench.py``).

    :param measure: Timing helper returning the wall times of ``runs`` calls.
    :param runs: Timed runs per stage.
    :return: ``(stage, times, params, reference stage or None)`` for ``import_512``,
        ``import_displace_2048`` and ``import_2048``.
    """
    stages: list[Stage] = []
    with tempfile.TemporaryDirectory(prefix="depth_addon_bench_") as tmp:
        for size in (512, 2048):
            depth_path, color_path = bench_inputs(size, Path(tmp))
            params = {"size": size, "inputs": "npy metres + 8-bit png colour", "fov": FOV, "tear_ratio": 1.1}
            if size == 2048:
                times = measure(lambda d=depth_path, c=color_path: import_displace_reference(d, c), runs,
                                warmup=1, setup=_reset)
                stages.append(("import_displace_2048", times, params | {
                    "route": "primitive_grid_add + float image + Displace modifier, evaluated"}, None))
            times = measure(lambda d=depth_path, c=color_path: import_ours(d, c), runs, warmup=1, setup=_reset)
            stages.append((f"import_{size}", times, params | {"route": "attribute API reconstruction"},
                           "import_displace_2048" if size == 2048 else None))
    _reset()
    return stages


def main(argv: list[str] | None = None) -> int:
    """Run the stages alone and print their medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    medians = {}
    for stage, times, _params, ref in import_stages(measure, args.runs):
        medians[stage] = statistics.median(times)
        vs = f"  {medians[ref] / medians[stage]:.1f}x faster than {ref}" if ref in medians else ""
        print(f"{stage:<24}{medians[stage] * 1e3:>10.1f} ms  (min {min(times) * 1e3:.1f}){vs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
