# SPDX-License-Identifier: GPL-3.0-or-later
"""Temporary files of writers that were killed: named after their owner, and swept by the next writer.

An atomic write (:func:`.atomic.atomic_path`) and a staged set of files (:class:`.staging.FileSet`) write under a
hidden temporary name beside the target and rename it into place. A process killed outright (``kill -9``, a farm's
pre-emption, a power cut) cannot remove its temporary files, and on a long shot they add up. So each temporary name
carries its owner, ``~HOST-PID`` (:func:`owner`), and the first write of a process into a folder removes the
temporary files there whose owner ran on this host and is no longer running (:func:`sweep`); working folders in the
system's temporary folder are named and swept alike (:func:`sweep_folders`: a crashed Blender's worker). Files of
other hosts
(a shared farm disk) and of running processes are never touched, nor anything on Windows, where a
process cannot be probed without being signalled.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

_SWEPT: set[str] = set()  # folders this process has swept already: once each
_NAME = re.compile(r"^\..+\.~(?P<host>[A-Za-z0-9-]{1,32})-(?P<pid>\d{1,10})\.[^/]*part[^/]*$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def owner() -> str:
    """``~HOST-PID`` of this process, for the temporary names it writes (``HOST``: letters, digits and ``-``)."""
    return f"~{_host()}-{os.getpid()}"


def _running(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows has no harmless probe (os.kill would stop it): kept there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):  # another user's process, or not a pid here: leave it
        return True
    return True


def _orphans(folder: str, key: str, pattern: re.Pattern) -> list[os.DirEntry]:
    """The entries of ``folder`` whose name ``pattern`` matches and whose owner ran on this host and has ended;
    none when ``key`` was swept by this process already, or the folder cannot be listed."""
    if key in _SWEPT:
        return []
    _SWEPT.add(key)
    host = _host()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return [e for e in entries if (m := pattern.match(e.name)) is not None and m["host"] == host
            and not _running(int(m["pid"]))]


def sweep(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files in ``folder`` that a killed process of this host left (once per folder and
    process; a folder that cannot be listed is left alone).

    :param folder: A folder about to be written to.
    :return: The files removed.
    """
    key = os.path.realpath(folder)
    removed = []
    for entry in _orphans(key, key, _NAME):
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def sweep_folders(parent: str | os.PathLike, prefix: str) -> list[Path]:
    """Remove the folders ``PREFIX~HOST-PID_…`` in ``parent`` whose owner ran on this host and has ended (once per
    prefix and process; what cannot be removed is left).

    :param parent: Where such folders are made (the system's temporary folder).
    :param prefix: Their name's start, before :func:`owner`.
    :return: The folders removed.
    """
    pattern = re.compile(re.escape(prefix) + r"~(?P<host>[A-Za-z0-9-]{1,32})-(?P<pid>\d{1,10})_")
    removed = []
    for entry in _orphans(os.fspath(parent), os.path.join(os.path.realpath(parent), prefix), pattern):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.exists(entry.path):
                removed.append(Path(entry.path))
    return removed
