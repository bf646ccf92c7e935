# SPDX-License-Identifier: GPL-3.0-or-later
"""The fast depth path: cached mesh batches drawn with a linear-depth shader into float targets.

* Context: headless Blender creates its GPU context only when something renders. The cheapest
  trigger found is a 1×1 render with a throw-away Python render engine that asks for a GPU
  context (``bl_use_gpu_context``), about 40 % cheaper than an 8×8 Workbench render because no
  Workbench shaders are compiled. The same engine also gives us a *render* depsgraph when the
  viewport one would differ (see :func:`.depth_scene.viewport_differs`).
* Geometry: one batch per mesh (:mod:`.depth_cache`), drawn instanced; per-instance modelview
  rows, normal matrix and flags live in a float texture, so moving objects or the camera never
  re-uploads geometry. Instances wholly outside the view frustum are left out of their draw, and
  closed meshes wholly beyond the near plane are drawn with back faces culled (they cannot be seen
  from outside), which halves the triangles on typical scenes. Small
  meshes drawn once share merged batches (:mod:`.merged`): thousands of objects, a few draw calls.
* Output: the projection is flipped vertically so row 0 is the top row as read; depth is planar
  camera Z, ``inf`` where nothing (or a holdout) was hit. ``gpu.types.Buffer`` exposes reversed
  strides through the buffer protocol in Blender 5.0, so pixels are re-strided, not copied
  through ``to_list()``.
"""

from __future__ import annotations

from collections.abc import Callable

import bpy
import gpu
import numpy as np
from mathutils import Matrix

from ...camera import CameraModel
from ...errors import DepthAddonError
from .. import hooks
from ..render_state import Overrides, render_held
from . import cache as depth_cache
from . import merged
from .culling import cull_modes, visible
from .plan import DrawPlan, draw_plan
from .scene import SceneInstances, affine_inverse

ROW = 1024  # instances per row of the instance texture
TEXELS = 8  # texels per instance: 3 modelview rows, flags, 3 normal-matrix rows, spare
_state: dict = {}
_framebuffers: dict[tuple[int, int, bool], tuple] = {}


class GPUUnavailable(DepthAddonError):
    """The ``gpu`` module cannot draw in this process (no context could be created)."""


class _DepthEngine(bpy.types.RenderEngine):
    """A render engine that runs one queued function with the render depsgraph and a GPU context."""

    bl_idname = "DEPTH_ADDON_GPU"
    bl_label = "Depth (internal)"
    bl_use_gpu_context = True
    job: Callable[[bpy.types.Depsgraph], None] | None = None

    def render(self, depsgraph: bpy.types.Depsgraph) -> None:
        if _DepthEngine.job is not None:
            _DepthEngine.job(depsgraph)


def run_in_render(scene: bpy.types.Scene, layer: str, job: Callable[[bpy.types.Depsgraph], None],
                  camera: bpy.types.Object | None = None) -> None:
    """Render ``scene`` with the internal engine at 1×1 and call ``job`` with the render depsgraph.

    The engine class is registered only for this call, and every render setting changed for it is
    restored. Exceptions raised by ``job`` are re-raised here.

    :param scene: Scene to evaluate.
    :param layer: View layer name.
    :param job: Called once inside the render, with a GPU context bound.
    :param camera: The scene camera during the render when the scene has none (Blender renders nothing without
        one; which camera does not matter to the job).
    """
    errors: list[BaseException] = []

    def wrapped(depsgraph: bpy.types.Depsgraph) -> None:
        try:
            job(depsgraph)
        except BaseException as exc:  # noqa: B036 - handed back to the caller below
            errors.append(exc)

    registered = _DepthEngine.is_registered
    if not registered:
        bpy.utils.register_class(_DepthEngine)
    _DepthEngine.job = wrapped
    try:
        with Overrides() as ov:
            r = scene.render
            for attr, value in (("engine", _DepthEngine.bl_idname), ("resolution_x", 1), ("resolution_y", 1),
                                ("resolution_percentage", 100), ("use_compositing", False),
                                ("use_sequencer", False), ("use_border", False), ("use_single_layer", True)):
                ov.set(r, attr, value)
            if scene.camera is None and camera is not None:
                ov.set(scene, "camera", camera)
            render_held(scene=scene.name, layer=layer)
    finally:
        _DepthEngine.job = None
        if not registered:
            bpy.utils.unregister_class(_DepthEngine)
    if errors:
        raise errors[0]


def _init_context_headless() -> None:
    scene = bpy.data.scenes.new("__depth_gpu_init")
    cam_data = bpy.data.cameras.new("__depth_gpu_init")
    cam = bpy.data.objects.new("__depth_gpu_init", cam_data)
    try:
        scene.collection.objects.link(cam)
        scene.camera = cam
        run_in_render(scene, scene.view_layers[0].name, lambda _dg: None)
    finally:
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(cam_data)
        bpy.data.scenes.remove(scene)


