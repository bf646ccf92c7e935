# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth import of inputs at the edges of what it accepts: images a few pixels high, extreme lenses."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from depth_addon.blender.camera import camera_model, render_size
from depth_addon.blender.mesh.build import import_depth_map


@pytest.mark.parametrize("shape", [(3, 4097), (2, 2), (40, 3)])
def test_an_image_under_four_pixels_a_side_keeps_its_view(shape: tuple[int, int]) -> None:
    """Blender raises a render resolution under 4 to 4 (and the camera's view with it): the scene renders the
    image's own size, and the camera sees exactly the image."""
    h, w = shape
    result = import_depth_map(np.full(shape, 2.0, np.float32), focal_px=2.0 * w)
    scene = bpy.context.scene
    assert render_size(scene) == (w, h)
    model = camera_model(scene, result.camera, w, h)
    np.testing.assert_allclose(model.frame, result.prepared.intrinsics.frame, rtol=1e-5, atol=1e-7)


def test_a_view_wider_than_blenders_shortest_lens_keeps_its_frame() -> None:
    """174.5° across needs a lens under 1 mm on a 36 mm sensor, which Blender raises to 1 mm (a narrower view):
    the sensor is made smaller instead."""
    fx = 20.0 / np.tan(np.radians(174.5 / 2.0))
    result = import_depth_map(np.full((30, 40), 2.0, np.float32), focal_px=fx)
    model = camera_model(bpy.context.scene, result.camera, 40, 30)
    np.testing.assert_allclose(model.frame, result.prepared.intrinsics.frame, rtol=1e-5)
