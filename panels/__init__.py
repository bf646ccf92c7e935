# SPDX-License-Identifier: GPL-3.0-or-later
"""Sidebar panels of the "Depth" tab: drawing only, every action is an operator."""

import bpy

from . import sidebar

classes = (*sidebar.classes,)


def register() -> None:
    """Register every panel class."""
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Unregister every panel class."""
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
