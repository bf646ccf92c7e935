# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Depth" tab of the Image Editor sidebar: what the shown image is, and the depth/generate actions."""

import bpy

from ..depth_addon.app.setup import generator_name
from ..depth_addon.app.writeback import image_record
from ..operators import ids
from .status import draw_dependencies, draw_job_status


class IMAGE_PT_depth(bpy.types.Panel):
    """Provenance of the image in the editor (prompt, seed, backend or depth engine) and the depth actions."""

    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Depth"
    bl_label = "Depth"
    bl_idname = "IMAGE_PT_depth"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        space = context.space_data
        image = getattr(space, "image", None)
        col = layout.column(align=True)
        if image is None:
            col.label(text="No image shown", icon="INFO")
        else:
            col.label(text=f"{image.name}: {image.size[0]}×{image.size[1]}", icon="IMAGE_DATA")
            meta = image_record(image)
            if meta is not None:
                col.label(text=f"Prompt: {meta.get('prompt') or '(none)'}")
                col.label(text=f"Seed {meta.get('seed', 0)}, backend {meta.get('generator', 'default')}")
            elif "depth_addon_engine" in image:
                col.label(text=f"Depth map rendered with {image['depth_addon_engine']}")
        row = layout.row(align=True)
        row.operator(ids.RENDER_DEPTH, icon="RENDER_STILL")
        if not draw_dependencies(layout, generator_name(context)):
            row.operator(ids.GENERATE, icon="TEXTURE")
        draw_job_status(layout, context, preview=False)


classes = (IMAGE_PT_depth,)
