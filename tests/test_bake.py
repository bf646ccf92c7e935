# SPDX-License-Identifier: GPL-3.0-or-later
"""Bakes into UV maps: awkward meshes that work, bad input refused without side effects, the operators."""

from __future__ import annotations

import bmesh
import bpy
import numpy as np
import pytest
from test_multiview import block_scene, mesh_object, snapshot, view_of

from depth_addon.app import multiview as app_multiview
from depth_addon.blender import images
from depth_addon.blender.camera import camera_model
from depth_addon.blender.writeback import bake_apply, multiview, projection, projection_bake, uv_bake
from depth_addon.errors import BadInput
from depth_addon.texturing import fusion


def blue(points: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.array([0.1, 0.3, 0.9], np.float32), points.shape).copy()


def test_awkward_meshes_still_bake_and_restore_exactly():
    """Overlapping UVs, many slots (one empty), a shared mesh, zero-area faces and flipped normals."""
    scene = bpy.context.scene
    ground, cube = block_scene()
    overlap = mesh_object("Stacked", lambda bm: bmesh.ops.create_cube(bm, size=0.6), (1.5, 0.0, 0.3))
    layer = overlap.data.uv_layers.new(name="Mine")
    layer.data.foreach_set("uv", np.tile([0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0], 6).astype(np.float32))
    for extra in ("Second", None, "Third"):
        cube.data.materials.append(bpy.data.materials.new(extra) if extra else None)
    twin = bpy.data.objects.new("Twin", cube.data)  # shares the cube's mesh
    twin.location = (-1.5, 0.0, 0.5)
    scene.collection.objects.link(twin)

    def odd(bm):
        bmesh.ops.create_cube(bm, size=0.6)
        bmesh.ops.reverse_faces(bm, faces=bm.faces[:])  # every normal points inwards
        v = [bm.verts.new((0.0, 0.0, 0.0)) for _ in range(3)]
        bm.faces.new(v)  # a zero-area face

    flipped = mesh_object("Flipped", odd, (0.0, 1.5, 0.3))
    picked = np.array([i % 2 == 0 for i in range(len(cube.data.polygons))])
    cube.data.polygons.foreach_set("select", picked)  # unwrapping goes through edit mode: keep these
    bpy.context.view_layer.update()
    before = snapshot()
    mine_uv = np.empty(len(overlap.data.loops) * 2, np.float32)
    overlap.data.uv_layers["Mine"].data.foreach_get("uv", mine_uv)

    views = [view_of(scene, d, size=64, radius=2.5, image_fn=blue) for d in ([0, -1, 1], [1, 1, 1], [-1, 0.5, 1])]
    objs = [ground, cube, overlap, twin, flipped]
    result = multiview.bake_views(scene, uv_bake.bake_targets(scene, objs), views, 32)
    assert result.uv_maps["Stacked"] == uv_bake.UV_NAME and overlap.data.uv_layers.active.name == "Mine"
    assert result.images["Cube"] != result.images["Twin"]  # one texture per object, even on a shared mesh
    assert [m.name if m else None for m in cube.data.materials] == before["objects"]["Cube"][1]  # mesh untouched
    assert all(s.material == result.materials["Cube"] for s in cube.material_slots) and len(cube.material_slots) == 4
    assert result.coverage["Flipped"] > 0.3  # inward normals are detected and reversed
    for name in ("Flipped", "Stacked", "Cube"):
        tex = images.array_from_image(result.images[name])[..., :3]
        assert np.isfinite(tex).all() and np.abs(tex - [0.1, 0.3, 0.9]).max() < 0.02

    assert bake_apply.remove_bake() == 5
    assert snapshot() == before
    selected = np.empty(len(cube.data.polygons), bool)
    cube.data.polygons.foreach_get("select", selected)
    assert np.array_equal(selected, picked)
    again = np.empty_like(mine_uv)
    overlap.data.uv_layers["Mine"].data.foreach_get("uv", again)
    assert np.array_equal(again, mine_uv)  # the user's own UV map was never edited


