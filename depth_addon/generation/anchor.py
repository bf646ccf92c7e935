# SPDX-License-Identifier: GPL-3.0-or-later
"""World-anchored painting: several views of one scene paint the same pattern on the same surface (numpy).

By default the analytic layer lays its pattern out in the camera's own space, with a cell size that follows
the view's median depth, numbers its surface segments in scan order and seeds the sun in camera space: two
views of one wall paint bricks of different size and phase, in different palette entries, lit from
different sides. With a *world cell* (metres, the same for every view of a run) the layer instead uses

* points and normals in world space (a Y-up frame, so bricks run horizontally on walls and the ground
  reads as the floor), scaled by that one cell;
* segment numbers from each surface's plane (its rounded normal and offset), so a wall gets the same
  palette entry from every side, and a fixed palette size (:data:`TABLE`), so the seeded draws do not
  depend on how many segments a view happens to see;
* one seeded sun in world space (:func:`world_sun`), turned into each view's camera space;
* the appearance network given normals and sun in that world frame (:func:`world_directions`), so it shades a
  surface alike from every side.
"""

from __future__ import annotations

import numpy as np

from ..camera import CameraModel

#: Palette entries drawn when anchored (segment numbers are hashed into this range).
TABLE = 16
#: Blender's Z-up world to the Y-up frame the pattern code expects: ``(x, y, z) → (x, z, -y)``.
_YUP = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float32)


def rotation(camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """``(camera → world rotation with unit columns, camera location)`` as float32.

    :param camera: The view.
    """
    m = np.asarray(camera.matrix, np.float64)
    rot = m[:3, :3] / np.maximum(np.linalg.norm(m[:3, :3], axis=0), 1e-12)
    return rot.astype(np.float32), m[:3, 3].astype(np.float32)


def to_world_yup(points: np.ndarray, normals: np.ndarray, camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space points and normals (3×H×W) in world space, as a Y-up frame ``(x, z, -y)``.

    :param points: 3×H×W camera-space points.
    :param normals: 3×H×W camera-space unit normals.
    :param camera: The view (its ``matrix_world``).
    """
    rot, loc = rotation(camera)
    h, w = points.shape[1:]
    pts = _YUP @ (rot @ points.reshape(3, -1) + loc[:, None])
    return pts.reshape(3, h, w).astype(np.float32), world_directions(normals, camera)


def world_directions(vectors: np.ndarray, camera: CameraModel) -> np.ndarray:
    """Camera-space directions (3 or 3×H×W) in the world's Y-up frame ``(x, z, -y)``.

    :param vectors: Directions in the camera's space.
    :param camera: The view.
    """
    rot, _loc = rotation(camera)
    v = np.asarray(vectors, np.float32)
    return ((_YUP @ rot) @ v.reshape(3, -1)).reshape(v.shape).astype(np.float32)


def stable_labels(labels: np.ndarray, points: np.ndarray, normals: np.ndarray, cell: float) -> np.ndarray:
    """Segment labels renumbered from each segment's plane: the same surface gets the same number in any view.

    Every pixel votes for its plane (its normal rounded to halves, its offset along the normal rounded to two
    cells); a segment takes the plane most of its pixels vote for. Where a distant view merges two surfaces into
    one segment, the larger one's plane wins instead of an average that belongs to neither.

    :param labels: H×W int labels (-1 background).
    :param points: 3×H×W world (Y-up) points.
    :param normals: 3×H×W world (Y-up) unit normals.
    :param cell: The run's world cell in metres (plane offsets are rounded to two cells).
    """
    flat = labels.reshape(-1)
    inside = np.flatnonzero(flat >= 0)
    out = np.full(flat.shape, -1, np.int64)
    if inside.size == 0:
        return out.reshape(labels.shape)
    pts, nrm = points.reshape(3, -1)[:, inside], normals.reshape(3, -1)[:, inside]
    with np.errstate(invalid="ignore"):
        offset = np.nan_to_num((nrm * pts).sum(axis=0) / np.float32(2.0 * cell))
    q = np.clip(np.rint(np.nan_to_num(nrm) * 2.0), -2, 2).astype(np.int64) + 2  # 0..4 per component
    votes = (q[0] * 5 + q[1]) * 5 + q[2] + 125 * np.rint(offset).astype(np.int64)  # one int per plane
    planes, plane_of = np.unique(votes, return_inverse=True)
    segs, seg_of = np.unique(flat[inside], return_inverse=True)
    pairs, counts = np.unique(seg_of.reshape(-1) * planes.size + plane_of.reshape(-1), return_counts=True)
    seg_p, plane_p = np.divmod(pairs, planes.size)
    order = np.lexsort((plane_p, -counts, seg_p))  # per segment: most votes first, then the lowest plane
    first = order[np.r_[True, seg_p[order][1:] != seg_p[order][:-1]]]
    code, off = np.mod(planes[plane_p[first]], 125), np.floor_divide(planes[plane_p[first]], 125)
    keys = np.stack([code // 25 - 2, (code // 5) % 5 - 2, code % 5 - 2, off], axis=1)
    table = np.array([_mix(tuple(k.tolist())) % TABLE for k in keys], np.int64)
    out[inside] = table[seg_of.reshape(-1)]
    return out.reshape(labels.shape)


def _mix(key: tuple[int, ...]) -> int:
    """A fixed integer hash of small integers (Python's ``hash`` of tuples is stable for ints; spelled out here)."""
    h = 1469598103934665603
    for v in key:
        h = ((h ^ (v & 0xFFFFFFFF)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return int(h >> 17)


def world_sun(seed: int, camera: CameraModel, seeded: np.ndarray) -> np.ndarray:
    """The run's sun, seeded once in world space, as a camera-space unit vector for ``camera``.

    :param seed: The run's seed (unused beyond ``seeded``; kept for the record).
    :param camera: The view.
    :param seeded: The seeded direction, read as Y-up world (x, up, z).
    """
    x, up, z = (float(v) for v in seeded)
    world = np.array([x, -z, up], np.float32)  # Y-up (x, z, -y) back to Blender's Z-up
    rot, _loc = rotation(camera)
    sun = rot.T @ world
    return (sun / max(float(np.linalg.norm(sun)), 1e-9)).astype(np.float32)


def world_cell(depths: list[np.ndarray]) -> float:
    """One pattern cell for a run: the power of two nearest a tenth of the views' median depth.

    :param depths: The views' planar depths (``inf`` background).
    """
    finite = [d[np.isfinite(d)] for d in depths]
    values = np.concatenate([f[:: max(1, f.size // 65536)] for f in finite if f.size]) if finite else np.ones(1)
    median = float(np.median(values)) if values.size else 1.0
    return float(2.0 ** round(np.log2(max(0.1 * median, 1e-6))))
