# SPDX-License-Identifier: GPL-3.0-or-later
"""What a pipeline TD hands the CLI and gets back: our own depth files read back as written, the objects asked
for and no others, inputs never overwritten, batch folders inside the job's, warnings for what paints nothing."""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import analytic
import bpy
import numpy as np
import pytest

from depth_addon import api
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.cli import main as cli_main
from depth_addon.cli.parts import object_prompts
from depth_addon.depth_import import Intrinsics
from depth_addon.errors import BadInput
from depth_addon.io.depth_files import write_depth
from depth_addon.io.png import encode_png


def run(*argv: str) -> tuple[int, list[dict]]:
    """The CLI in this process with ``--json``: exit code and events."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli_main(["--json", *argv])
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_import_reads_our_own_depth_png_with_its_mapping_and_camera(tmp_path: Path) -> None:
    """A depth PNG written by this project holds mapped values, not metres: the import maps them back with the
    mapping in its metadata, takes the background (the far end) as missing, and builds the render's lens."""
    scene = analytic.build(size=(64, 48))
    scene.camera.data.angle = 0.9  # not Blender's default lens
    result = api.render_depth(scene)
    png, exr = api.save_depth(result, tmp_path / "d.png"), api.save_depth(result, tmp_path / "d.exr")
    from_png, from_exr = api.import_depth_map(str(png)), api.import_depth_map(str(exr))
    expected = Intrinsics.from_camera_model(result.camera)
    for imported in (from_png, from_exr):
        assert imported.prepared.intrinsics.fx == expected.fx and imported.prepared.intrinsics.cx == expected.cx
        assert not any("no lens" in w or "taken as metres" in w for w in imported.warnings)
    # the sidebar's default: what the file records wins over settings left from another import
    as_recorded = api.import_depth_map(str(png), fov=60.0, values="inverse", near=1.0, far=5.0, from_file=True)
    assert as_recorded.prepared.intrinsics.fx == expected.fx
    np.testing.assert_array_equal(as_recorded.prepared.depth, from_png.prepared.depth)
    linear = api.save_depth(result, tmp_path / "lin.png", api.depth_mapping(result, kind="linear"))
    b = from_exr.prepared.depth
    for a in (from_png.prepared.depth, api.import_depth_map(str(linear)).prepared.depth):
        both = np.isfinite(a) & np.isfinite(b)
        assert both.sum() > 0.9 * np.isfinite(b).sum() and np.isfinite(a).sum() <= 1.01 * np.isfinite(b).sum()
        np.testing.assert_allclose(a[both], b[both], rtol=2e-3)  # 16-bit codes against float metres; no sky wall
    plain = tmp_path / "plain.png"  # someone else's 16-bit PNG, no metadata: read as metres, and said so
    plain.write_bytes(encode_png(np.full((48, 64), 3000, np.uint16) + np.arange(64, dtype=np.uint16)))
    other = api.import_depth_map(str(plain))
    assert any("taken as metres" in w for w in other.warnings) and any("no lens given" in w for w in other.warnings)


def test_texture_single_view_projects_onto_the_objects_asked_for(tmp_path: Path) -> None:
    build_demo_scene(bpy.context.scene, (48, 32))
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    code, events = run("texture", "--blend", str(blend), "--objects", "Box", "--prompt", "red brick, zzyzx",
                       "--out-dir", str(tmp_path / "out"), "--resolution", "48", "32")
    assert code == 0
    assert any(e["event"] == "warning" and "zzyzx" in e["message"] for e in events)
    assert any(e["event"] == "part" for e in events)  # what each part got, in a real run too
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert any("zzyzx" in w for w in record["warnings"])
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "scene.blend"))
    shown = {o.name: o.material_slots[0].material.name for o in bpy.data.objects
             if o.type == "MESH" and o.material_slots and o.material_slots[0].material}
    assert shown["Box"].endswith("[Depth]") and not any(v.endswith("[Depth]") for k, v in shown.items() if k != "Box")
    code, events = run("texture", "--blend", str(blend), "--objects", "Bax", "--prompt", "red brick",
                       "--out-dir", str(tmp_path / "out2"))
    assert code == 2 and "'Bax'" in events[-1]["message"] and "'Box'" in events[-1]["message"]
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())
    code, events = run("texture", "--blend", str(blend), "--placement", "hemisphere", "--prompt", "red brick",
                       "--out-dir", str(tmp_path / "out3"))
    assert code == 2 and "--placement" in events[-1]["message"]


