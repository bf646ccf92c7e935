# SPDX-License-Identifier: GPL-3.0-or-later
"""Render-level geometry on the fast path: exact against Cycles, evaluated once, refreshed only for what changed."""

from __future__ import annotations

import bpy
import depth_scenes
import numpy as np
import pytest

from depth_addon.blender import compat
from depth_addon.blender.depth import cache as depth_cache
from depth_addon.blender.depth import gpu as depth_gpu
from depth_addon.blender.depth.render import render_depth
from depth_addon.errors import BadInput


@pytest.fixture
def renders(monkeypatch) -> list:
    """Counts the internal renders that evaluate a render depsgraph."""
    calls: list = []
    original = depth_gpu.run_in_render

    def counted(*args, **kwargs) -> None:
        if not args[0].name.startswith("__"):  # not the one that creates the GPU context
            calls.append(args[0].name)
        original(*args, **kwargs)

    monkeypatch.setattr(depth_gpu, "run_in_render", counted)
    return calls


def subsurf_scene() -> bpy.types.Scene:
    """A cube with Subdivision Surface viewport 0 / render 2, and an Array hidden in the viewport."""
    scene = depth_scenes.modifiers()
    sub = bpy.data.objects["Modified"].modifiers["Subsurf"]
    sub.levels, sub.render_levels = 0, 2
    arr = bpy.data.objects["Mirrored"].modifiers.new("Array", "ARRAY")
    arr.count, arr.show_viewport = 2, False
    return scene


def test_render_levels_are_exact_and_evaluated_once(renders: list) -> None:
    scene = subsurf_scene()
    first = depth_scenes.assert_matches_cycles(scene, "subsurf render 2, array render only")
    assert len(renders) == 1
    scene.camera.location.x += 0.02
    moved = render_depth(scene, engine="gpu").depth
    scene.frame_set(scene.frame_current + 3)  # nothing is animated
    render_depth(scene, engine="gpu")
    assert len(renders) == 1, "a camera move or a frame change that animates nothing must not evaluate again"
    assert not np.array_equal(first, moved)
    scene.camera.location.x -= 0.02
    snap = next(iter(depth_cache.snapshots.values()))
    kept = {k: e for k, e in snap.entries.items() if k[0] != bpy.data.objects["Modified"].session_uid}
    bpy.data.objects["Modified"].modifiers["Subsurf"].render_levels = 1  # no viewport update is sent for this
    depth_scenes.assert_matches_cycles(scene, "render level 1")
    assert len(renders) == 2
    snap = next(iter(depth_cache.snapshots.values()))
    assert all(snap.entries[k] is e for k, e in kept.items()), "unchanged objects are not read again"
    bpy.data.objects["Mirrored"].modifiers["Array"].count = 3  # a modifier hidden in the viewport
    depth_scenes.assert_matches_cycles(scene, "hidden array count 3")
    assert len(renders) == 3


def test_shape_keys_and_collection_instances_at_render_level(renders: list) -> None:
    scene = depth_scenes.collection_instance()
    member = bpy.data.objects["Member"]
    sub = member.modifiers.new("Subsurf", "SUBSURF")
    sub.levels, sub.render_levels = 0, 2
    member.shape_key_add(name="Basis")
    key = member.shape_key_add(name="Push")
    for i in range(len(key.data)):
        key.data[i].co.z += 0.25
    key.value = 0.5
    depth_scenes.assert_matches_cycles(scene, "collection instances of a shape-keyed subsurf member")
    key.value = 1.0
    depth_scenes.assert_matches_cycles(scene, "shape key value changed")
    assert len(renders) == 2


def test_geometry_nodes_instances_at_render_level(renders: list) -> None:
    scene = depth_scenes.geometry_nodes()
    ob = bpy.data.objects["Scatter"]
    sub = ob.modifiers.new("Subsurf", "SUBSURF")  # after the instancing: subdivides nothing, but differs
    sub.levels, sub.render_levels = 0, 1
    ng = bpy.data.node_groups["Scatter"]
    depth_scenes.assert_matches_cycles(scene, "geometry-nodes instances")
    ng.nodes["Cube"].inputs["Size"].default_value = (0.5, 0.5, 0.5)
    depth_scenes.assert_matches_cycles(scene, "instanced cube resized")
    assert len(renders) == 2


