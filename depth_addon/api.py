# SPDX-License-Identifier: GPL-3.0-or-later
"""The scripting facade: one small, stable set of functions for TDs, operators and the CLI.

Import it with the repository root on ``sys.path`` and ``bpy`` importable::

    from depth_addon import api
    result = api.render_depth()                      # the context scene's camera
    api.save_depth(result, "/tmp/depth.exr")         # float32 metres, mapping in the header
    run = api.texture_scene(prompt="red brick", seed=3, out_dir="/tmp/out")

Functions keep their names and keyword arguments across releases; new ones are added as the
capabilities grow. Errors are :class:`~depth_addon.errors.DepthAddonError` subclasses with a
message meant for the user. This module only re-exports the use cases of :mod:`depth_addon.app`.
"""

from __future__ import annotations

from .app.depth import DepthResult, depth_mapping, render_depth, save_depth
from .app.importing import import_depth_map
from .app.multiview import texture_multiview
from .app.texture import TextureRun, generate, project, texture_scene

__all__ = [
    "DepthResult",
    "TextureRun",
    "depth_mapping",
    "generate",
    "import_depth_map",
    "project",
    "render_depth",
    "save_depth",
    "texture_multiview",
    "texture_scene",
]
