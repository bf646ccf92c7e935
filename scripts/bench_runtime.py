# SPDX-License-Identifier: GPL-3.0-or-later
"""Speed, load time and memory of the embedded model's runtimes (opencv and numpy ship; torch is the reference).

Usage: ``python scripts/bench_runtime.py [--runs 5] [--runtimes opencv numpy torch] [--only STAGE ...]
[--json out/bench_runtime.json]``.

Stages (records as ``scripts/bench.py``: ``{"stage", "median_s", "min_s", "runs", "params", "vs"?,
"ratio"?}``, ``ratio`` = the reference stage's median ÷ this one's, measured in the same run):

* ``load_<runtime>``: a fresh process imports the generator and loads the verified weights (OpenCV
  builds its network); median of 3 processes.
* ``first_512_<runtime>``: a fresh process imports, loads and generates one 512² image (what a user
  waits for the first time); median of 3 processes.
* ``analytic_512`` / ``analytic_1024``: layer 1 alone (the G-buffer), warm.
* ``network_512_<runtime>`` / ``network_1024_<runtime>``: layer 2 alone on seeded features, warm.
* ``generate_512_<runtime>`` / ``generate_1024_<runtime>``: the whole generator, warm, with the peak
  resident memory of one call and its CPU seconds.

Every stage uses prompt "stone", seed 1 and a depth scene built here (ground, wall, boxes, sphere,
50° camera). Without bpy; torch is blocked in the fresh processes of the opencv and numpy runtimes.
The load average before and after is recorded: the machine is shared, compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import measure, peak_memory  # noqa: E402

from depth_addon.camera import CameraModel  # noqa: E402

RUNTIMES = ("opencv", "numpy", "torch")
#: Stages whose speed-up over the numpy runtime is reported.
REFERENCE = "numpy"

FRESH_CODE = """
import sys, time
t0 = time.perf_counter()
{block}
sys.path.insert(0, {scripts!r})
from depth_addon.generation import get_generator
gen = get_generator("embedded", runtime="{runtime}")
gen.model
assert gen.active_runtime == "{runtime}", gen.describe()
if {size}:
    from bench_runtime import bench_depth
    depth, cam = bench_depth({size})
    gen.generate(depth, prompt="stone", seed=1, camera=cam)
print(time.perf_counter() - t0)
"""


def bench_depth(size: int) -> tuple[np.ndarray, CameraModel]:
    """A size² planar depth map: ground plane, back wall, two boxes and a sphere (``inf`` = sky).

    :param size: Side in pixels.
    """
    cam = CameraModel.from_fov(size, size, 50.0)
    x, y = (np.asarray(v, np.float64) for v in cam.pixel_plane_coords())
    xs, ys = np.meshgrid(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(ys < 0, -1.5 / ys, np.inf)  # ground at y = -1.5 (planar depth t along -z)
    depth = np.where(depth <= 12.0, depth, np.inf)
    depth = np.where(np.isinf(depth) & (ys > -0.125), 12.0, depth)  # wall at 12 m
    for cx, half, z in ((-0.15, 0.08, 5.0), (0.2, 0.12, 7.0)):
        box = (np.abs(xs - cx) < half) & (ys > -1.5 / z) & (ys < -1.5 / z + 2 * half) & (depth > z)
        depth = np.where(box, z, depth)
    r2 = (xs - 0.0) ** 2 + (ys + 0.05) ** 2
    sphere = r2 < 0.09 ** 2
    bulge = 4.0 - 0.9 * np.sqrt(np.clip(1 - r2 / 0.09 ** 2, 0, 1))
    depth = np.where(sphere & (bulge < depth), bulge, depth)
    return depth.astype(np.float32), cam


def fresh_seconds(runtime: str, size: int = 0, processes: int = 3) -> list[float]:
    """Import + verified weight load (+ one ``size``² generation when ``size``) in fresh processes.

    :param runtime: ``opencv``, ``numpy`` or ``torch``.
    :param size: Image side of the one generation; 0 for none.
    :param processes: Number of fresh processes.
    """
    block = "" if runtime == "torch" else "sys.modules['torch'] = None"
    code = FRESH_CODE.format(block=block, runtime=runtime, size=size, scripts=str(Path(__file__).resolve().parent))
    out = []
    for _ in range(processes):
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        out.append(float(proc.stdout.strip().splitlines()[-1]))
    return out


class Records:
    """Stage records of one run, with speed-ups over the reference runtime's same stage."""

    def __init__(self, only: set[str] | None) -> None:
        self.records: list[dict] = []
        self.only = only

    def wanted(self, stage: str) -> bool:
        """True when ``stage`` is to be measured.

        :param stage: Stage name.
        """
        return not self.only or stage in self.only

    def add(self, stage: str, times: list[float], params: dict, vs: str | None = None) -> None:
        """Record a stage's times; with ``vs``, its speed-up over that (earlier) stage of the same run.

        :param stage: Stage name.
        :param times: Wall times in seconds.
        :param params: What was measured (sizes, memory, CPU seconds).
        :param vs: Reference stage name.
        """
        rec = {"stage": stage, "median_s": statistics.median(times), "min_s": min(times), "runs": len(times),
               "params": params}
        ref = next((r for r in self.records if r["stage"] == vs), None)
        if ref is not None and vs != stage:
            rec["vs"], rec["ratio"] = vs, ref["median_s"] / rec["median_s"]
        self.records.append(rec)


