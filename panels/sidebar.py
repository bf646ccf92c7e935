# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Depth" tab of the 3D View sidebar: depth, generation and write-back."""

import bpy


class DepthSidebar:
    """Shared placement of every panel in the tab."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Depth"


class VIEW3D_PT_depth(DepthSidebar, bpy.types.Panel):
    """Depth from the active camera and how it is mapped for models."""

    bl_label = "Depth"
    bl_idname = "VIEW3D_PT_depth"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        settings = context.scene.depth_addon
        col = layout.column()
        col.prop(settings, "engine")
        col.prop(settings, "mapping")
        col.prop(settings, "radial")
        col.prop(settings, "output_dir")
        layout.operator("depth.render_depth", icon="RENDER_STILL").engine = settings.engine


class VIEW3D_PT_depth_generate(DepthSidebar, bpy.types.Panel):
    """Generate an image from depth and project it back onto the scene."""

    bl_label = "Generate"
    bl_idname = "VIEW3D_PT_depth_generate"
    bl_parent_id = "VIEW3D_PT_depth"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        settings = context.scene.depth_addon
        col = layout.column()
        col.prop(settings, "prompt")
        col.prop(settings, "seed")
        col.prop(settings, "generator", placeholder="Default")
        layout.operator("depth.texture_scene", icon="TEXTURE")
        row = layout.row(align=True)
        row.operator("depth.setup_compositor", icon="NODE_COMPOSITING")
        row.operator("depth.remove_result", icon="LOOP_BACK")


classes = (VIEW3D_PT_depth, VIEW3D_PT_depth_generate)
