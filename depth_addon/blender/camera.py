# SPDX-License-Identifier: GPL-3.0-or-later
"""Cameras: find the one to use and describe it as a :class:`~depth_addon.camera.CameraModel`."""

from __future__ import annotations

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
            raise BadInput(f"no object named {camera!r} in this file")
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


def frame_warnings(scene: bpy.types.Scene, resolution: tuple[int, int] | None, width: int, height: int) -> list[str]:
    """What a depth map of the whole ``width``×``height`` frame of the scene camera would not line up with: a render
    cropped to its render region, or rendered as several (stereo) views.

    :param scene: The scene.
    :param resolution: The size the caller asked for; None for the scene's own (only that is compared).
    :param width: The depth map's width.
    :param height: The depth map's height.
    """
    if resolution is not None:
        return []
    r, found = scene.render, []
    if r.use_border and r.use_crop_to_border:
        found.append(f"the scene renders cropped to its render region; depth covers the whole {width}×{height} frame")
    if r.use_multiview:
        found.append("the scene renders several views (Stereoscopy); depth is the scene camera's own (centre) view")
    return found


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
