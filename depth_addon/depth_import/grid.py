# SPDX-License-Identifier: GPL-3.0-or-later
"""Pixel-grid mesh arrays from a depth map: vertices, quads, edges and UVs, all numpy.

One vertex per pixel centre that a kept face uses, one quad per kept 2×2 block of pixels. Edges
and each corner's edge are computed analytically from the grid (no edge hashing in Blender). Quads
run top-left → bottom-left → bottom-right → top-right, counter-clockwise seen from the camera, so
normals face it. Unused pixels (invalid or only next to torn faces) get no vertex.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np


@dataclass
class GridMesh:
    """Mesh arrays in camera space (camera at the origin looking down ``-Z``).

    :param vertices: ``(N, 3)`` float32 positions.
    :param edges: ``(E, 2)`` int32 vertex pairs.
    :param corner_verts: ``(4F,)`` int32 vertex of each face corner.
    :param corner_edges: ``(4F,)`` int32 edge from each corner to the next one of its face.
    :param uvs: ``(4F, 2)`` float32 UV of each corner (pixel centres, origin at the bottom-left).
    :param pixel_index: ``(N,)`` flat pixel index ``row · W + col`` of each vertex; None when every
        pixel has a vertex (then the vertex index is the pixel index, see :meth:`vertex_pixels`).
    :param shape: ``(H, W)`` of the depth map.
    """

    vertices: np.ndarray
    edges: np.ndarray
    corner_verts: np.ndarray
    corner_edges: np.ndarray
    uvs: np.ndarray
    pixel_index: np.ndarray | None
    shape: tuple[int, int]

    def vertex_pixels(self) -> np.ndarray:
        """Flat pixel index of each vertex."""
        if self.pixel_index is None:
            return np.arange(self.shape[0] * self.shape[1], dtype=np.int32)
        return self.pixel_index

    @property
    def face_count(self) -> int:
        """Number of quads."""
        return len(self.corner_verts) // 4


def _where(mask: np.ndarray) -> np.ndarray:
    """Flat int32 indices of the True cells (a boolean selection of an arange beats ``flatnonzero``)."""
    return np.arange(mask.size, dtype=np.int32)[mask.ravel()]


def _ids(mask: np.ndarray, start: int = 0) -> np.ndarray:
    """Running index of True cells (garbage elsewhere), flat int32."""
    ids = np.cumsum(mask.ravel(), dtype=np.int32)
    ids += np.int32(start - 1)
    return ids


def _uv_axes(h: int, w: int, uv_extent: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """UV ``u`` of each column and ``v`` of each row at pixel centres (``v`` = 1 at the top edge)."""
    uw, uh = (w, h) if uv_extent is None else uv_extent
    return ((np.arange(w) + 0.5) / uw).astype(np.float32), (1.0 - (np.arange(h) + 0.5) / uh).astype(np.float32)


def _corner_uvs(corners: np.ndarray, h: int, w: int, uv_extent: tuple[float, float] | None) -> np.ndarray:
    """``(4F,)`` float32 pairs: one 8-byte ``(u, v)`` record per pixel, gathered for every corner pixel."""
    u, v = _uv_axes(h, w, uv_extent)
    table = np.empty((h, w, 2), np.float32)
    table[..., 0], table[..., 1] = u[None, :], v[:, None]
    return table.reshape(-1).view(np.uint64)[corners.reshape(-1)].view(np.float32)


@functools.cache
def _leaf_worker() -> ThreadPoolExecutor:
    """A thread for jobs that wait on nothing (so a job in :func:`worker` may wait on them without deadlock)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="depth_addon_leaf")


