# SPDX-License-Identifier: GPL-3.0-or-later
"""Pixel-grid mesh arrays from a depth map: vertices, quads, edges and UVs, all numpy.

One vertex per pixel centre that a kept face uses, one quad per kept 2×2 block of pixels. Edges
and each corner's edge are computed analytically from the grid (no edge hashing in Blender). Quads
run top-left → bottom-left → bottom-right → top-right, counter-clockwise seen from the camera, so
normals face it. Unused pixels (invalid or only next to torn faces) get no vertex.

:func:`plan_grid` gives the sizes first (milliseconds), so Blender can allocate the mesh while
:func:`build_grid` fills the arrays on worker threads. :func:`plane_grid` is the coarse flat plane
that material displacement subdivides.
"""

from __future__ import annotations

import functools
import math
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
    :param step: Pixels between neighbouring vertices (1; more for a coarse plane from :func:`plane_grid`).
    """

    vertices: np.ndarray
    edges: np.ndarray
    corner_verts: np.ndarray
    corner_edges: np.ndarray
    uvs: np.ndarray
    pixel_index: np.ndarray | None
    shape: tuple[int, int]
    step: int = 1

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


def _positions(out: np.ndarray, depth: np.ndarray | None, x: np.ndarray, y: np.ndarray, follow: bool) -> None:
    """Write camera-space positions into ``out[..., 0:3]`` (column writes; ``x``, ``y`` broadcast against ``depth``).

    :param depth: Planar depth of each position, or None for a flat grid at ``z = 0``.
    :param x: ``x`` of each position: on the plane ``z = -1`` when ``follow``, else in metres.
    :param y: ``y`` likewise.
    :param follow: Scale ``x`` and ``y`` by the depth (perspective rays); else they stay (orthographic, flat).
    """
    if follow:
        np.multiply(x, depth, out=out[..., 0])
        np.multiply(y, depth, out=out[..., 1])
    else:
        out[..., 0], out[..., 1] = x, y
    if depth is None:
        out[..., 2] = 0.0
    else:
        np.negative(depth, out=out[..., 2])


def _edge_ends(edges: np.ndarray, mask: np.ndarray, step: int, vmap: np.ndarray | None) -> None:
    """Write the vertex pairs of the edges from each True pixel of ``mask`` to the pixel ``step`` further on.

    :param edges: ``(count, 2)`` output.
    :param mask: Flat bool over the first ``H·W - step`` pixels (or fewer): where edges start.
    :param step: 1 for horizontal edges, W for vertical ones.
    :param vmap: Pixel index → vertex index, or None when they are equal.
    """
    if vmap is None:
        start = _where(mask)
        edges[:, 0] = start
        np.add(start, step, out=edges[:, 1])
    else:  # boolean selections of shifted views: no gathers
        edges[:, 0] = vmap[: mask.size][mask]
        edges[:, 1] = vmap[step: step + mask.size][mask]


@dataclass
class GridPlan:
    """The masks and sizes of a grid, cheap to know before its arrays (Blender can allocate the mesh meanwhile).

    :param keep: ``(H-1) × (W-1)`` kept faces.
    :param padded: ``keep`` with a False column appended (``(H-1) × W``: a kept face's flat index is then
        the pixel index of its top-left corner), or None when every face is kept.
    :param used: H×W pixels that a kept face uses, or None when every pixel has a vertex.
    :param edges_h: H×W horizontal edges (pixel to the next one on the right), None when every face is kept.
    :param edges_v: ``(H-1) × W`` vertical edges (pixel to the one below), None when every face is kept.
    :param vertex_count: Vertices of the grid.
    :param edge_count: Edges of the grid.
    :param face_count: Faces of the grid.
    """

    keep: np.ndarray
    padded: np.ndarray | None
    used: np.ndarray | None
    edges_h: np.ndarray | None
    edges_v: np.ndarray | None
    vertex_count: int
    edge_count: int
    face_count: int


def plan_grid(keep: np.ndarray) -> GridPlan:
    """The :class:`GridPlan` of a pixel grid whose kept faces are ``keep`` (a few milliseconds at 2048²).

    :param keep: ``(H-1) × (W-1)`` faces to build (see :func:`.preprocess.face_mask`).
    """
    h, w = keep.shape[0] + 1, keep.shape[1] + 1
    if keep.all():
        return GridPlan(keep, None, None, None, None, h * w, h * (w - 1) + (h - 1) * w, keep.size)
    padded = np.zeros((h - 1, w), bool)
    padded[:, :-1] = keep
    e_h = np.zeros((h, w), bool)  # above or below a kept face
    e_h[:-1] = padded
    e_h[1:] |= padded
    e_v = np.zeros((h - 1, w), bool)  # left or right of a kept face
    e_v[:, :-1] = keep
    e_v[:, 1:] |= keep
    used = np.zeros((h, w), bool)  # pixels that a kept face uses: the ends of its vertical edges
    used[:-1] = e_v
    used[1:] |= e_v
    vertices = int(np.count_nonzero(used))
    return GridPlan(keep, padded, None if vertices == used.size else used, e_h, e_v, vertices,
                    int(np.count_nonzero(e_h)) + int(np.count_nonzero(e_v)), int(np.count_nonzero(keep)))


def _edges(plan: GridPlan, base: np.ndarray, vmap: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Edges (vertex pairs) and each corner's edge of the kept faces.

    :param plan: The grid's masks.
    :param base: Pixel index of each kept face's top-left corner.
    :param vmap: Pixel index → vertex index, or None when they are equal.
    """
    h, w = plan.keep.shape[0] + 1, plan.keep.shape[1] + 1
    corner_edges = np.empty((base.size, 4), np.int32)
    if plan.padded is None:  # every grid edge; ids: horizontal (i, j) -> i·(W-1) + j, vertical (i, j) -> n_h + i·W + j
        e_h = np.ones((h, w), bool)
        e_h[:, -1] = False
        e_v = np.ones((h - 1, w), bool)
        n_h = h * (w - 1)
        face = np.arange(base.size, dtype=np.int32)  # face (i, j) = i·(W-1) + j is also its top edge's id
        np.add(base, n_h, out=corner_edges[:, 0])
        np.add(face, w - 1, out=corner_edges[:, 1])
        np.add(base, n_h + 1, out=corner_edges[:, 2])
        corner_edges[:, 3] = face
    else:  # only edges of kept faces, numbered by running ids over the pixel layout
        e_h, e_v = plan.edges_h, plan.edges_v
        h_id = _ids(e_h)
        n_h = int(h_id[-1]) + 1
        v_id = _ids(e_v, n_h)
        # each corner's edge id at the kept faces: boolean selections (twice as fast as gathers at ``base``)
        n, sel = plan.padded.size, plan.padded.reshape(-1)  # its last cell is False: shifted views may drop it
        corner_edges[:, 0] = v_id[sel]  # left: from the top-left corner down
        corner_edges[:, 1] = h_id[w:][sel]  # bottom: the row below
        corner_edges[:, 2] = v_id[1:][sel[:-1]]  # right: one column on
        corner_edges[:, 3] = h_id[:n][sel]  # top
    edges = np.empty((plan.edge_count, 2), np.int32)
    _edge_ends(edges[:n_h], e_h.reshape(-1)[:-1], 1, vmap)
    _edge_ends(edges[n_h:], e_v.reshape(-1), w, vmap)
    return edges, corner_edges.reshape(-1)


