# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth ranges of views and the one rule that turns a scene's settings into a :class:`DepthMapping`.

``percentile`` fits the robust 1st/99th percentiles of a render, ``frustum`` the geometry inside the
camera frustum, ``locked`` reads the range locked on the scene (shared by many views and frames).
"""

from __future__ import annotations

import bpy
import numpy as np

from ...camera import CameraModel
from ...depthmap import DepthResult
from ...errors import BadInput
from ...mapping import RANGES, DepthMapping, frustum_range, robust_range, union_range
from ..evaluation import scene_depsgraph, scene_layer
from .meshdata import mesh_arrays
from .render import scene_state
from .scene import affine_inverse, scene_instances

MAX_FRUSTUM_POINTS = 2_000_000


def frustum_points(scene: bpy.types.Scene, camera: CameraModel) -> np.ndarray:
    """Camera-space vertices of every mesh the camera can see (subsampled above a few million).

    :param scene: The scene (its current frame and view layer).
    :param camera: The camera the points are expressed in.
    """
    layer = scene_layer(scene)
    instances = scene_instances(scene_depsgraph(scene, layer), scene_state(scene, layer)[0])
    view = affine_inverse(camera.matrix)[0]
    local = {k: mesh_arrays(me)[0].astype(np.float64) for k, me in instances.meshes.items()}
    total = sum(len(local[k]) for k in instances.keys)
    step = max(1, -(-total // MAX_FRUSTUM_POINTS))
    chunks = []
    for key, m in zip(instances.keys, instances.matrices, strict=True):
        co = local[key][::step]
        mv = view @ m
        chunks.append(co @ mv[:3, :3].T + mv[:3, 3])
    return np.concatenate(chunks) if chunks else np.zeros((0, 3))


def view_range(scene: bpy.types.Scene, result, mode: str) -> tuple[float, float]:
    """Near/far of one rendered view by ``percentile`` or ``frustum`` (also covering the rendered depth).

    :param scene: The scene, at the view's frame.
    :param result: The view's :class:`~.depth.DepthResult` (planar or radial).
    :param mode: ``percentile`` or ``frustum``.
    """
    if mode == "percentile":
        return robust_range(result.depth, result.mask)
    if mode != "frustum":
        raise BadInput(f"unknown range {mode!r}; use one of {', '.join(RANGES)}")
    near, far = frustum_range(frustum_points(scene, result.camera), result.camera)
    if result.mask.any():
        planar = result.camera.radial_to_planar(result.depth) if result.radial else result.depth
        near, far = min(near, float(planar[result.mask].min())), max(far, float(planar[result.mask].max()))
    if result.radial:  # the mapping applies to radial values: widen by the longest ray of the frame
        far *= float(result.camera.ray_lengths().max())
    return union_range([(near, far)])


def locked_mapping(scene: bpy.types.Scene, kind: str = "inverse", invert: bool = False) -> DepthMapping:
    """The mapping locked on the scene (``scene.depth_addon.near/far``).

    :raises BadInput: When the add-on's settings are missing or the range is not locked.
    """
    settings = getattr(scene, "depth_addon", None)
    if settings is None or not settings.lock_range:
        raise BadInput(f"scene {scene.name!r} has no locked depth range (tick Lock Range or pass near/far)")
    return DepthMapping(kind=kind, near=settings.near, far=settings.far, invert=invert)


def depth_mapping(result: DepthResult, kind: str = "inverse", near: float | None = None, far: float | None = None,
                  invert: bool = False, range: str = "percentile", scene: bpy.types.Scene | None = None,
                  ) -> DepthMapping:
    """The mapping for ``result``; its near/far come from ``range`` unless both are given.

    :param result: A depth render.
    :param kind: ``inverse`` (disparity), ``linear`` or ``log``.
    :param near: Fixed near distance in the result's units (scene units; overrides the computed one).
    :param far: Fixed far distance in the result's units (overrides the computed one).
    :param invert: Flip the mapped values.
    :param range: ``percentile`` (robust 1st/99th of this render), ``frustum`` (geometry inside the
        camera frustum), ``manual`` (``near`` and ``far`` required) or ``locked`` (the range locked
        on the scene, shared by many views).
    :param scene: Scene for ``frustum`` and ``locked``; the context scene when None.
    :raises BadInput: Unknown range or mapping, missing near/far, nothing in view, near ≥ far.
    """
    if range not in RANGES:
        raise BadInput(f"unknown range {range!r}; use one of {', '.join(RANGES)}")
    if near is not None and far is not None:
        return DepthMapping(kind=kind, near=near, far=far, invert=invert)
    if range == "manual":
        raise BadInput("a manual range needs both near and far")
    scene = scene or bpy.context.scene
    if range == "locked":
        locked = locked_mapping(scene, kind, invert)
        lo, hi = locked.near, locked.far
    else:
        lo, hi = view_range(scene, result, range)
    return DepthMapping(kind=kind, near=lo if near is None else near, far=hi if far is None else far, invert=invert)


def settings_mapping(scene: bpy.types.Scene, result: DepthResult) -> DepthMapping | None:
    """The mapping the scene's Depth settings ask for: the locked range, or one fitted to ``result``.

    :param scene: The scene (its ``depth_addon`` settings).
    :param result: The view the range is fitted to when it is not locked.
    :return: None when the range is not locked and the camera sees nothing.
    """
    settings = scene.depth_addon
    if settings.lock_range:
        return DepthMapping(settings.mapping, settings.near, settings.far, settings.invert)
    if not result.mask.any():
        return None
    return depth_mapping(result, kind=settings.mapping, invert=settings.invert, range=settings.range_mode,
                         scene=scene)
