# SPDX-License-Identifier: GPL-3.0-or-later
"""Rasterise a mesh's UV triangles into a texture grid: world position and normal of every texel.

Each texel whose centre lies inside a UV triangle gets the triangle's world position and normal,
interpolated with the barycentric coordinates of the texel centre, so fusion can treat texels as
surface points. The work is vectorised over (triangle, candidate texel) pairs in chunks of bounded
size, so a million small triangles and two huge ones cost about the same per texel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BadInput

MIN_SIZE, MAX_SIZE = 8, 8192
_CHUNK_PAIRS = 1 << 21  # (triangle, texel) candidates per chunk: bounds the temporary memory
_EDGE_EPS = 1e-5  # texel centres this close outside an edge still count (no cracks between triangles)
_INTERIOR_EPS = 1e-3  # for overlap counting: strictly inside, so shared edges are not overlaps
MAX_TILE_SPAN = 4  # copies per axis of one triangle across UV tiles (a wider one overlaps itself anyway)


@dataclass
class TexelGeometry:
    """The surface points behind the texels of one object's texture.

    :param size: Texture side in texels.
    :param index: (N,) flat texel index ``row * size + col`` (row 0 = ``v`` near 0).
    :param position: (3, N) float32 world position of each texel centre (component rows: numpy
        is much faster on them than on (N, 3) rows).
    :param normal: (3, N) float32 unit world normal (zero on degenerate faces).
    :param triangle: (N,) int32 triangle each texel belongs to.
    :param overlap: Fraction of covered texels that lie strictly inside two or more triangles.
    """

    size: int
    index: np.ndarray
    position: np.ndarray
    normal: np.ndarray
    triangle: np.ndarray
    overlap: float = 0.0

    @property
    def count(self) -> int:
        """Number of covered texels."""
        return int(self.index.size)

    def mask(self) -> np.ndarray:
        """``size×size`` bool grid of covered texels."""
        m = np.zeros(self.size * self.size, bool)
        m[self.index] = True
        return m.reshape(self.size, self.size)

    def to_grid(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Scatter per-texel ``values`` ((N,) or (N, C)) into a ``size×size[×C]`` float32 grid.

        :param values: One value (or row of values) per covered texel.
        :param fill: Value of texels no triangle covers.
        """
        v = np.asarray(values, np.float32)
        grid = np.full((self.size * self.size,) + v.shape[1:], fill, np.float32)
        grid[self.index] = v
        return grid.reshape((self.size, self.size) + v.shape[1:])