def build_grid(depth: np.ndarray, frame: tuple[float, float, float, float], keep: np.ndarray,
               flat_depth: float | None = None, uv_extent: tuple[float, float] | None = None,
               plan: GridPlan | None = None, ortho: bool = False) -> GridMesh:
    """Unproject pixel centres and connect the kept faces.

    The edges are built on a second thread while this one builds corners, UVs and positions (numpy
    releases the GIL, so the halves run side by side).

    :param depth: H×W planar depth in metres (kept faces must have finite corners).
    :param frame: ``(left, right, bottom, top)`` of the image on the plane ``z = -1`` (``ortho``: in metres).
    :param keep: ``(H-1) × (W-1)`` faces to build (see :func:`.preprocess.face_mask`).
    :param flat_depth: Build a flat grid at ``z = 0`` with the frame scaled by this (for displacement: the depth
        at which a perspective frame is taken, 1 for an orthographic one, see ``Intrinsics.flat_scale``).
    :param uv_extent: Width and height in pixels that span UV 0..1 (default: the depth's size; larger
        when the depth was cropped by downsampling so UVs still address the full colour image).
    :param plan: ``plan_grid(keep)`` when already known.
    :param ortho: Orthographic: parallel rays, so ``x`` and ``y`` are the frame's at every depth.
    """
    h, w = depth.shape
    plan = plan_grid(keep) if plan is None else plan
    left, right, bottom, top = frame
    x = (left + (np.arange(w, dtype=np.float64) + 0.5) * ((right - left) / w)).astype(np.float32)
    y = (top - (np.arange(h, dtype=np.float64) + 0.5) * ((top - bottom) / h)).astype(np.float32)
    if flat_depth is not None:
        x *= np.float32(flat_depth)
        y *= np.float32(flat_depth)
    # pixel index of each kept face's top-left corner; its corners TL, BL, BR, TR are base + (0, W, W+1, 1)
    if plan.padded is None:
        base = (np.arange(h - 1, dtype=np.int32)[:, None] * w + np.arange(w - 1, dtype=np.int32)).ravel()
    else:
        base = _where(plan.padded)
    used, padded = plan.used, plan.padded
    identity = used is None  # every pixel keeps its vertex: vertex index = pixel index
    vmap = None if identity else _ids(used)
    edges_job = _leaf_worker().submit(_edges, plan, base, vmap)
    corners = np.empty((base.size, 4), np.int32)
    for k, off in enumerate((0, w, w + 1, 1)):  # column writes: long inner loops, far faster than broadcasts
        np.add(base, off, out=corners[:, k])
    uvs = _corner_uvs(corners, h, w, uv_extent)
    flat, follow = flat_depth is not None, flat_depth is None and not ortho
    if identity:
        pixel_index = None
        vertices = np.empty((h * w, 3), np.float32)
        _positions(vertices.reshape(h, w, 3), None if flat else depth, x[None, :], y[:, None], follow)
        corner_verts = corners.reshape(-1)
    else:
        pixel_index = _where(used)
        rows, cols = np.divmod(pixel_index, np.int32(w))
        vertices = np.empty((pixel_index.size, 3), np.float32)  # gathers + column writes beat row selection
        _positions(vertices, None if flat else depth.ravel()[pixel_index], x[cols], y[rows], follow)
        corner_verts = np.empty((base.size, 4), np.int32)  # compacted vertex ids, by boolean selections
        sel, n = padded.reshape(-1), padded.size
        corner_verts[:, 0] = vmap[:n][sel]
        corner_verts[:, 1] = vmap[w: w + n][sel]
        corner_verts[:, 2] = vmap[w + 1:][sel[:-1]]
        corner_verts[:, 3] = vmap[1: n + 1][sel]
        corner_verts = corner_verts.reshape(-1)
    edges, corner_edges = edges_job.result()
    return GridMesh(vertices=vertices, edges=edges, corner_verts=corner_verts, corner_edges=corner_edges,
                    uvs=uvs.reshape(-1, 2), pixel_index=pixel_index, shape=(h, w))


