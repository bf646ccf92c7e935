# SPDX-License-Identifier: GPL-3.0-or-later
"""Render › Depth: every ``depth.*`` operator in one menu, which is also what makes them F3-searchable."""

import bpy

from ..depth_addon.app.options import hand_over, scene_options
from ..operators.ids import MENU_SECTIONS
from .sidebar import available


def menu_sections() -> list[list[str]]:
    """The ``bl_idname`` of each registered operator, grouped as in :data:`~operators.ids.MENU_SECTIONS`."""
    return [s for s in ([i for i in section if available(i)] for section in MENU_SECTIONS) if s]


class TOPBAR_MT_depth(bpy.types.Menu):
    """Depth maps, generation, texturing and set-up."""

    bl_idname = "TOPBAR_MT_depth"
    bl_label = "Depth"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        for i, section in enumerate(menu_sections()):
            if i:
                layout.separator()
            for idname in section:
                props = layout.operator(idname)
                settings = scene_options(context.scene, idname)
                if settings is not None:  # the sidebar's options, also from here and F3 search
                    hand_over(props, settings)


def draw_render_menu(self, context: bpy.types.Context) -> None:
    """Append the Depth menu to Render.

    :param self: The Render menu.
    :param context: Draw context.
    """
    self.layout.separator()
    self.layout.menu(TOPBAR_MT_depth.bl_idname)


classes = (TOPBAR_MT_depth,)
