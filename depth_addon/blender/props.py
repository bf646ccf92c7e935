# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings stored on the scene (``scene.depth_addon``), shared by the sidebar, operators and CLI.

The depth range (``near``/``far``) is stored here: with ``lock_range`` every view and frame uses
it, otherwise each render fits its own range and writes it back, so ticking *Lock Range* freezes
the range last seen.
"""


import bpy

from ..errors import BadInput
from . import compat
from .compositor import group as compositor_group
from .depth import cache as depth_cache
from .depth import gpu as depth_gpu
from .depth import preview as depth_preview

_MAPPING_ITEMS = [
    ("inverse", "Inverse (disparity)", "1/depth, near is bright: what depth ControlNets and MiDaS expect"),
    ("linear", "Linear", "Metres scaled linearly between near and far"),
    ("log", "Log", "Logarithm of depth: even detail near and far"),
]

_ENGINE_ITEMS = [
    ("auto", "Auto", "Fastest path that works here: GPU offscreen, then Workbench"),
    ("gpu", "GPU Offscreen", "Draw the evaluated meshes with a linear-depth shader (fastest)"),
    ("workbench", "Workbench", "Workbench Z pass, read from a temporary multilayer EXR (compositor untouched)"),
    ("cycles", "Cycles", "Cycles Z pass with a depth-only material override (slowest, always works)"),
]


_PATH_OPTIONS = compat.path_property_options()  # 4.5+ warns about "//" paths without its flag

_RANGE_ITEMS = [
    ("percentile", "Percentile", "Near/far from the 1st and 99th percentile of the rendered depth"),
    ("frustum", "Frustum", "Near/far from the geometry inside the camera frustum (steadier when the camera moves)"),
]


def _live_preview_update(settings: bpy.types.PropertyGroup, _context: bpy.types.Context) -> None:
    """The preview's handler is shared: it stays while any scene still has its preview on."""
    depth_preview.set_enabled(settings.live_preview or any(
        getattr(getattr(sc, "depth_addon", None), "live_preview", False) for sc in bpy.data.scenes))


def _refresh(settings: bpy.types.PropertyGroup, _context: bpy.types.Context) -> None:
    """A depth setting changed: refresh the live preview (add-on properties do not tag the depsgraph)."""
    depth_preview.request_update(settings.id_data)


_COMP_FOCUS_ITEMS = [
    ("CAMERA", "Camera", "The scene camera's own focus distance (or its focus object)"),
    ("DISTANCE", "Distance", "The focus distance below, in metres along the view"),
]


def _compositor_update(settings: bpy.types.PropertyGroup, _context: bpy.types.Context) -> None:
    """A compositor setting changed: rebuild our group while it is active (the user's compositor is not touched).

    A refused value (focus behind every surface ...) leaves the group as it was and shows why in the panel.
    """
    scene = settings.id_data
    if not compositor_group.is_compositor_active(scene):
        return
    focus = settings.comp_focus_distance if settings.comp_focus == "DISTANCE" else None
    try:
        compositor_group.refresh_compositor(scene, focus_distance=focus, fstop=settings.comp_fstop)
        settings.comp_message = compositor_group.compositor_note(scene)
    except BadInput as exc:
        settings.comp_message = str(exc)


# Callbacks by name: a plain function would keep ``bpy`` alive past exit in 4.2 (see compat.detached_callback).
_REFRESH = compat.detached_callback(__name__, "_refresh")
_LIVE_PREVIEW = compat.detached_callback(__name__, "_live_preview_update")
_COMPOSITOR = compat.detached_callback(__name__, "_compositor_update")


class DepthAddonSettings(bpy.types.PropertyGroup):
    """Per-scene settings of the Depth sidebar."""

    engine: bpy.props.EnumProperty(name="Engine", items=_ENGINE_ITEMS, default="auto", update=_REFRESH,
                                    description="How depth is rendered (Auto: the fastest path that works here)")
    mapping: bpy.props.EnumProperty(name="Mapping", items=_MAPPING_ITEMS, default="inverse", update=_REFRESH,
                                     description="How distances become the grey values a model gets")
    radial: bpy.props.BoolProperty(name="Radial", description="Distance along the ray instead of camera Z",
                                   update=_REFRESH)
    invert: bpy.props.BoolProperty(name="Invert", description="Flip the mapped values (near dark instead of bright)",
                                   update=_REFRESH)
    range_mode: bpy.props.EnumProperty(name="Range", items=_RANGE_ITEMS, default="percentile", update=_REFRESH,
                                        description="How each render fits Near/Far while the range is not locked")
    lock_range: bpy.props.BoolProperty(
        name="Lock Range", description="Use Near/Far below for every view and frame instead of fitting each render",
        update=_REFRESH,
    )
    near: bpy.props.FloatProperty(
        name="Near", description="Depth mapped to the near end; the last fitted value unless the range is locked",
        default=0.1, min=1e-6, soft_max=1000.0, subtype="DISTANCE", unit="LENGTH", precision=4, update=_REFRESH
    )
    far: bpy.props.FloatProperty(
        name="Far", description="Depth mapped to the far end; the last fitted value unless the range is locked",
        default=100.0, min=1e-6, soft_max=10000.0, subtype="DISTANCE", unit="LENGTH", precision=4, update=_REFRESH
    )
    bits: bpy.props.EnumProperty(
        name="PNG Bits", items=[("16", "16-bit", "65536 grey levels"), ("8", "8-bit", "256 grey levels")],
        default="16", update=_REFRESH, description="Grey levels of the depth PNG and of the Depth Map image"
    )
    live_preview: bpy.props.BoolProperty(
        name="Live Preview", description="Keep the \"Depth Preview\" image up to date with the active camera",
        update=_LIVE_PREVIEW
    )
    preview_size: bpy.props.IntProperty(
        name="Preview Size", description="Long side of the live preview in pixels", default=512, min=64, max=2048,
        subtype="PIXEL", update=_REFRESH,
    )
    output_dir: bpy.props.StringProperty(
        name="Output", description="Folder for depth maps and generated images", subtype="DIR_PATH", default="//depth/",
        options=_PATH_OPTIONS,
    )
    prompt: bpy.props.StringProperty(name="Prompt", description="What the generator should paint", default="")
    seed: bpy.props.IntProperty(name="Seed", description="Same seed, same image", default=0, min=0)
    generator: bpy.props.StringProperty(
        name="Generator", default="",
        description="Name of the backend that paints the images; empty uses the Default Backend of the add-on's "
                    "preferences")
    comp_focus: bpy.props.EnumProperty(name="Focus", items=_COMP_FOCUS_ITEMS, default="CAMERA", update=_COMPOSITOR,
                                        description="Where our compositor's depth of field is sharp")
    comp_focus_distance: bpy.props.FloatProperty(
        name="Focus Distance", description="Distance in focus for our compositor's depth of field",
        default=10.0, min=0.001, soft_max=1000.0, subtype="DISTANCE", unit="LENGTH", update=_COMPOSITOR)
    comp_fstop: bpy.props.FloatProperty(
        name="F-Stop", description="Aperture of our compositor's depth of field; smaller blurs more (thin lens)",
        default=2.8, min=0.001, soft_min=0.05, max=128.0, precision=3, update=_COMPOSITOR)
    comp_message: bpy.props.StringProperty(name="Compositor Message",
                                           description="Why the last compositor change was refused or limited")