def test_bad_input_is_refused_and_changes_nothing(tmp_out):
    scene = bpy.context.scene
    ground, cube = block_scene()
    lamp = bpy.data.objects.new("Lamp", bpy.data.lights.new("Lamp", "POINT"))
    empty_mesh = bpy.data.objects.new("Nothing", bpy.data.meshes.new("Nothing"))
    source = bpy.data.objects.new("Linked", bpy.data.meshes.new("Linked"))
    source.data.from_pydata([(0, 0, 5), (1, 0, 5), (0, 1, 5)], [], [(0, 1, 2)])
    lib = str(tmp_out / "lib.blend")
    bpy.data.libraries.write(lib, {source})
    bpy.data.objects.remove(source)
    with bpy.data.libraries.load(lib, link=True) as (_src, dst):
        dst.objects = ["Linked"]
    for ob in (lamp, dst.objects[0]):
        scene.collection.objects.link(ob)
    mine = bpy.data.images.new("Cube Depth Bake", 4, 4)  # the user's image with the name a bake would use
    mine.pixels.foreach_set(np.full(64, 0.25, np.float32))
    mine_pixels = list(mine.pixels)
    bpy.data.images.new("Ground Depth Albedo", 4, 4)  # the user's image with the name a map would use
    away = bpy.data.objects.new("Away", bpy.data.cameras.new("Away"))
    away.location, away.rotation_euler = (0.0, 0.0, 20.0), (np.pi, 0.0, 0.0)  # looks up into the sky
    scene.collection.objects.link(away)
    bpy.context.view_layer.update()
    before = snapshot()

    cases = {
        "not a mesh": dict(objects=[lamp]),
        "no faces": dict(objects=[empty_mesh]),
        "library": dict(objects=[dst.objects[0]]),
        "already exists": dict(objects=[cube]),
        "'Ground Depth Albedo' already exists": dict(objects=[ground], maps=True, shading="PBR"),  # no UV added
        "texture size": dict(objects=[ground], bake_size=3),
        "whole number of texels, got 7.5": dict(objects=[ground], bake_size=7.5),
        "sees any geometry": dict(objects=[ground], cameras=[away]),
        "placement": dict(objects=[ground], placement="spiral"),
        "which is no object of this scene": dict(objects=["Missing"]),
    }
    for expected, kw in cases.items():
        with pytest.raises(BadInput, match=expected):
            app_multiview.texture_multiview(scene, **{"views": 1, "bake_size": 32, "view_size": 32} | kw)
        assert snapshot() == before, expected
    assert list(mine.pixels) == mine_pixels and tuple(mine.size) == (4, 4) and images.KEY_OWNED not in mine


def test_an_object_no_view_sees_is_reported_and_left_as_it_was():
    """A box hidden inside another is not baked: no image, no material change, no UV map added; a run where no
    view sees any object is refused and changes nothing."""
    scene = bpy.context.scene
    _ground, cube = block_scene()
    inner = mesh_object("Inner", lambda bm: bmesh.ops.create_cube(bm, size=0.2), (0.0, 0.0, 0.5))
    bpy.context.view_layer.update()
    inner_before = ([m.name for m in inner.data.materials], list(inner.data.uv_layers.keys()))
    kw = dict(views=2, bake_size=64, view_size=48, scene_view=False, prompt="red brick")
    result = app_multiview.texture_multiview(scene, objects=[cube, inner], **kw)
    assert set(result.images) == {"Cube"} and result.coverage["Inner"] == 0.0
    assert any("Inner" in w and "left as it was" in w for w in result.warnings)
    assert ([m.name for m in inner.data.materials], list(inner.data.uv_layers.keys())) == inner_before
    assert not any(i.name.startswith("Inner") for i in bpy.data.images) and bake_apply.is_baked(cube)
    bake_apply.remove_bake()
    outside = bpy.data.objects.new("Outside", bpy.data.cameras.new("Outside"))
    outside.location, outside.rotation_euler = (0.0, -6.0, 3.0), (1.1, 0.0, 0.0)
    scene.collection.objects.link(outside)
    bpy.context.view_layer.update()
    before = snapshot()
    with pytest.raises(BadInput, match="'Inner' from any side: nothing was baked"):
        app_multiview.texture_multiview(scene, objects=[inner], cameras=[outside], **kw)
    assert snapshot() == before


