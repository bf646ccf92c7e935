# SPDX-License-Identifier: GPL-3.0-or-later
"""Normals and object/material ids from the gpu depth draw, and the bad inputs of depth rendering."""

from __future__ import annotations

import analytic
import bpy
import depth_scenes
import numpy as np
import pytest

from depth_addon import api
from depth_addon.blender import compat
from depth_addon.blender.depth.render import render_depth
from depth_addon.errors import BadInput


def test_plain_depth_has_no_passes() -> None:
    result = render_depth(analytic.build(), engine="gpu")
    assert result.normals is None and result.object_ids is None and result.material_ids is None


def test_passes_draw_what_renders_when_the_viewport_hides_it() -> None:
    """Objects hidden with the eye icon still render: their depth, normals and ids come from the render."""
    scene = analytic.build()
    plain = render_depth(scene, engine="gpu")
    for obj in scene.objects:
        if obj.type == "MESH":
            obj.hide_set(True)
    result = render_depth(scene, engine="gpu", normals=True, ids=True)
    assert np.array_equal(result.mask, plain.mask) and result.mask.any()
    np.testing.assert_allclose(result.depth[result.mask], plain.depth[plain.mask], rtol=1e-5)
    assert set(np.array(result.objects)[result.object_ids[result.mask]]) == {"Box", "Plane"}
    assert all(o.hide_get() for o in scene.objects if o.type == "MESH")


def test_normals_and_ids_on_the_analytic_scene() -> None:
    scene = analytic.build()
    red = bpy.data.materials.new("Red")
    bpy.data.objects["Box"].data.materials.append(red)
    result = render_depth(scene, engine="gpu", normals=True, ids=True)
    expected, interior = analytic.expected_depth(result.camera)
    on_box = interior & np.isclose(expected, 3.0)
    on_plane = interior & ~np.isclose(expected, 3.0)
    n = result.normals
    assert n.shape == (48, 64, 3) and n.dtype == np.float32
    np.testing.assert_allclose(n[on_box], np.broadcast_to([0.0, 0.0, 1.0], n[on_box].shape), atol=1e-3)
    np.testing.assert_allclose(n[on_plane], np.broadcast_to(analytic.PLANE_NORMAL, n[on_plane].shape), atol=1e-3)
    assert result.object_ids.dtype == np.int32
    names = np.array(result.objects)[result.object_ids]
    assert set(names[on_box]) == {"Box"} and set(names[on_plane]) == {"Plane"}
    assert set(np.array(result.materials)[result.material_ids[on_box]]) == {"Red"}
    assert np.all(result.material_ids[on_plane] == -1), "the plane has no material"


def test_ids_of_instances_name_their_instancer() -> None:
    scene = depth_scenes.collection_instance()
    result = render_depth(scene, engine="gpu", ids=True)
    assert {"Instancer0", "Instancer1", "Plane"} == set(result.objects)
    assert (result.object_ids >= 0).all()
    d = render_depth(scene, engine="gpu")
    assert np.array_equal(d.depth, result.depth), "passes must not change depth"


def test_background_passes_are_empty() -> None:
    scene = analytic.build()
    bpy.data.objects.remove(bpy.data.objects["Plane"])
    result = render_depth(scene, engine="gpu", normals=True, ids=True)
    bg = ~result.mask
    assert bg.any() and np.all(result.object_ids[bg] == -1) and np.all(result.normals[bg] == 0)


def test_passes_need_the_gpu_path() -> None:
    with pytest.raises(BadInput, match="gpu path"):
        render_depth(analytic.build(), engine="cycles", normals=True)


@pytest.mark.parametrize("engine", ["gpu", "workbench", "cycles"])
def test_camera_inside_a_solid_is_bad_input(engine: str) -> None:
    scene = analytic.build()
    bpy.data.objects["Box"].location = (0.0, 0.0, 0.0)  # around the camera
    groups = len(bpy.data.node_groups)
    with pytest.raises(BadInput, match="inside 'Box'"):
        render_depth(scene, engine=engine)
    assert len(bpy.data.node_groups) == groups and scene.render.engine == compat.eevee_engine()


