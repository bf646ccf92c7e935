# SPDX-License-Identifier: GPL-3.0-or-later
"""A synthetic "Middlebury-style" view for the alignment tests and the benchmark: true metres and an estimate.

A level camera at 1.5 m looks at flat ground, a wall 8 m away and a box 3 m away that stands on the
ground. The estimate is the true stereo disparity ``f · B / z`` under an unknown affine map plus noise,
which is what a relative monocular estimator produces at best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOCAL_PX_PER_WIDTH = 1.2
HEIGHT = 1.5
WALL = 8.0
BASELINE = 0.16


@dataclass
class View:
    """True metres, the relative disparity estimate, and the camera that took them."""

    metres: np.ndarray
    estimate: np.ndarray
    focal_px: float


def make_view(width: int = 256, height: int = 192, noise: float = 0.003, seed: int = 0, alpha: float = 0.037,
              beta: float = 0.25) -> View:
    """The synthetic view.

    :param width: Image width.
    :param height: Image height.
    :param noise: Standard deviation of the noise, relative to each estimate value.
    :param seed: Noise seed.
    :param alpha: Scale of the unknown affine map from true disparity (pixels) to the estimate.
    :param beta: Shift of that map.
    """
    f = FOCAL_PX_PER_WIDTH * width
    v = np.arange(height)[:, None] + 0.5 - height / 2
    with np.errstate(divide="ignore"):
        ground = np.where(v > 0, f * HEIGHT / v, np.inf)
    z = np.broadcast_to(np.minimum(ground, WALL), (height, width)).copy()
    box_top = int(height / 2 - f * 0.5 / 3.0)  # the box is 2 m tall, 3 m away: from 1.0 m above the camera…
    box_bottom = int(height / 2 + f * HEIGHT / 3.0)  # …down to the ground
    z[max(box_top, 0):box_bottom, int(0.55 * width):int(0.8 * width)] = 3.0
    disparity = f * BASELINE / z
    rng = np.random.default_rng(seed)
    estimate = (alpha * disparity + beta) * (1.0 + noise * rng.standard_normal(z.shape))
    return View(z.astype(np.float32), estimate.astype(np.float32), f)


def median_relative_error(metres: np.ndarray, truth: np.ndarray) -> float:
    """Median of ``|metres − truth| / truth`` over the pixels where both are finite.

    :param metres: Recovered depth.
    :param truth: True depth.
    """
    ok = np.isfinite(metres) & np.isfinite(truth)
    return float(np.median(np.abs(metres[ok] - truth[ok]) / truth[ok]))
