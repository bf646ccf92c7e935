# SPDX-License-Identifier: GPL-3.0-or-later
"""Options of the sidebar's long-running operators, defined once for the scene's settings and the operator.

Multi-view texturing and depth sequences run for minutes as modal jobs. Blender's *Adjust Last Operation* panel
would run such an operator again synchronously, freezing Blender for the whole run, so these operators are not
registered for it: their options are scene settings drawn in the sidebar (``Scene.depth_addon_texture``,
``Scene.depth_addon_sequence``), which the sidebar's button hands to the operator (:func:`hand_over`). Scripts pass
the same options to the operator directly (``bpy.ops.depth.texture_multiview(views=8)``).
"""

from __future__ import annotations

import bpy

SIZES = [(s, s, f"{s}×{s} texels per object") for s in ("512", "1024", "2048", "4096")]
AUTO_SIZES = [("AUTO", "Auto", "Per object: enough texels to keep the detail the views painted (256-2048)"), *SIZES]
PLACEMENTS = [
    ("ORBIT", "Orbit", "Cameras evenly around the objects at one elevation"),
    ("HEMISPHERE", "Hemisphere", "Cameras spread over the upper hemisphere"),
    ("GREEDY", "Greedy Coverage", "Each next camera sees the most surface not covered yet"),
    ("CAMERAS", "Selected Cameras", "Your selected camera objects"),
]
SHADINGS = [("EMISSION", "Emission", "Show the texture exactly as generated (lighting baked in)"),
            ("PRINCIPLED", "Principled", "Use the texture as base colour of a Principled BSDF")]
MULTIVIEW_SHADINGS = [
    ("EMISSION", "Lit (as Generated)", "Show the texture exactly as generated (lighting baked in)"),
    ("PBR", "Relightable (PBR)", "Albedo, roughness, metallic and normal maps in a Principled BSDF, lit by the scene's "
     "own lights"),
    ("PBR_DISPLACEMENT", "Relightable + Displacement", "Relightable, and the height map moves the surface at render "
     "time (add a Subdivision Surface modifier for the relief's detail)"),
    SHADINGS[1]]

#: Multi-view texturing (``depth.texture_multiview``).
MULTIVIEW = {
    "placement": bpy.props.EnumProperty(name="Views", items=PLACEMENTS, default="ORBIT",
                                        description="Where the views are placed around the objects"),
    "views": bpy.props.IntProperty(name="Count", description="Number of placed views", default=4, min=1, max=32),
    "bake_size": bpy.props.EnumProperty(name="Texture Size", items=AUTO_SIZES, default="AUTO",
                                        description="Texels per side of each object's texture"),
    "view_size": bpy.props.IntProperty(name="View Size", description="Pixels on the longer side of each view",
                                       default=512, min=64, max=2048, subtype="PIXEL"),
    "conditioning": bpy.props.BoolProperty(name="Condition on Earlier Views", default=True,
                                           description="Keep what earlier views painted well (keep/refine/generate)"),
    "shading": bpy.props.EnumProperty(name="Shading", items=MULTIVIEW_SHADINGS, default="EMISSION",
                                      description="How the objects show their new textures"),
    "maps": bpy.props.BoolProperty(name="Material Maps", default=False,
                                   description="Also bake albedo, roughness, metallic, normal and height maps (always "
                                   "on for Relightable shading)"),
    "new_uv": bpy.props.BoolProperty(name="Own UV Map", default=False,
                                     description="Bake into a UV map made for the bake, added next to the objects' own "
                                     "UV maps (kept), even where their active map could be used"),
    "scene_view": bpy.props.BoolProperty(name="Scene Camera First", default=True,
                                         description="Paint what the scene camera sees from the camera itself, at the "
                                         "detail it is seen with; placed views paint the rest"),
}

#: Depth sequences (``depth.render_depth_sequence``).
SEQUENCE = {
    "frames": bpy.props.BoolProperty(name="Frame Range", description="Every frame of the scene's range", default=True),
    "all_cameras": bpy.props.BoolProperty(name="All Cameras", description="Every camera instead of the active one"),
    "write_png": bpy.props.BoolProperty(name="PNG", description="Write mapped PNGs", default=True),
    "write_exr": bpy.props.BoolProperty(name="EXR", description="Write metric EXRs", default=True),
}


class DepthAddonTextureSettings(bpy.types.PropertyGroup):
    """The sidebar's multi-view texturing options (``Scene.depth_addon_texture``)."""

    __annotations__ = dict(MULTIVIEW)


class DepthAddonSequenceSettings(bpy.types.PropertyGroup):
    """The sidebar's depth sequence options (``Scene.depth_addon_sequence``)."""

    __annotations__ = dict(SEQUENCE)


classes = (DepthAddonTextureSettings, DepthAddonSequenceSettings)


#: Operator idname → the scene property holding its options.
SCENE_OPTIONS = {"depth.texture_multiview": "depth_addon_texture",
                 "depth.render_depth_sequence": "depth_addon_sequence"}


def scene_options(scene: bpy.types.Scene | None, idname: str) -> bpy.types.PropertyGroup | None:
    """The scene's settings holding the options of operator ``idname``; None for other operators.

    :param scene: The scene (None: no settings).
    :param idname: ``depth.*`` operator idname.
    """
    prop = SCENE_OPTIONS.get(idname)
    return getattr(scene, prop, None) if prop is not None and scene is not None else None


def hand_over(op: bpy.types.OperatorProperties, settings: bpy.types.PropertyGroup) -> None:
    """Set a sidebar button's operator options to the scene's settings (every option both have).

    :param op: What ``layout.operator`` returned.
    :param settings: ``Scene.depth_addon_texture`` or ``Scene.depth_addon_sequence``.
    """
    for name in settings.bl_rna.properties.keys():
        if name != "rna_type" and name in op.bl_rna.properties:
            setattr(op, name, getattr(settings, name))


def register() -> None:
    """Register the groups and their scene properties."""
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.depth_addon_texture = bpy.props.PointerProperty(type=DepthAddonTextureSettings)
    bpy.types.Scene.depth_addon_sequence = bpy.props.PointerProperty(type=DepthAddonSequenceSettings)


def unregister() -> None:
    """Remove the scene properties and unregister the groups."""
    del bpy.types.Scene.depth_addon_sequence
    del bpy.types.Scene.depth_addon_texture
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
