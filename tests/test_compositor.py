# SPDX-License-Identifier: GPL-3.0-or-later
"""Our compositor group: made once, renders the overlay and depth of field, leaves the user's tree alone."""

from __future__ import annotations

import bpy
import numpy as np
import OpenEXR
import pytest
from test_projection import raycast_depth

from depth_addon.blender import compat
from depth_addon.blender.compat import set_image_format
from depth_addon.blender.compositor import group as comp
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.blender.images import image_from_array
from depth_addon.errors import BadInput


def workbench_render(scene: bpy.types.Scene, path) -> np.ndarray:
    """Workbench, AA off, linear float EXR of the composited result of ``scene`` (any scene of the file);
    H×W×4, row 0 = top."""
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.render_aa = "OFF"
    scene.view_settings.view_transform = "Standard"
    ims = scene.render.image_settings
    set_image_format(ims, "OPEN_EXR", "RGBA", "32")
    ims.exr_codec = "NONE"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True, scene=scene.name)
    return np.asarray(OpenEXR.File(str(path)).parts[0].channels["RGBA"].pixels, np.float32)


def scene_32() -> bpy.types.Scene:
    return build_demo_scene(bpy.context.scene, (32, 32))


def red_image(size: int = 16) -> bpy.types.Image:
    return image_from_array("Red", np.tile(np.array([1.0, 0.0, 0.0], np.float32), (size, size, 1)))


def _value(v):
    if hasattr(v, "__len__") and not isinstance(v, str):
        return tuple(round(float(x), 6) for x in v)
    return round(v, 6) if isinstance(v, float) else v


def snapshot(tree: bpy.types.NodeTree) -> dict:
    """Nodes (type, flags, editable scalar properties, input values), links and interface of a tree."""
    nodes = {}
    for node in tree.nodes:
        props = {p.identifier: _value(getattr(node, p.identifier)) for p in node.bl_rna.properties
                 if not p.is_readonly and p.type in {"BOOLEAN", "INT", "FLOAT", "ENUM", "STRING", "POINTER"}
                 and p.identifier not in {"select", "show_options", "show_preview"} and p.type != "POINTER"}
        props["pointers"] = {p.identifier: getattr(getattr(node, p.identifier), "name", None)
                             for p in node.bl_rna.properties if p.type == "POINTER" and not p.is_readonly}
        inputs = [(s.identifier, _value(s.default_value) if hasattr(s, "default_value") else None)
                  for s in node.inputs]
        nodes[node.name] = (node.bl_idname, props, inputs)
    links = sorted((lk.from_node.name, lk.from_socket.identifier, lk.to_node.name, lk.to_socket.identifier)
                   for lk in tree.links)
    interface = [(i.name, i.item_type, getattr(i, "in_out", None)) for i in tree.interface.items_tree]
    return {"nodes": nodes, "links": links, "interface": interface, "keys": sorted(tree.keys())}


def user_group(scene: bpy.types.Scene) -> bpy.types.NodeTree:
    """A user's compositor on ``scene``: Render Layers → Mix (Multiply, 0.3) with a colour → output."""
    ng = compat.ensure_scene_compositor(scene, "My Look")
    rl = next((n for n in ng.nodes if n.bl_idname == "CompositorNodeRLayers"), None)
    rl = rl or ng.nodes.new("CompositorNodeRLayers")
    rl.scene = scene
    mix = compat.new_color_mix(ng)
    mix.blend_type, mix.name, mix.label = "MULTIPLY", "Tint", "My tint"
    factor, a, b, result = compat.color_mix_sockets(mix)
    factor.default_value = 0.3
    b.default_value = (0.2, 0.5, 0.9, 1.0)
    mix.location = (200, 40)
    ng.links.new(rl.outputs["Image"], a)
    ng.links.new(result, compat.compositor_output(ng))
    ng["note"] = "mine"
    return ng


