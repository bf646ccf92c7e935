# SPDX-License-Identifier: GPL-3.0-or-later
"""Machine settings of the add-on (Preferences › Add-ons › Depth Addon) and what depends on them.

Per-machine choices live here, not in the .blend: the default backend, the model folder, the device,
and which Python runs the worker. PyTorch is installed into the extension's own user folder
(:func:`site_packages_dir`) and handed to the worker on its ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import os

import bpy

from .depth_addon.generation import DEFAULT_GENERATOR, available_generators
from .depth_addon.worker.config import WorkerConfig

#: ``bl_idname`` of the preferences: the root package (``bl_ext.<repo>.depth_addon`` when installed).
ADDON_ID = __package__

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
_torch_cache: dict | None = None


def _backends(_self, _context) -> list[tuple[str, str, str]]:
    """Enum items of the backend choice (kept alive in a module list, as Blender requires)."""
    if not _backend_items:
        _backend_items.extend((name, name.replace("_", " ").title(), f"Generate with the {name} backend")
                              for name in available_generators())
    return _backend_items


class DepthAddonPreferences(bpy.types.AddonPreferences):
    """Machine settings: backend, model folder, device, worker Python and the PyTorch installation."""

    bl_idname = ADDON_ID

    backend: bpy.props.EnumProperty(name="Default Backend", items=_backends,
                                    description="Backend used when the scene's Generator field is empty")
    model_dir: bpy.props.StringProperty(name="Model Folder", subtype="DIR_PATH",
                                        description="Folder with model weights for learned backends")
    device: bpy.props.EnumProperty(name="Device", items=_DEVICE_ITEMS, default="auto")
    worker_python: bpy.props.StringProperty(
        name="Worker Python", subtype="FILE_PATH",
        description="Python executable that runs generation; empty uses Blender's own Python")
    torch_build: bpy.props.EnumProperty(name="PyTorch Build", items=_INSTALL_ITEMS, default="auto")

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
    col.prop(prefs, "device")
    col.prop(prefs, "worker_python", placeholder="Blender's Python")
    draw_torch_box(layout.box(), context)


def draw_torch_box(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """PyTorch state, the install and check buttons and their reports (preferences and sidebar).

    :param layout: Where to draw.
    :param context: Draw context.
    """
    prefs = addon_prefs(context)
    status = torch_status()
    col = layout.column(align=True)
    if status["found"]:
        col.label(text=f"PyTorch found in {status['where']}", icon="CHECKMARK")
    elif status["custom"]:
        col.label(text="PyTorch: depends on the worker Python; use Check Setup", icon="QUESTION")
    else:
        col.label(text="PyTorch is not installed: generation needs it", icon="ERROR")
    if not bpy.app.online_access:
        col.label(text="Online access is off (Preferences › System › Network)", icon="INFO")
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


def addon_prefs(context: bpy.types.Context | None = None) -> DepthAddonPreferences | None:
    """This add-on's preferences, or None when it is registered without an add-on entry (scripts, tests).

    :param context: Context; ``bpy.context`` when None.
    """
    addon = (context or bpy.context).preferences.addons.get(ADDON_ID)
    return None if addon is None else addon.preferences


def site_packages_dir(create: bool = False) -> str:
    """Folder where "Install PyTorch" puts packages: the extension's user folder, ``site-packages``.

    :param create: Create it when missing.
    """
    try:
        return bpy.utils.extension_path_user(ADDON_ID, path="site-packages", create=create)
    except ValueError:  # loaded as a plain add-on, not as an extension
        path = bpy.utils.user_resource("EXTENSIONS", path=os.path.join(".user", ADDON_ID, "site-packages"))
        if create:
            os.makedirs(path, exist_ok=True)
        return path


def worker_config(context: bpy.types.Context | None = None) -> WorkerConfig:
    """How to start the worker, from the preferences (defaults when there are none).

    :param context: Context; ``bpy.context`` when None.
    """
    prefs = addon_prefs(context)
    site = site_packages_dir()
    paths = (site,) if os.path.isdir(site) else ()
    python = bpy.path.abspath(prefs.worker_python) if prefs is not None and prefs.worker_python else ""
    env = {"DEPTH_ADDON_DEVICE": prefs.device if prefs is not None else "auto"}
    if prefs is not None and prefs.model_dir:
        env["DEPTH_ADDON_MODELS"] = bpy.path.abspath(prefs.model_dir)
    return WorkerConfig(python=python, paths=paths, env=env)


def generator_name(context: bpy.types.Context) -> str:
    """The backend for this scene: its own Generator field, else the preferences' default.

    :param context: Context with a scene.
    """
    own = context.scene.depth_addon.generator.strip() if context.scene is not None else ""
    if own:
        return own
    prefs = addon_prefs(context)
    return prefs.backend if prefs is not None and prefs.backend else DEFAULT_GENERATOR


def torch_status(refresh: bool = False) -> dict:
    """Whether the worker will find PyTorch, without importing it (cached; ``refresh`` re-checks).

    :param refresh: Look again (after an install).
    :return: ``{"found": bool, "where": str, "custom": bool}``; ``custom`` when a worker Python is set,
        whose packages only a setup check can see.
    """
    global _torch_cache
    if _torch_cache is None or refresh:
        prefs = addon_prefs()
        custom = bool(prefs is not None and prefs.worker_python)
        site = site_packages_dir()
        where = ""
        if os.path.isdir(os.path.join(site, "torch")):
            where = site
        else:
            spec = importlib.util.find_spec("torch")
            if spec is not None and spec.origin:
                where = os.path.dirname(os.path.dirname(spec.origin))
        _torch_cache = {"found": bool(where) and not custom, "where": where, "custom": custom}
    return _torch_cache


classes = (DepthAddonPreferences,)


def register() -> None:
    """Register the preferences class."""
    global _torch_cache
    _torch_cache = None
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Unregister the preferences class."""
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
