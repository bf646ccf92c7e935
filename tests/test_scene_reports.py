# SPDX-License-Identifier: GPL-3.0-or-later
"""What a run says about its prompts: which material each object got and why, in the operators' reports and the
sidebar, and every prompt that paints nothing (unmatched targets, empty phrases, object prompts of objects no view
shows), in the API, the operators, ``texture`` and ``texture --dry-run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from test_regenerate_one import small_scene
from ui_harness import draw

from depth_addon import api
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.errors import BadInput

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "brick walls, wooden posts and grass"
SIZE = (64, 64)


def demo(size: tuple[int, int] = SIZE) -> bpy.types.Scene:
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return build_demo_scene(bpy.context.scene, size)


def reports(capfd) -> list[str]:
    """The lines an operator reported (printed as ``Info: …`` / ``Warning: …`` when Blender runs headless)."""
    captured = capfd.readouterr()
    return [line for line in (captured.out + captured.err).splitlines() if line.startswith(("Info:", "Warning:"))]


def test_generate_reports_each_objects_material_and_the_prompts_problems(addon, capfd) -> None:
    """Generate & Project: one line with the image and the assignment, then a WARNING per problem; the Texture
    panel lists the assignment (object: material (why)) and the warnings."""
    scene = demo()
    scene.depth_addon.prompt = "brick walls, , marble roof, zzyzx"
    bpy.data.objects["Sphere"].depth_addon_prompt = "gold"
    capfd.readouterr()
    assert bpy.ops.depth.generate() == {"FINISHED"}
    lines = reports(capfd)
    info = next(line for line in lines if line.startswith("Info:") and "projected" in line)
    assert "materials:" in info and "Wall brick (name)" in info and "Sphere gold (explicit)" in info, info
    warnings = [line for line in lines if line.startswith("Warning:")]
    assert any("unknown word 'zzyzx'" in w for w in warnings), lines
    assert any("1 empty phrase in the prompt" in w for w in warnings), lines
    assert any("no object matches the phrase 'marble roof" in w for w in warnings), lines
    log = draw(addon.panels.sidebar.VIEW3D_PT_depth_texture.draw)
    assert "Last run's materials" in log.labels
    assert "Wall: brick (name: Wall -> wall)" in log.labels and "Sphere: gold (explicit: Sphere)" in log.labels
    assert any("marble roof" in label for label in log.labels), log.labels


def test_texture_from_views_reports_each_objects_material(addon, capfd) -> None:
    """Texture from Views: the assignment in its report line, unmatched phrases as warnings, the sidebar list."""
    demo()
    bpy.context.scene.depth_addon.prompt = "brick walls, marble roof, grass"
    capfd.readouterr()
    assert bpy.ops.depth.texture_multiview(views=1, bake_size="512", view_size=64) == {"FINISHED"}
    lines = reports(capfd)
    info = next(line for line in lines if "textured" in line)
    assert "materials:" in info and "Wall brick (name)" in info and "Ground grass (name)" in info, info
    assert any(line.startswith("Warning:") and "'marble roof'" in line for line in lines), lines
    log = draw(addon.panels.sidebar.VIEW3D_PT_depth_texture.draw)
    assert "Ground: grass (name: Ground -> ground)" in log.labels, log.labels


@pytest.mark.parametrize("kind", ["projection", "multiview"])
def test_regenerate_reports_each_objects_material_like_the_other_runs(addon, capfd, kind: str) -> None:
    """Regenerate (one object, with its own prompt): the assignment in its report line, the prompts' problems as
    warnings, and the sidebar lists the new assignment, as after Generate & Project and Texture from Views."""
    scene = demo()
    if kind == "projection":
        api.texture_scene(scene, prompt="brick walls, marble roof, grass", seed=1, compositor=False)
    else:
        api.texture_multiview(scene, prompt="brick walls, marble roof, grass", views=1, bake_size=32, view_size=64)
    scene["depth_addon_assignment"] = "left by an older run"
    sphere = bpy.data.objects["Sphere"]
    capfd.readouterr()
    with bpy.context.temp_override(active_object=sphere, object=sphere):
        assert bpy.ops.depth.regenerate(prompt="gold", only_this=True) == {"FINISHED"}
    lines = reports(capfd)
    info = next(line for line in lines if "regenerated" in line)
    assert "materials:" in info and "Sphere gold (explicit)" in info and "Wall brick (name)" in info, info
    assert any(line.startswith("Warning:") and "'marble roof'" in line for line in lines), lines
    log = draw(addon.panels.sidebar.VIEW3D_PT_depth_texture.draw)
    assert "Sphere: gold (explicit: Sphere)" in log.labels and "Ground: grass (name: Ground -> ground)" in log.labels
    assert "left by an older run" not in scene["depth_addon_assignment"]


def test_a_one_phrase_target_that_matches_nothing_is_reported() -> None:
    """'red brick roof' on a scene without a roof: said, though the one phrase paints everything; 'red brick walls'
    is quiet, and the image is painted as one material either way."""
    scene = demo()
    run = api.texture_scene(scene, prompt="red brick roof", seed=0, resolution=SIZE, compositor=False)
    assert any("no object matches 'roof'" in w for w in run.warnings), run.warnings
    assert run.parts.segments is None and run.parts.decisions == []
    quiet = api.texture_scene(scene, prompt="red brick walls", seed=0, resolution=SIZE, compositor=False)
    assert quiet.warnings == [] and quiet.parts.segments is None


def test_api_generate_paints_object_prompts_from_a_depth_render() -> None:
    """``api.generate(render_depth(ids=True), object_prompts=...)`` paints per object, as ``texture_scene`` does;
    an array cannot name objects, and a misspelt object is refused with the close names."""
    scene = demo()
    depth = api.render_depth(scene, resolution=SIZE, ids=True)
    sphere = depth.object_ids == depth.objects.index("Sphere")
    plain = api.generate(depth, prompt=PROMPT, seed=1)
    gold = api.generate(depth, prompt=PROMPT, seed=1, object_prompts={"Sphere": "gold metal"})
    assert gold.shape == (*depth.depth.shape, 3)
    inside, outside = (np.abs(gold[m] - plain[m]).mean() for m in (sphere, ~sphere))
    assert inside > 0.02 and outside < 0.1 * inside, (inside, outside)  # the sphere changed; the rest hardly
    routed = api.texture_scene(scene, prompt=PROMPT, seed=1, resolution=SIZE, compositor=False,
                               object_prompts={"Sphere": "gold metal"})
    assert np.abs(routed.rgb - gold).max() < 1e-4
    with pytest.raises(BadInput, match=r"render_depth\(ids=True\)"):
        api.generate(depth.depth, depth.mask, prompt=PROMPT, camera=depth.camera, object_prompts={"Sphere": "gold"})
    with pytest.raises(BadInput, match="did you mean 'Sphere'"):
        api.generate(depth, prompt=PROMPT, object_prompts={"Sphre": "gold"})


def test_object_prompts_that_paint_nothing_are_reported() -> None:
    """An object prompt of an object behind the camera, hidden from render, or not a mesh, and one that is a lone
    comma: each is said, not silently ignored."""
    scene = demo()
    from mathutils import Vector

    bpy.data.objects["Sphere"].location = scene.camera.matrix_world @ Vector((0.0, 0.0, 10.0))  # behind the camera
    bpy.data.objects["Box"].hide_render = True
    bpy.context.view_layer.update()
    run = api.texture_scene(scene, prompt=PROMPT, seed=0, resolution=SIZE, compositor=False,
                            object_prompts={"Sphere": "gold", "Box": "marble", "Demo Sun": "wood", "Wall": ","})
    said = "\n".join(run.warnings)
    assert "the object prompt of 'Sphere' paints nothing: no view" in said, said
    assert "the object prompt of 'Box' paints nothing: it is hidden" in said
    assert "the object prompt of 'Demo Sun' paints nothing: it is a light object" in said
    assert "the prompt of 'Wall' ',' has no words" in said
    assert "'Wall' paints nothing" not in said  # it is painted: with the whole (empty) prompt


def test_a_run_on_some_objects_reports_only_those(tmp_path: Path) -> None:
    """Texturing some objects: only they are listed (the image is still routed for all it shows), and an object
    prompt of another object is said to paint nothing; the same from one camera, from views and in a dry run."""
    scene = demo()
    prompts = {"Sphere": "gold", "Column": "oak"}
    run = api.texture_scene(scene, prompt=PROMPT, seed=0, resolution=SIZE, compositor=False, objects=["Sphere"],
                            object_prompts=prompts)
    assert {d["part"].split("/")[0] for d in run.parts.decisions} == {"Sphere"}  # its parts: object or slot
    assert "the object prompt of 'Column' paints nothing: it is not among the objects this run textures" in run.warnings
    assert {line.split("/")[0].split(":")[0] for line in scene["depth_addon_assignment"].splitlines()
            if line[0] != "!"} == {"Sphere"}
    baked = api.texture_multiview(scene, objects=["Sphere"], views=1, prompt=PROMPT, bake_size=64, view_size=64,
                                  object_prompts=prompts)
    assert {d["part"].split("/")[0] for d in baked.decisions} == {"Sphere"}
    assert any("'Column' paints nothing" in w for w in baked.warnings)
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    proc = cli("--blend", str(blend), "--prompt", PROMPT, "--objects", "Sphere", "--object-prompt", "Column=oak",
               "--resolution", "64", "64", "--dry-run", "--json")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]  # Blender logs too
    parts = [e for e in events if e.get("event") == "part"]
    assert proc.returncode == 0 and {p["part"].split("/")[0] for p in parts} == {"Sphere"}, proc.stdout + proc.stderr
    assert "'Column' paints nothing" in proc.stderr


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "depth_cli.py"), "texture", *args],
                          capture_output=True, text=True, timeout=300)


def test_dry_run_refuses_what_the_run_refuses_and_says_what_it_would(tmp_path: Path) -> None:
    """``texture --dry-run``: ``--objects`` checked as the real run checks them, an object given two prompts
    refused, a one-phrase target that matches nothing and a lone-comma prompt reported, once each."""
    demo()
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    base = ("--blend", str(blend), "--resolution", "48", "48", "--dry-run", "--json")
    for extra, message in ((("--objects", "Wal"), "did you mean 'Wall'"),
                           (("--objects", "Wall,Demo Camera"), "'Demo Camera' is a camera object"),
                           (("--object-prompt", "Wall=brick", "--object-prompt", "Wall=wood"), "'Wall' twice")):
        proc = cli(*base, "--prompt", "brick", *extra)
        assert proc.returncode == 2 and message in proc.stdout + proc.stderr, (extra, proc.stdout[-1500:])
    for prompt, said in (("red brick roof", "no object matches 'roof' in the phrase 'red brick roof'"),
                         (",", "the prompt ',' has no words")):
        proc = cli(*base, "--prompt", prompt, "--object-prompt", "Sphere=;")
        assert proc.returncode == 0, proc.stderr[-1500:]
        events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        warnings = [e["message"] for e in events if e["event"] == "warning"]
        assert sum(said in w for w in warnings) == 1, warnings
        assert any("the prompt of 'Sphere' ';' has no words" in w for w in warnings), warnings


def test_reporting_thousands_of_objects() -> None:
    """The report lines, the one-line summary and each object's parts for a scene of 5,000 objects (every third one
    with two materials) are right; speed belongs in scripts/bench.py, not in a test."""

    from depth_addon.app.scene_prompts import SceneSegments, assignment_lines, assignment_summary

    objects = [f"Obj {k}" for k in range(5000) for _material in range(2 if k % 3 == 0 else 1)]
    decisions = [{"part": f"{o}/Mat{i}", "object": o, "prompt": "brick", "reason": "name", "segment": i}
                 for i, o in enumerate(objects)]
    parts = SceneSegments(prompts=["brick"] * len(objects), decisions=decisions, objects=objects)
    names = list(dict.fromkeys(objects))
    assert len(names) == 5000
    lines, summary, owners = assignment_lines(decisions), assignment_summary(decisions), parts.owners(names)
    assert lines[:3] == ["Obj 0/Mat0: brick (name)", "Obj 0/Mat1: brick (name)", "Obj 1: brick (name)"], lines[:3]
    assert summary.startswith("materials: Obj 0/Mat0 brick (name), Obj 0/Mat1 brick (name), Obj 1 brick (name)")
    assert owners["Obj 0"].tolist() == [0, 1] and owners["Obj 1"].tolist() == [2] and len(owners) == 5000


def test_a_target_only_objects_with_their_own_prompt_match_is_said_so(tmp_path: Path) -> None:
    """'brick walls' with Wall's own prompt: Wall does match 'wall', but its own prompt wins; the warning names it
    (in ``texture`` and the API), instead of saying that no object matches, and a phrase left with nothing to paint
    says so; a target that matches nothing at all keeps the plain warning."""
    demo()
    blend = tmp_path / "walls.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    proc = cli("--blend", str(blend), "--resolution", "48", "48", "--dry-run", "--prompt", "brick walls",
               "--object-prompt", "Wall=gold")
    assert proc.returncode == 0, proc.stderr[-1500:]
    said = [line for line in proc.stderr.splitlines() if "warning:" in line]
    assert said == ["depth_cli: warning: 'wall' in the phrase 'brick walls' names only 'Wall', which has its own "
                    "prompt (it wins); the phrase paints the objects no other phrase takes"], said
    scene = bpy.context.scene
    run = api.texture_scene(scene, prompt="grass, brick walls", seed=0, resolution=SIZE, compositor=False,
                            object_prompts={"Wall": "gold"})
    assert "the phrase 'brick walls' paints nothing: 'wall' names only 'Wall', which has its own prompt (it wins)" \
        in run.warnings, run.warnings
    assert not any("no object matches" in w for w in run.warnings), run.warnings
    plain = api.texture_scene(scene, prompt="grass, marble roof", seed=0, resolution=SIZE, compositor=False,
                              object_prompts={"Wall": "gold"})
    assert any(w.startswith("no object matches the phrase 'marble roof'") for w in plain.warnings), plain.warnings


def test_a_target_is_named_as_the_prompt_typed_it() -> None:
    """'ball' is the sphere target: the warnings name it 'ball', as typed, not 'sphere' (no word of the prompt)."""
    scene = small_scene((48, 36))
    run = api.texture_scene(scene, prompt="grass, red ball", seed=0, compositor=False,
                            object_prompts={"Sphere": "gold"})
    assert "the phrase 'red ball' paints nothing: 'ball' names only 'Sphere', which has its own prompt (it wins)" \
        in run.warnings, run.warnings
    bpy.data.objects.remove(bpy.data.objects["Sphere"])
    run = api.texture_scene(scene, prompt="red ball", seed=0, compositor=False)
    assert any(w.startswith("no object matches 'ball' in the phrase 'red ball'") for w in run.warnings), run.warnings


def test_selected_cameras_with_none_selected_says_the_scene_camera_paints(addon, capfd) -> None:
    """Selected Cameras on and no camera selected: the scene camera paints, and the sidebar and the report say so."""
    scene = demo()
    scene.depth_addon_generate.all_cameras = True
    for obj in scene.objects:
        obj.select_set(False)
    panel = addon.panels.sidebar.VIEW3D_PT_depth_generate
    assert "No camera selected: the scene camera paints" in draw(panel.draw).labels
    capfd.readouterr()
    assert bpy.ops.depth.generate() == {"FINISHED"}
    assert f"Info: Selected Cameras: no camera is selected, so the scene camera {scene.camera.name!r} paints" in (
        reports(capfd))
    scene.camera.select_set(True)
    assert "No camera selected: the scene camera paints" not in draw(panel.draw).labels
