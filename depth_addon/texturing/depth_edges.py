# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth discontinuities of a view (numpy, no bpy): the per-pixel slack of its visibility test and the low weight
of its pixels next to depth jumps, where a view's colours are least reliable.
"""

from __future__ import annotations

import cv2
import numpy as np

EDGE_WEIGHT = 0.05  # weight factor for pixels next to a depth discontinuity


def _neighbour_steps(depth: np.ndarray) -> list[np.ndarray]:
    """Absolute depth steps to the right, left, lower and upper neighbour (NaN next to background)."""
    return [np.abs(s) for s in _signed_steps(depth)]


def _signed_steps(depth: np.ndarray) -> list[np.ndarray]:
    d = np.where(np.isfinite(depth), depth, np.nan)
    pad = np.pad(d, 1, mode="edge")
    return [pad[1:-1, 2:] - d, d - pad[1:-1, :-2], pad[2:, 1:-1] - d, d - pad[:-2, 1:-1]]


def occlusion_slack(depth: np.ndarray, jump: float = 0.25) -> np.ndarray:
    """Per-pixel depth slack: how much the surface's depth changes over about one pixel.

    Along each image axis the two steps to the neighbours are compared: on a plane (even a
    grazing one) they have the same sign and inverse depth changes by the same amount on both
    sides (it is affine in pixel coordinates under perspective), and the larger step counts; at
    a crease, a silhouette or a thin object they do not, and only the smaller one counts, and only
    when it is below ``jump`` × depth. Next to empty background the one real step counts. The slack is the sum
    over both axes, so a point half a pixel away from the pixel centre in any direction still
    passes the visibility test while silhouettes keep their exact depth.

    :param depth: H×W planar depth, ``inf`` background.
    :param jump: Largest relative step that still counts as the same surface off planes.
    """
    d = np.where(np.isfinite(depth), depth, np.nan).astype(np.float32)
    right, left, down, up = _signed_steps(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        q_right, q_left, q_down, q_up = _signed_steps(1.0 / d)  # inverse depth is affine on planes
    total = np.zeros_like(d)
    with np.errstate(invalid="ignore"):
        for a, b, qa, qb in ((right, left, q_right, q_left), (down, up, q_down, q_up)):
            hi = np.fmax(np.abs(a), np.abs(b))
            lo = np.fmin(np.abs(a), np.abs(b))  # NaN (background) sides drop out
            affine = (np.abs(qa - qb) <= 0.3 * np.fmax(np.abs(qa), np.abs(qb))) | (np.abs(a - b) <= 0.3 * hi)
            planar = (a * b > 0) & affine
            edge_of_background = np.isnan(a) ^ np.isnan(b)  # nothing behind to reveal: extrapolate
            step = np.where(planar | edge_of_background, hi, np.where(lo < jump * d, lo, 0.0))
            total += np.nan_to_num(step)
    return np.where(np.isfinite(d), total, 0.0).astype(np.float32)


def edge_factor(depth: np.ndarray, jump: float = 0.05, radius: int = 1) -> np.ndarray:
    """H×W weight: :data:`EDGE_WEIGHT` within ``radius`` pixels of a depth jump, 1 elsewhere.

    :param depth: H×W planar depth, ``inf`` background.
    :param jump: Relative depth step that counts as a discontinuity.
    :param radius: How far (pixels) the low weight reaches.
    """
    d = np.asarray(depth, np.float32)
    finite = np.isfinite(d)
    edge = np.zeros(d.shape, bool)
    with np.errstate(invalid="ignore"):
        for step in _neighbour_steps(d):
            edge |= finite & ~(step < jump * d)  # NaN steps (next to background) are edges too
    if radius > 0:
        edge = cv2.dilate(edge.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8)) > 0
    return np.where(edge, EDGE_WEIGHT, 1.0).astype(np.float32)


def settled_mask(mine: np.ndarray, size: int) -> np.ndarray:
    """``mine`` where its whole ``size``×``size`` neighbourhood is too: a filter reading there (a bicubic sample:
    5×5) mixes in nothing of another object's colour and material (a box's rim, the ground's brick).

    :param mine: H×W bool pixels of one object.
    :param size: Side of the neighbourhood in pixels (odd).
    """
    box = np.ones((size, size), np.uint8)
    return cv2.erode(mine.astype(np.uint8), box, borderType=cv2.BORDER_REPLICATE).astype(bool)
