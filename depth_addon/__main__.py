# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m depth_addon CMD …``: the same command line as ``scripts/depth_cli.py``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
