# SPDX-License-Identifier: GPL-3.0-or-later
"""Projection write-back: rendered colours, exact restore, occlusion, frozen projector, image safety."""

from __future__ import annotations

import bpy
import numpy as np
import OpenEXR
import pytest

from depth_addon.blender import images
from depth_addon.blender.camera import camera_model
from depth_addon.blender.compat import ensure_node_tree, set_image_format
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.blender.writeback import projection as proj
from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput
from depth_addon.io.png import to_byte


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    v = np.round(np.clip(v, 0, 1) * 255.0) / 255.0  # the image keeps 8 bits per channel
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def cycles_render(scene: bpy.types.Scene, path) -> np.ndarray:
    """Render with Cycles, 1 spp, no filtering, linear float EXR; return H×W×4 (row 0 = top)."""
    scene.render.engine = "CYCLES"
    c = scene.cycles
    c.samples, c.use_adaptive_sampling, c.use_denoising = 1, False, False
    c.pixel_filter_type, c.filter_width, c.max_bounces = "BOX", 0.01, 0
    scene.view_settings.view_transform, scene.view_settings.look = "Standard", "None"
    scene.render.film_transparent = True
    ims = scene.render.image_settings
    set_image_format(ims, "OPEN_EXR", "RGBA", "32")
    ims.exr_codec = "NONE"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return np.asarray(OpenEXR.File(str(path)).parts[0].channels["RGBA"].pixels, np.float32)


