# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth Addon: scene depth drives AI image generation and the result goes back into the scene.

This file only registers and unregisters; the work lives in ``depth_addon/`` (the bpy-free core, the
``blender`` bridge, the ``app`` use cases, the ``cli`` and the generation ``worker``), ``preferences.py``,
``operators/`` and ``panels/``. Blender's glTF exporter finds :class:`glTF2ExportUserExtension` here (projected
objects export without their projection, with a warning).
"""

from . import operators, panels, preferences
from .depth_addon.app import jobs, options
from .depth_addon.blender import props
from .depth_addon.blender.writeback.gltf_export import glTF2ExportUserExtension as glTF2ExportUserExtension

_modules = (props, options, jobs, preferences, operators, panels)


def register() -> None:
    """Register settings, the job operators' options, job status, preferences, operators and panels, in that order."""
    for module in _modules:
        module.register()


def unregister() -> None:
    """Unregister everything :func:`register` registered, in reverse order."""
    for module in reversed(_modules):
        module.unregister()
