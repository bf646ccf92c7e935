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
``out/quality.md`` and ``out/quality_grid.png``.
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
from depth_addon.blender import images
from depth_addon.blender.writeback import projection
from depth_addon.blender.demo_scene import build_demo_scene  # noqa: E402
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


def run(quick: bool, only: set[str] | None) -> list[dict]:
    """Run every stage and return the records."""
    runs = 3 if quick else 5
    records: list[dict] = []

    def add(stage: str, times: list[float], params: dict, vs: str | None = None) -> None:
        if only and stage not in only:
            return
        rec = {"stage": stage, "median_s": statistics.median(times), "min_s": min(times), "runs": len(times),
               "params": params}
        if vs is not None:
            ref = next((r for r in records if r["stage"] == vs), None)
            if ref is not None:
                rec["vs"], rec["ratio"] = vs, ref["median_s"] / rec["median_s"]
        records.append(rec)

    def wanted(*stages: str) -> bool:
        return not only or bool(only & set(stages))

    if wanted("depth_1024", "depth_workbench_1024", "depth_cycles_1024"):
        scene = bench_scene()
        params = {"size": 1024, "triangles": scene["bench_triangles"]}
        cyc = measure(lambda: api.render_depth(scene, resolution=(1024, 1024), engine="cycles"), runs)
        add("depth_cycles_1024", cyc, params | {"engine": "cycles"})
        wb = measure(lambda: api.render_depth(scene, resolution=(1024, 1024), engine="workbench"), runs)
        add("depth_workbench_1024", wb, params | {"engine": "workbench"}, vs="depth_cycles_1024")
        # Warm-up is two calls: the first uploads the meshes, the second finds which are closed (culling).
        gpu = measure(lambda: api.render_depth(scene, resolution=(1024, 1024), engine="gpu"), max(runs, 5), warmup=2)
        add("depth_1024", gpu, params | {"engine": "gpu"}, vs="depth_cycles_1024")
    if wanted("depth_preview_512"):
        from depth_addon.blender import props as properties
        from depth_addon.blender.depth import preview as depth_preview

        if not hasattr(bpy.types.Scene, "depth_addon"):
            properties.register()
        scene = bench_scene()
        scene.depth_addon.preview_size = 512
        cam = scene.camera

        def nudge() -> None:  # a new camera pose per update, as when the user moves the camera
            cam.location.x += 0.01
            bpy.context.evaluated_depsgraph_get()

        add("depth_preview_512", measure(lambda: depth_preview.update_preview(scene), max(runs, 9), setup=nudge),
            {"size": 512, "triangles": scene["bench_triangles"], "note": "live preview update, camera moved"})
    if wanted("depth_first_call_1024"):
        add("depth_first_call_1024", [first_call_seconds(1024) for _ in range(1 if quick else 3)],
            {"size": 1024, "note": "fresh process, GPU context creation included"})

    if wanted("generate_512", "generate_1024"):
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        scene = build_demo_scene(bpy.context.scene)
        for size in (512, 1024):
            d = api.render_depth(scene, resolution=(size, size))
            def run_once(d=d) -> None:
                api.generate(d.depth, d.mask, "stone", 1, camera=d.camera)

            add(f"generate_{size}", measure(run_once, runs),
                {"size": size, "generator": "default", **(peak_memory(run_once) or {})})

    if wanted("project_scene"):
        scene = bench_scene()
        d = api.render_depth(scene, resolution=(512, 512))
        image = images.image_from_array("Bench Image", np.full((512, 512, 3), 0.5, np.float32))
        objects = [o for o in scene.objects if o.type == "MESH"]
        add("project_scene", measure(lambda: api.project(scene, d, image), runs,
                                     setup=lambda: projection.remove_projection(objects)),
            {"objects": len(objects), "triangles": scene["bench_triangles"]})
        projection.remove_projection(objects)

    if wanted("import_512", "import_2048", "import_displace_2048"):
        from bench_import import import_stages

        for stage, times, params, vs in import_stages(measure, runs):
            add(stage, times, params, vs)

    if wanted("project_1m_faces", "project_1m_faces_loop_uv", "multiview_4x_bake_1024"):
        from bench_texture import texture_stages

        for stage, times, params, ref in texture_stages(measure, runs):
            add(stage, times, params, vs=ref)

    if wanted("demo_end_to_end"):
        from depth_addon.cli import main as cli_main

        with tempfile.TemporaryDirectory() as tmp:
            times = measure(lambda: cli_main(["demo", "--out-dir", tmp]), 1 if quick else 3, warmup=0)
        add("demo_end_to_end", times, {"size": 512, "note": "depth + generate + project + Cycles 16 spp + save"})
    return records


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
    if args.json:
        payload = {"records": records, "cpu_count": os.cpu_count(), "blender": bpy.app.version_string,
                   "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_text_atomic(args.json, json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