def sample_image(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    checker = ((xx // 4 + yy // 4) % 2) * 0.7 + 0.15
    return np.stack([xx / (w - 1), yy / (h - 1), checker], -1).astype(np.float32)


@pytest.mark.parametrize("lens", ["PERSP", "ORTHO"])
def test_render_from_capture_camera_reproduces_image(tmp_out, lens):
    scene = build_demo_scene(bpy.context.scene, (64, 48))
    scene.camera.data.type, scene.camera.data.ortho_scale = lens, 14.0
    rgb = sample_image(48, 64)
    cm = camera_model(scene, scene.camera, 64, 48)
    assert cm.ortho == (lens == "ORTHO")
    result = proj.project_image(scene, cm, images.image_from_array("Pic", rgb))
    assert bool(result.projector["ortho"]) == cm.ortho
    assert {o.name for o in result.objects} == {"Ground", "Box", "Sphere", "Column", "Wall"}
    out = cycles_render(scene, tmp_out / "proj.exr")
    hit = out[..., 3] > 0.999  # sky pixels are transparent and not projected
    assert hit.mean() > 0.5
    err = np.abs(out[..., :3] - srgb_to_linear(rgb))[hit]
    assert err.max() < 5e-3, err.max()  # a one-pixel shift of the gradient alone would be ~0.015


def slot_snapshot() -> dict:
    return {o.name: [s.material.name if s.material else None for s in o.material_slots]
            for o in bpy.data.objects if o.type == "MESH"}


def test_remove_projection_restores_everything_exactly():
    scene = build_demo_scene(bpy.context.scene, (32, 24))
    box = bpy.data.objects["Box"]
    twin = bpy.data.objects.new("Twin", bpy.data.meshes.new("Twin"))  # same material as the box
    twin.data.materials.append(box.data.materials[0])
    twin.data.materials.append(None)  # an empty slot
    bare = bpy.data.objects.new("Bare", bpy.data.meshes.new("Bare"))  # no slots at all
    for ob in (twin, bare):
        scene.collection.objects.link(ob)
    hidden = bpy.data.objects.new("Hidden", bpy.data.meshes.new("Hidden"))
    hidden.hide_render = True
    scene.collection.objects.link(hidden)
    box.data.materials[0].use_fake_user = False
    bpy.data.materials["Wall Material"].use_fake_user = True
    before = slot_snapshot()
    originals = {m.name: (len(m.node_tree.nodes), len(m.node_tree.links), m.use_fake_user) for m in bpy.data.materials}

    cm = camera_model(scene, scene.camera, 32, 24)
    img = images.image_from_array("Pic", sample_image(24, 32))
    with pytest.raises(BadInput):
        proj.project_image(scene, cm, img, interpolation="Blurry")
    first = proj.project_image(scene, cm, img, objects=[bare, box, bare, twin] + [
        bpy.data.objects[n] for n in ("Ground", "Sphere", "Column", "Wall")])
    first_names = [m.name for m in first.materials]
    result = proj.project_image(scene, cm, img, depth_image=images.float_image_from_array("D", np.full((24, 32), 5.0)))
    projectors = [o for o in bpy.data.objects if proj.KEY_PROJECTOR in o]
    assert projectors == [result.projector]  # the second projection replaced the first
    assert set(first_names) == {m.name for m in result.materials}  # same names: the old ones are gone
    assert len([m for m in bpy.data.materials if m.name.endswith("[Depth]") or "[Depth]." in m.name]) == 6
    assert not proj.is_projected(hidden) and len(hidden.material_slots) == 0
    assert twin.material_slots[0].material == box.material_slots[0].material  # one copy per original
    assert twin.material_slots[0].material.name == "Box Material [Depth]"
    assert len(bare.material_slots) == 1 and bare.material_slots[0].material is not None
    assert all(s.material.name.endswith("[Depth]") for o in result.objects for s in o.material_slots)
    assert len(result.materials) == 6  # 5 demo materials + 1 grey base (empty slots share it)
    bpy.data.orphans_purge(do_recursive=True)  # unused originals must survive a purge
    for name, (n_nodes, n_links, fake) in originals.items():
        mat = bpy.data.materials[name]
        assert (len(mat.node_tree.nodes), len(mat.node_tree.links)) == (n_nodes, n_links)
        assert mat.use_fake_user == fake  # the user's flags are never touched
    assert result.projector.users_collection[0].name == proj.PROJECTOR_COLLECTION
    projector_name = result.projector.name

    assert proj.remove_projection() == 7  # 5 demo objects, Twin, Bare
    assert slot_snapshot() == before
    assert len(bare.material_slots) == 0
    assert {m.name: (len(m.node_tree.nodes), len(m.node_tree.links), m.use_fake_user)
            for m in bpy.data.materials} == originals
    assert not any(k.startswith("depth_addon") for o in bpy.data.objects for k in o.keys())
    assert projector_name not in bpy.data.objects
    assert proj.PROJECTOR_COLLECTION not in bpy.data.collections


def test_projector_is_frozen_and_survives_reopening(tmp_out):
    scene = build_demo_scene(bpy.context.scene, (32, 24))
    cm = camera_model(scene, scene.camera, 32, 24)
    projector = proj.create_projector(scene, cm)
    name = projector.name
    frozen = [list(r) for r in projector.matrix_world]
    assert np.allclose(frozen, cm.matrix, atol=1e-6)
    scene.camera.location.x += 3.0
    scene.camera.rotation_euler.z += 0.4
    bpy.context.view_layer.update()
    assert np.allclose([list(r) for r in projector.matrix_world], frozen)
    path = str(tmp_out / "frozen.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    again = bpy.data.objects[name]
    model = proj.projector_camera_model(again)
    assert (model.width, model.height, model.ortho) == (32, 24, False)
    assert np.allclose(model.frame, cm.frame) and np.allclose(model.matrix, cm.matrix, atol=1e-6)
    assert list(again["frame"]) == pytest.approx(list(cm.frame))


def plane(name: str, size: float, z: float, color) -> bpy.types.Object:
    h = size / 2
    me = bpy.data.meshes.new(name)
    me.from_pydata([(-h, -h, z), (h, -h, z), (h, h, z), (-h, h, z)], [], [(0, 1, 2, 3)])
    mat = bpy.data.materials.new(f"{name} Glow")
    nodes = ensure_node_tree(mat).nodes
    nodes.remove(nodes["Principled BSDF"])
    glow = nodes.new("ShaderNodeEmission")
    glow.inputs["Color"].default_value = color
    mat.node_tree.links.new(glow.outputs[0], nodes["Material Output"].inputs["Surface"])
    me.materials.append(mat)
    ob = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(ob)
    return ob


def test_occluded_surface_keeps_original_colour_and_texture_stays_put(tmp_out):
    """Capture camera at the origin looking down -Z; a 1 m card at z=-3 shadows a wall at z=-6."""
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = n = 32
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.data.lens, cam.data.sensor_width = 36.0, 36.0  # frame ±0.5 on z = -1
    scene.collection.objects.link(cam)
    scene.camera = cam
    plane("Card", 1.0, -3.0, (0.0, 1.0, 0.0, 1.0))
    plane("Wall", 20.0, -6.0, (0.0, 1.0, 0.0, 1.0))
    bpy.context.view_layer.update()
    cm = camera_model(scene, cam, n, n)
    assert np.allclose(cm.frame, (-0.5, 0.5, -0.5, 0.5))
    x, y = cm.pixel_plane_coords()
    depth = np.where((np.abs(3 * x[None, :]) < 0.5) & (np.abs(3 * y[:, None]) < 0.5), 3.0, 6.0)
    rgb = sample_image(n, n)
    img = images.image_from_array("Pic", rgb)

    cam.location.x = 2.0  # look again from 2 m to the right: the card's shadow on the wall shows
    bpy.context.view_layer.update()
    moved = camera_model(scene, cam, n, n)
    mx, my = moved.pixel_plane_coords()
    wx, wy = np.meshgrid(2.0 + 6.0 * mx, 6.0 * my)  # wall point seen by each pixel (all wall)
    col = np.floor((wx / 6.0 + 0.5) * n).astype(int)  # the projector texel that lands there
    row = np.floor((0.5 - wy / 6.0) * n).astype(int)
    in_frame = (col >= 0) & (col < n) & (row >= 0) & (row < n)
    texel = np.zeros((n, n, 3))
    texel[in_frame] = srgb_to_linear(rgb)[row[in_frame], col[in_frame]]
    shadow = in_frame & (depth[row.clip(0, n - 1), col.clip(0, n - 1)] < 4.0)
    green = np.array([0.0, 1.0, 0.0])
    assert 40 < shadow.sum() and (in_frame & ~shadow).sum() > 40 and (~in_frame).sum() > 40

    proj.project_image(scene, cm, img, interpolation="Closest")
    naive = cycles_render(scene, tmp_out / "naive.exr")[..., :3]
    assert np.abs(naive[in_frame] - texel[in_frame]).max() < 1e-3  # no depth: image lands in the shadow too
    assert np.abs(naive[~in_frame] - green).max() < 1e-3

    proj.project_image(scene, cm, img, depth_image=images.float_image_from_array("Depth", depth),
                       interpolation="Closest")
    seen = cycles_render(scene, tmp_out / "occluded.exr")[..., :3]
    lit = in_frame & ~shadow
    assert np.abs(seen[lit] - texel[lit]).max() < 1e-3
    assert np.abs(seen[shadow] - green).max() < 1e-3  # hidden from the projector: original colour
    assert np.abs(seen[~in_frame] - green).max() < 1e-3


def test_image_helpers_never_overwrite_user_images():
    user = bpy.data.images.new("Pic", 2, 2)
    user.pixels.foreach_set(np.full(16, 0.25, np.float32))
    user_pixels = list(user.pixels)
    ours = images.image_from_array("Pic", np.ones((3, 4, 3), np.float32))
    assert ours != user and ours.name != "Pic" and tuple(ours.size) == (4, 3)
    assert list(user.pixels) == user_pixels and tuple(user.size) == (2, 2) and "depth_addon_owned" not in user
    again = images.image_from_array(ours.name, np.zeros((5, 6, 3), np.float32))
    assert again == ours and tuple(again.size) == (6, 5) and len(bpy.data.images) == 2
    px = np.array(again.pixels[:]).reshape(5, 6, 4)
    assert np.allclose(px[..., :3], 0.0) and np.allclose(px[..., 3], 1.0)
    rows = np.arange(3, dtype=np.float32)[:, None] * np.ones((3, 2))
    depth = images.float_image_from_array("Depth", np.where(rows == 0, np.inf, rows + 1.0))
    assert depth.is_float and depth.colorspace_settings.name == "Non-Color"
    stored = np.array(depth.pixels[:]).reshape(3, 2, 4)[::-1, :, 0]  # back to row 0 = top
    assert np.allclose(stored, [[images.FAR_DEPTH] * 2, [2.0] * 2, [3.0] * 2])
    with pytest.raises(BadInput):
        images.image_from_array("Bad", np.ones((3, 4, 2)))


def test_pixels_are_stored_bottom_up_with_or_without_opencv(monkeypatch):
    """Row 0 of an array is the image's top unless ``bottom_up``; grey arrays fill three channels; alpha is 1.
    The numpy route (a Python without OpenCV) stores exactly what the OpenCV route stores."""
    rgb = np.random.default_rng(3).random((5, 7, 3), dtype=np.float32)
    grey = rgb[..., 1].copy()

    def stored() -> list[np.ndarray]:
        out = []
        for i, (arr, up) in enumerate(((rgb, False), (rgb, True), (grey, False), (rgb[:, :, ::-1][..., ::-1], True))):
            im = images.image_from_array(f"Rows{i}", arr, colorspace="Non-Color", float_buffer=True, bottom_up=up)
            px = np.empty(len(im.pixels), np.float32)
            im.pixels.foreach_get(px)
            out.append(px.reshape(5, 7, 4))
        return out

    with_cv = stored()
    assert np.array_equal(with_cv[0][::-1, :, :3], rgb) and np.array_equal(with_cv[1][..., :3], rgb)
    assert np.array_equal(with_cv[2][::-1], np.concatenate([np.repeat(grey[..., None], 3, 2), np.ones((5, 7, 1))], 2))
    assert np.array_equal(with_cv[3], with_cv[1]) and (with_cv[0][..., 3] == 1.0).all()
    for i, (arr, up) in enumerate(((rgb, False), (rgb, True), (grey, False))):  # prepared on a worker: the same
        im = images.image_from_array(f"Ready{i}", images.pixels(arr, bottom_up=up), colorspace="Non-Color",
                                     float_buffer=True)
        px = np.empty(len(im.pixels), np.float32)
        im.pixels.foreach_get(px)
        assert tuple(im.size) == (7, 5) and np.array_equal(px.reshape(5, 7, 4), with_cv[i])
    with pytest.raises(BadInput, match="H×W×3"):
        images.pixels(np.zeros((5, 7, 2), np.float32))
    monkeypatch.setitem(__import__("sys").modules, "cv2", None)  # import cv2 now fails: the numpy route
    for a, b in zip(stored(), with_cv, strict=True):
        assert np.array_equal(a, b)


def test_encoded_pixels_store_what_a_byte_image_stores_packed_and_in_place(tmp_out):
    """PNG-prepared pixels (a bake's 8-bit images) read back exactly as the float route stores them in a byte
    image, rows included; they arrive packed, replace our image in place, never a user's, and survive a save."""
    rgb = np.random.default_rng(5).uniform(-0.2, 1.2, (6, 9, 3)).astype(np.float32)
    rgb[0, :3, 0] = (0.5 / 255, 1.5 / 255, 254.5 / 255)  # rounding: half up
    grey = np.ascontiguousarray(rgb[..., 2])

    def read(im) -> np.ndarray:
        px = np.empty(len(im.pixels), np.float32)
        im.pixels.foreach_get(px)
        return px.reshape(im.size[1], im.size[0], 4)

    for i, (arr, up) in enumerate(((rgb, False), (rgb, True), (grey, True))):
        plain = images.image_from_array(f"Byte{i}", arr, colorspace="Non-Color", bottom_up=up)
        png = images.image_from_array(f"Png{i}", images.pixels(arr, bottom_up=up, encode=True), colorspace="Non-Color")
        assert png.packed_file is not None and png.source == "FILE" and png.colorspace_settings.name == "Non-Color"
        assert tuple(png.size) == (9, 6) and np.array_equal(read(png), read(plain)), i
        rounded = images.pixels(to_byte(arr), bottom_up=up, encode=True)  # bytes rounded beforehand (bakes' maps)
        assert rounded.png == images.pixels(arr, bottom_up=up, encode=True).png, i
    with pytest.raises(BadInput, match="H×W×3"):
        images.pixels(np.zeros((5, 7, 2), np.uint8), encode=True)
    user = bpy.data.images.new("Png0 user", 2, 2)
    assert images.image_from_array("Png0 user", images.pixels(rgb, encode=True)) != user  # a user's: a new image
    ours = bpy.data.images["Png0"]
    again = images.image_from_array("Png0", images.pixels(rgb[:4, :5] * 0.5, encode=True))
    assert again == ours and tuple(again.size) == (5, 4)  # ours: the same datablock, the new pixels
    assert np.allclose(read(again)[::-1, :, :3], np.clip(rgb[:4, :5] * 0.5, 0, 1), atol=0.5 / 255 + 1e-6)
    with pytest.raises(ValueError, match="float"):
        images.image_from_array("Png0", images.pixels(rgb, encode=True), float_buffer=True)
    expected = read(again)
    again.use_fake_user = True
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_out / "png.blend"))
    bpy.ops.wm.open_mainfile(filepath=str(tmp_out / "png.blend"))
    assert np.array_equal(read(bpy.data.images["Png0"]), expected)


def test_linked_objects_are_skipped_or_refused(tmp_out):
    scene = bpy.context.scene
    source = bpy.data.objects.new("Linked", bpy.data.meshes.new("Linked"))
    lib_path = str(tmp_out / "lib.blend")
    bpy.data.libraries.write(lib_path, {source})
    bpy.data.objects.remove(source)
    with bpy.data.libraries.load(lib_path, link=True) as (_src, dst):
        dst.objects = ["Linked"]
    linked = dst.objects[0]
    scene.collection.objects.link(linked)
    local = plane("Local", 1.0, -2.0, (1.0, 0.0, 0.0, 1.0))
    cm = CameraModel.from_fov(8, 8, 60.0)
    img = images.image_from_array("Pic", np.ones((8, 8, 3), np.float32))
    with pytest.raises(BadInput):
        proj.project_image(scene, cm, img, objects=[linked])
    with pytest.raises(BadInput):
        proj.project_image(scene, cm, img, objects=[proj.create_projector(scene, cm)])
    standalone = proj.create_projector(scene, cm, "Kept").name
    result = proj.project_image(scene, cm, img)
    assert [o.name for o in result.objects] == [local.name]
    assert not proj.is_projected(linked)
    used = result.projector.name
    assert proj.remove_projection([local]) == 1
    assert not proj.is_projected(local) and local.material_slots[0].material.name == "Local Glow"
    assert used not in bpy.data.objects and standalone in bpy.data.objects  # only its own projector goes


def raycast_depth(scene: bpy.types.Scene, cam: CameraModel) -> np.ndarray:
    """Planar depth for a camera model by ray casting pixel centres (no GPU: bpy 4.x can crash at exit after it)."""
    from mathutils import Vector

    m = cam.matrix
    xs, ys = cam.pixel_plane_coords()
    depth = np.full((cam.height, cam.width), np.inf, np.float32)
    graph = bpy.context.evaluated_depsgraph_get()
    for r, y in enumerate(ys):
        for c, x in enumerate(xs):
            ray = m[:3, :3] @ np.array([x, y, -1.0])
            hit, loc, *_ = scene.ray_cast(graph, Vector(m[:3, 3]), Vector(ray / np.linalg.norm(ray)))
            if hit:
                depth[r, c] = -(m[:3, :3].T @ (np.array(loc) - m[:3, 3]))[2]
    return depth


def test_grazing_ground_shows_no_occlusion_acne(tmp_out):
    """A ground plane seen at ~10°: with the per-pixel slack no visible point falls back to its own colour."""
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = 64
    plane("Ground", 200.0, 0.0, (0.0, 1.0, 0.0, 1.0))
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.location, cam.rotation_euler = (0.0, 0.0, 1.0), (np.radians(80.0), 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    bpy.context.view_layer.update()
    shot = camera_model(scene, cam, 64, 64)
    planar = raycast_depth(scene, shot)
    red = images.image_from_array("Red", np.tile(np.array([1.0, 0.0, 0.0], np.float32), (64, 64, 1)))
    cam.location = (0.13, -0.4, 1.0)  # a little behind and aside, a narrower lens: inside the captured view
    cam.data.lens = 70.0
    bpy.context.view_layer.update()

    def fallback(**depth) -> float:
        proj.project_image(scene, shot, red, interpolation="Closest", **depth)
        out = cycles_render(scene, tmp_out / "grazing.exr")
        ground = out[..., 3] > 0.999
        return float((out[..., 1] > 0.5)[ground].mean())

    assert fallback(depth=planar) < 0.005  # slack stored with the depth: clean
    assert fallback(depth_image=images.float_image_from_array("Plain", planar)) > 0.02  # plain depth: acne bands


def test_projecting_a_missing_file_or_into_an_empty_view_is_refused(tmp_out):
    from depth_addon.app import writeback

    scene = build_demo_scene(bpy.context.scene, (32, 24))
    missing = bpy.data.images.new("Missing", 4, 4)
    missing.source, missing.filepath = "FILE", str(tmp_out / "gone.png")
    before = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(BadInput, match="has no pixels"):
        writeback.project_image(scene, "Missing")
    assert sorted(o.name for o in bpy.data.objects) == before  # no projector left behind
    images.image_from_array("Photo", np.full((24, 32, 3), 0.5, np.float32))
    scene.camera.rotation_euler.x += np.pi  # looking up into the sky
    materials = [s.material for o in scene.objects for s in o.material_slots]
    with pytest.raises(BadInput, match="sees no geometry"):
        writeback.project_image(scene, "Photo")
    assert sorted(o.name for o in bpy.data.objects) == before
    assert [s.material for o in scene.objects for s in o.material_slots] == materials


def test_encoded_pixels_clip_to_bytes_and_turn_nan_into_zero():
    import cv2

    arr = np.array([[[np.nan, -1.0, 2.0], [0.5 / 255, 1.5 / 255, np.inf]]], np.float32)
    png = images.pixels(arr, encode=True).png
    assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1].tolist() == [
        [[0, 0, 255], [1, 2, 255]]]
    grey = images.pixels(np.array([[np.nan, -np.inf, 0.2]], np.float32), encode=True).png
    assert cv2.imdecode(np.frombuffer(grey, np.uint8), cv2.IMREAD_UNCHANGED).tolist() == [[0, 0, 51]]
