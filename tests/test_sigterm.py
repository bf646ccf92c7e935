# SPDX-License-Identifier: GPL-3.0-or-later
"""SIGTERM, which a farm manager or ``kill`` sends to stop a run, stops the command line as Ctrl+C does: the JSON
events end with an ``error``, one line on stderr, exit 143, nothing half-made left, and a rerun resumes."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_batch_stopped_by_sigterm_ends_cleanly_and_resumes(tmp_path: Path) -> None:
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    bpy.ops.mesh.primitive_plane_add(size=200.0, rotation=(math.pi / 2, 0.0, 0.0))
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.location, cam.rotation_euler = (0.0, -10.0, 0.0), (math.pi / 2, 0.0, 0.0)
    bpy.context.scene.collection.objects.link(cam)
    bpy.context.scene.camera = cam
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"), copy=True)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"tasks": [{"name": "shot", "blend": "shot.blend", "frames": [1, 40],
                                          "range": [1.0, 50.0], "generator": "analytic", "resolution": [128, 96],
                                          "outputs": ["depth", "generated", "texture"]}]}))
    cli = [sys.executable, str(ROOT / "scripts" / "depth_cli.py"), "--json", "batch", str(job)]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "artifact" and len(events) == 2 + 3:  # start, progress, the first unit's files
            proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 143, err
    assert events[-1] == {"event": "error", "code": 143, "message": "cancelled (SIGTERM)"}
    assert [line for line in err.splitlines() if line.startswith("depth_cli:")] == [
        "depth_cli: error: cancelled (SIGTERM)"], err
    out = tmp_path / "out" / "shot"
    made = {p.name for p in out.iterdir() if p.is_dir()}
    assert made and len(made) < 40
    assert not [p.name for p in out.rglob(".*") if p.name != ".manifest.lock"]  # no staging, unit lock or part file
    resumed = subprocess.run(cli, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr
    done = json.loads(resumed.stdout.splitlines()[-1])
    assert (done["skipped"], done["done"]) == (len(made), 40 - len(made))


def test_a_stop_while_a_lock_is_taken_leaves_no_lock_file(tmp_path: Path, monkeypatch) -> None:
    """A stop that arrived between creating a unit's lock file and holding it left the file behind."""
    import threading

    import pytest

    from depth_addon import cli
    from depth_addon.io import locks

    real = locks._try_lock

    def locked_then_stopped(fd: int, wait: bool) -> bool:
        taken = real(fd, wait)
        signal.raise_signal(signal.SIGTERM)  # its Python handler runs at the next bytecode: inside acquire
        return taken

    monkeypatch.setattr(locks, "_try_lock", locked_then_stopped)
    previous = cli._catch_sigint(threading.Event(), signum=signal.SIGTERM)
    try:
        with pytest.raises(KeyboardInterrupt):
            locks.FileLock(tmp_path / ".Cam_0001.lock", {"command": "batch"}).acquire(wait=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not list(tmp_path.iterdir())
