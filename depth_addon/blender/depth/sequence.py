# SPDX-License-Identifier: GPL-3.0-or-later
"""Many depth views with one mapping: frame ranges and all cameras, one shared range, named outputs.

Used by the ``depth.render_depth_sequence`` operator and the ``render-depth`` command. The range
is computed once over every view before anything is written (a first pass that renders at most
:data:`RANGE_PASS_SIZE` pixels on the long side, and at full size a view in which that pass sees nothing, or reads
mesh vertices for the frustum range), so every file of a sequence shares one mapping. The scene's current frame
is restored afterwards.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bpy

from ...errors import BadInput, Cancelled
from ...mapping import union_range
from ..camera import border_window, render_size, resolve_camera
from ..evaluation import scene_layer
from .ranges import view_range
from .render import render_depth

RANGE_PASS_SIZE = 512


@dataclass(frozen=True)
class View:
    """One depth render of a sequence: a camera at a frame."""

    camera: str
    frame: int


def scene_views(scene: bpy.types.Scene, frames: tuple[int, int] | None = None, all_cameras: bool = False,
                camera: str | None = None) -> list[View]:
    """The views of a sequence, cameras outer and frames inner.

    :param scene: The scene.
    :param frames: Inclusive ``(start, end)``; the current frame when None.
    :param all_cameras: Every camera object of the view layer (sorted by name) instead of one.
    :param camera: Camera name when not ``all_cameras``; the scene camera when None.
    :raises BadInput: No camera, an empty or reversed frame range.
    """
    if all_cameras:
        names = sorted(o.name for o in scene_layer(scene).objects if o.type == "CAMERA")
        if not names:
            raise BadInput(f"scene {scene.name!r} has no camera objects")
    else:
        names = [resolve_camera(scene, camera).name]
    if frames is None:
        frame_list = [scene.frame_current]
    else:
        start, end = int(frames[0]), int(frames[1])
        if end < start:
            raise BadInput(f"frame range {start}-{end} is empty (end before start)")
        frame_list = list(range(start, end + 1))
    return [View(name, f) for name in names for f in frame_list]


@contextmanager
def frame_restored(scene: bpy.types.Scene) -> Iterator[None]:
    """Restore the scene's current frame (and subframe) on exit."""
    frame, sub = scene.frame_current, scene.frame_subframe
    try:
        yield
    finally:
        if (scene.frame_current, scene.frame_subframe) != (frame, sub):
            scene.frame_set(frame, subframe=sub)


def _goto(scene: bpy.types.Scene, view: View) -> None:
    if scene.frame_current != view.frame:
        scene.frame_set(view.frame)


def sequence_range(scene: bpy.types.Scene, views: list[View], mode: str, engine: str = "auto",
                   radial: bool = False, resolution: tuple[int, int] | None = None,
                   progress: Callable[[float, str], None] | None = None) -> tuple[float, float]:
    """One range over every view (the first pass of a sequence).

    :param scene: The scene.
    :param views: The views.
    :param mode: ``percentile`` or ``frustum``.
    :param engine: Depth engine.
    :param radial: Range of radial distance instead of planar depth.
    :param resolution: Output resolution; the range pass renders at most :data:`RANGE_PASS_SIZE` px wide.
    :param progress: Called with ``(fraction, message)``.
    :raises BadInput: When no view sees anything.
    """
    w, h = render_size(scene, resolution)
    scale = min(1.0, RANGE_PASS_SIZE / max(w, h))
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    crop = resolution is None  # the files are the render's region when it is cropped: so is the range
    if crop and small != (w, h):
        try:
            border_window(scene, *small)
        except BadInput:  # the region is less than a pixel of the pass
            small = (w, h)
    ranges = []
    with frame_restored(scene):
        for i, view in enumerate(views):
            if progress is not None:
                progress(i / max(1, len(views)), f"range {view.camera} frame {view.frame}")
            _goto(scene, view)
            result = render_depth(scene, view.camera, small, engine, radial, crop=crop)
            if not result.mask.any() and small != (w, h):  # what it sees may be smaller than a pixel of the pass
                result = render_depth(scene, view.camera, (w, h), engine, radial, crop=crop)
            if result.mask.any() or mode == "frustum":
                try:
                    ranges.append(view_range(scene, result, mode))
                except BadInput:
                    continue
    return union_range(ranges)


def output_path(pattern: str | os.PathLike, view: View, several: bool) -> Path:
    """The file of one view: ``{camera}`` and ``{frame}`` (``{frame:04d}``) placeholders are filled;
    without placeholders and with several views, ``_<camera>_<frame:04d>`` is added before the suffix.

    :param pattern: Path or pattern.
    :param view: The view.
    :param several: Whether the sequence has more than one view.
    """
    text = os.fspath(pattern)
    fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
    if fields - {"camera", "frame"}:
        raise BadInput(f"unknown placeholder in {text!r}: use {{camera}} and {{frame}} (e.g. {{frame:04d}})")
    safe = bpy.path.clean_name(view.camera)
    if fields:
        return Path(text.format(camera=safe, frame=view.frame))
    path = Path(text)
    if several:
        return path.with_name(f"{path.stem}_{safe}_{view.frame:04d}{path.suffix}")
    return path


def render_views(scene: bpy.types.Scene, views: list[View], write: Callable[[View, object], None],
                 engine: str = "auto", radial: bool = False, resolution: tuple[int, int] | None = None,
                 progress: Callable[[float, str], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> None:
    """Render every view and hand each result to ``write`` (the scene's frame is restored).

    :param scene: The scene.
    :param views: The views.
    :param write: Called with ``(view, result)``.
    :param engine: Depth engine.
    :param radial: Radial distance instead of planar depth.
    :param resolution: ``(width, height)``; the scene's when None.
    :param progress: Called with ``(fraction, message)``.
    :param cancel: Polled before each view; True raises :class:`~depth_addon.errors.Cancelled`.
    """
    with frame_restored(scene):
        for i, view in enumerate(views):
            if cancel is not None and cancel():
                raise Cancelled("cancelled by the user")
            if progress is not None:
                progress(i / max(1, len(views)), f"depth {view.camera} frame {view.frame}")
            _goto(scene, view)
            write(view, render_depth(scene, view.camera, resolution, engine, radial))
    if progress is not None:
        progress(1.0, "done")