_VERT_COMMON = """
void instance_rows(out vec4 r0, out vec4 r1, out vec4 r2, out vec4 info)
{
  int i = base + gl_InstanceID;
  ivec2 t = ivec2((i % ROW) * TEXELS, i / ROW);
  r0 = texelFetch(instTex, t, 0);
  r1 = texelFetch(instTex, t + ivec2(1, 0), 0);
  r2 = texelFetch(instTex, t + ivec2(2, 0), 0);
  info = texelFetch(instTex, t + ivec2(3, 0), 0);
}
""".replace("ROW", str(ROW)).replace("TEXELS", str(TEXELS))

_VERT_DEPTH = _VERT_COMMON + """
void main()
{
  vec4 r0, r1, r2, info;
  instance_rows(r0, r1, r2, info);
  vec4 p = vec4(pos, 1.0);
  vec4 v = vec4(dot(r0, p), dot(r1, p), dot(r2, p), 1.0);
  vz = info.y > 0.5 ? v.z : -v.z;  // a holdout's depth is negated: no flat varying to set up per triangle
  gl_Position = projMat * v;
}
"""

_VERT_PASSES = _VERT_COMMON + """
void main()
{
  vec4 r0, r1, r2, info;
  instance_rows(r0, r1, r2, info);
  int i = base + gl_InstanceID;
  ivec2 t = ivec2((i % ROW) * TEXELS, i / ROW);
  vec3 n0 = texelFetch(instTex, t + ivec2(4, 0), 0).xyz;
  vec3 n1 = texelFetch(instTex, t + ivec2(5, 0), 0).xyz;
  vec3 n2 = texelFetch(instTex, t + ivec2(6, 0), 0).xyz;
  vec4 p = vec4(pos, 1.0);
  vec4 v = vec4(dot(r0, p), dot(r1, p), dot(r2, p), 1.0);
  vz = -v.z;
  hold = info.y;
  ident = vec2(info.x, float(slot));
  vnor = vec3(dot(n0, nor), dot(n1, nor), dot(n2, nor));
  gl_Position = projMat * v;
}
""".replace("ROW", str(ROW)).replace("TEXELS", str(TEXELS))

_INF = "uintBitsToFloat(0x7F800000u)"
# vz is at least the clip start wherever something is drawn: a negative one is a holdout's
_FRAG_DEPTH = f"void main() {{ FragColor = vec4(vz < 0.0 ? {_INF} : vz, 0.0, 0.0, 1.0); }}"
_FRAG_PASSES = f"""
void main()
{{
  if (hold > 0.5) {{
    FragColor = vec4({_INF}, 0.0, 0.0, 1.0);
    NormalOut = vec4(0.0);
    IdOut = vec4(-1.0, -1.0, 0.0, 0.0);
    return;
  }}
  vec3 n = normalize(vnor);
  FragColor = vec4(vz, 0.0, 0.0, 1.0);
  NormalOut = vec4(gl_FrontFacing ? n : -n, 1.0);
  IdOut = vec4(ident, 0.0, 1.0);
}}
"""


def _make_shader(passes: bool, merged: bool = False) -> gpu.types.GPUShader:
    info = gpu.types.GPUShaderCreateInfo()
    info.push_constant("MAT4", "projMat")
    info.push_constant("INT", "base")
    info.sampler(0, "FLOAT_2D", "instTex")
    info.vertex_in(0, "VEC3", "pos")
    if merged:  # one batch of many small meshes: the instance row comes from a vertex attribute
        info.vertex_in(1, "INT", "iid")
    iface = gpu.types.GPUStageInterfaceInfo(
        "depth_addon_passes" if passes else "depth_addon_merged" if merged else "depth_addon_depth")
    iface.smooth("FLOAT", "vz")
    info.fragment_out(0, "VEC4", "FragColor")
    if passes:
        iface.flat("FLOAT", "hold")
        info.vertex_in(1, "VEC3", "nor")
        info.vertex_in(2, "INT", "slot")
        iface.smooth("VEC3", "vnor")
        iface.flat("VEC2", "ident")
        info.fragment_out(1, "VEC4", "NormalOut")
        info.fragment_out(2, "VEC4", "IdOut")
    info.vertex_out(iface)
    info.vertex_source(_VERT_PASSES if passes else _VERT_DEPTH.replace("gl_InstanceID", "iid") if merged
                       else _VERT_DEPTH)
    info.fragment_source(_FRAG_PASSES if passes else _FRAG_DEPTH)
    return gpu.shader.create_from_info(info)


