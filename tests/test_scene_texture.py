# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-object materials end to end: the demo's prompt lands on the right objects, in-process and through the
worker alike, explicit per-object prompts win, and ``texture --dry-run`` reports the assignment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from images import same_image

from depth_addon import api
from depth_addon.app.jobs import Job, JobQueue
from depth_addon.app.texture import texture_flow
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.blender.writeback import provenance as provenance_props
from depth_addon.errors import BadInput
from depth_addon.worker.config import WorkerConfig

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "brick walls, wooden posts and grass"
SIZE = (128, 128)


def demo() -> bpy.types.Scene:
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return build_demo_scene(bpy.context.scene)


def region_colours(scene: bpy.types.Scene, rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Mean colour of each object's pixels (from an id render of the same view)."""
    ids = api.render_depth(scene, resolution=SIZE, ids=True)
    return {name: rgb[ids.object_ids == i].mean(0) for i, name in enumerate(ids.objects)}


@pytest.mark.parametrize("generator", [None, "baseline"])
def test_the_demo_prompt_lands_on_its_objects(generator: str | None) -> None:
    """Walls brick, the column wood, the ground grass: by their names, reported and recorded; the default generator
    conditions per pixel, the baseline paints masked passes."""
    scene = demo()
    run = api.texture_scene(scene, prompt=PROMPT, seed=0, resolution=SIZE, compositor=False, generator=generator)
    got = {d["part"].split("/")[0]: (d["prompt"], d["reason"]) for d in run.parts.decisions}
    assert got["Ground"] == ("grass", "name") and got["Column"] == ("wood", "name")
    assert got["Wall"] == ("brick", "name") and got["Box"][0] == "brick"
    colour = region_colours(scene, run.rgb)
    ground, wall, column = colour["Ground"], colour["Wall"], colour["Column"]
    assert ground[1] > ground[0] and ground[1] > ground[2], ground  # grass is green
    assert wall[0] > wall[1] and wall[1] < ground[1], wall  # brick is red, not green
    assert column[0] > column[2] and column[1] < ground[1], column  # wood is brown
    record = provenance_props.read(run.image)
    assert {d["part"] for d in record["options"]["parts"]} == {d["part"] for d in run.parts.decisions}


@pytest.mark.parametrize("seed", [0, 1])
def test_the_style_classifier_names_each_demo_object_as_its_prompt_asked(seed: int) -> None:
    """The style classifier, trained on Cycles renders of each material (``scripts/train_style_classifier.py``),
    names the demo's walls brick, its column wood and its ground grass in the default generator's image."""
    from depth_addon.generation.metrics import StyleClassifier
    from depth_addon.generation.prompt import STYLES

    clf = StyleClassifier.load(ROOT / "tests" / "data" / "style_classifier.safetensors")
    scene, size = demo(), (256, 256)
    run = api.texture_scene(scene, prompt=PROMPT, seed=seed, resolution=size, compositor=False)
    ids = api.render_depth(scene, resolution=size, ids=True)
    wanted = {"Wall": "brick", "Column": "wood", "Ground": "grass"}
    regions = {name.split("/")[0]: ids.object_ids == i for i, name in enumerate(ids.objects)}
    got = {name: STYLES[int(clf.predict([run.rgb], [regions[name]])[0])] for name in wanted}
    assert got == wanted
    single = api.texture_scene(scene, prompt="red brick", seed=seed, resolution=size, compositor=False)
    assert STYLES[int(clf.predict([single.rgb], [regions["Ground"]])[0])] == "brick"  # it reads the paint, not places


def test_one_material_prompts_are_unchanged() -> None:
    """A single-material prompt sends no segments: the image is the whole-image generator's."""
    scene = demo()
    run = api.texture_scene(scene, prompt="mossy stone", seed=2, resolution=SIZE, compositor=False)
    assert run.parts.segments is None and run.parts.decisions == []
    depth = api.render_depth(scene, resolution=SIZE)
    assert same_image(run.rgb, api.generate(depth.depth, depth.mask, "mossy stone", 2, camera=depth.camera))


def test_worker_and_in_process_paint_the_same_parts() -> None:
    """The job queue sends the segment map and per-part prompts to the worker: the same image as in-process."""
    scene = demo()
    local = api.texture_scene(scene, prompt=PROMPT, seed=1, resolution=SIZE, compositor=False)
    queue = JobQueue()
    queue.configure(WorkerConfig())
    try:
        scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = *SIZE, 100
        job = queue.submit(Job(scene.name, texture_flow(scene, prompt=PROMPT, seed=1, compositor=False), {},
                               "parts"))
        queue.wait(timeout=300)
    finally:
        queue.shutdown()
    assert job.state == "done", job.error
    assert np.abs(job.result.rgb - local.rgb).max() < 1e-5


def test_explicit_object_prompts_win_and_bad_names_are_refused() -> None:
    """``object_prompts`` beat routing; a name that is no object is refused with the close names."""
    scene = demo()
    run = api.texture_scene(scene, prompt=PROMPT, seed=0, resolution=SIZE, compositor=False,
                            object_prompts={"Sphere": "gold metal"})
    sphere = next(d for d in run.parts.decisions if d["part"].startswith("Sphere"))
    assert (sphere["prompt"], sphere["reason"]) == ("gold metal", "explicit")
    with pytest.raises(BadInput, match="did you mean 'Sphere'"):
        api.texture_scene(scene, prompt=PROMPT, resolution=SIZE, object_prompts={"Sphre": "gold"})


def test_the_object_prompt_set_in_the_sidebar_wins_over_routing(addon) -> None:
    """``Object.depth_addon_prompt`` (the sidebar's Object Prompt) is an explicit prompt; the API's beats it."""
    scene = demo()
    bpy.data.objects["Sphere"].depth_addon_prompt = "  gold metal "
    run = api.texture_scene(scene, prompt=PROMPT, seed=0, resolution=SIZE, compositor=False)
    sphere = next(d for d in run.parts.decisions if d["part"].startswith("Sphere"))
    assert (sphere["prompt"], sphere["reason"]) == ("gold metal", "explicit")
    run = api.texture_scene(scene, prompt=PROMPT, seed=0, resolution=SIZE, compositor=False,
                            object_prompts={"Sphere": "white marble"})
    assert next(d for d in run.parts.decisions if d["part"].startswith("Sphere"))["prompt"] == "white marble"
    single = api.texture_scene(scene, prompt="mossy stone", seed=0, resolution=SIZE, compositor=False)
    assert any(d["reason"] == "explicit" for d in single.parts.decisions)  # one object's prompt makes it per part


def test_cli_dry_run_reports_the_assignment(tmp_path: Path) -> None:
    """``texture --dry-run --json`` prints one ``part`` event per part and writes nothing."""
    scene = demo()
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "depth_cli.py"), "texture", "--blend", str(blend),
                           "--prompt", PROMPT + ", copper roof", "--dry-run", "--json", "--out-dir", str(out),
                           "--object-prompt", "Box=marble"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    parts = {e["part"].split("/")[0]: e for e in events if e["event"] == "part"}
    assert parts["Ground"]["prompt"] == "grass" and parts["Box"]["reason"] == "explicit"
    assert any(e["event"] == "warning" and "copper roof" in e["message"] for e in events)
    assert not out.exists() and len(scene.objects) > 0