class DepthAddonJobStatus(bpy.types.PropertyGroup):
    """Job status mirrored for drawing (window manager; not saved, not undone)."""

    fraction: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    text: bpy.props.StringProperty(name="Status", default="Idle")
    health: bpy.props.StringProperty(name="Setup Report", description="Result of the last setup check")
    install: bpy.props.StringProperty(name="Install", description="State of the PyTorch installation")
    install_fraction: bpy.props.FloatProperty(name="Install Progress", min=0.0, max=1.0, subtype="FACTOR")


class DepthAddonGenerateSettings(bpy.types.PropertyGroup):
    """Generation settings beyond prompt and seed (used by backends that support them)."""

    negative_prompt: bpy.props.StringProperty(name="Negative", description="What the generator should avoid")
    steps: bpy.props.IntProperty(name="Steps", description="Sampling steps", default=20, min=1, max=200)
    strength: bpy.props.FloatProperty(name="Strength", description="How strongly depth steers the image",
                                      default=1.0, min=0.0, max=2.0)
    variations: bpy.props.IntProperty(name="Variations", description="Images per camera, with seeds seed, seed+1, …",
                                      default=1, min=1, max=16)
    use_compositor: bpy.props.BoolProperty(name="Compositor", description="Also layer the image over the render",
                                           default=True)
    only_selected: bpy.props.BoolProperty(name="Selected Only", description="Project onto the selected meshes only")
    all_cameras: bpy.props.BoolProperty(name="Selected Cameras",
                                        description="Queue one job per selected camera instead of the scene camera")
    relightable: bpy.props.BoolProperty(name="Relightable (PBR)", default=False,
                                        description="Project albedo, roughness, metallic and relief maps into a "
                                        "Principled material lit by the scene's own lights, instead of the lit "
                                        "image as generated")


classes = (DepthAddonSettings, DepthAddonJobStatus, DepthAddonGenerateSettings)


def object_prompts(scene: bpy.types.Scene) -> dict[str, str]:
    """Object name → the Object Prompt set on it in the sidebar (objects without one are left out).

    :param scene: The scene whose objects are read.
    """
    return {o.name: text.strip() for o in scene.objects  # the add-on's property, or without it the value stored
            if isinstance(text := getattr(o, "depth_addon_prompt", None) or o.get("depth_addon_prompt"), str)
            and text.strip()}


def register() -> None:
    """Register the property groups: ``Scene.depth_addon``, ``Scene.depth_addon_generate`` and the window
    manager's job status ``WindowManager.depth_addon_jobs``."""
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.depth_addon = bpy.props.PointerProperty(type=DepthAddonSettings)
    bpy.types.Scene.depth_addon_generate = bpy.props.PointerProperty(type=DepthAddonGenerateSettings)
    bpy.types.WindowManager.depth_addon_jobs = bpy.props.PointerProperty(type=DepthAddonJobStatus)
    bpy.types.Object.depth_addon_prompt = bpy.props.StringProperty(
        name="Object Prompt", default="", description="What this object is painted as; wins over the routing of "
        "the scene prompt (empty: the scene prompt decides)")
    depth_preview.watch_files(True)


def unregister() -> None:
    """Stop the live preview and depth caches, remove the scene property, unregister the property group."""
    depth_preview.watch_files(False)
    depth_preview.set_enabled(False)
    depth_cache.remove_handlers()
    depth_gpu.release()
    del bpy.types.Object.depth_addon_prompt
    del bpy.types.WindowManager.depth_addon_jobs
    del bpy.types.Scene.depth_addon_generate
    del bpy.types.Scene.depth_addon
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
