# SPDX-License-Identifier: GPL-3.0-or-later
"""The fast depth path: draw the evaluated scene with a linear-depth shader into a float offscreen.

Headless Blender creates its GPU context only when something renders, so :func:`ensure_gpu` runs
one 8×8 Workbench render on a throw-away scene the first time. ``gpu.types.Buffer`` exposes
reversed strides through the buffer protocol in Blender 5.0, so pixels are re-strided, not copied
through ``to_list()``. Geometry comes from the depsgraph (modifiers, instances, geometry nodes;
curves, text and metaballs through ``to_mesh``) in world space.
"""

from __future__ import annotations

import bpy
import gpu
import numpy as np
from mathutils import Matrix

from ..errors import DepthAddonError

_GEOMETRY_TYPES = {"MESH", "CURVE", "SURFACE", "FONT", "META", "CURVES_LEGACY"}
_state: dict = {}


class GPUUnavailable(DepthAddonError):
    """The ``gpu`` module cannot draw in this process (no context could be created)."""


def _init_context_headless() -> None:
    scene = bpy.data.scenes.new("__depth_gpu_init")
    cam_data = bpy.data.cameras.new("__depth_gpu_init")
    cam = bpy.data.objects.new("__depth_gpu_init", cam_data)
    try:
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.render.resolution_x = scene.render.resolution_y = 8
        scene.collection.objects.link(cam)
        scene.camera = cam
        bpy.ops.render.render(scene=scene.name)
    finally:
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(cam_data)
        bpy.data.scenes.remove(scene)


def ensure_gpu() -> gpu.types.GPUShader:
    """Make sure the GPU context exists and return the cached linear-depth shader.

    :raises GPUUnavailable: When the ``gpu`` module cannot draw here.
    """
    if "shader" in _state:
        return _state["shader"]
    try:
        gpu.types.GPUOffScreen(4, 4, format="RGBA32F").free()
    except SystemError:
        if not bpy.app.background:
            raise GPUUnavailable("the gpu module cannot draw in this Blender session") from None
        _init_context_headless()
        try:
            gpu.types.GPUOffScreen(4, 4, format="RGBA32F").free()
        except SystemError as exc:
            raise GPUUnavailable(f"no GPU context after a Workbench render: {exc}") from None
    info = gpu.types.GPUShaderCreateInfo()
    info.push_constant("MAT4", "viewMat")
    info.push_constant("MAT4", "projMat")
    info.vertex_in(0, "VEC3", "pos")
    iface = gpu.types.GPUStageInterfaceInfo("depth_addon_iface")
    iface.smooth("FLOAT", "vz")
    info.vertex_out(iface)
    info.fragment_out(0, "VEC4", "FragColor")
    info.vertex_source("void main(){vec4 v = viewMat * vec4(pos, 1.0); vz = -v.z; gl_Position = projMat * v;}")
    info.fragment_source("void main(){FragColor = vec4(vz, 0.0, 0.0, 1.0);}")
    _state["shader"] = gpu.shader.create_from_info(info)
    return _state["shader"]


def buffer_to_numpy(buf: gpu.types.Buffer) -> np.ndarray:
    """Copy a ``gpu.types.Buffer`` into a C-ordered numpy array (fixes the reversed strides)."""
    dims = tuple(buf.dimensions)
    a = np.asarray(buf)
    strides = [a.itemsize]
    for d in reversed(dims[1:]):
        strides.insert(0, strides[0] * d)
    return np.lib.stride_tricks.as_strided(a, shape=dims, strides=tuple(strides)).copy()


def _is_rendered(inst: bpy.types.DepsgraphObjectInstance) -> bool:
    original = inst.object.original
    if original.hide_render or original.type not in _GEOMETRY_TYPES:
        return False
    if not inst.is_instance:
        return True
    parent = inst.parent.original if inst.parent else None
    return parent is None or not parent.hide_render


def scene_triangles(depsgraph: bpy.types.Depsgraph) -> tuple[np.ndarray, np.ndarray]:
    """World-space vertices (N×3 float32) and triangles (T×3 int32) of everything that renders.

    :param depsgraph: Evaluated depsgraph of the scene and view layer to draw.
    """
    verts, tris, offset = [], [], 0
    for inst in depsgraph.object_instances:
        if not _is_rendered(inst):
            continue
        obj = inst.object
        owned = obj.type != "MESH"
        me = obj.to_mesh() if owned else obj.data
        try:
            if me is None or not len(me.loop_triangles):
                continue
            co = np.empty(len(me.vertices) * 3, np.float32)
            me.vertices.foreach_get("co", co)
            tri = np.empty(len(me.loop_triangles) * 3, np.int32)
            me.loop_triangles.foreach_get("vertices", tri)
        finally:
            if owned:
                obj.to_mesh_clear()
        m = np.array(inst.matrix_world, np.float32)
        verts.append(co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3])
        tris.append(tri.reshape(-1, 3) + offset)
        offset += len(co) // 3
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    return np.concatenate(verts), np.concatenate(tris)


def draw_depth(verts: np.ndarray, tris: np.ndarray, view: np.ndarray, proj: np.ndarray, width: int, height: int,
               ) -> np.ndarray:
    """Rasterise triangles and return planar camera-Z depth (H×W float32, row 0 = top, ``inf`` = empty).

    :param verts: World-space vertices.
    :param tris: Triangle indices into ``verts``.
    :param view: World-to-camera 4×4 matrix.
    :param proj: OpenGL projection matrix for ``width``×``height``.
    :param width: Image width in pixels.
    :param height: Image height in pixels.
    """
    shader = ensure_gpu()
    offscreen = gpu.types.GPUOffScreen(width, height, format="RGBA32F")
    try:
        with offscreen.bind():
            fb = gpu.state.active_framebuffer_get()
            fb.clear(color=(float("inf"), 0.0, 0.0, 0.0), depth=1.0)
            if len(tris):
                fmt = gpu.types.GPUVertFormat()
                fmt.attr_add(id="pos", comp_type="F32", len=3, fetch_mode="FLOAT")
                vbo = gpu.types.GPUVertBuf(len=len(verts), format=fmt)
                vbo.attr_fill(id="pos", data=np.ascontiguousarray(verts, np.float32))
                ibo = gpu.types.GPUIndexBuf(type="TRIS", seq=np.ascontiguousarray(tris, np.int32))
                batch = gpu.types.GPUBatch(type="TRIS", buf=vbo, elem=ibo)
                gpu.state.depth_test_set("LESS")
                gpu.state.depth_mask_set(True)
                try:
                    shader.bind()
                    shader.uniform_float("viewMat", Matrix([list(r) for r in view]))
                    shader.uniform_float("projMat", Matrix([list(r) for r in proj]))
                    batch.draw(shader)
                finally:
                    gpu.state.depth_test_set("NONE")
                    gpu.state.depth_mask_set(False)
            buf = fb.read_color(0, 0, width, height, 4, 0, "FLOAT")
    finally:
        offscreen.free()
    return buffer_to_numpy(buf)[::-1, :, 0].copy()
