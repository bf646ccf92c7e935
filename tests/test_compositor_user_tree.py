# SPDX-License-Identifier: GPL-3.0-or-later
"""Our compositor over an artist's own: Glare, a muted Blur, a node group of theirs, Color Balance and a File
Output; Remove gives it back exactly, also where the artist made use of our group in their own tree."""

from __future__ import annotations

import bpy
from test_compositor import red_image, scene_32, snapshot, workbench_render

from depth_addon.blender import compat
from depth_addon.blender.compositor import group as comp


def _fx_group() -> bpy.types.NodeTree:
    """The artist's own node group: Brightness/Contrast."""
    fx = bpy.data.node_groups.new("My FX", "CompositorNodeTree")
    fx.interface.new_socket(name="Image", in_out="INPUT", socket_type="NodeSocketColor")
    fx.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    bright = fx.nodes.new("CompositorNodeBrightContrast")
    fx.links.new(fx.nodes.new("NodeGroupInput").outputs[0], bright.inputs["Image"])
    fx.links.new(bright.outputs["Image"], fx.nodes.new("NodeGroupOutput").inputs[0])
    return fx


def artist_compositor(scene: bpy.types.Scene, tmp) -> bpy.types.NodeTree:
    """Render Layers → Glare → Blur (muted) → ``My FX`` → Color Balance → output and a File Output; Color Balance
    is the active node."""
    tree = compat.ensure_scene_compositor(scene, "My Look")
    for node in list(tree.nodes):
        tree.nodes.remove(node)
    layers = tree.nodes.new("CompositorNodeRLayers")
    glare, blur = tree.nodes.new("CompositorNodeGlare"), tree.nodes.new("CompositorNodeBlur")
    blur.mute = True
    fx = tree.nodes.new("CompositorNodeGroup")
    fx.node_tree = _fx_group()
    balance, files = tree.nodes.new("CompositorNodeColorBalance"), tree.nodes.new("CompositorNodeOutputFile")
    if hasattr(files, "base_path"):
        files.base_path = str(tmp / "files_")
    else:
        files.directory = str(tmp)
    chain = [layers.outputs["Image"], glare.inputs["Image"], glare.outputs["Image"], blur.inputs["Image"],
             blur.outputs["Image"], fx.inputs[0], fx.outputs[0], balance.inputs["Image"],
             balance.outputs["Image"], compat.compositor_output(tree), balance.outputs["Image"], files.inputs[0]]
    for source, target in zip(chain[::2], chain[1::2], strict=True):
        tree.links.new(source, target)
    tree.nodes.active = balance
    return tree


def test_remove_gives_an_artist_s_compositor_back_exactly(tmp_out):
    """Set Up twice, a sidebar change, a render and Remove: nodes, links, values, mute states, the active node,
    ``use_nodes`` and the view transform are as the artist left them."""
    scene = scene_32()
    mine = artist_compositor(scene, tmp_out)
    workbench_render(scene, tmp_out / "mine.exr")  # the render settings it needs, set before the snapshot
    scene.view_settings.view_transform, scene.view_settings.exposure = "AgX", 0.5
    before = snapshot(mine), mine.nodes.active.name, scene.use_nodes, scene.view_settings.view_transform
    comp.ensure_compositor_group(scene, red_image(), opacity=0.5, fog_density=0.2)
    comp.activate_compositor(scene)
    comp.activate_compositor(scene)
    comp.refresh_compositor(scene, fstop=1.4, focus_distance=6.0)
    bpy.ops.render.render(scene=scene.name)
    assert comp.restore_compositor(scene)
    active = getattr(mine.nodes.active, "name", None)
    assert (snapshot(mine), active, scene.use_nodes, scene.view_settings.view_transform) == before
    assert scene.view_settings.exposure == 0.5


def test_remove_keeps_our_group_where_the_artist_uses_it_in_their_own_tree():
    """The artist added our group as a node of their compositor: Remove stops compositing through it but does not
    delete it (their node would be left empty)."""
    scene = scene_32()
    mine = compat.ensure_scene_compositor(scene, "My Look")
    ours = comp.activate_compositor(scene)
    node = mine.nodes.new("CompositorNodeGroup")
    node.node_tree = ours
    assert comp.restore_compositor(scene)
    assert node.node_tree == ours and not compat.is_group_active(scene, ours)
    assert comp.find_compositor_group(scene) == ours  # the next Set Up updates it


def test_file_outputs_set_aside_with_the_artists_compositor_are_named(tmp_out):
    """Blender 5.x composites a scene through one node group: while ours is active, the File Output nodes of the
    artist's compositor write nothing, and the note Set Up Compositor reports names them (4.x runs both trees: no
    note)."""
    from depth_addon.app import writeback

    scene = scene_32()
    artist_compositor(scene, tmp_out)
    comp.ensure_compositor_group(scene, red_image(), use_dof=False)
    comp.activate_compositor(scene)
    note = writeback.compositor_note(scene)
    if compat.uses_compositor_groups():
        assert "your compositor's File Output node ('File Output') write" in note, note
    else:
        assert "File Output" not in note, note
    comp.restore_compositor(scene)
    assert writeback.compositor_note(scene) == ""


def test_a_compositor_that_combines_view_layers_is_named(tmp_out):
    """An artist's compositor that lays a foreground view layer over a background one: ours composites one layer,
    and the note says which, and which the artist's combined."""
    from depth_addon.app import writeback

    scene = scene_32()
    scene.view_layers[0].name = "BG"
    scene.view_layers.new("FG")
    tree = compat.ensure_scene_compositor(scene, "Layers")
    for node in list(tree.nodes):
        tree.nodes.remove(node)
    back, front = tree.nodes.new("CompositorNodeRLayers"), tree.nodes.new("CompositorNodeRLayers")
    back.layer, front.layer = "BG", "FG"
    over = tree.nodes.new("CompositorNodeAlphaOver")
    tree.links.new(back.outputs["Image"], over.inputs[1])
    tree.links.new(front.outputs["Image"], over.inputs[2])
    tree.links.new(over.outputs["Image"], compat.compositor_output(tree))
    comp.ensure_compositor_group(scene, red_image(), use_dof=False)
    comp.activate_compositor(scene)
    assert "your compositor combines the view layers 'BG', 'FG'; ours composites only 'BG'" in (
        writeback.compositor_note(scene))
    comp.restore_compositor(scene)
