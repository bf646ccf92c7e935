# SPDX-License-Identifier: GPL-3.0-or-later
"""Render-level geometry kept between calls: moves patch matrices, objects hidden in the viewport stay cached, and
every edit still gives the depth of a render with every cache dropped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import bpy
import depth_scenes
import numpy as np
import pytest

from depth_addon.blender import compat
from depth_addon.blender.depth import cache as depth_cache
from depth_addon.blender.depth import render as render_module
from depth_addon.blender.depth import rendered
from depth_addon.blender.depth.render import render_depth
from depth_addon.blender.depth.scene import SceneInstances


def render_level_scene() -> bpy.types.Scene:
    """:func:`depth_scenes.modifiers` with Subdivision viewport 0 / render 2 (render-level geometry) and a small
    cube that does not move."""
    scene = depth_scenes.modifiers()
    sub = bpy.data.objects["Modified"].modifiers["Subsurf"]
    sub.levels, sub.render_levels = 0, 2
    depth_scenes._cube("Helper", 0.3, (1.4, 1.0, -4.0))
    return scene


def evaluations() -> int:
    """How many times the render-level geometry was evaluated (a whole-scene render)."""
    return depth_cache.evaluations[0]


def assert_fresh(scene: bpy.types.Scene, label: str) -> int:
    """The cached depth equals the depth of a render with every cache dropped (bit for bit); returns how many
    evaluations the cached call made."""
    before = evaluations()
    cached = render_depth(scene, engine="gpu").depth
    made = evaluations() - before
    assert np.array_equal(cached, depth_scenes.fresh_depth(scene), equal_nan=True), f"{label}: stale depth"
    return made


@pytest.mark.parametrize("hide", ["hide_set", "hide_viewport"])
def test_an_object_hidden_in_the_viewport_keeps_the_scene_cached(hide: str) -> None:
    scene = render_level_scene()
    helper = bpy.data.objects["Helper"]
    helper.hide_set(True) if hide == "hide_set" else setattr(helper, "hide_viewport", True)
    first = render_depth(scene, engine="gpu").depth
    before = evaluations()
    for _ in range(3):
        assert np.array_equal(render_depth(scene, engine="gpu").depth, first)
    assert evaluations() == before, "an unchanged scene was evaluated again"
    assert_fresh(scene, f"{hide}: unchanged")


def test_moving_an_object_patches_its_matrix_without_evaluating() -> None:
    scene = render_level_scene()
    render_depth(scene, engine="gpu")
    modified, mirrored = bpy.data.objects["Modified"], bpy.data.objects["Mirrored"]
    modified.location.x += 0.2
    assert assert_fresh(scene, "a subdivided object moved") == 0, "a move evaluated the scene again"
    mirrored.scale.x = 1.0  # no longer mirrored: its faces turn the other way
    mirrored.location.y += 0.1
    modified.rotation_euler.z += 0.3
    assert assert_fresh(scene, "two objects moved, one unmirrored") == 0
    depth_scenes.assert_matches_cycles(scene, "after the moves")


def test_a_move_of_an_object_that_follows_a_surface_renders_again() -> None:
    """A cube held on a subdivided surface by a constraint sits on the render's finer surface, which the viewport
    does not have: its move is not patched from the viewport's matrix."""
    scene = render_level_scene()
    stuck = depth_scenes._cube("Stuck", 0.2, (0.0, 0.0, -3.0))
    constraint = stuck.constraints.new("SHRINKWRAP")
    constraint.target = bpy.data.objects["Modified"]
    render_depth(scene, engine="gpu")
    stuck.location.x += 0.15
    assert assert_fresh(scene, "a shrinkwrapped cube moved") == 1


