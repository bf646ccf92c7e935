# SPDX-License-Identifier: GPL-3.0-or-later
"""Write files so that readers never see a half-written one, and a failed write never costs the old file.

Data goes to a temporary name in the target folder; when the writer finished, the temporary file is
checked (:func:`depth_addon.io.verify.verify_file`: size, format header, JSON parses), given the
target's permissions (an existing file's mode, else what the umask allows), flushed to disk and only
then renamed over the target. A crash, a full disk or a cancel leaves either the old file or nothing (a
process killed outright leaves its temporary file, which the next writer there removes: :mod:`.leftovers`).
Write errors are :class:`~depth_addon.errors.BadInput` (exit code 2) with the reason: ``no space left
on device for PATH, N MB needed`` for a full disk or quota, else the operating system's message.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import BadInput
from . import leftovers
from .verify import verify_file

#: Errors that mean "the disk (or the user's quota) is full".
NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


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


def megabytes(size: int) -> str:
    """``size`` bytes as a short MB figure for messages (at least 0.1).

    :param size: Bytes.
    """
    return f"{max(size / 1e6, 0.1):.1f}"


def write_error(exc: OSError, path: str | os.PathLike, needed: int = 0) -> BadInput:
    """The user-facing error for a failed write of ``path``.

    :param exc: The operating system's error.
    :param path: The file that was being written.
    :param needed: Bytes the write needed (0 when unknown).
    """
    if exc.errno in NO_SPACE:
        try:
            free = f", {megabytes(shutil.disk_usage(Path(path).parent).free)} MB free"
        except OSError:
            free = ""
        need = f", {megabytes(needed)} MB needed" if needed else ""
        return BadInput(f"no space left on device for {os.fspath(path)}{need}{free}")
    return BadInput(f"cannot write {os.fspath(path)}: {exc.strerror or exc}")


def output_mode(target: str | os.PathLike) -> int:
    """Permission bits a new version of ``target`` gets: the existing file's, else ``0o666`` less the umask.

    :param target: The file about to be written.
    """
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


def fsync_path(path: str | os.PathLike, directory: bool = False) -> None:
    """Flush a file (or, where the system allows it, a folder's entries) to disk.

    :param path: File or folder.
    :param directory: ``path`` is a folder (skipped where folders cannot be opened, e.g. Windows).
    """
    if directory and os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY if directory else os.O_RDWR)
    try:
        with contextlib.suppress(OSError) if directory else contextlib.nullcontext():
            os.fsync(fd)
    finally:
        os.close(fd)


def commit_file(tmp: Path, target: Path, mode: int, size: int | None = None,
                verify: Callable[[Path], None] | None = None) -> None:
    """Check ``tmp``, give it ``mode``, flush it and rename it over ``target``.

    :param tmp: The finished temporary file (same folder as ``target``).
    :param target: Final path.
    :param mode: Permission bits for the result.
    :param size: Exact size ``tmp`` must have, when known.
    :param verify: Extra check of ``tmp`` (e.g. that a .blend reopens); raises on failure.
    :raises BadInput: For a failed check or write.
    """
    written = 0
    try:
        written = verify_file(tmp, size, kind=target.suffix)
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, mode)
        fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent, directory=True)
    except OSError as exc:
        raise write_error(exc, target, size or written) from None


_WRITING = [0]  # atomic writes in progress (main thread: where signal handlers run)
_HELD = [False]  # a Ctrl+C arrived during one
_CALLBACKS = [0]  # functions Blender called (app handlers) running now on the main thread
_PENDING = [False]  # a Ctrl+C arrived during one: delivered again once Blender has returned
_AGAIN: list[threading.Timer] = []  # that delivery, until it fires or the command ends


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Keep Ctrl+C (see :func:`hold_interrupt`) until the block has finished, then raise it."""
    _WRITING[0] += 1
    try:
        yield
    finally:
        _WRITING[0] -= 1
        if not _WRITING[0] and _HELD[0]:
            _HELD[0] = False
            raise KeyboardInterrupt


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, size: int | None = None,
                verify: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; check it and rename it to ``target`` on success.

    The temporary name keeps the target's suffix so libraries that pick a format by extension
    still work. On any exception the temporary file is removed and the target is untouched.

    :param target: Final file path.
    :param size: Exact size the written file must have, when known.
    :param verify: Extra check of the written file, run before the rename.
    :raises BadInput: When writing, checking or renaming fails (full disk: ``no space left on device``).
    """
    target = Path(target)
    check_writable_dir(target.parent)
    mode = output_mode(target)
    with interrupts_held():
        try:
            leftovers.sweep(target.parent)  # what a killed writer left here
            fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.{leftovers.owner()}.", suffix=f".part{target.suffix}",
                                       dir=target.parent)
        except OSError as exc:
            raise write_error(exc, target, size or 0) from None
        tmp_path = Path(tmp)
        try:
            os.close(fd)
            try:
                yield tmp_path
            except OSError as exc:
                raise write_error(exc, target, size or 0) from None
            commit_file(tmp_path, target, mode, size, verify)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()


def hold_interrupt() -> bool:
    """For a SIGINT handler: while an atomic write runs, keep Ctrl+C until it has finished or cleaned up; inside a
    :func:`blender_callback`, until Blender has returned from it.

    :return: True when the interrupt was held (it is raised as ``KeyboardInterrupt`` when the write ends, or
        signalled again after the callback); False when the handler should raise now.
    """
    if _CALLBACKS[0]:
        _PENDING[0] = True
        return True
    if _WRITING[0]:
        _HELD[0] = True
        return True
    return False


def blender_callback(function: Callable) -> Callable:
    """Decorate a function Blender calls (an app handler): a Ctrl+C that arrives inside is not raised there, where
    Blender would print it as a traceback and drop it, but signalled again once the function has returned.

    :param function: The handler.
    """

    @functools.wraps(function)
    def run(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():  # signals are handled on the main thread
            return function(*args, **kwargs)
        _CALLBACKS[0] += 1
        try:
            return function(*args, **kwargs)
        finally:
            _CALLBACKS[0] -= 1
            if not _CALLBACKS[0] and _PENDING[0]:
                _PENDING[0] = False  # from another thread, so it reaches Python after Blender's call has returned
                _AGAIN.append(threading.Timer(0.01, signal.raise_signal, (signal.SIGINT,)))
                _AGAIN[-1].daemon = True
                _AGAIN[-1].start()

    return run


def drop_pending_interrupt() -> None:
    """Forget a Ctrl+C still to be signalled again (see :func:`blender_callback`): the command has ended."""
    _PENDING[0] = False
    while _AGAIN:
        _AGAIN.pop().cancel()


def write_all(path: Path, data: bytes) -> None:
    """Write ``data`` to the existing file ``path`` with ``os.write`` until every byte is out.

    :param path: File to fill (truncated first).
    :param data: The bytes.
    """
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_BINARY", 0))
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return the path.

    :raises BadInput: When the disk has less free space than ``data`` needs, or the write fails.
    """
    target = Path(target)
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        free = None
    if free is not None and free < len(data):
        raise write_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), target, len(data))
    with atomic_path(target, size=len(data)) as tmp:
        write_all(tmp, data)
    return target


def write_text_atomic(target: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically and return the path."""
    return write_bytes_atomic(target, text.encode("utf-8"))
