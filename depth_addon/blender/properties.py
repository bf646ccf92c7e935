# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings stored on the scene (``scene.depth_addon``), shared by the sidebar, operators and CLI."""


import bpy

_MAPPING_ITEMS = [
    ("inverse", "Inverse (disparity)", "1/depth, near is bright: what depth ControlNets and MiDaS expect"),
    ("linear", "Linear", "Metres scaled linearly between near and far"),
    ("log", "Log", "Logarithm of depth: even detail near and far"),
]

_ENGINE_ITEMS = [
    ("auto", "Auto", "Fastest path that works here: GPU offscreen, then Workbench"),
    ("gpu", "GPU Offscreen", "Draw the evaluated meshes with a linear-depth shader (fastest)"),
    ("workbench", "Workbench", "Workbench Z pass through a temporary compositor File Output node"),
    ("cycles", "Cycles", "Cycles Z pass with a depth-only material override (slowest, always works)"),
]


class DepthAddonSettings(bpy.types.PropertyGroup):
    """Per-scene settings of the Depth sidebar."""

    engine: bpy.props.EnumProperty(name="Engine", items=_ENGINE_ITEMS, default="auto")
    mapping: bpy.props.EnumProperty(name="Mapping", items=_MAPPING_ITEMS, default="inverse")
    radial: bpy.props.BoolProperty(name="Radial", description="Distance along the ray instead of camera Z")
    output_dir: bpy.props.StringProperty(
        name="Output", description="Folder for depth maps and generated images", subtype="DIR_PATH", default="//depth/"
    )
    prompt: bpy.props.StringProperty(name="Prompt", description="What the generator should paint", default="")
    seed: bpy.props.IntProperty(name="Seed", description="Same seed, same image", default=0, min=0)
    generator: bpy.props.StringProperty(name="Generator", description="Generator name", default="")


classes = (DepthAddonSettings,)


def register() -> None:
    """Register the property group and attach it to ``bpy.types.Scene.depth_addon``."""
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.depth_addon = bpy.props.PointerProperty(type=DepthAddonSettings)


def unregister() -> None:
    """Remove the scene property and unregister the property group."""
    del bpy.types.Scene.depth_addon
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
