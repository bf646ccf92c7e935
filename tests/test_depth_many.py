# SPDX-License-Identifier: GPL-3.0-or-later
"""Thousands of small objects: drawn as one merged batch, exactly as Cycles sees them."""

from __future__ import annotations

import bpy
import depth_scenes
import numpy as np

from depth_addon.blender.depth import cache as depth_cache
from depth_addon.blender.depth.render import render_depth


def small_cubes(count: int = 300) -> bpy.types.Scene:
    """``count`` small cubes, each with its own mesh, some rotated, one a holdout, in front of the plane."""
    scene = depth_scenes.modifiers()
    for name in ("Modified", "Mirrored"):
        bpy.data.objects.remove(bpy.data.objects[name])
    rng = np.random.default_rng(3)
    for i in range(count):
        ob = depth_scenes._cube(f"Small{i}", 0.12, (rng.uniform(-2.4, 2.4), rng.uniform(-1.8, 1.8),
                                                     rng.uniform(-5.2, -3.5)))
        ob.rotation_euler = rng.uniform(0, 1, 3)
    bpy.data.objects["Small0"].is_holdout = True
    return scene


def test_small_objects_are_merged_and_exact() -> None:
    scene = small_cubes()
    fast = render_depth(scene, engine="gpu").depth
    assert sum(len(members) for members, _batch in depth_cache.merged.values()) >= 290, "the cubes share batches"
    ref = render_depth(scene, engine="cycles").depth
    inner = depth_scenes.interior(ref)
    assert (inner & (ref < 5.5)).sum() > 100
    assert np.array_equal(np.isfinite(fast)[inner], np.isfinite(ref)[inner])
    ok = inner & np.isfinite(ref)
    assert np.max(np.abs(fast[ok] - ref[ok]) / ref[ok]) < 1e-4
    render_depth(scene, engine="gpu")  # the second render finds which meshes are closed (their merged kind)
    batches = {kind: batch for kind, (_members, batch) in depth_cache.merged.items()}
    bpy.data.objects["Small5"].location = (0.1, 0.1, -3.0)  # a transform: same merged batch, new matrix
    moved = render_depth(scene, engine="gpu").depth
    assert all(depth_cache.merged[k][1] is b for k, b in batches.items()) and not np.array_equal(moved, fast)
    me = bpy.data.objects["Small7"].data
    me.vertices[0].co.x += 0.05
    me.update()
    render_depth(scene, engine="gpu")
    assert any(depth_cache.merged[k][1] is not b for k, b in batches.items()), "an edited mesh rebuilds its batch"


def test_an_unchanged_scene_reuses_its_draw_plan() -> None:
    scene = small_cubes(60)
    for _ in range(2):  # the second render finds which meshes are closed (their merged kind)
        render_depth(scene, engine="gpu")
    render_depth(scene, engine="gpu")
    plan = depth_cache.plans[True][2]
    assert len(plan.order) == 61 and sum(len(m) for m, _e in plan.members.values()) == 61, "cubes and plane merged"
    scene.camera.location.x += 0.05  # a camera move: same walk, same entries, same plan
    render_depth(scene, engine="gpu")
    assert depth_cache.plans[True][2] is plan
    me = bpy.data.objects["Small7"].data  # an edit makes a new walk, entries and plan
    me.vertices[0].co.x += 0.5
    me.update()
    edited = render_depth(scene, engine="gpu").depth
    assert depth_cache.plans[True][2] is not plan
    depth_cache.clear()
    assert np.array_equal(edited, render_depth(scene, engine="gpu").depth), "a stale plan or batch was drawn"