def test_group_is_made_once_and_updated_in_place():
    scene = scene_32()
    impostor = bpy.data.node_groups.new(comp.GROUP_NAME, "CompositorNodeTree")  # a user's group, same name
    impostor.nodes.new("CompositorNodeBlur")
    first = comp.ensure_compositor_group(scene, red_image(), opacity=0.25, use_dof=True)
    count = len(bpy.data.node_groups)
    second = comp.ensure_compositor_group(scene, red_image(), opacity=0.75, blend="SCREEN", use_dof=False)
    assert first == second and len(bpy.data.node_groups) == count == 2
    assert len(impostor.nodes) == 1 and comp.KEY_OWNED not in impostor
    assert comp.find_compositor_group(scene) == second
    names = {n.name for n in second.nodes}
    assert comp.N_DEFOCUS not in names and {comp.N_RENDER, comp.N_IMAGE, comp.N_MIX} <= names
    mix = second.nodes[comp.N_MIX]
    assert mix.blend_type == "SCREEN" and compat.color_mix_sockets(mix)[0].default_value == pytest.approx(0.75)
    third = comp.ensure_compositor_group(scene, None, use_dof=True, focus_distance=4.0)
    assert third == first and comp.N_DEFOCUS in third.nodes and comp.N_COC[0] in third.nodes
    assert compat.color_mix_sockets(third.nodes[comp.N_MIX])[0].default_value == 0.0  # no image: nothing mixed
    assert len({n.name for n in third.nodes}) == len(third.nodes)
    before = snapshot(third)
    with pytest.raises(BadInput):
        comp.ensure_compositor_group(scene, blend="NOPE", use_dof=False)
    with pytest.raises(BadInput):
        comp.ensure_compositor_group(scene, opacity=2.0)
    assert snapshot(third) == before  # refused before touching anything


def test_user_compositor_untouched_and_restored(tmp_out):
    scene = scene_32()
    mine = user_group(scene)
    scene.render.use_compositing = False
    scene.view_layers[0].use_pass_z = False
    before = snapshot(mine)

    comp.ensure_compositor_group(scene, red_image(), opacity=0.5, use_dof=True)
    ours = comp.activate_compositor(scene)
    comp.activate_compositor(scene)  # twice: the first saved state is kept
    assert compat.is_group_active(scene, ours) and scene.render.use_compositing
    assert scene.view_layers[0].use_pass_z and comp.is_compositor_active(scene)
    assert mine.users >= 1  # still referenced while not in use, so saving cannot drop it
    workbench_render(scene, tmp_out / "ours.exr")
    assert comp.restore_compositor(scene)

    assert compat.scene_compositor(scene) == mine and not compat.is_group_active(scene, ours)
    assert scene.render.use_compositing is False and scene.view_layers[0].use_pass_z is False
    # ``depth_addon_*`` keys are ours; 4.x also lists the registered ``depth_addon`` settings in keys()
    assert not comp.is_compositor_active(scene) and not any(k.startswith("depth_addon_") for k in scene.keys())
    assert snapshot(mine) == before
    assert not comp.restore_compositor(scene)


def test_restore_to_no_compositor():
    scene = scene_32()
    assert compat.scene_compositor(scene) is None
    users = scene.users
    comp.activate_compositor(scene)  # makes the group with defaults
    assert compat.is_group_active(scene, comp.find_compositor_group(scene))
    comp.restore_compositor(scene)
    assert compat.scene_compositor(scene) is None
    # nothing of ours is left to keep the scene referenced: the group is made again by the next set-up
    assert not [g for g in bpy.data.node_groups if g.get(comp.KEY_OWNED)] and scene.users == users


def test_render_through_group_mixes_the_image(tmp_out):
    scene = scene_32()
    raw = workbench_render(scene, tmp_out / "raw.exr")[..., :3]
    comp.ensure_compositor_group(scene, red_image(), opacity=1.0, use_dof=False)
    comp.activate_compositor(scene)
    red = workbench_render(scene, tmp_out / "red.exr")[..., :3]
    # a 16² image stretched over the 32² render (4.x filters the outermost pixels, so look inside)
    assert np.allclose(red[1:-1, 1:-1], [1.0, 0.0, 0.0], atol=1e-3)
    comp.ensure_compositor_group(scene, red_image(), opacity=0.5, use_dof=False)
    half = workbench_render(scene, tmp_out / "half.exr")[..., :3]
    assert np.allclose(half[1:-1, 1:-1], (0.5 * raw + 0.5 * np.array([1.0, 0.0, 0.0]))[1:-1, 1:-1], atol=1e-3)
    comp.restore_compositor(scene)
    again = workbench_render(scene, tmp_out / "again.exr")[..., :3]
    assert np.allclose(again, raw, atol=1e-5) and not np.allclose(raw, red, atol=0.1)


