# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth operators: render the active camera's depth into an image and files."""

import os

import bpy

from ..depth_addon import api
from ..depth_addon.blender.depth import ENGINES
from ..depth_addon.blender.images import image_from_array
from ..depth_addon.errors import DepthAddonError

DEPTH_IMAGE = "Depth Map"


def camera_poll(cls, context: bpy.types.Context) -> bool:
    """Shared poll: a scene with an active camera."""
    if context.scene is None or context.scene.camera is None:
        cls.poll_message_set("The scene has no active camera")
        return False
    return True


def output_dir(context: bpy.types.Context) -> str | None:
    """The settings' output folder as an absolute path, or None when it cannot be resolved yet."""
    path = context.scene.depth_addon.output_dir
    if path.startswith("//") and not bpy.data.filepath:
        return None
    return bpy.path.abspath(path) if path else None


class DEPTH_OT_render_depth(bpy.types.Operator):
    """Render float depth from the active camera into the "Depth Map" image (and EXR/PNG files when the output
    folder can be resolved)"""

    bl_idname = "depth.render_depth"
    bl_label = "Render Depth"
    bl_options = {"REGISTER", "UNDO"}

    engine: bpy.props.EnumProperty(
        name="Engine", items=[(e, e.title(), f"Render depth with the {e} path") for e in ENGINES], default="auto"
    )
    write_files: bpy.props.BoolProperty(name="Write Files", description="Write depth.exr and depth.png", default=True)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return camera_poll(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.depth_addon
        try:
            result = api.render_depth(context.scene, engine=self.engine, radial=settings.radial)
            if not result.mask.any():
                self.report({"WARNING"}, "The camera sees no geometry")
                mapped = result.depth * 0
            else:
                mapping = api.depth_mapping(result, kind=settings.mapping)
                mapped = mapping.apply(result.depth)
            image = image_from_array(DEPTH_IMAGE, mapped, colorspace="Non-Color", float_buffer=True)
            image["depth_addon_engine"] = result.engine
            folder = output_dir(context) if self.write_files else None
            if folder is not None and result.mask.any():
                api.save_depth(result, os.path.join(folder, "depth.exr"), mapping)
                api.save_depth(result, os.path.join(folder, "depth.png"), mapping)
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        where = f", files in {folder}" if folder else ""
        self.report({"INFO"}, f"Depth {result.camera.width}×{result.camera.height} via {result.engine} "
                              f"in {result.seconds * 1000:.0f} ms{where}")
        return {"FINISHED"}


classes = (DEPTH_OT_render_depth,)
