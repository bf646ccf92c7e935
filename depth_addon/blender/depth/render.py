# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth out of a scene: float32 metres from a camera, through the fastest path that works.

Three paths give the same planar camera-Z depth (they agree to about 1e-5 relative):

* ``gpu`` — the evaluated meshes drawn with a linear-depth shader (:mod:`.depth_gpu`), milliseconds;
  it can also return camera-space normals and object/material ids from the same draw;
* ``workbench`` — Workbench Z pass, saved as a temporary multilayer EXR (no compositor; :mod:`.depth_engine`);
* ``cycles`` — Cycles Z pass, one sample, with a depth-only material override (always works).

``auto`` tries ``gpu`` and falls back to ``workbench`` (also for scenes with visible hair, curves or particles, or point
clouds, which only the engines draw). Every path sees the same geometry (:mod:`.depth_scene`):
render visibility, camera ray visibility, holdouts, instances, modifiers, curves, text and
metaballs. Before rendering, scenes without geometry and cameras inside a closed mesh are refused.
"""

from __future__ import annotations

import time

import bpy
import numpy as np

from ...camera import CameraModel
from ...depthmap import DepthResult
from ...errors import BadInput
from ...mapping import ENGINES
from ..camera import border_window, camera_model, cropped_model, frame_warnings, render_size, resolve_camera
from ..evaluation import scene_depsgraph, scene_layer
from ..units import unit_scale
from . import cache as depth_cache
from . import gpu as depth_gpu
from . import rendered
from .engine import render_engine_depth
from .plan import draw_plan
from .scene import (
    NoGeometry,
    RenderVisibility,
    SceneInstances,
    affine_inverse,
    bounding_boxes,
    check_renderable,
    moved,
    scene_instances,
)
from .viewport import (
    input_problems,
    inputs_not_evaluated,
    node_inputs,
    render_settings,
    untracked,
    untracked_settings,
    viewport_differs,
    watched_objects,
)

_verdicts: dict[tuple, tuple] = {}
_walks: dict = {}
_inputs: dict[tuple, dict] = {}  # (scene, layer) → geometry-nodes input values of the watched objects (last call)


def scene_state(scene: bpy.types.Scene, layer: bpy.types.ViewLayer,
                ) -> tuple[RenderVisibility, str | None, frozenset[int], dict]:
    """Render visibility, the viewport/render verdict, the objects that render but that the viewport does not
    evaluate (:func:`.viewport.untracked`), and the render-only settings per object (:func:`.viewport.render_settings`,
    and :func:`.viewport.untracked_settings` for those objects; read on every call: editing them sends no update).
    The rest is cached until something other than a transform changes."""
    visibility, watched, verdicts, _problems, hidden = _cached_state(scene, layer)
    if _tag_input_edits(scene, layer, watched):  # worked out again after their updates (once: their values are kept)
        visibility, watched, verdicts, _problems, hidden = _cached_state(scene, layer)
    settings = render_settings(watched)
    settings.update(untracked_settings(hidden, scene.frame_current))
    settings[0] = rendered.fingerprint(scene)
    key = tuple(settings.items())
    if key not in verdicts:
        if len(verdicts) > 8:
            verdicts.clear()
        verdicts[key] = viewport_differs(scene, layer, visibility)
    return visibility, verdicts[key], frozenset(ob.session_uid for ob in hidden), settings


def _cached_state(scene: bpy.types.Scene, layer: bpy.types.ViewLayer) -> tuple:
    """``(visibility, watched objects, verdicts by settings, input problems, untracked objects)`` of the layer, kept
    until something other than a transform changes."""
    base = (scene.session_uid, layer.name, depth_cache.settings_generation(), len(layer.objects))
    if base not in _verdicts:
        if len(_verdicts) > 8:
            _verdicts.clear()
        visibility = RenderVisibility(layer)
        depth_cache.note_camera_visibility(layer.objects)
        watched = watched_objects(layer, visibility)
        hidden = untracked(layer, visibility, scene_depsgraph(scene, layer))
        _verdicts[base] = (visibility, watched, {}, input_problems(layer, visibility, watched), hidden)
    return _verdicts[base]


def _tag_input_edits(scene: bpy.types.Scene, layer: bpy.types.ViewLayer, watched: list[bpy.types.Object]) -> bool:
    """Evaluate again the objects whose geometry-nodes inputs a script set since the last call without an update
    (:func:`.viewport.node_inputs`): their update then reaches every cache, as an edit in the interface would.
    Inputs that changed because their frame was evaluated (keyframed or driven: Blender writes the values back to
    the object) are taken as they are: that evaluation used them (:func:`.viewport.inputs_not_evaluated`).

    :param scene: The scene.
    :param layer: Its view layer.
    :param watched: The objects with modifiers that render (:func:`.viewport.watched_objects`).
    :return: Whether any was evaluated again.
    """
    now = node_inputs(watched)
    before = _inputs.get((scene.session_uid, layer.name))
    if before is None and len(_inputs) > 8:
        _inputs.clear()
    _inputs[(scene.session_uid, layer.name)] = now
    changed = [ob for ob in watched if before and before.get(ob.session_uid, now.get(ob.session_uid))
               != now.get(ob.session_uid)]
    if not changed:
        return False
    depsgraph = scene_depsgraph(scene, layer)
    edited = [ob for ob in changed if inputs_not_evaluated(ob, depsgraph)]
    for ob in edited:
        ob.update_tag()
    if edited:
        scene_depsgraph(scene, layer)  # evaluates them now: the handlers see a geometry update
    return bool(edited)


def input_checks(scene: bpy.types.Scene, layer: bpy.types.ViewLayer, instances: SceneInstances) -> list[str]:
    """Refuse geometry nodes that failed to evaluate, and say why a scene draws nothing; return the warnings.

    :param scene: The scene.
    :param layer: Its view layer (after :func:`scene_state`, which finds the problems).
    :param instances: What the viewport draws.
    :raises BadInput: A failed geometry nodes modifier, or nothing to draw because of the warned instancers.
    """
    base = (scene.session_uid, layer.name, depth_cache.settings_generation(), len(layer.objects))
    errors, warnings = _verdicts[base][3]
    if errors:
        raise BadInput("; ".join(errors))
    if warnings and not len(instances) and not instances.undrawn:
        raise _no_geometry(scene, warnings)
    return list(warnings)


def _no_geometry(scene: bpy.types.Scene, warnings: list[str]) -> BadInput:
    """The error for a scene that draws nothing, with the warnings that say why."""
    return BadInput(f"scene {scene.name!r} has no renderable geometry: " + "; ".join(warnings))


def _id_maps(instances: SceneInstances, order: np.ndarray, ident: np.ndarray,
             ) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """Turn per-pixel (drawn instance, material slot) into object and material indices."""
    objects: list[str] = []
    materials: list[str] = []
    obj_index, mat_table = {}, []
    for drawn in range(len(order)):
        i = int(order[drawn])
        name = instances.names[i]
        obj_index.setdefault(name, len(objects))
        if obj_index[name] == len(objects):
            objects.append(name)
        row = []
        for mat in instances.slots[instances.keys[i]]:
            if mat is not None and mat not in materials:
                materials.append(mat)
            row.append(materials.index(mat) if mat is not None else -1)
        mat_table.append(row or [-1])
    width = max((len(r) for r in mat_table), default=1)
    table = np.full((len(mat_table) + 1, width), -1, np.int32)
    for drawn, row in enumerate(mat_table):
        table[drawn, : len(row)] = row
    obj_of = np.array([obj_index[instances.names[int(i)]] for i in order] + [-1], np.int32)
    inst = np.rint(ident[..., 0]).astype(np.int64)
    inst[(inst < 0) | (inst >= len(order))] = len(order)  # background → the -1 row
    slot = np.clip(np.rint(ident[..., 1]).astype(np.int64), 0, width - 1)
    return obj_of[inst], objects, table[inst, slot], materials


def _instances(depsgraph: bpy.types.Depsgraph, scene: bpy.types.Scene, layer: bpy.types.ViewLayer,
               visibility: RenderVisibility, slots: bool) -> SceneInstances:
    """The viewport instance walk, reused until something drawable changes (moving the camera does not; moving
    objects patches their matrices, see :func:`.scene.moved`)."""
    key = (depsgraph.as_pointer(), scene.session_uid, layer.name, scene.frame_current, slots,
           depth_cache.scene_generation(), depth_cache.settings_generation(),
           depth_cache.shading_generation() if slots else 0)  # material slot names follow shading updates
    stamp = depth_cache.move_stamp()
    if _walks.get("key") == key:
        uids = depth_cache.moved_since(_walks["moves"])
        kept = moved(_walks["instances"], uids, layer, depsgraph) if uids else _walks["instances"]
        if kept is not None:
            _walks["instances"], _walks["moves"] = kept, stamp
            return kept
    _walks.update(key=key, instances=scene_instances(depsgraph, visibility, slots), moves=stamp)
    return _walks["instances"]


def _gpu_depth(scene: bpy.types.Scene, layer: bpy.types.ViewLayer, cam_obj: bpy.types.Object, cam: CameraModel,
               state: tuple, passes: bool, slots: bool) -> dict:
    """Check the scene and draw it: the cached viewport geometry, or render-level geometry when they differ
    (kept between calls, see :mod:`.rendered`; normals and ids still come from a fresh render)."""
    visibility, differs, hidden, settings = state
    view = affine_inverse(cam.matrix)[0]
    depth_gpu.ensure_gpu(passes)  # first: creating the context renders, which re-evaluates animated objects
    depsgraph = scene_depsgraph(scene, layer)
    instances = _instances(depsgraph, scene, layer, visibility, slots)
    proj = np.array(cam_obj.evaluated_get(depsgraph).calc_matrix_camera(
        depsgraph, x=cam.width, y=cam.height,
        scale_x=scene.render.pixel_aspect_x, scale_y=scene.render.pixel_aspect_y))
    modelview = view[None] @ instances.matrices
    if differs is None and not instances.unsure:  # else only a render tells which instances it draws
        entries = depth_cache.entries(instances)
        plan = draw_plan(instances, entries, merge=not passes)
        check_renderable(instances, (plan.lo, plan.hi), scene, modelview, cam.clip[0])
        out = depth_gpu.draw(instances, entries, modelview, proj, cam, passes, plan=plan)
        out["instances"] = instances
        return out
    if not passes:
        snap = rendered.snapshot(scene, layer, visibility, settings, hidden, camera=cam_obj)
        drawn = snap.instances
        modelview = view[None] @ drawn.matrices
        plan = draw_plan(drawn, snap.entries)
        check_renderable(drawn, (plan.lo, plan.hi), scene, modelview, cam.clip[0], snap.arrays)
        out = depth_gpu.draw(drawn, snap.entries, modelview, proj, cam, plan=plan)
        out["instances"] = drawn
        return out
    out = {}

    def job(render_depsgraph: bpy.types.Depsgraph) -> None:
        drawn = scene_instances(render_depsgraph, visibility, slots=passes)
        # checked on what the render draws: the viewport may hide what renders (the eye icon, a viewport modifier)
        check_renderable(drawn, bounding_boxes(drawn), scene, view[None] @ drawn.matrices, cam.clip[0])
        entries = depth_cache.entries(drawn, cached=False)
        out.update(depth_gpu.draw(drawn, entries, view[None] @ drawn.matrices, proj, cam, passes, fresh=True))
        out["instances"] = drawn

    with depth_cache.quiet():
        depth_gpu.run_in_render(scene, layer.name, job, cam_obj)
        scene_depsgraph(scene, layer)  # the render's own updates are not edits
    return out


def _cropped(out: dict, cam: CameraModel, scene: bpy.types.Scene, crop: bool) -> tuple[dict, CameraModel]:
    """The per-pixel outputs and camera of a render cropped to its render region (:func:`.camera.border_window`):
    the depth has the size and pixels of the render it goes with; unchanged unless ``crop`` and the scene's render
    is cropped."""
    window = border_window(scene, cam.width, cam.height) if crop else None
    if window is None:
        return out, cam
    rows, cols = slice(window[2], window[3]), slice(window[0], window[1])
    cut = {k: np.ascontiguousarray(v[rows, cols]) for k, v in out.items() if k in ("depth", "normal", "ident")}
    return {**out, **cut}, cropped_model(cam, window)


def render_depth(scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                 resolution: tuple[int, int] | None = None, engine: str = "auto", radial: bool = False,
                 normals: bool = False, ids: bool = False, crop: bool | None = None) -> DepthResult:
    """Render depth in metres from ``camera`` (default: the scene camera).

    :param scene: Scene to render; the context scene when None.
    :param camera: Camera object or name; the scene camera when None.
    :param resolution: ``(width, height)``; the scene's resolution × percentage when None.
    :param engine: ``auto``, ``gpu``, ``workbench`` or ``cycles``.
    :param radial: Return distance along each pixel's ray instead of planar camera Z.
    :param normals: Also return camera-space normals (gpu path).
    :param ids: Also return object and material index maps (gpu path).
    :param crop: Keep only the pixels of the scene's render region when its render is cropped to it
        (:func:`~depth_addon.blender.camera.border_window`); None: only at the scene's own size (``resolution`` None).
    :raises BadInput: No camera, bad resolution, unknown engine, no renderable geometry, camera
        inside a closed mesh, passes asked of an engine path.
    """
    if engine not in ENGINES:
        raise BadInput(f"unknown depth engine {engine!r}; use one of {', '.join(ENGINES)}")
    passes = normals or ids
    if passes and engine in ("workbench", "cycles"):
        raise BadInput(f"normals and ids come from the gpu path; use engine 'gpu' or 'auto', not {engine!r}")
    scene = scene or bpy.context.scene
    cam_obj = resolve_camera(scene, camera)
    width, height = render_size(scene, resolution)
    start = time.perf_counter()
    depth_cache.install_handlers()
    layer = scene_layer(scene)
    depsgraph = scene_depsgraph(scene, layer)
    cam = camera_model(scene, cam_obj, width, height)
    state = scene_state(scene, layer)
    visibility = state[0]
    instances = _instances(depsgraph, scene, layer, visibility, ids)
    used, out, warnings = engine, None, input_checks(scene, layer, instances)
    if instances.undrawn:
        names = ", ".join(repr(n) for n in instances.undrawn[:3]) + (" …" if len(instances.undrawn) > 3 else "")
        if engine == "gpu" and not passes:
            raise BadInput(f"the gpu depth path does not draw hair or point clouds ({names}); use engine "
                           "'auto', 'workbench' or 'cycles'")
        if passes:
            warnings.append(f"normals and ids come from the gpu path, which leaves out {names}")
        elif engine == "auto":
            used = "workbench"  # it renders hair and point clouds; the gpu path would leave holes
    if used in ("auto", "gpu"):
        try:
            out = _gpu_depth(scene, layer, cam_obj, cam, state, passes, ids)
            used = "gpu"
        except depth_gpu.GPUUnavailable:
            if engine == "gpu" or passes:
                raise
            used = "workbench"
        except NoGeometry as exc:  # what renders has nothing to draw: say which instancers draw nothing
            raise (_no_geometry(scene, warnings) if warnings else exc) from None
    if out is None:
        modelview = affine_inverse(cam.matrix)[0][None] @ instances.matrices
        check_renderable(instances, bounding_boxes(instances), scene, modelview, cam.clip[0])
        with depth_cache.quiet():  # the render sets and restores settings: not edits
            out = {"depth": render_engine_depth(scene, layer, cam_obj, width, height, used, visibility)}
            scene_depsgraph(scene, layer)
    out, cam = _cropped(out, cam, scene, resolution is None if crop is None else crop)
    result = DepthResult(depth=out["depth"], mask=np.isfinite(out["depth"]), camera=cam, engine=used, radial=radial,
                         meta={"camera_name": cam_obj.name, "frame": scene.frame_current},
                         unit_scale=unit_scale(scene))  # depth is in scene units, as the camera and geometry are
    if warnings := warnings + frame_warnings(scene, resolution):  # and what its render does apart
        result.meta["warnings"] = warnings
    if normals:
        result.normals = out["normal"]
    if ids:
        result.object_ids, result.objects, result.material_ids, result.materials = _id_maps(
            out["instances"], out["order"], out["ident"])
    if radial:
        result.depth = cam.planar_to_radial(out["depth"])
    result.seconds = time.perf_counter() - start
    return result
