# SPDX-License-Identifier: GPL-3.0-or-later
"""What counts as geometry: the three depth paths agree on modifiers, instances, curves and visibility."""

from __future__ import annotations

import bpy
import depth_scenes
import numpy as np
import pytest

from depth_addon.blender.depth import cache as depth_cache
from depth_addon.blender.depth.meshdata import mesh_arrays
from depth_addon.blender.depth.render import render_depth
from depth_addon.errors import BadInput

ENGINES = ("gpu", "workbench", "cycles")


@pytest.mark.parametrize("name", list(depth_scenes.BUILDERS))
def test_paths_agree(name: str) -> None:
    scene = depth_scenes.BUILDERS[name]()
    results = {e: render_depth(scene, engine=e) for e in ENGINES}
    ref = results["cycles"].depth
    inner = depth_scenes.interior(ref)
    feature = inner & (ref < 5.5)  # the feature objects, in front of the plane (≥ 5.9 m at the centre)
    assert feature.sum() > 20, f"{name}: the feature is barely visible ({feature.sum()} px)"
    for engine in ("gpu", "workbench"):
        d = results[engine].depth
        assert np.array_equal(np.isfinite(d)[inner], np.isfinite(ref)[inner]), f"{name}/{engine}: coverage"
        ok = inner & np.isfinite(ref)
        rel = np.abs(d[ok] - ref[ok]) / ref[ok]
        assert rel.max() < 1e-4, f"{name}/{engine}: max relative difference {rel.max():.2e}"


def test_visibility_rules_match_cycles() -> None:
    scene = depth_scenes.visibility()
    d = render_depth(scene, engine="gpu")
    cam = d.camera

    def pixel(x: float, y: float, z: float) -> tuple[int, int]:
        left, right, bottom, top = cam.frame
        u, v = x / -z, y / -z
        return int((top - v) / (top - bottom) * cam.height), int((u - left) / (right - left) * cam.width)

    assert d.depth[pixel(-1.2, 0.5, -3.5)] > 5.0, "camera-invisible objects are not seen"
    assert np.isinf(d.depth[pixel(1.2, 0.5, -3.5)]), "holdouts occlude and leave background"
    assert abs(d.depth[pixel(0.0, -1.0, -4.0)] - 4.0) < 1e-4, "shadow catchers are surfaces"
    assert d.depth[pixel(0.0, 0.8, -3.5)] > 5.0, "hidden from render"
    assert abs(d.depth[pixel(-1.2, -1.0, -3.5)] - 3.5) < 1e-4, "hidden in the viewport but rendered"


def test_quads_are_split_like_blender() -> None:
    me = bpy.data.meshes.new("Quads")
    verts = [(0, 0, 0), (2, 0, 0), (0.3, 0.3, 0.5), (0, 2, 0), (3, 0, 0), (4, 0, 1), (4, 1, 0), (3, 1, 1),
             (5, 0, 0), (6, 0, 0), (6, 1, 0), (5.5, 1.5, 0), (5, 1, 0)]
    me.from_pydata(verts, [], [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11, 12), (0, 3, 2)])
    me.update()
    _co, tris, faces = mesh_arrays(me)
    loops = np.empty(len(me.loop_triangles) * 3, np.int32)
    me.loop_triangles.foreach_get("vertices", loops)
    assert np.array_equal(tris, loops.reshape(-1, 3))
    ngon_free = bpy.data.meshes.new("NoNgon")
    ngon_free.from_pydata(verts[:8], [], [(0, 1, 2, 3), (4, 5, 6, 7), (0, 3, 2)])
    _co, tris, faces = mesh_arrays(ngon_free)
    ngon_free.loop_triangles.foreach_get("vertices", loops[: len(tris) * 3])
    assert np.array_equal(tris, loops[: len(tris) * 3].reshape(-1, 3)), "the fast split must match Blender's"
    assert list(faces) == [0, 0, 1, 1, 2]
    triangles = bpy.data.meshes.new("Triangles")  # triangles only: read as the corner array
    triangles.from_pydata(verts[:5], [], [(0, 1, 2), (3, 2, 4), (0, 3, 4)])
    _co, tris, faces = mesh_arrays(triangles)
    triangles.loop_triangles.foreach_get("vertices", loops[:9])
    assert np.array_equal(tris, loops[:9].reshape(-1, 3)) and list(faces) == [0, 1, 2]
    corners = mesh_arrays(triangles, corners=True)[1]
    triangles.loop_triangles.foreach_get("loops", loops[:9])
    assert np.array_equal(corners, loops[:9].reshape(-1, 3))


