# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark the alignment of a depth estimate to metres at 1024² (core numpy, no bpy, no model).

Stages (medians over ``runs`` after one warm-up), on the synthetic view of ``tests/estimation_scenes.py``
(relative disparity = true disparity under an affine map, 0.3 % noise):

* ``align_scene_1024`` — :func:`depth_addon.estimation.fit_scene` against the true depth on 40 % of the columns;
* ``align_ground_1024`` — :func:`depth_addon.estimation.fit_ground` with the true focal length and height;
* ``align_points_1024`` — :func:`depth_addon.estimation.fit_points` with three points.

Each stage's params carry the median relative error of the recovered metres. The goal is ≤ 50 ms per
alignment on 2 cores. Run alone: ``python scripts/bench_estimate.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import numpy as np  # noqa: E402
from bench_common import measure  # noqa: E402
from estimation_scenes import HEIGHT, make_view, median_relative_error  # noqa: E402

from depth_addon.estimation import fit_ground, fit_points, fit_scene  # noqa: E402

Stage = tuple[str, list[float], dict, str | None]
SIZE = 1024


def estimate_stages(measure: Callable[..., list[float]], runs: int) -> list[Stage]:
    """Time the three alignments at 1024² with ``measure(fn, runs, warmup=1)``.

    :param measure: Timing helper returning the wall times of ``runs`` calls (``scripts/bench_common.py``).
    :param runs: Timed runs per stage.
    :return: ``(stage, times, params, None)`` for ``align_scene_1024``, ``align_ground_1024`` and
        ``align_points_1024``.
    """
    view = make_view(SIZE, SIZE)
    scene = np.where(np.arange(SIZE)[None, :] < int(0.4 * SIZE), view.metres, np.inf).astype(np.float32)
    points = [(x, y, float(view.metres[y, x])) for x, y in ((100, 100), (700, 300), (400, 900))]
    fits = {
        "align_scene_1024": lambda: fit_scene(view.estimate, scene, "disparity"),
        "align_ground_1024": lambda: fit_ground(view.estimate, "disparity", view.focal_px, HEIGHT),
        "align_points_1024": lambda: fit_points(view.estimate, points, "disparity"),
    }
    stages: list[Stage] = []
    for stage, fit in fits.items():
        error = median_relative_error(fit().to_metres(view.estimate), view.metres)
        stages.append((stage, measure(fit, runs, warmup=1), {"size": SIZE, "median_rel_error": round(error, 5)},
                       None))
    return stages


def main() -> None:
    """Print each stage's median time and error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    for stage, times, params, _ in estimate_stages(measure, args.runs):
        print(f"{stage:>20}: {statistics.median(times) * 1000:7.1f} ms  {params}")


if __name__ == "__main__":
    main()
