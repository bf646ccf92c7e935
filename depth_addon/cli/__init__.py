# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line: ``render-depth``, ``import-depth``, ``generate``, ``texture``, ``batch``, ``demo``, ``info``.

Runs under plain Python with the ``bpy`` module (``python scripts/depth_cli.py CMD …``) and inside
Blender (``blender -b file.blend --python scripts/depth_cli.py -- CMD …``). Exit codes: 0 success,
1 internal error, 2 bad input, 3 model unavailable, 130 cancelled. Errors are one line on stderr.
With ``--json`` every step is one JSON object per line on stdout (``start``, ``progress``,
``artifact``, ``done``, ``error``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import sys
import threading
import time
from pathlib import Path

import bpy
import numpy as np

from .. import __version__
from ..blender.depth.render import ENGINES
from ..errors import BadInput, Cancelled, DepthAddonError
from ..io.atomic import check_writable_dir, hold_interrupt, write_text_atomic
from ..mapping import KINDS, DepthMapping
from . import batch as cli_batch
from . import import_depth as cli_import
from . import texture as cli_texture

PROG = "depth_cli"


class UsageError(SystemExit):
    """A bad command line: exit code 2, with the one-line message already on stderr."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit code 2), not the whole usage.

    Subparsers are made with the class of their parent parser, so every subcommand inherits this.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print ``PROG: error: MESSAGE (see PROG CMD --help)`` as one line and exit with 2.

        :param message: argparse's message (e.g. ``argument --fov: invalid float value: 'abc'``).
        :raises UsageError: Always.
        """
        text = f"{' '.join(str(message).split())} (see {self.prog} --help)"
        print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)
        raise UsageError(text)


class Events:
    """Progress and results, as JSON lines (``--json``) or short human-readable lines."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._last = -1.0

    def emit(self, event: str, **data) -> None:
        """Write one event; human mode prints artifacts and the summary, progress goes to stderr."""
        if self.as_json:
            print(json.dumps({"event": event, **data}, default=str), flush=True)
        elif event == "artifact":
            print(f"{data['kind']:>10}: {data['path']}", flush=True)
        elif event == "progress" and sys.stderr.isatty():
            print(f"\r[{data['fraction'] * 100:5.1f}%] {data['message']:<40}", end="", file=sys.stderr, flush=True)
        elif event == "done":
            if sys.stderr.isatty():
                print(file=sys.stderr)
            for stage, seconds in data.get("timings", {}).items():
                print(f"{stage:>10}: {seconds:.3f} s", flush=True)

    def progress(self, fraction: float, message: str) -> None:
        """Progress callback for long steps (rate-limited to 1 % steps)."""
        if fraction - self._last >= 0.01 or fraction >= 1.0:
            self._last = fraction
            self.emit("progress", fraction=round(fraction, 4), message=message)


def versions() -> dict[str, str]:
    """Versions of everything that affects results."""
    out = {"depth_addon": __version__, "blender": bpy.app.version_string, "python": platform.python_version(),
           "numpy": np.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        out["torch"] = "not installed"
    return out


def parse_frames(values: list[str] | None) -> tuple[int, int] | None:
    """``--frames``: ``START END``, ``START-END`` or a single frame; None when not given.

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