def ensure_gpu(passes: bool = False) -> None:
    """Make sure the GPU context exists and the shaders are compiled (the passes shader on first use).

    :param passes: Also compile the normals/ids shader.
    :raises GPUUnavailable: When the ``gpu`` module cannot draw here.
    """
    if "depth" in _state:
        if passes and "passes" not in _state:
            _state["passes"] = _make_shader(True)
        return
    try:
        gpu.types.GPUOffScreen(4, 4, format="RGBA32F").free()
    except SystemError:
        if not bpy.app.background:
            raise GPUUnavailable("the gpu module cannot draw in this Blender session") from None
        _init_context_headless()
        try:
            gpu.types.GPUOffScreen(4, 4, format="RGBA32F").free()
        except SystemError as exc:
            raise GPUUnavailable(f"no GPU context after an internal render: {exc}") from None
    _state["depth"] = _make_shader(False)
    _state["merged"] = _make_shader(False, merged=True)
    if passes:
        _state["passes"] = _make_shader(True)


def release() -> None:
    """Free cached batches, framebuffers and shaders (add-on unregister, exit); renders recreate them."""
    depth_cache.clear()
    _framebuffers.clear()
    _state.clear()


hooks.at_exit(release)  # once per process; before Blender's own exit checks, which report GPU memory still held


def buffer_to_numpy(buf: gpu.types.Buffer) -> np.ndarray:
    """A C-ordered numpy view of a ``gpu.types.Buffer`` (fixes the reversed strides; the view keeps the buffer
    alive, so a buffer read for one call is handed out without a copy)."""
    dims = tuple(buf.dimensions)
    a = np.asarray(buf)
    strides = [a.itemsize]
    for d in reversed(dims[1:]):
        strides.insert(0, strides[0] * d)
    return np.lib.stride_tricks.as_strided(a, shape=dims, strides=tuple(strides))


def _framebuffer(width: int, height: int, passes: bool, fresh: bool = False) -> tuple:
    key = (width, height, passes)
    if fresh or key not in _framebuffers:
        while not fresh and len(_framebuffers) >= 2:
            _framebuffers.pop(next(iter(_framebuffers)))
        colors = [gpu.types.GPUTexture((width, height), format="R32F")]
        if passes:
            colors += [gpu.types.GPUTexture((width, height), format="RGBA16F"),
                       gpu.types.GPUTexture((width, height), format="RG32F")]
        depth = gpu.types.GPUTexture((width, height), format="DEPTH_COMPONENT32F")
        fb = gpu.types.GPUFrameBuffer(depth_slot=depth, color_slots=tuple(colors))
        target = (fb, colors, depth)
        if fresh:
            return target
        _framebuffers[key] = target
    else:
        _framebuffers[key] = _framebuffers.pop(key)  # most recently used last
    return _framebuffers[key]


