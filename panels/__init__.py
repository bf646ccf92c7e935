# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Depth" tabs (3D View and Image Editor sidebars) and the Render › Depth menu: drawing only, every
action is an operator."""

import bpy

from . import image_editor, menus, sidebar, status

classes = (*status.classes, *sidebar.classes, *image_editor.classes, *menus.classes)


def register() -> None:
    """Register every panel and menu class and add the Depth menu to Render."""
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_render.append(menus.draw_render_menu)


def unregister() -> None:
    """Undo :func:`register`."""
    bpy.types.TOPBAR_MT_render.remove(menus.draw_render_menu)
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
