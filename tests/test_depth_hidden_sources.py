# SPDX-License-Identifier: GPL-3.0-or-later
"""Instances of objects hidden from render: the fast path draws exactly the instances Cycles renders.

A render keeps the copies of a hidden object instanced as an object (particles, geometry nodes *Object Info*,
*Collection Info* with *Separate Children*) and leaves out hidden members of instanced collections.
"""

from __future__ import annotations

import bpy
import depth_scenes
import numpy as np
import pytest

from depth_addon.blender.depth.render import render_depth


def _points(name: str = "Points") -> bpy.types.Object:
    me = bpy.data.meshes.new(name)
    me.from_pydata([(-1.2, 0.0, 0.0), (0.0, 0.6, -0.5), (1.2, -0.4, 0.3)], [], [])
    ob = bpy.data.objects.new(name, me)
    ob.location = (0.0, 0.0, -4.5)
    bpy.context.scene.collection.objects.link(ob)
    return ob


def _instance_on_points(ob: bpy.types.Object, info: str, target: bpy.types.ID, **inputs: bool) -> None:
    """Geometry nodes on ``ob``: ``info`` (Object Info or Collection Info of ``target``) instanced on its points."""
    ng, source = depth_scenes.scatter_group(info)
    source.inputs["Object" if info == "GeometryNodeObjectInfo" else "Collection"].default_value = target
    for name, value in inputs.items():
        source.inputs[name].default_value = value
    ob.modifiers.new("Scatter", "NODES").node_group = ng


def _unlinked_collection(name: str, hidden: int, count: int = 2) -> bpy.types.Collection:
    """A collection of ``count`` cubes at its origin, not linked to the scene; the first ``hidden`` hidden from
    render."""
    coll = bpy.data.collections.new(name)
    for i in range(count):
        cube = depth_scenes._cube(f"{name}{i}", 0.5 - 0.1 * i, (0.0, 0.0, 0.0), coll)
        cube.hide_render = i < hidden
    return coll


def test_geometry_nodes_object_info_of_a_hidden_object() -> None:
    scene = depth_scenes._base()
    source = depth_scenes._cube("Source", 0.6, (0.0, 0.0, 50.0))  # behind the camera
    source.hide_render = True
    _instance_on_points(_points(), "GeometryNodeObjectInfo", source, **{"As Instance": True})
    depth_scenes.assert_matches_cycles(scene, "Object Info instances of a hidden object")
    depth_scenes.assert_matches_cycles(scene, "Object Info instances of a hidden object (auto)", "auto")


def test_geometry_nodes_collection_info_of_hidden_members() -> None:
    scene = depth_scenes._base()
    coll = _unlinked_collection("Members", hidden=1)
    _instance_on_points(_points(), "GeometryNodeCollectionInfo", coll)
    depth_scenes.assert_matches_cycles(scene, "Collection Info leaves the hidden member out")
    bpy.data.node_groups["Scatter"].nodes["Collection Info"].inputs["Separate Children"].default_value = True
    depth_scenes.assert_matches_cycles(scene, "Collection Info with Separate Children keeps it")


def test_particles_of_a_hidden_object() -> None:
    scene = depth_scenes._base()
    source = depth_scenes._cube("Source", 0.5, (0.0, 0.0, 50.0))
    source.hide_render = True
    bpy.ops.mesh.primitive_plane_add(size=3.0, location=(0.0, 0.0, -4.5))
    emitter = bpy.context.object
    emitter.show_instancer_for_render = emitter.show_instancer_for_viewport = False
    ps = emitter.modifiers.new("Hair", "PARTICLE_SYSTEM").particle_system.settings
    ps.type, ps.count, ps.render_type, ps.instance_object, ps.particle_size = "HAIR", 12, "OBJECT", source, 1.0
    depth_scenes.assert_matches_cycles(scene, "particles of a hidden object")
    ps.render_type, ps.instance_collection = "COLLECTION", _unlinked_collection("Picked", hidden=1)
    depth_scenes.assert_matches_cycles(scene, "particles picking from a collection with a hidden member")


def test_collection_instance_leaves_out_a_hidden_child_collection() -> None:
    scene = depth_scenes._base()
    coll = bpy.data.collections.new("Source")
    depth_scenes._cube("Shown", 0.8, (-0.8, 0.0, 0.0), coll)
    child = bpy.data.collections.new("NotRendered")
    coll.children.link(child)
    child.hide_render = True
    depth_scenes._cube("Unrendered", 0.8, (0.8, 0.0, 0.0), child)
    empty = bpy.data.objects.new("Instancer", None)
    empty.instance_type, empty.instance_collection, empty.location = "COLLECTION", coll, (0.0, 0.0, -4.5)
    scene.collection.objects.link(empty)
    depth_scenes.assert_matches_cycles(scene, "a collection instance whose child collection is hidden from render")
    ref = render_depth(scene, engine="cycles").depth
    assert np.isfinite(ref).all() and ref[15, 30] > 5.5, "the hidden child collection's cube is not rendered"


@pytest.mark.parametrize("kind", ["VERTS", "FACES"])
def test_the_child_a_mesh_instances_is_drawn_only_as_its_instances(kind: str) -> None:
    """A render draws the child of a vertex or face instancer only on the vertices or faces, never where the child
    itself is (here the instancer's origin, where no vertex or face lies), though the viewport shows it there."""
    scene = depth_scenes._base()
    instancer = _points()
    if kind == "FACES":
        instancer.data.clear_geometry()
        instancer.data.from_pydata([(-1.4, -0.2, 0.0), (-1.0, -0.2, 0.0), (-1.0, 0.2, 0.0), (-1.4, 0.2, 0.0)], [],
                                   [(0, 1, 2, 3)])
    instancer.instance_type = kind
    depth_scenes._cube("Child", 0.4, (0.0, 0.0, 0.0)).parent = instancer
    depth_scenes.assert_matches_cycles(scene, f"the child of a {kind} instancer")
    ref = render_depth(scene, engine="cycles").depth
    assert ref[15, 20] > 5.0, "no instance is at the instancer's origin: the plane is seen there"
