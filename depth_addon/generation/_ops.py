# SPDX-License-Identifier: GPL-3.0-or-later
"""Vectorised numpy building blocks of the analytic layer and the procedural baseline (no torch, no bpy).

Geometry from depth (normals, discontinuities, creases), connected-component segmentation and
value-noise fBm on 3D points. Every function is deterministic: no random state is used here.
Arrays are float32 and channel-first (3×H×W) for vector fields.
"""

from __future__ import annotations

import numpy as np

INF = np.float32(np.inf)
#: Points per chunk of the noise functions (keeps their temporaries in cache).
CHUNK = 65536


def _pad_along(a: np.ndarray, axis: int, before: int, after: int, value: float | bool) -> np.ndarray:
    """Constant-pad axis ``axis`` of an array by ``before``/``after`` entries of ``value``."""
    pad = [(0, 0)] * a.ndim
    pad[axis] = (before, after)
    return np.pad(a, pad, constant_values=value)


def _narrow(a: np.ndarray, axis: int, start: int, length: int) -> np.ndarray:
    """``a`` sliced to ``length`` entries from ``start`` along ``axis`` (a view)."""
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, start + length)
    return a[tuple(index)]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of channel-first 3×H×W vector fields."""
    return np.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def camera_normals(points: np.ndarray, mask: np.ndarray, ortho: bool = False) -> np.ndarray:
    """Unit camera-space normals (3×H×W) from back-projected points, oriented towards the camera.

    Each axis uses the one-sided difference whose depth change is smaller, so normals next to a
    silhouette come from the surface the pixel belongs to. Normals satisfy ``n·ray < 0`` with
    ``ray = P`` (perspective) or ``(0, 0, -1)`` (orthographic). Pixels without a usable neighbour
    on some axis face the camera.

    :param points: 3×H×W camera-space points (finite where ``mask``).
    :param mask: H×W bool geometry mask.
    :param ortho: True for an orthographic camera.
    """
    tangents = []
    for dim in (1, 0):
        n = mask.shape[dim]
        if n < 2:
            tangents.append(np.zeros_like(points))
            continue
        diff = _narrow(points, dim + 1, 1, n - 1) - _narrow(points, dim + 1, 0, n - 1)
        ok = _narrow(mask, dim, 1, n - 1) & _narrow(mask, dim, 0, n - 1)
        cost = np.where(ok, np.abs(diff[2]), INF)
        cost_f, cost_b = _pad_along(cost, dim, 0, 1, INF), _pad_along(cost, dim, 1, 0, INF)
        fwd, bwd = _pad_along(diff, dim + 1, 0, 1, 0.0), _pad_along(diff, dim + 1, 1, 0, 0.0)
        usable = np.minimum(cost_f, cost_b) < INF
        tangents.append(np.where(cost_f <= cost_b, fwd, bwd) * usable)
    n = _cross(tangents[0], tangents[1])
    length = np.sqrt((n * n).sum(0))
    if ortho:
        rays = np.zeros_like(points)
        rays[2] = -1.0
    else:
        rays = points / np.maximum(np.sqrt((points * points).sum(0)), 1e-12)
    sign = np.where((n * rays).sum(0) > 0, np.float32(-1.0), np.float32(1.0))
    return np.where(length > 1e-12, n * (sign / np.maximum(length, 1e-12)), -rays).astype(np.float32)


def depth_edges(depth: np.ndarray, mask: np.ndarray, ortho: bool, threshold: float = 0.05) -> np.ndarray:
    """Pixels at depth discontinuities (H×W bool), including silhouettes against background.

    Uses the per-axis second difference of disparity relative to disparity,
    ``(|∂²q/∂x²| + |∂²q/∂y²|) / q`` with ``q = 1/z`` (perspective; planes are affine in
    disparity, so even grazing planes do not fire) or ``q = z`` (orthographic). Background counts
    as ``q = 0``, so every silhouette fires.

    :param depth: H×W planar depth (any value where ``~mask``).
    :param mask: H×W bool geometry mask.
    :param ortho: True for an orthographic camera.
    :param threshold: Relative second-difference threshold.
    """
    safe = np.where(mask, depth, np.float32(1.0))
    q = np.where(mask, safe if ortho else np.float32(1.0) / safe, np.float32(0.0))
    second = np.zeros_like(q)
    second[:, 1:-1] += np.abs(q[:, 2:] - 2.0 * q[:, 1:-1] + q[:, :-2])
    second[1:-1, :] += np.abs(q[2:, :] - 2.0 * q[1:-1, :] + q[:-2, :])
    return mask & (second > threshold * np.maximum(q, 1e-30))


def creases(normals: np.ndarray, mask: np.ndarray, cos_limit: float = 0.75) -> np.ndarray:
    """Pixels whose normal turns by more than ``acos(cos_limit)`` to the right or lower neighbour.

    :param normals: 3×H×W unit normals.
    :param mask: H×W bool geometry mask.
    :param cos_limit: Cosine of the crease angle.
    """
    out = np.zeros_like(mask)
    for dim in (1, 0):
        n = mask.shape[dim]
        if n < 2:
            continue
        cos = (_narrow(normals, dim + 1, 0, n - 1) * _narrow(normals, dim + 1, 1, n - 1)).sum(0)
        turn = _narrow(mask, dim, 0, n - 1) & _narrow(mask, dim, 1, n - 1) & (cos < cos_limit)
        out |= _pad_along(turn, dim, 0, 1, False)
    return out


def box3(a: np.ndarray) -> np.ndarray:
    """3×3 mean over the neighbours inside the image (as ``avg_pool2d(3, 1, 1, count_include_pad=False)``).

    :param a: H×W float32 map.
    """
    h, w = a.shape
    p = np.pad(a, 1)
    ones = np.pad(np.ones_like(a), 1)
    total = sum(p[dy: dy + h, dx: dx + w] for dy in range(3) for dx in range(3))
    count = sum(ones[dy: dy + h, dx: dx + w] for dy in range(3) for dx in range(3))
    return (total / count).astype(np.float32)


def connected_components(region: np.ndarray) -> np.ndarray:
    """4-connected component labels of a bool image (H×W int64, -1 outside ``region``).

    Row runs are numbered directly (a cumulative sum of run starts); runs that touch vertically
    are then merged by hooking and pointer jumping over one link per pair of touching runs.
    Components are numbered 0..n-1 in scan order of their first pixel.

    :param region: H×W bool image.
    """
    h, w = region.shape
    start = region & ~_pad_along(region[:, :-1], 1, 1, 0, False)
    run = start.reshape(-1).cumsum().reshape(h, w) - 1
    n_runs = int(run[-1, -1]) + 1
    if n_runs == 0:
        return np.full((h, w), -1, dtype=np.int64)
    parent = np.arange(n_runs, dtype=np.int64)
    if h > 1 and n_runs > 1:
        up, down = run[:-1], run[1:]
        link = region[:-1] & region[1:]
        new_pair = (up[:, 1:] != up[:, :-1]) | (down[:, 1:] != down[:, :-1]) | ~link[:, :-1]
        link &= _pad_along(new_pair, 1, 1, 0, True)
        a, b = up[link], down[link]
        while a.size:
            pa, pb = parent[a], parent[b]
            lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
            if np.array_equal(lo, hi):
                break
            np.minimum.at(parent, hi, lo)
            while True:
                jumped = parent[parent]
                if np.array_equal(jumped, parent):
                    break
                parent = jumped
    is_root = parent == np.arange(n_runs, dtype=np.int64)
    component = (is_root.cumsum() - 1)[parent]
    return np.where(region, component[np.maximum(run, 0)], -1)


def fill_labels(labels: np.ndarray, depth: np.ndarray, mask: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Give unlabelled geometry pixels the label of the 4-neighbour closest in depth.

    :param labels: H×W int64 labels, -1 = unlabelled.
    :param depth: H×W depth.
    :param mask: H×W bool geometry mask.
    :param rounds: Growth steps; pixels still unlabelled afterwards get label 0.
    """
    h, w = labels.shape
    flat_labels = labels.reshape(-1).copy()
    flat_depth = depth.reshape(-1)
    todo = np.flatnonzero(mask & (labels < 0))
    for _ in range(rounds):
        if todo.size == 0:
            break
        col, row = todo % w, todo // w
        nbrs = np.stack([todo + 1, todo - 1, todo + w, todo - w])
        inside = np.stack([col < w - 1, col > 0, row < h - 1, row > 0])
        nbrs = np.where(inside, nbrs, todo)
        cand = flat_labels[nbrs]
        cost = np.where(cand >= 0, np.abs(flat_depth[nbrs] - flat_depth[todo]), INF)
        pick = np.take_along_axis(cand, cost.argmin(0)[None], 0)[0]
        flat_labels[todo] = pick
        todo = todo[pick < 0]
    flat_labels[todo] = 0
    return flat_labels.reshape(h, w)


