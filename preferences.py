# SPDX-License-Identifier: GPL-3.0-or-later
"""Machine settings of the add-on (Preferences › Add-ons › Depth Addon) and what depends on them.

Per-machine choices live here, not in the .blend: the default backend, the model folder, the device,
and which Python runs the worker. What follows from them (the worker's configuration, where PyTorch
is installed and whether it is found) is :mod:`depth_addon.app.setup`.
"""

from __future__ import annotations

import bpy

from .depth_addon.app import setup
from .depth_addon.generation import available_generators

#: ``bl_idname`` of the preferences: the root package (``bl_ext.<repo>.depth_addon`` when installed).
ADDON_ID = setup.ADDON_ID

_DEVICE_ITEMS = [
    ("auto", "Auto", "The fastest device PyTorch finds: CUDA/ROCm, then Apple MPS, then CPU"),
    ("cpu", "CPU", "Always the CPU (slow for learned models, never out of GPU memory)"),
    ("cuda", "CUDA / ROCm", "NVIDIA (CUDA) or AMD (ROCm) GPU"),
    ("mps", "Apple MPS", "Apple Silicon GPU through Metal"),
]
_INSTALL_ITEMS = [
    ("auto", "Auto", "The build that matches this machine's GPU"),
    ("cpu", "CPU", "CPU-only build (smallest download)"),
    ("cuda", "CUDA", "NVIDIA GPUs"),
    ("rocm", "ROCm", "AMD GPUs (Linux)"),
    ("mps", "MPS", "Apple Silicon (macOS)"),
]
_backend_items: list[tuple[str, str, str]] = []


def _backends(_self, _context) -> list[tuple[str, str, str]]:
    """Enum items of the backend choice (kept alive in a module list, as Blender requires)."""
    if not _backend_items:
        _backend_items.extend((name, name.replace("_", " ").title(), f"Generate with the {name} backend")
                              for name in available_generators())
    return _backend_items


class DepthAddonPreferences(bpy.types.AddonPreferences):
    """Machine settings: backend, model folders, device, worker Python and the PyTorch installation."""

    bl_idname = ADDON_ID

    backend: bpy.props.EnumProperty(name="Default Backend", items=_backends,
                                    description="Backend used when the scene's Generator field is empty")
    model_dir: bpy.props.StringProperty(name="Model Folder", subtype="DIR_PATH",
                                        description="Folder with model weights for learned backends")
    controlnet_dir: bpy.props.StringProperty(
        name="Depth ControlNet", subtype="FILE_PATH",  # a file or a folder (accept the browser in it, no file picked)
        description="The diffusers backend's depth ControlNet for SD 1.5 or SDXL: a folder with config.json, or a "
                    ".safetensors file with its config.json beside it; empty when the Model Folder holds a controlnet "
                    "component (FLUX Depth needs none)")
    depth_model_dir: bpy.props.StringProperty(
        name="Depth Estimator", subtype="DIR_PATH",
        description="Folder with config.json and model.safetensors of a depth estimator (Depth Anything V2 or DPT) "
                    "for Import Photo as Mesh; empty uses ~/depth_addon_models/Depth-Anything-V2-Small-hf")
    device: bpy.props.EnumProperty(name="Device", items=_DEVICE_ITEMS, default="auto",
                                   description="Where the worker runs learned backends and the depth estimator")
    worker_python: bpy.props.StringProperty(
        name="Worker Python", subtype="FILE_PATH",
        description="Python executable that runs generation; empty uses Blender's own Python")
    torch_build: bpy.props.EnumProperty(name="PyTorch Build", items=_INSTALL_ITEMS, default="auto",
                                        description="Which PyTorch build Install PyTorch downloads")
    wheel_dir: bpy.props.StringProperty(
        name="Local Wheels", subtype="DIR_PATH",
        description="Install PyTorch from this folder of wheel files instead of downloading (no network needed)")

    def draw(self, context: bpy.types.Context) -> None:
        """Machine settings, then the PyTorch box (state, install, health check)."""
        draw_preferences(self, self.layout, context)


def draw_preferences(prefs: DepthAddonPreferences, layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """The preferences page (a function so it can be drawn into any layout).

    :param prefs: The preferences.
    :param layout: Where to draw.
    :param context: Draw context.
    """
    layout.use_property_split = True
    col = layout.column()
    col.prop(prefs, "backend")
    col.prop(prefs, "model_dir")
    col.prop(prefs, "controlnet_dir")
    col.prop(prefs, "depth_model_dir")
    col.prop(prefs, "device")
    col.prop(prefs, "worker_python", placeholder="Blender's Python")
    draw_torch_box(layout.box(), context)


def draw_torch_box(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """PyTorch state, the install and check buttons and their reports (preferences and sidebar).

    :param layout: Where to draw.
    :param context: Draw context.
    """
    prefs = setup.addon_prefs(context)
    status = setup.torch_status()
    col = layout.column(align=True)
    if status["found"]:
        col.label(text=f"PyTorch found in {status['where']}", icon="CHECKMARK")
    elif status["custom"]:
        col.label(text="PyTorch: depends on the worker Python; use Check Setup", icon="QUESTION")
    else:
        col.label(text="PyTorch is not installed: only the diffusers backend needs it", icon="INFO")
    col.label(text="embedded, analytic, baseline: run as installed, nothing to download", icon="CHECKMARK")
    col.label(text="diffusers: PyTorch (Install PyTorch below), diffusers, transformers and your own weights")
    if not bpy.app.online_access and not (prefs is not None and prefs.wheel_dir):
        col.label(text="Online access is off (Preferences › System › Network), or set Local Wheels", icon="INFO")
    if prefs is not None:
        layout.prop(prefs, "wheel_dir")
    row = layout.row(align=True)
    if prefs is not None:
        row.prop(prefs, "torch_build", text="")
    row.operator("depth.install_torch", icon="IMPORT")
    row.operator("depth.health_check", icon="CHECKMARK")
    jobs = getattr(context.window_manager, "depth_addon_jobs", None)
    if jobs is None:
        return
    if jobs.install:
        if 0.0 < jobs.install_fraction < 1.0 and hasattr(layout, "progress"):
            layout.progress(factor=jobs.install_fraction, type="BAR", text=jobs.install)
        else:
            layout.label(text=jobs.install)
    for line in jobs.health.splitlines():
        layout.label(text=line)


classes = (DepthAddonPreferences,)


def register() -> None:
    """Register the preferences class."""
    setup.forget_torch_status()
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Unregister the preferences class."""
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
