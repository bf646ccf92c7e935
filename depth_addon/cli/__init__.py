# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line: ``render-depth``, ``import-depth``, ``estimate-depth``, ``restyle``, ``generate``, ``texture``,
``batch``, ``demo``, ``info``.

Runs under plain Python with the ``bpy`` module (``python scripts/depth_cli.py CMD …``) and inside
Blender (``blender -b file.blend --python scripts/depth_cli.py -- CMD …``). Exit codes: 0 success,
1 internal error, 2 bad input, 3 model unavailable, 130 cancelled (143 by SIGTERM). Errors are one line on
stderr.
With ``--json`` every step is one JSON object per line on stdout (``start``, ``progress``,
``artifact``, ``done``, ``error``).

What this package owns: this module holds :func:`main`, the parser, the event stream, the exit
codes and Ctrl+C handling; each command is one module (``render_depth``, ``import_depth``,
``estimate_depth``, ``restyle``, ``generate``, ``texture``, ``batch``, ``demo``, ``info``) with ``COMMAND``,
``add_parser(subparsers, common_parent)`` and ``run(args, events) -> dict`` (the ``done`` summary); :mod:`.common`
holds what several commands share. Imports run one way: this module → command modules → ``common`` (``demo``
also uses ``texture``); nothing here imports this module. What it may import: the facade
:mod:`depth_addon.api` and the use cases of :mod:`depth_addon.app`, core modules (``errors``,
``io``, ``mapping``, ``batch``, ``depth_import``, ``estimation``, ``generation``, ``texturing``), and a few bridge
primitives where no use case exists: ``blender.demo_scene``, ``blender.final_render``,
``blender.images`` and ``blender.mesh.build.SHADING``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from ..errors import Cancelled, DepthAddonError
from ..io.atomic import drop_pending_interrupt, hold_interrupt
from ..io.stdio import flush_c_stdio
from . import batch, demo, estimate_depth, generate, import_depth, info, render_depth, restyle, texture
from .common import EventSink, parse_frames, versions

__all__ = ["COMMANDS", "Events", "OneLineParser", "UsageError", "build_parser", "main", "parse_frames", "versions"]

PROG = "depth_cli"
#: Command modules, in the order ``--help`` lists them.
MODULES = (render_depth, texture, demo, import_depth, estimate_depth, restyle, generate, batch, info)
#: Command name → ``run(args, events) -> dict``.
COMMANDS: dict[str, Callable[[argparse.Namespace, EventSink], dict]] = {m.COMMAND: m.run for m in MODULES}


class UsageError(SystemExit):
    """A bad command line: exit code 2, with the one-line message already on stderr."""

    def __init__(self, message: str) -> None:
        """Exit with 2.

        :param message: The one-line message (without the ``PROG: error:`` prefix).
        """
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
        """Start with no progress reported.

        :param as_json: One JSON object per event on stdout instead of human-readable lines.
        """
        self.as_json = as_json
        self.stream = None  # where JSON events go: sys.stdout when None (see _json_stdout)
        self._last = -1.0
        self._last_message = ""

    def emit(self, event: str, **data: object) -> None:
        """Write one event; human mode prints artifacts and the summary, progress goes to stderr, and a warning is
        one line on stderr in both modes.

        :param event: ``start``, ``progress``, ``artifact``, ``part``, ``warning``, ``plan``, ``done`` or ``error``.
        :param data: The event's fields.
        """
        if event == "warning":  # one line on stderr in both modes
            print(f"{PROG}: warning: {data.get('message', '')}", file=sys.stderr, flush=True)
        if self.as_json:
            print(json.dumps({"event": event, **data}, default=str), file=self.stream or sys.stdout, flush=True)
        elif event == "artifact":
            print(f"{data['kind']:>10}: {data['path']}", flush=True)
        elif event == "part":
            print(f"{data['part']}: {data['prompt']!r} ({data['reason']}: {data['detail']})", flush=True)
        elif event == "progress" and sys.stderr.isatty():
            print(f"\r[{data['fraction'] * 100:5.1f}%] {data['message']:<40}", end="", file=sys.stderr, flush=True)
        elif event == "done":
            if sys.stderr.isatty():
                print(file=sys.stderr)
            for stage, seconds in data.get("timings", {}).items():
                print(f"{stage:>10}: {seconds:.3f} s", flush=True)

    def progress(self, fraction: float, message: str) -> None:
        """Progress callback for long steps (rate-limited to 1 % steps; a new message always shows, so every
        view and every object of a multi-view bake gets its line).

        :param fraction: 0 to 1.
        :param message: What is being done.
        """
        if fraction - self._last >= 0.01 or fraction >= 1.0 or message != self._last_message:
            self._last, self._last_message = fraction, message
            self.emit("progress", fraction=round(fraction, 4), message=message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the CLI)."""
    # --json is accepted before and after the command; SUPPRESS keeps a subparser from resetting it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="one JSON event per line on stdout")
    parser = OneLineParser(prog=PROG, description="Depth out of a Blender scene, depth into it, and AI textures "
                           "from it (see each command's --help).")
    parser.add_argument("--json", action="store_true", help="one JSON event per line on stdout")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in MODULES:
        module.add_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises for user errors, nor for Ctrl+C).

    Ctrl+C at any moment (while parsing, importing torch for the versions, running, reporting) ends
    with exit code 130 and one line, never a traceback.

    :param argv: Arguments after the program name; by default ``sys.argv`` (after ``--`` inside Blender).
    """
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    try:
        return _run(argv)
    except KeyboardInterrupt:  # outside the command's own handling: before it started or while reporting
        return cancelled("--json" in argv)


