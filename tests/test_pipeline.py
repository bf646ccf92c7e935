# SPDX-License-Identifier: GPL-3.0-or-later
"""Pipeline commands in real processes: generate, info, batch (resume after SIGINT), python -m."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import bpy
import cv2
import numpy as np
import pytest

from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.io.png import read_png_text

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, str(ROOT / "scripts" / "depth_cli.py")]


def run(*args: str, module: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "depth_addon", *args] if module else [*CLI, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))


def events(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def two_camera_blend(tmp_path: Path) -> Path:
    scene = build_demo_scene(bpy.context.scene, (32, 24))
    cam2 = scene.camera.copy()
    cam2.name = "Side Camera"
    cam2.location.x += 3.0
    scene.collection.objects.link(cam2)
    scene.frame_start, scene.frame_end = 1, 2
    path = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


def test_generate_from_depth_file(tmp_path: Path) -> None:
    z = np.full((24, 32), 5.0, np.float32)
    z[:, 16:] = 2.0
    z[:4] = np.inf
    np.save(tmp_path / "d.npy", z)
    proc = run("generate", str(tmp_path / "d.npy"), "--out", str(tmp_path / "g.png"), "--prompt", "wood", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    img = cv2.imread(str(tmp_path / "g.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (24, 32, 3) and img.std() > 1
    assert read_png_text(tmp_path / "g.png")["seed"] == "3"
    again = run("generate", str(tmp_path / "d.npy"), "--out", str(tmp_path / "h.png"), "--prompt", "wood",
                "--seed", "3")
    same = np.array_equal(cv2.imread(str(tmp_path / "h.png")), cv2.imread(str(tmp_path / "g.png")))
    assert again.returncode == 0 and same
    bad = run("generate", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "x.png"))
    assert bad.returncode == 2 and "not found" in bad.stderr and not (tmp_path / "x.png").exists()
    np.save(tmp_path / "empty.npy", np.full((4, 4), np.inf, np.float32))
    assert run("generate", str(tmp_path / "empty.npy"), "--out", str(tmp_path / "x.png")).returncode == 2


def test_info_and_module_entry_point() -> None:
    proc = run("--json", "info", module=True)
    assert proc.returncode == 0, proc.stderr
    done = events(proc)[-1]
    assert done["event"] == "done" and done["generators"]["baseline"] == "ok"
    assert done["versions"]["blender"] == bpy.app.version_string


def test_batch_runs_resumes_after_sigint_and_skips_done(two_camera_blend: Path, tmp_path: Path) -> None:
    job = {"version": 1, "tasks": [{"name": "shot", "blend": str(two_camera_blend), "cameras": "all",
                                    "frames": [1, 2], "seed": 5, "seed_mode": "increment",
                                    "outputs": ["depth", "depth_png", "generated"], "out_dir": str(tmp_path / "o")}]}
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))

    proc = subprocess.Popen([*CLI, "--json", "batch", str(job_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    seen = []
    for line in proc.stdout:
        if not line.startswith("{"):
            continue  # Blender's own messages ("Read blend: …") share stdout
        seen.append(json.loads(line))
        if seen[-1]["event"] == "artifact" and seen[-1]["kind"] == "generated":
            proc.send_signal(signal.SIGINT)  # interrupt after the first unit's last file
            break
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    ours = [line for line in err.splitlines() if line.startswith("depth_cli:")]  # Blender may print EGL notes
    assert ours == ["depth_cli: error: cancelled"]
    out_dir = tmp_path / "o"
    assert not list(out_dir.rglob("*.part*")), "no half-written files after an interrupt"
    done_before = json.loads((out_dir / "manifest.json").read_text())["units"] if (out_dir / "manifest.json").exists() \
        else {}

    resumed = run("--json", "batch", str(job_path))
    assert resumed.returncode == 0, resumed.stderr
    summary = events(resumed)[-1]
    assert summary["units"] == 4 and summary["skipped"] == len(done_before) and summary["done"] == 4 - len(done_before)
    manifest = json.loads((out_dir / "manifest.json").read_text())["units"]
    assert sorted(manifest) == ["Demo_Camera_0001", "Demo_Camera_0002", "Side_Camera_0001", "Side_Camera_0002"]
    assert [manifest[k]["seed"] for k in sorted(manifest)] == [5, 6, 5, 6]
    ranges = {json.dumps(u["provenance"]["mapping"]) for u in manifest.values()}
    assert len(ranges) == 1, "one locked depth range across cameras and frames"
    for unit in manifest.values():
        for rel in unit["artifacts"].values():
            assert (out_dir / rel).is_file()

    again = run("--json", "batch", str(job_path))
    assert events(again)[-1]["done"] == 0 and events(again)[-1]["skipped"] == 4


def test_batch_plan_and_split(two_camera_blend: Path, tmp_path: Path) -> None:
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps({"tasks": [{"name": "shot", "blend": str(two_camera_blend), "frames": [1, 2]}]}))
    unlocked = run("batch", str(job_path), "--split", "1")
    assert unlocked.returncode == 2 and "locked 'range'" in unlocked.stderr
    plan = run("batch", str(job_path), "--plan")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads((tmp_path / "job.planned.json").read_text())
    near, far = planned["tasks"][0]["range"]
    assert 0 < near < far and planned["tasks"][0]["cameras"] == ["Demo Camera"]
    split = run("--json", "batch", str(tmp_path / "job.planned.json"), "--split", "1")
    chunks = next(e for e in events(split) if e["event"] == "plan")["chunks"]
    assert [c["frames"] for c in chunks] == [[1, 1], [2, 2]]


def test_batch_bad_job_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text(json.dumps({"tasks": [{"blend": "nope.blend"}]}))
    proc = run("batch", str(tmp_path / "job.json"))
    assert proc.returncode == 2 and "blend file not found" in proc.stderr
    assert run("batch", str(tmp_path / "missing.json")).returncode == 2


def test_demo_command_writes_every_artifact(tmp_path: Path) -> None:
    proc = run("--json", "demo", "--out-dir", str(tmp_path), "--resolution", "32", "24", "--samples", "1")
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert {"depth.exr", "depth.png", "generated.png", "render.png", "scene.blend", "run.json"} <= names
    run_json = json.loads((tmp_path / "run.json").read_text())
    assert run_json["resolution"] == [32, 24] and run_json["generator"] == "default"
    assert cv2.imread(str(tmp_path / "render.png")).shape == (24, 32, 3)


def test_make_demo_runs_again(tmp_path: Path) -> None:
    """The README's ``make demo``, run a second time, replaces its own earlier results (it was refused as a folder
    holding an earlier run's results, with an --overwrite the make target did not pass)."""
    recipe = next(line.strip() for line in (ROOT / "Makefile").read_text().splitlines()
                  if "depth_cli.py demo" in line)
    args = recipe.replace("$(PY) scripts/depth_cli.py ", "").replace("$(OUT)", str(tmp_path)).split()
    for _ in range(2):
        proc = run(*args, "--resolution", "32", "24", "--samples", "1")
        assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "demo" / "run.json").read_text())["command"] == "demo"
