# SPDX-License-Identifier: GPL-3.0-or-later
"""UV maps reaching outside the 0-1 square: a bake shows on the object as Blender renders it, where the texture
repeats (UDIM tiles, negative UVs, islands across a tile's side), or the object is unwrapped with a note when its
tiles would share texels."""

from __future__ import annotations

import bmesh
import bpy
import numpy as np
from test_multiview import bake_scene, field, mesh_object, render_view, view_of
from test_projection import srgb_to_linear

from depth_addon.blender.writeback import uv_bake
from depth_addon.texturing import raster
from depth_addon.texturing.views import orbit_directions


def tiled_cube(corners: list[tuple[float, float]], side: tuple[float, float] = (0.25, 1 / 3)) -> bpy.types.Object:
    """A 1 m cube whose six faces sit in UV map ``Tiles``, face ``k`` in the ``side``-sized cell whose lower left
    corner is ``corners[k]``."""
    cube = mesh_object("Cube", lambda bm: bmesh.ops.create_cube(bm, size=1.0), (0.0, 0.0, 0.5))
    layer = cube.data.uv_layers.new(name="Tiles")
    for k, face in enumerate(cube.data.polygons):
        (u0, v0), (su, sv) = corners[k], side
        for corner, (du, dv) in zip(face.loop_indices, ((0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95)),
                                    strict=True):
            layer.data[corner].uv = (u0 + du * su, v0 + dv * sv)
    bpy.context.view_layer.update()
    return cube


def test_faces_in_other_uv_tiles_show_the_bake_where_the_texture_repeats(tmp_out):
    """Faces in tiles 1002 and 1003, at negative UVs and across the square's sides (no two sharing texels once the
    texture repeats) are baked in the user's map and render as the same faces laid out inside the square do, with
    the views' colours, not with the texture's smeared edge (the texture repeats for them; a map inside the square
    keeps the texture's edge, with nothing of its other side)."""
    inside = [(0.25 + 0.25 * (k % 2), k // 2 / 3) for k in range(6)]
    outside = [(1.25, 0.0), (2.5, 0.0), (-0.75, -2 / 3), (0.875, 1 / 3), (-0.125, 2 / 3), (-2.5, 2 / 3)]
    renders = []
    for corners in (inside, outside):
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        scene = bpy.context.scene
        cube = tiled_cube(corners)
        views = [view_of(scene, d, size=64) for d in orbit_directions(4, elevation_deg=35.0)]
        result = bake_scene(scene, [cube], views, 64)
        assert result.uv_maps["Cube"] == "Tiles" and not any("UV map" in w for w in result.warnings), result.warnings
        assert result.coverage["Cube"] > 0.8  # five faces of six seen
        extensions = {n.extension for n in result.materials["Cube"].node_tree.nodes if n.type == "TEX_IMAGE"}
        assert extensions == {"EXTEND" if corners is inside else "REPEAT"}  # in the square: no bleed over its sides
        check = view_of(scene, [0.6, -0.7, 0.6], size=48, radius=1.2, image_fn=None)  # top and two sides
        renders.append(render_view(scene, check.camera, tmp_out / "tiles.exr"))
    pts = check.camera.unproject(check.depth, world=True).reshape(-1, 3)
    good = np.isfinite(check.depth).reshape(-1) & (check.edges().reshape(-1) == 1.0)
    assert good.sum() > 300
    err = np.abs(renders[1].reshape(-1, 4)[:, :3] - srgb_to_linear(field(pts)))[good]
    assert np.median(err) < 0.02, np.median(err)
    assert np.abs(renders[1] - renders[0]).max() < 0.01


def test_uv_tiles_that_would_share_texels_are_unwrapped_with_a_note():
    """A UDIM layout whose tiles each fill their square, or a UV map scaled to repeat a texture four times, cannot
    hold one texture: the object is unwrapped into a new map, and the note says why; the user's map stays."""
    udim = [(0.0, 0.0), (1 / 3, 0.0), (2 / 3, 0.0), (1.0, 0.0), (4 / 3, 0.0), (5 / 3, 0.0)]
    for corners, side in ((udim, (1 / 3, 1.0)), ([(0.0, 0.0)] * 6, (4.0, 4.0))):  # each face over 4×4 tiles
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        cube = tiled_cube(corners, side)
        notes: list[str] = []
        assert uv_bake.ensure_uv_maps([cube], notes=notes) == {"Cube": uv_bake.UV_NAME}
        assert notes == [f"'Cube': the active UV map 'Tiles' reaches into other UV tiles, whose faces would share "
                         f"texels of one texture, so unwrapped (Smart UV Project) into a new UV map "
                         f"'{uv_bake.UV_NAME}' for the bake; your UV maps are kept as they were"], notes


def test_a_uv_map_all_in_tile_1002_is_baked_as_it_is():
    """Every face in tile 1002: the map has area where the texture repeats, so it is used, not unwrapped."""
    cube = tiled_cube([(1.25 + 0.25 * (k % 2), k // 2 / 3) for k in range(6)])
    notes: list[str] = []
    assert uv_bake.ensure_uv_maps([cube], notes=notes) == {"Cube": "Tiles"} and notes == []


def test_triangles_are_rasterised_where_a_repeating_texture_shows_them():
    """One triangle in tile 1002 lands where the one in tile 1001 would; one across ``u = 1`` is drawn on both
    sides of the square, its texels' positions continuing across; texel counts match the triangle's area."""
    size = 32
    pos = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]]], np.float32)
    nrm = np.tile(np.array([0, 0, 1], np.float32), (1, 3, 1))
    inside = np.array([[[0.1, 0.1], [0.6, 0.1], [0.1, 0.6]]])
    home = raster.rasterize_uv(inside, pos, nrm, size)
    for shift in ((1.0, 0.0), (-2.0, 3.0)):
        moved = raster.rasterize_uv(inside + shift, pos, nrm, size)
        assert np.array_equal(moved.index, home.index) and np.allclose(moved.position, home.position, atol=1e-5)
    across = raster.rasterize_uv(inside + (0.75, 0.0), pos, nrm, size)  # whole texels: the same centres
    cols = across.index % size
    assert across.count == home.count and (cols < size // 2).any() and (cols > size // 2).any()
    assert np.array_equal(across.triangle, np.zeros(across.count, np.int32)) and across.overlap == 0.0
    left = cols < size // 2
    x_right, x_left = across.position[0][~left].max(), across.position[0][left].min()
    assert x_left > x_right - 1e-5  # the part past u = 1 continues the surface from u = 0
    assert raster.rasterize_uv(inside * 4.0, pos, nrm, size).overlap > 0.3  # repeats itself