def cmd_render_depth(args: argparse.Namespace, events: Events) -> dict:
    """``render-depth``: depth of one camera, a frame range or every camera to ``.exr``/``.png``/``.npy``.

    Several views share one mapping range, computed over all of them before anything is written.
    """
    from .. import api
    from ..blender.depth.sequence import output_path, render_views, scene_views, sequence_range

    frames = parse_frames(args.frames)
    fixed = DepthMapping(args.mapping, args.near, args.far, args.invert) if None not in (args.near, args.far) else None
    check_writable_dir(Path(args.out).parent)
    cli_import.open_blend(args.blend)
    scene = bpy.context.scene
    t = time.perf_counter()
    views = scene_views(scene, frames, args.all_cameras, args.camera)
    several = len(views) > 1
    first = output_path(args.out, views[0], several)
    if first.suffix.lower() not in (".exr", ".png", ".npy"):
        raise BadInput(f"unsupported depth output {first.name!r}; use one of .exr, .png, .npy")
    locked = fixed
    if locked is None and several:
        near, far = sequence_range(scene, views, args.range, args.engine, args.radial, args.resolution,
                                   progress=lambda f, m: events.progress(0.5 * f, m))
        locked = DepthMapping(args.mapping, near if args.near is None else args.near,
                              far if args.far is None else args.far, args.invert)
    used: dict = {}

    def write(view, result) -> None:
        if not result.mask.any():
            raise BadInput(f"camera {view.camera!r} sees no geometry at frame {view.frame} (nothing in view)")
        mapping = locked or api.depth_mapping(result, kind=args.mapping, near=args.near, far=args.far,
                                              invert=args.invert, range=args.range, scene=scene)
        path = output_path(args.out, view, several)
        check_writable_dir(path.parent)
        api.save_depth(result, path, mapping, bits=args.bits)
        used.setdefault("engine", result.engine)
        used["mapping"] = mapping.to_dict()
        events.emit("artifact", kind="depth", path=str(path), camera=view.camera, frame=view.frame,
                    engine=result.engine, mapping=mapping.to_dict())

    start = 0.5 if several and fixed is None else 0.0
    render_views(scene, views, write, args.engine, args.radial, args.resolution,
                 progress=lambda f, m: events.progress(start + (1.0 - start) * f, m))
    return {"timings": {"depth": time.perf_counter() - t}, "views": len(views), **used}


def _texture_and_save(args: argparse.Namespace, events: Events, out_dir: Path) -> dict:
    from .. import api
    from ..blender.final_render import render_still

    start = time.perf_counter()
    run = api.texture_scene(camera=getattr(args, "camera", None), prompt=args.prompt, seed=args.seed,
                            generator=args.generator, out_dir=out_dir, resolution=args.resolution,
                            engine=args.engine, progress=events.progress)
    for kind, path in run.files.items():
        events.emit("artifact", kind=kind, path=str(path))
    timings = dict(run.timings)
    scene = bpy.context.scene
    if args.render:
        t = time.perf_counter()
        path = render_still(scene, out_dir / "render.png", samples=args.samples, resolution=args.resolution)
        timings["render"] = time.perf_counter() - t
        events.emit("artifact", kind="render", path=str(path))
    t = time.perf_counter()
    blend = out_dir / "scene.blend"
    tmp = out_dir / ".scene.part.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp.resolve()), copy=True, relative_remap=True)
    os.replace(tmp, blend)
    timings["save"] = time.perf_counter() - t
    events.emit("artifact", kind="blend", path=str(blend))
    timings["total"] = time.perf_counter() - start
    record = {
        "command": args.command, "prompt": args.prompt, "seed": args.seed, "generator": args.generator or "default",
        "engine": run.depth.engine, "resolution": [run.depth.camera.width, run.depth.camera.height],
        "mapping": run.mapping.to_dict(), "camera": run.depth.camera.to_dict(), "timings": timings,
        "versions": versions(), "artifacts": {k: str(v) for k, v in run.files.items()} | {"blend": str(blend)},
    }
    write_text_atomic(out_dir / "run.json", json.dumps(record, indent=2))
    events.emit("artifact", kind="run", path=str(out_dir / "run.json"))
    return {"timings": timings}


def cmd_texture(args: argparse.Namespace, events: Events) -> dict:
    """``texture``: depth → generate → projection (+ compositor) for a .blend, saved to ``--out-dir``."""
    out_dir = check_writable_dir(args.out_dir)
    cli_import.open_blend(args.blend)
    if cli_texture.wants_multiview(args):
        return cli_texture.run_multiview(args, events, out_dir)
    return _texture_and_save(args, events, out_dir)


