# SPDX-License-Identifier: GPL-3.0-or-later
"""depth_addon command line.

Usage::

    python scripts/depth_cli.py CMD [options]                       # bpy module
    blender -b file.blend --python scripts/depth_cli.py -- CMD [options]

Commands: ``render-depth``, ``import-depth``, ``generate``, ``texture``, ``batch``, ``demo``, ``info``;
``CMD --help`` lists the options. The commands live in :mod:`depth_addon.cli`, one module each.
"""

# Ctrl+C while bpy and the add-on load is kept until they have loaded (an interrupt inside bpy's own start-up
# prints a traceback and can crash Blender), then ends the run with exit code 130 and one line. One that comes
# before that handler is in place, on the first lines, arrives as KeyboardInterrupt and ends the run the same way.
try:
    import os
    import signal
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    _held: list[int] = []
    _previous = signal.signal(signal.SIGINT, lambda signum, _frame: _held.append(signum))
except KeyboardInterrupt:
    import sys

    print("depth_cli: error: cancelled", file=sys.stderr, flush=True)
    raise SystemExit(130) from None
try:
    from depth_addon.io.stdio import stdout_to_stderr

    with stdout_to_stderr("--json" in sys.argv):  # what bpy logs as it loads stays out of the JSON events
        from depth_addon.cli import main
except ModuleNotFoundError as exc:  # a Blender's own Python without the extension: its bundled packages are missing
    print(f"depth_cli: error: this Python has no {exc.name!r} module, which the extension bundles; install the "
          "extension in this Blender (Preferences > Get Extensions > Install from Disk) or the package with pip",
          file=sys.stderr, flush=True)
    sys.exit(3)
finally:
    signal.signal(signal.SIGINT, _previous)
if _held:
    print("depth_cli: error: cancelled", file=sys.stderr, flush=True)
    sys.exit(130)

if __name__ == "__main__":
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run is over: a late Ctrl+C must not break Blender's teardown
    sys.exit(code)
