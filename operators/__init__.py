# SPDX-License-Identifier: GPL-3.0-or-later
"""Operators (``depth.*``): thin wrappers that validate input, call :mod:`depth_addon.api` and report."""

import bpy

from . import depth_ops, texture_ops

classes = (*depth_ops.classes, *texture_ops.classes)


def register() -> None:
    """Register every operator class."""
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Unregister every operator class."""
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