def test_edits_of_a_disabled_text_object_are_seen() -> None:
    """A text object disabled in the viewport reports nothing and its edits cannot be read from its settings: every
    call reads it again, so a new extrusion is in the depth."""
    scene = render_level_scene()
    text = bpy.data.objects.new("Label", bpy.data.curves.new("Label", "FONT"))
    text.data.body, text.data.size = "DEPTH", 0.6
    text.location, text.rotation_euler.x = (-0.8, -0.6, -3.5), 0.3
    scene.collection.objects.link(text)
    text.hide_viewport = True
    render_depth(scene, engine="gpu")
    text.data.extrude = 0.2
    assert_fresh(scene, "a disabled text object extruded")


def test_a_frame_that_only_moves_an_object_does_not_evaluate() -> None:
    scene = render_level_scene()
    modified = bpy.data.objects["Modified"]
    for frame, x in ((1, -1.0), (10, -0.4)):
        modified.location.x = x
        modified.keyframe_insert("location", index=0, frame=frame)
    scene.frame_set(1)
    render_depth(scene, engine="gpu")
    scene.frame_set(10)
    assert assert_fresh(scene, "an animated move") == 0


def test_a_frame_that_animates_only_a_material_does_not_evaluate() -> None:
    scene = render_level_scene()
    mirrored = bpy.data.objects["Mirrored"]
    mat = bpy.data.materials.new("Animated")
    mirrored.data.materials.append(mat)
    for frame, value in ((1, 0.1), (10, 0.9)):
        mat.roughness = value
        mat.keyframe_insert("roughness", frame=frame)
    scene.frame_set(1)
    render_depth(scene, engine="gpu")
    geometry: list[bool] = []  # Blender 5.3 reports a geometry update for a material change: that one renders

    def note(_scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> None:
        geometry.extend(u.is_updated_geometry for u in depsgraph.updates if u.id.original == mirrored)

    bpy.app.handlers.frame_change_post.append(note)
    try:
        scene.frame_set(10)
    finally:
        bpy.app.handlers.frame_change_post.remove(note)
    made = assert_fresh(scene, "an animated material")
    assert made == any(geometry), "a frame that changes no geometry evaluated it"
    mirrored.visible_camera = False  # a shading update too, which changes what is drawn
    assert assert_fresh(scene, "camera visibility off") == 1
    depth_scenes.assert_matches_cycles(scene, "camera visibility off")
    mirrored.visible_camera = True
    assert assert_fresh(scene, "camera visibility on") == 1


def test_an_edit_of_one_object_reads_only_its_mesh(monkeypatch) -> None:
    scene = render_level_scene()
    render_depth(scene, engine="gpu")
    read: list = []
    walk = rendered.scene_instances

    def walk_and_note(*args, **kwargs) -> SceneInstances:
        drawn = walk(*args, **kwargs)
        read.append({k[0] for k, me in drawn.meshes.items() if me is not None})
        return drawn

    monkeypatch.setattr(rendered, "scene_instances", walk_and_note)
    bpy.data.objects["Modified"].modifiers["Subsurf"].render_levels = 1
    assert assert_fresh(scene, "one render level changed") == 1
    assert read[0] == {bpy.data.objects["Modified"].session_uid}, "the render read (evaluated) unchanged meshes"
    depth_scenes.assert_matches_cycles(scene, "one render level changed")


def test_moving_an_instancer_or_editing_geometry_evaluates_again() -> None:
    scene = depth_scenes.collection_instance()
    sub = bpy.data.objects["Member"].modifiers.new("Subsurf", "SUBSURF")
    sub.levels, sub.render_levels = 0, 2
    render_depth(scene, engine="gpu")
    bpy.data.objects["Instancer0"].location.y += 0.2
    assert assert_fresh(scene, "an instancer moved") == 1
    bpy.data.objects["Member"].location.x += 0.1  # an instanced object moved: every instance moves with it
    assert_fresh(scene, "an instanced object moved")
    sub.render_levels = 1
    assert_fresh(scene, "render level changed")


@pytest.mark.parametrize("hide", ["hide_set", "hide_viewport"])
def test_edits_of_an_object_hidden_in_the_viewport_are_drawn(hide: str) -> None:
    scene = render_level_scene()
    modified = bpy.data.objects["Modified"]
    parent = bpy.data.objects.new("Parent", None)
    scene.collection.objects.link(parent)
    modified.parent = parent
    render_depth(scene, engine="gpu")
    modified.hide_set(True) if hide == "hide_set" else setattr(modified, "hide_viewport", True)
    assert_fresh(scene, f"{hide}: hidden")
    modified.modifiers["Subsurf"].render_levels = 1
    assert_fresh(scene, f"{hide}: render level changed")
    modified.modifiers["Subsurf"].levels = 1
    modified.modifiers["Array"].count = 3
    assert_fresh(scene, f"{hide}: modifiers changed")
    modified.location.y -= 0.3
    assert_fresh(scene, f"{hide}: moved")
    parent.location.x += 0.3
    assert_fresh(scene, f"{hide}: its parent moved")
    modified.hide_set(False) if hide == "hide_set" else setattr(modified, "hide_viewport", False)
    assert_fresh(scene, f"{hide}: shown again")
    modified.hide_render = True
    assert_fresh(scene, f"{hide}: hidden from render")


def test_moves_on_the_viewport_path_patch_the_kept_walk(monkeypatch) -> None:
    monkeypatch.setattr(depth_cache, "SMALL_TRIS", 0)  # every mesh drawn on its own, culled by its orientation
    scene = depth_scenes.modifiers()  # the same levels in viewport and render: the viewport walk is drawn
    for i in range(3):
        depth_scenes._cube(f"Small{i}", 0.3, (-1.5 + 1.5 * i, 1.0, -4.0))
    render_depth(scene, engine="gpu")
    walks: list = []
    walk = render_module.scene_instances
    monkeypatch.setattr(render_module, "scene_instances", lambda *args: walks.append(1) or walk(*args))
    bpy.data.objects["Small1"].location.y -= 0.2
    bpy.data.objects["Mirrored"].scale.x = 1.0  # no longer mirrored: its faces turn the other way
    bpy.data.objects["Modified"].rotation_euler.z += 0.3
    cached = render_depth(scene, engine="gpu").depth
    assert not walks, "a move walked the scene again"
    assert np.array_equal(cached, depth_scenes.fresh_depth(scene)), "stale depth after moves"
    depth_scenes.assert_matches_cycles(scene, "after the moves")


def lift_modifier(ob: bpy.types.Object, socket_type: str = "NodeSocketFloat",
                  linked: bool = True) -> tuple[bpy.types.Modifier, str]:
    """Give ``ob`` a geometry-nodes modifier with one input (of ``socket_type``) that lifts it by that many units
    when ``linked``; returns the modifier and the input's identifier."""
    group = bpy.data.node_groups.new("Lift", "GeometryNodeTree")
    group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    lift = group.interface.new_socket("Lift", in_out="INPUT", socket_type=socket_type)
    gin, gout = group.nodes.new("NodeGroupInput"), group.nodes.new("NodeGroupOutput")
    move, offset = group.nodes.new("GeometryNodeSetPosition"), group.nodes.new("ShaderNodeCombineXYZ")
    group.links.new(gin.outputs[0], move.inputs["Geometry"])
    if linked:
        group.links.new(gin.outputs[1], offset.inputs["Z"])
    group.links.new(offset.outputs[0], move.inputs["Offset"])
    group.links.new(move.outputs[0], gout.inputs[0])
    modifier = ob.modifiers.new("Lift", "NODES")
    modifier.node_group = group
    return modifier, lift.identifier


@contextmanager
def geometry_updates(name: str) -> Iterator[list[int]]:
    """Inside the block, count the viewport geometry updates of object ``name`` (``[count]``)."""
    count = [0]

    def counted(_scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> None:
        count[0] += sum(1 for u in depsgraph.updates if isinstance(u.id, bpy.types.Object)
                        and u.id.original.name == name and u.is_updated_geometry)

    bpy.app.handlers.depsgraph_update_post.append(counted)
    try:
        yield count
    finally:
        bpy.app.handlers.depsgraph_update_post.remove(counted)


@pytest.mark.parametrize("level", ["viewport", "render"])
def test_a_geometry_nodes_input_set_by_a_script_is_drawn(level: str) -> None:
    """Up to Blender 5.1 a script sets a geometry-nodes input as an ID property, which sends no update."""
    scene = render_level_scene() if level == "render" else depth_scenes.modifiers()
    modifier, identifier = lift_modifier(bpy.data.objects["Mirrored"])
    first = render_depth(scene, engine="gpu").depth
    compat.set_node_modifier_input(modifier, identifier, 1.0)
    lifted = render_depth(scene, engine="gpu").depth
    assert not np.array_equal(lifted, first), "the new input was not drawn"
    assert np.array_equal(lifted, depth_scenes.fresh_depth(scene))
    depth_scenes.assert_matches_cycles(scene, "a geometry-nodes input set by a script")


@pytest.mark.parametrize("socket_type", ["NodeSocketFloat", "NodeSocketVector"])
def test_a_nan_geometry_nodes_input_renders(socket_type: str) -> None:
    """NaN != NaN: a NaN input used to look set by a script on every call, which worked the scene out again and
    again until Python gave up (RecursionError on every depth render)."""
    scene = depth_scenes.modifiers()
    modifier, identifier = lift_modifier(bpy.data.objects["Mirrored"], socket_type, linked=False)
    first = render_depth(scene, engine="gpu").depth
    nan = float("nan")
    compat.set_node_modifier_input(modifier, identifier, nan if socket_type == "NodeSocketFloat" else (nan, 0, 0))
    assert np.array_equal(render_depth(scene, engine="gpu").depth, first)
    with geometry_updates("Mirrored") as updates:
        assert np.array_equal(render_depth(scene, engine="gpu").depth, first)
    assert updates == [0], "an unchanged NaN input was evaluated again"


@pytest.mark.parametrize("level", ["viewport", "render"])
def test_an_animated_geometry_nodes_input_is_evaluated_once_a_frame(level: str) -> None:
    """Blender writes a keyframed input back to the object when a frame is evaluated; the depth path took that for a
    script's edit and evaluated the object a second time on every frame. A script's edit of another input between
    that evaluation and the next depth render is still drawn."""
    scene = render_level_scene() if level == "render" else depth_scenes.modifiers()
    ob = bpy.data.objects["Mirrored"]
    modifier, identifier = lift_modifier(ob)
    other, other_identifier = lift_modifier(ob)  # not animated (a keyframe would set it again on evaluation)
    path = (f'modifiers["Lift"]["{identifier}"]' if getattr(modifier, "properties", None) is None  # ID properties
            else f'modifiers["Lift"].properties.inputs.{identifier}.value')  # RNA, from 5.2
    for frame, value in ((1, 0.0), (10, 0.5)):
        compat.set_node_modifier_input(modifier, identifier, value)
        ob.keyframe_insert(path, frame=frame)
    scene.frame_set(1)
    render_depth(scene, engine="gpu")
    for frame in (2, 3, 4):
        scene.frame_set(frame)
        with geometry_updates("Mirrored") as updates:
            render_depth(scene, engine="gpu")
        assert updates == [0], f"frame {frame}: the animated object was evaluated again"
    scene.frame_set(5)
    compat.set_node_modifier_input(other, other_identifier, 2.0)  # after the frame's evaluation, without an update
    lifted = render_depth(scene, engine="gpu").depth
    ob.update_tag()  # what an edit in the interface sends
    assert np.array_equal(lifted, depth_scenes.fresh_depth(scene)), "the script's input was not drawn"