@pytest.mark.parametrize("engine", ["gpu", "workbench", "cycles"])
def test_a_clip_start_that_cuts_into_a_solid_shows_its_inside(engine: str) -> None:
    """A camera outside a solid whose clip start cuts into it (a cutaway through a wall) renders what Blender does:
    the solid's inside, from the clip start on. Only a camera that is itself inside the solid is refused."""
    scene = analytic.build()
    scene.camera.data.clip_start = 3.5  # the box spans camera Z 3 to 5
    depth = render_depth(scene, engine=engine).depth
    h, w = depth.shape
    assert depth[h // 2 - 2: h // 2 + 2, w // 2 - 2: w // 2 + 2] == pytest.approx(5.0, rel=1e-4), "the back wall"
    assert depth.min() >= 3.5 * (1 - 1e-5)


def test_a_solid_around_the_camera_that_the_view_starts_beyond_is_fine() -> None:
    scene = analytic.build()
    body = bpy.data.objects.new("Body", bpy.data.objects["Box"].data)  # a closed camera body around the lens
    body.scale = (0.1, 0.1, 0.1)
    scene.collection.objects.link(body)
    scene.camera.data.clip_start = 0.5
    assert render_depth(scene, engine="gpu").depth.min() == pytest.approx(3.0, rel=1e-4)


def test_room_with_inward_normals_and_open_meshes_are_fine() -> None:
    scene = analytic.build()
    box = bpy.data.objects["Box"]
    box.location, box.scale = (0.0, 0.0, 0.0), (20.0, 20.0, 20.0)
    for poly in box.data.polygons:
        poly.flip()
    box.data.update()
    assert render_depth(scene, engine="gpu").mask.all()
    bpy.data.objects["Plane"].location.z = 0.0  # camera on an open plane: no error either
    render_depth(scene, engine="gpu")


def test_signed_volume_of_a_cube_and_its_mirror() -> None:
    import bmesh

    from depth_addon.blender.depth.meshdata import mesh_arrays, signed_volume

    me = bpy.data.meshes.new("VolumeCube")
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=2.0)  # normals point outwards
    bm.to_mesh(me)
    bm.free()
    co, tris = mesh_arrays(me)[:2]
    outward = signed_volume(co, tris)
    assert outward == pytest.approx(6 * 8)  # six times the volume of a cube of side 2, positive: outward
    assert signed_volume(co * np.array([-1, 1, 1], np.float32), tris) == pytest.approx(-outward)  # mirrored: inward
    bpy.data.meshes.remove(me)


def test_scene_without_geometry_is_bad_input() -> None:
    scene = analytic.build()
    for name in ("Box", "Plane"):
        bpy.data.objects.remove(bpy.data.objects[name])
    scene.collection.objects.link(bpy.data.objects.new("Empty", None))
    scene.collection.objects.link(bpy.data.objects.new("Lamp", bpy.data.lights.new("Lamp", "POINT")))
    with pytest.raises(BadInput, match="no renderable geometry"):
        render_depth(scene, engine="auto")


def test_nothing_in_view_gives_inf_and_png_needs_a_range(tmp_out) -> None:
    scene = analytic.build()
    scene.camera.rotation_euler = (3.14159, 0.0, 0.0)  # look up, away from everything
    result = api.render_depth(scene, engine="gpu")
    assert not result.mask.any() and np.isinf(result.depth).all()
    with pytest.raises(BadInput, match="nothing in view"):
        api.save_depth(result, tmp_out / "d.png")
    assert not any(tmp_out.iterdir())
    api.save_depth(result, tmp_out / "d.exr")  # metres need no mapping


def test_linked_objects_render(tmp_path) -> None:
    analytic.build()
    lib = tmp_path / "lib.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(lib), copy=True)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = analytic.build()
    bpy.data.objects.remove(bpy.data.objects["Box"])
    with bpy.data.libraries.load(str(lib), link=True) as (_src, dst):
        dst.objects = ["Box"]
    scene.collection.objects.link(dst.objects[0])
    assert dst.objects[0].library is not None
    for engine in ("gpu", "workbench"):
        result = render_depth(scene, engine=engine)
        assert abs(result.depth[24, 32] - 3.0) < 1e-4, engine


def test_a_users_image_named_depth_map_is_left_alone_and_ours_is_reused() -> None:
    from depth_addon.app import depth as depth_use_case

    scene = analytic.build()
    mine = bpy.data.images.new("Depth Map", 4, 4)
    result = render_depth(scene, engine="gpu")
    mapping = depth_use_case.depth_mapping(result)
    first = depth_use_case.show_model_image(result, mapping, 16)
    again = depth_use_case.show_model_image(result, mapping, 16)
    assert first == again != mine and tuple(mine.size) == (4, 4)  # one image of ours, however often it is shown
    assert depth_use_case.shown_image(live=False) == first
    assert len([i for i in bpy.data.images if i.name.startswith("Depth Map")]) == 2
