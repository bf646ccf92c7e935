# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth rendered through an orthographic camera, imported back: parallel rays, so a vertex's x and y are its
pixel's place on the view frame at every depth, and the imported camera is orthographic with the same width."""

from __future__ import annotations

import argparse
from pathlib import Path

import analytic
import bpy
import numpy as np
import pytest
from mathutils import Matrix

from depth_addon.blender.mesh.build import import_depth_map
from depth_addon.camera import CameraModel
from depth_addon.cli import import_depth as cli_import
from depth_addon.depth_import import ImportOptions, Intrinsics, prepare
from depth_addon.errors import BadInput
from depth_addon.mapping import DepthMapping


def evaluated_world_vertices(ob: bpy.types.Object) -> np.ndarray:
    """World-space positions of the evaluated mesh (modifiers applied), in vertex order."""
    evaluated = ob.evaluated_get(bpy.context.evaluated_depsgraph_get())
    me = evaluated.to_mesh()
    co = np.empty(3 * len(me.vertices), np.float32)
    me.vertices.foreach_get("co", co)
    evaluated.to_mesh_clear()
    m = np.array(ob.matrix_world, np.float64)
    return co.reshape(-1, 3).astype(np.float64) @ m[:3, :3].T + m[:3, 3]


def render_ortho(tmp_path: Path, suffix: str, unit: float):
    """A posed orthographic render of the analytic scene saved as ``d<suffix>``: ``(result, ortho_scale, matrix)``
    with the scene's camera as it was (scene units). A PNG maps 2–20 scene units, beyond every surface here (the
    default's robust range would clamp the nearest pixels)."""
    from depth_addon import api

    scene = analytic.build(ortho=True, size=(32, 24))
    scene.unit_settings.scale_length = unit
    scene.camera.location, scene.camera.rotation_euler = (0.3, -0.2, 0.5), (0.05, 0.1, 0.2)
    scene.camera.data.shift_x = 0.05
    bpy.context.view_layer.update()
    result = api.render_depth(scene, engine="gpu")
    assert result.camera.ortho and result.mask.all()  # the tilted plane fills the frame
    api.save_depth(result, tmp_path / f"d{suffix}", DepthMapping("inverse", 2.0, 20.0))
    return result, scene.camera.data.ortho_scale, np.array(scene.camera.matrix_world, np.float64)


@pytest.mark.parametrize("mode", ["reconstruct", "displace"])
@pytest.mark.parametrize(("suffix", "unit"), [(".exr", 1.0), (".png", 1.0), (".exr", 0.01)])
def test_an_orthographic_depth_render_imported_back_lies_on_its_surfaces(tmp_path: Path, suffix: str, unit: float,
                                                                          mode: str) -> None:
    """Each vertex's depth along the camera axis is its pixel's rendered depth and its x, y are the pixel centre's
    on the orthographic frame, in both modes (the Displace modifier evaluated); the camera is ORTHO, as wide."""
    result, ortho_scale, matrix = render_ortho(tmp_path, suffix, unit)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    bpy.context.scene.unit_settings.scale_length = unit
    imported = import_depth_map(tmp_path / f"d{suffix}", mode=mode)
    cam = imported.camera
    assert cam.data.type == "ORTHO" and cam.data.ortho_scale == pytest.approx(ortho_scale, rel=1e-6)
    assert np.allclose(np.array(cam.matrix_world), matrix, atol=1e-5)
    assert imported.prepared.info["intrinsics"]["ortho_width"] == pytest.approx(ortho_scale * unit, rel=1e-6)

    world = evaluated_world_vertices(imported.object)  # scene units
    local = (world - matrix[:3, 3]) @ matrix[:3, :3]  # the source camera's space (its rotation is orthonormal)
    pixels = imported.prepared.grid.vertex_pixels()
    rows, cols = np.divmod(pixels, 32)
    x, y = result.camera.pixel_plane_coords()  # scene units
    depth = imported.prepared.depth.ravel()[pixels] / unit  # what was read: metres, as scene units
    assert len(world) > 0.9 * 32 * 24 and np.isfinite(depth).all()
    assert np.abs(local[:, 0] - x[cols]).max() < 1e-5 * ortho_scale
    assert np.abs(local[:, 1] - y[rows]).max() < 1e-5 * ortho_scale
    assert (np.abs(-local[:, 2] - depth) / depth).max() < 1e-5
    rendered = result.depth.ravel()[pixels]
    error = (np.abs(-local[:, 2] - rendered) / rendered).max()
    assert error < 1e-4, error  # a 16-bit PNG too: its inverse steps are finer than that here