def test_cache_rebuilds_only_changed_geometry() -> None:
    scene = depth_scenes.modifiers()
    first = render_depth(scene, engine="gpu")
    entries = dict(depth_cache._entries)
    scene.camera.location.x += 0.05
    render_depth(scene, engine="gpu")
    assert all(depth_cache._entries[k] is e for k, e in entries.items()), "a camera move must not re-upload"
    bpy.data.objects["Modified"].modifiers["Array"].count = 3
    third = render_depth(scene, engine="gpu")
    assert any(depth_cache._entries.get(k) is not e for k, e in entries.items()), "geometry edits rebuild"
    assert (third.depth < 5.5).sum() > (first.depth < 5.5).sum()
    ob = bpy.data.objects["Modified"]
    ob.data.vertices[0].co.z += 0.3  # same counts, new positions: only the update handler can tell
    ob.data.update()
    moved = render_depth(scene, engine="gpu").depth
    depth_cache.clear()
    assert np.array_equal(moved, render_depth(scene, engine="gpu").depth), "a stale batch was drawn"
    assert not np.array_equal(moved, third.depth)


def test_render_route_and_workbench_emulation_restore_the_scene() -> None:
    from depth_addon.blender.depth.gpu import _DepthEngine

    scene = depth_scenes.visibility()  # a viewport-hidden object: the gpu path uses a render depsgraph

    def snapshot() -> tuple:
        r = scene.render
        return (r.engine, r.resolution_x, r.resolution_y, r.resolution_percentage, r.use_compositing,
                sorted((o.name, o.hide_render, o.visible_camera) for o in scene.objects),
                len(bpy.data.node_groups), len(bpy.data.materials), len(bpy.data.scenes))

    before = snapshot()
    for engine in ("gpu", "workbench"):
        render_depth(scene, engine=engine)
        assert snapshot() == before, engine
    assert not _DepthEngine.is_registered, "the internal engine is registered only during a render"


def test_many_instances_fill_several_texture_rows() -> None:
    from depth_addon.blender.depth.gpu import ROW

    scene = depth_scenes.geometry_nodes()
    me = bpy.data.objects["Scatter"].data
    grid = np.stack(np.meshgrid(np.linspace(-2.5, 2.5, 40), np.linspace(-2, 2, 40), [0.0]), -1).reshape(-1, 3)
    me.clear_geometry()
    me.vertices.add(len(grid))
    me.vertices.foreach_set("co", grid.ravel())
    me.update()
    ng = bpy.data.node_groups["Scatter"]
    ng.nodes["Cube"].inputs["Size"].default_value = (0.11, 0.11, 0.11)
    assert len(grid) > ROW  # points are ordered by y: those past the first texture row are in the top part
    gpu_depth = render_depth(scene, engine="gpu", resolution=(120, 90)).depth
    wb = render_depth(scene, engine="workbench", resolution=(120, 90)).depth
    inner = depth_scenes.interior(wb)
    assert (inner & (wb < 5.5))[:30].sum() > 20, "cubes of the second texture row are drawn"
    assert np.array_equal(np.isfinite(gpu_depth)[inner], np.isfinite(wb)[inner])
    ok = inner & np.isfinite(wb)
    assert np.max(np.abs(gpu_depth[ok] - wb[ok]) / wb[ok]) < 1e-4


def test_memory_guard_covers_plain_meshes(monkeypatch) -> None:
    scene = depth_scenes.modifiers()
    for ob in list(scene.objects):
        ob.modifiers.clear()  # plain meshes: the viewport's geometry is the render's
    monkeypatch.setattr(depth_cache, "MAX_UPLOAD_BYTES", 1000)
    names = sorted(o.name for o in scene.objects)
    for engine, ids in (("gpu", False), ("auto", False), ("auto", True)):
        with pytest.raises(BadInput, match=r"geometry to draw has 0\.0 million triangles.*GiB.*engine 'cycles'"):
            render_depth(scene, engine=engine, ids=ids)
    assert sorted(o.name for o in scene.objects) == names
    monkeypatch.setattr(depth_cache, "MAX_UPLOAD_BYTES", 2 * 2**30)
    assert render_depth(scene, engine="gpu").mask.any()
