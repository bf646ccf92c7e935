# SPDX-License-Identifier: GPL-3.0-or-later
"""depth_addon core: depth maps, mappings, file I/O and generators.

Everything in this package except :mod:`depth_addon.blender` is free of ``bpy`` so it can be
tested, benchmarked and reused outside Blender. Modules import each other relatively so the
package works both as a top-level package (scripts, tests) and inside the installed extension.
"""

__version__ = "0.1.0"
