# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth Addon: scene depth drives AI image generation and the result goes back into the scene.

This file only registers and unregisters; the work lives in ``depth_addon/`` (the bpy-free core, the
``blender`` bridge, the ``app`` use cases, the ``cli`` and the generation ``worker``), ``preferences.py``,
``operators/`` and ``panels/``.
"""

from . import operators, panels, preferences
from .depth_addon.app import jobs
from .depth_addon.blender import props

_modules = (props, jobs, preferences, operators, panels)


def register() -> None:
    """Register settings, job status, preferences, operators and panels, in that order."""
    for module in _modules:
        module.register()


def unregister() -> None:
    """Unregister everything :func:`register` registered, in reverse order."""
    for module in reversed(_modules):
        module.unregister()
