# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Depth" tab of the 3D View sidebar."""

import bpy


class VIEW3D_PT_depth(bpy.types.Panel):
    """Depth: render, map and generate from the active camera."""

    bl_label = "Depth"
    bl_idname = "VIEW3D_PT_depth"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Depth"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.depth_addon
        col = layout.column(align=True)
        col.prop(settings, "engine")
        col.prop(settings, "mapping")
        col.prop(settings, "radial")
        col.prop(settings, "output_dir")
        layout.operator("depth.render_depth", icon="RENDER_STILL").engine = settings.engine


classes = (VIEW3D_PT_depth,)
