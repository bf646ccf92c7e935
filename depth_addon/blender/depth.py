# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth out of a scene: float32 metres from a camera, through the fastest path that works.

Three paths give the same planar camera-Z depth (they agree to about 1e-5 relative):

* ``gpu`` — the evaluated meshes drawn with a linear-depth shader (:mod:`.depth_gpu`), milliseconds;
* ``workbench`` — Workbench Z pass written by a temporary compositor File Output node;
* ``cycles`` — Cycles Z pass, one sample, with a depth-only material override (always works).

``auto`` tries ``gpu`` and falls back to ``workbench``. The engine paths change render settings,
the view layer and the scene's compositor for the duration of one render; everything is restored
in ``finally`` and the user's compositor group is never edited (ours is a temporary group).
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import bpy
import numpy as np

from ..camera import CameraModel
from ..errors import BadInput
from . import depth_gpu
from .camera import camera_model, render_size, resolve_camera
from .render_state import Overrides

ENGINES = ("auto", "gpu", "workbench", "cycles")
_BACKGROUND_Z = 1e9  # Cycles and Workbench write 1e10 where nothing was hit


@dataclass
class DepthResult:
    """Depth rendered from one camera.

    :param depth: H×W float32 metres (row 0 = top); ``inf`` where nothing was hit.
    :param mask: H×W bool, True where geometry was hit.
    :param camera: The camera model the depth belongs to.
    :param engine: The path that produced it (``gpu``, ``workbench`` or ``cycles``).
    :param radial: True when ``depth`` is distance along the ray rather than camera Z.
    :param seconds: Wall time of the render.
    """

    depth: np.ndarray
    mask: np.ndarray
    camera: CameraModel
    engine: str
    radial: bool = False
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)


def _view_layer(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    ctx_layer = getattr(bpy.context, "view_layer", None)
    if bpy.context.scene == scene and ctx_layer is not None:
        return ctx_layer
    return scene.view_layers[0]


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


def _render_engine_depth(scene: bpy.types.Scene, camera: bpy.types.Object, width: int, height: int,
                         engine: str) -> np.ndarray:
    """Render the Z pass with Workbench or Cycles and return planar depth (``inf`` background)."""
    layer = _view_layer(scene)
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
    return np.where(z >= _BACKGROUND_Z, np.inf, z).astype(np.float32)


def _gpu_depth(scene: bpy.types.Scene, camera: bpy.types.Object, cam: CameraModel) -> np.ndarray:
    depsgraph = bpy.context.evaluated_depsgraph_get() if bpy.context.scene == scene else None
    if depsgraph is None:
        depsgraph = scene.view_layers[0].depsgraph
    verts, tris = depth_gpu.scene_triangles(depsgraph)
    view = np.linalg.inv(cam.matrix)
    proj = np.array(camera.evaluated_get(depsgraph).calc_matrix_camera(
        depsgraph, x=cam.width, y=cam.height,
        scale_x=scene.render.pixel_aspect_x, scale_y=scene.render.pixel_aspect_y))
    return depth_gpu.draw_depth(verts, tris, view, proj, cam.width, cam.height)


def render_depth(scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                 resolution: tuple[int, int] | None = None, engine: str = "auto", radial: bool = False,
                 ) -> DepthResult:
    """Render depth in metres from ``camera`` (default: the scene camera).

    :param scene: Scene to render; the context scene when None.
    :param camera: Camera object or name; the scene camera when None.
    :param resolution: ``(width, height)``; the scene's resolution × percentage when None.
    :param engine: ``auto``, ``gpu``, ``workbench`` or ``cycles``.
    :param radial: Return distance along each pixel's ray instead of planar camera Z.
    :raises BadInput: No camera, bad resolution, unknown engine.
    """
    if engine not in ENGINES:
        raise BadInput(f"unknown depth engine {engine!r}; use one of {', '.join(ENGINES)}")
    scene = scene or bpy.context.scene
    cam_obj = resolve_camera(scene, camera)
    width, height = render_size(scene, resolution)
    cam = camera_model(scene, cam_obj, width, height)
    start = time.perf_counter()
    used = engine
    if engine in ("auto", "gpu"):
        try:
            depth = _gpu_depth(scene, cam_obj, cam)
            used = "gpu"
        except depth_gpu.GPUUnavailable:
            if engine == "gpu":
                raise
            used = "workbench"
    if used in ("workbench", "cycles"):
        depth = _render_engine_depth(scene, cam_obj, width, height, used)
    if radial:
        depth = cam.planar_to_radial(depth)
    return DepthResult(depth=depth, mask=np.isfinite(depth), camera=cam, engine=used, radial=radial,
                       seconds=time.perf_counter() - start)
