# SPDX-License-Identifier: GPL-3.0-or-later
"""Nothing lost, ever: full disks, failed renames, concurrent runs and farm chunks, interrupts, moved folders.

Faults are injected without root: ``os.write`` / ``os.replace`` are patched to fail with ENOSPC or EACCES,
a "crash" is an exception that skips the clean-up, and concurrency uses real processes. Each test checks
that the earlier results are intact, and the exit code and message the user gets.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import bpy
import pytest

from depth_addon import cli
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.errors import BadInput
from depth_addon.io import outdir
from depth_addon.io.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from depth_addon.io.locks import FileLock
from depth_addon.io.outdir import LOCK, MARKER, OutputDir
from depth_addon.io.verify import verify_file

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, str(ROOT / "scripts" / "depth_cli.py")]
REAL_REPLACE = os.replace


def run(*args: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"), **popen)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) → sha256 of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def demo_blend(tmp_path: Path) -> Path:
    build_demo_scene(bpy.context.scene, (48, 32))
    path = tmp_path / "in" / "demo.blend"
    path.parent.mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


# --- single files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("patched", ["write", "replace"])
def test_disk_full_keeps_the_previous_file(tmp_path: Path, monkeypatch, patched: str) -> None:
    target = tmp_path / "run.json"
    write_text_atomic(target, '{"old": true}')
    monkeypatch.setattr(os, patched, no_space)
    with pytest.raises(BadInput, match=r"no space left on device for .*run\.json, 0\.1 MB needed") as info:
        write_text_atomic(target, json.dumps({"new": "x" * 1000}))
    assert info.value.exit_code == 2
    monkeypatch.undo()
    assert target.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"], "no temporary file left"


def test_too_little_free_space_is_refused_before_writing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10, 10, 3))
    with pytest.raises(BadInput, match="no space left on device .* 0.1 MB needed, 0.1 MB free"):
        write_bytes_atomic(tmp_path / "a.bin", b"0123456789")
    assert not any(tmp_path.iterdir())


def test_permission_error_is_named(tmp_path: Path, monkeypatch) -> None:
    def denied(*_a, **_k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(BadInput, match="cannot write .*x.json: Permission denied"):
        write_text_atomic(tmp_path / "x.json", "{}")


def test_short_or_broken_files_never_replace_a_good_one(tmp_path: Path) -> None:
    target = tmp_path / "g.png"
    target.write_bytes(b"good")
    with pytest.raises(BadInput, match="short write"), atomic_path(target) as tmp:
        tmp.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)  # no IEND: cut off
    with pytest.raises(BadInput, match="does not parse as JSON"), atomic_path(tmp_path / "r.json") as tmp:
        tmp.write_text('{"cut": ')
    with pytest.raises(BadInput, match="not a valid .blend"), atomic_path(tmp_path / "s.blend") as tmp:
        tmp.write_bytes(b"\x00" * 64)
    assert target.read_bytes() == b"good" and sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]
    with pytest.raises(BadInput, match="3 bytes, 4 expected"):
        (tmp_path / "x.bin").write_bytes(b"abc")
        verify_file(tmp_path / "x.bin", size=4)


def test_outputs_keep_the_mode_or_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "new.json", "{}")
        kept = tmp_path / "kept.json"
        kept.write_text("{}")
        os.chmod(kept, 0o604)
        write_text_atomic(kept, '{"a": 1}')
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640, "new files follow the umask, not 0600"
    assert kept.stat().st_mode & 0o777 == 0o604, "an existing file keeps its mode"


def test_cli_disk_full_is_exit_2_and_the_old_depth_stays(demo_blend: Path, tmp_path: Path, monkeypatch,
                                                         capsys) -> None:
    out = tmp_path / "d.exr"
    assert cli.main(["render-depth", "--blend", str(demo_blend), "--out", str(out), "--resolution", "16", "12"]) == 0
    before = out.read_bytes()
    monkeypatch.setattr(os, "replace", no_space)
    capsys.readouterr()
    code = cli.main(["render-depth", "--blend", str(demo_blend), "--out", str(out), "--resolution", "24", "16"])
    err = capsys.readouterr().err
    assert code == 2 and "no space left on device for" in err and "MB needed" in err, err
    assert "Traceback" not in err and out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "in") == ["d.exr"]


# --- owned, staged output folders --------------------------------------------------------------------------


def test_texture_owns_its_folder_and_swaps_whole_sets(demo_blend: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    base = ("texture", "--blend", str(demo_blend), "--out-dir", str(out), "--seed", "1")
    first = run(*base)
    assert first.returncode == 0, first.stderr
    record = json.loads((out / "run.json").read_text())
    listed = set(record["artifacts"].values())
    assert listed == {"depth.exr", "depth.png", "generated.png", "scene.blend"}
    assert {p.name for p in out.iterdir()} == listed | {"run.json", MARKER}, "nothing else is left in the folder"
    before = snapshot(out)

    again = run(*base)
    assert again.returncode == 2 and "already holds the results of an earlier run" in again.stderr
    assert "--overwrite" in again.stderr and snapshot(out) == before

    lock = FileLock(out / LOCK, {"command": "texture"})  # another run holds the folder
    assert lock.acquire()
    try:
        busy = run(*base, "--overwrite")
    finally:
        lock.release()
    assert busy.returncode == 2 and "is in use by another run (texture, pid" in busy.stderr, busy.stderr
    assert snapshot(out) == before

    replaced = run(*base, "--overwrite", "--render", "--samples", "1", "--seed", "2")
    assert replaced.returncode == 0, replaced.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["seed"] == 2 and (out / "render.png").is_file()
    assert json.loads((out / MARKER).read_text())["files"] == sorted(p.name for p in out.iterdir() if p.name != MARKER)


def test_out_dir_holding_the_input_is_refused(demo_blend: Path) -> None:
    before = snapshot(demo_blend.parent)
    proc = run("texture", "--blend", str(demo_blend), "--out-dir", str(demo_blend.parent))
    assert proc.returncode == 2 and "contains the input" in proc.stderr, proc.stderr
    assert snapshot(demo_blend.parent) == before


def test_moved_result_folder_still_finds_its_images(demo_blend: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli.main(["texture", "--blend", str(demo_blend), "--out-dir", str(out)]) == 0
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(str(out), str(moved))
    bpy.ops.wm.open_mainfile(filepath=str(moved / "scene.blend"))
    files = {i.name: i.filepath for i in bpy.data.images if i.source == "FILE" and not i.packed_file}
    assert "//generated.png" in files.values(), files
    assert all(Path(bpy.path.abspath(p)).is_file() for p in files.values()), files
    occluder = bpy.data.images["Depth Generated Depth"]  # in-memory images were packed into the saved file
    assert occluder.packed_file is not None and occluder.size[0] > 0 and occluder.is_float


def test_interrupted_rerun_keeps_the_previous_set(demo_blend: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("texture", "--blend", str(demo_blend), "--out-dir", str(out)).returncode == 0
    before = snapshot(out)
    proc = subprocess.Popen([*CLI, "--json", "texture", "--blend", str(demo_blend), "--out-dir", str(out),
                             "--overwrite", "--seed", "9"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    for line in proc.stdout:
        if '"progress"' in line and '"generating"' in line:
            proc.send_signal(signal.SIGINT)
            break
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert snapshot(out) == before, "the previous set stays whole"


def test_a_crash_in_the_middle_of_the_swap_is_finished_by_the_next_run(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    with OutputDir(out, "texture") as first:
        for name in ("a.txt", "b.txt", "run.json"):
            (first.staging / name).write_text(f"old {name}")
        first.commit()

    class Killed(BaseException):
        pass

    calls = []

    def dies_on_third_move(src, dst):
        calls.append(dst)
        if len(calls) == 7:  # after the journal: old set aside, part of the new set in
            raise Killed
        return REAL_REPLACE(src, dst)

    second = OutputDir(out, "texture", overwrite=True).claim()
    for name in ("a.txt", "run.json"):
        (second.staging / name).write_text(f"new {name}")
    monkeypatch.setattr(os, "replace", dies_on_third_move)
    with pytest.raises(Killed):
        second.commit()
    monkeypatch.undo()
    second.lock.release()  # the process died: its lock is gone
    assert (out / outdir.JOURNAL).is_file()
    with OutputDir(out, "texture", overwrite=True):  # the next run finishes the swap first
        pass
    assert {p.name for p in out.iterdir()} == {"a.txt", "run.json", MARKER}
    assert (out / "a.txt").read_text() == "new a.txt" and (out / "run.json").read_text() == "new run.json"


def test_failed_swap_puts_the_previous_set_back(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    with OutputDir(out, "texture") as first:
        (first.staging / "run.json").write_text("old")
        first.commit()
    before = snapshot(out)
    second = OutputDir(out, "texture", overwrite=True).claim()
    (second.staging / "run.json").write_text("new")
    count = []

    def fails_late(src, dst):
        count.append(1)
        if len(count) == 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return REAL_REPLACE(src, dst)

    monkeypatch.setattr(os, "replace", fails_late)
    with pytest.raises(BadInput, match="no space left"):
        second.commit()
    monkeypatch.undo()
    assert snapshot(out) == before and not (out / LOCK).exists()


# --- batch on a farm ------------------------------------------------------------------------------------


def test_two_farm_chunks_at_once_lose_no_unit(demo_blend: Path, tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"tasks": [{"name": "shot", "blend": str(demo_blend), "frames": [1, 4],
                                          "range": [0.5, 40.0], "outputs": ["depth", "depth_png"],
                                          "resolution": [16, 12], "out_dir": str(tmp_path / "o")}]}))
    chunks = [subprocess.Popen([*CLI, "--json", "batch", str(job), "--task", "shot", "--frames", a, b],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
              for a, b in (("1", "2"), ("3", "4"))]
    for proc in chunks:
        _o, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    out = tmp_path / "o"
    manifest = json.loads((out / "manifest.json").read_text())["units"]
    assert sorted(manifest) == ["Demo_Camera_0001", "Demo_Camera_0002", "Demo_Camera_0003", "Demo_Camera_0004"]
    for key, entry in manifest.items():
        assert json.loads((out / key / "unit.json").read_text()) == entry
        for record in entry["files"].values():
            data = (out / record["path"]).read_bytes()
            assert len(data) == record["size"] and hashlib.sha256(data).hexdigest() == record["sha256"]
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".manifest.lock"]

    (out / "Demo_Camera_0002" / "depth.png").write_bytes(b"\x89PNG\r\n\x1a\nchanged")  # same name, other bytes
    resumed = run("--json", "batch", str(job))
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads([line for line in resumed.stdout.splitlines() if line.startswith("{")][-1])
    assert summary["done"] == 1 and summary["skipped"] == 3, "a changed artifact is redone, the rest is trusted"


def test_a_unit_in_progress_elsewhere_is_waited_for(demo_blend: Path, tmp_path: Path) -> None:
    """A unit another run holds is waited for; when that run stops without it, this run makes it and exits 0."""
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"tasks": [{"name": "shot", "blend": str(demo_blend), "frames": [1, 1],
                                          "range": [0.5, 40.0], "outputs": ["depth"], "resolution": [16, 12],
                                          "out_dir": str(tmp_path / "o")}]}))
    (tmp_path / "o").mkdir()
    lock = FileLock(tmp_path / "o" / ".Demo_Camera_0001.lock", {"command": "batch"})
    assert lock.acquire()
    proc = subprocess.Popen([*CLI, "batch", str(job)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        lines = []
        for line in proc.stderr:  # the run goes on until it meets the held unit
            lines.append(line)
            if "is being made by another run" in line:
                break
        assert not (tmp_path / "o" / "Demo_Camera_0001").exists()
    finally:
        lock.release()  # the other run stops without the unit
    rest = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, "".join(lines) + rest
    assert "waiting for it after the other units" in lines[-1]
    assert (tmp_path / "o" / "Demo_Camera_0001" / "unit.json").is_file()


# --- Ctrl+C -----------------------------------------------------------------------------------------------


def test_ctrl_c_that_python_wraps_in_another_error_is_still_a_cancel(monkeypatch, capsys) -> None:
    """Ctrl+C inside a class body's ``__set_name__`` (as while torch imports) reaches Python 3.11 code as a
    RuntimeError: the run still ends as cancelled (130), not as an internal error."""

    class Interrupts:
        def __set_name__(self, _owner: type, _name: str) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # the CLI's handler raises KeyboardInterrupt here
            time.sleep(1.0)  # the handler runs before this returns

    def command(_args, _events) -> dict:
        type("Importing", (), {"attribute": Interrupts()})
        return {}

    monkeypatch.setitem(cli.COMMANDS, "info", command)
    assert cli.main(["info"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "depth_cli: error: cancelled"


def test_ctrl_c_inside_a_blender_callback_is_signalled_again_after_it() -> None:
    """Blender prints and drops an exception raised in an app handler: Ctrl+C arriving in one of ours is kept until
    the handler has returned, then signalled again, and the command ends as cancelled without a traceback."""
    from depth_addon.io.atomic import blender_callback

    interrupted = threading.Event()
    previous = cli._catch_sigint(interrupted)
    try:
        @blender_callback
        def handler() -> str:
            signal.raise_signal(signal.SIGINT)  # the Python handler runs at the next bytecode: in here
            return "finished"

        assert handler() == "finished" and interrupted.is_set()
        with pytest.raises(KeyboardInterrupt):
            time.sleep(5.0)  # delivered again, to the command
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("delay", [0.05, 0.4, 1.2, 2.5])
def test_ctrl_c_at_any_moment_is_130_without_traceback(demo_blend: Path, tmp_path: Path, delay: float) -> None:
    proc = subprocess.Popen([*CLI, "texture", "--blend", str(demo_blend), "--out-dir", str(tmp_path / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode in (130, 0), err
    assert "Traceback" not in err, err
    if proc.returncode == 130:
        assert err.strip().splitlines()[-1] == "depth_cli: error: cancelled"
        assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
