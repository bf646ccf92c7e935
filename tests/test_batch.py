# SPDX-License-Identifier: GPL-3.0-or-later
"""Batch jobs: validation, expansion into units, seeds, resume bookkeeping and farm splitting."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from depth_addon.batch import Manifest, load_job, parse_job, split_units
from depth_addon.errors import BadInput


def job(**task) -> dict:
    return {"version": 1, "defaults": {"prompt": "stone"}, "tasks": [{"name": "a", "blend": "a.blend"} | task]}


def test_defaults_paths_and_units(tmp_path: Path) -> None:
    parsed = parse_job(job(cameras=["C1", "C2"], frames=[3, 5], seed=10, seed_mode="increment"), tmp_path)
    task = parsed.tasks[0]
    assert task.prompt == "stone" and Path(task.blend) == tmp_path.resolve() / "a.blend"
    assert Path(task.out_dir) == tmp_path.resolve() / "out" / "a"
    units = parsed.units(task, list(task.cameras))
    assert [(u.camera, u.frame, u.seed) for u in units] == [
        ("C1", 3, 10), ("C1", 4, 11), ("C1", 5, 12), ("C2", 3, 10), ("C2", 4, 11), ("C2", 5, 12)]
    assert len({u.spec_hash for u in units}) == 6 and units[0].key == "C1_0003"
    fixed = parse_job(job(frames=[1, 3], seed=4), tmp_path)
    assert [u.seed for u in fixed.units(fixed.tasks[0], ["Cam"])] == [4, 4, 4]
    single = parse_job(job(), tmp_path)
    assert [u.frame for u in single.units(single.tasks[0], ["Cam"], current_frame=7)] == [7]


def test_spec_hash_follows_what_changes_the_result(tmp_path: Path) -> None:
    def first(**kw):
        p = parse_job(job(**kw), tmp_path)
        return p.units(p.tasks[0], ["Cam"])[0].spec_hash

    assert first(seed=1) == first(seed=1)
    assert first(seed=1) != first(seed=2)
    assert first(prompt="x") != first(prompt="y")
    assert first(range=[1, 5]) != first(range=[1, 6])
    assert first(out_dir="o1") == first(out_dir="o2")  # where results go does not change them


@pytest.mark.parametrize("task, message", [
    ({"blend": None}, "needs a 'blend'"),
    ({"cameras": []}, "'cameras'"),
    ({"cameras": "some"}, "'cameras'"),
    ({"frames": [5, 1]}, "before start"),
    ({"frames": [1]}, "two numbers"),
    ({"seed": "x"}, "'seed'"),
    ({"seed_mode": "random"}, "'seed_mode'"),
    ({"mapping": "sqrt"}, "'mapping'"),
    ({"engine": "nope"}, r"task 'a': 'engine' must be one of \('auto', 'gpu', 'workbench', 'cycles'\)"),
    ({"range": [5, 1]}, "smaller than far"),
    ({"range": [0, 1]}, "positive"),
    ({"outputs": ["video"]}, "'outputs'"),
    ({"colour": "red"}, "unknown keys"),
    ({"frames": [1, 10**12]}, r"job task 'a' 'frames' 1 1000000000000: Blender's frames run from -1048574 to 1048574"),
    ({"frames": [1048570, 1048580]}, "Blender's frames run from"),
    ({"frames": [True, 5]}, "two numbers"),
    ({"generator": 5}, "task 'a': 'generator' must be a string, got 5"),
    ({"negative_prompt": ["blurry"]}, r"'negative_prompt' must be a string, got \['blurry'\]"),
    ({"prompt": 5}, "'prompt' must be a string"),
])
def test_bad_tasks_name_the_problem(tmp_path: Path, task: dict, message: str) -> None:
    data = job(**task)
    if task.get("blend", "") is None:
        del data["tasks"][0]["blend"]
    with pytest.raises(BadInput, match=message):
        parse_job(data, tmp_path)


def test_bad_job_files(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not found"):
        load_job(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(BadInput, match="not valid JSON"):
        load_job(tmp_path / "bad.json")
    with pytest.raises(BadInput, match="non-empty list"):
        parse_job({"tasks": []})
    with pytest.raises(BadInput, match="unsupported version"):
        parse_job({"version": 2, "tasks": [{"blend": "x"}]})
    shared = {"defaults": {"out_dir": "renders"}, "tasks": [{"name": "a", "blend": "a.blend"},
                                                           {"name": "b", "blend": "b.blend"}]}
    with pytest.raises(BadInput, match=r"tasks 'a' and 'b' both write to .*renders, where each would replace"):
        parse_job(shared, tmp_path)  # a shared 'out_dir' in the defaults: each task's units replaced the other's
    shared["tasks"] = [{"name": "a", "blend": "a.blend", "cameras": ["CamA"]},
                       {"name": "b", "blend": "a.blend", "cameras": ["CamB"], "frames": [1, 4]},
                       {"name": "c", "blend": "a.blend", "cameras": ["CamB"], "frames": [5, 9]}]
    assert len(parse_job(shared, tmp_path).tasks) == 3  # other cameras or frames: units of their own
    with pytest.raises(BadInput, match="unique"):
        parse_job({"tasks": [{"name": "a", "blend": "x"}, {"name": "a", "blend": "y"}]})


@pytest.mark.parametrize("data, message", [
    ({"version": 1, "defualts": {"prompt": "x"}, "tasks": [{"blend": "a.blend"}]},
     r"^job: unknown keys \['defualts'\] \(did you mean 'defualts' → 'defaults'\?\)"),
    ({"defaults": {"promt": "x"}, "tasks": [{"blend": "a.blend"}]},
     r"^job defaults: unknown keys \['promt'\] \(did you mean 'promt' → 'prompt'\?\)"),
    (job(frame=[1, 3]), r"^job task 1: unknown keys \['frame'\] \(did you mean 'frame' → 'frames'\?\)"),
    (job(frames=[1.5, 3]), r"^job task 'a' 'frames': must be two whole numbers, got \[1.5, 3\]"),
    (job(resolution=[512.5, 512]), r"'resolution': must be two whole numbers"),
    ({"tasks": [{"name": "a", "blend": None}]}, r"^job task 1: needs a 'blend' file"),
])
def test_job_typos_are_refused_where_they_are(tmp_path: Path, data: dict, message: str) -> None:
    """A misspelt key is named where it is (top level, defaults or task), never dropped or blamed on a task, and
    frame numbers are not rounded down."""
    with pytest.raises(BadInput, match=message):
        parse_job(data, tmp_path)
    assert parse_job(job(frames=[1.0, 3]), tmp_path).tasks[0].frames == (1, 3)


def test_manifest_resume(tmp_path: Path) -> None:
    parsed = parse_job(job(frames=[1, 2], out_dir=str(tmp_path / "o")), tmp_path)
    task = parsed.tasks[0]
    u1, u2 = parsed.units(task, ["Cam"])
    manifest = Manifest(task.out_dir)
    assert not manifest.is_done(u1)
    art = Path(task.out_dir) / u1.key / "depth.exr"
    art.parent.mkdir(parents=True)
    art.write_bytes(b"x")
    manifest.record(u1, {"depth": art}, {"note": "test"})
    again = Manifest(task.out_dir)
    assert again.is_done(u1) and not again.is_done(u2)
    changed = parse_job(job(frames=[1, 2], seed=9, out_dir=str(tmp_path / "o")), tmp_path)
    assert not again.is_done(changed.units(changed.tasks[0], ["Cam"])[0]), "a changed spec must be redone"
    art.unlink()
    assert not Manifest(task.out_dir).is_done(u1), "a missing artifact must be redone"
    (Path(task.out_dir) / "manifest.json").write_text("{broken")
    assert Manifest(task.out_dir).units == {}


def test_farm_split(tmp_path: Path) -> None:
    locked = parse_job(job(frames=[1, 25], range=[0.5, 50]), tmp_path)
    chunks = split_units(locked, chunk_size=10)
    assert [c["frames"] for c in chunks] == [[1, 10], [11, 20], [21, 25]]
    assert chunks[0]["args"] == ["--task", "a", "--frames", "1", "10"]
    covered = [f for c in chunks for f in range(c["frames"][0], c["frames"][1] + 1)]
    assert covered == list(range(1, 26))
    unlocked = parse_job(job(frames=[1, 25]), tmp_path)
    with pytest.raises(BadInput, match="locked 'range'"):
        split_units(unlocked, chunk_size=10)
    assert len(split_units(unlocked, chunk_size=10, allow_unlocked=True)) == 3
    assert split_units(unlocked, chunk_size=100)[0]["frames"] == [1, 25]
    assert split_units(parse_job(job(), tmp_path))[0] == {"task": "a", "frames": None, "args": ["--task", "a"]}
    with pytest.raises(BadInput):
        split_units(locked, chunk_size=0)
    json.dumps(chunks)  # plain data: a farm manager can take it as is


def test_batch_tasks_paint_each_object_as_routed(tmp_path: Path) -> None:
    """``object_prompts`` in a task (and a multi-material prompt) paint per object, as the texture command does."""
    import bpy

    from depth_addon.app.batch_run import run_job
    from depth_addon.blender.demo_scene import build_demo_scene
    from depth_addon.io.png import read_png_text

    build_demo_scene(bpy.context.scene, (64, 64))
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    data = {"tasks": [{"name": "parts", "blend": str(blend), "prompt": "brick walls, wooden posts and grass",
                       "object_prompts": {"Sphere": "gold metal"}, "resolution": [64, 64]}]}
    run_job(parse_job(data, tmp_path), lambda *_a, **_k: None)
    generated = next(tmp_path.rglob("generated.png"))
    parts = {d["part"].split("/")[0]: d for d in json.loads(read_png_text(generated)["parts"])}
    assert (parts["Sphere"]["prompt"], parts["Sphere"]["reason"]) == ("gold metal", "explicit")
    assert "brick" in parts["Wall"]["prompt"]
    with pytest.raises(BadInput, match="'object_prompts'"):
        parse_job({"tasks": [{"name": "x", "blend": str(blend), "object_prompts": {"Sphere": 3}}]}, tmp_path)


def test_a_bad_later_task_stops_the_job_before_the_first_unit(tmp_path: Path) -> None:
    """Every task's object prompts and cameras are checked before any unit runs: a misspelt object in the
    last task refuses the job with nothing made, instead of after the tasks before it have run."""
    import bpy

    from depth_addon.app.batch_run import run_job
    from depth_addon.blender.demo_scene import build_demo_scene

    build_demo_scene(bpy.context.scene, (32, 32))
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    good = {"name": "good", "blend": str(blend), "prompt": "red brick", "resolution": [32, 32],
            "outputs": ["depth", "generated"]}
    data = {"tasks": [good, {**good, "name": "bad", "object_prompts": {"Spehre": "gold metal"}}]}
    events = []
    with pytest.raises(BadInput, match=r"task 'bad'.*'Spehre'.*Sphere"):
        run_job(parse_job(data, tmp_path), lambda event, **kw: events.append(event))
    assert not list(tmp_path.rglob("*.exr")) and not list(tmp_path.rglob("generated.png"))
    assert "artifact" not in events
    data["tasks"][1] = {**good, "name": "bad", "cameras": ["Nope"]}
    with pytest.raises(BadInput, match="task 'bad': no camera named Nope"):
        run_job(parse_job(data, tmp_path), lambda *_a, **_k: None)
    assert not list(tmp_path.rglob("*.exr"))


def test_frame_chunks_resume_and_rival_runs_keep_one_consistent_result(tmp_path: Path, monkeypatch) -> None:
    """A frame chunk of a task without a locked range is refused (it would map depth with its own range); a cut
    manifest gets its finished units back; a unit another run is making is waited for after the others, and made
    here when that run stops without it."""
    import bpy

    from depth_addon.app import batch_run
    from depth_addon.blender.demo_scene import build_demo_scene
    from depth_addon.io.locks import FileLock

    build_demo_scene(bpy.context.scene, (16, 16))
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    data = {"tasks": [{"name": "t", "blend": str(blend), "frames": [1, 3], "outputs": ["depth"],
                       "resolution": [16, 16]}]}
    with pytest.raises(BadInput, match="no locked depth range.*batch --plan"):
        batch_run.run_job(parse_job(data, tmp_path), lambda *_a, **_k: None, frames=(1, 2))
    still = parse_job({"tasks": [{"name": "s", "blend": str(blend), "frames": [50, 50]}]}, tmp_path)
    units = still.units(still.tasks[0], ["Cam"])
    assert batch_run._chunk(still.tasks[0], units, (1, 3)) == []  # nothing of it in the chunk: nothing to lock
    parsed = parse_job(data, tmp_path)
    out = Path(parsed.tasks[0].out_dir)
    out.mkdir(parents=True)
    second = parsed.units(parsed.tasks[0], [bpy.context.scene.camera.name])[1].key
    rival = FileLock(out / f".{second}.lock", {"command": "a batch run"})
    assert rival.acquire()  # another run is making frame 2 ...
    events = []

    def emit(event: str, **kw) -> None:
        events.append((event, kw))
        if event == "warning" and "is being made by" in kw["message"]:
            threading.Timer(0.5, rival.release).start()  # ... and stops without it while this run goes on

    monkeypatch.setattr(batch_run, "WAIT_NOTE_S", 0.2)  # a long wait is said again
    counts = batch_run.run_job(parsed, emit)
    kinds = [e for e, _kw in events]
    assert sum("is being made by" in kw.get("message", "") for _e, kw in events) >= 2
    assert counts["done"] == 3 and (out / second).is_dir()  # waited for, then made here: the run ends complete
    assert kinds.index("warning") < kinds.index("progress", kinds.index("warning"))  # the others went on meanwhile
    assert [kw["frame"] for e, kw in events if e == "artifact" and kw["kind"] == "depth"][-1] == 2
    (out / "manifest.json").write_text('{"version": 2, "units": {}}')  # cut by hand
    assert batch_run.run_job(parsed, lambda *_a, **_k: None)["skipped"] == 3
    rival.acquire()
    assert batch_run.run_job(parsed, lambda *_a, **_k: None)["skipped"] == 3  # all done: nothing to wait for
    rival.release()
    assert len(json.loads((out / "manifest.json").read_text())["units"]) == 3


def test_batch_reports_phrases_and_targets_that_match_nothing(tmp_path: Path) -> None:
    """A phrase no object takes ('marble roof') and a one-phrase target ('roof') are warned about, as in
    ``texture``: unit by unit, with the task, camera and frame; unknown words and empty phrases once per task."""
    import bpy

    from depth_addon.app.batch_run import run_job
    from depth_addon.blender.demo_scene import build_demo_scene

    build_demo_scene(bpy.context.scene, (48, 48))
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    data = {"tasks": [{"name": "warn", "blend": str(blend), "prompt": "brick walls, , marble roof, zzyzx",
                       "resolution": [48, 48], "outputs": ["generated"], "out_dir": str(tmp_path / "a")},
                      {"name": "one", "blend": str(blend), "prompt": "red brick roof", "resolution": [48, 48],
                       "outputs": ["generated"], "out_dir": str(tmp_path / "b")}]}
    events: list[tuple[str, dict]] = []
    run_job(parse_job(data, tmp_path), lambda event, **kw: events.append((event, kw)))
    warnings = [kw["message"] for event, kw in events if event == "warning"]
    assert any("'warn'" in w and "no object matches the phrase 'marble roof" in w for w in warnings), warnings
    assert any("'warn'" in w and "unknown word 'zzyzx'" in w for w in warnings)
    assert any("'warn'" in w and "1 empty phrase" in w for w in warnings)
    assert any("'one'" in w and "no object matches 'roof'" in w for w in warnings), warnings


def test_an_object_prompt_that_paints_nothing_is_said_once_a_run(tmp_path: Path) -> None:
    """An object prompt of an object no view sees (behind the camera) is warned about once for the task, not once
    per frame; an object only one frame shows paints something, so nothing is said about it."""
    import bpy

    from depth_addon.app.batch_run import run_job
    from depth_addon.blender.demo_scene import build_demo_scene

    scene = build_demo_scene(bpy.context.scene, (32, 32))
    behind = bpy.data.objects.new("Behind", bpy.data.objects["Box"].data)
    behind.location = (0.0, -40.0, 1.0)
    scene.collection.objects.link(behind)
    sphere = bpy.data.objects["Sphere"]
    sphere.location.z = -50.0  # under the ground on frame 1, back in view on frame 2
    sphere.keyframe_insert("location", frame=1)
    sphere.location.z = 1.2
    sphere.keyframe_insert("location", frame=2)
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    data = {"tasks": [{"name": "shot", "blend": str(blend), "prompt": "red brick", "resolution": [32, 32],
                       "frames": [1, 3], "outputs": ["generated"],
                       "object_prompts": {"Behind": "gold metal", "Sphere": "blue marble"}}]}
    warnings = []
    run_job(parse_job(data, tmp_path), lambda event, **kw: warnings.append(kw["message"]) if event == "warning"
            else None)
    nothing = [w for w in warnings if "paints nothing" in w]
    assert nothing == ["task 'shot': the object prompt of 'Behind' paints nothing: no view of the run shows it (out of "
                       "view, behind the camera, or behind other objects)"], warnings
    assert len(list(tmp_path.rglob("generated.png"))) == 3
