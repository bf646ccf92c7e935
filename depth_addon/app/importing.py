# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth into a scene, the use case: a depth or disparity image becomes camera-correct geometry."""

from __future__ import annotations

from ..blender.mesh.build import import_depth_map as _import_depth_map
from ..blender.mesh.build import place_import

__all__ = ["import_depth_map", "place_import"]


def import_depth_map(depth, color=None, **options):
    """Import a depth map (file path or H×W array) as camera-correct geometry with a matching camera.

    :param depth: Depth/disparity image path (PNG, EXR, TIFF, NPY/NPZ, PFM) or an H×W array.
    :param color: Optional colour image (path or H×W×3 array) used as the material.
    :param options: ``values`` (depth/inverse/disparity), ``fov``, ``focal_px``, ``baseline``,
        ``mode`` (reconstruct/displace), ``tear_ratio``, ``scene``, ``pack``, ``preview`` … — see
        :func:`depth_addon.blender.mesh.build.import_depth_map`.
    :return: What was created (objects, camera, images).
    """
    return _import_depth_map(depth, color, **options)
