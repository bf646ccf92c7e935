# SPDX-License-Identifier: GPL-3.0-or-later
"""Generation and write-back operators: texture from the camera, compositor set-up, remove results."""

import bpy

from ..depth_addon import api
from ..depth_addon.blender import compositor, projection
from ..depth_addon.errors import DepthAddonError
from .depth_ops import camera_poll


class DEPTH_OT_texture_scene(bpy.types.Operator):
    """Render depth from the active camera, generate an image from it and project it onto the visible meshes
    (new materials; the originals are kept)"""

    bl_idname = "depth.texture_scene"
    bl_label = "Generate & Project"
    bl_options = {"REGISTER", "UNDO"}

    use_compositor: bpy.props.BoolProperty(
        name="Compositor", description="Also layer the image over the render with our compositor group", default=True
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return camera_poll(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.depth_addon
        wm = context.window_manager
        wm.progress_begin(0, 100)
        try:
            run = api.texture_scene(context.scene, prompt=settings.prompt, seed=settings.seed,
                                    generator=settings.generator or None, engine=settings.engine,
                                    mapping=settings.mapping, compositor=self.use_compositor,
                                    progress=lambda f, _m: wm.progress_update(int(f * 100)))
            run.image.pack()  # generated pixels must survive saving the file
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        finally:
            wm.progress_end()
        total = sum(run.timings.values())
        self.report({"INFO"}, f"Projected onto {len(run.projection.objects)} objects in {total:.2f} s")
        return {"FINISHED"}


class DEPTH_OT_setup_compositor(bpy.types.Operator):
    """Use our compositor group (AI layer over the render, depth of field from Z); your own group is kept and
    comes back with Remove Result"""

    bl_idname = "depth.setup_compositor"
    bl_label = "Set Up Compositor"
    bl_options = {"REGISTER", "UNDO"}

    opacity: bpy.props.FloatProperty(name="Opacity", min=0.0, max=1.0, default=0.5, subtype="FACTOR")
    use_dof: bpy.props.BoolProperty(name="Depth of Field", default=True)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            group = compositor.find_compositor_group()
            image = None
            if group is not None:
                image = next((n.image for n in group.nodes if n.bl_idname == "CompositorNodeImage"), None)
            compositor.ensure_compositor_group(context.scene, image=image, opacity=self.opacity,
                                               use_dof=self.use_dof)
            compositor.activate_compositor(context.scene)
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class DEPTH_OT_remove_result(bpy.types.Operator):
    """Remove projections from the selected objects (all objects when none is selected) and give the scene its
    own compositor back"""

    bl_idname = "depth.remove_result"
    bl_label = "Remove Result"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = context.scene
        if scene is None:
            return False
        if compositor.is_compositor_active(scene) or any(projection.is_projected(o) for o in scene.objects):
            return True
        cls.poll_message_set("Nothing of ours to remove in this scene")
        return False

    def execute(self, context: bpy.types.Context) -> set[str]:
        selected = [o for o in context.selected_objects if projection.is_projected(o)] if context.selected_objects \
            else None
        count = projection.remove_projection(selected)
        restored = compositor.restore_compositor(context.scene) if selected is None else False
        self.report({"INFO"}, f"Restored {count} objects" + (" and the compositor" if restored else ""))
        return {"FINISHED"}


classes = (DEPTH_OT_texture_scene, DEPTH_OT_setup_compositor, DEPTH_OT_remove_result)