def _warm(rec: Records, stage: str, fn: Callable[[], object], runs: int, params: dict, vs: str | None) -> None:
    """Time ``fn`` warm (median of ``runs``), with its CPU seconds and peak memory."""
    if not rec.wanted(stage):
        return
    cpu = time.process_time()
    times = measure(fn, runs)
    params = {**params, "cpu_s_per_call": round((time.process_time() - cpu) / (runs + 1), 3)}
    rec.add(stage, times, {**params, **(peak_memory(fn) or {})}, vs)


def runtime_stages(rec: Records, runtime: str, runs: int) -> None:
    """Fresh-process and warm stages of one runtime.

    :param rec: Records.
    :param runtime: Runtime name.
    :param runs: Timed calls per warm stage.
    """
    from depth_addon.generation import get_generator
    from depth_addon.generation.netnp import condition
    from depth_addon.generation.prompt import STYLES

    for stage, size in ((f"load_{runtime}", 0), (f"first_512_{runtime}", 512)):
        if rec.wanted(stage):
            rec.add(stage, fresh_seconds(runtime, size), {"size": size, "processes": 3},
                    vs=stage.replace(runtime, REFERENCE))
    gen = get_generator("embedded", runtime=runtime)
    model = gen.model
    feats_rng = np.random.default_rng(0)
    for size in (512, 1024):
        depth, cam = bench_depth(size)
        feats = feats_rng.random((13, size, size), dtype=np.float32)
        predict = gen.network(model, condition(STYLES.index("stone"), np.array([0.3, 0.8, 0.5])))
        _warm(rec, f"network_{size}_{runtime}", lambda f=feats, p=predict: p(f), runs, {"size": size},
              vs=f"network_{size}_{REFERENCE}")
        _warm(rec, f"generate_{size}_{runtime}",
              lambda d=depth, c=cam: gen.generate(d, prompt="stone", seed=1, camera=c), runs, {"size": size},
              vs=f"generate_{size}_{REFERENCE}")


def analytic_stages(rec: Records, runs: int) -> None:
    """Layer 1 alone at 512² and 1024².

    :param rec: Records.
    :param runs: Timed calls per stage.
    """
    from depth_addon.generation.analytic import gbuffer
    from depth_addon.generation.prompt import parse_prompt

    for size in (512, 1024):
        depth, cam = bench_depth(size)
        mask = np.isfinite(depth)
        _warm(rec, f"analytic_{size}", lambda d=depth, m=mask, c=cam: gbuffer(d, m, c, "stone", 1,
                                                                                parse_prompt("stone")),
              runs, {"size": size}, None)


def run(runtimes: list[str], runs: int, only: set[str] | None = None) -> dict:
    """All stages; the reference runtime first so the others' speed-ups can be given.

    :param runtimes: Runtime names.
    :param runs: Timed calls per warm stage.
    :param only: Stage names to run (all when None).
    """
    rec = Records(only)
    load_before = os.getloadavg()
    analytic_stages(rec, runs)
    for runtime in sorted(runtimes, key=lambda r: r != REFERENCE):
        runtime_stages(rec, runtime, runs)
    return {"records": rec.records, "load_before": load_before, "load_after": os.getloadavg(),
            "cpus": os.cpu_count(), "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}}


def table(records: list[dict]) -> str:
    """The records as a text table.

    :param records: Stage records.
    """
    lines = [f"{'stage':<24}{'median ms':>11}{'min ms':>9}{'runs':>6}{'cpu s':>8}{'peak MB':>9}  vs"]
    for r in records:
        cpu, peak = r["params"].get("cpu_s_per_call", float("nan")), r["params"].get("peak_rss_mb", float("nan"))
        ratio = f"{r['ratio']:.2f}x vs {r['vs']}" if "ratio" in r else ""
        lines.append(f"{r['stage']:<24}{r['median_s'] * 1e3:>11.0f}{r['min_s'] * 1e3:>9.0f}{r['runs']:>6}"
                     f"{cpu:>8.2f}{peak:>9.0f}  {ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    :param argv: Arguments without the program name.
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--runtimes", nargs="*", default=list(RUNTIMES), choices=RUNTIMES)
    ap.add_argument("--only", nargs="*", help="run only these stages")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    result = run(args.runtimes, args.runs, set(args.only) if args.only else None)
    print(table(result["records"]))
    print(f"load average before {result['load_before']}, after {result['load_after']} ({result['cpus']} CPUs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