def cancelled(as_json: bool) -> int:
    """Report a cancel that arrived outside a command (no traceback; a second Ctrl+C is ignored now).

    :param as_json: Also write the ``error`` event.
    :return: 130.
    """
    with contextlib.suppress(ValueError):  # not the main thread: no handler to change
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if as_json:
        Events(True).emit("error", code=130, message="cancelled")
    print(f"{PROG}: error: cancelled", file=sys.stderr, flush=True)
    return 130


def _run(argv: list[str]) -> int:
    """Parse ``argv``, run the command and report it (see :func:`main`).

    :param argv: Arguments after the program name.
    """
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
    with _json_stdout(events) if args.json else contextlib.nullcontext():
        return _run_command(args, events)


def _run_command(args: argparse.Namespace, events: Events) -> int:
    """Run the parsed command and report it (see :func:`main`).

    :param args: The parsed command line.
    :param events: The event writer.
    """
    interrupted, received = threading.Event(), []
    args.cancel = interrupted.is_set  # polled between batch units
    previous = {signum: _catch_sigint(interrupted, received, signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        events.emit("start", command=args.command, versions=versions())
        summary = COMMANDS[args.command](args, events)
        if interrupted.is_set():  # raised inside a Blender app handler, which swallowed it
            raise KeyboardInterrupt
    except (KeyboardInterrupt, Cancelled):
        return _stopped(events, received)
    except Exception as exc:
        if interrupted.is_set():  # Ctrl+C that arrived as another error (Python 3.11 wraps it, in an import's
            return _stopped(events, received)  # ``__set_name__`` say, into a RuntimeError)
        if isinstance(exc, DepthAddonError):
            return _fail(events, exc.exit_code, str(exc))
        if isinstance(exc, OSError) and exc.filename is not None:  # a path the file system refuses: bad input
            return _fail(events, 2, f"cannot use {exc.filename}: {exc.strerror or exc}")
        if os.environ.get("DEPTH_ADDON_DEBUG"):  # last resort: one line, non-zero, details only on request
            raise
        return _fail(events, 1, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        drop_pending_interrupt()  # the run has ended: a Ctrl+C held in a Blender handler is not raised after it
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
    events.emit("done", **summary)
    return 0


@contextlib.contextmanager
def _json_stdout(events: Events) -> Iterator[None]:
    """Keep stdout for the JSON events while a command runs: Blender writes its own log lines (files read, saved
    and rendered) to file descriptor 1 and its reports to ``sys.stdout``; both point at stderr meanwhile, and the
    events go to a copy of the real stdout (or to the stream a caller put in ``sys.stdout``).

    :param events: The event writer (its stream is set for the duration).
    """
    original = sys.stdout
    try:
        fd = original.fileno()
    except (AttributeError, OSError, ValueError):  # a Python-level stream (a caller capturing it)
        fd = None
    saved = None
    if fd is None:
        events.stream = original
    else:
        original.flush()
        flush_c_stdio()
        saved = os.dup(fd)
        events.stream = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb"), encoding="utf-8", newline="\n",
                                         line_buffering=True)
        os.dup2(2, fd)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = original
        events.stream.flush()
        if saved is not None:
            sys.stderr.flush()
            flush_c_stdio()  # Blender's own lines still in the C library's buffer go to stderr, not to the events
            os.dup2(saved, fd)
            os.close(saved)
            events.stream.close()
        events.stream = None


def _catch_sigint(interrupted: threading.Event, received: list[int] | None = None,
                  signum: int = signal.SIGINT) -> Callable | int | None:
    """Make Ctrl+C both raise and be remembered: Blender prints and drops exceptions raised in its app handlers.
    The command line installs it for SIGTERM too, which a farm manager or ``kill`` sends to stop a run.

    :param interrupted: Set on the signal.
    :param received: Collects the signals that arrived, in order.
    :param signum: The signal to catch.
    :return: The previous handler to restore, or None off the main thread (no handler installed).
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigint(number: int, _frame: object) -> None:
        interrupted.set()
        if received is not None:
            received.append(number)
        if not hold_interrupt():  # a file being written is finished or removed first
            raise KeyboardInterrupt

    return signal.signal(signum, on_sigint)


def _stopped(events: Events, received: list[int]) -> int:
    """Report a run stopped by Ctrl+C (130) or by SIGTERM (143, as a process that SIGTERM ends outright).

    :param events: The event writer.
    :param received: The signals that arrived, in order.
    """
    if received and received[0] == signal.SIGTERM:
        return _fail(events, 143, "cancelled (SIGTERM)")
    return _fail(events, 130, "cancelled")


def _fail(events: Events, code: int, message: str) -> int:
    """Report an error as an ``error`` event and one line on stderr.

    :param events: The event writer.
    :param code: The exit code to return.
    :param message: One line for the user.
    :return: ``code``.
    """
    events.emit("error", code=code, message=message)
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code
