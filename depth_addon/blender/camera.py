# SPDX-License-Identifier: GPL-3.0-or-later
"""Cameras: find the one to use and describe it as a :class:`~depth_addon.camera.CameraModel`."""

from __future__ import annotations

import dataclasses

import bpy
import numpy as np

from ..camera import CameraModel
from ..errors import BadInput
from .evaluation import scene_depsgraph

MAX_PIXELS = 8192 * 8192  # memory guard: 64 Mpx of float32 RGBA is already 1 GiB


def resolve_camera(scene: bpy.types.Scene, camera: bpy.types.Object | str | None = None) -> bpy.types.Object:
    """Return the camera object to render from: ``camera`` (object or name) or the scene camera.

    :raises BadInput: When there is no such camera or it is not a camera object.
    """
    if isinstance(camera, str):
        obj = bpy.data.objects.get(camera)
        if obj is None:
            names = sorted(o.name for o in scene.objects if o.type == "CAMERA")
            known = f"the scene's cameras are {', '.join(map(repr, names))}" if names else "the scene has no camera"
            raise BadInput(f"no object named {camera!r} in this file; {known}")
        camera = obj
    if camera is None:
        camera = scene.camera
        if camera is None:
            raise BadInput(f"scene {scene.name!r} has no active camera; add one or pass a camera name")
    if camera.type != "CAMERA" and camera.library is not None and camera.is_missing:  # a placeholder left by
        raise BadInput(f"camera {camera.name!r} is linked from "  # Blender for a linked camera it did not find
                       f"{bpy.path.abspath(camera.library.filepath)}, which is missing")
    if camera.type != "CAMERA":
        raise BadInput(f"{camera.name!r} is {_article(camera.type)} {camera.type.lower()} object, not a camera")
    return camera


def _article(word: str) -> str:
    """``a`` or ``an`` before ``word``."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def render_size(scene: bpy.types.Scene, resolution: tuple[int, int] | None = None) -> tuple[int, int]:
    """Pixel size of the depth map: ``resolution`` or the scene's resolution × percentage.

    :raises BadInput: For a zero or negative size, or one above :data:`MAX_PIXELS`.
    """
    if resolution is None:  # whole pixels as Blender rounds them, so the depth has the size of the scene's render
        r = scene.render
        pct = r.resolution_percentage
        w, h = r.resolution_x * pct // 100, r.resolution_y * pct // 100
        if w < 1 or h < 1:
            raise BadInput(f"the scene's resolution {r.resolution_x}×{r.resolution_y} at {pct} % is {w}×{h} "
                           "pixels; raise its resolution percentage or pass a resolution")
        resolution = (w, h)
    w, h = (int(v) for v in resolution)
    if w < 1 or h < 1:
        raise BadInput(f"resolution must be at least 1×1, got {w}×{h}")
    if w * h > MAX_PIXELS:
        raise BadInput(f"resolution {w}×{h} is above the {MAX_PIXELS // 1_000_000} Mpx limit; render in tiles")
    return w, h


def border_window(scene: bpy.types.Scene, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The pixels a render cropped to its render region keeps of the ``width``×``height`` frame, as Blender crops:
    ``(first column, end column, first row, end row)``, rows from the top; None when the render is not cropped.

    Blender takes each edge as ``int(fraction × side)`` in single precision, rows counted from the bottom (measured
    on Workbench renders of several regions: the crop matches the frame's pixels exactly).

    :param scene: The scene.
    :param width: The frame's width in pixels.
    :param height: The frame's height in pixels.
    :raises BadInput: For a region less than a pixel wide or high.
    """
    r = scene.render
    if not (r.use_border and r.use_crop_to_border):
        return None
    f32 = np.float32
    x0, x1 = int(f32(r.border_min_x) * f32(width)), int(f32(r.border_max_x) * f32(width))
    y0, y1 = int(f32(r.border_min_y) * f32(height)), int(f32(r.border_max_y) * f32(height))
    if x1 <= x0 or y1 <= y0:
        raise BadInput(f"the render region is {x1 - x0}×{y1 - y0} pixels of the {width}×{height} frame; widen it, or "
                       "turn off Crop to Render Region")
    return x0, x1, height - y1, height - y0


def cropped_size(scene: bpy.types.Scene) -> tuple[int, int] | None:
    """``(width, height)`` in pixels of the scene's render cropped to its render region; None when it is not cropped.

    :param scene: The scene.
    :raises BadInput: As :func:`border_window`.
    """
    window = border_window(scene, *render_size(scene))
    return None if window is None else (window[1] - window[0], window[3] - window[2])

def cropped_model(cam: CameraModel, window: tuple[int, int, int, int]) -> CameraModel:
    """``cam`` seeing only ``window`` of its frame (:func:`border_window`): the same pose, the window's pixels.

    :param cam: The whole frame's camera model.
    :param window: ``(first column, end column, first row, end row)``, rows from the top.
    """
    c0, c1, r0, r1 = window
    left, right, bottom, top = cam.frame
    sx, sy = (right - left) / cam.width, (top - bottom) / cam.height
    frame = (left + sx * c0, left + sx * c1, top - sy * r1, top - sy * r0)
    return dataclasses.replace(cam, width=c1 - c0, height=r1 - r0, frame=frame)


def frame_warnings(scene: bpy.types.Scene, resolution: tuple[int, int] | None) -> list[str]:
    """What a depth map of the scene camera's view would not line up with: a render made of several (stereo) views.

    :param scene: The scene.
    :param resolution: The size the caller asked for; None for the scene's own (only that is compared).
    """
    if resolution is None and scene.render.use_multiview:
        return ["the scene renders several views (Stereoscopy); depth is the scene camera's own (centre) view"]
    return []


def projection_matrix(scene: bpy.types.Scene, camera: bpy.types.Object, width: int, height: int) -> np.ndarray:
    """OpenGL projection matrix of ``camera`` for a ``width``×``height`` image.

    Blender computes it with sensor fit, shift, pixel aspect and clipping applied.
    """
    depsgraph = scene_depsgraph(scene)
    m = camera.evaluated_get(depsgraph).calc_matrix_camera(
        depsgraph, x=width, y=height, scale_x=scene.render.pixel_aspect_x, scale_y=scene.render.pixel_aspect_y
    )
    return np.array(m, dtype=np.float64)


def _unscaled(matrix) -> np.ndarray:
    """A camera object's matrix without its scale: Blender's view ignores it (a camera scaled up to be seen in the
    viewport renders as it would unscaled)."""
    m = np.array(matrix, dtype=np.float64)
    norms = np.linalg.norm(m[:3, :3], axis=0)
    if np.any(np.abs(norms - 1.0) > 1e-6):  # else exactly as Blender has it
        m[:3, :3] /= norms
    return m


def camera_model(scene: bpy.types.Scene, camera: bpy.types.Object, width: int, height: int) -> CameraModel:
    """Describe ``camera`` for a ``width``×``height`` image of ``scene`` (panoramic cameras refused)."""
    if camera.data.type == "PANO":
        raise BadInput(f"camera {camera.name!r} is panoramic; depth needs a perspective or orthographic camera")
    depsgraph = scene_depsgraph(scene)
    evaluated = camera.evaluated_get(depsgraph)
    return CameraModel.from_projection(
        projection_matrix(scene, camera, width, height),
        width,
        height,
        matrix_world=_unscaled(evaluated.matrix_world),
        clip=(camera.data.clip_start, camera.data.clip_end),
    )
