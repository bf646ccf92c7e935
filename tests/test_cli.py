# SPDX-License-Identifier: GPL-3.0-or-later
"""The command line as a pipeline runs it: real processes, real .blend files, exit codes, JSON events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import analytic
import bpy
import numpy as np
import pytest

from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.camera import CameraModel
from depth_addon.io.exr import read_exr
from depth_addon.io.png import read_png_text

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "scripts" / "depth_cli.py"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd or ROOT, env=env)


def save_blend(path: Path) -> Path:
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


@pytest.fixture
def analytic_blend(tmp_path: Path) -> Path:
    analytic.build(size=(32, 24))
    return save_blend(tmp_path / "analytic.blend")


def test_render_depth_exr_matches_in_process(analytic_blend: Path, tmp_out: Path) -> None:
    out = tmp_out / "d.exr"
    proc = run_cli("render-depth", "--blend", str(analytic_blend), "--out", str(out), "--engine", "gpu")
    assert proc.returncode == 0, proc.stderr
    channels, meta = read_exr(out)
    z = channels["Z"]
    assert z.shape == (24, 32) and z.dtype == np.float32
    expected, interior = analytic.expected_depth(CameraModel.from_dict(json.loads(meta["camera"])))
    assert np.max(np.abs(z[interior] - expected[interior]) / expected[interior]) < 1e-4
    assert json.loads(meta["mapping"])["kind"] == "inverse" and meta["units"] == "metres"


def test_render_depth_png_records_its_mapping(analytic_blend: Path, tmp_out: Path) -> None:
    out = tmp_out / "d.png"
    proc = run_cli("render-depth", "--blend", str(analytic_blend), "--out", str(out), "--mapping", "linear",
                   "--near", "1", "--far", "20", "--resolution", "16", "12")
    assert proc.returncode == 0, proc.stderr
    meta = read_png_text(out)
    assert json.loads(meta["mapping"]) == {"kind": "linear", "near": 1.0, "far": 20.0, "invert": False}
    assert meta["bits"] == "16"


def test_missing_blend_is_exit_2(tmp_out: Path) -> None:
    proc = run_cli("render-depth", "--blend", str(tmp_out / "nope.blend"), "--out", str(tmp_out / "d.exr"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not found" in proc.stderr
    assert not any(tmp_out.iterdir())


def test_scene_without_camera_is_exit_2(tmp_path: Path, tmp_out: Path) -> None:
    blend = save_blend(tmp_path / "empty.blend")
    for args in (("render-depth", "--out", str(tmp_out / "d.exr")), ("texture", "--out-dir", str(tmp_out))):
        proc = run_cli(args[0], "--blend", str(blend), *args[1:])
        assert proc.returncode == 2, proc.stderr
        assert "no active camera" in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert not any(tmp_out.iterdir()), "nothing may be written on failure"


def test_unwritable_output_is_exit_2(analytic_blend: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run_cli("render-depth", "--blend", str(analytic_blend), "--out", str(blocker / "sub" / "d.exr"))
    assert proc.returncode == 2 and "cannot create output folder" in proc.stderr
    proc = run_cli("texture", "--blend", str(analytic_blend), "--out-dir", str(blocker))
    assert proc.returncode == 2
    too_long = tmp_path / ("d" * 300 + ".exr")  # longer than a file name may be
    for command in ("render-depth", "import-depth"):
        args = ["--blend", str(analytic_blend)] if command == "render-depth" else [str(analytic_blend)]
        proc = run_cli(command, *args, "--out", str(too_long if command == "render-depth" else
                                                    too_long.with_suffix(".blend")))
        assert proc.returncode == 2 and "File name too long" in proc.stderr, proc.stderr
        assert "internal error" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "analytic.blend"]


def test_bad_arguments_are_exit_2(analytic_blend: Path, tmp_out: Path) -> None:
    proc = run_cli("render-depth", "--blend", str(analytic_blend), "--out", str(tmp_out / "d.tiff"))
    assert proc.returncode == 2 and "unsupported depth output" in proc.stderr
    proc = run_cli("render-depth", "--out", str(tmp_out / "d.exr"), "--engine", "nope")
    assert proc.returncode == 2
    proc = run_cli("render-depth", "--blend", str(analytic_blend), "--out", str(tmp_out / "d.png"),
                   "--near", "5", "--far", "1")
    assert proc.returncode == 2 and "near" in proc.stderr
    assert not any(tmp_out.iterdir())


def test_texture_json_events_and_artifacts(tmp_path: Path, tmp_out: Path) -> None:
    build_demo_scene(bpy.context.scene, (48, 32))
    blend = save_blend(tmp_path / "demo.blend")
    proc = run_cli("--json", "texture", "--blend", str(blend), "--out-dir", str(tmp_out), "--prompt", "red brick",
                   "--seed", "7", "--render", "--samples", "1")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]  # every line: Blender's own go to stderr
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "error" not in kinds
    assert "Saved" in proc.stderr or "Read blend" in proc.stderr  # Blender's log lines are there instead
    fractions = [e["fraction"] for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    artifacts = {e["kind"]: Path(e["path"]) for e in events if e["event"] == "artifact"}
    for kind in ("depth_exr", "depth_png", "generated", "render", "blend", "run"):
        assert artifacts[kind].is_file(), kind
    run = json.loads((tmp_out / "run.json").read_text())
    assert run["seed"] == 7 and run["prompt"] == "red brick" and run["resolution"] == [48, 32]
    assert run["artifacts"]["render"] == "render.png" and run["warnings"] == []
    assert set(run["timings"]) >= {"depth", "generate", "project", "render", "save"}
    assert not [p for p in tmp_out.iterdir() if ".part" in p.name]


def test_ctrl_c_inside_a_blender_handler_is_not_lost(addon) -> None:
    """Blender prints and drops exceptions raised in app handlers, KeyboardInterrupt included: the flag keeps it."""
    import signal
    import threading

    from depth_addon import cli

    interrupted = threading.Event()
    previous = cli._catch_sigint(interrupted)

    def on_frame(_scene, _depsgraph=None) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    bpy.app.handlers.frame_change_post.append(on_frame)
    try:
        bpy.context.scene.frame_set(2)
    except KeyboardInterrupt:
        pass
    finally:
        bpy.app.handlers.frame_change_post.remove(on_frame)
        signal.signal(signal.SIGINT, previous)
    assert interrupted.is_set()


def test_ctrl_c_during_a_file_write_waits_for_it(tmp_path) -> None:
    """Ctrl+C while an atomic write runs: the file is completed (no ``.part`` left), then the interrupt is raised."""
    import signal
    import threading

    from depth_addon import cli
    from depth_addon.io.atomic import atomic_path

    interrupted = threading.Event()
    previous = cli._catch_sigint(interrupted)
    target = tmp_path / "out.txt"
    try:
        with pytest.raises(KeyboardInterrupt):
            with atomic_path(target) as tmp:
                os.kill(os.getpid(), signal.SIGINT)
                tmp.write_text("whole")
        with pytest.raises(KeyboardInterrupt):  # outside a write it raises at once
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
    finally:
        signal.signal(signal.SIGINT, previous)
    assert interrupted.is_set()
    assert target.read_text() == "whole"
    assert not list(tmp_path.glob("*.part*"))


def test_argument_errors_are_one_line_on_stderr(tmp_out: Path) -> None:
    """argparse errors of a real process: exit code 2 and one line on stderr (not the 22-line usage)."""
    for args in (("--fov", "abc"), ("--fov", "60", "--focal-px", "30")):
        proc = run_cli("import-depth", "x.png", *args, "--out", str(tmp_out / "o.blend"))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("depth_cli: error: argument "), proc.stderr
    assert not any(tmp_out.iterdir())


def test_progress_lines_are_rate_limited_but_every_new_step_shows(capsys):
    from depth_addon.cli import Events

    sink = Events(as_json=True)
    for fraction, message in ((0.6, "generating view 3 of 3: done"), (0.6, "baking Ground"), (0.601, "baking Ground"),
                              (0.7, "baking Ground"), (0.7, "baking Cube")):
        sink.progress(fraction, message)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["fraction"], e["message"]) for e in lines] == [
        (0.6, "generating view 3 of 3: done"), (0.6, "baking Ground"), (0.7, "baking Ground"), (0.7, "baking Cube")]
