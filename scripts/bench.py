# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks: medians over several runs after a warm-up, each fast path beside its slow reference.

Usage::

    python scripts/bench.py [--quick] [--json out/bench.json] [--only STAGE ...] [--quality]

Prints a table and writes one JSON record per stage:
``{"stage", "median_s", "min_s", "runs", "params", "vs"?, "ratio"?}`` where ``ratio`` is the
reference stage's median divided by this stage's median (how many times faster), measured in the
same run. Timings are reported, never asserted: tests check behaviour, this checks speed.

``--quality`` also runs the generator quality bench (:mod:`bench_quality`: the held-out Cycles
renders in ``data/test`` against every generator), which writes ``out/quality.json``,
``out/quality.md`` and ``out/quality_grid.png``, and the multi-view detail bench (:mod:`bench_multiview`:
multi-view bakes against the single projected view on the yard and demo scenes), ``out/multiview_detail.json``,
the material-map benches (:mod:`bench_maps`, :mod:`bench_relight`), ``out/maps.json``, and, when
``data/multi`` holds multi-material scenes, the scene-prompt quality bench (:mod:`bench_scene_quality`),
``out/scene_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402, I001  (bpy first: it makes bmesh importable)
import bmesh  # noqa: E402
import numpy as np  # noqa: E402

from bench_common import measure, peak_memory  # noqa: E402
from depth_addon import api  # noqa: E402
from depth_addon.blender import images, props  # noqa: E402
from depth_addon.blender.demo_scene import build_demo_scene  # noqa: E402
from depth_addon.blender.depth import preview as depth_preview  # noqa: E402
from depth_addon.blender.writeback import projection  # noqa: E402
from depth_addon.cli import main as cli_main  # noqa: E402
from depth_addon.io.atomic import write_text_atomic  # noqa: E402


def bench_scene(triangles: int = 100_000, seed: int = 0) -> bpy.types.Scene:
    """The demo scene plus random spheres, cubes and tori up to about ``triangles`` triangles."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = build_demo_scene(bpy.context.scene)
    rng = random.Random(seed)
    coll = bpy.data.collections["Depth Demo"]
    count, i = 0, 0
    while count < triangles:
        bm = bmesh.new()
        kind = i % 3
        if kind == 0:
            bmesh.ops.create_uvsphere(bm, u_segments=48, v_segments=24, radius=rng.uniform(0.2, 0.8))
        elif kind == 1:
            bmesh.ops.create_cube(bm, size=rng.uniform(0.3, 1.2))
            bmesh.ops.subdivide_edges(bm, edges=bm.edges[:], cuts=12, use_grid_fill=True)
        else:
            bmesh.ops.create_cone(bm, cap_ends=True, segments=64, radius1=0.5, radius2=0.1, depth=1.0)
        bmesh.ops.triangulate(bm, faces=bm.faces[:])
        count += len(bm.faces)
        me = bpy.data.meshes.new(f"Bench{i}")
        bm.to_mesh(me)
        bm.free()
        me.materials.append(bpy.data.materials["Box Material"])
        ob = bpy.data.objects.new(f"Bench{i}", me)
        ob.location = (rng.uniform(-6, 6), rng.uniform(-2, 12), rng.uniform(0.2, 3))
        coll.objects.link(ob)
        i += 1
    scene["bench_triangles"] = count
    return scene


def first_call_seconds(size: int) -> float:
    """Time of the first depth render in a fresh process (GPU context creation included)."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import bench; s = bench.bench_scene();"
        f"from depth_addon import api; t = time.perf_counter(); api.render_depth(s, resolution=({size}, {size}));"
        "print('FIRST', time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600).stdout
    return float(next(line.split()[1] for line in out.splitlines() if line.startswith("FIRST")))


class Records:
    """The stages measured so far, and which stages were asked for."""

    def __init__(self, only: set[str] | None) -> None:
        self.only = only
        self.records: list[dict] = []

    def wanted(self, *stages: str) -> bool:
        """True when any of ``stages`` is to be measured."""
        return not self.only or bool(self.only & set(stages))

    def add(self, stage: str, times: list[float], params: dict, vs: str | None = None) -> None:
        """Record a stage's times; with ``vs``, its speed-up over that (earlier) stage of the same run."""
        if self.only and stage not in self.only:
            return
        rec = {"stage": stage, "median_s": statistics.median(times), "min_s": min(times), "runs": len(times),
               "params": params}
        if vs is not None:
            ref = next((r for r in self.records if r["stage"] == vs), None)
            if ref is not None:
                rec["vs"], rec["ratio"] = vs, ref["median_s"] / rec["median_s"]
        self.records.append(rec)