def test_each_scene_composites_through_its_own_group(tmp_out):
    a = scene_32()
    b = build_demo_scene(bpy.data.scenes.new("Other"), (32, 32))
    b.camera.location.x += 1.0  # another view of the same kind of scene
    raw_a, raw_b = (workbench_render(s, tmp_out / f"raw_{s.name}.exr")[..., :3] for s in (a, b))
    blue = image_from_array("Blue", np.tile(np.array([0.0, 0.0, 1.0], np.float32), (16, 16, 1)))
    comp.ensure_compositor_group(a, red_image(), opacity=1.0, use_dof=False)
    comp.activate_compositor(a)
    comp.ensure_compositor_group(b, blue, opacity=0.5, use_dof=False)
    comp.activate_compositor(b)
    assert comp.find_compositor_group(a) != comp.find_compositor_group(b)
    assert comp.find_compositor_group(a).name == comp.GROUP_NAME
    out_a, out_b = (workbench_render(s, tmp_out / f"ours_{s.name}.exr")[..., :3] for s in (a, b))
    assert np.allclose(out_a[1:-1, 1:-1], [1.0, 0.0, 0.0], atol=1e-3)  # its own layer, not the other scene's
    assert np.allclose(out_b[1:-1, 1:-1], (0.5 * raw_b + [0.0, 0.0, 0.5])[1:-1, 1:-1], atol=1e-3)  # its own render
    assert not np.allclose(raw_a, raw_b, atol=0.05)
    assert comp.compositor_params(a)["image"] == "Red" and comp.compositor_params(b)["image"] == "Blue"
    comp.restore_compositor(b)
    assert np.allclose(workbench_render(b, tmp_out / "back.exr")[..., :3], raw_b, atol=1e-5)
    assert np.allclose(workbench_render(a, tmp_out / "still.exr")[1:-1, 1:-1, :3], [1.0, 0.0, 0.0], atol=1e-3)


def test_a_group_saved_for_every_scene_is_taken_over_by_the_scene_using_it(tmp_out):
    """Files of earlier versions have one group, not pointing at any scene: the scene composited through it
    keeps it, another scene gets its own, and restoring either leaves the other working."""
    a = scene_32()
    raw_a = workbench_render(a, tmp_out / "raw.exr")[..., :3]
    comp.ensure_compositor_group(a, red_image(), opacity=1.0, use_dof=False)
    shared = comp.activate_compositor(a)
    del shared[comp.KEY_SCENE]  # as saved before groups had a scene
    b = build_demo_scene(bpy.data.scenes.new("Other"), (32, 32))
    assert comp.find_compositor_group(b) is None  # a composites through it: not b's to take
    own = comp.activate_compositor(b)
    assert own != shared and comp.find_compositor_group(a) == shared and comp.find_compositor_group(b) == own
    assert own.name == f"{comp.GROUP_NAME} (Other)"
    comp.restore_compositor(a)
    assert compat.is_group_active(b, own) and not compat.is_group_active(a, shared)
    assert np.allclose(workbench_render(a, tmp_out / "a.exr")[..., :3], raw_a, atol=1e-5)


def test_a_copied_scene_edits_a_group_of_its_own():
    """A scene copied with its compositor (Full Copy; in 4.x its node tree runs the original's group) shows the
    original's settings, and its first edit gives it its own group: the original's stays as it was."""
    a = scene_32()
    comp.ensure_compositor_group(a, red_image(), opacity=1.0, use_dof=False)
    comp.activate_compositor(a)
    b = a.copy()
    assert comp.is_compositor_active(b) and comp.compositor_params(b)["opacity"] == 1.0
    own = comp.refresh_compositor(b, opacity=0.25)
    assert own != comp.find_compositor_group(a) and compat.is_group_active(b, own)
    assert comp.compositor_params(a)["opacity"] == 1.0 and comp.compositor_params(b)["opacity"] == 0.25
    comp.restore_compositor(a)
    comp.restore_compositor(b)
    assert not [g for g in bpy.data.node_groups if g.get(comp.KEY_OWNED)]


def test_the_user_s_compositor_comes_back_after_our_group_was_deleted():
    scene = scene_32()
    mine = user_group(scene)
    comp.activate_compositor(scene)
    bpy.data.node_groups.remove(comp.find_compositor_group(scene))  # the user deleted ours (Outliner)
    assert comp.restore_compositor(scene)
    assert compat.scene_compositor(scene) == mine
    if not compat.uses_compositor_groups():  # 4.x: our nodes are gone and the user's output is on again
        assert not [n for n in scene.node_tree.nodes if compat.TAG_NODE in n]
        assert not any(n.mute for n in scene.node_tree.nodes if n.bl_idname == "CompositorNodeComposite")


