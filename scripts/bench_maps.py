# SPDX-License-Identifier: GPL-3.0-or-later
"""Material maps (issue #19): is the albedo free of baked lighting, and what do the maps cost?

* **Shadow correlation** — on the demo, the yard and six seeded box scenes, each with six prompts, the
  embedded generator's albedo and lit image are compared with its own sun × shadow term within each surface
  segment (:func:`depth_addon.generation.maps.shadow_correlation`); the worst albedo and the mean lit figure
  are reported.
* **Estimated maps** — the same when the analytic layer's image is taken as a mere picture (as a diffusers
  result is): its albedo is de-lit from the image (:mod:`depth_addon.generation.delight`) and compared with the
  known shading.
* **Cost** — ``generate`` against ``generate_maps`` at 512² on the demo scene (medians of 5), and multi-view bakes
  at 1024² with and without maps, taken in turn: from the scene camera alone (medians of 7) and from four placed
  views (``views4_…``, medians of 5). ``…_packed_…`` adds what follows a bake in the sidebar (and a save
  headless): packing its images into the file.
* **The whole run** — ``depth_cli texture --views 4 --bake 1024`` on the demo with and without ``--maps``, taken
  in turn (medians of 3, in this process): what a pipeline TD waits for, from opening the file to the saved
  ``.blend`` and the texture files (``cli_…``, with the ``bake`` and ``write`` stages beside the total).

``python scripts/bench_maps.py [--json out.json]``.
"""

from __future__ import annotations

import io
import json
import random
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import main_for, measure  # noqa: E402
from bench_multiview import demo_scene, yard_scene  # noqa: E402

from depth_addon import api  # noqa: E402
from depth_addon.app import multiview as app_multiview  # noqa: E402
from depth_addon.blender import images  # noqa: E402
from depth_addon.blender.writeback import bake_apply  # noqa: E402
from depth_addon.cli import main as cli_main  # noqa: E402
from depth_addon.generation import get_generator  # noqa: E402
from depth_addon.generation.analytic import gbuffer, prepare  # noqa: E402
from depth_addon.generation.delight import generate_layers  # noqa: E402
from depth_addon.generation.maps import shadow_correlation  # noqa: E402
from depth_addon.generation.prompt import parse_prompt  # noqa: E402

PROMPTS = ("red brick", "oak wood", "grey stone", "polished metal", "green grass", "white tiles")