def depth_stages(rec: Records, runs: int, quick: bool) -> None:
    """Depth at 1024² by every engine, the live preview update and a fresh process's first call."""
    if rec.wanted("depth_1024", "depth_workbench_1024", "depth_cycles_1024"):
        scene = bench_scene()
        params = {"size": 1024, "triangles": scene["bench_triangles"]}
        cyc = measure(lambda: api.render_depth(scene, resolution=(1024, 1024), engine="cycles"), runs)
        rec.add("depth_cycles_1024", cyc, params | {"engine": "cycles"})
        wb = measure(lambda: api.render_depth(scene, resolution=(1024, 1024), engine="workbench"), runs)
        rec.add("depth_workbench_1024", wb, params | {"engine": "workbench"}, vs="depth_cycles_1024")
        # Warm-up is two calls: the first uploads the meshes, the second finds which are closed (culling).
        gpu = measure(lambda: api.render_depth(scene, resolution=(1024, 1024), engine="gpu"), max(runs, 5), warmup=2)
        rec.add("depth_1024", gpu, params | {"engine": "gpu"}, vs="depth_cycles_1024")
    if rec.wanted("depth_preview_512"):
        if not hasattr(bpy.types.Scene, "depth_addon"):
            props.register()
        scene = bench_scene()
        scene.depth_addon.preview_size = 512
        cam = scene.camera

        def nudge() -> None:  # a new camera pose per update, as when the user moves the camera
            cam.location.x += 0.01
            bpy.context.evaluated_depsgraph_get()

        rec.add("depth_preview_512", measure(lambda: depth_preview.update_preview(scene), max(runs, 9), setup=nudge),
                {"size": 512, "triangles": scene["bench_triangles"], "note": "live preview update, camera moved"})
    if rec.wanted("depth_first_call_1024"):
        rec.add("depth_first_call_1024", [first_call_seconds(1024) for _ in range(1 if quick else 3)],
                {"size": 1024, "note": "fresh process, GPU context creation included"})


def generate_stages(rec: Records, runs: int, quick: bool) -> None:
    """The default generator at 512² and 1024² on the demo scene, and projecting onto the bench scene."""
    if rec.wanted("generate_512", "generate_1024"):
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        scene = build_demo_scene(bpy.context.scene)
        for size in (512, 1024):
            d = api.render_depth(scene, resolution=(size, size))

            def run_once(d=d) -> None:
                api.generate(d.depth, d.mask, "stone", 1, camera=d.camera)

            rec.add(f"generate_{size}", measure(run_once, runs),
                    {"size": size, "generator": "default", **(peak_memory(run_once) or {})})
    if rec.wanted("project_scene"):
        scene = bench_scene()
        d = api.render_depth(scene, resolution=(512, 512))
        image = images.image_from_array("Bench Image", np.full((512, 512, 3), 0.5, np.float32))
        objects = [o for o in scene.objects if o.type == "MESH"]
        rec.add("project_scene", measure(lambda: api.project(scene, d, image), runs,
                                         setup=lambda: projection.remove_projection(objects)),
                {"objects": len(objects), "triangles": scene["bench_triangles"]})
        projection.remove_projection(objects)