def plane_step(width: int, height: int, cells: int = 128) -> int:
    """Pixels between the vertices of a coarse displacement plane: the smallest power of two that leaves
    at most ``cells`` faces along the longer side (1 for small images).

    :param width: Image width in pixels.
    :param height: Image height in pixels.
    :param cells: Most faces along the longer side.
    """
    return 1 << max(0, math.ceil(math.log2(max(width, height) / cells)))


def plane_grid(shape: tuple[int, int], frame: tuple[float, float, float, float], keep: np.ndarray, step: int,
               flat_depth: float, uv_extent: tuple[float, float] | None = None) -> GridMesh:
    """A flat plane at ``z = 0`` with a vertex every ``step`` pixels, to be subdivided and displaced by a material.

    Rows and columns of vertices are spread evenly from the first to the last pixel centre (so
    subdividing a face ``log2(step)`` times puts vertices about one pixel apart). A face is kept when
    every pixel face it overlaps is kept, so holes and tears stay open (widened to whole faces); should
    that drop every face, ``step`` is halved until some remain.

    :param shape: ``(H, W)`` of the depth map.
    :param frame: ``(left, right, bottom, top)`` of the image on the plane ``z = -1`` (orthographic: in metres).
    :param keep: ``(H-1) × (W-1)`` pixel faces (see :func:`.preprocess.face_mask`).
    :param step: Pixels between neighbouring vertices (a power of two, see :func:`plane_step`).
    :param flat_depth: Scale the frame by this (as :func:`build_grid`).
    :param uv_extent: Width and height in pixels that span UV 0..1 (default: ``shape``'s).
    """
    h, w = shape
    dropped = np.zeros((h, w), np.int32)  # summed-area table of dropped pixel faces
    np.cumsum(np.cumsum(~keep, axis=0, dtype=np.int32), axis=1, out=dropped[1:, 1:])
    while True:
        rows = np.linspace(0.0, h - 1.0, max(1, math.ceil((h - 1) / step)) + 1)  # pixel-centre coordinates
        cols = np.linspace(0.0, w - 1.0, max(1, math.ceil((w - 1) / step)) + 1)
        r0, r1 = np.floor(rows[:-1]).astype(np.intp), np.ceil(rows[1:]).astype(np.intp)  # pixel faces r0..r1-1
        c0, c1 = np.floor(cols[:-1]).astype(np.intp), np.ceil(cols[1:]).astype(np.intp)
        count = dropped[r1][:, c1] - dropped[r0][:, c1] - dropped[r1][:, c0] + dropped[r0][:, c0]
        if step == 1 or not count.all():
            break
        step //= 2
    coarse = build_grid(np.ones((rows.size, cols.size), np.float32), (0.0, 1.0, 0.0, 1.0), count == 0)
    left, right, bottom, top = frame
    r, c = np.divmod(coarse.vertex_pixels(), cols.size)
    coarse.vertices[:, 0] = (left + (cols[c] + 0.5) * ((right - left) / w)) * flat_depth
    coarse.vertices[:, 1] = (top - (rows[r] + 0.5) * ((top - bottom) / h)) * flat_depth
    coarse.vertices[:, 2] = 0.0
    uw, uh = (w, h) if uv_extent is None else uv_extent
    r, c = np.divmod(coarse.vertex_pixels()[coarse.corner_verts], cols.size)
    coarse.uvs[:, 0] = (cols[c] + 0.5) / uw
    coarse.uvs[:, 1] = 1.0 - (rows[r] + 0.5) / uh
    coarse.step = step
    return coarse
