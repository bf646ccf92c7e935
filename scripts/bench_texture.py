# SPDX-License-Identifier: GPL-3.0-or-later
"""Write-back benchmarks: projection material on a 1M-face scene, multi-view texturing with 1024² bakes.

Usage (alone)::

    python scripts/bench_texture.py [--runs N]

:func:`texture_stages` is what ``scripts/bench.py`` calls; it returns
``(stage, times, params, reference stage or None)`` tuples measured with the caller's ``measure``.
Stages:

* ``project_1m_faces_loop_uv`` — reference: per-corner projector UVs written with numpy (the
  route a shader-less projection needs);
* ``project_1m_faces`` — :func:`projection.project_image` with occlusion depth (shader route);
* ``multiview_4x_bake_1024`` — the scene camera's view and 4 placed views (the default), 20 objects, embedded
  generator, 1024² bake each: UV unwrap, depth, generation, fusion, padding, images and materials, end to end;
* ``multiview_4x_bake_1024_placed_only`` — the same with the 4 placed views only.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402, I001  (bpy first: it makes bmesh importable)
import bmesh  # noqa: E402
import numpy as np  # noqa: E402

from bench_common import stages_main  # noqa: E402
from depth_addon import api  # noqa: E402
from depth_addon.app import multiview as app_multiview
from depth_addon.blender.writeback import bake_apply, projection
from depth_addon.blender import images
from depth_addon.blender.demo_scene import build_demo_scene  # noqa: E402


def grid_scene(faces: int = 1_000_000) -> bpy.types.Scene:
    """The demo camera in front of one grid mesh of about ``faces`` quads (plus the demo set).

    :param faces: Number of faces of the grid.
    """
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = build_demo_scene(bpy.context.scene, (512, 512))
    side = int(round(faces ** 0.5))
    bm = bmesh.new()
    bmesh.ops.create_grid(bm, x_segments=side, y_segments=side, size=6.0)
    me = bpy.data.meshes.new("Bench Grid")
    bm.to_mesh(me)
    bm.free()
    me.materials.append(bpy.data.materials["Box Material"])
    ob = bpy.data.objects.new("Bench Grid", me)
    ob.location, ob.rotation_euler = (0.0, 6.0, 3.0), (1.2, 0.0, 0.0)
    scene.collection.objects.link(ob)
    scene["bench_faces"] = len(me.polygons)
    return scene


def loop_uv_projection(obj: bpy.types.Object, camera) -> None:
    """Reference: per-corner UVs from the projector, written as a ``ProjUV`` corner attribute.

    :param obj: Mesh object.
    :param camera: The capture :class:`~depth_addon.camera.CameraModel`.
    """
    me = obj.data
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    m = np.linalg.inv(camera.matrix) @ np.array(obj.matrix_world)
    v = co.reshape(-1, 3) @ m[:3, :3].T.astype(np.float32) + m[:3, 3].astype(np.float32)
    s = -v[:, 2]
    left, right, bottom, top = camera.frame
    uv = np.stack([(v[:, 0] / s - left) / (right - left), (v[:, 1] / s - bottom) / (top - bottom)], 1)
    uv[s <= 0] = -1.0
    corner = np.empty(len(me.loops), np.int64)
    me.loops.foreach_get("vertex_index", corner)
    attr = me.attributes.get("ProjUV") or me.attributes.new("ProjUV", "FLOAT2", "CORNER")
    attr.data.foreach_set("vector", uv[corner].ravel())


def multiview_scene(objects: int = 20, seed: int = 0) -> bpy.types.Scene:
    """The demo set plus primitives up to ``objects`` meshes, none with UV maps.

    :param objects: Total number of mesh objects.
    :param seed: Placement seed.
    """
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = build_demo_scene(bpy.context.scene, (512, 512))
    rng = random.Random(seed)
    coll = bpy.data.collections["Depth Demo"]
    i = 0
    while sum(1 for o in scene.objects if o.type == "MESH") < objects:
        bm = bmesh.new()
        kind = i % 3
        if kind == 0:
            bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=rng.uniform(0.3, 0.8))
        elif kind == 1:
            bmesh.ops.create_cube(bm, size=rng.uniform(0.4, 1.2))
        else:
            bmesh.ops.create_cone(bm, cap_ends=True, segments=32, radius1=0.5, radius2=0.1, depth=1.0)
        me = bpy.data.meshes.new(f"Bench{i}")
        bm.to_mesh(me)
        bm.free()
        me.materials.append(bpy.data.materials["Sphere Material"])
        ob = bpy.data.objects.new(f"Bench{i}", me)
        ob.location = (rng.uniform(-7, 7), rng.uniform(-6, 8), rng.uniform(0.5, 2.5))
        coll.objects.link(ob)
        i += 1
    return scene


def texture_stages(measure, runs: int) -> list[tuple[str, list[float], dict, str | None]]:
    """Measure the write-back stages.

    :param measure: ``measure(fn, runs, warmup=1, setup=None) -> list[float]`` (as in ``bench.py``).
    :param runs: Timed runs per stage.
    """
    out = []
    scene = grid_scene()
    grid = bpy.data.objects["Bench Grid"]
    depth = api.render_depth(scene, resolution=(512, 512))
    planar = depth.camera.radial_to_planar(depth.depth) if depth.radial else depth.depth
    image = images.image_from_array("Bench Image", np.full((512, 512, 3), 0.5, np.float32))
    params = {"faces": int(scene["bench_faces"]), "objects": sum(1 for o in scene.objects if o.type == "MESH")}
    out.append(("project_1m_faces_loop_uv", measure(lambda: loop_uv_projection(grid, depth.camera), runs),
                params | {"route": "numpy per-corner UV"}, None))
    times = measure(lambda: projection.project_image(scene, depth.camera, image, depth=planar), runs,
                    setup=projection.remove_projection)
    out.append(("project_1m_faces", times, params | {"route": "projector shader + occlusion depth"},
                "project_1m_faces_loop_uv"))
    projection.remove_projection()

    scene = multiview_scene()
    count = sum(1 for o in scene.objects if o.type == "MESH")

    def texture(scene_view: bool) -> None:
        app_multiview.texture_multiview(scene, views=4, placement="orbit", prompt="weathered stone", seed=1,
                                        bake_size=1024, view_size=512, scene_view=scene_view)

    params = {"objects": count, "views": 4, "bake": 1024, "view_size": 512, "generator": "default"}
    times = measure(lambda: texture(True), runs, setup=bake_apply.remove_bake)
    out.append(("multiview_4x_bake_1024", times, params | {"note": "the scene camera's view first, then 4 placed"},
                None))
    times = measure(lambda: texture(False), runs, setup=bake_apply.remove_bake)
    out.append(("multiview_4x_bake_1024_placed_only", times, params | {"note": "4 placed views, no scene view"},
                None))
    bake_apply.remove_bake()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the stages alone and print medians."""
    return stages_main(__doc__, texture_stages, 3, argv)


if __name__ == "__main__":
    sys.exit(main())
