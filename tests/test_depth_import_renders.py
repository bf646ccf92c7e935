# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender's own EXR renders imported as depth: the Z pass of a multilayer file comes in camera-correct, and a file
that holds only the colour render (a beauty pass, the Z pass left off) is refused instead of read as depth."""

from __future__ import annotations

import math
from pathlib import Path

import analytic
import bpy
import numpy as np
import pytest

from depth_addon.blender import compat
from depth_addon.blender.camera import camera_model
from depth_addon.blender.mesh.build import import_depth_map
from depth_addon.errors import BadInput

SIZE = (64, 48)


def _render(path: Path, multilayer: bool, z_pass: bool, passes: tuple[str, ...] = ()) -> tuple[np.ndarray, float]:
    """Render the analytic scene into ``path`` as an artist would save it (Workbench; Cycles when other ``passes``,
    e.g. ``mist``, are on); return its exact depth and horizontal field of view."""
    scene = analytic.build(size=SIZE)
    depth, _inside = analytic.expected_depth(camera_model(scene, scene.camera, *SIZE))
    scene.render.engine, scene.display.render_aa = "BLENDER_WORKBENCH", "OFF"
    if passes:
        scene.render.engine, scene.cycles.samples = "CYCLES", 1
    for name in ("z", *passes):
        setattr(bpy.context.view_layer, f"use_pass_{name}", z_pass if name == "z" else True)
    settings = scene.render.image_settings
    if multilayer:
        if hasattr(settings, "media_type"):  # 5.0: first, it resets the format
            settings.media_type = "MULTI_LAYER_IMAGE"
        settings.file_format, settings.color_depth = "OPEN_EXR_MULTILAYER", "32"
    else:
        compat.set_image_format(settings, "OPEN_EXR", "RGBA", "32")
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    fov = math.degrees(scene.camera.data.angle_x)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return depth.astype(np.float32), fov


def test_multilayer_render_depth_pass_comes_in_camera_correct(tmp_path: Path) -> None:
    depth, fov = _render(tmp_path / "shot.exr", multilayer=True, z_pass=True)
    result = import_depth_map(tmp_path / "shot.exr", fov=fov, tear_ratio=None)
    assert result.prepared.info["channel"] == "ViewLayer.Depth.Z"
    assert np.abs(result.prepared.depth - depth).max() < 1e-3


@pytest.mark.parametrize("passes", [(), ("mist", "normal", "uv")], ids=["z", "z-mist-normal-uv"])
def test_render_passes_beside_depth_are_not_taken_for_it(tmp_path: Path, passes: tuple[str, ...]) -> None:
    """Mist, Normal and UV passes have Z, Y and V channels too: the import takes the Depth pass, not one of those."""
    depth, fov = _render(tmp_path / "shot.exr", multilayer=True, z_pass=True, passes=passes)
    result = import_depth_map(tmp_path / "shot.exr", fov=fov, tear_ratio=None)
    assert result.prepared.info["channel"] == "ViewLayer.Depth.Z"
    assert np.abs(result.prepared.depth - depth).max() < 1e-3


def test_passes_without_depth_are_refused(tmp_path: Path) -> None:
    """A render saved with Normal and UV passes but no Z pass has no depth: refused, not read from Normal.Y."""
    _render(tmp_path / "shot.exr", multilayer=True, z_pass=False, passes=("normal", "uv"))
    with pytest.raises(BadInput, match="no depth channel|several channels"):
        import_depth_map(tmp_path / "shot.exr", fov=50.0)


@pytest.mark.parametrize("multilayer", [False, True], ids=["beauty-exr", "multilayer-without-z"])
def test_colour_render_is_not_read_as_depth(tmp_path: Path, multilayer: bool) -> None:
    """Its R channel is no depth: the import says what the file is and leaves nothing behind."""
    _render(tmp_path / "beauty.exr", multilayer=multilayer, z_pass=False)
    before = {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "images", "materials", "collections")}
    with pytest.raises(BadInput, match=r"no depth channel .*colour channels .*R, .*G, .*B differ"):
        import_depth_map(tmp_path / "beauty.exr", fov=50.0)
    assert before == {k: len(getattr(bpy.data, k)) for k in before}


def test_grey_exr_stored_as_rgb_is_still_depth(tmp_path: Path) -> None:
    """Depth saved as identical R, G, B (an image editor's grey EXR) keeps importing from R."""
    import OpenEXR

    depth = np.linspace(2.0, 5.0, 6 * 8, dtype=np.float32).reshape(6, 8)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {c: depth.copy() for c in "RGBA"}).write(str(tmp_path / "grey.exr"))
    result = import_depth_map(tmp_path / "grey.exr", fov=50.0, tear_ratio=None)
    assert result.prepared.info["channel"] == "R" and np.array_equal(result.prepared.depth, depth)


def test_multilayer_render_gives_its_depth_and_its_colour(tmp_path: Path) -> None:
    """One multilayer file holds both: the Z pass is the mesh, the Combined pass its material, upright."""
    import OpenEXR

    depth, fov = _render(tmp_path / "shot.exr", multilayer=True, z_pass=True)
    parts = OpenEXR.File(str(tmp_path / "shot.exr"), separate_channels=True).parts
    combined = next(p.channels for p in parts if "ViewLayer.Combined.R" in p.channels)
    rgb = np.stack([combined[f"ViewLayer.Combined.{c}"].pixels for c in "RGB"], -1)
    assert rgb.std() > 0.01  # a picture, not one flat colour
    result = import_depth_map(tmp_path / "shot.exr", tmp_path / "shot.exr", fov=fov, tear_ratio=None)
    image = result.color_image
    pixels = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(pixels)
    shown = pixels.reshape(SIZE[1], SIZE[0], 4)[::-1, :, :3]  # Blender's rows run bottom-up
    assert np.abs(shown - rgb).max() < 1e-5
    assert result.material is not None and image.colorspace_settings.name != "Non-Color"
