# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark stages of the fast depth path on production-like scenes, each against Cycles Z on the same scene.

Stages (1024², medians over ``runs`` after two warm-up calls; the scene is built once per pair):

* ``depth_modifiers_1024`` — about 100k viewport triangles (spheres, tori, Suzannes on a plane), half
  of the objects with Subdivision Surface viewport 1 / render 2, so depth needs render-level geometry;
* ``depth_modifiers_move_1024`` — the same scene with one subdivided object moved before every call (the move is
  applied during the timed call: its matrix is patched, nothing is evaluated again), against the warm stage;
* ``depth_instances_1024`` — 10,000 geometry-nodes instances of one 500-triangle sphere;
* ``depth_many_objects_1024`` — 2,000 objects of 48 triangles, each with its own mesh;
* ``depth_animated_1024`` — an armature-deformed mesh, a new frame before every call (``frame_set``
  + depth), against ``depth_animated_eval_1024``: the same ``frame_set`` alone (Blender's own deform).

Each ``…_cycles_1024`` stage is ``engine="cycles"`` on the same scene (the reference of its pair).
Run alone: ``python scripts/bench_depth.py [--runs N]``; wire into ``scripts/bench.py`` like
``import_stages``: ``for stage, times, params, vs in depth_stages(measure, runs):``
``rec.add(stage, times, params, vs=vs)``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402, I001  (bmesh is importable only after bpy)
import bmesh  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import measure  # noqa: E402

from depth_addon.blender.depth.render import render_depth  # noqa: E402

SIZE = 1024
Stage = tuple[str, list[float], dict, str | None]


def _empty_scene() -> bpy.types.Scene:
    """An empty file with a camera looking at a 40 m ground plane."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.location, cam.rotation_euler = (0.0, -14.0, 7.0), (np.radians(64), 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    _mesh_object(scene, "Ground", lambda bm: bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=20.0))
    return scene


def _mesh_object(scene: bpy.types.Scene, name: str, build: Callable, location=(0.0, 0.0, 0.0),
                 ) -> bpy.types.Object:
    bm = bmesh.new()
    build(bm)
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    ob = bpy.data.objects.new(name, me)
    ob.location = location
    scene.collection.objects.link(ob)
    return ob


def _triangles(scene: bpy.types.Scene) -> int:
    dg = bpy.context.evaluated_depsgraph_get()
    return sum(len(i.object.data.loop_triangle_polygons) for i in dg.object_instances if i.object.type == "MESH")


def modifiers_scene(triangles: int = 100_000) -> bpy.types.Scene:
    """Spheres, tori and Suzannes on a plane; every other one has Subdivision Surface viewport 1 / render 2."""
    scene = _empty_scene()
    shapes = (lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=0.6),
              lambda bm: bmesh.ops.create_monkey(bm),
              lambda bm: bmesh.ops.create_cone(bm, cap_ends=True, segments=32, radius1=0.6, radius2=0.6, depth=0.8))
    rng = np.random.default_rng(0)
    i = count = 0
    while count < triangles:
        loc = (rng.uniform(-8, 8), rng.uniform(-4, 10), rng.uniform(0.5, 2.0))
        ob = _mesh_object(scene, f"Shape{i}", shapes[i % 3], loc)
        if i % 2:
            sub = ob.modifiers.new("Subdivision", "SUBSURF")
            sub.levels, sub.render_levels = 1, 2
        bpy.context.view_layer.update()
        dg = bpy.context.evaluated_depsgraph_get()
        count += len(ob.evaluated_get(dg).data.loop_triangle_polygons)
        i += 1
    scene["bench_triangles"] = _triangles(scene)
    return scene


def instances_scene(count: int = 10_000) -> bpy.types.Scene:
    """``count`` geometry-nodes instances of one 500-triangle UV sphere on a grid of points."""
    scene = _empty_scene()
    side = int(np.ceil(np.sqrt(count)))
    g = np.stack(np.meshgrid(np.linspace(-9, 9, side), np.linspace(-5, 13, side), [0.3]), -1).reshape(-1, 3)[:count]
    me = bpy.data.meshes.new("Points")
    me.vertices.add(len(g))
    me.vertices.foreach_set("co", g.ravel().astype(np.float32))
    ob = bpy.data.objects.new("Scatter", me)
    scene.collection.objects.link(ob)
    ng = bpy.data.node_groups.new("Scatter", "GeometryNodeTree")
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    gin, gout = ng.nodes.new("NodeGroupInput"), ng.nodes.new("NodeGroupOutput")
    iop, sphere = ng.nodes.new("GeometryNodeInstanceOnPoints"), ng.nodes.new("GeometryNodeMeshUVSphere")
    sphere.inputs["Segments"].default_value, sphere.inputs["Rings"].default_value = 25, 11  # 500 triangles
    sphere.inputs["Radius"].default_value = 0.07
    ng.links.new(gin.outputs[0], iop.inputs["Points"])
    ng.links.new(sphere.outputs[0], iop.inputs["Instance"])
    ng.links.new(iop.outputs[0], gout.inputs[0])
    ob.modifiers.new("Scatter", "NODES").node_group = ng
    scene["bench_triangles"] = _triangles(scene)
    return scene


def many_objects_scene(count: int = 2_000) -> bpy.types.Scene:
    """``count`` objects of 48 triangles (a 6×5 UV sphere each, every one its own mesh)."""
    scene = _empty_scene()
    rng = np.random.default_rng(1)
    template = _mesh_object(scene, "Small0", lambda bm: bmesh.ops.create_uvsphere(
        bm, u_segments=6, v_segments=5, radius=0.15), (0.0, 0.0, 0.5))
    for i in range(1, count):
        ob = bpy.data.objects.new(f"Small{i}", template.data.copy())
        ob.location = (rng.uniform(-9, 9), rng.uniform(-5, 13), rng.uniform(0.2, 2.0))
        scene.collection.objects.link(ob)
    scene["bench_triangles"] = _triangles(scene)
    return scene


def animated_scene() -> bpy.types.Scene:
    """A 205k-triangle tube bent by a two-bone armature animated over 100 frames."""
    scene = _empty_scene()
    ob = _mesh_object(scene, "Tube", lambda bm: bmesh.ops.create_cone(
        bm, cap_ends=True, segments=256, radius1=0.6, radius2=0.6, depth=4.0), (0.0, 2.0, 2.0))
    bm = bmesh.new()
    bm.from_mesh(ob.data)
    bmesh.ops.subdivide_edges(bm, edges=[e for e in bm.edges if abs(e.verts[0].co.z - e.verts[1].co.z) > 1],
                              cuts=400)
    bmesh.ops.triangulate(bm, faces=bm.faces[:])
    bm.to_mesh(ob.data)
    bm.free()
    arm = bpy.data.objects.new("Rig", bpy.data.armatures.new("Rig"))
    arm.location = ob.location
    scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    lower = arm.data.edit_bones.new("Lower")
    lower.head, lower.tail = (0, 0, -2), (0, 0, 0)
    upper = arm.data.edit_bones.new("Upper")
    upper.head, upper.tail, upper.parent = (0, 0, 0), (0, 0, 2), lower
    bpy.ops.object.mode_set(mode="OBJECT")
    ob.parent = arm
    ob.location = (0.0, 0.0, 0.0)
    ob.modifiers.new("Armature", "ARMATURE").object = arm
    z = np.array([v.co.z for v in ob.data.vertices])
    for name, w in (("Lower", np.clip(0.5 - z / 2, 0, 1)), ("Upper", np.clip(0.5 + z / 2, 0, 1))):
        group = ob.vertex_groups.new(name=name)
        for i, wi in enumerate(w):
            group.add([i], float(wi), "REPLACE")
    bone = arm.pose.bones["Upper"]
    bone.rotation_mode = "XYZ"
    for frame, angle in ((1, -0.8), (100, 0.8)):
        bone.rotation_euler = (angle, 0.0, 0.0)
        bone.keyframe_insert("rotation_euler", frame=frame)
    scene.frame_start, scene.frame_end = 1, 100
    scene.frame_set(1)
    scene["bench_triangles"] = _triangles(scene)
    return scene


def _pair(name: str, scene: bpy.types.Scene, measure: Callable, runs: int) -> list[Stage]:
    params = {"size": SIZE, "triangles": int(scene["bench_triangles"])}
    res = (SIZE, SIZE)
    cyc = measure(lambda: render_depth(scene, resolution=res, engine="cycles"), max(1, runs // 2))
    fast = measure(lambda: render_depth(scene, resolution=res), max(runs, 5), warmup=2)
    return [(f"depth_{name}_cycles_1024", cyc, params | {"engine": "cycles"}, None),
            (f"depth_{name}_1024", fast, params | {"engine": "auto"}, f"depth_{name}_cycles_1024")]


def _moving(name: str, scene: bpy.types.Scene, measure: Callable, runs: int) -> Stage:
    """The warm stage of ``name`` with one object with modifiers moved (untimed) before every call."""
    ob = next(o for o in scene.objects if o.modifiers)
    step = [0.01]

    def move() -> None:
        step[0] = -step[0]
        ob.location.x += step[0]

    params = {"size": SIZE, "triangles": int(scene["bench_triangles"]), "note": "one object moved per call"}
    times = measure(lambda: render_depth(scene, resolution=(SIZE, SIZE)), max(runs, 5), warmup=2, setup=move)
    return (f"depth_{name}_move_1024", times, params, f"depth_{name}_1024")


def depth_stages(measure: Callable, runs: int) -> list[Stage]:
    """Every stage of this script as ``(stage, times, params, reference stage or None)``."""
    scene = modifiers_scene()
    out = _pair("modifiers", scene, measure, runs)
    out.append(_moving("modifiers", scene, measure, runs))
    out += _pair("instances", instances_scene(), measure, runs)
    out += _pair("many_objects", many_objects_scene(), measure, runs)
    scene = animated_scene()
    frame = [1]

    def step() -> None:
        frame[0] = frame[0] % 99 + 1
        scene.frame_set(frame[0])

    def step_and_depth() -> None:
        step()
        render_depth(scene, resolution=(SIZE, SIZE))

    params = {"size": SIZE, "triangles": int(scene["bench_triangles"])}
    out.append(("depth_animated_eval_1024", measure(step, max(runs, 5), warmup=2), params | {"note": "frame_set"},
                None))
    out.append(("depth_animated_1024", measure(step_and_depth, max(runs, 5), warmup=2),
                params | {"note": "frame_set + depth"}, "depth_animated_eval_1024"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    stages = depth_stages(measure, args.runs)
    medians = {s: statistics.median(t) for s, t, _p, _v in stages}
    for stage, times, params, vs in stages:
        ratio = f"  {medians[stage] / medians[vs]:6.3f}× the time of {vs}" if vs else ""
        print(f"{stage:32s} {statistics.median(times) * 1000:9.1f} ms  {params}{ratio}")


if __name__ == "__main__":
    main()
