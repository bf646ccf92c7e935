# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine depth paths: Workbench or Cycles Z pass, written as a multilayer EXR and read back.

Cycles (one sample, a depth-only material override) is the reference: it honours every render
visibility rule. Workbench ignores camera ray visibility, *indirect only* collections and
holdouts, so for Workbench those objects are hidden from render for the duration of the render,
and when holdouts are in the scene a second render without them finds the pixels where a holdout
is in front (its depth is smaller there), which become background as in Cycles.

The render runs with compositing off and saves the render result (``write_still``) as an
uncompressed 32-bit multilayer EXR, so no compositor is involved: the user's tree or group is
never run, edited or swapped, and the same code works on every supported Blender (the format
switch is :func:`.compat.set_multilayer_exr`). The Z pass is read with OpenEXR, or without it by
:mod:`depth_addon.io.exr_plain` (Blender itself cannot load a multilayer EXR into pixels). Every
setting goes through :class:`~.render_state.Overrides` and is restored in ``finally``.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

import bpy
import numpy as np

from ...io import exr_plain
from ..compat import ensure_node_tree
from ..render_state import Overrides, render_held
from .scene import RenderVisibility

BACKGROUND_Z = 1e9  # Cycles and Workbench write 1e10 where nothing was hit


def read_depth_pass(path: str, layer: str) -> np.ndarray:
    """The Z pass of view layer ``layer`` from a multilayer EXR Blender wrote (H×W, row 0 = top).

    :param path: The EXR file.
    :param layer: View layer name (the channel is ``<layer>.Depth.Z``).
    """
    channel = f"{layer}.Depth.Z"
    try:
        import OpenEXR
    except ImportError:
        return exr_plain.read_channel(path, channel)
    for part in OpenEXR.File(path, separate_channels=True).parts:
        if channel in part.channels:
            return np.asarray(part.channels[channel].pixels, np.float32)
    raise RuntimeError(f"the render wrote no {channel} channel to {path}")


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
    override_mat = None
    try:
        with Overrides() as ov:
            r = scene.render
            ov.set(scene, "camera", camera)
            ov.set(r, "resolution_x", width)
            ov.set(r, "resolution_y", height)
            ov.set(r, "resolution_percentage", 100)
            for attr in ("use_border", "use_sequencer", "use_motion_blur", "use_freestyle", "use_multiview",
                         "use_compositing", "use_single_layer"):
                ov.set(r, attr, attr == "use_single_layer")
            ov.set(r, "use_file_extension", True)
            ov.set(r, "filepath", os.path.join(tmpdir, "depth.exr"))
            ov.multilayer_exr(r.image_settings)
            ov.set(layer, "use_pass_z", True)
            if camera.type == "CAMERA":  # a thin lens jitters the rays: depth is the pinhole's
                ov.set(camera.data.dof, "use_dof", False)
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
                nodes = ensure_node_tree(override_mat).nodes
                nodes.clear()
                nodes.new("ShaderNodeOutputMaterial")
                ov.set(layer, "material_override", override_mat)
            render_held(write_still=True, scene=scene.name, layer=layer.name)
        files = sorted(glob.glob(os.path.join(tmpdir, "*.exr")))
        if not files:
            raise RuntimeError(f"the {engine} render wrote no depth file")
        z = read_depth_pass(files[0], layer.name)
    finally:
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
