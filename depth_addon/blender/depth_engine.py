# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine depth paths: Workbench or Cycles Z pass written by a temporary compositor File Output node.

Cycles (one sample, a depth-only material override) is the reference: it honours every render
visibility rule. Workbench ignores camera ray visibility, *indirect only* collections and
holdouts, so for Workbench those objects are hidden from render for the duration of the render,
and when holdouts are in the scene a second render without them finds the pixels where a holdout
is in front (its depth is smaller there), which become background as in Cycles. Every setting
goes through :class:`~.render_state.Overrides` and is restored in ``finally``; the user's
compositor group is never edited (ours is a temporary group).
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

import bpy
import numpy as np

from .depth_scene import RenderVisibility
from .render_state import Overrides

BACKGROUND_Z = 1e9  # Cycles and Workbench write 1e10 where nothing was hit


def _read_depth_exr(path: str) -> np.ndarray:
    """Read the single-channel EXR a File Output node wrote (OpenEXR when present, else Blender)."""
    try:
        import OpenEXR
    except ImportError:
        OpenEXR = None
    if OpenEXR is not None:
        channels = OpenEXR.File(path).parts[0].channels
        return np.asarray(channels["V" if "V" in channels else next(iter(channels))].pixels, np.float32)
    image = bpy.data.images.load(path, check_existing=False)
    try:
        w, h = image.size
        px = np.empty(w * h * 4, np.float32)
        image.pixels.foreach_get(px)
        return px.reshape(h, w, 4)[::-1, :, 0].copy()
    finally:
        bpy.data.images.remove(image)


def workbench_hidden(scene: bpy.types.Scene, layer: bpy.types.ViewLayer, visibility: RenderVisibility,
                     ) -> tuple[list[bpy.types.Object], list[bpy.types.Object]]:
    """Objects Workbench would show but Cycles' camera does not, and the holdout objects.

    :param scene: The scene.
    :param layer: The view layer rendered.
    :param visibility: Its render visibility.
    :return: ``(hide, holdout)`` lists of original objects.
    """
    hide, holdout, seen = [], [], set()
    candidates = list(layer.objects)
    for ob in layer.objects:
        if ob.instance_type == "COLLECTION" and ob.instance_collection is not None:
            candidates.extend(ob.instance_collection.all_objects)
    for ob in candidates:
        if ob.session_uid in seen or ob.hide_render:
            continue
        seen.add(ob.session_uid)
        in_layer = ob.name in layer.objects
        state = visibility.object_state(ob) if in_layer else (None if not ob.visible_camera else ob.is_holdout)
        if state is None and (not ob.visible_camera or in_layer):
            hide.append(ob)
        elif state:
            holdout.append(ob)
    return hide, holdout


def _render_once(scene: bpy.types.Scene, layer: bpy.types.ViewLayer, camera: bpy.types.Object, width: int,
                 height: int, engine: str, hide: list[bpy.types.Object]) -> np.ndarray:
    tmpdir = tempfile.mkdtemp(prefix="depth_addon_")
    group = bpy.data.node_groups.new("__depth_addon_z", "CompositorNodeTree")
    override_mat = None
    try:
        with Overrides() as ov:
            r = scene.render
            ov.set(scene, "camera", camera)
            ov.set(r, "resolution_x", width)
            ov.set(r, "resolution_y", height)
            ov.set(r, "resolution_percentage", 100)
            for attr in ("use_border", "use_sequencer", "use_motion_blur", "use_freestyle", "use_single_layer"):
                ov.set(r, attr, attr == "use_single_layer")
            ov.set(r, "use_compositing", True)
            ov.set(scene, "compositing_node_group", group)
            ov.set(layer, "use_pass_z", True)  # before the Render Layers node, or it has no Depth socket
            for ob in hide:
                ov.set(ob, "hide_render", True)
            if engine == "workbench":
                ov.set(r, "engine", "BLENDER_WORKBENCH")
                ov.set(scene.display, "render_aa", "OFF")
                shading = scene.display.shading
                for attr, value in (("light", "FLAT"), ("color_type", "SINGLE"), ("show_shadows", False),
                                    ("show_cavity", False), ("show_xray", False), ("show_backface_culling", False)):
                    ov.set(shading, attr, value)
            else:
                ov.set(r, "engine", "CYCLES")
                c = scene.cycles
                for attr, value in (("samples", 1), ("use_adaptive_sampling", False), ("use_denoising", False),
                                    ("max_bounces", 0), ("use_light_tree", False), ("pixel_filter_type", "BOX"),
                                    ("filter_width", 0.01), ("device", "CPU")):
                    ov.set(c, attr, value)
                override_mat = bpy.data.materials.new("__depth_addon_depth_only")
                override_mat.node_tree.nodes.clear()
                override_mat.node_tree.nodes.new("ShaderNodeOutputMaterial")
                ov.set(layer, "material_override", override_mat)
            rl = group.nodes.new("CompositorNodeRLayers")
            rl.scene, rl.layer = scene, layer.name
            fo = group.nodes.new("CompositorNodeOutputFile")
            fo.directory, fo.file_name = tmpdir + os.sep, "z_"
            fo.format.media_type = "IMAGE"
            fo.format.file_format = "OPEN_EXR"
            fo.format.color_mode = "BW"
            fo.format.color_depth = "32"
            fo.format.exr_codec = "NONE"
            fo.file_output_items.new("FLOAT", "Depth")
            group.links.new(rl.outputs["Depth"], fo.inputs["Depth"])
            bpy.ops.render.render(scene=scene.name, layer=layer.name)
        files = sorted(glob.glob(os.path.join(tmpdir, "*.exr")))
        if not files:
            raise RuntimeError(f"the {engine} render wrote no depth file")
        z = _read_depth_exr(files[0])
    finally:
        bpy.data.node_groups.remove(group)
        if override_mat is not None:
            bpy.data.materials.remove(override_mat)
        shutil.rmtree(tmpdir, ignore_errors=True)
    if z.shape != (height, width):
        raise RuntimeError(f"the {engine} render gave {z.shape[1]}×{z.shape[0]}, expected {width}×{height}")
    return np.where(z >= BACKGROUND_Z, np.inf, z).astype(np.float32)


def render_engine_depth(scene: bpy.types.Scene, layer: bpy.types.ViewLayer, camera: bpy.types.Object, width: int,
                        height: int, engine: str, visibility: RenderVisibility) -> np.ndarray:
    """Render the Z pass with ``workbench`` or ``cycles`` and return planar depth (``inf`` background).

    :param scene: Scene to render.
    :param layer: View layer to render.
    :param camera: Camera object.
    :param width: Width in pixels.
    :param height: Height in pixels.
    :param engine: ``workbench`` or ``cycles``.
    :param visibility: Render visibility of ``layer`` (Workbench emulates camera visibility and holdouts).
    """
    if engine == "cycles":
        return _render_once(scene, layer, camera, width, height, engine, [])
    hide, holdout = workbench_hidden(scene, layer, visibility)
    z = _render_once(scene, layer, camera, width, height, engine, hide)
    if holdout:
        behind = _render_once(scene, layer, camera, width, height, engine, hide + holdout)
        z = np.where(z < behind * (1.0 - 1e-6), np.inf, z).astype(np.float32)
    return z
