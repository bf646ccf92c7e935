# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Depth" tab of the 3D View sidebar: depth, import, generation, texturing and compositor.

Drawing only: every action is an operator, named by its ``bl_idname`` constant (:mod:`operators.ids`);
a section whose operators are not registered says so instead of failing.
"""

import bpy

from ..depth_addon.app.depth import preview_error, shown_image
from ..depth_addon.app.options import MULTIVIEW, SEQUENCE, hand_over, scene_options
from ..depth_addon.app.scene_prompts import ASSIGNMENT
from ..depth_addon.app.setup import depth_model_problem, generator_name
from ..depth_addon.app.writeback import compositor_active
from ..operators import ids
from .status import draw_dependencies, draw_wrapped

#: The Texture panel's boxes below "Single view": title, operator, icon.
TEXTURE_SECTIONS = (("Multi-view", ids.TEXTURE_MULTIVIEW, "OUTLINER_OB_CAMERA"),
                    ("Bake", ids.BAKE_TEXTURES, "RENDER_RESULT"))
#: Options each backend understands; backends not listed are offered everything.
ALL_OPTIONS = frozenset({"negative_prompt", "steps", "strength"})
BACKEND_OPTIONS: dict[str, frozenset[str]] = {
    "embedded": frozenset(), "analytic": frozenset(), "baseline": frozenset(), "diffusers": ALL_OPTIONS,
}


def available(idname: str) -> bool:
    """True when the operator ``idname`` (``depth.name``) is registered.

    :param idname: The operator's ``bl_idname``.
    """
    module, _, name = idname.partition(".")
    return name in dir(getattr(bpy.ops, module))


def backend_options(name: str) -> frozenset[str]:
    """Generation options the backend ``name`` uses (see :data:`BACKEND_OPTIONS`).

    :param name: Backend name.
    """
    return BACKEND_OPTIONS.get(name.strip().lower(), ALL_OPTIONS)


class DepthSidebar:
    """Shared placement of every panel in the tab."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Depth"


def draw_props(layout: bpy.types.UILayout, data: bpy.types.bpy_struct, *names: str) -> None:
    """Draw the properties of ``data`` among ``names`` that exist (settings grow between versions).

    :param layout: Where to draw.
    :param data: The settings.
    :param names: Property names, in drawing order.
    """
    for name in names:
        if name in data.bl_rna.properties:
            layout.prop(data, name)


def draw_thumbnail(layout: bpy.types.UILayout, image: bpy.types.Image | None, scale: float = 5.0) -> None:
    """A thumbnail of ``image`` with its name and size (nothing when there is no image).

    :param layout: Where to draw.
    :param image: The image.
    :param scale: Thumbnail size in UI units.
    """
    if image is None:
        return
    try:
        icon = image.preview_ensure().icon_id
    except (AttributeError, RuntimeError):
        icon = 0
    if icon:
        layout.template_icon(icon_value=icon, scale=scale)
    layout.label(text=f"{image.name} {image.size[0]}×{image.size[1]}", icon="IMAGE_DATA")


class VIEW3D_PT_depth(DepthSidebar, bpy.types.Panel):
    """Depth from the active camera, how it is mapped for models, and a preview of the depth map."""

    bl_label = "Depth"
    bl_idname = "VIEW3D_PT_depth"
    bl_order = 1

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        settings = context.scene.depth_addon
        col = layout.column()
        draw_props(col, settings, "engine", "mapping", "radial", "invert")
        col = layout.column(heading="Range")
        draw_props(col, settings, "range_mode", "lock_range", "near", "far")
        col = layout.column()
        draw_props(col, settings, "bits", "output_dir")
        seq = ids.RENDER_DEPTH_SEQUENCE
        sequence = scene_options(context.scene, seq) if available(seq) else None
        if sequence is not None:
            col = layout.column(heading="Sequence")
            draw_props(col, sequence, *SEQUENCE)
        row = layout.row(align=True)
        row.operator(ids.RENDER_DEPTH, icon="RENDER_STILL")
        if sequence is not None:
            hand_over(row.operator(seq, text="Sequence", icon="RENDER_ANIMATION"), sequence)
        col = layout.column(heading="Preview")
        draw_props(col, settings, "live_preview", "preview_size")
        live = "live_preview" in settings.bl_rna.properties and settings.live_preview
        error = preview_error() if live else None
        if error:  # the image below is the last one that rendered
            draw_wrapped(layout, error, icon="ERROR")
        draw_thumbnail(layout, shown_image(live))


