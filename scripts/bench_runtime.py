# SPDX-License-Identifier: GPL-3.0-or-later
"""Speed, load time and memory of the embedded model's runtimes (numpy: what ships; torch: the reference).

Usage: ``python scripts/bench_runtime.py [--runs 5] [--runtimes numpy torch] [--json out/bench_runtime.json]``.

Stages per runtime: ``load`` (a fresh process imports the generator and loads the verified weights;
median of 3 processes), ``generate_512`` and ``generate_1024`` (warm, median of ``--runs``, prompt
"stone", seed 1, on a depth scene built here: ground plane, a wall, boxes and a sphere under a 50°
camera) with the peak resident memory of one call. Without bpy; the numpy runtime without torch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import measure, peak_memory  # noqa: E402

from depth_addon.camera import CameraModel  # noqa: E402

LOAD_CODE = """
import sys, time
t0 = time.perf_counter()
{block}
from depth_addon.generation import get_generator
gen = get_generator("embedded", runtime="{runtime}")
gen.model
print(time.perf_counter() - t0)
"""


def bench_depth(size: int) -> tuple[np.ndarray, CameraModel]:
    """A size² planar depth map: ground plane, back wall, two boxes and a sphere (``inf`` = sky).

    :param size: Side in pixels.
    """
    cam = CameraModel.from_fov(size, size, 50.0)
    x, y = (np.asarray(v, np.float64) for v in cam.pixel_plane_coords())
    xs, ys = np.meshgrid(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(ys < 0, -1.5 / ys, np.inf)  # ground at y = -1.5 (planar depth t along -z)
    depth = np.where(depth <= 12.0, depth, np.inf)
    depth = np.where(np.isinf(depth) & (ys > -0.125), 12.0, depth)  # wall at 12 m
    for cx, half, z in ((-0.15, 0.08, 5.0), (0.2, 0.12, 7.0)):
        box = (np.abs(xs - cx) < half) & (ys > -1.5 / z) & (ys < -1.5 / z + 2 * half) & (depth > z)
        depth = np.where(box, z, depth)
    r2 = (xs - 0.0) ** 2 + (ys + 0.05) ** 2
    sphere = r2 < 0.09 ** 2
    bulge = 4.0 - 0.9 * np.sqrt(np.clip(1 - r2 / 0.09 ** 2, 0, 1))
    depth = np.where(sphere & (bulge < depth), bulge, depth)
    return depth.astype(np.float32), cam


def load_seconds(runtime: str, processes: int = 3) -> list[float]:
    """Import + verified weight load in fresh processes (torch blocked for the numpy runtime).

    :param runtime: ``numpy`` or ``torch``.
    :param processes: Number of fresh processes.
    """
    block = "sys.modules['torch'] = None" if runtime == "numpy" else ""
    code = LOAD_CODE.format(block=block, runtime=runtime)
    out = []
    for _ in range(processes):
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        out.append(float(proc.stdout.strip().splitlines()[-1]))
    return out


def run(runtimes: list[str], runs: int) -> list[dict]:
    """All stages for each runtime.

    :param runtimes: Runtime names.
    :param runs: Timed calls per generate stage.
    """
    from depth_addon.generation import get_generator

    records = []
    for runtime in runtimes:
        times = load_seconds(runtime)
        records.append({"stage": f"load_{runtime}", "median_s": statistics.median(times), "runs": len(times)})
        gen = get_generator("embedded", runtime=runtime)
        for size in (512, 1024):
            depth, cam = bench_depth(size)

            def once(depth=depth, cam=cam, gen=gen) -> None:
                gen.generate(depth, prompt="stone", seed=1, camera=cam)

            times = measure(once, runs)
            rec = {"stage": f"generate_{size}_{runtime}", "median_s": statistics.median(times), "min_s": min(times),
                   "runs": len(times), **(peak_memory(once) or {})}
            records.append(rec)
    return records


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    :param argv: Arguments without the program name.
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--runtimes", nargs="*", default=["numpy", "torch"])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    records = run(args.runtimes, args.runs)
    for r in records:
        extra = f"  peak {r['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in r else ""
        print(f"{r['stage']:<24}{r['median_s'] * 1e3:>10.0f} ms (median of {r['runs']}){extra}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
