# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by several commands: versions, ``--frames``, ``--resolution``, opening and saving .blend files.

Also :class:`EventSink`, the interface of the event writer every command's ``run`` receives.
Imports nothing else from the ``cli`` package.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
from pathlib import Path
from typing import Protocol

import bpy
import numpy as np

from .. import __version__
from ..errors import BadInput


class EventSink(Protocol):
    """What a command sees of the CLI's event writer (``--json`` lines or short human-readable lines)."""

    as_json: bool

    def emit(self, event: str, **data: object) -> None:
        """Write one event (``artifact``, ``progress``, ``warning`` ...) with its data."""

    def progress(self, fraction: float, message: str) -> None:
        """Report progress of a long step; ``fraction`` runs from 0 to 1."""


def versions() -> dict[str, str]:
    """Versions of everything that affects results."""
    out = {"depth_addon": __version__, "blender": bpy.app.version_string, "python": platform.python_version(),
           "numpy": np.__version__}
    try:
        import torch  # lazy: torch is optional and slow to import; only asked for here and by ``info``

        out["torch"] = torch.__version__
    except ImportError:
        out["torch"] = "not installed"
    return out


def parse_frames(values: list[str] | None) -> tuple[int, int] | None:
    """``--frames``: ``START END``, ``START-END`` or a single frame; None when not given.

    :param values: The words given to ``--frames``.
    :raises BadInput: For anything else.
    """
    if not values:
        return None
    text = " ".join(values).strip()
    m = re.fullmatch(r"(-?\d+)(?:\s+|\s*(?:-|\.\.|:)\s*)(-?\d+)", text) or re.fullmatch(r"(-?\d+)", text)
    if m is None:
        raise BadInput(f"--frames wants START END or START-END, got {text!r}")
    start = int(m.group(1))
    end = int(m.group(2)) if m.lastindex == 2 else start
    return start, end


def add_resolution(parser: argparse.ArgumentParser, default: list[int] | None = None) -> None:
    """Add ``--resolution W H`` to a command's parser.

    :param parser: The command's sub-parser.
    :param default: ``[W, H]`` when the option is not given; None leaves the scene's resolution.
    """
    parser.add_argument("--resolution", nargs=2, type=int, metavar=("W", "H"), default=default)


def open_blend(path: str | None) -> None:
    """Open ``path`` (nothing when None); a missing or unreadable file is :class:`BadInput`.

    :param path: A .blend file or None.
    """
    if path is None:
        return
    if not os.path.isfile(path):
        raise BadInput(f"blend file not found: {path}")
    try:
        bpy.ops.wm.open_mainfile(filepath=os.path.abspath(path), load_ui=False)
    except RuntimeError as exc:
        raise BadInput(f"cannot open {path}: {str(exc).strip().splitlines()[-1]}") from None


def save_blend(out: Path) -> None:
    """Save a copy of the current file as ``out`` atomically (``.<stem>.part.blend`` in the same folder, then rename).

    Relative paths are remapped to the new folder; the temporary file never stays behind.

    :param out: Target ``.blend``.
    """
    tmp = out.parent / f".{out.stem}.part.blend"
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp.resolve()), copy=True, relative_remap=True)
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