class VIEW3D_PT_depth_import(DepthSidebar, bpy.types.Panel):
    """Depth maps from files (EXR, PNG, PFM, NPY) into the scene."""

    bl_label = "Import"
    bl_idname = "VIEW3D_PT_depth_import"
    bl_order = 2
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        if not available(ids.IMPORT_DEPTH_MAP):
            layout.label(text="Depth import is not available in this build", icon="INFO")
            return
        layout.operator(ids.IMPORT_DEPTH_MAP, icon="IMPORT")
        if available(ids.IMPORT_PHOTO_AS_MESH):
            layout.operator(ids.IMPORT_PHOTO_AS_MESH, icon="IMAGE_DATA")
            problem = depth_model_problem(context)
            if problem:  # what to download and where to put it, wrapped to the panel's width
                draw_wrapped(layout, f"{problem}; or set Preferences › Depth Estimator")


class VIEW3D_PT_depth_generate(DepthSidebar, bpy.types.Panel):
    """Generate images from depth in the background worker and project them back onto the scene."""

    bl_label = "Generate"
    bl_idname = "VIEW3D_PT_depth_generate"
    bl_order = 3

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        scene = context.scene
        settings, extra = scene.depth_addon, scene.depth_addon_generate
        backend = generator_name(context)
        options = backend_options(backend)
        col = layout.column()
        col.prop(settings, "generator", text="Backend", placeholder=f"Default ({backend})")
        col.prop(settings, "prompt")
        if "negative_prompt" in options:
            col.prop(extra, "negative_prompt")
        col.prop(settings, "seed")
        if "steps" in options:
            col.prop(extra, "steps")
        if "strength" in options:
            col.prop(extra, "strength")
        col.prop(extra, "variations")
        col = layout.column(heading="Use")
        col.prop(extra, "all_cameras")
        col.prop(extra, "only_selected")
        col.prop(extra, "use_compositor")
        col.prop(extra, "relightable")
        if draw_dependencies(layout, backend):
            return
        count = extra.variations
        if extra.all_cameras:
            selected = sum(1 for o in context.selected_objects if o.type == "CAMERA")
            count *= max(1, selected)
            if not selected:
                layout.label(text="No camera selected: the scene camera paints", icon="INFO")
        text = "Generate & Project" if count == 1 else f"Generate & Project ({count} jobs)"
        layout.operator(ids.GENERATE, text=text, icon="TEXTURE")


def draw_object_prompts(layout: bpy.types.UILayout, context: bpy.types.Context, limit: int = 8) -> None:
    """The Object Prompt of each selected mesh (what it is painted as, winning over the scene prompt).

    :param layout: Where to draw.
    :param context: The context (its selected objects).
    :param limit: Most objects listed.
    """
    meshes = [o for o in context.selected_objects if o.type == "MESH" and hasattr(o, "depth_addon_prompt")]
    if not meshes:
        return
    box = layout.box()
    box.label(text="Object prompts (empty: the scene prompt decides)", icon="OBJECT_DATA")
    for obj in meshes[:limit]:
        box.prop(obj, "depth_addon_prompt", text=obj.name)
    if len(meshes) > limit:
        box.label(text=f"… and {len(meshes) - limit} more selected")


def draw_assignment(layout: bpy.types.UILayout, scene: bpy.types.Scene, limit: int = 12) -> None:
    """The last run's assignment: which material each object got and why, then what in the prompts painted
    nothing (kept on the scene by the run, :data:`~depth_addon.app.scene_prompts.ASSIGNMENT`).

    :param layout: Where to draw.
    :param scene: The scene.
    :param limit: Most lines drawn.
    """
    text = scene.get(ASSIGNMENT)
    if not isinstance(text, str) or not text:
        return
    lines = text.split("\n")
    box = layout.box()
    box.label(text="Last run's materials", icon="MATERIAL")
    col = box.column(align=True)
    col.scale_y = 0.8
    for line in lines[:limit]:
        warning = line.startswith("! ")
        col.label(text=line[2:] if warning else line, icon="ERROR" if warning else "DOT")
    if len(lines) > limit:
        col.label(text=f"… and {len(lines) - limit} more lines", icon="BLANK1")


