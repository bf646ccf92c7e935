# SPDX-License-Identifier: GPL-3.0-or-later
"""Vectorised torch (CPU) building blocks of the procedural baseline.

Geometry from depth (normals, discontinuities, creases), connected-component segmentation and
value-noise fBm on 3D points. Every function is deterministic: no random state is used here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

INF = float("inf")


def _pad_along(t: torch.Tensor, dim: int, before: int, after: int, value: float) -> torch.Tensor:
    """Constant-pad dimension ``dim`` of a tensor by ``before``/``after`` entries of ``value``."""
    pad = [0, 0] * (t.dim() - dim - 1) + [before, after]
    return F.pad(t, pad, value=value)


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product of channel-first 3×H×W vector fields."""
    return torch.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def camera_normals(points: torch.Tensor, mask: torch.Tensor, ortho: bool = False) -> torch.Tensor:
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
            tangents.append(torch.zeros_like(points))
            continue
        diff = points.narrow(dim + 1, 1, n - 1) - points.narrow(dim + 1, 0, n - 1)
        ok = mask.narrow(dim, 1, n - 1) & mask.narrow(dim, 0, n - 1)
        cost = torch.where(ok, diff[2].abs(), INF)
        cost_f, cost_b = _pad_along(cost, dim, 0, 1, INF), _pad_along(cost, dim, 1, 0, INF)
        fwd, bwd = _pad_along(diff, dim + 1, 0, 1, 0.0), _pad_along(diff, dim + 1, 1, 0, 0.0)
        usable = torch.minimum(cost_f, cost_b) < INF
        tangents.append(torch.where(cost_f <= cost_b, fwd, bwd) * usable)
    n = _cross(tangents[0], tangents[1])
    length = (n * n).sum(0).sqrt()
    if ortho:
        rays = torch.zeros_like(points)
        rays[2] = -1.0
    else:
        rays = points / (points * points).sum(0).sqrt().clamp_min(1e-12)
    sign = torch.where((n * rays).sum(0) > 0, -1.0, 1.0)
    facing = -rays
    return torch.where(length > 1e-12, n * (sign / length.clamp_min(1e-12)), facing)


def depth_edges(depth: torch.Tensor, mask: torch.Tensor, ortho: bool, threshold: float = 0.05) -> torch.Tensor:
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
    safe = torch.where(mask, depth, 1.0)
    q = torch.where(mask, safe if ortho else 1.0 / safe, 0.0)
    second = torch.zeros_like(q)
    second[:, 1:-1] += (q[:, 2:] - 2.0 * q[:, 1:-1] + q[:, :-2]).abs()
    second[1:-1, :] += (q[2:, :] - 2.0 * q[1:-1, :] + q[:-2, :]).abs()
    return mask & (second > threshold * q.clamp_min(1e-30))


def creases(normals: torch.Tensor, mask: torch.Tensor, cos_limit: float = 0.75) -> torch.Tensor:
    """Pixels whose normal turns by more than ``acos(cos_limit)`` to the right or lower neighbour.

    :param normals: 3×H×W unit normals.
    :param mask: H×W bool geometry mask.
    :param cos_limit: Cosine of the crease angle.
    """
    out = torch.zeros_like(mask)
    for dim in (1, 0):
        n = mask.shape[dim]
        if n < 2:
            continue
        cos = (normals.narrow(dim + 1, 0, n - 1) * normals.narrow(dim + 1, 1, n - 1)).sum(0)
        turn = mask.narrow(dim, 0, n - 1) & mask.narrow(dim, 1, n - 1) & (cos < cos_limit)
        out |= _pad_along(turn, dim, 0, 1, False)
    return out


def connected_components(region: torch.Tensor) -> torch.Tensor:
    """4-connected component labels of a bool image (H×W int64, -1 outside ``region``).

    Row runs are numbered directly (a cumulative sum of run starts); runs that touch vertically
    are then merged by hooking and pointer jumping over one link per pair of touching runs.
    Components are numbered 0..n-1 in scan order of their first pixel.

    :param region: H×W bool image.
    """
    h, w = region.shape
    start = region & ~_pad_along(region[:, :-1], 1, 1, 0, False)
    run = start.view(-1).cumsum(0).view(h, w) - 1
    n_runs = int(run[-1, -1]) + 1
    if n_runs == 0:
        return torch.full((h, w), -1, dtype=torch.int64)
    parent = torch.arange(n_runs, dtype=torch.int64)
    if h > 1 and n_runs > 1:
        up, down = run[:-1], run[1:]
        link = region[:-1] & region[1:]
        new_pair = (up[:, 1:] != up[:, :-1]) | (down[:, 1:] != down[:, :-1]) | ~link[:, :-1]
        link &= _pad_along(new_pair, 1, 1, 0, True)
        a, b = up[link], down[link]
        while a.numel():
            pa, pb = parent[a], parent[b]
            lo, hi = torch.minimum(pa, pb), torch.maximum(pa, pb)
            if torch.equal(lo, hi):
                break
            parent.scatter_reduce_(0, hi, lo, reduce="amin")
            while True:
                jumped = parent[parent]
                if torch.equal(jumped, parent):
                    break
                parent = jumped
    is_root = parent == torch.arange(n_runs, dtype=torch.int64)
    component = (is_root.cumsum(0) - 1)[parent]
    return torch.where(region, component[run.clamp_min(0)], -1)


