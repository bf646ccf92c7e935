# SPDX-License-Identifier: GPL-3.0-or-later
"""What the fast path need not draw, or may draw one-sided: frustum culling per instance and back-face culling per
mesh group.

Culling only changes speed: an instance whose box lies wholly outside the view frustum is left out of its group's
instanced draw (a group with none left is skipped), and closed meshes wholly beyond the near plane are drawn with
their hidden side culled.
"""

from __future__ import annotations

import numpy as np

from ...camera import CameraModel
from .scene import camera_boxes

_MODES = np.array(["NONE", "BACK", "FRONT", "SKIP"])


def frustum_planes(cam: CameraModel) -> np.ndarray:
    """Inward camera-space planes ``(nx, ny, nz, d)`` of the view frustum: inside where ``n·p + d >= 0``."""
    left, right, bottom, top = cam.frame
    near, far = cam.clip
    if cam.ortho:
        sides = [(1, 0, 0, -left), (-1, 0, 0, right), (0, 1, 0, -bottom), (0, -1, 0, top)]
    else:
        sides = [(1, 0, left, 0), (-1, 0, -right, 0), (0, 1, bottom, 0), (0, -1, -top, 0)]
    return np.array(sides + [(0, 0, -1, -near), (0, 0, 1, far)], np.float64)


def cull_modes(lo: np.ndarray, hi: np.ndarray, orient: np.ndarray, starts: np.ndarray, modelview: np.ndarray,
               cam: CameraModel) -> tuple[list[str], np.ndarray]:
    """Per group: ``SKIP`` when wholly outside the frustum, ``BACK``/``FRONT`` for closed meshes wholly
    beyond the near plane (their hidden side cannot be seen), else ``NONE``; and per instance whether it is
    wholly outside the frustum.

    :param lo: N×3 local minimum corner of each instance's mesh, in draw order (grouped by mesh).
    :param hi: N×3 local maximum corner, in draw order.
    :param orient: N orientation of each instance as placed (:attr:`.plan.DrawPlan.orient`), in draw order.
    :param starts: First instance of each group in ``modelview``.
    :param modelview: N×4×4 camera-from-object matrices in draw order.
    :param cam: The camera (frame, clip range).
    """
    cmin, cmax = camera_boxes(modelview, lo, hi)
    centre, extent = (cmin + cmax) / 2, (cmax - cmin) / 2
    planes = frustum_planes(cam)
    reach = centre @ planes[:, :3].T + extent @ np.abs(planes[:, :3]).T + planes[:, 3]
    outside = np.any(reach < 0, axis=1)
    side = orient * np.sign(np.linalg.det(cam.matrix[:3, :3]))  # a mirroring camera flips every side
    skip = np.minimum.reduceat(outside.astype(np.int8), starts) > 0
    far = np.maximum.reduceat(cmax[:, 2], starts) < -cam.clip[0] * 1.001
    front = np.minimum.reduceat(side, starts) > 0
    back = np.maximum.reduceat(side, starts) < 0
    return _MODES[np.where(skip, 3, np.where(far & front, 1, np.where(far & back, 2, 0)))].tolist(), outside


def visible(starts: np.ndarray, outside: np.ndarray, pinned: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leave the instances wholly outside the frustum out of the draw order, except members of merged batches (their
    batch finds its rows by position).

    :param starts: First position of each group in the draw order.
    :param outside: N bools in draw order: the instance lies wholly outside the frustum (:func:`cull_modes`).
    :param pinned: N bools in draw order: the instance is drawn by a merged batch (:attr:`.plan.DrawPlan.pinned`).
    :return: ``(kept, first position, count)``: N bools in draw order, and per group where its kept instances
        start in the kept order and how many there are.
    """
    kept = pinned | ~outside
    counts = np.add.reduceat(kept.astype(np.int64), starts)
    return kept, np.cumsum(counts) - counts, counts
