# SPDX-License-Identifier: GPL-3.0-or-later
"""The UV maps a bake unwraps: objects hidden in the viewport, a user's map that has our map's name, and one that
has no area (measured exactly, so a small island still has some)."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from test_multiview import block_scene

from depth_addon.app import multiview as app_multiview
from depth_addon.blender.writeback import bake_apply, uv_bake
from depth_addon.texturing.raster import area_in_square


def test_an_object_hidden_in_the_viewport_is_unwrapped_and_baked():
    """The eye icon hides an object from the viewport, not from the render: a UV-less one is unwrapped all the
    same (edit mode skips hidden objects), baked, and hidden again."""
    scene = bpy.context.scene
    _ground, cube = block_scene()
    cube.hide_set(True)
    result = app_multiview.texture_multiview(scene, objects=[cube], views=1, bake_size=32, view_size=48,
                                             prompt="red brick", scene_view=False)
    assert result.coverage["Cube"] > 0.1 and set(result.images) == {"Cube"}
    uv = np.empty(len(cube.data.loops) * 2, np.float32)
    cube.data.uv_layers[uv_bake.UV_NAME].data.foreach_get("uv", uv)
    assert np.ptp(uv) > 0.5  # unwrapped, not left at the origin
    assert cube.hide_get() and not cube.hide_viewport


def test_a_users_uv_map_named_like_ours_is_never_unwrapped():
    """A user's own map called ``Depth UV`` (useless for a bake: every face on one point) stays as it is; the bake
    unwraps the map it adds (``Depth UV.001``), and Remove takes only that one off."""
    scene = bpy.context.scene
    _ground, cube = block_scene()
    mine = cube.data.uv_layers.new(name=uv_bake.UV_NAME)
    before = np.zeros(len(cube.data.loops) * 2, np.float32)
    mine.data.foreach_get("uv", before)
    result = app_multiview.texture_multiview(scene, objects=[cube], views=1, bake_size=32, view_size=48,
                                             prompt="red brick", scene_view=False)
    assert result.coverage["Cube"] > 0.1 and result.uv_maps["Cube"] == f"{uv_bake.UV_NAME}.001"
    after = np.zeros_like(before)
    cube.data.uv_layers[uv_bake.UV_NAME].data.foreach_get("uv", after)
    assert np.array_equal(after, before)
    bake_apply.remove_bake()
    assert list(cube.data.uv_layers.keys()) == [uv_bake.UV_NAME]


def test_objects_unwrapped_for_a_bake_are_named_with_the_new_uv_map(tmp_path, capsys):
    """An object without UVs, or whose active map overlaps, is unwrapped into a new UV map: the run says which
    objects and which map (in the result's warnings, the CLI's events and run.json); the user's maps are kept."""
    import json

    from depth_addon.cli import main as cli_main

    scene = bpy.context.scene
    ground, cube = block_scene()
    mine = cube.data.uv_layers.new(name="MyUV")
    for face in cube.data.polygons:  # every face on the whole square: all islands overlap
        for corner, uv in zip(face.loop_indices, ((0, 0), (1, 0), (1, 1), (0, 1)), strict=False):
            mine.data[corner].uv = uv
    result = app_multiview.texture_multiview(scene, views=1, bake_size=32, view_size=48, prompt="red brick",
                                             scene_view=False)
    assert "'Ground' had no UV map: unwrapped (Smart UV Project) into a new UV map 'Depth UV' for the bake" in (
        result.warnings)
    assert ("'Cube': the active UV map 'MyUV' has overlapping islands, so unwrapped (Smart UV Project) into a new "
            "UV map 'Depth UV' for the bake; your UV maps are kept as they were") in result.warnings
    assert list(cube.data.uv_layers.keys()) == ["MyUV", "Depth UV"] and ground.data.uv_layers.keys() == ["Depth UV"]
    again = app_multiview.texture_multiview(scene, views=1, bake_size=32, view_size=48, prompt="red brick",
                                            scene_view=False)
    assert not any("UV map" in w for w in again.warnings)  # baked into the map added before: nothing new to say
    bake_apply.remove_bake()
    blend = tmp_path / "block.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    out = tmp_path / "out"
    assert cli_main(["texture", "--blend", str(blend), "--views", "1", "--bake", "32", "--view-size", "48",
                     "--no-scene-view", "--prompt", "red brick", "--out-dir", str(out), "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    warned = [e["message"] for e in events if e["event"] == "warning"]
    assert any(w.startswith("'Ground' had no UV map") for w in warned), warned
    assert any(w.startswith("'Ground' had no UV map") for w in json.loads((out / "run.json").read_text())["warnings"])


def test_baking_a_projection_names_the_objects_it_unwrapped():
    from depth_addon import api
    from depth_addon.blender.writeback import projection_bake

    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 48, 36
    block_scene()
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.location, cam.rotation_euler = (0.0, -4.0, 2.5), (1.1, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    api.texture_scene(scene, prompt="red brick", compositor=False)
    result = projection_bake.bake_projection(scene, bake_size=32)
    assert any("'Ground', 'Cube' had no UV map" in w for w in result.warnings), result.warnings


def test_a_users_uv_map_without_area_is_kept_and_the_object_unwrapped():
    """A UV map whose faces all sit on one point (an import that wrote zeros) or outside the 0-1 square holds no
    texel: the object is unwrapped into a new map and baked with its maps, not left as "seen by no view"; the
    user's map stays as it was and stays active."""
    for where in ((0.0, 0.0), (1.6, 2.3)):
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        scene = bpy.context.scene
        _ground, cube = block_scene()
        mine = cube.data.uv_layers.new(name="Imported")
        for corner in mine.data:
            corner.uv = where
        before = np.empty(len(cube.data.loops) * 2, np.float32)
        mine.data.foreach_get("uv", before)
        result = app_multiview.texture_multiview(scene, objects=[cube], views=2, bake_size=32, view_size=48,
                                                 prompt="red brick", maps=True, shading="PBR")
        assert bake_apply.is_baked(cube) and result.uv_maps["Cube"] == uv_bake.UV_NAME, result.warnings
        assert result.coverage["Cube"] > 0.3 and set(result.maps["Cube"]) == set(bake_apply.MAP_SUFFIX)
        assert any("'Imported'" in w and "no area" in w for w in result.warnings), result.warnings
        after = np.empty_like(before)
        cube.data.uv_layers["Imported"].data.foreach_get("uv", after)
        assert np.array_equal(after, before) and cube.data.uv_layers.active.name == "Imported"
        bake_apply.remove_bake()
        assert list(cube.data.uv_layers.keys()) == ["Imported"]


def test_a_small_uv_island_is_baked_into_the_users_map():
    """A UV map whose only island is tiny (a prop in a corner of an atlas: 1/300 of the square's side, between the
    texel centres of a coarse grid) has area: the bake goes into that map, nothing is unwrapped and no note says
    its faces lie on one point."""
    scene = bpy.context.scene
    _ground, cube = block_scene()
    atlas = cube.data.uv_layers.new(name="Atlas")
    side, start = 1.0 / 300.0, 0.3175  # between the centres 40.5/128 and 41.5/128 of a 128² grid
    for k, face in enumerate(cube.data.polygons):  # each face in its own cell of a 3×2 grid inside the island
        u0, v0 = start + (k % 3) * side / 3, start + (k // 3) * side / 2
        for corner, (du, dv) in zip(face.loop_indices, ((0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)), strict=True):
            atlas.data[corner].uv = (u0 + du * side / 3, v0 + dv * side / 2)
    notes: list[str] = []
    assert uv_bake.ensure_uv_maps([cube], notes=notes) == {"Cube": "Atlas"} and notes == []
    assert list(cube.data.uv_layers.keys()) == ["Atlas"]
    result = app_multiview.texture_multiview(scene, objects=[cube], views=1, bake_size=1024, view_size=48,
                                             prompt="red brick", scene_view=False)
    assert result.uv_maps["Cube"] == "Atlas" and not any("UV map" in w for w in result.warnings), result.warnings
    assert result.coverage["Cube"] > 0 and bake_apply.is_baked(cube) and list(cube.data.uv_layers.keys()) == ["Atlas"]


def test_uv_area_is_measured_inside_the_square_only():
    """Each triangle counts with its part inside the 0-1 square, exactly: one around the square counts 1, one
    outside it (even next to a corner, where clamping its corners into the square would make up area) counts 0."""
    rng = np.random.default_rng(3)
    cases = {((0, 0), (1, 0), (0, 1)): 0.5, ((-1, -1), (3, -1), (-1, 3)): 1.0,
             ((-0.5, 0.5), (0.5, -0.5), (-1, -1)): 0.0, ((-1, 0.5), (2, 0.5), (0.5, 2)): 0.5,
             ((0.5, 0.5), (1.5, 0.5), (0.5, 1.5)): 0.25,
             ((0, 1), (1, 1), (0.5, 1.5)): 0.0, ((1.6, 2.3),) * 3: 0.0, ((0.2, 0.2), (0.3, 0.3), (0.4, 0.4)): 0.0}
    for corners, area in cases.items():
        assert area_in_square(np.array([corners], float)) == pytest.approx(area, abs=1e-12), corners
    many = rng.uniform(-1.0, 2.0, (3000, 3, 2))
    centres = (np.stack(np.meshgrid(np.arange(800), np.arange(800)), -1).reshape(-1, 2) + 0.5) / 800
    for tri in many[:20]:  # against counting the centres of a fine grid inside the triangle
        edge, to = [tri[(k + 1) % 3] - tri[k] for k in range(3)], [centres - tri[k] for k in range(3)]
        d = np.array([edge[k][0] * to[k][:, 1] - edge[k][1] * to[k][:, 0] for k in range(3)])
        inside = np.all(d >= 0, axis=0) | np.all(d <= 0, axis=0)
        assert area_in_square(tri[None]) == pytest.approx(inside.mean(), abs=2e-3)
    assert area_in_square(many, chunk=64) == pytest.approx(sum(area_in_square(t[None]) for t in many))
