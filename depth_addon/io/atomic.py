# SPDX-License-Identifier: GPL-3.0-or-later
"""Write files so that readers never see a half-written one.

Data goes to a temporary name in the target folder and is renamed over the target only when the
writer finished without an exception, so a crash, a full disk or a cancel leaves either the old
file or nothing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import BadInput


def check_writable_dir(directory: str | os.PathLike) -> Path:
    """Create ``directory`` if needed and make sure files can be written there.

    :param directory: Output folder.
    :raises BadInput: With the reason, when the folder cannot be created or written.
    """
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create output folder {str(path)!r}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"output folder {str(path)!r} is not writable")
    return path


_WRITING = [0]  # atomic writes in progress (main thread: where signal handlers run)
_HELD = [False]  # a Ctrl+C arrived during one


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it to ``target`` on success.

    The temporary name keeps the target's suffix so libraries that pick a format by extension
    still work. On any exception the temporary file is removed and the target is untouched.

    :param target: Final file path.
    """
    target = Path(target)
    check_writable_dir(target.parent)
    _WRITING[0] += 1
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent)
        tmp_path = Path(tmp)
        try:
            os.close(fd)
            yield tmp_path
            os.replace(tmp_path, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
    finally:
        _WRITING[0] -= 1
        if not _WRITING[0] and _HELD[0]:
            _HELD[0] = False
            raise KeyboardInterrupt


def hold_interrupt() -> bool:
    """For a SIGINT handler: while an atomic write runs, keep Ctrl+C until it has finished or cleaned up.

    :return: True when the interrupt was held (it is raised as ``KeyboardInterrupt`` when the write ends);
        False when no write runs and the handler should raise now.
    """
    if _WRITING[0]:
        _HELD[0] = True
        return True
    return False


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text_atomic(target: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically and return the path."""
    return write_bytes_atomic(target, text.encode("utf-8"))