def triangle_areas(position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Areas and unit normals of triangles given by their corners.

    :param position: (T, 3, 3) corners.
    :return: ``(area (T,), unit normal (T, 3))``; degenerate triangles get a zero normal.
    """
    cross = np.cross(position[:, 1] - position[:, 0], position[:, 2] - position[:, 0])
    twice = np.linalg.norm(cross, axis=1)
    return twice / 2.0, cross / np.maximum(twice, 1e-12)[:, None]


def _shoelace(poly: np.ndarray) -> np.ndarray:
    """Signed areas of closed polygons (N, K, 2) (positive counter-clockwise; repeated corners add nothing)."""
    x, y = poly[..., 0], poly[..., 1]
    return 0.5 * (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)


def _clip_to_square(poly: np.ndarray) -> np.ndarray:
    """Convex polygons (N, K, 2) clipped to the 0-1 square (Sutherland-Hodgman on its four sides, all at once): each
    row lists its corners in order, padded by repeating the last (a row wholly outside is one point repeated)."""
    for axis, flip in ((0, False), (0, True), (1, False), (1, True)):
        inside = 1.0 - poly[..., axis] if flip else poly[..., axis]  # >= 0 on the square's side
        nxt, inside_next = np.roll(poly, -1, axis=1), np.roll(inside, -1, axis=1)
        crosses = (inside >= 0) != (inside_next >= 0)
        t = np.where(crosses, inside / np.where(crosses, inside - inside_next, 1.0), 0.0)
        points = np.stack([poly, poly + t[..., None] * (nxt - poly)], axis=2).reshape(len(poly), -1, 2)
        kept = (inside >= 0) & np.any(poly != nxt, axis=-1)  # a corner repeated by the padding is kept once
        valid = np.stack([kept, crosses], axis=2).reshape(len(poly), -1)
        points = np.take_along_axis(points, np.argsort(~valid, axis=1, kind="stable")[..., None], axis=1)
        count = valid.sum(axis=1)
        width = max(int(count.max(initial=1)), 1)
        last = np.minimum(np.arange(width)[None], np.maximum(count - 1, 0)[:, None])
        poly = np.take_along_axis(points, last[..., None], axis=1)
    return poly


def area_in_square(uv: np.ndarray, chunk: int = 1 << 15, enough: float = np.inf) -> float:
    """Total area of UV triangles inside the 0-1 square, each clipped to it (overlapping triangles count twice).

    Unlike a count of covered texel centres, this sees islands of any size: a small prop in an atlas has area even
    where it covers no texel of a coarse grid.

    :param uv: (T, 3, 2) triangle corners.
    :param chunk: Triangles that cross the square's sides clipped at a time (bounds the temporary memory).
    :param enough: Stop once the total is above this (a caller that only asks "is there any area?").
    """
    tri = np.asarray(uv, np.float64).reshape(-1, 3, 2)
    lo, hi = tri.min(axis=1), tri.max(axis=1)
    within = np.all((lo >= 0.0) & (hi <= 1.0), axis=1)
    ab, ac = tri[within, 1] - tri[within, 0], tri[within, 2] - tri[within, 0]
    total = 0.5 * float(np.abs(ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0]).sum())
    crossing = tri[~within & np.all((lo < 1.0) & (hi > 0.0), axis=1)]
    for start in range(0, len(crossing), chunk):
        if total > enough:
            break
        total += float(np.abs(_shoelace(_clip_to_square(crossing[start:start + chunk]))).sum())
    return total


def wrap_to_square(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UV triangles moved into the 0-1 square where a repeating texture shows them (Blender's image textures
    repeat by default, and a bake's do): a triangle in another tile (UDIM 1002, negative UVs) moves by whole tiles,
    one across a tile's side is drawn once per tile it reaches (:data:`MAX_TILE_SPAN` per axis at most), so its parts
    meet again at the square's opposite sides.

    :param uv: (T, 3, 2) triangle corners.
    :return: ``(corners (T', 3, 2) float64, source triangle of each (T',))``; every triangle once, unmoved, when
        all corners lie in the square.
    """
    uv = np.asarray(uv, np.float64).reshape(-1, 3, 2)
    finite = np.isfinite(uv).all(axis=(1, 2))[:, None]
    lo = np.where(finite, np.floor(uv.min(axis=1, initial=np.inf)), 0.0)
    span = np.where(finite, np.ceil(uv.max(axis=1, initial=-np.inf)) - 1.0 - lo, 0.0)
    span = np.clip(span, 0, MAX_TILE_SPAN - 1).astype(np.int64)  # tiles reached per axis, less one
    if not lo.any() and not span.any():
        return uv, np.arange(len(uv))
    across, up = span[:, 0] + 1, span[:, 1] + 1
    count = across * up
    source = np.repeat(np.arange(len(uv)), count)
    k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    offset = lo[source] + np.stack([k % across[source], k // across[source]], axis=1)
    return uv[source] - offset[:, None, :], source


def check_size(size: int) -> int:
    """A texture side as int, refused outside :data:`MIN_SIZE`..:data:`MAX_SIZE`.

    :param size: Requested side in texels.
    """
    if isinstance(size, bool) or int(size) != size or not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise BadInput(f"texture size must be a whole number of texels from {MIN_SIZE} to {MAX_SIZE}, got {size!r}")
    return int(size)


def _affine(edges: tuple, position: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per drawable triangle, its position and normal as affine functions of the texel coordinates.

    :return: ``(A, B, C)``, each (6, T') float64 (x, y, z of the position, then of the normal): the value at texel
        centre ``(x, y)`` is ``A x + B y + C``, the barycentric mix of the corners.
    """
    ids, ea, eb, ec = edges[:4]
    corners = np.concatenate([position, normal], axis=2)[ids].astype(np.float64)  # (T', corner, 6)
    return tuple(corners[:, 0].T * ea[j] + corners[:, 1].T * eb[j] + corners[:, 2].T * ec[j] for j in range(3))


def _spans(tri: np.ndarray, y: np.ndarray, ea: np.ndarray, eb: np.ndarray, ec: np.ndarray, xmin: np.ndarray,
           xmax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive x range of texel centres inside each triangle on row ``y`` (empty when ``lo > hi``)."""
    lo = xmin[tri].astype(np.float64)
    hi = xmax[tri].astype(np.float64)
    for e in (ea, eb, ec):  # barycentric weight of one corner: A x + B y + C >= -eps
        a = e[0][tri]
        d = e[1][tri] * y + e[2][tri] + _EDGE_EPS
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = -d / a
        lo = np.where(a > 0, np.maximum(lo, np.ceil(bound - 1e-9)), lo)
        hi = np.where(a < 0, np.minimum(hi, np.floor(bound + 1e-9)), hi)
        hi = np.where((a == 0) & (d < 0), lo - 1, hi)
    return lo.astype(np.int64), hi.astype(np.int64)


def rasterize_uv(uv: np.ndarray, position: np.ndarray, normal: np.ndarray, size: int,
                 measure_overlap: bool = True) -> TexelGeometry:
    """Rasterise triangles given per corner in UV space into a ``size×size`` texel grid.

    Scanline order: every (triangle, row) pair gets its exact span of texel centres, so the work
    is proportional to the covered texels, not to the triangles' bounding boxes. UVs outside the square land where
    a repeating texture shows them (:func:`wrap_to_square`).

    :param uv: (T, 3, 2) UV coordinates of each triangle's corners.
    :param position: (T, 3, 3) world positions of the corners.
    :param normal: (T, 3, 3) world normals of the corners (need not be unit length).
    :param size: Texture side in texels.
    :param measure_overlap: Also count texels strictly inside two or more triangles.
    :return: The covered texels with interpolated positions and unit normals.
    :raises BadInput: For mismatched shapes or a bad size.
    """
    size = check_size(size)
    uv = np.asarray(uv, np.float64)
    position = np.asarray(position, np.float32)
    normal = np.asarray(normal, np.float32)
    t = uv.shape[0]
    if uv.shape != (t, 3, 2) or position.shape != (t, 3, 3) or normal.shape != (t, 3, 3):
        raise BadInput(f"expected (T,3,2) UVs and (T,3,3) positions/normals, got {uv.shape}, {position.shape}, "
                       f"{normal.shape}")
    uv, source = wrap_to_square(uv)
    copies = len(source) != t  # triangles drawn in more than one tile
    if copies:
        position, normal = position[source], normal[source]
    p = uv * size - 0.5  # texel (i, j) has its centre at integer coordinates (j, i)
    edges = _edge_functions(p, size)
    idx, tris, values, strict_idx = _scan(edges, _affine(edges, position, normal), size, measure_overlap)
    winner = np.full(size * size, -1, np.int32)
    winner[idx] = np.arange(idx.size, dtype=np.int32)  # one hit per texel (any of the candidates on a shared edge)
    pick = winner[winner >= 0]
    idx, tris, values = idx[pick], tris[pick], np.take(values, pick, axis=1)
    pos, nrm = values[:3], values[3:]
    length = np.sqrt(nrm[0] * nrm[0] + nrm[1] * nrm[1] + nrm[2] * nrm[2])
    nrm *= np.where(length > 1e-12, 1.0 / np.maximum(length, 1e-12), 0.0).astype(np.float32)
    overlap = 0.0
    if measure_overlap and strict_idx:
        counts = np.bincount(np.concatenate(strict_idx), minlength=size * size)
        overlap = float((counts > 1).sum()) / max(idx.size, 1)
    return TexelGeometry(size=size, index=idx, position=np.ascontiguousarray(pos), normal=np.ascontiguousarray(nrm),
                         triangle=(source[tris] if copies else tris).astype(np.int32), overlap=overlap)


def _edge_functions(p: np.ndarray, size: int) -> tuple:
    """Per drawable triangle: its index, the three corners' barycentric edge functions and its texel rows.

    :param p: (T, 3, 2) corners in texel coordinates (texel centres at integers).
    :param size: Texture side in texels.
    :return: ``(ids, ea, eb, ec, xmin, xmax, ymin, rows)``.
    """
    ax, ay, bx, by, cx, cy = (p[:, k, c] for k in range(3) for c in range(2))
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    xmin = np.clip(np.ceil(p[..., 0].min(1) - 1e-9), 0, size - 1)
    xmax = np.clip(np.floor(p[..., 0].max(1) + 1e-9), 0, size - 1)
    ymin = np.clip(np.ceil(p[..., 1].min(1) - 1e-9), 0, size - 1)
    ymax = np.clip(np.floor(p[..., 1].max(1) + 1e-9), 0, size - 1)
    ok = np.isfinite(p).all(axis=(1, 2)) & (np.abs(area) > 1e-12) & (xmax >= xmin) & (ymax >= ymin)
    ok &= (p[..., 0].max(1) >= 0) & (p[..., 0].min(1) <= size - 1) & (p[..., 1].max(1) >= 0)
    ok &= p[..., 1].min(1) <= size - 1
    ids = np.flatnonzero(ok)
    inv = 1.0 / area[ids]
    ax, ay, bx, by, cx, cy = (v[ids] for v in (ax, ay, bx, by, cx, cy))
    # barycentric weight of a corner as A x + B y + C, from the opposite edge
    ea = ((cy - by) * -inv, (cx - bx) * inv, ((cy - by) * bx - (cx - bx) * by) * inv)
    eb = ((ay - cy) * -inv, (ax - cx) * inv, ((ay - cy) * cx - (ax - cx) * cy) * inv)
    ec = tuple(-u - v for u, v in zip(ea, eb, strict=True))
    ec = (ec[0], ec[1], ec[2] + 1.0)
    xmin, xmax = xmin[ids].astype(np.int64), xmax[ids].astype(np.int64)
    ymin, rows = ymin[ids].astype(np.int64), (ymax[ids] - ymin[ids] + 1).astype(np.int64)
    return ids, ea, eb, ec, xmin, xmax, ymin, rows


def _along(e: tuple, tri: np.ndarray, lo: np.ndarray, y: np.ndarray, n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """One barycentric weight ``A x + B y + C`` for every texel of the spans: the span's value at its first texel
    ``lo`` plus ``A`` per texel ``k`` after it (float32)."""
    a = e[0][tri]
    start = a * lo + e[1][tri] * y + e[2][tri]
    return (np.repeat(start, n) + np.repeat(a, n) * k).astype(np.float32)


def _scan(edges: tuple, affine: tuple, size: int, measure_overlap: bool) -> tuple:
    """Every covered texel of every triangle, in chunks of (triangle, row) pairs, with its position and normal.

    Along a row the values are affine in x, so each span's value at its first texel is computed once and every
    texel after it adds one step per texel.

    :param edges: :func:`_edge_functions`.
    :param affine: :func:`_affine`.
    :return: ``(flat texel index, triangle, (6, N) float32 position and normal, texels strictly inside per chunk)``.
    """
    ids, ea, eb, ec, xmin, xmax, ymin, rows = edges
    ax, bx, cx = affine
    hit_idx, hit_tri, hit_values, strict_idx = [], [], [], []
    cum = np.cumsum(rows * (xmax - xmin + 1))
    start = 0
    while start < ids.size:
        base = int(cum[start - 1]) if start else 0
        end = max(int(np.searchsorted(cum, base + _CHUNK_PAIRS, side="right")), start + 1)
        r = rows[start:end]
        tri = np.repeat(np.arange(start, end, dtype=np.int64), r)
        y = ymin[tri] + np.arange(tri.size, dtype=np.int64) - np.repeat(np.cumsum(r) - r, r)
        yf = y.astype(np.float64)
        lo, hi = _spans(tri, yf, ea, eb, ec, xmin, xmax)
        n = np.maximum(hi - lo + 1, 0)
        keep = n > 0
        tri, y, yf, lo, n = tri[keep], y[keep], yf[keep], lo[keep], n[keep]
        k = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)  # texels after the span's first
        step = ax[:, tri]
        first = (step * lo + bx[:, tri] * yf + cx[:, tri]).astype(np.float32)
        values = np.repeat(first, n, axis=1)
        values += np.repeat(step.astype(np.float32), n, axis=1) * k.astype(np.float32)
        flat = np.repeat(y * size + lo, n) + k
        if measure_overlap:
            w0, w1 = _along(ea, tri, lo, yf, n, k), _along(eb, tri, lo, yf, n, k)
            w2 = 1.0 - w0 - w1
            strict_idx.append(flat[(w0 > _INTERIOR_EPS) & (w1 > _INTERIOR_EPS) & (w2 > _INTERIOR_EPS)])
        hit_idx.append(flat)
        hit_tri.append(np.repeat(ids[tri], n))
        hit_values.append(values)
        start = end
    if not hit_idx:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros((6, 0), np.float32), strict_idx
    return np.concatenate(hit_idx), np.concatenate(hit_tri), np.concatenate(hit_values, axis=1), strict_idx
