# SPDX-License-Identifier: GPL-3.0-or-later
"""Coverage before generating: how many views see each surface point, and a heat-map of it.

A point counts as seen by a view when it passes the view's visibility test facing it at least
``min_facing`` (``n·v``); grazing glimpses do not count, since a view paints them poorly.
"""

from __future__ import annotations

import numpy as np

from .fusion import View, facing_votes, sample_view

#: Heat-map colours (sRGB): no view, one view, two or more views.
HEAT = np.array([[0.9, 0.05, 0.05], [0.95, 0.8, 0.1], [0.1, 0.75, 0.25]], np.float32)


def coverage_counts(views: list[View], xyz: np.ndarray, normal: np.ndarray, tolerance: float = 0.005,
                    min_facing: float = 0.2) -> np.ndarray:
    """Number of views that see each point well (N,) uint8.

    Normals are reversed when most visible points face away (flipped meshes), as in fusion.

    :param views: Views with depth (no images needed).
    :param xyz: (3, N) world points.
    :param normal: (3, N) unit world normals.
    :param tolerance: Relative depth slack of the visibility test.
    :param min_facing: Smallest ``n·v`` that counts.
    """
    counts = np.zeros(xyz.shape[1], np.uint8)
    if facing_votes(views, xyz, normal, tolerance) < 0.5:
        normal = -np.asarray(normal, np.float32)
    for view in views:
        s = sample_view(view, xyz, normal, tolerance, exponent=1.0, distance_power=0.0)
        good = s.index[s.facing >= min_facing]
        counts[good] = np.minimum(counts[good].astype(np.int32) + 1, 255).astype(np.uint8)
    return counts


def heat_colours(counts: np.ndarray) -> np.ndarray:
    """(N, 3) sRGB heat colours: red = no view, yellow = one, green = two or more.

    :param counts: (N,) view counts.
    """
    return HEAT[np.minimum(np.asarray(counts, np.int64), 2)]
