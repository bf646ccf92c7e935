# SPDX-License-Identifier: GPL-3.0-or-later
"""The scene's length unit: depth, cameras and geometry are in scene units; files and generators use metres."""

from __future__ import annotations

import bpy


def unit_scale(scene: bpy.types.Scene) -> float:
    """Metres per scene unit: the scene's Unit Scale (1 with no unit system).

    :param scene: The scene.
    """
    units = scene.unit_settings
    return float(units.scale_length) if units.system != "NONE" else 1.0
