# SPDX-License-Identifier: GPL-3.0-or-later
"""Are UV seams visible in a render? The gradient across seams against the gradient inside the surfaces.

A seam edge is a mesh edge whose two faces meet at different UV coordinates in the baked UV map. Only seams on
smooth surfaces count (the faces bend by less than :data:`SMOOTH_DEGREES`): across a crease the shading changes
anyway. Each visible seam edge is sampled every half pixel in the scene camera's render; per object, the seam
pixels are those samples (dilated by one pixel), the interior pixels are the object's pixels more than two
pixels from any of its seams or creases and from its silhouette. The figure is the mean Sobel gradient
magnitude of luminance over an object's seam pixels divided by the same over its interior, averaged over the
objects (weighted by seam pixels); the issue's goal is ≤ 1.5. The same pixels measured on the single projection
(which has no UV seams) give the surfaces' own ratio.
"""

from __future__ import annotations  # noqa: I001  (bpy before bmesh: bpy makes bmesh importable)

import math

import bpy
import bmesh
import cv2
import numpy as np

from depth_addon.camera import CameraModel
from depth_addon.texturing.fusion import View, as_soa, project_points

#: Largest angle (degrees) between two faces for their shared edge to count as smooth.
SMOOTH_DEGREES = 20.0


def _edges(obj: bpy.types.Object, uv_name: str) -> tuple[list, list]:
    """World end points of the object's smooth seam edges and of its creases and open edges."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    bm = bmesh.new()
    try:
        bm.from_mesh(mesh)
        uv = bm.loops.layers.uv.get(uv_name)
        seams, creases = [], []
        m = evaluated.matrix_world
        for edge in bm.edges:
            ends = (tuple(m @ edge.verts[0].co), tuple(m @ edge.verts[1].co))
            if len(edge.link_loops) != 2 or edge.calc_face_angle(math.pi) > math.radians(SMOOTH_DEGREES):
                creases.append(ends)
                continue
            a, b = edge.link_loops  # a runs v0 → v1, b the other way round
            split = ((a[uv].uv - b.link_loop_next[uv].uv).length > 1e-5
                     or (a.link_loop_next[uv].uv - b[uv].uv).length > 1e-5) if uv is not None else False
            if split:
                seams.append(ends)
    finally:
        bm.free()
        evaluated.to_mesh_clear()
    return seams, creases


def _pixels(edges: list, camera: CameraModel, view: View) -> np.ndarray:
    """H×W bool: the visible samples (every half pixel) of the edges in the camera's image."""
    out = np.zeros((camera.height, camera.width), bool)
    if not edges:
        return out
    ends = np.asarray(edges, np.float32)  # E×2×3
    col, row, _z = project_points(camera, as_soa(ends.reshape(-1, 3)))
    length = np.nan_to_num(np.hypot(col[0::2] - col[1::2], row[0::2] - row[1::2]), nan=0.0)
    steps = np.clip(np.ceil(2.0 * length), 2, 4096).astype(int)
    t = np.concatenate([np.linspace(0.0, 1.0, n, dtype=np.float32) for n in steps])
    owner = np.repeat(np.arange(len(ends)), steps)
    pts = ends[owner, 0] + (ends[owner, 1] - ends[owner, 0]) * t[:, None]
    col, row, z = project_points(camera, as_soa(pts))
    with np.errstate(invalid="ignore"):
        inside = (col >= 0) & (col < camera.width) & (row >= 0) & (row < camera.height) & (z > 0)
    c, r, z = col[inside].astype(int), row[inside].astype(int), z[inside]
    seen = z <= view.threshold(0.01)[r, c]
    out[r[seen], c[seen]] = True
    return out


def seam_masks(scene: bpy.types.Scene, uv_maps: dict[str, str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per baked object, ``(seam pixels, interior pixels)`` in the scene camera's render.

    :param scene: The scene (its camera and render size).
    :param uv_maps: Object name → the UV map baked into.
    """
    from depth_addon import api

    depth = api.render_depth(scene, ids=True)
    planar = depth.camera.radial_to_planar(depth.depth) if depth.radial else depth.depth
    view = View(depth.camera, planar)
    out = {}
    for name, uv_name in uv_maps.items():
        if name not in depth.objects:
            continue
        s, c = _edges(bpy.data.objects[name], uv_name)
        seams = _pixels(s, depth.camera, view)
        edges = seams | _pixels(c, depth.camera, view)
        own = cv2.erode((depth.object_ids == depth.objects.index(name)).astype(np.uint8), np.ones((5, 5), np.uint8))
        near_edge = cv2.dilate(edges.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        band = cv2.dilate(seams.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        out[name] = (band & (own > 0), (own > 0) & ~near_edge)
    return out


def gradient_ratio(image: np.ndarray, masks: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean Sobel gradient magnitude of luminance over each object's seam pixels divided by the same over its
    interior pixels, averaged over the objects weighted by their seam pixels (objects with fewer than 20 seam or
    interior pixels are left out; NaN when none is left).

    :param image: H×W×3 colours in 0..1.
    :param masks: From :func:`seam_masks`.
    """
    lum = np.asarray(image, np.float32)[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    grad = np.hypot(cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3))
    ratios, weights = [], []
    for seams, interior in masks.values():
        if seams.sum() >= 20 and interior.sum() >= 20:
            ratios.append(float(grad[seams].mean() / max(float(grad[interior].mean()), 1e-9)))
            weights.append(float(seams.sum()))
    return float(np.average(ratios, weights=weights)) if ratios else float("nan")
