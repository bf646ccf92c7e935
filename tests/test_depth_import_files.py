# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth files imported back: what their metadata records (radial distances, the camera's place) and what they
mark as seeing nothing are honoured."""

from __future__ import annotations

from pathlib import Path

import analytic
import bpy
import numpy as np
import pytest
from test_depth_mesh import scene_depth

from depth_addon.blender.mesh.build import import_depth_map


@pytest.mark.parametrize("suffix", [".exr", ".png"])
def test_radial_depth_files_come_back_where_they_were(tmp_path: Path, suffix: str) -> None:
    """A file of distances along the rays (``render_depth(radial=True)``) says so; import makes camera Z of them."""
    from depth_addon import api

    scene = analytic.build(size=(64, 48))
    planar, radial = (api.render_depth(scene, engine="gpu", radial=r) for r in (False, True))
    assert np.abs(radial.depth - planar.depth)[planar.mask].max() > 0.05  # the rays' length differs from Z
    api.save_depth(radial, tmp_path / f"radial{suffix}")
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    result = import_depth_map(tmp_path / f"radial{suffix}")
    assert result.prepared.info["conversion"]["radial_to_planar"]
    seen = planar.mask & np.isfinite(result.prepared.depth)  # a PNG codes its far end as the background
    assert seen.sum() > 0.9 * planar.mask.sum()
    error = np.abs(result.prepared.depth - planar.depth)[seen] / planar.depth[seen]
    assert error.max() < (1e-5 if suffix == ".exr" else 5e-3), error.max()  # 16-bit PNG: its quantisation


@pytest.mark.parametrize("unit", [1.0, 0.01])
def test_a_depth_render_imported_into_its_scene_lines_up(tmp_path: Path, unit: float) -> None:
    """The file records where its camera was: the imported camera goes there and the mesh lies on the surfaces it
    was rendered from (in scenes of any Unit Scale)."""
    from depth_addon import api

    scene = analytic.build(size=(32, 24))
    scene.unit_settings.scale_length = unit
    scene.camera.location, scene.camera.rotation_euler = (0.3, -0.2, 0.5), (0.05, 0.1, 0.2)
    bpy.context.view_layer.update()
    unscaled = api.render_depth(scene, engine="gpu")
    scene.camera.scale = (2.0, 2.0, 2.0)  # scaled up to be seen in the viewport: Blender's view ignores it
    bpy.context.view_layer.update()
    result = api.render_depth(scene, engine="gpu")
    assert np.allclose(result.depth, unscaled.depth, rtol=1e-6, atol=0)
    api.save_depth(result, tmp_path / "d.exr")
    points = result.camera.unproject(result.depth, world=True)[result.mask]  # scene units
    imported = import_depth_map(tmp_path / "d.exr")
    assert np.allclose(np.array(imported.camera.matrix_world.to_translation()), scene.camera.location, atol=1e-5)
    world = np.array([imported.object.matrix_world @ v.co for v in imported.object.data.vertices])
    nearest = np.sqrt(((world[:, None, :] - points[None, :, :]) ** 2).sum(-1)).min(1)
    assert len(world) > 0.9 * len(points) and nearest.max() < 1e-4 * float(result.depth[result.mask].max())


def test_the_sky_of_a_depth_file_stays_empty_and_only_holes_are_filled(tmp_path: Path) -> None:
    """Renderers mark where nothing was hit: this project with inf, Blender's Z pass with 1e10. That is neither
    geometry 10 billion metres away nor a hole to fill; a NaN (or zero) pixel is a hole."""
    d = scene_depth()
    d[:6] = np.inf  # sky above the floor
    d[20, 5] = np.nan  # a hole in the floor
    blender = np.where(np.isinf(d), np.float32(1e10), d)
    for name, values in (("ours", d), ("blender", blender)):
        np.save(tmp_path / f"{name}.npy", values)
        plain = import_depth_map(tmp_path / f"{name}.npy", fov=50.0)
        filled = import_depth_map(tmp_path / f"{name}.npy", fov=50.0, fill_holes=True)
        for result in (plain, filled):
            assert np.isnan(result.prepared.depth[:6]).all(), name  # the sky: no surface, filled or not
            far = max(abs(c) for v in result.object.data.vertices for c in v.co)
            assert far < 10.0 and result.camera.data.clip_end <= 100.0, (name, far)
        assert np.isnan(plain.prepared.depth[20, 5]) and 3.0 < filled.prepared.depth[20, 5] < 6.0, name


@pytest.mark.parametrize("bits", [16, 8])
def test_the_far_end_of_a_png_is_a_hole_that_fill_holes_repairs(tmp_path: Path, bits: int) -> None:
    """A PNG gives the sky and the surfaces at or beyond its mapping's far end one code (the robust range leaves
    the farthest percent out): in a closed room that code is the back wall, which Fill Holes must repair."""
    from depth_addon import api

    scene = analytic.build(size=(32, 24))  # the tilted plane fills the frame: no sky
    result = api.render_depth(scene, engine="gpu")
    assert result.mask.all()
    api.save_depth(result, tmp_path / "room.png", bits=bits)
    plain = import_depth_map(tmp_path / "room.png")
    assert np.isnan(plain.prepared.depth).any()  # the far end is a hole ...
    filled = import_depth_map(tmp_path / "room.png", fill_holes=True)
    assert np.isfinite(filled.prepared.depth).all()  # ... which is filled