def test_generate_refuses_to_write_over_its_depth(tmp_path: Path) -> None:
    depth = write_depth(tmp_path / "d.exr", np.full((16, 16), 4.0, np.float32), None, {})
    before = depth.read_bytes()
    code, events = run("generate", str(depth), "--out", f"{tmp_path}/./d.exr")  # the same file, spelt otherwise
    assert code == 2 and "is an input of this command" in events[-1]["message"]
    assert depth.read_bytes() == before


def test_batch_task_names_stay_inside_the_job_and_failed_tasks_leave_no_folder(tmp_path: Path) -> None:
    build_demo_scene(bpy.context.scene, (16, 16))
    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"version": 1, "tasks": [{"name": "../escaped", "blend": "scene.blend"}]}))
    code, events = run("batch", str(job))
    assert code == 2 and "one folder name" in events[-1]["message"] and not (tmp_path / "escaped").exists()
    job.write_text(json.dumps({"version": 1, "tasks": [{"name": "op", "blend": "scene.blend", "resolution": [16, 16],
                                                        "prompt": "brick, glorpy",
                                                        "object_prompts": {"Nope": "gold"}}]}))
    code, events = run("batch", str(job))
    assert code == 2 and "object_prompts" in events[-1]["message"] and "'Nope'" in events[-1]["message"]
    assert any(e["event"] == "warning" and "glorpy" in e["message"] for e in events)
    assert not (tmp_path / "out").exists()  # nothing was written, not even the task's folder


def test_texture_files_are_one_per_object_whatever_their_names() -> None:
    """Names in other scripts keep their letters; names that clean up alike (or differ in case only, or match
    another object's map file) get their own file."""
    from depth_addon.cli.texture_files import file_name

    taken: set[str] = set()
    stems = [file_name(n, taken, ("albedo", "height")) for n in ("Стена", "屋根", "Wall", "wall", "Wall_albedo",
                                                                  "a b", "a_b", "...")]
    assert stems == ["Стена", "屋根", "Wall", "wall_2", "Wall_albedo_2", "a_b", "a_b_2", "object"]


def test_object_prompts_find_names_holding_an_equals_sign_and_refuse_empty_text() -> None:
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("a=b", None))
    given = argparse.Namespace(object_prompt=["a=b=gold metal", "Cube=red=x"])
    assert object_prompts(given) == {"a=b": "gold metal", "Cube": "red=x"}
    with pytest.raises(BadInput, match="gives 'Post.001' no text"):
        object_prompts(argparse.Namespace(object_prompt=["Post.001="]))


def test_an_estimates_recorded_focal_length_sets_the_imported_lens(tmp_path: Path) -> None:
    """``estimate-depth`` records the focal length it used (a metric model's, or the scene camera's)."""
    path = write_depth(tmp_path / "photo_depth.exr", np.linspace(2.0, 6.0, 48 * 64, dtype=np.float32).reshape(48, 64),
                       None, {"focal_px": 110.85})
    imported = api.import_depth_map(str(path))
    assert imported.prepared.intrinsics.fx == pytest.approx(110.85)
    assert not any("no lens" in w for w in imported.warnings)


def test_unknown_devices_are_bad_input() -> None:
    from depth_addon.generation.diffusers_load import pick_device

    with pytest.raises(BadInput, match="unknown device 'nosuch'"):
        pick_device("nosuch")
    assert pick_device("cpu")[0] == "cpu"


def test_map_files_of_dotted_object_names_keep_their_own_names(tmp_path: Path) -> None:
    """``Cube.001``'s maps are ``Cube.001_albedo.png`` … (a suffix swap would have made them ``Cube.png``)."""
    from depth_addon.blender import images
    from depth_addon.cli.texture_files import save_map
    from depth_addon.io.exr import read_exr

    albedo = images.image_from_array("a", images.pixels(np.full((4, 4, 3), 0.5, np.float32), encode=True))
    relief = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5.0) * 0.001  # metres, row 0 = top, some below 0
    height = images.map_image("h", "height", relief)
    assert save_map(albedo, tmp_path / "Cube.001_albedo", "albedo", {}).name == "Cube.001_albedo.png"
    assert save_map(height, tmp_path / "Cube.001_height", "height", {}).name == "Cube.001_height.exr"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Cube.001_albedo.png", "Cube.001_height.exr"]
    assert np.array_equal(read_exr(tmp_path / "Cube.001_height.exr")[0]["Y"], relief)  # the stored values, as they are


