# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark what our compositor group adds to a render of the demo scene at 1024² (Workbench, AA off).

Stages (medians over ``runs`` after one warm-up; the scene is built once, untimed):

* ``render_1024`` — ``bpy.ops.render.render()`` with compositing off: the reference;
* ``compositor_mix_1024`` — the same render through our group, a 1024² AI layer mixed at opacity 0.5;
* ``compositor_dof_1024`` — plus thin-lens depth of field at f/2.8, focus on the box (the camera's 35 mm lens);
* ``compositor_all_1024`` — plus fog and relighting of the AI layer (every effect at once).

Each compositor stage names ``render_1024`` as its reference; the cost of the group is the difference.
Run alone: ``python scripts/bench_compositor.py [--runs N]``; ``scripts/bench.py`` can call
:func:`compositor_stages` like the other stage functions.
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

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import measure  # noqa: E402

from depth_addon.blender.compositor import fx as compositor_fx  # noqa: E402
from depth_addon.blender.compositor import group as comp  # noqa: E402
from depth_addon.blender.demo_scene import build_demo_scene  # noqa: E402
from depth_addon.blender.images import image_from_array  # noqa: E402
from depth_addon.camera import CameraModel  # noqa: E402

Stage = tuple[str, list[float], dict, str | None]
SIZE = 1024


def _scene() -> bpy.types.Scene:
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = build_demo_scene(bpy.context.scene, (SIZE, SIZE))
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.render_aa = "OFF"
    scene.render.use_compositing = False
    return scene


def compositor_stages(measure: Callable[..., list[float]], runs: int) -> list[Stage]:
    """Time a render without and with our compositor group, with ``measure(fn, runs, warmup=1)``.

    :param measure: Timing helper returning the wall times of ``runs`` calls (``scripts/bench_common.py``).
    :param runs: Timed runs per stage.
    :return: ``(stage, times, params, reference stage or None)`` for ``render_1024``, ``compositor_mix_1024``,
        ``compositor_dof_1024`` and ``compositor_all_1024``.
    """
    scene = _scene()
    render = lambda: bpy.ops.render.render()  # noqa: E731
    params = {"size": SIZE, "engine": "workbench, AA off", "scene": "demo"}
    stages: list[Stage] = [("render_1024", measure(render, runs, warmup=1), params | {"compositor": "off"}, None)]
    rng = np.random.default_rng(0)
    layer = image_from_array("Bench AI Layer", rng.random((SIZE, SIZE, 3)).astype(np.float32))
    focus = compositor_fx.focus_from_object(scene, bpy.data.objects["Box"])
    normals = compositor_fx.normals_image("Bench Normals", np.full((256, 256), 8.0, np.float32),
                                          CameraModel.from_fov(256, 256, 54.4))
    variants = (
        ("compositor_mix_1024", {"use_dof": False}),
        ("compositor_dof_1024", {"use_dof": True, "focus_distance": focus, "fstop": 2.8}),
        ("compositor_all_1024", {"use_dof": True, "focus_distance": focus, "fstop": 2.8, "fog_density": 0.03,
                                 "normals": normals, "relight": 0.5, "light_direction": (0.3, 0.5, 0.8)}),
    )
    for stage, options in variants:
        comp.ensure_compositor_group(scene, layer, opacity=0.5, **options)
        comp.activate_compositor(scene)
        window = comp.find_compositor_group(scene).nodes.get(comp.N_DEFOCUS)
        shown = {k: v for k, v in options.items() if k != "normals"}
        stages.append((stage, measure(render, runs, warmup=1), params | shown | {
            "blur_window_px": window.blur_max if window is not None else 0}, "render_1024"))
    comp.restore_compositor(scene)
    return stages


def main(argv: list[str] | None = None) -> int:
    """Run the stages alone and print their medians and what the group adds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    medians = {}
    for stage, times, _params, ref in compositor_stages(measure, args.runs):
        medians[stage] = statistics.median(times)
        extra = f"  adds {(medians[stage] - medians[ref]) * 1e3:+.1f} ms over {ref}" if ref in medians else ""
        print(f"{stage:<24}{medians[stage] * 1e3:>10.1f} ms  (min {min(times) * 1e3:.1f}){extra}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
