# SPDX-License-Identifier: GPL-3.0-or-later
"""A depth map and what came with it from one camera (no bpy): what every path out of a scene returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .camera import CameraModel


@dataclass
class DepthResult:
    """Depth rendered from one camera.

    :param depth: H×W float32 metres (row 0 = top); ``inf`` where nothing was hit.
    :param mask: H×W bool, True where geometry was hit.
    :param camera: The camera model the depth belongs to.
    :param engine: The path that produced it (``gpu``, ``workbench`` or ``cycles``).
    :param radial: True when ``depth`` is distance along the ray rather than camera Z.
    :param seconds: Wall time of the render.
    :param meta: Free-form extras (frame, camera name, …).
    :param normals: H×W×3 float32 camera-space unit normals facing the camera (+Z towards it), zero on
        background; only when requested.
    :param object_ids: H×W int32 index into :attr:`objects`, -1 on background; only when requested.
    :param objects: Object names for :attr:`object_ids` (an instance counts as its instancer).
    :param material_ids: H×W int32 index into :attr:`materials`, -1 on background or an empty slot.
    :param materials: Material names for :attr:`material_ids`: the user's own, where a bake or projection of ours
        shows in a slot (the material the slot gets back when the result is removed).
    :param unit_scale: Metres per scene unit (the scene's Unit Scale; 1 unless it is set). :attr:`depth` and the
        camera's pose are in scene units, as the scene's own geometry is: :meth:`metric` turns them into metres.
    """

    depth: np.ndarray
    mask: np.ndarray
    camera: CameraModel
    engine: str
    radial: bool = False
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)
    normals: np.ndarray | None = None
    object_ids: np.ndarray | None = None
    objects: list[str] = field(default_factory=list)
    material_ids: np.ndarray | None = None
    materials: list[str] = field(default_factory=list)
    unit_scale: float = 1.0

    def metric(self) -> tuple[np.ndarray, CameraModel]:
        """``(depth, camera)`` in metres: what files record and generators paint at (their patterns have sizes in
        metres). The same arrays when the unit scale is 1."""
        if self.unit_scale == 1.0:
            return self.depth, self.camera
        return self.depth * np.float32(self.unit_scale), self.camera.scaled(self.unit_scale)