def fill_labels(labels: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor, rounds: int = 3) -> torch.Tensor:
    """Give unlabelled geometry pixels the label of the 4-neighbour closest in depth.

    :param labels: H×W int64 labels, -1 = unlabelled.
    :param depth: H×W depth.
    :param mask: H×W bool geometry mask.
    :param rounds: Growth steps; pixels still unlabelled afterwards get label 0.
    """
    h, w = labels.shape
    flat_labels = labels.reshape(-1).clone()
    flat_depth = depth.reshape(-1)
    todo = (mask & (labels < 0)).view(-1).nonzero().squeeze(1)
    for _ in range(rounds):
        if todo.numel() == 0:
            break
        col, row = todo % w, todo // w
        nbrs = torch.stack([todo + 1, todo - 1, todo + w, todo - w])
        inside = torch.stack([col < w - 1, col > 0, row < h - 1, row > 0])
        nbrs = torch.where(inside, nbrs, todo)
        cand = flat_labels[nbrs]
        cost = torch.where(cand >= 0, (flat_depth[nbrs] - flat_depth[todo]).abs(), INF)
        pick = cand.gather(0, cost.argmin(0, keepdim=True))[0]
        flat_labels[todo] = pick
        todo = todo[pick < 0]
    flat_labels[todo] = 0
    return flat_labels.view(h, w)


def value_noise(points: torch.Tensor, table: torch.Tensor, rotations: torch.Tensor, offsets: torch.Tensor,
                ) -> torch.Tensor:
    """Smooth value noise in [0, 1] at N points for several octaves at once (octaves×N).

    ``table`` is a T×T×T lattice of random values that tiles space; octave ``k`` samples it at
    ``2**k * rotations[k] @ p + offsets[k]`` (``p`` in lattice cells), with smoothstep
    interpolation between lattice values.

    :param points: 3×N points in units of the coarsest lattice cell.
    :param table: T×T×T float32 lattice values.
    :param rotations: K×3×3 rotation matrices (hide the lattice axes).
    :param offsets: K×3 offsets in lattice cells.
    """
    t = table.shape[0]
    k, n = rotations.shape[0], points.shape[1]
    scale = (2.0 ** torch.arange(k, dtype=points.dtype)).view(k, 1, 1)
    p = torch.baddbmm(offsets.view(k, 3, 1), rotations * scale, points.expand(k, 3, n))
    cell = p.floor()
    f = p.sub_(cell)
    f = f * f * (3.0 - 2.0 * f)  # smoothstep: trilinear sampling at these offsets interpolates smoothly
    grid = cell.remainder_(t).add_(f).mul_(2.0 / t).sub_(1.0)
    volume = F.pad(table.view(1, 1, t, t, t), (0, 1, 0, 1, 0, 1), mode="circular")
    grid = grid.transpose(1, 2).reshape(1, k, 1, n, 3)
    out = F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.view(k, n)


def _hash3(cells: torch.Tensor) -> torch.Tensor:
    """Three pseudo-random values in [0, 1) per integer lattice cell (3×N → 3×N), the same on every machine."""
    keys = torch.tensor([[127.1, 311.7, 74.7], [269.5, 183.3, 246.1], [113.5, 271.9, 124.6]], dtype=cells.dtype)
    return torch.frac(torch.sin(keys @ cells) * 43758.5453).abs()


def voronoi_f1(points: torch.Tensor) -> torch.Tensor:
    """Distance from each point to the nearest feature point of a jittered lattice (Worley F1), N values in [0, ~1.2].

    One feature point per unit cell, as Blender's Voronoi texture (F1, Euclidean, randomness 1): 0 at
    the feature points, largest on the borders between cells.

    :param points: 3×N points in cell units.
    """
    cell = torch.floor(points)
    frac = points - cell
    best = torch.full(points.shape[1:], float("inf"), dtype=points.dtype)
    for dx in (-1.0, 0.0, 1.0):
        for dy in (-1.0, 0.0, 1.0):
            for dz in (-1.0, 0.0, 1.0):
                off = torch.tensor([dx, dy, dz], dtype=points.dtype).view(3, 1)
                best = torch.minimum(best, ((off + _hash3(cell + off) - frac) ** 2).sum(0))
    return best.sqrt()