def value_noise(points: np.ndarray, table: np.ndarray, rotations: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Smooth value noise in [0, 1] at N points for several octaves at once (octaves×N).

    ``table`` is a T×T×T lattice of random values that tiles space; octave ``k`` samples it at
    ``2**k * rotations[k] @ p + offsets[k]`` (``p`` in lattice cells), with smoothstep
    interpolation between lattice values. Point component 0 indexes the table's last axis,
    component 2 its first. The eight corner values of every lattice cell are stored side by side,
    so each point reads its cell with one gather of a row, in chunks that stay in cache.

    :param points: 3×N points in units of the coarsest lattice cell.
    :param table: T×T×T float32 lattice values.
    :param rotations: K×3×3 rotation matrices (hide the lattice axes).
    :param offsets: K×3 offsets in lattice cells.
    """
    t = table.shape[0]
    k, n = rotations.shape[0], points.shape[1]
    t1 = t + 1
    volume = np.pad(table, ((0, 1), (0, 1), (0, 1)), mode="wrap").reshape(-1)
    corners = np.array([dz * t1 * t1 + dy * t1 + dx for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)])
    cell_corners = np.empty((8, volume.size), volume.dtype)  # 8 × cells: volume[min(i + corner, size - 1)]
    for row, corner in zip(cell_corners, corners.tolist(), strict=True):
        row[:volume.size - corner], row[volume.size - corner:] = volume[corner:], volume[-1]
    out = np.empty((k, n), np.float32)
    for o in range(k):
        mat = rotations[o] * np.float32(2.0**o)
        for a in range(0, n, CHUNK):
            p = mat @ points[:, a: a + CHUNK] + offsets[o][:, None]
            cell = np.floor(p)
            f = p - cell
            f = f * f * (3.0 - 2.0 * f)  # smoothstep: trilinear sampling at these offsets interpolates smoothly
            c = np.mod(cell, t).astype(np.int64)
            v = np.take(cell_corners, (c[2] * t1 + c[1]) * t1 + c[0], axis=1)
            fx, fy, fz = f[0], f[1], f[2]
            x00, x01 = v[0] + (v[1] - v[0]) * fx, v[2] + (v[3] - v[2]) * fx
            x10, x11 = v[4] + (v[5] - v[4]) * fx, v[6] + (v[7] - v[6]) * fx
            y0, y1 = x00 + (x01 - x00) * fy, x10 + (x11 - x10) * fy
            out[o, a: a + CHUNK] = y0 + (y1 - y0) * fz
    return out


def _hash3(cells: np.ndarray) -> np.ndarray:
    """Three pseudo-random values in [0, 1) per integer lattice cell (3×N → 3×N float32).

    ``fract(|sin(k·c)| × 43758.5453)`` evaluated in float64 with a fixed summation order: the result
    depends on the cell alone, not on how a BLAS library orders a matrix product (in float32 that
    order changes the value completely, so the torch and numpy runtimes disagreed).
    """
    c = cells.astype(np.float64)
    out = np.empty(cells.shape, np.float32)
    for row, (a, b, k) in enumerate(_HASH_KEYS):
        x = np.sin(a * c[0] + b * c[1] + k * c[2]) * 43758.5453
        out[row] = np.abs(x - np.trunc(x))
    return out


_HASH_KEYS = ((127.1, 311.7, 74.7), (269.5, 183.3, 246.1), (113.5, 271.9, 124.6))


def cell_index(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct integer cells of N points (3×K, in increasing key order) and each point's index into them.

    Same result as ``np.unique(keys, return_inverse=True)`` on a linear cell key, found with a dense
    occupancy table instead of a sort when the cells' bounding box is small (it nearly always is).

    :param cells: 3×N int64 cell coordinates.
    """
    if not cells.size:
        return np.zeros((3, 0), np.int64), np.zeros(0, np.int64)
    lo = cells.min(1, keepdims=True)
    rel = cells - lo
    span = rel.max(1) + 1
    keys = (rel[0] * span[1] + rel[1]) * span[2] + rel[2]
    total = int(span.prod())
    if total <= 8 * cells.shape[1] + (1 << 20):
        present = np.zeros(total, bool)
        present[keys] = True
        distinct = np.flatnonzero(present)
        inverse = (np.cumsum(present) - 1)[keys]
    else:
        distinct, inverse = np.unique(keys, return_inverse=True)
    own = np.stack([distinct // (span[1] * span[2]), distinct // span[2] % span[1], distinct % span[2]]) + lo
    return own, inverse


def voronoi_f1(points: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest feature point of a jittered lattice (Worley F1), N values in [0, ~1.2].

    One feature point per unit cell, as Blender's Voronoi texture (F1, Euclidean, randomness 1): 0 at
    the feature points, largest on the borders between cells. Feature points of the 27 cells around
    each distinct cell are hashed once (far fewer cells than points) into one row per cell, which
    each point gathers at once, in chunks that stay in cache.

    :param points: 3×N points in cell units.
    """
    cell = np.floor(points)
    frac = np.ascontiguousarray((points - cell).astype(np.float32).T)  # N×3
    own, inverse = cell_index(cell.astype(np.int64))
    offsets = np.array([(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)]).T  # 3×27
    rows = np.empty((own.shape[1], 3, 27), np.float32)  # per cell: its neighbours' feature points, cell-relative
    for j in range(27):
        off = offsets[:, j: j + 1]
        rows[:, :, j] = (off + _hash3(own + off)).astype(np.float32).T
    n, step = points.shape[1], CHUNK // 8
    best = np.empty(n, np.float32)
    buf = np.empty((min(step, n), 3, 27), np.float32)
    for a in range(0, n, step):
        d = buf[: min(step, n - a)]
        np.take(rows, inverse[a: a + step], axis=0, out=d)
        np.subtract(d, frac[a: a + step, :, None], out=d)
        np.multiply(d, d, out=d)
        dist = d[:, 0] + d[:, 1]
        dist += d[:, 2]
        np.min(dist, axis=1, out=best[a: a + step])
    return np.sqrt(best)
