# SPDX-License-Identifier: GPL-3.0-or-later
"""Screen-space cast shadows of the analytic layer, and the bilinear resize they use (numpy, no bpy)."""

from __future__ import annotations

import numpy as np

from ..camera import CameraModel
from . import _ops

SHADOW_STEPS = 14


def upsample(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of an H'×W' map to ``h``×``w`` (half-pixel centres, as ``F.interpolate``)."""
    def taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.maximum((np.arange(n_out, dtype=np.float32) + 0.5) * np.float32(n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        return i0, np.minimum(i0 + 1, n_in - 1), (src - i0).astype(np.float32)

    y0, y1, fy = taps(a.shape[0], h)
    x0, x1, fx = taps(a.shape[1], w)
    rows = a[y0] + (a[y1] - a[y0]) * fy[:, None]
    return rows[:, x0] + (rows[:, x1] - rows[:, x0]) * fx[None, :]


def screen_shadows(z: np.ndarray, m: np.ndarray, points: np.ndarray, sun: np.ndarray, camera: CameraModel,
             median: float) -> np.ndarray:
    """Screen-space cast shadows: 1 = lit, 0 = shadowed (H×W), computed at half resolution.

    Marches from every surface point towards the sun in geometrically growing steps (one step at a
    time over all points), projects each step into the image and calls it occluded when the depth map holds a
    surface in front of it (within a thickness that grows with the distance travelled).
    """
    h, w = z.shape
    s = 2 if min(h, w) >= 64 else 1
    zs, ms, ps = z[::s, ::s], m[::s, ::s], points[:, ::s, ::s]
    hs, ws = zs.shape
    left, right, bottom, top = camera.frame
    zmap = np.where(ms, zs, np.float32(1e6)).reshape(-1)
    ts = (median * 0.01 * (1.4 ** np.arange(SHADOW_STEPS, dtype=np.float32))).astype(np.float32)
    p = ps.reshape(3, -1)
    sx, sy, sz = (np.float32(c) for c in sun)
    ax, bx = np.float32(2.0 / (right - left)), np.float32(left)
    ay, by = np.float32(2.0 / (top - bottom)), np.float32(bottom)
    blocked = np.zeros(p.shape[1], bool)
    for t in ts:  # one step at a time: arrays of one image, not T of them
        qx, qy, depth_q = p[0] + sx * t, p[1] + sy * t, -(p[2] + sz * t)
        if camera.ortho:
            u, v = qx, qy
        else:
            inv = 1.0 / np.maximum(depth_q, 1e-6)
            u, v = qx * inv, qy * inv
        gx = ax * (u - bx) - 1.0
        gy = 1.0 - ay * (v - by)
        # nearest sample with border clamping, as grid_sample(mode="nearest", align_corners=False)
        ix = np.rint(np.clip(((gx + 1.0) * ws - 1.0) * 0.5, 0, ws - 1)).astype(np.intp)
        iy = np.rint(np.clip(((gy + 1.0) * hs - 1.0) * 0.5, 0, hs - 1)).astype(np.intp)
        gap = depth_q - zmap[iy * ws + ix]
        near, far = np.float32(0.02) * t + np.float32(0.003 * median), np.float32(2.0) * t + np.float32(0.05 * median)
        blocked |= (np.abs(gx) < 1) & (np.abs(gy) < 1) & (depth_q > 0) & (gap > near) & (gap < far)
    lit = _ops.box3((~blocked).astype(np.float32).reshape(hs, ws))
    return upsample(lit, h, w) if s > 1 else lit