def test_cameras_whose_names_clean_up_alike_are_refused_before_anything_is_written() -> None:
    from depth_addon.batch.job import parse_job

    job = parse_job({"version": 1, "tasks": [{"name": "t", "blend": "x.blend"}]})
    with pytest.raises(BadInput, match="'Cam A' and 'Cam_A' would write to the same unit folders"):
        job.units(job.tasks[0], ["Cam A", "Cam_A"])
    assert len(job.units(job.tasks[0], ["Cam A", "Cam B"])) == 2


def test_free_text_generators_get_no_unknown_word_warnings() -> None:
    from depth_addon.app.scene_prompts import prompt_warnings

    assert prompt_warnings("lush grass, zzyzx") == ["unknown word 'lush' in the prompt",
                                                    "unknown word 'zzyzx' in the prompt"]
    assert prompt_warnings("lush grass, zzyzx", {"Box": "glorp"}, generator="diffusers") == []
    assert prompt_warnings("grass,, stone", generator="diffusers") == [
        "1 empty phrase in the prompt (a lone comma, or nothing between commas): ignored"]


def test_objects_find_names_holding_a_comma() -> None:
    """``--objects`` (and ``--cameras``) split at commas, but an object whose name holds one is found as the scene
    has it; a name that is no object is still refused."""
    build_demo_scene(bpy.context.scene, (32, 32))
    bpy.data.objects["Column"].name = "Col, umn"
    code, events = run("texture", "--dry-run", "--prompt", "stone", "--objects", "Col, umn,Box", "--object-prompt",
                       "Col, umn=gold metal")
    assert code == 0, events
    parts = {e["part"].split("/")[0]: e for e in events if e["event"] == "part"}
    assert set(parts) == {"Col, umn", "Box"} and parts["Col, umn"]["prompt"] == "gold metal"
    code, events = run("texture", "--dry-run", "--prompt", "stone", "--objects", "Col,Box")
    assert code != 0 and any("'Col', which is no object" in e.get("message", "") for e in events), events


def test_thousands_of_names_resolve() -> None:
    """Thousands of ``--objects`` names (a script's whole selection) resolve, and names that hold commas, one or two,
    are still found among them."""
    from depth_addon.cli.parts import scene_names

    names = [f"Rock.{i:04d}" for i in range(5000)]
    names[10], names[4000] = "Col, umn", "a, b, c"
    for name in names:
        bpy.context.scene.collection.objects.link(bpy.data.objects.new(name, None))
    assert scene_names(",".join(names)) == names
    assert scene_names("Rock.0001,a, b, c, Col, umn,Rock.0002") == ["Rock.0001", "a, b, c", "Col, umn", "Rock.0002"]


def test_a_blank_object_prompt_is_refused_everywhere(tmp_path: Path) -> None:
    """An object prompt with no text is refused by the API and by a job file, as ``--object-prompt NAME=`` is (it
    painted the object with an empty prompt, and said nothing); nothing is written."""
    scene = build_demo_scene(bpy.context.scene, (32, 32))
    for text in ("", "   "):
        with pytest.raises(BadInput, match="the object prompt of 'Sphere' is empty"):
            api.texture_scene(scene, prompt="stone", object_prompts={"Sphere": text}, compositor=False)
    assert not any(i.name.startswith("Depth Generated") for i in bpy.data.images)
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"tasks": [{"name": "shot", "blend": str(blend), "prompt": "stone",
                                          "resolution": [32, 32], "object_prompts": {"Sphere": " "}}]}))
    code, events = run("batch", str(job))
    assert code != 0 and any("task 'shot'" in e.get("message", "") and "is empty" in e.get("message", "")
                             for e in events), events
    assert not (tmp_path / "out").exists()


def test_every_option_says_what_it_does_and_demo_names_no_input_blend() -> None:
    """``--help`` of every command explains each option (no bare ``--near NEAR``), shows reST nowhere, and ``demo``,
    which opens no file, does not speak of an input .blend."""
    from depth_addon.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, parser in commands.items():
        bare = [a.option_strings[0] for a in parser._actions if a.option_strings and not a.help]
        assert not bare, f"{name}: {bare} have no help"
        assert "``" not in parser.format_help(), name
    demo = commands["demo"].format_help()
    assert "input .blend" not in demo and "texture --dry-run" not in demo
