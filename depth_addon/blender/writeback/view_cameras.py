# SPDX-License-Identifier: GPL-3.0-or-later
"""Cameras for multi-view texturing: the user's cameras or placed ones, and their depth.

A placed view is a :class:`~depth_addon.camera.CameraModel`; to render its depth it becomes a
temporary camera object whose lens, sensor and shift reproduce the model's view frame exactly
(checked against Blender's own projection). Kept views go into the ``Depth Views`` collection.
"""

from __future__ import annotations

import contextlib

import bpy
import numpy as np
from mathutils import Matrix

from ...camera import CameraModel
from ...errors import BadInput
from ..camera import camera_model, resolve_camera
from ..images import KEY_OWNED, owned_collection

VIEWS_COLLECTION = "Depth Views"
_SENSOR = 36.0


def view_size_for(scene: bpy.types.Scene, size: int) -> tuple[int, int]:
    """``(width, height)`` with the scene's aspect ratio and ``size`` pixels on the longer side.

    :param scene: Scene whose render aspect is used.
    :param size: Longer side in pixels.
    """
    rx = scene.render.resolution_x * scene.render.pixel_aspect_x
    ry = scene.render.resolution_y * scene.render.pixel_aspect_y
    if rx >= ry:
        return int(size), max(1, round(size * ry / rx))
    return max(1, round(size * rx / ry)), int(size)


def user_views(scene: bpy.types.Scene, cameras, size: int) -> list[tuple[bpy.types.Object, CameraModel]]:
    """The user's cameras (objects or names) with their models at ``size`` pixels on the long side.

    :param scene: The scene.
    :param cameras: Camera objects or names.
    :param size: Longer image side.
    :raises BadInput: For an unknown name or a non-camera object.
    """
    out = []
    w, h = view_size_for(scene, size)
    for item in cameras:
        obj = resolve_camera(scene, item)
        out.append((obj, camera_model(scene, obj, w, h)))
    if not out:
        raise BadInput("no cameras given")
    return out


def _views_collection(scene: bpy.types.Scene) -> bpy.types.Collection:
    return owned_collection(scene, VIEWS_COLLECTION)


def camera_object(scene: bpy.types.Scene, model: CameraModel, name: str = "Depth View") -> bpy.types.Object:
    """A camera object in ``Depth Views`` that sees exactly what ``model`` describes.

    :param scene: Scene to link the ``Depth Views`` collection to.
    :param model: Pose, frame and clipping (square pixels assumed).
    :param name: Object name (made unique by Blender).
    """
    left, right, bottom, top = model.frame
    data = bpy.data.cameras.new(name)
    data.sensor_fit, data.sensor_width = "HORIZONTAL", _SENSOR
    width = right - left
    if model.ortho:
        data.type, data.ortho_scale = "ORTHO", width
    else:
        data.type, data.lens = "PERSP", _SENSOR / width
    data.shift_x = (left + right) / 2.0 / width
    data.shift_y = (bottom + top) / 2.0 / width
    data.clip_start, data.clip_end = model.clip
    obj = bpy.data.objects.new(name, data)
    obj.matrix_world = Matrix([list(r) for r in model.matrix_world])
    obj[KEY_OWNED] = True
    _views_collection(scene).objects.link(obj)
    return obj


def remove_camera_object(obj: bpy.types.Object) -> None:
    """Delete a camera made by :func:`camera_object` (and its collection once empty).

    :param obj: The camera object.
    """
    data = obj.data
    bpy.data.objects.remove(obj)
    if data is not None and data.users == 0:
        bpy.data.cameras.remove(data)
    coll = bpy.data.collections.get(VIEWS_COLLECTION)
    if coll is not None and coll.get(KEY_OWNED) and not coll.all_objects and not coll.children:
        bpy.data.collections.remove(coll)


@contextlib.contextmanager
def temporary_camera(scene: bpy.types.Scene, model: CameraModel):
    """A camera object for ``model`` that exists only inside the ``with`` block.

    :param scene: The scene.
    :param model: The view.
    """
    obj = camera_object(scene, model, "Depth View (temporary)")
    try:
        bpy.context.view_layer.update()
        yield obj
    finally:
        remove_camera_object(obj)


def render_view(scene: bpy.types.Scene, camera: bpy.types.Object | CameraModel, size: tuple[int, int],
                engine: str = "auto", ids: bool = False):
    """The depth render of a view (a :class:`~depth_addon.depthmap.DepthResult`), with object and material ids
    when ``ids``.

    :param scene: The scene.
    :param camera: A camera object, or a model rendered through a temporary camera.
    :param size: ``(width, height)``.
    :param engine: Depth engine.
    :param ids: Also the object and material index maps (gpu path).
    """
    from ..depth.render import render_depth

    if isinstance(camera, CameraModel):
        with temporary_camera(scene, camera) as obj:
            return render_depth(scene, obj, size, engine, ids=ids)
    return render_depth(scene, camera, size, engine, ids=ids)


def planar(result) -> np.ndarray:
    """The planar camera-Z depth (float32 H×W) of a depth render.

    :param result: A :class:`~depth_addon.depthmap.DepthResult`.
    """
    depth = result.camera.radial_to_planar(result.depth) if result.radial else result.depth
    return np.asarray(depth, np.float32)


def render_view_depth(scene: bpy.types.Scene, camera: bpy.types.Object | CameraModel, size: tuple[int, int],
                      engine: str = "auto"):
    """Planar depth of a view: ``(depth H×W, model)``; the model is the one Blender rendered.

    :param scene: The scene.
    :param camera: A camera object, or a model rendered through a temporary camera.
    :param size: ``(width, height)``.
    :param engine: Depth engine.
    """
    result = render_view(scene, camera, size, engine)
    return planar(result), result.camera


def bounds(positions: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Centre and radius of a sphere around all points (axis-aligned box centre, farthest point).

    :param positions: Arrays of (..., 3) world points.
    """
    pts = np.concatenate([np.asarray(p, np.float64).reshape(-1, 3) for p in positions if np.size(p)])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if pts.size == 0:
        raise BadInput("the objects have no geometry to place views around")
    center = (pts.min(0) + pts.max(0)) / 2.0
    return center, float(np.linalg.norm(pts - center, axis=1).max())