def _instance_texture(modelview: np.ndarray, holdout: np.ndarray, normals: bool) -> gpu.types.GPUTexture:
    n = len(modelview)
    rows = max(1, -(-n // ROW))
    width = TEXELS * (min(n, ROW) if rows == 1 else ROW)
    data = np.zeros((rows * (width // TEXELS), TEXELS, 4), np.float32)
    data[:n, 0:3, :] = modelview[:, :3, :]
    data[:n, 3, 0] = np.arange(n)
    data[:n, 3, 1] = holdout
    if normals:
        normal = affine_inverse(modelview)[0][:, :3, :3].transpose(0, 2, 1)
        data[:n, 4:7, :3] = np.nan_to_num(normal)
    buf = gpu.types.Buffer("FLOAT", data.size, data.ravel())
    return gpu.types.GPUTexture((width, rows), format="RGBA32F", data=buf)


def draw(instances: SceneInstances, entries: dict, modelview: np.ndarray, proj: np.ndarray, cam: CameraModel,
         passes: bool = False, fresh: bool = False, plan: DrawPlan | None = None) -> dict[str, np.ndarray]:
    """Rasterise ``instances`` from a camera.

    :param instances: What the camera sees (from :func:`.depth_scene.scene_instances`).
    :param entries: Their uploaded meshes (from :func:`.depth_cache.entries`).
    :param modelview: N×4×4 camera-from-object matrices of the instances.
    :param proj: OpenGL projection for the camera's image size.
    :param cam: The camera (size, frame and clip range decide what is skipped or culled).
    :param passes: Also draw camera-space normals and instance/material-slot ids.
    :param fresh: Use a throw-away framebuffer (inside another GPU context, e.g. a render).
    :param plan: The walk's :func:`.plan.draw_plan` (made here when None); it must have been made with
        ``merge=not (passes or fresh)``.
    :return: ``depth`` (H×W float32, row 0 = top) and with ``passes`` also ``normal`` (H×W×3) and
        ``ident`` (H×W×2: instance index and material slot, -1 background).
    """
    ensure_gpu(passes)
    n, width, height = len(instances), cam.width, cam.height
    if plan is None:  # passes need normals and slots; a render's own context keeps nothing: neither merges
        plan = draw_plan(instances, entries, merge=not (passes or fresh), keep=not fresh)
    order, modes, starts, counts = plan.order, [], plan.starts, np.zeros(0, np.int64)
    modelview = modelview[order]
    if n:  # instances wholly outside the frustum are left out of the draw order (and the instance texture)
        modes, outside = cull_modes(plan.lo[order], plan.hi[order], plan.orient[order], starts, modelview, cam)
        kept, starts, counts = visible(starts, outside, plan.pinned)
        order, modelview = order[kept], modelview[kept]
    flip = np.diag([1.0, -1.0, 1.0, 1.0]) @ np.asarray(proj, np.float64)  # row 0 of the read-back = top
    fb, _colors, _depth = _framebuffer(width, height, passes, fresh)
    out: dict[str, np.ndarray] = {}
    with fb.bind():
        fb.clear(color=(float("inf"), 0.0, 0.0, 0.0), depth=1.0)  # every slot; passes are masked by depth
        if len(order):  # every instance may be outside the view
            tex = _instance_texture(modelview, instances.holdout[order], passes)
            gpu.state.depth_test_set("LESS")
            gpu.state.depth_mask_set(True)
            gpu.state.front_facing_set(True)  # the vertical flip turns counter-clockwise into clockwise
            try:
                _draw_groups(instances, entries, plan, (modes, starts, counts), flip, tex, passes)
            finally:
                gpu.state.face_culling_set("NONE")
                gpu.state.front_facing_set(False)
                gpu.state.depth_test_set("NONE")
                gpu.state.depth_mask_set(False)
        buf = gpu.types.Buffer("FLOAT", (height, width))  # a new one per call: handed out as a numpy view
        fb.read_color(0, 0, width, height, 1, 0, "FLOAT", data=buf)
        out["depth"] = buffer_to_numpy(buf)
        if passes:
            normal = buffer_to_numpy(fb.read_color(0, 0, width, height, 3, 1, "FLOAT"))
            ident = buffer_to_numpy(fb.read_color(0, 0, width, height, 2, 2, "FLOAT"))
            empty = ~np.isfinite(out["depth"])
            normal = normal.reshape(height, width, 3)
            normal[empty] = 0.0
            ident = ident.reshape(height, width, 2)
            ident[empty] = -1.0
            out["normal"], out["ident"], out["order"] = normal, ident, order
    return out


def _bind(shader: gpu.types.GPUShader, flip: np.ndarray, tex: gpu.types.GPUTexture) -> None:
    shader.bind()
    shader.uniform_float("projMat", Matrix(flip.tolist()))
    shader.uniform_sampler("instTex", tex)


def _draw_groups(instances: SceneInstances, entries: dict, plan: DrawPlan,
                 culled: tuple[list[str], np.ndarray, np.ndarray], flip: np.ndarray, tex: gpu.types.GPUTexture,
                 passes: bool) -> None:
    """Draw each group instanced, grouped by culling mode, then each kind of merged small meshes in one call.

    :param plan: The walk's groups and merged members (:class:`.plan.DrawPlan`).
    :param culled: ``(modes, starts, counts)``: the culling mode of each group (:func:`.culling.cull_modes`),
        and where its instances start in the instance texture and how many are drawn (:func:`.culling.visible`).
    """
    modes, starts, counts = culled
    shader = _state["passes" if passes else "depth"]
    _bind(shader, flip, tex)
    state = None
    for g in sorted(plan.solo, key=modes.__getitem__):
        key, mode, count = plan.groups[g][0], modes[g], int(counts[g])
        if mode == "SKIP" or not count:
            continue
        entry = entries[key]
        batch = entry.passes(instances.meshes[key]) if passes else entry.batch
        if batch is None:
            continue
        if mode != state:  # grouped by culling mode: few state changes
            gpu.state.face_culling_set(mode)
            state = mode
        shader.uniform_int("base", int(starts[g]))
        batch.draw_instanced(shader, instance_start=0, instance_count=count)
    shader = _state["merged"]
    for kind, (members, member_entries) in plan.members.items():
        batch = merged.merged_batch(kind, member_entries)
        culling = {modes[g] for g in members} - {"SKIP"}
        gpu.state.face_culling_set(culling.pop() if culling in ({"BACK"}, {"FRONT"}) else "NONE")
        _bind(shader, flip, tex)
        shader.uniform_int("base", int(starts[members[0]]))
        batch.draw(shader)
