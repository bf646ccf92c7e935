# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth from a photo, the use case: estimate → align to metres → (optionally) import as camera-correct geometry.

The estimate comes from :mod:`depth_addon.estimation.estimator` (local weights only), the alignment from
:mod:`depth_addon.estimation` (``none``, ``points``, ``ground`` or ``scene``; ``scene`` renders the scene's
own depth from the photo's camera with :func:`.depth.render_depth`), and the import is
:func:`.importing.import_depth_map` with the photo as colour.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..camera import CameraModel
from ..depth_import.intrinsics import DEFAULT_FOV_DEG, Intrinsics
from ..depth_import.readers import read_photo
from ..errors import BadInput
from ..estimation import METHODS, Alignment, fit_ground, fit_points, fit_range, fit_scene
from ..estimation.align import check_points, check_range
from ..estimation.estimator import Estimate, Estimator, check_photo, estimate_photo, weights_problem
from ..generation import get_generator
from .depth import render_depth, unit_scale
from .flow import EstimateRequest, Flow, GenerateRequest, accepts, run_local
from .importing import import_depth_map, place_import

__all__ = ["METHODS", "PhotoDepth", "PhotoImport", "Restyled", "align_estimate", "check_alignment", "estimate_depth",
           "import_photo", "import_photo_flow", "photo_depth", "restyle_flow", "restyle_photo", "weights_problem"]


@dataclass
class PhotoDepth:
    """A photo's depth in metres and how it was made.

    :param metres: H×W float32 planar depth, ``inf`` where invalid.
    :param estimate: The estimator's raw output.
    :param alignment: The fit from the estimate to metres.
    :param focal_px: The photo camera's focal length in pixels when known (scene camera, or given).
    :param camera: Aligned to a scene: the camera the photo is taken to be from, at its size, in metres (the import
        places the mesh there, on the scene's surfaces).
    """

    metres: np.ndarray
    estimate: Estimate
    alignment: Alignment
    focal_px: float | None = None
    camera: CameraModel | None = None


#: Fewest inliers a scene fit may have: below, the photo is not of the scene seen from its camera.
MIN_SCENE_FIT = 0.5


def scene_focal_px(camera_model) -> float | None:
    """Focal length in pixels of a perspective camera model, None for orthographic ones.

    :param camera_model: A :class:`depth_addon.camera.CameraModel`.
    """
    left, right, _bottom, _top = camera_model.frame
    return None if camera_model.ortho else camera_model.width / (right - left)


def align_estimate(estimate: Estimate, method: str = "none", points: Iterable[tuple[float, float, float]] = (),
                   focal_px: float | None = None, height: float | None = None,
                   scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                   near: float = 1.0, far: float = 10.0) -> tuple[Alignment, float | None]:
    """Fit an estimate to metres with one of :data:`depth_addon.estimation.METHODS`.

    :param estimate: The estimator's output.
    :param method: ``none`` (metric models as given, relative ones spread over ``near``…``far``), ``points``,
        ``ground`` or ``scene``.
    :param points: ``(x, y, metres)`` for ``points``.
    :param focal_px: Focal length in pixels (``ground``); the estimate's own when it has intrinsics.
    :param height: Camera height in metres (``ground``).
    :param scene: Scene for ``scene`` (the context scene when None).
    :param camera: The photo's camera for ``scene`` (the scene camera when None).
    :param near: Nearest distance for relative estimates without alignment.
    :param far: Farthest distance for relative estimates without alignment.
    :return: ``(alignment, focal_px)``; the focal length is the scene camera's for ``scene``.
    :raises BadInput: For an unknown method, missing parameters, or a failed fit.
    """
    return _aligned(estimate, method, points, focal_px, height, scene, camera, near, far)[:2]


def check_alignment(method: str, points: Iterable[tuple[float, float, float]] = (), height: float | None = None,
                    near: float = 1.0, far: float = 10.0, **_others) -> None:
    """Refuse, before the estimator loads, an alignment that could never be made (whether known points lie in the
    photo is checked on the upright estimate: a photo's file may store it turned).

    :param method: Alignment (see :func:`align_estimate`).
    :param points: Known points (``points``).
    :param height: Camera height in metres (``ground``).
    :param near: Nearest distance a relative estimate is spread from (``none``).
    :param far: Farthest distance (``none``).
    :param _others: The other keywords of :func:`align_estimate` (checked when the estimate is aligned).
    :raises BadInput: An unknown method, known points that cannot be used (:func:`.align.check_points`), or a
        ground alignment without a positive camera height.
    """
    if method not in METHODS:
        raise BadInput(f"unknown alignment {method!r}; use one of {', '.join(METHODS)}")
    if method == "points":
        check_points(points, None)
    if method == "none":
        check_range(near, far)
    if method == "ground" and not (height is not None and math.isfinite(height) and height > 0):
        raise BadInput("ground alignment needs the camera's height above the ground: a positive number of metres"
                       + ("" if height is None else f", got {height:g}"))


def photo_depth(estimate: Estimate, method: str = "none", **align) -> PhotoDepth:
    """The estimate in metres (:func:`align_estimate`), with the scene camera when aligned to a scene.

    :param estimate: The estimator's output.
    :param method: Alignment.
    :param align: Other keywords of :func:`align_estimate`.
    """
    alignment, focal_px, camera = _aligned(estimate, method, **align)
    return PhotoDepth(alignment.to_metres(estimate.values), estimate, alignment, focal_px, camera)


def _aligned(estimate: Estimate, method: str = "none", points: Iterable[tuple[float, float, float]] = (),
             focal_px: float | None = None, height: float | None = None, scene: bpy.types.Scene | None = None,
             camera: bpy.types.Object | str | None = None, near: float = 1.0, far: float = 10.0
             ) -> tuple[Alignment, float | None, CameraModel | None]:
    """:func:`align_estimate`, and for ``scene`` the scene camera (metres, at the photo's size)."""
    values, space = estimate.values, estimate.kind
    if focal_px is None and estimate.intrinsics is not None:  # the model's own (Depth Pro)
        focal_px = estimate.intrinsics.fx
    if method == "none":
        if space == "depth":
            return Alignment("depth", 1.0, 0.0, "metric"), focal_px, None
        return fit_range(values, space, near, far), focal_px, None
    if method == "points":
        return fit_points(values, points, space), focal_px, None
    if method == "ground":
        if focal_px is None or height is None:
            raise BadInput("ground alignment needs the camera height in metres and the photo's focal length in pixels"
                           + (f": {estimate.model!r} does not estimate the focal length; give it" if height else ""))
        return fit_ground(values, space, focal_px, height), focal_px, None
    if method == "scene":
        h, w = values.shape
        metres, model = render_depth(scene, camera, resolution=(w, h)).metric()
        if model.ortho:
            raise BadInput("a photo cannot be aligned to an orthographic camera: it was taken through a lens; "
                           "align it to a perspective camera, or by points or ground")
        fitted = fit_scene(values, metres, space)  # in metres
        if fitted.inliers < MIN_SCENE_FIT:
            raise BadInput(f"only {fitted.inliers:.0%} of the photo's pixels fit the scene's depth: is it a photo of "
                           "this scene, taken from its camera? (align by points or ground otherwise)")
        return fitted, scene_focal_px(model), model
    raise BadInput(f"unknown alignment {method!r}; use one of {', '.join(METHODS)}")


def estimate_depth(photo: str | os.PathLike, model: str | os.PathLike | None = None, method: str = "none",
                   device: str = "cpu", estimator: Estimator | None = None, **align) -> PhotoDepth:
    """Estimate a photo's depth and align it to metres.

    :param photo: Photo file (PNG, JPEG, TIFF, BMP, WebP).
    :param model: Weights folder; ``$DEPTH_ADDON_DEPTH_MODEL`` or the default folder when None.
    :param method: Alignment (see :func:`align_estimate`).
    :param device: torch device.
    :param estimator: A loaded estimator to reuse.
    :param align: Keywords of :func:`align_estimate` (``points``, ``focal_px``, ``height``, ``scene``, ``camera``,
        ``near``, ``far``).
    :raises BadInput: For an unusable photo or a failed alignment.
    :raises ModelUnavailable: For missing or refused weights.
    """
    check_alignment(method, **align)
    return photo_depth(estimate_photo(photo, model, device, estimator), method, **align)


@dataclass
class PhotoImport:
    """What "Import Photo as Mesh" made.

    :param imported: The import result (:func:`.importing.import_depth_map`): object, camera, warnings.
    :param depth: The photo's depth in metres and how it was made.
    """

    imported: object
    depth: PhotoDepth

    @property
    def warnings(self) -> list[str]:
        """The import's warnings (reported by the operator)."""
        return list(getattr(self.imported, "warnings", ()))

    @property
    def summary(self) -> str:
        """One line for the operator's report."""
        return (f"imported {self.imported.object.name} ({self.depth.estimate.kind}, aligned by "
                f"{self.depth.alignment.method})")


def import_photo_flow(photo: str | os.PathLike, model: str | os.PathLike | None = None, method: str = "none",
                      scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                      align: dict | None = None, device: str = "cpu", **options) -> Flow:
    """Import a photo as a camera-correct mesh, as a flow: estimate (in the worker or here) → align → import.

    The photo is checked before anything is queued; the scene changes only in the last step, on the main thread.

    :param photo: Photo file; it also colours the mesh.
    :param model: Weights folder (see :func:`estimate_depth`).
    :param method: Alignment (see :func:`align_estimate`).
    :param scene: Scene to import into (and, for ``scene``, to align to); the context scene when None.
    :param camera: The photo's camera for ``scene`` alignment.
    :param align: Other keywords of :func:`align_estimate`.
    :param device: Estimator device (``auto``, ``cpu``, ``cuda``, ``mps``).
    :param options: Import options of :func:`.importing.import_depth_map` (``mode``, ``tear_ratio`` …).
    :return: A flow whose result is a :class:`PhotoImport`.
    """
    scene = scene or bpy.context.scene
    check_photo(photo)
    check_alignment(method, **(align or {}))
    scene_name = scene.name
    estimate = yield EstimateRequest(os.fspath(photo), os.fspath(model or ""), device)
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        raise BadInput(f"scene {scene_name!r} was removed while the photo's depth was estimated")
    depth = photo_depth(estimate, method, scene=scene, camera=camera, **(align or {}))
    lens = {"focal_px": depth.focal_px} if depth.focal_px else {"fov": options.pop("fov", DEFAULT_FOV_DEG)}
    if depth.camera is not None:  # on the scene's surfaces, seen through its own camera: nothing of its changes
        intr = Intrinsics.from_camera_model(depth.camera)  # its shift too
        lens = {"focal_px": intr.fx, "fy": intr.fy, "cx": intr.cx, "cy": intr.cy}
        options = {"set_scene_camera": False, "set_resolution": False} | options
    result = import_depth_map(depth.metres, str(photo), values="depth", scene=scene, name=Path(photo).stem, **lens,
                              **options)
    if depth.camera is not None:
        place_import(result, depth.camera.matrix, unit_scale(scene))
    return PhotoImport(result, depth)


def import_photo(photo: str | os.PathLike, model: str | os.PathLike | None = None, method: str = "none",
                 scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                 align: dict | None = None, **options):
    """Import a photo as a camera-correct mesh in this process (scripts, the CLI): see :func:`import_photo_flow`.

    :return: ``(import result, PhotoDepth)``.
    """
    done = run_local(import_photo_flow(photo, model, method, scene, camera, align, **options))
    return done.imported, done.depth


@dataclass
class Restyled:
    """A photo painted anew on its own estimated depth.

    :param rgb: H×W×3 float32 sRGB in [0, 1] at the photo's size.
    :param depth: The photo's depth in metres and how it was made.
    :param generator: The generator that painted it.
    :param used_photo: True when the generator restyled the photo's pixels (``diffusers``: image-to-image); the
        others paint from its depth alone.
    """

    rgb: np.ndarray
    depth: PhotoDepth
    generator: str
    used_photo: bool


def restyle_flow(photo: str | os.PathLike, prompt: str, seed: int = 0, model: str | os.PathLike | None = None,
                 device: str = "cpu", near: float = 1.0, far: float = 10.0) -> Flow:
    """Restyle a photo, as a flow: estimate its depth, then generate on that depth with the photo as paint.

    :param photo: Photo file.
    :param prompt: What to paint ("same room in marble").
    :param seed: Seed.
    :param model: Estimator weights folder (see :func:`estimate_depth`).
    :param device: Estimator device.
    :param near: Nearest distance a relative estimate is spread from (metres).
    :param far: Farthest distance.
    :return: A flow whose result is ``(rgb, PhotoDepth, generator name)``.
    """
    check_photo(photo)
    estimate = yield EstimateRequest(os.fspath(photo), os.fspath(model or ""), device)
    alignment, _ = align_estimate(estimate, "none", near=near, far=far)
    depth = PhotoDepth(alignment.to_metres(estimate.values), estimate, alignment)
    rgb = read_photo(photo)
    h, w = depth.metres.shape
    fov = math.degrees(estimate.intrinsics.fov_x) if estimate.intrinsics is not None else DEFAULT_FOV_DEG
    camera = CameraModel.from_fov(w, h, fov)
    generated = yield GenerateRequest(depth.metres, np.isfinite(depth.metres), camera, prompt, seed,
                                      init_image=np.asarray(rgb, np.float32)[..., :3], start=0.6, span=0.4,
                                      message="restyling")
    return generated.rgb, depth, generated.generator


def restyle_photo(photo: str | os.PathLike, prompt: str, seed: int = 0, generator: str | None = None,
                  model: str | os.PathLike | None = None, device: str = "cpu", denoise: float | None = None,
                  near: float = 1.0, far: float = 10.0, progress=None) -> Restyled:
    """Restyle a photo in this process (the CLI ``restyle``, scripts): see :func:`restyle_flow`.

    :param generator: Generator name; the default when None. Generators that take ``init_image`` (``diffusers``)
        restyle the photo's pixels; the others paint its depth alone.
    :param denoise: How much of the photo is repainted, (0, 1] (generators that restyle; 0.75 when None).
    :param progress: Called with ``(fraction, message)``.
    The other parameters are :func:`restyle_flow`'s.
    """
    rgb, depth, name = run_local(restyle_flow(photo, prompt, seed, model, device, near, far), generator,
                                 {"denoise": denoise}, progress=progress)
    return Restyled(rgb, depth, name, accepts(get_generator(generator), "init_image"))
