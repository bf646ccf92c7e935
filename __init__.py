# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth Addon: scene depth drives AI image generation and the result goes back into the scene.

This file only registers and unregisters; the work lives in ``depth_addon/`` (core and the
``blender`` subpackage), ``operators/`` and ``panels/``.
"""

from . import operators, panels
from .depth_addon.blender import properties

_modules = (properties, operators, panels)


def register() -> None:
    """Register properties, operators and panels, in that order."""
    for module in _modules:
        module.register()


def unregister() -> None:
    """Unregister everything :func:`register` registered, in reverse order."""
    for module in reversed(_modules):
        module.unregister()
