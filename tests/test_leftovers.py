# SPDX-License-Identifier: GPL-3.0-or-later
"""A writer killed outright leaves its temporary files; the next run that writes into the folder removes them, and
only them: files of running processes and of other hosts stay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bpy

from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.io import leftovers

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, str(ROOT / "scripts" / "depth_cli.py")]

KILLED = """
import os, sys
from pathlib import Path
from depth_addon.io.atomic import atomic_path
from depth_addon.io.staging import FileSet

out = Path(sys.argv[1])
staged = FileSet()
staged.stage(out / "depth_Camera_0001.exr").write_bytes(b"half an EXR")
with atomic_path(out / "depth_Camera_0001.png") as tmp:
    tmp.write_bytes(b"half a PNG")
    os._exit(9)  # killed in the middle: no clean-up runs
"""


def killed_pid(tmp_path: Path) -> int:
    """The pid of a process that has ended (as a killed writer's is)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_run_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    killed = subprocess.run([sys.executable, "-c", KILLED, str(out)], cwd=ROOT, capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    left = sorted(p.name for p in out.iterdir())
    assert len(left) == 2 and all(name.startswith(".depth_Camera_0001.~") and ".part." in name for name in left), left
    host = leftovers.owner()[1:].rsplit("-", 1)[0]
    running = out / f".depth_Camera_0002.~{host}-{os.getppid()}.abc123.part.png"  # a run still going here
    elsewhere = out / f".depth_Camera_0003.~otherhost-{killed_pid(tmp_path)}.abc123.part.png"  # another machine
    for keep in (running, elsewhere):
        keep.write_bytes(b"in progress")
    build_demo_scene(bpy.context.scene, (24, 16))
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    done = subprocess.run([*CLI, "render-depth", "--blend", str(blend), "--out", str(out / "depth_Camera_0001.png")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([running.name, elsewhere.name, "depth_Camera_0001.png"]), names


def test_a_crashed_blenders_worker_folders_go_when_the_next_worker_starts(tmp_path: Path, monkeypatch) -> None:
    """The worker's folder is named after the Blender that made it; a Blender that crashed left its folder, and the
    next worker started on this host removes it. Folders of running processes, other hosts and unnamed ones stay."""
    import tempfile

    from depth_addon.worker.client import WorkerClient

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    host = leftovers.owner()[1:].rsplit("-", 1)[0]
    crashed = tmp_path / f"depth_addon_worker_~{host}-{killed_pid(tmp_path)}_ab12"
    kept = [tmp_path / f"depth_addon_worker_~{host}-{os.getppid()}_cd34", tmp_path / "depth_addon_worker_ef56",
            tmp_path / f"depth_addon_worker_~otherhost-{killed_pid(tmp_path)}_gh78"]
    for folder in (crashed, *kept):
        (folder / "job-1").mkdir(parents=True)
        (folder / "job-1" / "image.npy").write_bytes(b"left")
    client = WorkerClient()
    try:
        client.start()
        mine = [p for p in tmp_path.iterdir() if p.name.startswith(f"depth_addon_worker_{leftovers.owner()}_")]
        assert len(mine) == 1 and mine[0].is_dir()
    finally:
        client.stop()
    assert not crashed.exists() and all(folder.exists() for folder in kept)
