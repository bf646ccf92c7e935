# SPDX-License-Identifier: GPL-3.0-or-later
"""depth_addon: depth out of a scene, depth into a scene, generation and write-back.

Layers, from the bottom (``tests/test_architecture.py`` keeps them so):

* the core, free of ``bpy``: :mod:`.camera`, :mod:`.mapping`, :mod:`.depthmap`, :mod:`.errors`, :mod:`.io`,
  :mod:`.depth_import`, :mod:`.texturing`, :mod:`.generation`, :mod:`.batch` and the :mod:`.worker` process;
* :mod:`.blender`, the bridge: bpy primitives (depth rendering, meshes, write-back, compositor);
* :mod:`.app`, the use cases, re-exported for scripts by :mod:`.api`;
* :mod:`.cli`, the command line.

Modules import each other relatively, so the package works both as a top-level package (scripts,
tests) and inside the installed extension.
"""

__version__ = "0.1.0"
