# SPDX-License-Identifier: GPL-3.0-or-later
"""Generation and write-back operators: projection, multi-view texturing, bakes, compositor, undo, regenerate."""

import bpy

from ..depth_addon.app import options, setup, writeback
from ..depth_addon.app.jobs import QUEUE, Job
from ..depth_addon.app.multiview import MultiviewSettings, multiview_flow
from ..depth_addon.app.regenerate import find_record, regenerate_run_flow
from ..depth_addon.app.scene_prompts import assignment_summary
from ..depth_addon.errors import BadInput, DepthAddonError
from . import ids
from .depth_ops import camera_poll
from .follow import FollowJobs
from .job_ops import backend_poll, job_params

#: Tooltips of the compositor's blend modes (the colour mix node's own modes).
_BLEND_TIPS = {
    "MIX": "The generated image over the render, by Opacity", "DARKEN": "The darker of the two, channel by channel",
    "MULTIPLY": "Render × generated image: darkens", "BURN": "Darkens the render by the generated image's darkness",
    "LIGHTEN": "The lighter of the two, channel by channel", "SCREEN": "Inverse of multiplying the inverses: lightens",
    "DODGE": "Brightens the render by the generated image", "ADD": "Render + generated image",
    "OVERLAY": "Multiply in the render's darks, screen in its lights",
    "SOFT_LIGHT": "A gentle overlay: the generated image tints the render's light and shade",
    "LINEAR_LIGHT": "Burns or dodges the render by the generated image's brightness",
    "DIFFERENCE": "How far the two differ, channel by channel", "EXCLUSION": "A softer Difference",
    "SUBTRACT": "Render − generated image", "DIVIDE": "Render ÷ generated image",
    "HUE": "The render with the generated image's hue",
    "SATURATION": "The render with the generated image's saturation",
    "COLOR": "The render's brightness with the generated image's hue and saturation",
    "VALUE": "The render's hue and saturation with the generated image's brightness",
}
_BAKE_SHADINGS = [("AUTO", "As Projected", "A relightable projection stays relightable (its maps are baked too); a "
                   "lit one shows the texture as generated"), *options.MULTIVIEW_SHADINGS]


def _progress(context: bpy.types.Context):
    wm = context.window_manager
    return lambda f, _m: wm.progress_update(int(f * 100))


def counted(count: int, noun: str) -> str:
    """``1 object``, ``0 objects``, ``3 objects``.

    :param count: How many.
    :param noun: The noun in the singular.
    """
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _describe_multiview(result) -> str:  # the report adds the job's time
    return (f"textured {counted(len(result.objects), 'object')} from {counted(len(result.views), 'view')}; "
            + assignment_summary(result.decisions))


def selection_problem(context: bpy.types.Context) -> str | None:
    """Why the selection cannot be textured, or None: objects other than cameras and lights are selected but no
    mesh (texturing every mesh instead would not be what was asked).

    :param context: The context (its selected objects).
    """
    chosen = [o for o in context.selected_objects if o.type not in ("CAMERA", "LIGHT")]
    if not chosen or any(o.type == "MESH" for o in chosen):
        return None
    names = ", ".join(f"{o.name!r} ({o.type.lower()})" for o in chosen[:3])
    return f"{names}: only meshes can be textured; select meshes, or nothing for every visible mesh"


def _selected_meshes(context: bpy.types.Context):
    """The selected meshes; None (every visible mesh) when nothing but cameras and lights is selected.

    :raises BadInput: With :func:`selection_problem`.
    """
    problem = selection_problem(context)
    if problem:
        raise BadInput(problem)
    return [o for o in context.selected_objects if o.type == "MESH"] or None


def selection_poll(cls, context: bpy.types.Context) -> bool:
    """Shared poll of the operators that texture the selected meshes: :func:`selection_problem` is the message."""
    problem = selection_problem(context)
    if problem:
        cls.poll_message_set(problem[0].upper() + problem[1:])
        return False
    return True


