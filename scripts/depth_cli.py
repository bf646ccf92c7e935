# SPDX-License-Identifier: GPL-3.0-or-later
"""depth_addon command line.

Usage::

    python scripts/depth_cli.py CMD [options]                       # bpy module
    blender -b file.blend --python scripts/depth_cli.py -- CMD [options]

Commands: ``render-depth``, ``import-depth``, ``generate``, ``texture``, ``batch``, ``demo``, ``info``;
``CMD --help`` lists the options. The commands live in :mod:`depth_addon.cli`, one module each.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:  # Ctrl+C while bpy and the add-on load: exit 130 with one line, like a cancel later on
    from depth_addon.cli import main
except KeyboardInterrupt:
    print("depth_cli: error: cancelled", file=sys.stderr, flush=True)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