def test_a_transparent_film_stays_transparent_under_the_ai_layer(tmp_out):
    """The AI layer changes colour only: where the render is transparent (Film Transparent), it stays so."""
    scene = scene_32()
    scene.render.film_transparent = True
    raw = workbench_render(scene, tmp_out / "raw.exr")
    assert (raw[..., 3] < 0.01).any() and (raw[..., 3] > 0.99).any()  # sky and objects
    comp.ensure_compositor_group(scene, red_image(), opacity=0.5, use_dof=False, fog_density=0.1)
    comp.activate_compositor(scene)
    ours = workbench_render(scene, tmp_out / "ours.exr")
    assert np.allclose(ours[1:-1, 1:-1, 3], raw[1:-1, 1:-1, 3], atol=1e-3)
    assert not np.allclose(ours[..., :3], raw[..., :3], atol=0.05)


def test_depth_of_field_blurs_by_depth(tmp_out):
    scene = scene_32()
    raw = workbench_render(scene, tmp_out / "raw.exr")[..., :3]
    comp.ensure_compositor_group(scene, None, use_dof=False)
    comp.activate_compositor(scene)
    plain = workbench_render(scene, tmp_out / "plain.exr")[..., :3]
    assert np.allclose(plain, raw, atol=1e-5)

    scene.camera.data.dof.focus_distance = 3.0  # Defocus reads the scene camera when no distance is given
    comp.ensure_compositor_group(scene, None, use_dof=True, fstop=0.05)
    native = workbench_render(scene, tmp_out / "native.exr")[..., :3]
    scene.camera.data.dof.focus_distance = 10.0
    comp.ensure_compositor_group(scene, None, use_dof=True, fstop=0.05, focus_distance=3.0)
    ours = workbench_render(scene, tmp_out / "ours.exr")[..., :3]
    assert scene.camera.data.dof.focus_distance == 10.0  # an explicit distance leaves the camera alone
    assert np.abs(native - raw).mean() > 0.01 and np.abs(ours - raw).mean() > 0.01
    assert np.abs(ours - native).mean() < 0.25 * np.abs(native - raw).mean()  # same thin-lens blur


def two_planes() -> bpy.types.Scene:
    """Camera at the origin looking down -Z (frame ±0.5 on z=-1): a card at Z=3 in the middle, a wall at Z=6."""
    from test_projection import plane

    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = 32
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.data.lens, cam.data.sensor_width = 36.0, 36.0
    scene.collection.objects.link(cam)
    scene.camera = cam
    plane("Card", 1.0, -3.0, (0.2, 0.2, 0.2, 1.0))
    plane("Wall", 40.0, -6.0, (0.2, 0.2, 0.2, 1.0))
    return scene


def test_depth_fog_thickens_with_distance(tmp_out):
    scene = two_planes()
    raw = workbench_render(scene, tmp_out / "raw.exr")[..., :3]
    comp.ensure_compositor_group(scene, None, use_dof=False, fog_density=0.2, fog_color=(1.0, 0.0, 1.0))
    comp.activate_compositor(scene)
    fog = workbench_render(scene, tmp_out / "fog.exr")[..., :3]
    magenta = np.array([1.0, 0.0, 1.0])
    for (r, c), z in (((16, 16), 3.0), ((2, 2), 6.0)):  # card pixel, wall pixel
        f = 1.0 - np.exp(-0.2 * z)
        assert np.allclose(fog[r, c], raw[r, c] * (1 - f) + magenta * f, atol=2e-3), (z, fog[r, c])
    comp.ensure_compositor_group(scene, None, use_dof=False, fog_density=0.2, fog_start=4.0, fog_color=(1, 0, 1))
    late = workbench_render(scene, tmp_out / "late.exr")[..., :3]
    assert np.allclose(late[16, 16], raw[16, 16], atol=1e-3)  # nearer than the start: clear
    assert not np.allclose(late[2, 2], raw[2, 2], atol=0.05)
    scene.unit_settings.scale_length = 0.01  # the same planes in centimetres: the density stays per metre
    comp.ensure_compositor_group(scene, None, use_dof=False, fog_density=0.2, fog_color=(1.0, 0.0, 1.0))
    thin = workbench_render(scene, tmp_out / "thin.exr")[..., :3]
    f = 1.0 - np.exp(-0.2 * 6.0 * 0.01)  # the wall is 6 units = 6 cm away
    assert np.allclose(thin[2, 2], raw[2, 2] * (1 - f) + magenta * f, atol=2e-3), thin[2, 2]
    scene.unit_settings.scale_length = 1.0
    names = {n.name for n in comp.find_compositor_group(scene).nodes}
    comp.ensure_compositor_group(scene, None, use_dof=False)
    assert not any("Fog" in n.name for n in comp.find_compositor_group(scene).nodes) and any("Fog" in n for n in names)
    assert len([g for g in bpy.data.node_groups if g.get(comp.KEY_OWNED)]) == 1  # never duplicated