def test_multiview_paints_each_object_as_routed_in_every_view() -> None:
    """Multi-view bakes follow the prompt's routing: one part list for the run, each object the same in every view."""
    from depth_addon.app import multiview as app_multiview
    from depth_addon.blender.writeback import bake_apply

    scene = demo()
    result = app_multiview.texture_multiview(scene, views=2, prompt=PROMPT, seed=1, bake_size=64, view_size=96,
                                             object_prompts={"Sphere": "gold metal"})
    routed = {d["part"].split(" ")[0].split("/")[0]: (d["prompt"], d["reason"]) for d in result.decisions}
    assert routed["Sphere"] == ("gold metal", "explicit")
    assert "brick" in routed["Wall"][0] and "grass" in routed["Ground"][0], routed
    assert result.provenance["options"]["parts"] == result.decisions
    mean = {name: bake_apply.images.array_from_image(img)[..., :3].reshape(-1, 3).mean(0)
            for name, img in result.images.items()}
    assert mean["Ground"][1] > mean["Ground"][0]  # grass is green
    assert mean["Wall"][0] > mean["Wall"][2]  # brick is red
    bake_apply.remove_bake()


def test_regenerating_a_per_object_projection_routes_it_again() -> None:
    """Regenerate with the recorded seed: the same per-object image, not the whole prompt on every object."""
    from depth_addon.app import regenerate

    scene = demo()
    run = api.texture_scene(scene, prompt=PROMPT, seed=4, resolution=SIZE, compositor=False,
                            object_prompts={"Sphere": "gold metal"})
    before = np.array(run.image.pixels[:])
    image = regenerate.regenerate(bpy.data.objects["Wall"], scene)
    assert image == run.image and np.abs(np.array(image.pixels[:]) - before).max() < 1e-4
    regenerate.regenerate(bpy.data.objects["Wall"], scene, prompt="marble walls, gold posts and sand")
    parts = provenance_props.read(run.image)["options"]["parts"]  # what each part got for the new prompt
    wall = next(d for d in parts if d["part"].startswith("Wall"))
    assert "marble" in wall["prompt"] and not any("brick" in d["prompt"] for d in parts)
    regenerate.regenerate(bpy.data.objects["Wall"], scene, prompt="white marble")  # one material (and the sphere's)
    parts = provenance_props.read(run.image)["options"]["parts"]
    assert {d["prompt"] for d in parts} == {"white marble", "gold metal"}