def test_a_bake_above_the_free_memory_is_refused_before_anything_is_made(monkeypatch):
    from depth_addon.texturing import bake

    scene = bpy.context.scene
    _ground, cube = block_scene()
    before = snapshot()
    monkeypatch.setattr(bake, "available_bytes", lambda: 64 * 2**20)
    expected = r"'Cube' at 1024×1024 texels \(3 channels\) needs about 0\.1 GiB.*0\.1 GiB is free"
    with pytest.raises(BadInput, match=expected):
        app_multiview.texture_multiview(scene, objects=[cube], views=1, bake_size=1024, view_size=32)
    assert snapshot() == before
    with pytest.raises(BadInput, match="choose a smaller bake size"):
        bake.check_memory({"a": 8192, "b": 4096}, 9, available=24 * 2**30)  # 8192² with maps: about 24 GiB
    bake.check_memory({"a": 8192}, 3, available=24 * 2**30)  # without: about 7 GiB
    with pytest.raises(BadInput, match="needs about 7.0 GiB"):  # the finished images' pixels count too
        bake.check_memory({"a": 8192}, 3, available=8 * 2**30)
    monkeypatch.setattr(bake, "available_bytes", lambda: None)  # unknown: no check
    bake.check_memory({"a": 8192}, 9)


def test_camera_that_sees_nothing_is_left_out_with_a_warning():
    scene = bpy.context.scene
    ground, _cube = block_scene()
    away = bpy.data.objects.new("Away", bpy.data.cameras.new("Away"))
    away.location, away.rotation_euler = (0.0, 0.0, 20.0), (np.pi, 0.0, 0.0)  # looks up into the sky
    good = bpy.data.objects.new("Good", bpy.data.cameras.new("Good"))
    good.location, good.rotation_euler = (0.0, -6.0, 3.0), (1.1, 0.0, 0.0)
    for cam in (away, good):
        scene.collection.objects.link(cam)
    bpy.context.view_layer.update()
    views = multiview.capture_views(scene, [], [away, good], view_size=32, warnings=(warnings := []))
    assert len(views) == 1 and any("Away" in w for w in warnings)


