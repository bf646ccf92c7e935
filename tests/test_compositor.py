# SPDX-License-Identifier: GPL-3.0-or-later
"""Our compositor group: made once, renders the overlay and depth of field, leaves the user's tree alone."""

from __future__ import annotations

import bpy
import numpy as np
import OpenEXR
import pytest

from depth_addon.blender import compat
from depth_addon.blender import compositor as comp
from depth_addon.blender.compat import set_image_format
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.blender.images import image_from_array
from depth_addon.errors import BadInput


def workbench_render(scene: bpy.types.Scene, path) -> np.ndarray:
    """Workbench, AA off, linear float EXR of the composited result; H×W×4, row 0 = top."""
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.render_aa = "OFF"
    scene.view_settings.view_transform = "Standard"
    ims = scene.render.image_settings
    set_image_format(ims, "OPEN_EXR", "RGBA", "32")
    ims.exr_codec = "NONE"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
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
    assert comp.find_compositor_group() == second
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
    assert not comp.is_compositor_active(scene) and not any(k.startswith("depth_addon") for k in scene.keys())
    assert snapshot(mine) == before
    assert not comp.restore_compositor(scene)


def test_restore_to_no_compositor():
    scene = scene_32()
    assert compat.scene_compositor(scene) is None
    comp.activate_compositor(scene)  # makes the group with defaults
    assert compat.is_group_active(scene, comp.find_compositor_group())
    comp.restore_compositor(scene)
    assert compat.scene_compositor(scene) is None


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