def test_one_object_repainted_with_a_new_prompt_is_a_local_edit() -> None:
    """``only_this``: the object gets the new prompt as its own; every other pixel stays as it was."""
    from depth_addon.app import regenerate
    from depth_addon.blender.writeback import provenance as provenance_props

    scene = demo()
    run = api.texture_scene(scene, prompt=PROMPT, seed=4, resolution=SIZE, compositor=False)
    before = bpy_pixels(run.image)
    sphere = api.render_depth(scene, resolution=SIZE, ids=True)
    inside = sphere.object_ids == sphere.objects.index("Sphere")
    regenerate.regenerate(bpy.data.objects["Sphere"], scene, prompt="gold metal", only_this=True)
    after = bpy_pixels(run.image)
    assert np.abs(after[~inside] - before[~inside]).max() < 1e-4  # nothing else changed
    assert np.abs(after[inside] - before[inside]).mean() > 0.05  # the sphere did
    record, _holder = provenance_props.find(bpy.data.objects["Sphere"])
    assert record["options"]["object_prompts"]["Sphere"] == "gold metal" and record["prompt"] == PROMPT
    with pytest.raises(BadInput, match="not in the capture camera's view"):
        bpy.data.objects["Sphere"].location.x += 1000.0
        bpy.context.view_layer.update()
        regenerate.regenerate(bpy.data.objects["Sphere"], scene, prompt="gold", only_this=True)


def bpy_pixels(image: bpy.types.Image) -> np.ndarray:
    """H×W×3 pixels, row 0 = top (as the depth's id maps)."""
    w, h = image.size
    return np.array(image.pixels[:], np.float32).reshape(h, w, 4)[::-1, :, :3]


def test_an_object_hidden_behind_others_takes_no_phrase() -> None:
    """A door behind the wall is drawn but shows no pixel: it is no part, so 'red door' is reported as matching
    nothing instead of being listed as painted."""
    from depth_addon.app.scene_prompts import scene_segments

    scene = demo()
    wall = bpy.data.objects["Wall"]
    door = wall.copy()
    door.data = wall.data.copy()
    door.name = "Door"
    door.location.y += 1.0  # behind the wall, seen from the demo camera
    door.scale = (0.3, 0.3, 0.3)
    scene.collection.objects.link(door)
    depth = api.render_depth(scene, resolution=SIZE, ids=True)
    assert "Door" in depth.objects and not (depth.object_ids == depth.objects.index("Door")).any()
    parts = scene_segments(depth, "brick walls and grass, red door")
    assert not any(d["part"].startswith("Door") for d in parts.decisions)
    assert parts.unused == ["red door"]


def test_a_bake_takes_each_object_only_from_its_own_pixels() -> None:
    """A polished-metal box on brick ground, two views: the box's rim pixels in the views mix in the ground, and
    its unseen faces are filled from what it was painted with, so every face must come out metal, not brick."""
    from test_multiview import block_scene

    from depth_addon.app import multiview as app_multiview

    _ground, cube = block_scene()
    run = app_multiview.texture_multiview(bpy.context.scene, views=2, placement="orbit", seed=3, bake_size=64,
                                          view_size=64, maps=True, shading="PBR",
                                          prompt="polished metal box on red brick ground")
    image = run.maps["Cube"]["metallic"]
    metallic = np.array(image.pixels[:], np.float32).reshape(image.size[1], image.size[0], 4)[..., 0]
    uv = cube.data.uv_layers[run.uv_maps["Cube"]]
    for face in cube.data.polygons:  # the middle of each face's island
        corners = np.array([uv.data[i].uv[:] for i in face.loop_indices])
        x, y = (corners.mean(0) * 64).astype(int)
        assert metallic[y, x] > 0.9, (tuple(face.normal), metallic[y, x])
