# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark stages of generation the way the sidebar runs it: a texture job through the worker process.

Stages (the default generator, the demo scene, :func:`depth_addon.app.texture.texture_flow` jobs in a
:class:`~depth_addon.app.jobs.JobQueue` polled like the modal operator's timer does):

* ``worker_first_512`` — a stopped worker, then one 512² job: worker start, model load, generation,
  write-back (what the first Generate after Blender starts costs);
* ``worker_warm_512`` / ``worker_warm_1024`` — one job with the worker already running;
* ``ui_block_1024`` — the longest single :meth:`JobQueue.update` call (the time Blender's UI thread is
  blocked) during a 1024² job, the write-back included; its ``median_s`` is that maximum per job.

Run alone: ``python scripts/bench_worker.py [--runs N]``; ``scripts/bench.py`` calls :func:`worker_stages`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from depth_addon.app.jobs import Job, JobQueue  # noqa: E402
from depth_addon.app.texture import texture_flow  # noqa: E402
from depth_addon.blender.demo_scene import build_demo_scene  # noqa: E402
from depth_addon.worker.config import WorkerConfig  # noqa: E402

Stage = tuple[str, list[float], dict, str | None]
TICK_S = 0.1  # the modal operator's timer


def run_job(queue: JobQueue, size: int) -> tuple[float, float]:
    """One texture job at ``size``² from submit to applied: ``(seconds, longest update in seconds)``."""
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    t = time.perf_counter()
    job = queue.submit(Job(scene.name, texture_flow(scene, prompt="stone", seed=1, compositor=False), {}, "bench"))
    longest = 0.0
    while not job.finished:
        u = time.perf_counter()
        queue.update()
        longest = max(longest, time.perf_counter() - u)
        if not job.finished:
            time.sleep(min(TICK_S, 0.02))
    if job.state != "done":
        raise RuntimeError(f"bench job {job.state}: {job.error}")
    return time.perf_counter() - t, longest


def worker_stages(runs: int) -> list[Stage]:
    """Time the worker stages (each run on a fresh demo scene).

    :param runs: Timed runs per stage.
    :return: ``(stage, times, params, None)`` per stage.
    """
    queue = JobQueue()
    queue.configure(WorkerConfig())
    first, warm512, warm1024, block = [], [], [], []
    try:
        for _ in range(runs):
            bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
            build_demo_scene(bpy.context.scene)
            queue.release()  # a stopped worker: the next job starts it and loads the model
            first.append(run_job(queue, 512)[0])
            warm512.append(run_job(queue, 512)[0])
            seconds, longest = run_job(queue, 1024)
            warm1024.append(seconds)
            block.append(longest)
    finally:
        queue.shutdown()
    params = {"generator": "default", "scene": "demo", "route": "texture_flow job through the worker"}
    return [("worker_first_512", first, params | {"size": 512, "note": "worker start + model load"}, None),
            ("worker_warm_512", warm512, params | {"size": 512}, None),
            ("worker_warm_1024", warm1024, params | {"size": 1024}, None),
            ("ui_block_1024", block, params | {"size": 1024, "note": "longest JobQueue.update per job"}, None)]


def main(argv: list[str] | None = None) -> int:
    """Run the stages alone and print their medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    for stage, times, _params, _ref in worker_stages(args.runs):
        print(f"{stage:20s} median {statistics.median(times) * 1000:8.1f} ms  (min {min(times) * 1000:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
