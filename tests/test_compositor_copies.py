# SPDX-License-Identifier: GPL-3.0-or-later
"""Copies the artist makes of our compositor nodes (Shift+D in the node editor) or of our group are theirs: Set Up,
the sidebar and Remove update or delete only what we made ourselves."""

from __future__ import annotations

import bpy
from test_compositor import scene_32, snapshot, user_group
from test_compositor_user_tree import _fx_group

from depth_addon.blender import compat
from depth_addon.blender.compositor import group as comp


def duplicate(tree: bpy.types.NodeTree, node: bpy.types.Node) -> bpy.types.Node:
    """``node`` copied by the node editor's Duplicate (Shift+D), which copies its name, label and custom
    properties; the copy's name gets a number."""
    for other in tree.nodes:
        other.select = False
    node.select = True
    tree.nodes.active = node
    window = bpy.context.window
    area = window.screen.areas[0]
    area.ui_type = "CompositorNodeTree"
    space = area.spaces.active
    space.node_tree = tree
    region = next(r for r in area.regions if r.type == "WINDOW")
    before = set(tree.nodes)
    with bpy.context.temp_override(window=window, area=area, region=region, space_data=space):
        assert bpy.ops.node.duplicate() == {"FINISHED"}
    (copy,) = set(tree.nodes) - before
    return copy


def _our_runner(scene: bpy.types.Scene, ours: bpy.types.NodeTree) -> tuple[bpy.types.NodeTree, bpy.types.Node]:
    """The group node that runs our group: ours in the scene's tree (4.x); in 5.x the scene composites through our
    group itself, and the artist puts it into a tree of their own as a group node."""
    if not compat.uses_compositor_groups():
        tree = scene.node_tree
        return tree, next(n for n in tree.nodes if compat.TAG_NODE in n and n.bl_idname == "CompositorNodeGroup")
    tree = bpy.data.node_groups.new("My Other Look", "CompositorNodeTree")
    node = tree.nodes.new("CompositorNodeGroup")
    node.node_tree = ours
    return tree, node


def test_set_up_and_remove_leave_the_artist_s_copies_of_our_node_alone():
    """The artist duplicates the node running our group twice and points one copy at a group of theirs: setting
    up again keeps that copy on their group, and Remove deletes our nodes only (the copies, the tag Blender copied
    with them included, stay as the artist made them)."""
    scene = scene_32()
    user_group(scene)
    ours = comp.activate_compositor(scene)
    tree, runner = _our_runner(scene, ours)
    kept, repointed = duplicate(tree, runner), duplicate(tree, runner)
    assert repointed.label == runner.label and dict(repointed.items()) == dict(runner.items())  # as Blender copies
    fx = _fx_group()
    repointed.node_tree = fx
    repointed.location = kept.location = (600, 600)

    comp.activate_compositor(scene)  # Set Up again: ours runs our group, the artist's copies stay
    comp.refresh_compositor(scene, opacity=0.25)
    assert (kept.node_tree, repointed.node_tree) == (ours, fx)
    assert compat.is_group_active(scene, ours)
    copies = {n.name: (n.node_tree, tuple(n.location)) for n in (kept, repointed)}
    assert comp.restore_compositor(scene)

    assert {n.name: (n.node_tree, tuple(n.location)) for n in tree.nodes if n.name in copies} == copies
    assert comp.find_compositor_group(scene) == ours  # the artist's copy still runs it: kept, and found again
    if not compat.uses_compositor_groups():  # 4.x: our own nodes are gone, the artist's output is on again
        assert not [n for n in tree.nodes if compat.TAG_NODE in n and n.name not in copies]
        assert not any(n.mute for n in tree.nodes if n.bl_idname == "CompositorNodeComposite")


def test_remove_takes_out_our_nodes_tagged_by_earlier_versions():
    """Nodes an earlier version put into the scene's tree (tagged without their name) are still ours to remove."""
    scene = scene_32()
    mine = user_group(scene)
    before = snapshot(mine)
    name = comp.activate_compositor(scene).name
    if not compat.uses_compositor_groups():
        for node in [n for n in scene.node_tree.nodes if compat.TAG_NODE in n]:
            node[compat.TAG_NODE] = True
    comp.activate_compositor(scene)
    assert comp.restore_compositor(scene)
    assert snapshot(mine) == before and name not in bpy.data.node_groups


def look(tree: bpy.types.NodeTree) -> dict:
    """:func:`snapshot` of a tree without the properties that said it was ours (a copy of ours loses them)."""
    out = snapshot(tree)
    out["keys"] = [k for k in out["keys"] if k not in (comp.KEY_OWNED, comp.KEY_SCENE)]
    return out


def test_a_copy_of_our_group_is_the_artist_s():
    """The artist copies our group (the group selector's copy, which carries our custom properties) and names it
    so that it sorts first; in 5.x they composite through it. Set Up and the sidebar update ours, and Remove deletes
    ours but leaves their copy as it was (in 5.x, still compositing)."""
    scene = scene_32()
    user_group(scene)
    ours = comp.activate_compositor(scene)
    name, copy = ours.name, ours.copy()
    copy.name = "A look"
    assert copy[comp.KEY_SCENE] == scene and copy[comp.KEY_OWNED]
    before = look(copy)
    comp.activate_compositor(scene)
    comp.refresh_compositor(scene, opacity=0.25)
    assert comp.find_compositor_group(scene) == ours and comp.compositor_params(scene)["opacity"] == 0.25
    assert look(copy) == before and comp.KEY_OWNED not in copy and comp.KEY_SCENE not in copy  # plainly theirs now
    if compat.uses_compositor_groups():
        scene.compositing_node_group = copy
    assert comp.restore_compositor(scene)
    assert name not in bpy.data.node_groups and look(bpy.data.node_groups["A look"]) == before
    assert not compat.uses_compositor_groups() or scene.compositing_node_group == copy


def test_after_remove_set_up_leaves_the_artist_s_copy_alone():
    """The artist copies our group and rewires their copy; Remove deletes ours; Set Up then makes a group of ours
    again, and never takes their copy for ours (it pointed at the scene as ours did, with nothing pointing back)."""
    scene = scene_32()
    user_group(scene)
    ours = comp.activate_compositor(scene)
    copy = ours.copy()
    copy.name = "Kept Look"
    for link in list(copy.links):  # the artist's own changes
        copy.links.remove(link)
    assert comp.restore_compositor(scene)
    before = snapshot(copy)
    again = comp.activate_compositor(scene)
    assert again != copy and again.name != "Kept Look" and snapshot(copy) == before and not copy.links
    assert comp.find_compositor_group(scene) == again
    assert comp.restore_compositor(scene) and "Kept Look" in bpy.data.node_groups