def test_material_displacement_of_an_orthographic_render_spans_its_frame(tmp_path: Path) -> None:
    """The coarse plane of material displacement lies on the orthographic frame: its corners at the corner pixels'
    centres, as wide as the camera sees."""
    result, ortho_scale, _matrix = render_ortho(tmp_path, ".exr", 1.0)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    imported = import_depth_map(tmp_path / "d.exr", mode="displace", displace_method="material")
    assert imported.camera.data.type == "ORTHO"
    assert imported.camera.data.ortho_scale == pytest.approx(ortho_scale, rel=1e-6)
    co = np.array([v.co for v in imported.object.data.vertices])
    x, y = result.camera.pixel_plane_coords()
    assert np.allclose(co[:, 0].min(), x[0], atol=1e-5) and np.allclose(co[:, 0].max(), x[-1], atol=1e-5)
    assert np.allclose(co[:, 1].max(), y[0], atol=1e-5) and np.allclose(co[:, 1].min(), y[-1], atol=1e-5)
    assert np.all(co[:, 2] == 0.0)


def test_an_orthographic_width_given_for_an_array() -> None:
    """Arrays and foreign files take an orthographic width (metres): vertices a width / W apart at every depth."""
    depth = np.linspace(2.0, 5.0, 12 * 16, dtype=np.float32).reshape(12, 16)
    imported = import_depth_map(depth, ortho_width=4.0, tear_ratio=None)
    assert imported.camera.data.type == "ORTHO" and imported.camera.data.ortho_scale == pytest.approx(4.0)
    co = np.array([v.co for v in imported.object.data.vertices]).reshape(12, 16, 3)
    assert np.allclose(np.diff(co[..., 0], axis=1), 0.25) and np.allclose(np.diff(co[..., 1], axis=0), -0.25)
    assert np.allclose(co[0, 0, :2], (-2.0 + 0.125, 1.5 - 0.125)) and np.allclose(-co[..., 2], depth)
    assert not imported.warnings  # no field of view assumed
    with pytest.raises(BadInput, match="one camera description"):
        prepare(depth, options=ImportOptions(ortho_width=4.0, fov=50.0))
    with pytest.raises(BadInput, match="orthographic"):
        prepare(depth, options=ImportOptions.from_flat(ortho_width=4.0, values="disparity", baseline=0.1))


def test_orthographic_intrinsics() -> None:
    """Orthographic intrinsics: fx, fy in pixels per metre, the frame in metres; a camera model and back."""
    model = CameraModel(width=40, height=30, frame=(-3.0, 5.0, -2.0, 4.0), ortho=True,
                        matrix_world=tuple(tuple(r) for r in Matrix.Translation((1, 2, 3))))
    intr = Intrinsics.from_camera_model(model)
    assert intr.ortho and intr.ortho_width == pytest.approx(8.0) and np.allclose(intr.frame, model.frame)
    assert intr.camera_model().ortho and np.allclose(intr.camera_model().frame, model.frame)
    assert np.allclose(intr.scaled(2).frame, model.frame) and intr.scaled(2).ortho
    assert intr.to_dict()["ortho_width"] == pytest.approx(8.0)
    assert Intrinsics.from_ortho_width(40, 30, 8.0, cx=15.0, cy=20.0) == intr
    wide = Intrinsics.from_ortho_width(64, 48, 500.0)  # far wider than any lens sees: no field of view applies
    assert wide.ortho_width == pytest.approx(500.0)
    radial = np.full((30, 40), 3.0, np.float32)
    assert np.array_equal(intr.camera_model().radial_to_planar(radial), radial)  # parallel rays: radial = planar


def test_the_cli_takes_an_orthographic_width() -> None:
    """``--ortho-width`` describes the camera instead of a lens (and not beside one)."""
    parser = argparse.ArgumentParser()
    cli_import.add_parser(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    args = parser.parse_args(["import-depth", "d.npy", "--out", "x.blend", "--ortho-width", "4"])
    assert cli_import.options_from_args(args).ortho_width == 4.0
    with pytest.raises(SystemExit):
        parser.parse_args(["import-depth", "d.npy", "--out", "x.blend", "--ortho-width", "4", "--fov", "50"])


@pytest.mark.parametrize("factor", [3, 5, 11])
def test_displace_after_a_downsampling_that_crops_lies_where_reconstruct_does(factor: int) -> None:
    """Downsampling crops the remainder of a size that is no multiple of the factor, while the UVs span the whole
    colour image: the depth image is read where each vertex's own block is, in both displacement methods."""
    i, j = np.mgrid[0:64, 0:96].astype(np.float32)
    depth = 3.0 + 0.05 * i + 0.01 * j
    built = import_depth_map(depth, ortho_width=4.0, tear_ratio=None, downsample=factor)
    shifted = import_depth_map(depth, ortho_width=4.0, tear_ratio=None, downsample=factor, mode="displace")
    assert np.abs(evaluated_world_vertices(shifted.object) - evaluated_world_vertices(built.object)).max() < 1e-4
    material = import_depth_map(depth, ortho_width=4.0, tear_ratio=None, downsample=factor, mode="displace",
                                displace_method="material").material
    mapping = next(n for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeMapping")
    h, w = 64 // factor, 96 // factor
    scale, location = mapping.inputs["Scale"].default_value, mapping.inputs["Location"].default_value
    assert tuple(scale)[:2] == pytest.approx((96 / factor / w, 64 / factor / h))  # UV 1 is past the kept pixels
    assert location[1] == pytest.approx(1.0 - 64 / factor / h)  # the cropped rows are the bottom ones
