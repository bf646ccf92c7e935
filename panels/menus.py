# SPDX-License-Identifier: GPL-3.0-or-later
"""Render › Depth: every ``depth.*`` operator in one menu, which is also what makes them F3-searchable."""

import bpy

from .sidebar import depth_operators

#: Menu sections: operators whose name starts with one of the words, in this order; the rest come last.
SECTIONS = (
    ("render_depth", "toggle_live_preview", "import"),
    ("generate", "cancel_job", "release_model"),
    ("texture", "project", "regenerate", "bake", "setup_compositor", "remove_result"),
    ("install_torch", "health_check"),
)


def menu_sections() -> list[list[str]]:
    """The registered ``depth.*`` operator names, grouped as in :data:`SECTIONS`."""
    names = depth_operators()
    sections, seen = [], set()
    for words in SECTIONS:
        group = [n for w in words for n in names if n.startswith(w) and n not in seen]
        seen.update(group)
        sections.append(list(dict.fromkeys(group)))
    sections.append([n for n in names if n not in seen])
    return [s for s in sections if s]


class TOPBAR_MT_depth(bpy.types.Menu):
    """Depth maps, generation, texturing and set-up."""

    bl_idname = "TOPBAR_MT_depth"
    bl_label = "Depth"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        for i, section in enumerate(menu_sections()):
            if i:
                layout.separator()
            for name in section:
                layout.operator(f"depth.{name}")


def draw_render_menu(self, context: bpy.types.Context) -> None:
    """Append the Depth menu to Render.

    :param self: The Render menu.
    :param context: Draw context.
    """
    self.layout.separator()
    self.layout.menu(TOPBAR_MT_depth.bl_idname)


classes = (TOPBAR_MT_depth,)
