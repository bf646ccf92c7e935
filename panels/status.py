# SPDX-License-Identifier: GPL-3.0-or-later
"""The status line shared by the 3D View and Image Editor: missing dependencies, job progress, preview."""

import textwrap

import bpy

from ..depth_addon.app.jobs import QUEUE
from ..depth_addon.app.setup import ADDON_ID, generator_name, missing_for
from ..operators import ids


def draw_dependencies(layout: bpy.types.UILayout, backend: str) -> bool:
    """Explain what the chosen backend still needs before it can run (the default needs nothing); True when
    something is missing.

    :param layout: Where to draw.
    :param backend: The backend that would generate.
    """
    missing = missing_for(backend)
    if missing is None:
        return False
    col = layout.column(align=True)
    if "PyTorch" in missing:
        col.label(text="PyTorch is not installed", icon="ERROR")
        col.label(text=f"The {backend!r} backend needs it; install it once in the preferences.")
        col.operator("preferences.addon_show", text="Open Preferences", icon="PREFERENCES").module = ADDON_ID
    else:
        col.label(text=f"The {backend!r} backend cannot run here", icon="ERROR")
        col.label(text=missing.split(": ", 1)[-1])
        if "Preferences" in missing or "Model Folder" in missing:
            col.operator("preferences.addon_show", text="Open Preferences", icon="PREFERENCES").module = ADDON_ID
    return True


def draw_wrapped(layout: bpy.types.UILayout, text: str, icon: str = "INFO", width: int = 40) -> None:
    """``text`` in lines that fit the sidebar's default width (a label longer than that is cut off), the icon on
    the first.

    :param layout: Where to draw.
    :param text: The text.
    :param icon: Icon of the first line.
    :param width: Characters per line.
    """
    col = layout.column(align=True)
    col.scale_y = 0.8
    for k, line in enumerate(textwrap.wrap(text, width)):
        col.label(text=line, icon=icon if k == 0 else "BLANK1")


def _image_icon(image: bpy.types.Image | None) -> int:
    """Icon id of an image thumbnail, 0 when there is none yet."""
    if image is None:
        return 0
    try:
        return image.preview_ensure().icon_id
    except (AttributeError, RuntimeError):
        return 0


def draw_job_status(layout: bpy.types.UILayout, context: bpy.types.Context, preview: bool = True) -> None:
    """Progress of the running job (step, ETA), Cancel, Release Model and the latest preview.

    :param layout: Where to draw.
    :param context: Draw context.
    :param preview: Also show the preview thumbnail.
    """
    status = getattr(context.window_manager, "depth_addon_jobs", None)
    text = status.text if status is not None else "Idle"
    col = layout.column(align=True)
    running = QUEUE.running
    if QUEUE.busy:
        fraction = running.fraction if running is not None else 0.0
        col.progress(factor=fraction, type="BAR", text=text)
        if running is not None and running.step:
            col.label(text=f"Step {running.step}: {running.message}")
        col.operator(ids.CANCEL_JOB, text="Cancel (Esc)", icon="CANCEL")
    else:
        last = QUEUE.history[0] if QUEUE.history else None
        icon = {"done": "CHECKMARK", "error": "ERROR", "cancelled": "CANCEL"}.get(last.state if last else "", "INFO")
        if last is not None and last.state == "error":  # which job, then why, all of it
            col.label(text=f"Failed: {last.label}", icon=icon)
            draw_wrapped(col, last.error, "BLANK1")
        else:
            col.label(text=text, icon=icon)
        if QUEUE.worker_alive:
            col.operator(ids.RELEASE_MODEL, icon="TRASH")
    image = bpy.data.images.get(QUEUE.preview) if preview and QUEUE.preview else None
    icon_id = _image_icon(image)
    if icon_id:
        layout.template_icon(icon_value=icon_id, scale=6.0)


class VIEW3D_PT_depth_status(bpy.types.Panel):
    """Status line of the Depth tab: what is missing, what runs and how far it is."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Depth"
    bl_label = "Status"
    bl_idname = "VIEW3D_PT_depth_status"
    bl_order = 0

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        draw_dependencies(layout, generator_name(context))
        draw_job_status(layout, context)


classes = (VIEW3D_PT_depth_status,)