def box_scene(seed: int) -> bpy.types.Scene:
    """Seeded boxes of several sizes on a ground plane, seen by a camera above the front."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    rng = random.Random(seed)
    bpy.ops.mesh.primitive_plane_add(size=20.0)
    for _ in range(rng.randint(3, 7)):
        bpy.ops.mesh.primitive_cube_add(size=1.0, location=(rng.uniform(-4, 4), rng.uniform(-3, 4), 0.0))
        box = bpy.context.active_object
        box.scale = (rng.uniform(0.5, 2.5), rng.uniform(0.5, 2.5), rng.uniform(0.5, 3.0))
        box.location.z = box.scale.z / 2.0
        box.rotation_euler.z = rng.uniform(0.0, 1.5)
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = (rng.uniform(-3, 3), -12.0, rng.uniform(4.0, 7.0)), (1.15, 0.0, 0.0)
    scene.camera = cam
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 256, 256, 100
    return scene


class PictureOnly:
    """A generator seen as one that paints pictures only (like diffusers), with a known shading to check against.

    :param inner: The generator whose ``generate`` is used.
    """

    def __init__(self, inner) -> None:
        self.generate = inner.generate


def correlations(scene: bpy.types.Scene, gen) -> dict:
    """|Correlation| with the shadow term over :data:`PROMPTS`: the worst for the albedo, the mean for the lit
    image (beside it, to show the measure sees baked lighting where there is some)."""
    result = api.render_depth(scene, resolution=(256, 256))
    depth = result.camera.radial_to_planar(result.depth) if result.radial else result.depth
    worst = {"albedo": 0.0, "lit": 0.0}
    for seed, prompt in enumerate(PROMPTS):
        layers = generate_layers(gen, depth, result.mask, prompt, seed, result.camera)
        d, m, s, cam = prepare(depth, result.mask, None, seed, result.camera)
        report = parse_prompt(prompt)
        g = gbuffer(d, m, cam, report.styles[0], s, report)
        worst["albedo"] = max(worst["albedo"], shadow_correlation(layers.maps["albedo"], g.direct, m, g.labels))
        worst["lit"] += shadow_correlation(layers.rgb, g.direct, m, g.labels) / len(PROMPTS)
    return worst


def run() -> dict:
    """Every figure of the module docstring."""
    gen = get_generator("embedded")
    painter = PictureOnly(get_generator("analytic"))  # its maps are estimated from the picture, as for diffusers
    scenes = {"demo": demo_scene, "yard": yard_scene} | {f"boxes {i}": (lambda i=i: box_scene(i)) for i in range(6)}
    out: dict = {"scenes": {}, "estimated": {}}
    for name, build in scenes.items():
        scene = build()
        out["scenes"][name] = correlations(scene, gen)
        out["estimated"][name] = correlations(scene, painter)
    for key in ("scenes", "estimated"):
        prefix = "" if key == "scenes" else "estimated_"
        out[f"{prefix}worst_albedo_correlation"] = max(v["albedo"] for v in out[key].values())
        out[f"{prefix}mean_lit_correlation"] = statistics.mean(v["lit"] for v in out[key].values())
    scene = demo_scene((512, 512))
    result = api.render_depth(scene)
    depth = result.camera.radial_to_planar(result.depth) if result.radial else result.depth
    plain = measure(lambda: gen.generate(depth, result.mask, "red brick", 1, camera=result.camera), 5)
    maps = measure(lambda: gen.generate_maps(depth, result.mask, "red brick", 1, camera=result.camera), 5)
    out["generate_512_s"], out["generate_maps_512_s"] = statistics.median(plain), statistics.median(maps)
    out["generate_maps_cost"] = out["generate_maps_512_s"] / out["generate_512_s"] - 1.0
    for prefix, cameras, runs in (("", [scene.camera], 7), ("views4_", None, 5)):  # the scene view; four placed
        times: dict[bool, list[float]] = {False: [], True: []}
        packed: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(runs):  # alternating, so that a slow spell of the machine hits both alike
            for with_maps in (False, True):
                bake_apply.remove_bake()
                run_ = app_multiview.texture_multiview(scene, cameras=cameras, views=4, prompt="red brick", seed=1,
                                                       bake_size=1024, maps=with_maps,
                                                       shading="PBR" if with_maps else "EMISSION")
                times[with_maps].append(run_.timings["bake"])
                start = time.perf_counter()  # what the sidebar does next, and a save headless: pack the images
                images.pack_generated(*run_.images.values(), *(m for ms in run_.maps.values() for m in ms.values()))
                packed[with_maps].append(times[with_maps][-1] + time.perf_counter() - start)
        plain, mapped = statistics.median(times[False]), statistics.median(times[True])
        out[f"{prefix}bake_1024_s"], out[f"{prefix}bake_maps_1024_s"] = plain, mapped
        out[f"{prefix}bake_maps_cost"] = mapped / plain - 1.0
        plain, mapped = statistics.median(packed[False]), statistics.median(packed[True])
        out[f"{prefix}bake_packed_1024_s"], out[f"{prefix}bake_maps_packed_1024_s"] = plain, mapped
        out[f"{prefix}bake_maps_packed_cost"] = mapped / plain - 1.0
    bake_apply.remove_bake()
    out.update(cli_bake())
    return out


def cli_bake(runs: int = 3) -> dict:
    """The whole ``texture --bake`` run of the module docstring (it opens its own file: run it last)."""
    times: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        demo_scene((512, 512))
        blend = Path(tmp) / "demo.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
        for _ in range(runs):
            for with_maps in (False, True):
                events = io.StringIO()
                with redirect_stdout(events):
                    code = cli_main(["texture", "--json", "--blend", str(blend), "--views", "4", "--bake", "1024",
                                     *(["--maps"] if with_maps else []), "--prompt", "red brick", "--seed", "1",
                                     "--out-dir", str(Path(tmp) / "out"), "--overwrite"])
                if code != 0:
                    raise RuntimeError(f"texture --bake exited with {code}")
                done = [e for e in map(json.loads, (x for x in events.getvalue().splitlines() if x.startswith("{")))
                        if e.get("event") == "done"]
                times[with_maps].append(done[-1]["timings"])
    out = {}
    for stage in ("total", "bake", "write"):
        plain, mapped = (statistics.median(t[stage] for t in times[m]) for m in (False, True))
        out[f"cli_{stage}_s"], out[f"cli_{stage}_maps_s"] = plain, mapped
    out["cli_maps_cost"] = out["cli_total_maps_s"] / out["cli_total_s"] - 1.0
    return out


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures."""
    return main_for(__doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
