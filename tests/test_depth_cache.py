# SPDX-License-Identifier: GPL-3.0-or-later
"""The mesh cache across frames and edits: a deformed mesh uploads only its positions, and nothing is drawn stale."""

from __future__ import annotations

import bpy
import depth_scenes
import numpy as np

from depth_addon.blender.depth import cache as depth_cache
from depth_addon.blender.depth.render import render_depth


def _entry(name: str) -> depth_cache.MeshEntry:
    return depth_cache._entries[(bpy.data.objects[name].session_uid, 0)]


def test_an_animated_deform_keeps_its_triangles_and_draws_each_frame() -> None:
    scene = depth_scenes.modifiers()
    bend = bpy.data.objects["Modified"].modifiers.new("Bend", "SIMPLE_DEFORM")
    bend.deform_method, bend.deform_axis = "BEND", "Z"
    for frame, angle in ((1, 0.0), (10, 0.8)):
        bend.angle = angle
        bend.keyframe_insert("angle", frame=frame)
    scene.frame_set(1)
    at_1 = render_depth(scene, engine="gpu").depth
    before = _entry("Modified")
    scene.frame_set(10)
    at_10 = render_depth(scene, engine="gpu").depth
    after = _entry("Modified")
    assert after is not before and after.batch is not before.batch, "new positions were uploaded"
    assert after.index is before.index, "the unchanged triangles were not uploaded again"
    assert not np.array_equal(at_1, at_10)
    assert np.array_equal(at_10, depth_scenes.fresh_depth(scene)), "a stale batch was drawn"


def test_new_triangles_with_the_same_counts_are_uploaded(monkeypatch) -> None:
    monkeypatch.setattr(depth_cache, "SMALL_TRIS", 0)  # drawn from its own batch, not merged from its arrays
    scene = depth_scenes.modifiers()
    me = bpy.data.meshes.new("Strip")
    me.from_pydata([(-1.5, -1, -4), (0, -1, -4), (-1.5, 1, -4), (0, 1, -3.5), (1.5, -1, -3.5), (1.5, 1, -3.5)], [],
                   [(0, 1, 2), (3, 4, 5)])
    me.update()
    scene.collection.objects.link(bpy.data.objects.new("Strip", me))
    render_depth(scene, engine="gpu")
    before = _entry("Strip")
    me.attributes[".corner_vert"].data.foreach_set("value", np.array([1, 4, 3, 0, 1, 2], np.int32))
    me.update()
    edited = render_depth(scene, engine="gpu").depth
    assert _entry("Strip").index is not before.index, "new triangles, new index buffer"
    assert np.array_equal(edited, depth_scenes.fresh_depth(scene)), "the old triangles were drawn"
