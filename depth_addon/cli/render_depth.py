# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``render-depth``: depth of one camera, a frame range or every camera to ``.exr``/``.png``/``.npy``.

Several views share one mapping range, computed over all of them before anything is written. Every
view is written under a temporary name first and all are renamed into place at the end, so a failed
or cancelled run leaves the earlier files as they were.
"""

from __future__ import annotations

import argparse
import string
import time
from pathlib import Path

import bpy

from .. import api
from ..app.depth import (
    ENGINES,
    View,
    clipped,
    clipping_warning,
    output_path,
    render_views,
    scaled_mapping,
    scene_views,
    sequence_range,
    unit_scale,
)
from ..errors import BadInput
from ..io.atomic import check_writable_dir
from ..io.staging import FileSet
from ..mapping import KINDS, DepthMapping
from .common import EventSink, add_resolution, check_out_file, open_blend, parse_frames, pick_scene, warn

FORMATS = (".exr", ".png", ".npy")

COMMAND = "render-depth"


def add_parser(subparsers, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``render-depth`` subcommand.

    :param subparsers: The ``add_subparsers()`` object of the main parser.
    :param common_parent: Parent parser with the options every command accepts (``--json``).
    """
    p = subparsers.add_parser(COMMAND, parents=[common_parent], help="depth from a camera to a file")
    p.add_argument("--blend", help="file to open (omit when Blender already opened one)")
    p.add_argument("--scene", help="scene to render (default: the one the file was saved showing)")
    p.add_argument("--camera", help="camera object name (default: the scene camera)")
    add_resolution(p)
    p.add_argument("--out", required=True, help="output .exr (metres), .npy (metres; camera and mapping in a "
                   ".json of the same name beside it) or .png (mapped); "
                   "{camera} and {frame:04d} are filled in, else several views get _<camera>_<frame> suffixes")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="depth path (default: auto, the GPU offscreen path with Workbench, then Cycles, as fallbacks)")
    p.add_argument("--mapping", choices=KINDS, default="inverse",
                   help="how a .png maps metres to values (default: inverse, near bright); recorded in the file")
    p.add_argument("--range", choices=("percentile", "frustum"), default="percentile",
                   help="how near/far are fitted when not given (one range for all views)")
    p.add_argument("--near", type=float, help="metres at the near end of the mapping (default: fitted, see --range)")
    p.add_argument("--far", type=float, help="metres at the far end of the mapping (default: fitted, see --range)")
    p.add_argument("--invert", action="store_true", help="flip the mapped values (1 - v)")
    p.add_argument("--radial", action="store_true", help="distance along the ray instead of camera Z")
    p.add_argument("--bits", type=int, choices=(8, 16), default=16, help="PNG bit depth (default: 16)")
    p.add_argument("--frames", nargs="+", metavar="F", help="frame range: START END or START-END")
    p.add_argument("--all-cameras", action="store_true", help="every camera of the scene (sorted by name)")
    return p


def _fitted_mapping(args: argparse.Namespace, events: EventSink, scene: bpy.types.Scene,
                    views: list[View]) -> DepthMapping:
    """One mapping for several views: near/far fitted over all of them (``--near``/``--far`` win where given).

    :param args: Parsed ``render-depth`` arguments.
    :param events: Event writer; fitting reports the first half of the progress.
    :param scene: The open scene.
    :param views: The views to render.
    """
    near, far = sequence_range(scene, views, args.range, args.engine, args.radial, args.resolution,
                               progress=lambda f, m: events.progress(0.5 * f, m))
    scale = unit_scale(scene)  # --near and --far are metres, the fitted range is in scene units
    return DepthMapping(args.mapping, near if args.near is None else args.near / scale,
                        far if args.far is None else args.far / scale, args.invert)


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse conflicting flags, a folder or a bad placeholder as ``--out``, before anything is opened.

    :param args: Parsed ``render-depth`` arguments.
    :raises BadInput: Naming the option.
    """
    if args.all_cameras and args.camera:
        raise BadInput("--all-cameras and --camera exclude each other: pick one camera or every camera")
    try:
        output_path(args.out, View("Camera", 1), True)
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise BadInput(f"bad placeholder in --out {args.out!r}: {exc}; use {{camera}} and {{frame}} "
                       "(e.g. {frame:04d})") from None
    check_out_file(args.out, FORMATS, "depth")


def _fixed_folder(out: str) -> Path:
    """The deepest folder of ``--out`` without a placeholder: the one that can be checked (and made) before the
    views are known; ``{camera}`` and ``{frame}`` folders are made as their files are written.

    :param out: The ``--out`` pattern.
    """
    folder = Path(out).parent
    for parent in (folder, *folder.parents):
        if not any(field for _, field, _, _ in string.Formatter().parse(str(parent))):
            return parent
    return Path(".")


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``render-depth``: render the views, then write each with the shared mapping (or its own).

    :param args: Parsed arguments (see :func:`add_parser`).
    :param events: The CLI's event writer.
    :return: Summary for the ``done`` event (timings, view count, engine, mapping).
    :raises BadInput: For a bad output name, frame range, camera or a view without geometry.
    """
    frames = parse_frames(args.frames)
    check_arguments(args)
    fixed = DepthMapping(args.mapping, args.near, args.far, args.invert) if None not in (args.near, args.far) else None
    check_writable_dir(_fixed_folder(args.out))
    open_blend(args.blend, events)
    files = FileSet()
    try:
        return _render(args, events, pick_scene(args.scene), frames, fixed, files)
    finally:
        files.abort()


