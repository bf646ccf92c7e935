# SPDX-License-Identifier: GPL-3.0-or-later
"""A .blend save that the disk cuts short: one message naming the file and the cause, the old file kept, nothing
half-written left.

Blender writes the file itself, so the fault is made at the operating system: a file-size limit
(``RLIMIT_FSIZE``, the ``SIGXFSZ`` it sends ignored) makes Blender's own writes fail part-way, and a full disk is
that plus a file system that reports (``statvfs``, through ``shutil.disk_usage``) almost no space left. Blender
5.0 then reports the file as saved; 4.2 and 5.3 raise with an unrelated reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import signal
from pathlib import Path

import bpy
import numpy as np
import pytest

from depth_addon import cli

resource = pytest.importorskip("resource")


@contextlib.contextmanager
def file_size_limit(limit: int):
    """Writes past ``limit`` bytes fail (``EFBIG``) in this process while the block runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def import_depth(tmp_path: Path, out: Path) -> int:
    depth = tmp_path / "ramp.npy"
    np.save(depth, np.linspace(1.0, 5.0, 32 * 24, dtype=np.float32).reshape(24, 32))
    return cli.main(["import-depth", str(depth), "--fov", "60", "--out", str(out)])


@pytest.mark.parametrize("disk", ["full", "with room"])
def test_a_blend_save_cut_short_names_the_file_and_the_cause(tmp_path: Path, monkeypatch, capsys, disk) -> None:
    out = tmp_path / "out" / "scene.blend"
    assert import_depth(tmp_path, out) == 0
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    if disk == "full":
        monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**9, 10**9 - 4096, 4096))
    capsys.readouterr()
    with file_size_limit(out.stat().st_size // 4):
        code = import_depth(tmp_path, out)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    if disk == "full":
        assert err == f"depth_cli: error: no space left on device for {out}, 0.1 MB free"
    else:
        assert err.startswith(f"depth_cli: error: cannot write {out}: ") and "ulimit -f" in err, err
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    assert [p.name for p in out.parent.iterdir()] == ["scene.blend"], "no temporary or partial file left"
