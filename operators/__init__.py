# SPDX-License-Identifier: GPL-3.0-or-later
"""Operators (``depth.*``, ids in :mod:`.ids`): read their settings, call :mod:`depth_addon.app` or
:mod:`depth_addon.api`, report. They never reach into the bridge (:mod:`depth_addon.blender`)."""

import bpy

from . import depth_ops, estimate_ops, import_ops, job_ops, texture_ops

classes = (*depth_ops.classes, *import_ops.classes, *estimate_ops.classes, *texture_ops.classes, *job_ops.classes)


def register() -> None:
    """Register every operator class, then the import file handler and menu entry."""
    for cls in classes:
        bpy.utils.register_class(cls)
    import_ops.register_extras()


def unregister() -> None:
    """Remove the import extras, then unregister every operator class."""
    import_ops.unregister_extras()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
