# SPDX-License-Identifier: GPL-3.0-or-later
"""Alignment by the ground plane: a level camera of known focal length and height (no bpy).

Below the horizon (the principal point's row ``cy``), a level camera at height ``H`` sees flat ground at
planar depth ``z = f · H / (y − cy)`` (``f`` in pixels, ``y`` the pixel centre's row). Pixels of the
lowest band of the image are candidates; a robust fit against that ground model gives a first scale and
shift, the pixels whose normals (from the first fit's 3-D points) point up within ``max_tilt`` are kept
as the ground, and the fit is repeated on them. Things standing on the ground drop out twice: by their
normals and by the robust fit.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import BadInput
from .align import MAX_SAMPLES, MIN_OVERLAP, Alignment, target_of
from .robust import robust_affine


def normals_up(metres: np.ndarray, top: int, focal_px: float, cx: float, cy: float, max_tilt_deg: float) -> np.ndarray:
    """Pixels whose surface normal is within ``max_tilt_deg`` of the camera's up axis.

    Normals come from 3-D points on a grid of stride ``k`` (so noise of single pixels does not dominate)
    and each grid cell's answer covers its ``k × k`` pixels.

    :param metres: Rows ``top…`` of the image as planar depth (``inf`` where invalid).
    :param top: Image row of ``metres[0]``.
    :param focal_px: Focal length in pixels.
    :param cx: Principal point x (pixels, 0 = left edge).
    :param cy: Principal point y (pixels, 0 = top edge).
    :param max_tilt_deg: Largest angle between a normal and up.
    """
    h, w = metres.shape
    k = max(2, min(h, w) // 32)
    rows = np.arange(0, h, k)
    cols = np.arange(0, w, k)
    z = metres[np.ix_(rows, cols)].astype(np.float64)
    x = (cols[None, :] + 0.5 - cx) * z / focal_px
    y = (rows[:, None] + top + 0.5 - cy) * z / focal_px
    points = np.stack([np.broadcast_to(x, z.shape), np.broadcast_to(y, z.shape), z], axis=-1)
    with np.errstate(invalid="ignore"):
        du = np.gradient(points, axis=1) if points.shape[1] > 1 else np.zeros_like(points)
        dv = np.gradient(points, axis=0) if points.shape[0] > 1 else np.zeros_like(points)
        n = np.cross(du, dv)
        cos_up = np.abs(n[..., 1]) / np.linalg.norm(n, axis=-1)
        up = np.nan_to_num(cos_up) >= math.cos(math.radians(max_tilt_deg))
    return np.repeat(np.repeat(up, k, axis=0), k, axis=1)[:h, :w]


def _samples(values: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most :data:`.align.MAX_SAMPLES` pairs of ``values`` and ``target`` under ``mask``, on an even stride."""
    picked = np.flatnonzero(mask)
    picked = picked[:: max(1, picked.size // MAX_SAMPLES)]
    return values.reshape(-1)[picked], np.ascontiguousarray(target).reshape(-1)[picked]


def fit_ground(values: np.ndarray, space: str, focal_px: float, height: float, cy: float | None = None,
               band: float = 0.35, max_tilt_deg: float = 20.0) -> Alignment:
    """Ground plane: fit scale and shift to the ground a level camera of known height sees in the lowest band.

    :param values: H×W estimate.
    :param space: The estimate's space (``disparity`` or ``depth``).
    :param focal_px: Focal length in pixels.
    :param height: Camera height above the ground, metres.
    :param cy: Horizon row (principal point y, 0 = top edge); the image centre when None.
    :param band: Fraction of the image, from the bottom, searched for ground.
    :param max_tilt_deg: Largest angle between a ground normal and up.
    :raises BadInput: For a bad focal length, height or band, no rows below the horizon, or too few ground pixels.
    """
    if not (math.isfinite(focal_px) and focal_px > 0 and math.isfinite(height) and height > 0):
        raise BadInput(f"ground alignment needs a positive focal length (px) and camera height (m), got "
                       f"{focal_px:g} px and {height:g} m")
    if not 0 < band <= 1:
        raise BadInput(f"the ground band must be a fraction in (0, 1], got {band:g}")
    h, w = values.shape
    cy = h / 2 if cy is None else float(cy)
    top = max(int(h * (1.0 - band)), int(math.floor(cy + 0.5)) + 1)
    if top >= h:
        raise BadInput("no rows of the lowest band are below the horizon: the ground cannot be seen")
    below = (np.arange(top, h, dtype=np.float64) + 0.5 - cy)[:, None]
    sub = values[top:]
    ground = np.broadcast_to(target_of(focal_px * height / below, space), sub.shape)
    ok = np.isfinite(sub)
    if ok.sum() < MIN_OVERLAP:
        raise BadInput(f"too few valid pixels in the lowest band to find the ground ({int(ok.sum())})")
    scale, shift, _ = robust_affine(*_samples(sub, ground, ok))
    first = Alignment(space, scale, shift, "ground")
    keep = ok & normals_up(first.to_metres(sub), top, focal_px, w / 2, cy, max_tilt_deg)
    if keep.sum() < MIN_OVERLAP:
        raise BadInput(f"no ground found in the lowest {band:.0%} of the image: {int(keep.sum())} pixels face up "
                       f"(need {MIN_OVERLAP}); check the focal length and height, or align by points")
    scale, shift, inliers = robust_affine(*_samples(sub, ground, keep))
    return Alignment(space, scale, shift, "ground", samples=int(keep.sum()), inliers=inliers,
                     overlap=float(keep.sum()) / values.size)
