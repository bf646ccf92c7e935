# SPDX-License-Identifier: GPL-3.0-or-later
"""A depth import whose colour image has another size than the depth (a phone's photo over its LiDAR depth): the
material shows the photo at its own resolution, the right way round, through the API, the operator and the CLI;
guided denoising reads a copy at the depth's size."""

from __future__ import annotations

from pathlib import Path

import bpy
import cv2
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view

from depth_addon import api
from depth_addon.cli import main
from depth_addon.depth_import import ImportOptions, prepare
from depth_addon.io.png import write_png

DEPTH = (64, 48)  # width, height
COLOUR = (256, 192)  # four colour pixels per depth pixel each way


def pattern(width: int, height: int, blocks: tuple[int, int], checker: bool = True) -> np.ndarray:
    """H×W×3 uint8: R a checkerboard of 2-pixel cells (0 without ``checker``); G and B step with the column and the
    row of the ``blocks`` (width, height) grid laid over the image, so a lookup says where it landed."""
    y, x = np.mgrid[:height, :width]
    out = np.zeros((height, width, 3), np.uint8)
    out[..., 0] = 255 * ((x // 2 + y // 2) % 2) if checker else 0
    out[..., 1] = 8 + 3 * (x * blocks[0] // width)
    out[..., 2] = 8 + 3 * (y * blocks[1] // height)
    return out


def depth_plane(width: int, height: int) -> np.ndarray:
    """A plane seen square-on at 2 m with a slight ramp (every face kept)."""
    return np.repeat(np.linspace(2.0, 2.1, width, dtype=np.float32)[None], height, 0)


def image_rgb(image: bpy.types.Image) -> np.ndarray:
    """H×W×3 bytes of a Blender image, row 0 = top."""
    w, h = image.size
    px = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(px)
    return np.rint(px.reshape(h, w, 4)[::-1, :, :3] * 255).astype(np.uint8)


def bilinear(rgb: np.ndarray, u: float, v: float) -> np.ndarray:
    """``rgb`` (row 0 = top) sampled at UV ``(u, v)`` (v up), as a Linear image texture does."""
    h, w = rgb.shape[:2]
    x, y = u * w - 0.5, (1 - v) * h - 0.5
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - x0, y - y0

    def at(i: int, j: int) -> np.ndarray:
        return rgb[min(max(j, 0), h - 1), min(max(i, 0), w - 1)].astype(np.float64)

    return ((1 - fx) * (1 - fy) * at(x0, y0) + fx * (1 - fy) * at(x0 + 1, y0) + (1 - fx) * fy * at(x0, y0 + 1)
            + fx * fy * at(x0 + 1, y0 + 1))


def assert_lookups(ob: bpy.types.Object, camera: bpy.types.Object, size: tuple[int, int], tol: float) -> None:
    """At a spread of vertices, the material's image at the vertex's UV holds the G/B code of the depth pixel the
    camera sees the vertex at (so the photo is neither flipped nor turned)."""
    scene, me = bpy.context.scene, ob.data
    rgb = image_rgb(ob.active_material.node_tree.nodes["Image Texture"].image)
    uv = np.empty(len(me.loops) * 2, np.float32)
    me.uv_layers["UVMap"].data.foreach_get("uv", uv)
    for loop in list(me.loops)[:: max(1, len(me.loops) // 23)]:
        seen = world_to_camera_view(scene, camera, ob.matrix_world @ me.vertices[loop.vertex_index].co)
        col, row = round(seen.x * size[0] - 0.5), round((1 - seen.y) * size[1] - 0.5)
        got = bilinear(rgb, *uv[2 * loop.index: 2 * loop.index + 2])
        assert abs(got[1] - (8 + 3 * col)) <= tol and abs(got[2] - (8 + 3 * row)) <= tol, (col, row, got)


def test_a_larger_colour_image_colours_the_mesh_at_its_own_resolution(tmp_path: Path) -> None:
    colour = pattern(*COLOUR, DEPTH)
    write_png(tmp_path / "photo.png", colour)
    np.save(tmp_path / "lidar.npy", depth_plane(*DEPTH))
    result = api.import_depth_map(tmp_path / "lidar.npy", tmp_path / "photo.png", fov=60.0)
    assert not result.warnings  # nothing is lost: no warning
    image = result.object.active_material.node_tree.nodes["Image Texture"].image
    assert image == result.color_image and tuple(image.size) == COLOUR
    assert image.source == "FILE" and Path(bpy.path.abspath(image.filepath)) == tmp_path / "photo.png"
    assert np.array_equal(image_rgb(image), colour)  # the exact checkerboard, not a blur
    assert_lookups(result.object, result.camera, DEPTH, tol=0.01)


def test_the_operator_keeps_the_photo_and_its_exif_orientation(addon, tmp_path: Path) -> None:
    """A portrait photo stored sideways (EXIF Orientation 6) over its portrait depth: turned upright, full size."""
    from PIL import Image

    shown = pattern(COLOUR[1], COLOUR[0], (DEPTH[1], DEPTH[0]), checker=False)  # 192×256, upright
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer turns the stored pixels a quarter clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(shown, 1))).save(tmp_path / "phone.jpg", exif=exif, quality=100)
    np.save(tmp_path / "lidar.npy", depth_plane(DEPTH[1], DEPTH[0]))
    assert bpy.ops.depth.import_depth_map(filepath=str(tmp_path / "lidar.npy"), color_path=str(tmp_path / "phone.jpg"),
                                          camera="FOV", fov=60.0) == {"FINISHED"}
    ob = bpy.data.objects["Depth lidar"]
    image = ob.active_material.node_tree.nodes["Image Texture"].image
    assert tuple(image.size) == (COLOUR[1], COLOUR[0])
    assert np.abs(image_rgb(image).astype(int) - shown).max() <= 3  # a JPEG: nearly exact
    # kept as a JPEG file, packed: a save stores these bytes instead of encoding 4 bytes a pixel as PNG
    assert image.packed_file is not None and image.packed_file.data[:3] == b"\xff\xd8\xff"
    assert_lookups(ob, bpy.context.scene.camera, (DEPTH[1], DEPTH[0]), tol=3)


@pytest.mark.parametrize("colour_size", [COLOUR, (32, 24)])
def test_guided_denoise_reads_the_colour_at_the_depths_size(colour_size: tuple[int, int]) -> None:
    """Larger or smaller: the material keeps the colour as given, the guide is resized (area down, linear up)."""
    rng = np.random.default_rng(5)
    depth = depth_plane(*DEPTH) + rng.normal(0, 0.01, DEPTH[::-1]).astype(np.float32)
    colour = pattern(*colour_size, DEPTH).astype(np.float32) / 255
    options = ImportOptions.from_flat(fov=60.0, denoise="guided")
    prepared = prepare(depth, colour, options)
    assert prepared.color.shape == (colour_size[1], colour_size[0], 3) and not prepared.warnings
    assert np.array_equal(prepared.color, colour)
    down = colour_size[0] > DEPTH[0]
    guide = cv2.resize(colour, DEPTH, interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR)
    same = prepare(depth, guide, options)
    assert np.array_equal(prepared.depth, same.depth, equal_nan=True)
    assert np.abs(prepared.depth - depth).max() > 1e-4  # it denoised
    result = api.import_depth_map(depth, colour, options=options)
    assert tuple(result.color_image.size) == colour_size


def test_another_aspect_ratio_is_stretched_with_a_warning(tmp_path: Path) -> None:
    write_png(tmp_path / "square.png", pattern(256, 256, DEPTH))
    result = api.import_depth_map(depth_plane(*DEPTH), tmp_path / "square.png", fov=60.0)
    assert result.warnings == ["colour image 256×256 has another aspect ratio than the depth's 64×48: it is "
                               "stretched over the mesh"]
    assert tuple(result.color_image.size) == (256, 256)
    assert_lookups(result.object, result.camera, DEPTH, tol=0.01)  # the UVs span it whole


def test_the_cli_saves_the_photo_at_its_own_resolution(tmp_path: Path) -> None:
    colour = pattern(*COLOUR, DEPTH)
    write_png(tmp_path / "photo.png", colour)
    np.save(tmp_path / "lidar.npy", depth_plane(*DEPTH))
    for extra, packed in (((), False), (("--pack",), True)):
        out = tmp_path / f"scene{len(extra)}.blend"
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)  # the CLI imports into an open file
        assert main(["import-depth", str(tmp_path / "lidar.npy"), "--color", str(tmp_path / "photo.png"), "--fov",
                     "60", "--out", str(out), *extra]) == 0
        bpy.ops.wm.open_mainfile(filepath=str(out))
        image = bpy.data.objects["Depth lidar"].active_material.node_tree.nodes["Image Texture"].image
        assert (image.packed_file is not None) == packed and tuple(image.size) == COLOUR
        assert np.array_equal(image_rgb(image), colour)
