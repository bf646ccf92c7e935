# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by several commands: versions, ``--frames``, ``--resolution``, opening and saving .blend files.

Also :class:`EventSink`, the interface of the event writer every command's ``run`` receives, warnings
(an event and a line on stderr), and the checks that turn what would be a silent clamp or a late
failure into :class:`~depth_addon.errors.BadInput`. Imports nothing else from the ``cli`` package.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import platform
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import bpy
import numpy as np

from .. import __version__
from ..batch.job import check_frames
from ..blender.evaluation import show_rendered_layer
from ..errors import BadInput, ModelUnavailable
from ..io.atomic import interrupts_held


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
    try:  # from its metadata: importing torch takes seconds, and a Ctrl+C inside its C++ import code aborts
        out["torch"] = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        out["torch"] = "not installed"
    return out


def parse_frames(values: list[str] | None) -> tuple[int, int] | None:
    """``--frames``: ``START END``, ``START-END`` or a single frame; None when not given.

    :param values: The words given to ``--frames``.
    :raises BadInput: For anything else, for an end before the start, and for frames Blender has not got.
    """
    if not values:
        return None
    text = " ".join(values).strip()
    m = re.fullmatch(r"(-?\d+)(?:\s+|\s*(?:-|\.\.|:)\s*)(-?\d+)", text) or re.fullmatch(r"(-?\d+)", text)
    if m is None:
        raise BadInput(f"--frames wants whole frame numbers, START END or START-END, got {text!r}")
    start = int(m.group(1))
    end = int(m.group(2)) if m.lastindex == 2 else start
    if end < start:
        raise BadInput(f"--frames {start} {end}: the end is before the start")
    check_frames((start, end), "--frames")
    return start, end


def check_range(name: str, value: float | None, low: float, high: float | None = None) -> None:
    """Refuse a number outside ``[low, high]`` instead of clamping it.

    :param name: The option, as the user typed it (``--samples``).
    :param value: Its value; None (not given) passes.
    :param low: Smallest allowed value.
    :param high: Largest allowed value; no limit when None.
    :raises BadInput: Naming the option, the value and the allowed range.
    """
    if value is None:
        return
    if value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise BadInput(f"{name} must be {allowed}, got {value}")


def check_near_far(near: float, far: float) -> None:
    """``--near`` and ``--far`` (metres a relative estimate is spread over) must satisfy ``0 < near < far``, checked
    before the estimator loads.

    :param near: ``--near``.
    :param far: ``--far``.
    :raises BadInput: Naming both values.
    """
    if not (0 < near < far < math.inf):
        raise BadInput(f"--near and --far need 0 < near < far (metres), got --near {near:g} --far {far:g}")


def check_out_file(out: str | os.PathLike, suffixes: tuple[str, ...], what: str, option: str = "--out") -> Path:
    """``--out`` (or ``option``) must name a file with one of ``suffixes``, not a folder.

    :param out: The option's value.
    :param suffixes: Allowed suffixes (lower case, with the dot).
    :param what: What is written (for the message).
    :param option: The option's name (for the message).
    :raises BadInput: For a folder or another suffix.
    """
    path = Path(out)
    try:
        folder = path.is_dir()
    except OSError as exc:  # a name longer than the file system allows ...
        raise BadInput(f"cannot write {os.fspath(out)}: {exc.strerror or exc}") from None
    if folder or os.fspath(out).endswith(("/", os.sep)):
        raise BadInput(f"{option} {os.fspath(out)} is a folder; name the {what} file, e.g. "
                       f"{os.fspath(path / ('out' + suffixes[0]))}")
    if path.suffix.lower() not in suffixes:
        raise BadInput(f"unsupported {what} output {path.name!r}; use one of {', '.join(suffixes)}")
    return path


def check_not_input(out: Path, *inputs: str | os.PathLike | None, option: str = "--out") -> None:
    """An output must not be one of the command's inputs: it would be replaced before it is read, or after.

    :param out: The output file.
    :param inputs: The input files (None is skipped).
    :param option: The output's option (for the message).
    :raises BadInput: When ``out`` is one of ``inputs``.
    """
    for source in inputs:
        if source is not None and Path(source).resolve() == out.resolve():
            raise BadInput(f"{option} {os.fspath(out)} is an input of this command; write the result to another file")


def warn(events: EventSink, message: str) -> None:
    """A warning: a ``warning`` event and one line on stderr (in both output modes).

    :param events: The CLI's event writer.
    :param message: What the user should know.
    """
    events.emit("warning", message=message)  # the event writer also prints it on stderr


def missing_libraries() -> list[str]:
    """Linked libraries of the open file whose .blend cannot be found (their data is missing)."""
    return [lib.filepath for lib in bpy.data.libraries if not os.path.isfile(bpy.path.abspath(lib.filepath))]


def add_resolution(parser: argparse.ArgumentParser, default: list[int] | None = None) -> None:
    """Add ``--resolution W H`` to a command's parser.

    :param parser: The command's sub-parser.
    :param default: ``[W, H]`` when the option is not given; None leaves the scene's resolution.
    """
    shown = f"{default[0]} {default[1]}" if default else "the scene's render size"
    parser.add_argument("--resolution", nargs=2, type=int, metavar=("W", "H"), default=default,
                        help=f"size in pixels (default: {shown})")


def open_blend(path: str | None, events: EventSink | None = None) -> None:
    """Open ``path`` (nothing when None); a missing or unreadable file is :class:`BadInput`.

    :param path: A .blend file or None.
    :param events: When given, each missing linked library is reported as a warning.
    """
    if path is not None:
        if not os.path.isfile(path):
            raise BadInput(f"blend file not found: {path}")
        try:
            with interrupts_held():  # Blender runs app handlers while loading: Ctrl+C is raised after, by us
                bpy.ops.wm.open_mainfile(filepath=os.path.abspath(path), load_ui=False)
        except RuntimeError as exc:
            raise BadInput(f"cannot open {path}: {str(exc).strip().splitlines()[-1]}") from None
        show_rendered_layer()
    if events is not None:
        for library in missing_libraries():
            warn(events, f"linked library not found: {library} (its objects and materials are missing)")


def pick_scene(name: str | None) -> bpy.types.Scene:
    """The scene ``--scene`` names, or the context scene (the one the file was saved showing) when None.

    :param name: A scene name or None.
    :raises BadInput: When the file has no scene of that name (the message lists its scenes).
    """
    if name is None:
        return bpy.context.scene
    scene = bpy.data.scenes.get(name)
    if scene is None:
        names = ", ".join(repr(s.name) for s in bpy.data.scenes)
        raise BadInput(f"no scene named {name!r} in this file; its scenes are {names}")
    return scene


@contextmanager
def model_folder_hint(given: str | None) -> Iterator[None]:
    """Name ``--model`` in a missing-weights message when the estimator's default folder was looked in.

    :param given: The ``--model`` given (None: the default folder was used).
    """
    try:
        yield
    except ModelUnavailable as exc:
        text = str(exc)
        if given or "into that folder" not in text:
            raise
        raise ModelUnavailable(f"{text}, or pass --model with the folder that holds them") from None
