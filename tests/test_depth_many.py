# SPDX-License-Identifier: GPL-3.0-or-later
"""Many objects and instances: small meshes share merged batches, instances out of view are left out, all exact."""

from __future__ import annotations

import bpy
import depth_scenes
import numpy as np

from depth_addon.blender.depth import cache as depth_cache
from depth_addon.blender.depth import gpu as depth_gpu
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


def test_instances_out_of_view_are_left_out_and_the_rest_is_exact(monkeypatch) -> None:
    scene = depth_scenes.geometry_nodes()
    me = bpy.data.objects["Scatter"].data
    me.vertices.add(20)  # twenty more points, every one far beside the view
    far = [(30.0 if i % 2 else -30.0, float(i), 0.0) for i in range(20)]
    me.vertices.foreach_set("co", np.array([v.co[:] for v in me.vertices[:3]] + far, np.float32).ravel())
    me.update()
    for i, x in enumerate((-30.0, -1.5, 30.0, 1.5)):  # small cubes, in view or not, interleaved
        depth_scenes._cube(f"Small{i}", 0.3, (x, -1.0, -4.0))
    kept = []
    original = depth_gpu.visible
    monkeypatch.setattr(depth_gpu, "visible", lambda *a: kept.append(original(*a)[0]) or original(*a))
    fast = render_depth(scene, engine="gpu").depth
    assert kept[-1].sum() == len(kept[-1]) - 20, "the instances out of view are left out, merged cubes are not"
    ref = render_depth(scene, engine="cycles").depth
    inner = depth_scenes.interior(ref)
    assert np.array_equal(np.isfinite(fast)[inner], np.isfinite(ref)[inner])
    ok = inner & np.isfinite(ref)
    assert np.max(np.abs(fast[ok] - ref[ok]) / ref[ok]) < 1e-4
    ids = render_depth(scene, engine="gpu", ids=True)  # nothing merged: the two cubes out of view are left out too
    assert kept[-1].sum() == len(kept[-1]) - 22 and np.array_equal(ids.depth, fast)
    assert set(np.array(ids.objects)[ids.object_ids[ids.mask]]) == {"Scatter", "Plane", "Small1", "Small3"}


def test_a_camera_that_sees_no_mesh_gives_background_in_every_pass() -> None:
    """Every instance outside the view (behind the camera, beside it): depth, normals and ids are all background,
    as Cycles renders it, with nothing left to draw."""
    scene = depth_scenes._base()
    for ob in [o for o in scene.objects if o.type == "MESH"]:
        bpy.data.objects.remove(ob)
    depth_scenes._cube("Behind", 1.0, (0.0, 0.0, 5.0))
    depth_scenes._cube("Beside", 1.0, (30.0, 0.0, -5.0))
    for passes in ({}, {"ids": True}, {"normals": True}):
        result = render_depth(scene, engine="gpu", **passes)
        assert not np.isfinite(result.depth).any(), passes
    assert not np.isfinite(render_depth(scene, engine="cycles").depth).any()
