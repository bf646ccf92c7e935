# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth out of a scene: exactness on an analytic scene, engine agreement, state restoration, errors."""

from __future__ import annotations

import analytic
import bpy
import numpy as np
import pytest

from depth_addon.blender.depth import render_depth
from depth_addon.errors import BadInput

ENGINES = ("gpu", "workbench", "cycles")


@pytest.mark.parametrize("ortho", [False, True], ids=["persp", "ortho"])
@pytest.mark.parametrize("engine", ENGINES)
def test_analytic_depth_is_exact(engine: str, ortho: bool) -> None:
    scene = analytic.build(ortho=ortho)
    result = render_depth(scene, engine=engine)
    assert result.engine == engine
    assert result.depth.dtype == np.float32 and result.depth.shape == (48, 64)
    expected, interior = analytic.expected_depth(result.camera)
    on_box = np.isclose(expected, 3.0)
    assert interior.sum() > 0.8 * interior.size and 0.05 < on_box[interior].mean() < 0.6
    rel = np.abs(result.depth[interior] - expected[interior]) / expected[interior]
    assert np.all(np.isfinite(result.depth[interior]))
    assert rel.max() < 1e-4, f"{engine}: max relative error {rel.max():.2e}"


def test_background_is_inf_and_masked() -> None:
    scene = analytic.build()
    bpy.data.objects.remove(bpy.data.objects["Plane"])
    result = render_depth(scene, engine="gpu")
    assert np.isinf(result.depth[0, 0]) and not result.mask[0, 0]
    assert result.mask[24, 32] and abs(result.depth[24, 32] - 3.0) < 1e-4
    assert np.array_equal(result.mask, np.isfinite(result.depth))


def test_radial_is_distance_along_the_ray() -> None:
    scene = analytic.build()
    planar = render_depth(scene, engine="gpu")
    radial = render_depth(scene, engine="gpu", radial=True)
    x, y = planar.camera.pixel_plane_coords()
    factor = np.sqrt(1 + x[None, :] ** 2 + y[:, None] ** 2)
    ok = planar.mask
    np.testing.assert_allclose(radial.depth[ok], planar.depth[ok] * factor[ok], rtol=1e-6)
    np.testing.assert_allclose(planar.camera.radial_to_planar(radial.depth)[ok], planar.depth[ok], rtol=1e-6)
    assert radial.depth[0, 0] > planar.depth[0, 0]


def test_resolution_override_and_percentage() -> None:
    scene = analytic.build(size=(64, 48))
    scene.render.resolution_percentage = 50
    assert render_depth(scene, engine="gpu").depth.shape == (24, 32)
    assert render_depth(scene, engine="workbench", resolution=(40, 30)).depth.shape == (30, 40)
    assert scene.render.resolution_x == 64 and scene.render.resolution_percentage == 50


def _settings_snapshot(scene: bpy.types.Scene) -> dict:
    r, layer = scene.render, scene.view_layers[0]
    return {
        "engine": r.engine, "res": (r.resolution_x, r.resolution_y, r.resolution_percentage),
        "compositing": (r.use_compositing, scene.compositing_node_group), "pass_z": layer.use_pass_z,
        "override": layer.material_override, "samples": scene.cycles.samples, "aa": scene.display.render_aa,
        "light": scene.display.shading.light, "filter": scene.cycles.filter_width, "camera": scene.camera,
        "groups": sorted(g.name for g in bpy.data.node_groups), "materials": sorted(m.name for m in bpy.data.materials),
        "filepath": r.filepath, "format": (r.image_settings.media_type, r.image_settings.file_format),
    }


@pytest.mark.parametrize("engine", ["workbench", "cycles"])
def test_engine_paths_restore_the_scene(engine: str) -> None:
    scene = analytic.build()
    user_group = bpy.data.node_groups.new("My Comp", "CompositorNodeTree")
    user_group.nodes.new("CompositorNodeRLayers")
    scene.compositing_node_group = user_group
    scene.render.engine = "BLENDER_EEVEE"
    scene.cycles.samples = 77
    scene.display.render_aa = "8"
    other = bpy.data.objects.new("Other Cam", bpy.data.cameras.new("Other Cam"))
    scene.collection.objects.link(other)
    before = _settings_snapshot(scene)
    render_depth(scene, camera=other, engine=engine)
    assert _settings_snapshot(scene) == before
    assert len(user_group.nodes) == 1 and not user_group.links


def test_no_camera_is_bad_input() -> None:
    with pytest.raises(BadInput, match="no active camera"):
        render_depth(bpy.context.scene)


def test_named_camera_must_exist_and_be_a_camera() -> None:
    scene = analytic.build()
    with pytest.raises(BadInput, match="no object named"):
        render_depth(scene, camera="Nope")
    with pytest.raises(BadInput, match="not a camera"):
        render_depth(scene, camera="Box")


@pytest.mark.parametrize("resolution", [(0, 10), (10, -1), (20000, 20000)])
def test_resolution_guard(resolution: tuple[int, int]) -> None:
    scene = analytic.build()
    with pytest.raises(BadInput, match="resolution"):
        render_depth(scene, resolution=resolution)


def test_unknown_engine() -> None:
    scene = analytic.build()
    with pytest.raises(BadInput, match="unknown depth engine"):
        render_depth(scene, engine="eevee-next")