def cmd_demo(args: argparse.Namespace, events: Events) -> dict:
    """``demo``: the built-in scene through the whole path, with a final composited render."""
    from ..blender.demo_scene import build_demo_scene

    out_dir = check_writable_dir(args.out_dir)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = build_demo_scene(bpy.context.scene, tuple(args.resolution))
    scene.view_settings.view_transform = "Standard"  # our own scene: show generated colours as they are
    args.render = True
    return _texture_and_save(args, events, out_dir)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the CLI)."""
    # --json is accepted before and after the command; SUPPRESS keeps a subparser from resetting it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="one JSON event per line on stdout")
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON event per line on stdout")
    sub = parser.add_subparsers(dest="command", required=True)

    def size(p: argparse.ArgumentParser, default=None) -> None:
        p.add_argument("--resolution", nargs=2, type=int, metavar=("W", "H"), default=default)

    rd = sub.add_parser("render-depth", parents=[common], help="depth from a camera to a file")
    rd.add_argument("--blend", help="file to open (omit when Blender already opened one)")
    rd.add_argument("--camera", help="camera object name (default: the scene camera)")
    size(rd)
    rd.add_argument("--out", required=True, help="output .exr (metres), .npy (metres) or .png (mapped); "
                    "{camera} and {frame:04d} are filled in, else several views get _<camera>_<frame> suffixes")
    rd.add_argument("--engine", choices=ENGINES, default="auto")
    rd.add_argument("--mapping", choices=KINDS, default="inverse")
    rd.add_argument("--range", choices=("percentile", "frustum"), default="percentile",
                    help="how near/far are fitted when not given (one range for all views)")
    rd.add_argument("--near", type=float)
    rd.add_argument("--far", type=float)
    rd.add_argument("--invert", action="store_true")
    rd.add_argument("--radial", action="store_true", help="distance along the ray instead of camera Z")
    rd.add_argument("--bits", type=int, choices=(8, 16), default=16, help="PNG bit depth")
    rd.add_argument("--frames", nargs="+", metavar="F", help="frame range: START END or START-END")
    rd.add_argument("--all-cameras", action="store_true", help="every camera of the scene (sorted by name)")

    for name, text in (("texture", "generate and project onto a .blend"), ("demo", "run the built-in demo")):
        p = sub.add_parser(name, parents=[common], help=text)
        if name == "texture":
            p.add_argument("--blend", help="file to open (omit when Blender already opened one)")
            p.add_argument("--camera", help="camera object name (default: the scene camera)")
            p.add_argument("--render", action="store_true", help="also write render.png through the compositor")
            size(p)
            cli_texture.add_texture_arguments(p)
        else:
            size(p, [512, 512])
        p.add_argument("--prompt", default="brick walls, wooden posts and grass" if name == "demo" else "")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--generator", help="generator name (default: the embedded default)")
        p.add_argument("--engine", choices=ENGINES, default="auto", help="depth engine")
        p.add_argument("--samples", type=int, default=16, help="Cycles samples of the final render")
        p.add_argument("--out-dir", required=True)
    cli_import.add_parser(sub, common)
    cli_batch.add_parsers(sub, common)
    return parser


COMMANDS = {"render-depth": cmd_render_depth, "texture": cmd_texture, "demo": cmd_demo,
            "import-depth": cli_import.run, **cli_batch.COMMANDS}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises for user errors)."""
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:  # OneLineParser.error already printed its one line
        if "--json" in argv:
            Events(True).emit("error", code=2, message=exc.message)
        return 2
    except SystemExit as exc:  # --help and --version: 0
        return int(exc.code or 0) and 2
    events = Events(args.json)
    events.emit("start", command=args.command, versions=versions())
    interrupted = threading.Event()
    args.cancel = interrupted.is_set  # polled between batch units
    previous = _catch_sigint(interrupted)
    try:
        summary = COMMANDS[args.command](args, events)
        if interrupted.is_set():  # raised inside a Blender app handler, which swallowed it
            raise KeyboardInterrupt
    except (KeyboardInterrupt, Cancelled):
        return _fail(events, 130, "cancelled")
    except DepthAddonError as exc:
        return _fail(events, exc.exit_code, str(exc))
    except Exception as exc:  # last resort: one line, non-zero, details only on request
        if os.environ.get("DEPTH_ADDON_DEBUG"):
            raise
        return _fail(events, 1, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    events.emit("done", **summary)
    return 0


def _catch_sigint(interrupted: threading.Event):
    """Make Ctrl+C both raise and be remembered: Blender prints and drops exceptions raised in its app handlers.

    :param interrupted: Set on SIGINT.
    :return: The previous handler to restore, or None off the main thread (no handler installed).
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigint(_signum: int, _frame: object) -> None:
        interrupted.set()
        if not hold_interrupt():  # a file being written is finished or removed first
            raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, on_sigint)


def _fail(events: Events, code: int, message: str) -> int:
    events.emit("error", code=code, message=message)
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code