def test_animated_deform_at_two_frames(renders: list) -> None:
    scene = subsurf_scene()
    ob = bpy.data.objects["Modified"]
    bend = ob.modifiers.new("Bend", "SIMPLE_DEFORM")
    bend.deform_method, bend.deform_axis = "BEND", "Z"
    for frame, angle in ((1, 0.0), (10, 0.8)):
        bend.angle = angle
        bend.keyframe_insert("angle", frame=frame)
    scene.frame_set(1)
    at_1 = depth_scenes.assert_matches_cycles(scene, "frame 1")
    scene.frame_set(10)
    at_10 = depth_scenes.assert_matches_cycles(scene, "frame 10")
    assert not np.array_equal(at_1, at_10)
    assert len(renders) == 2


def test_memory_guard_refuses_with_the_estimate(monkeypatch) -> None:
    scene = subsurf_scene()
    monkeypatch.setattr(depth_cache, "MAX_UPLOAD_BYTES", 1000)
    names = sorted(o.name for o in scene.objects)
    with pytest.raises(BadInput, match=r"million triangles.*GiB.*engine 'cycles'"):
        render_depth(scene, engine="gpu")
    assert sorted(o.name for o in scene.objects) == names and scene.render.engine != depth_gpu._DepthEngine.bl_idname
    monkeypatch.setattr(depth_cache, "MAX_UPLOAD_BYTES", 2 * 2**30)
    assert np.isfinite(render_depth(scene, engine="gpu").depth).any()


def test_context_creation_that_reevaluates_animation_is_not_drawn_stale(monkeypatch) -> None:
    scene = depth_scenes.modifiers()
    bend = bpy.data.objects["Modified"].modifiers.new("Bend", "SIMPLE_DEFORM")
    for frame, angle in ((1, 0.0), (10, 0.8)):
        bend.angle = angle
        bend.keyframe_insert("angle", frame=frame)
    scene.frame_set(4)
    original = depth_gpu.ensure_gpu

    def ensure_and_reevaluate(passes: bool = False) -> None:  # as the first call's context-creating render does
        original(passes)
        scene.frame_set(scene.frame_current)

    render_depth(scene, engine="gpu")  # the viewport walk is cached …
    scene.frame_set(5)
    monkeypatch.setattr(depth_gpu, "ensure_gpu", ensure_and_reevaluate)
    depth = render_depth(scene, engine="gpu").depth  # … and must be walked again after the context render
    monkeypatch.undo()
    depth_cache.clear()
    assert np.array_equal(depth, render_depth(scene, engine="gpu").depth)


def test_render_only_geometry_nodes_inputs_are_watched(renders: list) -> None:
    scene = depth_scenes.modifiers()
    ob = bpy.data.objects["Mirrored"]
    ng = bpy.data.node_groups.new("Lift", "GeometryNodeTree")
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket("Lift", in_out="INPUT", socket_type="NodeSocketVector")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    gin, gout = ng.nodes.new("NodeGroupInput"), ng.nodes.new("NodeGroupOutput")
    move = ng.nodes.new("GeometryNodeTransform")
    ng.links.new(gin.outputs[0], move.inputs["Geometry"])
    ng.links.new(gin.outputs[1], move.inputs["Translation"])
    ng.links.new(move.outputs[0], gout.inputs[0])
    mod = ob.modifiers.new("Lift", "NODES")
    mod.node_group, mod.show_viewport = ng, False
    socket = ng.interface.items_tree["Lift"].identifier
    compat.set_node_modifier_input(mod, socket, (0.0, 0.3, 0.0))
    depth_scenes.assert_matches_cycles(scene, "render-only geometry nodes")
    # no viewport update follows: only the watched settings can tell
    compat.set_node_modifier_input(mod, socket, (0.0, -0.3, 0.0))
    depth_scenes.assert_matches_cycles(scene, "render-only geometry nodes input changed")
    assert len(renders) == 2
