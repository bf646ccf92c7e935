# SPDX-License-Identifier: GPL-3.0-or-later
"""Scenes the depth paths refuse or warn about, with messages that say why, and the scene left as it was."""

from __future__ import annotations

import bpy
import depth_scenes
import numpy as np
import pytest

from depth_addon.blender.depth.render import render_depth
from depth_addon.errors import BadInput


def scene_snapshot(scene: bpy.types.Scene) -> tuple:
    return (scene.render.engine, len(bpy.data.objects), len(bpy.data.materials), len(bpy.data.scenes),
            sorted((o.name, o.hide_render) for o in scene.objects))


def test_failed_geometry_nodes_are_refused() -> None:
    if not hasattr(bpy.types, "GeometryNodeWarning"):
        pytest.skip("the Warning node and modifier warnings (node_warnings) exist from Blender 4.3 on")
    scene = depth_scenes.geometry_nodes()
    ng = bpy.data.node_groups["Scatter"]
    warn = ng.nodes.new("GeometryNodeWarning")
    warn.warning_type = "ERROR"
    warn.inputs["Message"].default_value = "points are missing"
    gout = ng.nodes["Group Output"]
    switch = ng.nodes.new("GeometryNodeSwitch")  # the warning node only reports when its output is used
    ng.links.new(warn.outputs[0], switch.inputs["Switch"])
    ng.links.new(ng.nodes["Instance on Points"].outputs[0], switch.inputs["True"])
    ng.links.new(switch.outputs[0], gout.inputs[0])
    bpy.context.evaluated_depsgraph_get().update()
    if not bpy.data.objects["Scatter"].modifiers["Scatter"].node_warnings:
        pytest.skip("this Blender does not log geometry-node warnings in background mode (5.1 and later; the "
                    "check still works where Blender logs them: in the UI and on 4.3-5.0)")
    before = scene_snapshot(scene)
    for engine in ("auto", "cycles"):
        with pytest.raises(BadInput, match=r"'Scatter' of 'Scatter' failed to evaluate: points are missing"):
            render_depth(scene, engine=engine)
    assert scene_snapshot(scene) == before


def test_empty_and_hidden_instance_collections_are_named() -> None:
    scene = depth_scenes.collection_instance()
    plane = bpy.data.objects["Plane"]
    empty = bpy.data.collections.new("Nothing")
    bpy.data.objects["Instancer1"].instance_collection = empty
    result = render_depth(scene, engine="gpu")
    assert any("'Instancer1' instances an empty collection 'Nothing'" in w for w in result.meta["warnings"])
    bpy.data.objects["Member"].hide_render = True
    plane.hide_render = True
    before = scene_snapshot(scene)
    with pytest.raises(BadInput, match=r"no renderable geometry: the instances of 'Instancer0' \(collection "
                                       r"'Source'\) are all hidden from render; 'Instancer1' instances an empty"):
        render_depth(scene, engine="gpu")
    assert scene_snapshot(scene) == before
    plane.hide_render = False
    assert np.isfinite(render_depth(scene, engine="gpu").depth).any()