def test_relight_shades_the_ai_layer_by_depth_normals(tmp_out):
    from depth_addon.blender.compositor import fx as compositor_fx
    from depth_addon.camera import CameraModel

    scene = two_planes()
    white = image_from_array("White", np.ones((16, 16, 3), np.float32))
    cam = CameraModel.from_fov(16, 16, 53.13)
    x = cam.pixel_plane_coords()[0]
    depth = np.tile(4.0 + 3.0 * x[None, :] * np.where(x[None, :] < 0, -1.0, 1.0), (16, 1)).astype(np.float32)
    normals = compositor_fx.normals_image("Normals", depth, cam)  # a ridge: the left half faces left
    n = np.array(normals.pixels[:]).reshape(16, 16, 4)[::-1, :, :3]
    assert n[8, 2, 0] < -0.3 and n[8, 13, 0] > 0.3 and (n[8, 2:14, 2] > 0.5).all()
    light = (-1.0, 0.0, 0.0)  # from the left, in camera space
    comp.ensure_compositor_group(scene, white, opacity=1.0, use_dof=False, normals=normals, light_direction=light,
                                 relight=1.0)
    comp.activate_compositor(scene)
    lit = workbench_render(scene, tmp_out / "lit.exr")[..., :3]
    expected_left = 2.0 * max(0.0, float(n[8, 3] @ np.array(light)))
    assert np.allclose(lit[16, 6], expected_left, atol=0.03)  # left half faces the light: brighter than white
    assert np.allclose(lit[16, 26], 0.0, atol=0.03)  # right half faces away: dark
    comp.ensure_compositor_group(scene, white, opacity=1.0, use_dof=False, normals=normals, relight=0.0)
    plain = workbench_render(scene, tmp_out / "plain.exr")[..., :3]
    assert np.allclose(plain[1:-1, 1:-1], 1.0, atol=1e-3)
    with pytest.raises(BadInput):
        comp.ensure_compositor_group(scene, white, relight=0.5)  # no normal image
    with pytest.raises(BadInput):
        compositor_fx.light_in_camera(cam, (0.0, 0.0, 0.0))


def test_focus_picked_from_a_pixel_keeps_that_depth_sharp(tmp_out):
    from depth_addon.blender.compositor import fx as compositor_fx
    from depth_addon.texturing.fusion import as_soa, project_points

    scene = scene_32()
    raw = workbench_render(scene, tmp_out / "raw.exr")[..., :3]
    depth, cam = api_depth(scene)
    box = bpy.data.objects["Box"]
    col, row, _z = project_points(cam, as_soa(np.array([list(box.location)])))
    x, y = int(col[0]), int(row[0])
    focus = compositor_fx.focus_from_pixel(depth, x, y)  # the depth under the box's centre
    assert focus == pytest.approx(float(depth[y, x]), rel=0.05)
    assert compositor_fx.focus_from_object(scene, box) == pytest.approx(focus, rel=0.15)
    with pytest.raises(BadInput):
        compositor_fx.focus_from_pixel(depth, 0, 0)  # the sky
    with pytest.raises(BadInput):
        compositor_fx.focus_from_pixel(depth, 99, 0)
    comp.ensure_compositor_group(scene, None, use_dof=True, fstop=0.02, focus_distance=focus)
    comp.activate_compositor(scene)
    sharp_near = workbench_render(scene, tmp_out / "near.exr")[..., :3]
    comp.ensure_compositor_group(scene, None, use_dof=True, fstop=0.02, focus_distance=25.0)
    sharp_far = workbench_render(scene, tmp_out / "far.exr")[..., :3]
    close = np.isfinite(depth) & (np.abs(depth - focus) < 0.15 * focus)
    far = np.isfinite(depth) & (depth > 2.5 * focus)
    assert close.sum() > 10 and far.sum() > 10
    err = lambda img, m: float(np.abs(img - raw)[m].mean())  # noqa: E731
    assert err(sharp_near, close) < 0.5 * err(sharp_far, close)  # focused there: the near object stays sharp
    assert err(sharp_far, far) < err(sharp_near, far)


def api_depth(scene: bpy.types.Scene) -> tuple:
    """Planar depth of the scene camera at 32² and its camera model (ray cast, see :func:`raycast_depth`)."""
    from depth_addon.blender.camera import camera_model

    cam = camera_model(scene, scene.camera, 32, 32)
    return raycast_depth(scene, cam), cam
