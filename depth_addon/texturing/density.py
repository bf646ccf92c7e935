# SPDX-License-Identifier: GPL-3.0-or-later
"""Texel density: how large an object's baked texture must be to keep the detail its views painted.

A view paints an object at some pixel density (pixels per metre on the surface: the view's pixels
per unit of image plane over the camera depth). A texture of side ``S`` covers the object at
``S · sqrt(uv_share / surface_area)`` texels per metre, where ``uv_share`` is the part of the UV
square the object's islands use. Below the views' density the bake throws detail away; far above
it, it only costs memory and time. :func:`bake_size_for` picks the smallest power of two that
reaches :data:`OVERSAMPLING` times the density of the best-painted part of the object (the 90th percentile
over its texels of the best view's density), within a cap, and says how much of the texture the UV layout
wastes. Resampling a view's pixels into texels at 1:1 loses detail (the texels are sampled again when
rendered); 1.5 texels per view pixel keep it (``scripts/bench_multiview.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fusion import View, project_points, sample_view

#: Smallest and largest sizes ``auto`` picks (explicit sizes may go beyond).
AUTO_MIN, AUTO_MAX = 256, 2048
#: Texels per view pixel the ``auto`` size aims for.
OVERSAMPLING = 1.5
#: Percentile (over the object's texels) of the best view's pixel density that the size must reach.
PERCENTILE = 90.0
#: Below this share of the texture used by UV islands, the report suggests a UV map made for the bake.
WASTEFUL_UV = 0.3


@dataclass(frozen=True)
class DensityChoice:
    """What :func:`bake_size_for` decided for one object.

    :param size: Texture side in texels.
    :param view_density: Pixels per metre the views paint the object's best-painted part with (the
        :data:`PERCENTILE` over its texels; 0 when no view sees it).
    :param texel_density: Texels per metre at ``size``.
    :param uv_share: Share of the texture square the UV islands cover (0..1).
    :param capped: True when the views' density needed more than the cap allows.
    """

    size: int
    view_density: float
    texel_density: float
    uv_share: float
    capped: bool

    @property
    def wasteful(self) -> bool:
        """The UV layout uses less than :data:`WASTEFUL_UV` of the texture."""
        return self.uv_share < WASTEFUL_UV


def view_density(views: list[View], xyz: np.ndarray, normal: np.ndarray, tolerance: float = 0.005) -> np.ndarray:
    """Best pixel density (pixels per metre) any view has at each point; 0 where no view sees it.

    :param views: Views with depth.
    :param xyz: (3, N) world points.
    :param normal: (3, N) unit world normals.
    :param tolerance: Relative depth slack of the visibility test.
    """
    best = np.zeros(xyz.shape[1], np.float32)
    for view in views:
        s = sample_view(view, xyz, normal, tolerance, two_sided=True)
        if not s.index.size:
            continue
        cam = view.camera
        left, right = cam.frame[0], cam.frame[1]
        per_unit = cam.width / (right - left)
        if cam.ortho:
            density = np.full(s.index.size, per_unit, np.float32)
        else:
            _c, _r, z = project_points(cam, np.take(xyz, s.index, axis=1))
            density = per_unit / np.maximum(z, 1e-6)
        best[s.index] = np.maximum(best[s.index], density)
    return best


def bake_size_for(views: list[View], xyz: np.ndarray, normal: np.ndarray, probe_texels: int, probe_size: int,
                  surface_area: float, cap: int = AUTO_MAX, tolerance: float = 0.005) -> DensityChoice:
    """The power-of-two texture side whose texel density reaches the views' pixel density (see the module).

    :param views: Views with depth.
    :param xyz: (3, N) world points of the object's texels in a small probe raster of its UV map.
    :param normal: (3, N) their unit normals.
    :param probe_texels: Texels the UV islands cover in the probe raster.
    :param probe_size: Side of the probe raster.
    :param surface_area: World surface area of the object in m².
    :param cap: Largest size picked.
    :param tolerance: Relative depth slack of the visibility test.
    """
    uv_share = probe_texels / float(probe_size * probe_size)
    per_side = math.sqrt(uv_share / surface_area) if surface_area > 0 and uv_share > 0 else 0.0
    density = view_density(views, xyz, normal, tolerance)
    seen = density[density > 0]
    target = float(np.percentile(seen, PERCENTILE)) if seen.size else 0.0
    needed = OVERSAMPLING * target / per_side if per_side > 0 else 0.0
    size = AUTO_MIN
    while size < needed and size < cap:
        size *= 2
    size = min(size, max(cap, AUTO_MIN))
    return DensityChoice(size=size, view_density=target, texel_density=size * per_side, uv_share=uv_share,
                         capped=needed > size)
