# SPDX-License-Identifier: GPL-3.0-or-later
"""An analytic test scene whose depth is known in closed form.

A camera at the origin looks down −Z. A 2 m cube has its front face at camera Z = 3 and a large
plane tilted 30° about X passes through (0, 0, −6). :func:`expected_depth` ray-casts both shapes
exactly for every pixel centre and flags pixels next to the cube's silhouette.
"""

from __future__ import annotations

import math

import bmesh
import bpy
import numpy as np
from mathutils import Matrix

from depth_addon.camera import CameraModel

TILT = math.radians(30.0)
PLANE_POINT = np.array([0.0, 0.0, -6.0])
PLANE_NORMAL = np.array([0.0, math.sin(TILT), math.cos(TILT)])  # +Z rotated by -TILT about X


def build(ortho: bool = False, size: tuple[int, int] = (64, 48)) -> bpy.types.Scene:
    """Fill the context scene with the analytic set and return it."""
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.data.lens, cam.data.sensor_width, cam.data.sensor_fit = 25.0, 36.0, "AUTO"
    cam.data.clip_start, cam.data.clip_end = 0.1, 1000.0
    if ortho:
        cam.data.type, cam.data.ortho_scale = "ORTHO", 8.0
    scene.collection.objects.link(cam)
    scene.camera = cam

    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=2.0)
    me = bpy.data.meshes.new("Box")
    bm.to_mesh(me)
    bm.free()
    box = bpy.data.objects.new("Box", me)
    box.location = (0.0, 0.0, -4.0)
    scene.collection.objects.link(box)

    bm = bmesh.new()
    bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=200.0)
    me = bpy.data.meshes.new("Plane")
    bm.to_mesh(me)
    bm.free()
    plane = bpy.data.objects.new("Plane", me)
    plane.matrix_world = Matrix.Translation(PLANE_POINT) @ Matrix.Rotation(-TILT, 4, "X")
    scene.collection.objects.link(plane)

    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    return scene


def expected_depth(cam: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """Exact planar depth per pixel centre and a mask of pixels safely inside one surface."""
    x, y = cam.pixel_plane_coords()
    X, Y = np.meshgrid(x, y)
    if cam.ortho:
        origin = np.stack([X, Y, np.zeros_like(X)], -1)
        direction = np.broadcast_to(np.array([0.0, 0.0, -1.0]), origin.shape)
        box_x, box_y = X, Y
    else:
        origin = np.zeros(X.shape + (3,))
        direction = np.stack([X, Y, -np.ones_like(X)], -1)
        box_x, box_y = 3.0 * X, 3.0 * Y
    t_plane = ((PLANE_POINT - origin) @ PLANE_NORMAL) / (direction @ PLANE_NORMAL)
    on_box = (np.abs(box_x) <= 1.0) & (np.abs(box_y) <= 1.0)
    depth = np.where(on_box, 3.0, t_plane)
    interior = np.ones_like(on_box)
    pad = np.pad(on_box, 2, mode="edge")
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            interior &= pad[2 + dy : 2 + dy + on_box.shape[0], 2 + dx : 2 + dx + on_box.shape[1]] == on_box
    return depth.astype(np.float64), interior & (depth > 0)
