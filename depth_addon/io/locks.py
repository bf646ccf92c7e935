# SPDX-License-Identifier: GPL-3.0-or-later
"""Advisory file locks that die with their process: ``flock`` on POSIX, ``msvcrt.locking`` on Windows.

A lock file holds a short JSON note (process id, host, what runs, since when) so that a run which
finds the lock taken can say who holds it. The lock itself is the operating system's, so a killed
run never leaves a stale lock behind; the file is removed when the holder releases it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from ..errors import BadInput
from .atomic import interrupts_held

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt


def _try_lock(fd: int, wait: bool) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True
    while True:  # pragma: no cover - Windows
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            if not wait:
                return False
            time.sleep(0.05)


class FileLock:
    """An exclusive lock on ``path`` (created if needed), held until :meth:`release`."""

    def __init__(self, path: str | os.PathLike, note: dict | None = None) -> None:
        """Prepare the lock; nothing is locked until :meth:`acquire`.

        :param path: The lock file.
        :param note: What the holder is doing (written into the file with its pid and host).
        """
        self.path = Path(path)
        self.note = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                     **(note or {})}
        self.fd: int | None = None

    def holder(self) -> str:
        """Who holds the lock, as read from its file ("another run" when unreadable)."""
        try:
            note = json.loads(self.path.read_text(encoding="utf-8"))
            what = f"{note.get('command', 'a run')}, pid {note['pid']} on {note['host']}, since {note['since']}"
            return f"another run ({what})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another run"

    def acquire(self, wait: bool = False) -> bool:
        """Take the lock; False when another process holds it and ``wait`` is False.

        The file is checked to still be the one at ``path`` after locking (a releasing holder
        removes it), so two runs never both believe they hold it. Without ``wait``, a stop (Ctrl+C, SIGTERM) that
        arrives meanwhile is raised once the lock is taken, and releases it: its file does not outlive the run.

        :param wait: Block until the lock is free instead of returning False (a stop ends the wait at once).
        """
        try:
            with contextlib.nullcontext() if wait else interrupts_held():
                return self._take(wait)
        except KeyboardInterrupt:
            self.release()
            raise

    def _take(self, wait: bool) -> bool:
        """:meth:`acquire`, without its care for a stop."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            if not _try_lock(fd, wait):
                os.close(fd)
                return False
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # removed by its last holder between our open and our lock: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(self.note).encode("utf-8"))
        self.fd = fd
        return True

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing when not held)."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):  # Windows cannot remove an open file: it stays, unlocked
            self.path.unlink()
        os.close(self.fd)
        self.fd = None


@contextlib.contextmanager
def locked(path: str | os.PathLike, what: str, wait: bool = True):
    """Hold the lock ``path`` for the block.

    :param path: The lock file.
    :param what: What is locked (shown to a run that finds it taken, and to the holder's rivals).
    :param wait: Wait for the lock; when False a taken lock is :class:`BadInput` naming its holder.
    """
    lock = FileLock(path, {"command": what})
    if not lock.acquire(wait=wait):
        raise BadInput(f"{what} is in use by {lock.holder()}")
    try:
        yield lock
    finally:
        lock.release()
