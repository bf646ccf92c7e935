# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark stages of scene prompts: every object its own material.

Stages:

* ``scene_assign_1000`` — assigning the phrases of one prompt to 1,000 synthetic objects (names, materials,
  collections, roles from geometry), the sentence encoder not loaded (goal ≤ 20 ms);
* ``texture_512_10_objects_3_phrases`` — ``texture_scene`` on the demo set plus five primitives (10 meshes),
  prompt "red brick walls, wooden posts and mossy stone ground", 512²: depth with object ids, routing, one
  generation with a segment per object, projection (goal ≤ 0.5 s); the record also holds the generation alone;
* ``texture_512_10_objects_1_phrase`` — the same with a one-phrase prompt (the reference of the pair);
* ``scene_report_5000`` — the report of 5,000 objects' materials (every third one with two slots): its lines, its
  one-line summary and each object's parts (once quadratic: about 1 s);
* ``cli_names_5000`` — resolving 5,000 ``--objects`` names given on the command line, two of them holding commas
  (once cubic: 12 s for 2,000);
* ``regenerate_600_objects`` — Regenerate of a 128×96 projection over 600 cubes painted with a two-phrase prompt
  (each object's latest prompt is read from the record it shows: once per object, it was quadratic).

Run alone: ``python scripts/bench_scene_prompt.py [--runs N]``; ``scripts/bench.py`` runs it too.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402, I001  (bmesh is importable only after bpy)
import bmesh  # noqa: E402
from bench_common import stages_main  # noqa: E402

from depth_addon import api  # noqa: E402
from depth_addon.app import regenerate  # noqa: E402
from depth_addon.app.scene_prompts import SceneSegments, assignment_lines, assignment_summary  # noqa: E402
from depth_addon.blender.demo_scene import build_demo_scene  # noqa: E402
from depth_addon.blender.writeback import projection  # noqa: E402
from depth_addon.cli.parts import scene_names  # noqa: E402
from depth_addon.generation.scene_assign import bench_assign  # noqa: E402

PROMPT = "red brick walls, wooden posts and mossy stone ground"
Stage = tuple[str, list[float], dict, str | None]


def ten_objects() -> bpy.types.Scene:
    """The demo set (ground, box, sphere, column, wall) plus five posts: 10 meshes."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = build_demo_scene(bpy.context.scene, (512, 512))
    coll = bpy.data.collections["Depth Demo"]
    for i in range(5):
        bm = bmesh.new()
        bmesh.ops.create_cube(bm, size=1.0)
        me = bpy.data.meshes.new(f"Post {i + 1}")
        bm.to_mesh(me)
        bm.free()
        ob = bpy.data.objects.new(f"Post {i + 1}", me)
        ob.location, ob.scale = (-4.0 + 2.0 * i, 6.0, 1.0), (0.25, 0.25, 2.0)
        coll.objects.link(ob)
    return scene


def scene_prompt_stages(measure, runs: int) -> list[Stage]:
    """Measure the stages above.

    :param measure: ``measure(fn, runs, warmup=1, setup=None) -> list[float]`` (as in ``bench.py``).
    :param runs: Timed runs per stage.
    """
    out: list[Stage] = []
    assign = [bench_assign(1000, repeat=1) / 1000.0 for _ in range(runs)]
    out.append(("scene_assign_1000", assign, {"objects": 1000, "phrases": 5}, None))
    scene = ten_objects()
    meshes = sum(1 for o in scene.objects if o.type == "MESH")
    for stage, prompt in (("texture_512_10_objects_1_phrase", "mossy stone"),
                          ("texture_512_10_objects_3_phrases", PROMPT)):
        generate: list[float] = []

        def texture(prompt: str = prompt, generate: list[float] = generate) -> None:
            run = api.texture_scene(scene, prompt=prompt, seed=1, resolution=(512, 512), compositor=False)
            generate.append(run.timings["generate"])

        times = measure(texture, runs, setup=projection.remove_projection)
        out.append((stage, times, {"size": 512, "objects": meshes, "prompt": prompt,
                                   "generate_median_s": statistics.median(generate[1:])},
                    None if stage.endswith("1_phrase") else "texture_512_10_objects_1_phrase"))
    projection.remove_projection()
    return out + report_stages(measure, runs)


def report_stages(measure, runs: int) -> list[Stage]:
    """The report of 5,000 objects' materials and the resolution of 5,000 command-line names.

    :param measure: As for :func:`scene_prompt_stages`.
    :param runs: Timed runs per stage.
    """
    objects = [f"Obj {k}" for k in range(5000) for _material in range(2 if k % 3 == 0 else 1)]
    decisions = [{"part": f"{o}/Mat{i}", "object": o, "prompt": "brick", "reason": "name", "segment": i}
                 for i, o in enumerate(objects)]
    parts = SceneSegments(prompts=["brick"] * len(objects), decisions=decisions, objects=objects)
    names = list(dict.fromkeys(objects))

    def report() -> None:
        assignment_lines(decisions), assignment_summary(decisions), parts.owners(names)

    out: list[Stage] = [("scene_report_5000", measure(report, runs), {"objects": 5000, "parts": len(objects)}, None)]
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    given = [f"Rock.{i:04d}" for i in range(5000)]
    given[10], given[4000] = "Col, umn", "a, b, c"
    for name in given:
        bpy.context.scene.collection.objects.link(bpy.data.objects.new(name, None))
    joined = ",".join(given)
    out.append(("cli_names_5000", measure(lambda: scene_names(joined), runs), {"names": 5000}, None))
    return out + [regenerate_stage(measure, runs)]


def regenerate_stage(measure, runs: int) -> Stage:
    """Regenerate of a projection over 600 cubes (see the module docstring).

    :param measure: As for :func:`scene_prompt_stages`.
    :param runs: Timed runs.
    """
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 128, 96
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=0.3)
    mesh = bpy.data.meshes.new("Cube")
    bm.to_mesh(mesh)
    bm.free()
    for i in range(600):
        ob = bpy.data.objects.new(f"Cube.{i:03d}", mesh)
        ob.location = ((i % 30) * 0.5 - 7.0, (i // 30) * 0.5, 0.0)
        scene.collection.objects.link(ob)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.location, cam.rotation_euler = (0.0, -12.0, 8.0), (0.9, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    api.texture_scene(scene, prompt="red brick cubes, gold ground", seed=1, compositor=False)
    seeds = iter(range(2, 10_000))
    times = measure(lambda: regenerate.regenerate(bpy.data.objects["Cube.010"], scene, seed=next(seeds)), runs)
    projection.remove_projection()
    return "regenerate_600_objects", times, {"objects": 600, "size": [128, 96]}, None


def main(argv: list[str] | None = None) -> int:
    """Run the stages alone and print medians."""
    return stages_main(__doc__, scene_prompt_stages, 5, argv)


if __name__ == "__main__":
    sys.exit(main())