def test_projection_bake_follows_the_moved_object():
    scene = bpy.context.scene
    _ground, cube = block_scene()
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.location, cam.rotation_euler = (0.0, -4.0, 2.5), (1.1, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    bpy.context.view_layer.update()
    model = camera_model(scene, cam, 48, 48)
    view = fusion.View(model, np.full((48, 48), np.inf, np.float32))
    rgb = blue(np.zeros((48, 48, 3)))
    rgb[:, 24:] = (0.9, 0.2, 0.1)  # right half red
    img = images.image_from_array("Shot", rgb)
    from depth_addon.blender.writeback.view_cameras import render_view_depth

    depth, _ = render_view_depth(scene, cam, (48, 48))
    projection.project_image(scene, model, img, objects=[cube], depth=depth)
    assert projection.is_projected(cube) and view.camera == model
    result = projection_bake.bake_projection(scene, [cube], 32)
    assert not projection.is_projected(cube) and bake_apply.is_baked(cube)
    assert not any(projection.KEY_PROJECTOR in o for o in bpy.data.objects)  # its projector went with it
    tex = images.array_from_image(result.images["Cube"])[..., :3].reshape(-1, 3)
    assert (np.abs(tex - [0.9, 0.2, 0.1]).max(1) < 0.03).mean() > 0.1  # both colours made it into the UVs
    assert (np.abs(tex - [0.1, 0.3, 0.9]).max(1) < 0.03).mean() > 0.1
    record = bake_apply.bpy.data.materials["Cube [Depth Bake]"]
    assert record.get("depth_addon_provenance")
    cube.location.x += 3.0  # the texture lives in UV space now: nothing to recompute when the object moves
    assert bake_apply.is_baked(cube)


def test_operators(addon, tmp_out):
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = 48
    _ground, cube = block_scene()
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.location, cam.rotation_euler = (0.0, -4.0, 2.5), (1.1, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    before = snapshot()
    assert bpy.ops.depth.texture_multiview(placement="ORBIT", views=2, bake_size="512", view_size=64,
                                           preview_only=True) == {"FINISHED"}
    assert bake_apply.is_baked(cube)
    assert bpy.ops.depth.texture_multiview(placement="ORBIT", views=2, bake_size="512", view_size=64) == {"FINISHED"}
    assert cube.material_slots[0].material.get(bake_apply.KEY_BAKE_MATERIAL) == "bake"
    owned = [i for i in bpy.data.images if i.get(images.KEY_OWNED) and i.users]
    assert owned and all(i.packed_file is not None for i in owned)  # baked as PNG files: nothing left to encode
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_out / "baked.blend"), copy=True)
    assert all(i.packed_file is not None for i in owned)
    with bpy.context.temp_override(active_object=cube, object=cube):
        assert bpy.ops.depth.regenerate.poll()
        assert bpy.ops.depth.regenerate(seed=9) == {"FINISHED"}
    assert bpy.ops.depth.remove_result() == {"FINISHED"}
    assert snapshot() == before
    assert bpy.ops.depth.texture_multiview(placement="ORBIT", views=1, bake_size="512", view_size=48,
                                           shading="PBR_DISPLACEMENT") == {"FINISHED"}  # relightable: maps implied
    pbr = cube.material_slots[0].material.node_tree.nodes
    assert any(n.bl_idname == "ShaderNodeNormalMap" for n in pbr) and bpy.data.images.get("Cube Depth Albedo")
    assert any(n.bl_idname == "ShaderNodeDisplacement" for n in pbr)
    with bpy.context.temp_override(active_object=cube, object=cube):
        assert bpy.ops.depth.regenerate(seed=4) == {"FINISHED"}  # the record keeps the maps and the shading
    pbr = cube.material_slots[0].material.node_tree.nodes
    assert {"ShaderNodeNormalMap", "ShaderNodeDisplacement"} <= {n.bl_idname for n in pbr}
    assert bpy.ops.depth.remove_result() == {"FINISHED"}
    assert snapshot() == before and not bpy.data.images.get("Cube Depth Albedo")
    img = images.image_from_array("Photo", blue(np.zeros((24, 24, 3))))
    assert bpy.ops.depth.project_image(image=img.name, follow=True, bake_size="512") == {"FINISHED"}
    assert bake_apply.is_baked(cube) and not projection.is_projected(cube)
    assert bpy.ops.depth.remove_result() == {"FINISHED"}
    assert bpy.ops.depth.project_image(image=img.name) == {"FINISHED"} and projection.is_projected(cube)
    assert bpy.ops.depth.bake_textures(bake_size="512") == {"FINISHED"} and bake_apply.is_baked(cube)
    assert bpy.ops.depth.remove_result() == {"FINISHED"}
    assert not bpy.ops.depth.bake_textures.poll()
    assert not any(o.get(bake_apply.KEY_BAKE_STATE) for o in bpy.data.objects)
    curve = bpy.data.objects.new("Path", bpy.data.curves.new("Path", "CURVE"))
    scene.collection.objects.link(curve)
    for obj in scene.objects:
        obj.select_set(obj in (curve, cam))  # no mesh among them: refused, not every mesh textured instead
    with pytest.raises(RuntimeError, match="'Path' \\(curve\\): only meshes can be textured"):
        bpy.ops.depth.texture_multiview(placement="ORBIT", views=1, bake_size="512", view_size=48)
    with pytest.raises(RuntimeError, match="only meshes"):
        bpy.ops.depth.project_image(image=img.name)
    assert snapshot() == before


def test_bake_with_only_unprojected_objects_selected_bakes_nothing(addon) -> None:
    """Bake Projection bakes the selected projected objects, or all of them when none is selected (cameras and
    lights aside): a selection showing no projection is refused, not taken as "bake everything"."""
    from analytic import build

    build()
    img = images.image_from_array("Photo", blue(np.zeros((24, 24, 3))))
    assert bpy.ops.depth.project_image(image=img.name) == {"FINISHED"}
    box, plane = bpy.data.objects["Box"], bpy.data.objects["Plane"]
    mine = mesh_object("Mine", lambda bm: bmesh.ops.create_cube(bm, size=1.0), (50.0, 0.0, 0.0))  # out of view
    for obj in bpy.context.scene.objects:
        obj.select_set(obj is mine)
    with pytest.raises(RuntimeError, match="'Mine' shows no projection to bake"):
        bpy.ops.depth.bake_textures(bake_size="512")
    assert projection.is_projected(box) and projection.is_projected(plane) and not bake_apply.is_baked(box)
    for obj in bpy.context.scene.objects:
        obj.select_set(obj.type == "CAMERA")
    assert bpy.ops.depth.bake_textures(bake_size="512") == {"FINISHED"}
    assert bake_apply.is_baked(box) and bake_apply.is_baked(plane)