def draw_multiview(layout: bpy.types.UILayout, scene: bpy.types.Scene) -> None:
    """The scene's multi-view options and the buttons that texture with them, or show what the views reach.

    :param layout: Where to draw.
    :param scene: The scene (its ``depth_addon_texture`` options).
    """
    settings = scene_options(scene, ids.TEXTURE_MULTIVIEW)
    if settings is None:
        layout.operator(ids.TEXTURE_MULTIVIEW)
        return
    col = layout.column()
    col.use_property_split = True
    draw_props(col, settings, *(n for n in MULTIVIEW if n != "views" or settings.placement != "CAMERAS"))
    row = layout.row(align=True)
    hand_over(row.operator(ids.TEXTURE_MULTIVIEW), settings)
    coverage = row.operator(ids.TEXTURE_MULTIVIEW, text="Coverage", icon="HIDE_OFF")
    hand_over(coverage, settings)
    coverage.preview_only = True


class VIEW3D_PT_depth_texture(DepthSidebar, bpy.types.Panel):
    """Texturing from one camera or from several, baking, and removing results."""

    bl_label = "Texture"
    bl_idname = "VIEW3D_PT_depth_texture"
    bl_order = 4

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        box = layout.box()
        box.label(text="Single view", icon="CAMERA_DATA")
        box.operator(ids.GENERATE, text="From Active Camera", icon="TEXTURE")
        if available(ids.PROJECT_IMAGE):
            box.operator(ids.PROJECT_IMAGE)
        if available(ids.REGENERATE):
            row = box.row(align=True)
            row.operator(ids.REGENERATE)
            row.operator(ids.REGENERATE, text="This Object Only").only_this = True
        draw_object_prompts(layout, context)
        draw_assignment(layout, context.scene)
        for title, idname, icon in TEXTURE_SECTIONS:
            box = layout.box()
            box.label(text=title, icon=icon)
            if not available(idname):
                box.label(text="Not available in this build")
            elif idname == ids.TEXTURE_MULTIVIEW:
                draw_multiview(box, context.scene)
            else:
                box.operator(idname)
        layout.operator(ids.REMOVE_RESULT, icon="LOOP_BACK")


class VIEW3D_PT_depth_compositor(DepthSidebar, bpy.types.Panel):
    """Our compositor group: the generated image over the render, then depth of field and fog on the composite;
    focus distance and f-stop update it live."""

    bl_label = "Compositor"
    bl_idname = "VIEW3D_PT_depth_compositor"
    bl_order = 5
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        active = compositor_active(context.scene)
        layout.label(text="Our compositor group is active" if active else "The scene uses its own compositor",
                     icon="NODE_COMPOSITING")
        settings = context.scene.depth_addon
        col = layout.column(align=True)
        col.prop(settings, "comp_focus", expand=True)
        sub = col.column(align=True)
        sub.active = settings.comp_focus == "DISTANCE"
        sub.prop(settings, "comp_focus_distance")
        col.prop(settings, "comp_fstop")
        if settings.comp_message:
            layout.label(text=settings.comp_message, icon="ERROR")
        row = layout.row(align=True)
        row.operator(ids.SETUP_COMPOSITOR, icon="NODE_COMPOSITING")
        row.operator(ids.REMOVE_RESULT, icon="LOOP_BACK")
        row = layout.row(align=True)
        row.operator(ids.SETUP_COMPOSITOR, text="Focus on Active", icon="OBJECT_DATA").focus = "OBJECT"
        row.operator(ids.SETUP_COMPOSITOR, text="Focus at Centre", icon="PIVOT_CURSOR").focus = "PIXEL"


classes = (VIEW3D_PT_depth, VIEW3D_PT_depth_import, VIEW3D_PT_depth_generate, VIEW3D_PT_depth_texture,
           VIEW3D_PT_depth_compositor)
