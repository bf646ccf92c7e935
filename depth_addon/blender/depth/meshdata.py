# SPDX-License-Identifier: GPL-3.0-or-later
"""Numpy arrays of evaluated meshes: positions, triangles exactly as Blender makes them, bounds, closedness and
volume."""

from __future__ import annotations

import bpy
import numpy as np


def _quad_flip(co: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Blender's ``is_quad_flip_v3_first_third_fast`` for quads ``q`` (Q×4 vertex indices)."""
    v1, v2, v3, v4 = (co[q[:, i]] for i in range(4))
    d13 = v3 - v1
    return np.einsum("ij,ij->i", np.cross(v2 - v1, d13), np.cross(v4 - v1, d13)) > 0.0


def mesh_arrays(me: bpy.types.Mesh, corners: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertex positions, triangles and their faces, exactly as Blender triangulates the mesh.

    Triangles and quads are triangulated here from the corner and face arrays (the same rule as
    Blender's tessellation, 20× faster than reading ``loop_triangles``; a mesh of triangles only is its corner
    array); meshes with n-gons read ``loop_triangles``.

    :param me: An evaluated mesh.
    :param corners: Return corner indices (into the face corners) instead of vertex indices.
    :return: ``(co N×3 float32, tris T×3 int32, face index per triangle T int32)``.
    """
    nv, nc = len(me.vertices), len(me.loops)
    if nv == 0 or len(me.polygons) == 0:  # empty meshes have no "position" attribute at all
        empty = np.zeros((0, 3), np.int32)
        return np.zeros((0, 3), np.float32), empty, np.zeros(0, np.int32)
    co = np.empty(nv * 3, np.float32)
    me.attributes["position"].data.foreach_get("vector", co)
    co = co.reshape(-1, 3)
    corner_vert = np.empty(nc, np.int32)
    me.attributes[".corner_vert"].data.foreach_get("value", corner_vert)
    if nc == 3 * len(me.polygons):  # triangles only (a face has 3 corners or more): each face is its triangle
        tris = np.arange(nc, dtype=np.int32) if corners else corner_vert
        return co, tris.reshape(-1, 3), np.arange(len(me.polygons), dtype=np.int32)
    tri_face = np.empty(len(me.loop_triangle_polygons), np.int32)
    me.loop_triangle_polygons.foreach_get("value", tri_face)
    sizes = np.bincount(tri_face, minlength=len(me.polygons)) + 2
    if len(sizes) and sizes.max() > 4:
        loops = np.empty(len(tri_face) * 3, np.int32)
        me.loop_triangles.foreach_get("loops", loops)
        loops = loops.reshape(-1, 3)
    else:
        start = np.zeros(len(sizes), np.int64)
        np.cumsum(sizes[:-1], out=start[1:])
        first = start[tri_face]
        loops = first[:, None] + np.array([0, 1, 2])
        quad = sizes[tri_face] == 4
        second = quad & np.concatenate([[False], tri_face[1:] == tri_face[:-1]])
        loops[second] = first[second, None] + np.array([0, 2, 3])
        qa = np.flatnonzero(quad & ~second)  # first triangle of each quad; the second follows it
        if len(qa):
            qs = start[tri_face[qa]]
            flip = _quad_flip(co, corner_vert[qs[:, None] + np.arange(4)])
            a, b = qa[flip], qa[flip] + 1
            loops[a] = first[a, None] + np.array([0, 1, 3])
            loops[b] = first[b, None] + np.array([1, 2, 3])
        loops = loops.astype(np.int32)
    tris = loops if corners else corner_vert[loops]
    return co, np.ascontiguousarray(tris, np.int32), tri_face


def is_closed(tris: np.ndarray) -> bool:
    """True when every edge joins exactly two triangles with opposite directions (a consistent solid).

    One sort: each edge is keyed ``(min, max, direction)``; in a closed, consistently oriented
    mesh the sorted keys come in pairs ``2k, 2k + 1`` with strictly increasing ``k``.

    :param tris: T×3 vertex indices.
    """
    if len(tris) < 4:
        return False
    a = tris.astype(np.int64)
    b = a[:, [1, 2, 0]]
    n = int(a.max()) + 1
    keys = np.sort(((np.minimum(a, b) * n + np.maximum(a, b)) * 2 + (a < b)).ravel())
    first, second = keys[0::2], keys[1::2]
    return bool(len(keys) % 2 == 0 and np.all(first % 2 == 0) and np.all(second == first + 1)
                and np.all(first[1:] > second[:-1]))


def bounds(co: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(min, max)`` corners of V×3 positions (zeros when empty), one column at a time: about ten times faster
    than ``co.min(0)``, whose inner loop runs over the three columns."""
    if not len(co):
        return np.zeros(3, co.dtype), np.zeros(3, co.dtype)
    return np.array([c.min() for c in co.T], co.dtype), np.array([c.max() for c in co.T], co.dtype)


def signed_volume(co: np.ndarray, tris: np.ndarray) -> float:
    """Six times the signed volume of a closed triangle mesh: the sum over triangles of ``a · (b × c)``.

    Written per coordinate on gathered float32 rows (about four times faster than gathering the corners and
    using ``np.cross`` on a 200k-triangle mesh, which an animated mesh pays every frame).

    :param co: V×3 float32 positions (centred, for precision).
    :param tris: T×3 vertex indices.
    """
    x, y, z = np.ascontiguousarray(co.T, np.float32)
    i, j, k = tris[:, 0], tris[:, 1], tris[:, 2]
    yj, zj, yk, zk = y[j], z[j], y[k], z[k]
    xj, xk = x[j], x[k]
    per_tri = x[i] * (yj * zk - zj * yk) + y[i] * (zj * xk - xj * zk) + z[i] * (xj * yk - yj * xk)
    return float(per_tri.sum(dtype=np.float64))