class DEPTH_OT_project_image(bpy.types.Operator):
    """Project an image from the active camera onto the selected meshes (all visible meshes when none is
    selected), hidden surfaces keep their material; optionally bake it so it follows the objects"""

    bl_idname = ids.PROJECT_IMAGE
    bl_label = "Project Image"
    bl_options = {"REGISTER", "UNDO"}

    image: bpy.props.StringProperty(name="Image", description="Image to project, as seen by the active camera "
                                    "(default: the last generated image)")
    occlusion: bpy.props.BoolProperty(name="Occlusion", description="Keep the image off hidden surfaces",
                                      default=True)
    follow: bpy.props.BoolProperty(name="Follow Objects", description="Bake into UV maps so the texture moves "
                                   "with the objects", default=False)
    bake_size: bpy.props.EnumProperty(name="Bake Size", items=options.SIZES, default="1024",
                                      description="Texels per side of each baked texture (Follow Objects)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not camera_poll(cls, context):
            return False
        if not bpy.data.images:
            cls.poll_message_set("There is no image to project")
            return False
        return selection_poll(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            image, result = writeback.project_image(context.scene, self.image, _selected_meshes(context),
                                                    self.occlusion, int(self.bake_size) if self.follow else None)
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Projected {image.name!r} onto {counted(len(result.objects), 'object')}"
                    + (" and baked it" if self.follow else ""))
        return {"FINISHED"}


class DEPTH_OT_texture_multiview(FollowJobs, bpy.types.Operator):
    """Texture the selected meshes (all visible meshes when none is selected) from several views: depth,
    generation conditioned on earlier views, fusion into each object's UV map"""

    bl_idname = ids.TEXTURE_MULTIVIEW
    bl_label = "Texture from Views"
    bl_options = {"UNDO"}  # not offered to Adjust Last Operation, which would run it again frozen (options.py)

    __annotations__ = {**options.MULTIVIEW, "preview_only": bpy.props.BoolProperty(
        name="Coverage Only", default=False, description="Only show which surface the views reach (red = none)")}

    @classmethod
    def description(cls, _context: bpy.types.Context, properties: bpy.types.OperatorProperties) -> str:
        """The tooltip: the coverage button's own, else the class docstring."""
        if properties.preview_only:
            return "Show in red the surface no view reaches, with these options, without generating anything"
        return cls.__doc__

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None:
            cls.poll_message_set("No scene to texture")
            return False
        return selection_poll(cls, context) and backend_poll(cls, setup.generator_name(context))

    def _coverage(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.depth_addon
        try:
            cov = writeback.coverage_preview(context.scene, _selected_meshes(context), self._cameras(context),
                                             self.views, self.placement.lower(), engine=settings.engine)
            writeback.pack_generated(*cov.images.values())
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{cov.unseen_total * 100:.1f} % of the surface is seen by no view")
        return {"FINISHED"}

    def _cameras(self, context: bpy.types.Context) -> list | None:
        if self.placement != "CAMERAS":
            return None
        cameras = [o for o in context.selected_objects if o.type == "CAMERA"]
        if not cameras:
            raise BadInput("Select the cameras to texture from")
        return cameras

    def execute(self, context: bpy.types.Context) -> set[str]:
        return self._coverage(context) if self.preview_only else FollowJobs.execute(self, context)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return self._coverage(context) if self.preview_only else FollowJobs.invoke(self, context, event)

    def make_jobs(self, context: bpy.types.Context) -> list[Job]:
        """One job: :func:`~depth_addon.app.multiview.multiview_flow` (views and depth now, images in the worker)."""
        scene, settings = context.scene, context.scene.depth_addon
        size = "auto" if self.bake_size == "AUTO" else int(self.bake_size)
        options = MultiviewSettings(self.views, self.placement.lower(), size, self.view_size,
                                    settings.engine, self.conditioning, shading=self.shading,
                                    scene_view=self.scene_view, maps=self.maps or self.shading.startswith("PBR"),
                                    new_uv=self.new_uv)
        flow = multiview_flow(scene, _selected_meshes(context), self._cameras(context), settings.prompt, settings.seed,
                              context.scene.depth_addon_generate.negative_prompt, options)
        return [QUEUE.submit(Job(scene.name, flow, job_params(context), label=f"multi-view seed {settings.seed}",
                                 seed=settings.seed, describe=_describe_multiview))]


class DEPTH_OT_bake_textures(bpy.types.Operator):
    """Bake the projection on the selected objects (all projected objects when none but cameras and lights is
    selected) into their UV maps, so the texture follows them when they move"""

    bl_idname = ids.BAKE_TEXTURES
    bl_label = "Bake Projection"
    bl_options = {"REGISTER", "UNDO"}

    bake_size: bpy.props.EnumProperty(name="Texture Size", items=options.SIZES, default="1024",
                                      description="Texels per side of each baked texture")
    shading: bpy.props.EnumProperty(name="Shading", items=_BAKE_SHADINGS, default="AUTO",
                                    description="How the objects show their baked textures")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is not None and any(writeback.is_projected(o) for o in context.scene.objects):
            return True
        cls.poll_message_set("No projected objects to bake; project an image first")
        return False

    def execute(self, context: bpy.types.Context) -> set[str]:
        selected = [o for o in context.selected_objects if o.type not in ("CAMERA", "LIGHT")]
        chosen = [o for o in selected if writeback.is_projected(o)]
        if selected and not chosen:  # baking every projection instead would not be what was asked
            names = ", ".join(repr(o.name) for o in selected[:3]) + (" …" if len(selected) > 3 else "")
            self.report({"ERROR"}, f"{names} show{'s' if len(selected) == 1 else ''} no projection to bake; select "
                                   "projected objects, or nothing to bake every projection")
            return {"CANCELLED"}
        try:
            result = writeback.bake_projection(context.scene, chosen or None, int(self.bake_size),
                                               shading=self.shading)
            writeback.pack_generated(*result.made_images())  # maps too: Undo/Redo keep no unpacked pixels
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Baked {counted(len(result.objects), 'object')}")
        for warning in result.warnings:  # objects unwrapped into a UV map made for the bake ...
            self.report({"WARNING"}, warning)
        return {"FINISHED"}


class DEPTH_OT_setup_compositor(bpy.types.Operator):
    """Use our compositor group (AI layer over the render, depth of field, fog, relighting); your own group is kept
    and comes back with Remove Result"""

    bl_idname = ids.SETUP_COMPOSITOR
    bl_label = "Set Up Compositor"
    bl_options = {"REGISTER", "UNDO"}

    opacity: bpy.props.FloatProperty(name="Opacity", min=0.0, max=1.0, default=0.5, subtype="FACTOR",
                                     description="How much of the generated image covers the render")
    blend: bpy.props.EnumProperty(name="Blend", items=[(m, m.replace("_", " ").title(), _BLEND_TIPS.get(
                                      m, "How the generated image is mixed over the render"))
                                      for m in writeback.BLEND_MODES], default="MIX",
                                  description="How the generated image is mixed over the render")
    use_dof: bpy.props.BoolProperty(name="Depth of Field", default=True,
                                    description="Blur the composite by its distance from the focus")
    focus: bpy.props.EnumProperty(name="Focus", default="SETTINGS", options={"SKIP_SAVE"},
                                  description="Where the depth of field is sharp", items=[
        ("SETTINGS", "Sidebar", "The sidebar's focus: the camera's own or its Focus Distance"),
        ("PIXEL", "Pixel", "The depth at a pixel of the camera view"),
        ("OBJECT", "Object", "The distance to the active object")])  # one button's choice, not the next one's
    focus_x: bpy.props.FloatProperty(name="Focus X", min=0.0, max=1.0, default=0.5, subtype="FACTOR",
                                     options={"SKIP_SAVE"}, description="From the left of the frame")
    focus_y: bpy.props.FloatProperty(name="Focus Y", min=0.0, max=1.0, default=0.5, subtype="FACTOR",
                                     options={"SKIP_SAVE"}, description="From the top of the frame")
    fog_density: bpy.props.FloatProperty(name="Fog Density", min=0.0, max=10.0, default=0.0, precision=3,
                                         description="Extinction per metre, whatever the scene's Unit Scale "
                                                     "(0: no fog)")
    fog_start: bpy.props.FloatProperty(name="Fog Start", min=0.0, default=0.0, unit="LENGTH",
                                       description="Distance from the camera where the fog begins")
    relight: bpy.props.FloatProperty(name="Relight", min=0.0, max=1.0, default=0.0, subtype="FACTOR",
                                     description="How strongly the generated image is lit again from Light Direction")
    light_direction: bpy.props.FloatVectorProperty(name="Light Direction", size=3, default=(0.3, -0.5, 0.8),
                                                   subtype="DIRECTION",
                                                   description="Towards the relighting light, in world space (Z up)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return camera_poll(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.depth_addon
        focus = settings.comp_focus if self.focus == "SETTINGS" else self.focus
        try:
            group = writeback.setup_compositor(
                context.scene, focus=focus, focus_xy=(self.focus_x, self.focus_y),
                focus_object=context.active_object, focus_distance=settings.comp_focus_distance,
                relight=self.relight, light_direction=tuple(self.light_direction), opacity=self.opacity,
                blend=self.blend, use_dof=self.use_dof, fstop=settings.comp_fstop, fog_density=self.fog_density,
                fog_start=self.fog_start)
        except DepthAddonError as exc:
            settings.comp_message = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        picked = writeback.compositor_settings(context.scene).get("focus_distance")
        if focus in {"PIXEL", "OBJECT"} and picked is not None:  # the sidebar shows (and edits) the picked focus
            settings.comp_focus, settings.comp_focus_distance = "DISTANCE", picked
        settings.comp_message = writeback.compositor_note(context.scene)
        picked = f", focus picked at {picked:.3g}" if focus in {"PIXEL", "OBJECT"} and picked is not None else ""
        self.report({"INFO"}, f"The scene renders through our compositor group {group.name!r}{picked}")
        if settings.comp_message:
            self.report({"WARNING"}, settings.comp_message)
        return {"FINISHED"}


class DEPTH_OT_remove_result(bpy.types.Operator):
    """Remove projections, bakes and coverage maps from the selected objects (all objects when none but cameras
    and lights is selected) and give the scene its own compositor back; the generated images stay in the file
    (fake user), to project again"""

    bl_idname = ids.REMOVE_RESULT
    bl_label = "Remove Result"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = context.scene
        if scene is None:
            return False
        if writeback.has_result(scene):
            return True
        cls.poll_message_set("Nothing of ours to remove in this scene")
        return False

    def execute(self, context: bpy.types.Context) -> set[str]:
        selected = [o for o in context.selected_objects if o.type not in ("CAMERA", "LIGHT")]  # as texturing has it
        ours = [o for o in selected if writeback.is_ours(o)]
        if selected and not ours:  # no result selected: the compositor is what is left to remove
            if writeback.restore_compositor(context.scene):
                self.report({"INFO"}, "Gave the scene its own compositor back (no selected object shows a result)")
                return {"FINISHED"}
            self.report({"INFO"}, "None of the selected objects shows a result: nothing was removed")
            return {"CANCELLED"}  # no undo step for nothing
        count, restored = writeback.remove_result(context.scene, ours or None)
        if count == 0 and restored:  # only the compositor was ours
            self.report({"INFO"}, "Gave the scene its own compositor back")
        else:
            self.report({"INFO"}, f"Restored {counted(count, 'object')}" + (" and the compositor" if restored else ""))
        return {"FINISHED"}


class DEPTH_OT_regenerate(FollowJobs, bpy.types.Operator):
    """Generate the active object's texture again from its recorded prompt, seed, generator and cameras (same
    seed: the same result; a new seed: a variation)"""

    bl_idname = ids.REGENERATE
    bl_label = "Regenerate"
    bl_options = {"UNDO"}  # a job: not offered to Adjust Last Operation (see options.py)

    # one click's choices: a plain Regenerate keeps the recorded seed and prompt, whatever the last one asked
    seed: bpy.props.IntProperty(name="Seed", description="New seed; -1 keeps the recorded one", default=-1, min=-1,
                                options={"SKIP_SAVE"})
    prompt: bpy.props.StringProperty(name="Prompt", description="New prompt; empty keeps the recorded one",
                                     options={"SKIP_SAVE"})
    only_this: bpy.props.BoolProperty(name="This Object Only", default=False, options={"SKIP_SAVE"},
                                      description="Repaint only the active object, the prompt as its own (a "
                                      "projection: the rest of the image and its maps stay as they are; a bake: only "
                                      "its textures are baked again)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not writeback.can_regenerate(context.active_object):
            cls.poll_message_set("The active object shows no generated result with a provenance record")
            return False
        record, _image = find_record(context.active_object)
        return backend_poll(cls, record.get("generator") or "")  # the record's backend generates again

    def make_jobs(self, context: bpy.types.Context) -> list[Job]:
        """One job: :func:`~depth_addon.app.regenerate.regenerate_run_flow` of the active object's record, reported
        with which material each object got (and its warnings, one by one), as Generate & Project reports it."""
        record, target = find_record(context.active_object)
        seed = record["seed"] if self.seed < 0 else self.seed
        only = context.active_object.name if self.only_this else None
        flow = regenerate_run_flow(record, context.scene, seed, self.prompt or None, target, only)
        params = dict(job_params(context), generator=record.get("generator") or "")
        return [QUEUE.submit(Job(context.scene.name, flow, params, label=f"regenerate seed {seed}", seed=seed,
                                 describe=lambda run: f"regenerated; {assignment_summary(run.decisions)}"))]


classes = (DEPTH_OT_project_image, DEPTH_OT_texture_multiview, DEPTH_OT_bake_textures,
           DEPTH_OT_setup_compositor, DEPTH_OT_remove_result, DEPTH_OT_regenerate)
