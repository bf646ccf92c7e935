# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m depth_addon CMD …``: the same command line as ``scripts/depth_cli.py``."""

import signal
import sys

from .io.stdio import stdout_to_stderr

with stdout_to_stderr("--json" in sys.argv):  # what bpy logs as it loads stays out of the JSON events
    from .cli import main

if __name__ == "__main__":
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run is over: a late Ctrl+C must not break Blender's teardown
    sys.exit(code)