@functools.cache
def worker() -> ThreadPoolExecutor:
    """Two worker threads for numpy/OpenCV work that overlaps other work (both release the GIL)."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="depth_addon_import")


def _positions(depth: np.ndarray, x: np.ndarray, y: np.ndarray, flat_depth: float | None) -> np.ndarray:
    """``(H·W, 3)`` camera-space positions of every pixel centre (``x``/``y`` on the plane z = -1)."""
    h, w = depth.shape
    out = np.empty((h, w, 3), np.float32)
    if flat_depth is None:
        np.multiply(x[None, :], depth, out=out[..., 0])
        np.multiply(y[:, None], depth, out=out[..., 1])
        np.negative(depth, out=out[..., 2])
    else:
        out[..., 0], out[..., 1], out[..., 2] = x[None, :], y[:, None], 0.0
    return out.reshape(-1, 3)


def build_grid(depth: np.ndarray, frame: tuple[float, float, float, float], keep: np.ndarray,
               flat_depth: float | None = None, uv_extent: tuple[float, float] | None = None) -> GridMesh:
    """Unproject pixel centres and connect the kept faces.

    :param depth: H×W planar depth in metres (kept faces must have finite corners).
    :param frame: ``(left, right, bottom, top)`` of the image on the plane ``z = -1``.
    :param keep: ``(H-1) × (W-1)`` faces to build (see :func:`.preprocess.face_mask`).
    :param flat_depth: Build a flat grid at ``z = 0`` scaled as if at this depth (for displacement).
    :param uv_extent: Width and height in pixels that span UV 0..1 (default: the depth's size; larger
        when the depth was cropped by downsampling so UVs still address the full colour image).
    """
    h, w = depth.shape
    left, right, bottom, top = frame
    full = bool(keep.all())
    x = (left + (np.arange(w, dtype=np.float64) + 0.5) * ((right - left) / w)).astype(np.float32)
    y = (top - (np.arange(h, dtype=np.float64) + 0.5) * ((top - bottom) / h)).astype(np.float32)
    if flat_depth is not None:
        x *= np.float32(flat_depth)
        y *= np.float32(flat_depth)
    # pixel index of each kept face's top-left corner; its corners TL, BL, BR, TR are base + (0, W, W+1, 1)
    if full:
        kept = np.arange((h - 1) * (w - 1), dtype=np.int32)
        base = (np.arange(h - 1, dtype=np.int32)[:, None] * w + np.arange(w - 1, dtype=np.int32)).ravel()
    else:
        kept = _where(keep)
        base = kept + kept // np.int32(w - 1)
    corners = np.empty((kept.size, 4), np.int32)
    for k, off in enumerate((0, w, w + 1, 1)):  # column writes: long inner loops, far faster than broadcasts
        np.add(base, off, out=corners[:, k])
    uvs = _leaf_worker().submit(_corner_uvs, corners, h, w, uv_extent)  # numpy drops the GIL: runs beside the rest

    used = np.ones((h, w), bool)
    if not full:
        used[:] = False
        for di in (0, 1):
            for dj in (0, 1):
                used[di: di + h - 1, dj: dj + w - 1] |= keep
    identity = bool(used.all())  # every pixel keeps its vertex: vertex index = pixel index
    if identity:
        pixel_index = None
        vertices = _positions(depth, x, y, flat_depth)
    else:
        pixel_index = _where(used)
        rows, cols = np.divmod(pixel_index, np.int32(w))
        vertices = np.empty((pixel_index.size, 3), np.float32)  # gathers + column writes beat row selection
        if flat_depth is None:
            d = depth.ravel()[pixel_index]
            np.multiply(x[cols], d, out=vertices[:, 0])
            np.multiply(y[rows], d, out=vertices[:, 1])
            np.negative(d, out=vertices[:, 2])
        else:
            vertices[:, 0], vertices[:, 1], vertices[:, 2] = x[cols], y[rows], 0.0

    if full:  # every grid edge; ids: horizontal (i, j) -> i·(W-1) + j, vertical (i, j) -> n_h + i·W + j
        ver = np.arange((h - 1) * w, dtype=np.int32)
        hor = (np.arange(h, dtype=np.int32)[:, None] * w + np.arange(w - 1, dtype=np.int32)).ravel()
        n_h = hor.size
        corner_edges = np.empty((kept.size, 4), np.int32)
        np.add(base, n_h, out=corner_edges[:, 0])
        np.add(kept, w - 1, out=corner_edges[:, 1])
        np.add(base, n_h + 1, out=corner_edges[:, 2])
        corner_edges[:, 3] = kept
    else:  # only edges of kept faces, numbered by running ids
        e_h = np.zeros((h, w - 1), bool)  # horizontal edge (i, j)-(i, j+1): above or below a kept face
        e_h[:-1] |= keep
        e_h[1:] |= keep
        e_v = np.zeros((h - 1, w), bool)  # vertical edge (i, j)-(i+1, j): left or right of a kept face
        e_v[:, :-1] |= keep
        e_v[:, 1:] |= keep
        hor = _where(e_h)
        hor += hor // np.int32(w - 1)  # pixel of the edge's left end
        ver = _where(e_v)  # pixel of the edge's top end
        h_id, v_id = _ids(e_h), _ids(e_v, hor.size)
        corner_edges = np.empty((kept.size, 4), np.int32)
        corner_edges[:, 0] = v_id[base]
        corner_edges[:, 1] = h_id[kept + np.int32(w - 1)]
        corner_edges[:, 2] = v_id[base + 1]
        corner_edges[:, 3] = h_id[kept]
    edges = np.empty((hor.size + ver.size, 2), np.int32)
    edges[: hor.size, 0] = hor
    np.add(hor, 1, out=edges[: hor.size, 1])
    edges[hor.size:, 0] = ver
    np.add(ver, w, out=edges[hor.size:, 1])
    corner_verts = corners
    if not identity:  # pixel indices -> compacted vertex indices
        vmap = _ids(used)
        corner_verts = vmap[corners]
        edges = vmap[edges]
    return GridMesh(vertices=vertices, edges=edges, corner_verts=corner_verts.reshape(-1),
                    corner_edges=corner_edges.reshape(-1), uvs=uvs.result().reshape(-1, 2), pixel_index=pixel_index,
                    shape=(h, w))