def _render(args: argparse.Namespace, events: EventSink, scene: bpy.types.Scene, frames: tuple[int, int] | None,
            fixed: DepthMapping | None, files: FileSet) -> dict:
    """Render every view and write it to its staged file; the caller commits them together.

    :param args: Parsed ``render-depth`` arguments.
    :param events: The CLI's event writer.
    :param scene: The open scene.
    :param frames: ``--frames`` or None.
    :param fixed: The mapping when ``--near`` and ``--far`` are both given.
    :param files: Receives the staged files.
    """
    t = time.perf_counter()
    scale = unit_scale(scene)  # --near and --far are metres; depth comes in scene units
    fixed = None if fixed is None else scaled_mapping(fixed, 1.0 / scale)
    views = scene_views(scene, frames, args.all_cameras, args.camera)
    if frames is not None and (frames[0] < scene.frame_start or frames[1] > scene.frame_end):
        warn(events, f"frames {frames[0]}–{frames[1]} reach outside the scene's frame range {scene.frame_start}–"
                     f"{scene.frame_end}")
    several = len(views) > 1
    paths: dict[str, View] = {}
    for view in views:  # cameras whose names clean up alike would write over each other
        other = paths.setdefault(str(output_path(args.out, view, several)).lower(), view)
        if other is not view and other.camera == view.camera:
            raise BadInput(f"frames {other.frame} and {view.frame} of camera {view.camera!r} would both write "
                           f"{output_path(args.out, view, several)}; put {{frame}} in --out")
        if other is not view:
            raise BadInput(f"cameras {other.camera!r} and {view.camera!r} would both write "
                           f"{output_path(args.out, view, several)}; rename one of them, or put {{camera}} in --out")
    first = output_path(args.out, views[0], several)
    if first.suffix.lower() not in FORMATS:
        raise BadInput(f"unsupported depth output {first.name!r}; use one of .exr, .png, .npy")
    locked = _fitted_mapping(args, events, scene, views) if fixed is None and several else fixed
    used: dict = {}
    written: list[tuple[str, View, dict]] = []
    said: set[str] = set()

    def write(view: View, result: api.DepthResult) -> None:
        if not result.mask.any() and locked is None:  # one view, no range given: nothing to map
            raise BadInput(f"camera {view.camera!r} sees no geometry at frame {view.frame} (nothing in view)")
        if not result.mask.any():  # a frame of a shot that looks away: background, in the range the views share
            warn(events, f"camera {view.camera!r} sees no geometry at frame {view.frame}: written as background")
        _say_warnings(events, result, said)
        mapping = locked or api.depth_mapping(result, kind=args.mapping, invert=args.invert, range=args.range,
                                              near=None if args.near is None else args.near / scale,
                                              far=None if args.far is None else args.far / scale, scene=scene)
        path = output_path(args.out, view, several)
        check_writable_dir(path.parent)
        if path.suffix.lower() == ".png" and result.mask.any():
            _check_range(events, view, result, mapping)
        tmp = api.save_depth(result, files.stage(path), mapping, bits=args.bits)
        if tmp.suffix.lower() == ".npy":
            files.add(tmp.with_suffix(".json"), path.with_suffix(".json"))
        used.setdefault("engine", result.engine)
        used["mapping"] = scaled_mapping(mapping, scale).to_dict()  # in metres, as the file records it
        written.append((str(path), view, used["mapping"]))

    start = 0.5 if several and fixed is None else 0.0
    render_views(scene, views, write, args.engine, args.radial, args.resolution,
                 progress=lambda f, m: events.progress(start + (1.0 - start) * f, m))
    files.commit()
    for path, view, mapping in written:
        events.emit("artifact", kind="depth", path=path, camera=view.camera, frame=view.frame,
                    engine=used["engine"], mapping=mapping)
    return {"timings": {"depth": time.perf_counter() - t}, "views": len(views), **used}


def _say_warnings(events: EventSink, result: api.DepthResult, said: set[str]) -> None:
    """Warn of what the depth render found (instancers that draw nothing ...), each message once per run.

    :param events: The CLI's event writer.
    :param result: A view's depth render.
    :param said: Messages already given; updated.
    """
    for message in result.meta.get("warnings", ()):
        if message not in said:
            said.add(message)
            warn(events, message)


def _check_range(events: EventSink, view: View, result: api.DepthResult, mapping: DepthMapping) -> None:
    """Warn when a PNG's near/far leave out more of what the camera sees than a fitted range does: those pixels all
    get the end codes."""
    found = clipped(result, mapping, f"camera {view.camera!r} frame {view.frame}")
    if found is not None:
        warn(events, clipping_warning([found], 1, scaled_mapping(mapping, result.unit_scale),
                                      "widen --near/--far, or leave them out to fit the range"))
