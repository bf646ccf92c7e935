# SPDX-License-Identifier: GPL-3.0-or-later
"""Saving a copy of the open file as a result: atomic, checked, and with relative paths to files beside it.

The command line (``texture``, ``import-depth``) and batch units save their ``.blend`` through
:func:`save_blend`, so a full disk never replaces a good file and a saved result folder can be moved.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

import bpy

from ..errors import BadInput
from ..io.atomic import atomic_path

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


def save_blend(out: Path) -> None:
    """Save a copy of the current file as ``out`` atomically: a temporary name in the same folder,
    checked (header, size, it reopens), flushed, then renamed.

    Relative paths are remapped to the new folder, and images stored inside it become relative; the
    temporary file never stays behind. A failed save (full disk ...) is :class:`BadInput` and leaves
    an existing ``out`` untouched.

    :param out: Target ``.blend``.
    """
    with relative_images(out.parent), atomic_path(out, verify=blend_reopens) as tmp:
        tmp.unlink()  # a new name, so Blender writes no .blend1 backup beside it
        try:
            bpy.ops.wm.save_as_mainfile(filepath=str(tmp.resolve()), copy=True, relative_remap=True)
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[-1]
            raise OSError(errno.ENOSPC if "no space" in reason.lower() else None,
                          f"Blender could not save it: {reason}") from None
        if not tmp.is_file():
            raise OSError("Blender wrote no file")