def other_stages(rec: Records, runs: int, quick: bool) -> None:
    """Import, texturing and the demo end to end (stages of ``bench_import.py`` and ``bench_texture.py``)."""
    if rec.wanted("import_512", "import_2048", "import_displace_2048"):
        from bench_import import import_stages

        for stage, times, params, vs in import_stages(measure, runs):
            rec.add(stage, times, params, vs)
    if rec.wanted("project_1m_faces", "project_1m_faces_loop_uv", "multiview_4x_bake_1024",
                  "multiview_4x_bake_1024_placed_only"):
        from bench_texture import texture_stages

        for stage, times, params, ref in texture_stages(measure, runs):
            rec.add(stage, times, params, vs=ref)
    scene_depth = ("depth_modifiers_1024", "depth_modifiers_move_1024", "depth_instances_1024",
                   "depth_many_objects_1024", "depth_animated_1024")
    if rec.wanted(*scene_depth):
        from bench_depth import depth_stages as scene_depth_stages

        for stage, times, params, ref in scene_depth_stages(measure, runs):
            rec.add(stage, times, params, vs=ref)
    compositor = ("render_1024", "compositor_mix_1024", "compositor_dof_1024", "compositor_all_1024")
    if rec.wanted(*compositor):
        from bench_compositor import compositor_stages

        for stage, times, params, ref in compositor_stages(measure, runs):
            rec.add(stage, times, params, vs=ref)
    scene_prompt = ("scene_assign_1000", "texture_512_10_objects_1_phrase", "texture_512_10_objects_3_phrases",
                    "scene_report_5000", "cli_names_5000", "regenerate_600_objects")
    if rec.wanted(*scene_prompt):
        from bench_scene_prompt import scene_prompt_stages

        for stage, times, params, ref in scene_prompt_stages(measure, runs):
            rec.add(stage, times, params, vs=ref)
    if rec.wanted("worker_first_512", "worker_warm_512", "worker_warm_1024", "ui_block_1024"):
        from bench_worker import worker_stages

        for stage, times, params, ref in worker_stages(max(3, runs // 2) if quick else runs):
            rec.add(stage, times, params, vs=ref)
    if rec.wanted("demo_end_to_end"):
        with tempfile.TemporaryDirectory() as tmp:
            times = measure(lambda: cli_main(["demo", "--out-dir", tmp]), 1 if quick else 3, warmup=0)
        rec.add("demo_end_to_end", times, {"size": 512, "note": "depth + generate + project + Cycles 16 spp + save"})


def run(quick: bool, only: set[str] | None) -> list[dict]:
    """Run every stage and return the records."""
    runs = 3 if quick else 5
    rec = Records(only)
    for stages in (depth_stages, generate_stages, other_stages):
        stages(rec, runs, quick)
    return rec.records


def table(records: list[dict]) -> str:
    """A fixed-width table of the records."""
    lines = [f"{'stage':<24}{'median ms':>12}{'min ms':>10}{'runs':>6}  vs"]
    for r in records:
        ratio = f"{r['ratio']:.1f}x faster than {r['vs']}" if "ratio" in r else ""
        lines.append(f"{r['stage']:<24}{r['median_s'] * 1e3:>12.1f}{r['min_s'] * 1e3:>10.1f}{r['runs']:>6}  {ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--json", type=Path, help="write the records here")
    parser.add_argument("--only", nargs="*", help="run only these stages")
    parser.add_argument("--quality", action="store_true",
                        help="also run the quality bench (scripts/bench_quality.py, needs data/test and data/train)")
    args = parser.parse_args(argv)
    records = run(args.quick, set(args.only) if args.only else None)
    print(table(records))
    for r in records:
        if "peak_rss_mb" in r["params"]:
            print(f"{r['stage']}: peak memory {r['params']['peak_rss_mb']:.0f} MB resident "
                  f"(+{r['params']['peak_extra_mb']:.0f} MB during the call)")
    if args.quality:
        import bench_quality

        result = bench_quality.quality()
        print(bench_quality.table(result["rows"]))
        print(json.dumps(result["gates"]))
        import bench_scene_quality

        if (ROOT / "data" / "multi").is_dir():  # per-object materials on held-out multi-material scenes
            scene_quality = bench_scene_quality.run(ROOT / "data" / "multi", ROOT / "data" / "train", ROOT / "out",
                                                    100, 400, 2, ROOT / "data" / "multi_train")
            print(bench_scene_quality.table(scene_quality["rows"]))
        import bench_multiview

        detail = {name: bench_multiview.run(scene_name=name) for name in bench_multiview.SCENES}
        print(bench_multiview.table(detail))
        write_text_atomic(ROOT / "out" / "multiview_detail.json", json.dumps(detail, indent=2))
        import bench_maps
        import bench_relight

        maps = {"maps": bench_maps.run(), "relight": bench_relight.run()}
        print(json.dumps(maps, indent=2))
        write_text_atomic(ROOT / "out" / "maps.json", json.dumps(maps, indent=2))
    if args.json:
        payload = {"records": records, "cpu_count": os.cpu_count(), "blender": bpy.app.version_string,
                   "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_text_atomic(args.json, json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
