# SPDX-License-Identifier: GPL-3.0-or-later
"""Mapping ranges: frustum range from camera-space points, union over views, the api's range modes."""

from __future__ import annotations

import analytic
import bpy
import numpy as np
import pytest

from depth_addon import api
from depth_addon.blender import compat
from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput
from depth_addon.io.png import read_png_text
from depth_addon.mapping import DepthMapping, frustum_range, union_range


def _camera(ortho: bool = False) -> CameraModel:
    frame = (-2.0, 2.0, -1.5, 1.5) if ortho else (-0.5, 0.5, -0.375, 0.375)
    return CameraModel(width=64, height=48, frame=frame, ortho=ortho, clip=(0.5, 50.0))


def test_frustum_range_keeps_points_in_view_and_clips() -> None:
    cam = _camera()
    pts = np.array([
        [0.0, 0.0, -2.0],      # in view, z = 2
        [0.9, 0.0, -1.0],      # outside the frame (x/z = 0.9 > 0.5)
        [0.0, 0.0, 3.0],       # behind the camera
        [1.0, 0.5, -8.0],      # in view, z = 8
        [0.0, 0.0, -0.2],      # before clip start
        [0.0, 0.0, -80.0],     # beyond clip end
    ])
    assert frustum_range(pts, cam) == (2.0, 8.0)
    near, far = frustum_range(np.array([[0.0, 0.0, -0.6], [0.0, 0.0, -70.0], [0, 0, -10.0]]), cam)
    assert near == 0.6 and far == 10.0


def test_frustum_range_ortho_and_empty() -> None:
    cam = _camera(ortho=True)
    assert frustum_range(np.array([[1.9, 1.4, -3.0], [2.5, 0.0, -30.0], [0.0, 0.0, -7.0]]), cam) == (3.0, 7.0)
    with pytest.raises(BadInput, match="frustum"):
        frustum_range(np.array([[5.0, 0.0, -3.0]]), cam)
    flat = frustum_range(np.array([[0.0, 0.0, -4.0]]), cam)
    assert flat[0] == 4.0 and flat[1] > 4.0, "a single depth still gives a non-empty range"


def test_union_range() -> None:
    assert union_range([(2.0, 5.0), (1.0, 4.0), (3.0, 9.0)]) == (1.0, 9.0)
    with pytest.raises(BadInput):
        union_range([])


def test_api_range_modes() -> None:
    scene = analytic.build()
    result = api.render_depth(scene, engine="gpu")
    pct = api.depth_mapping(result)
    assert 2.9 < pct.near < 3.2 and pct.far > 6.0
    fr = api.depth_mapping(result, kind="linear", range="frustum")
    assert fr.kind == "linear" and fr.near <= float(result.depth.min()) + 1e-6
    assert fr.far >= float(result.depth.max()) - 1e-6, "the frustum range covers every visible pixel"
    assert api.depth_mapping(result, range="manual", near=1.0, far=2.0) == DepthMapping("inverse", 1.0, 2.0)
    with pytest.raises(BadInput, match="manual range needs"):
        api.depth_mapping(result, range="manual", near=1.0)
    with pytest.raises(BadInput, match="unknown range"):
        api.depth_mapping(result, range="median")
    with pytest.raises(BadInput, match="smaller than far"):
        api.depth_mapping(result, near=5.0, far=2.0)
    with pytest.raises(BadInput, match="unknown depth mapping"):
        api.depth_mapping(result, kind="sqrt")


def test_locked_range_comes_from_the_scene(addon) -> None:
    scene = analytic.build()
    result = api.render_depth(scene, engine="gpu")
    with pytest.raises(BadInput, match="no locked depth range"):
        api.depth_mapping(result, range="locked")
    settings = scene.depth_addon
    settings.lock_range, settings.near, settings.far = True, 2.5, 40.0
    locked = api.depth_mapping(result, kind="log", range="locked", scene=scene)
    assert (locked.kind, locked.near, locked.far) == ("log", 2.5, 40.0)


def test_save_depth_8_bit_png(tmp_out) -> None:
    result = api.render_depth(analytic.build(), engine="gpu")
    path = api.save_depth(result, tmp_out / "d8.png", DepthMapping("linear", 1.0, 10.0), bits=8)
    data = path.read_bytes()
    assert data[24] == 8, "IHDR bit depth"
    assert read_png_text(path)["bits"] == "8"
    with pytest.raises(BadInput, match="bits must be 8 or 16|bit depth"):
        api.save_depth(result, tmp_out / "d4.png", DepthMapping("linear", 1.0, 10.0), bits=4)
    assert bpy.context.scene.render.engine == compat.eevee_engine()
