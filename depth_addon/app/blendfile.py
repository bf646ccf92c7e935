# SPDX-License-Identifier: GPL-3.0-or-later
"""Saving a copy of the open file as a result: atomic, checked, and with relative paths to files beside it.

The command line (``texture``, ``import-depth``) and batch units save their ``.blend`` through
:func:`save_blend`, so a full disk never replaces a good file and a saved result folder can be moved.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

try:
    import resource
except ImportError:  # Windows
    resource = None

import bpy

from ..errors import BadInput
from ..io.atomic import atomic_path, megabytes, write_error
from ..io.verify import verify_file

__all__ = ["blend_reopens", "relative_images", "save_blend"]


@contextlib.contextmanager
def relative_images(folder: Path) -> Iterator[None]:
    """While saving into ``folder``, images whose files lie inside it are referenced relatively.

    A saved .blend then finds ``generated.png`` and ``textures/`` next to itself wherever the folder
    is moved. Paths are restored afterwards.

    :param folder: The folder the .blend is saved into.
    """
    folder = folder.resolve()
    changed: list[tuple[bpy.types.Image, str]] = []
    for image in bpy.data.images:
        if image.source != "FILE" or image.packed_file is not None or not image.filepath:
            continue
        path = Path(bpy.path.abspath(image.filepath)).resolve()
        if folder not in path.parents:
            continue
        try:  # relative to the open file; saving with relative_remap rebases it onto the new file
            rel = bpy.path.relpath(str(path)) if bpy.data.filepath else "//" + path.relative_to(folder).as_posix()
        except ValueError:  # another drive (Windows): keep it absolute
            continue
        changed.append((image, image.filepath))
        image.filepath = rel
    try:
        yield
    finally:
        for image, old in changed:
            image.filepath = old


def blend_reopens(path: Path) -> None:
    """Check that a written .blend can be read back (its datablock index lists a scene).

    :param path: The written file.
    :raises BadInput: When Blender cannot read it.
    """
    try:
        with bpy.data.libraries.load(str(path)) as (source, _target):
            scenes = list(source.scenes)
    except (OSError, RuntimeError) as exc:
        raise BadInput(f"the saved {path.name} does not reopen: {str(exc).strip()}") from None
    if not scenes:
        raise BadInput(f"the saved {path.name} holds no scene")


#: Free space under which a failed save is put down to a full disk (Blender does not say why a write failed).
LOW_SPACE = 16 * 1024 * 1024


def save_failure(out: Path, written: Path, reason: str) -> BadInput:
    """The one message for a save of ``out`` that failed or wrote a file that does not reopen: the target's path and
    the cause, as far as it can be told (Blender reports a short write as saved, or only as an error string).

    :param out: The .blend the user asked for.
    :param written: The temporary file Blender wrote (or failed to).
    :param reason: What Blender or the check said.
    """
    size = written.stat().st_size if written.is_file() else 0
    try:
        free = shutil.disk_usage(out.parent).free
    except OSError:
        free = None
    if "no space" in reason.lower() or (free is not None and free < LOW_SPACE):
        return write_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), out)
    if written.is_file():  # Blender said it saved (5.0 does after a failed write)
        detail = f"the file Blender wrote is cut short or corrupt ({megabytes(size)} MB written)"
    else:
        detail = reason.removeprefix("Error: ")
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if resource is not None else None
    if limit is not None and limit != resource.RLIM_INFINITY:
        detail += f"; this process may write files of at most {megabytes(limit)} MB (ulimit -f)"
    return BadInput(f"cannot write {out}: {detail}")


def save_blend(out: Path) -> None:
    """Save a copy of the current file as ``out`` atomically: a temporary name in the same folder,
    checked (header, size, it reopens), flushed, then renamed.

    Relative paths are remapped to the new folder, and images stored inside it become relative; the
    temporary file never stays behind. A failed save (full disk, read-only folder, a write Blender cut short) is
    :class:`BadInput` naming ``out`` and the cause (:func:`save_failure`), and leaves an existing ``out`` untouched.

    :param out: Target ``.blend``.
    """
    with relative_images(out.parent), atomic_path(out) as tmp:
        tmp.unlink()  # a new name, so Blender writes no .blend1 backup beside it
        try:
            bpy.ops.wm.save_as_mainfile(filepath=str(tmp.resolve()), copy=True, relative_remap=True)
            if not tmp.is_file():
                raise BadInput("Blender wrote no file")
            verify_file(tmp, kind=".blend")
            blend_reopens(tmp)
        except (RuntimeError, BadInput) as exc:
            raise save_failure(out, tmp, str(exc).strip().splitlines()[-1]) from None
