# SPDX-License-Identifier: GPL-3.0-or-later
"""Multi-view texturing, the use case: views → depth → generation (conditioned on earlier views) → fused UV bakes.

The bridge (:mod:`depth_addon.blender.writeback.multiview`) places and captures the views and bakes them;
this module picks the generator, runs it view after view and records the provenance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import bpy
import numpy as np

from ..blender.evaluation import refuse_edit_mode, scene_depsgraph
from ..blender.writeback import bake_apply, left_out, surfaces, uv_bake
from ..blender.writeback.multiview import MultiviewResult, bake_views, capture_views, check_bake_size, locked_mapping
from ..camera import CameraModel
from ..errors import BadInput
from ..generation import anchor
from ..texturing import conditioning, map_fusion
from ..texturing import provenance as prov
from ..texturing.fusion import View
from .depth import unit_scale
from .flow import Flow, Generated, GenerateRequest, Progress, relief_notes, reporter, run_local, wanted_maps
from .packing import pack_now
from .scene_prompts import (
    SceneSegments,
    check_objects,
    needs_ids,
    record_assignment,
    run_object_prompts,
    run_warnings,
    views_segments,
)


def view_flow(views: list[View], prompt: str, seed: int, use_conditioning: bool = True, harmonise: bool = True,
              tolerance: float = 0.005, exponent: float = 2.0, start: float = 0.1, span: float = 0.5,
              maps: bool = False, segments: list | None = None, segment_prompts: list[str] | None = None,
              unit: float = 1.0, segment_texts: list[str] | None = None) -> Flow:
    """Ask for each view's image in order, each conditioned on the paint of the earlier ones (a flow).

    Earlier paint is reprojected into the view first and goes with the request (``init_image``: H×W×3
    earlier paint, ``init_mask``: H×W bool, True where the generator may paint) for generators that
    inpaint; with any generator the result is then composited by the keep/refine/generate trimap and
    harmonised with the earlier paint.

    :param views: Views with depth; their ``image`` and ``contribution`` are set.
    :param prompt: Prompt.
    :param seed: Seed (the same for every view, so palettes agree).
    :param use_conditioning: Keep/refine/generate trimap against earlier views.
    :param harmonise: Match each view's colours to the earlier paint on the overlap.
    :param tolerance: Relative depth slack of visibility tests.
    :param exponent: Facing exponent of the weights.
    :param start: Overall progress at the first view.
    :param span: Share of the overall progress all views cover.
    :param maps: Ask for the material maps too (they go to each view's ``maps``).
    :param segments: Per view, a segment map in the run's part indices (or None): each object painted as routed.
    :param segment_prompts: One prompt per part index.
    :param unit: Metres per scene unit: generators are handed metres (their relief and patterns have sizes).
    :param segment_texts: The part prompts as typed (free-text generators read these instead).
    :return: (when exhausted) the last :class:`~.flow.Generated`, which names the generator.
    """
    generated = None
    # one pattern in world space, so the views agree, at the first view's scale (the scene camera's, when it
    # comes first: the run paints what the user sees as a single projection would)
    cell = anchor.world_cell([views[0].depth * np.float32(unit)]) if views else None
    for k, view in enumerate(views):
        mask = np.isfinite(view.depth)
        prior = conditioning.reproject(views[:k], view, tolerance, exponent) if k else None
        depth, camera = (view.depth, view.camera) if unit == 1.0 else (view.depth * np.float32(unit),
                                                                       view.camera.scaled(unit))
        request = GenerateRequest(depth, mask, camera, prompt, seed, start=start + span * k / len(views),
                                  span=span / len(views), message=f"generating view {k + 1} of {len(views)}",
                                  maps=maps, world_cell=cell)
        if segments is not None and segments[k] is not None and segment_prompts:
            request.segments, request.segment_prompts = segments[k], list(segment_prompts)
            request.segment_texts = list(segment_texts) if segment_texts else None
        if prior is not None and use_conditioning:  # generators that can inpaint get the paint
            request.init_image, request.init_mask = prior.colour, conditioning.trimap(prior) != conditioning.KEEP
        generated = yield request
        rgb, view.maps = generated.rgb, generated.maps
        if prior is not None and (use_conditioning or harmonise):
            image, share, _labels, gain_offset = conditioning.condition(rgb, prior, mask, harmonise=harmonise)
            if use_conditioning:
                view.image, view.contribution = image, share
            else:
                gain, offset = gain_offset
                view.image = np.clip(rgb * gain + offset, 0.0, 1.0)
        else:
            view.image = rgb
    return generated


def generate_views(views: list[View], prompt: str, seed: int, generator: str | None, use_conditioning: bool = True,
                   harmonise: bool = True, tolerance: float = 0.005, exponent: float = 2.0,
                   cancel: Callable[[], bool] | None = None) -> Generated | None:
    """:func:`view_flow` in this process.

    :param generator: Generator name; the default when None.
    :param cancel: Polled inside generation.
    The other parameters are :func:`view_flow`'s.
    """
    return run_local(view_flow(views, prompt, seed, use_conditioning, harmonise, tolerance, exponent), generator,
                     cancel=cancel)


def texture_multiview(scene: bpy.types.Scene | None = None, objects=None, cameras=None, views: int = 4,
                      placement: str = "orbit", prompt: str = "", seed: int = 0, generator: str | None = None,
                      negative_prompt: str = "", bake_size: int | str = "auto", view_size: int = 512,
                      engine: str = "auto",
                      use_conditioning: bool = True, harmonise: bool = True, tolerance: float = 0.005,
                      exponent: float = 2.0, padding: int = 2, shading: str = "EMISSION",
                      progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
                      models: list[CameraModel] | None = None, scene_view: bool = True,
                      maps: bool | str | list = False, object_prompts: dict[str, str] | None = None,
                      new_uv: bool = False) -> MultiviewResult:
    """Texture objects from several views and bake the fused result into their UV maps (in this process).

    The sidebar runs the same :func:`multiview_flow` through the worker.

    :param scene: The scene; the context scene when None.
    :param objects: Objects to texture; every visible local mesh when None.
    :param cameras: The user's cameras (objects or names); None places ``views`` cameras.
    :param views: Number of placed views.
    :param placement: ``orbit``, ``hemisphere`` or ``greedy`` (most uncovered surface first).
    :param prompt: Prompt.
    :param seed: Seed.
    :param generator: Generator name; the default when None.
    :param negative_prompt: Recorded in the provenance (for generators that take one).
    :param bake_size: Texture side per object, or ``"auto"``: per object, from the views' pixel density on it.
    :param view_size: Longer side of each generated view.
    :param engine: Depth engine.
    :param use_conditioning: Condition later views on earlier paint (keep/refine/generate).
    :param harmonise: Match each view's colours to earlier paint.
    :param tolerance: Relative depth slack of visibility.
    :param exponent: Facing exponent of the fusion weights.
    :param padding: Island padding in texels.
    :param shading: ``EMISSION``, ``PRINCIPLED``, ``PBR`` or ``PBR_DISPLACEMENT`` (the last two need ``maps``).
    :param progress: Called with ``(fraction, message)``.
    :param cancel: Polled; True raises :class:`~depth_addon.errors.Cancelled`.
    :param models: Exact camera models to use (reproducing a recorded run); overrides the rest.
    :param scene_view: With placed views, the scene camera's view comes first (placed views frame all the
        objects; the scene camera paints what the user looks at at the density it is seen with).
    :param maps: Also bake albedo, roughness, metallic, normal and height maps (``shading="PBR"`` wires them
        into a Principled BSDF, relightable by the scene's lights). ``True`` or a list of map names
        (:func:`~.flow.wanted_maps`: maps named must be ones the generator gives; with ``True`` a generator that
        gives no relief is warned about).
    :param object_prompts: Object name → prompt, winning over the routing of ``prompt`` (and over the Object
        Prompt set in the sidebar).
    :param new_uv: Bake into a UV map made for the bake (Smart UV Project, added next to the user's maps) even
        where the user's active map could be used.
    :raises BadInput: Bad objects, options, a user's image in the way, or views that see nothing.
    """
    settings = MultiviewSettings(views, placement, bake_size, view_size, engine, use_conditioning, harmonise,
                                 tolerance, exponent, padding, shading, scene_view, wanted_maps(maps, generator),
                                 new_uv)
    flow = multiview_flow(scene, objects, cameras, prompt, seed, negative_prompt, settings, models,
                          reporter(progress, cancel), object_prompts)
    return run_local(flow, generator, progress=progress, cancel=cancel)


@dataclass(frozen=True)
class MultiviewSettings:
    """How :func:`multiview_flow` places views and bakes (see :func:`texture_multiview` for each field)."""

    views: int = 4
    placement: str = "orbit"
    bake_size: int | str = "auto"
    view_size: int = 512
    engine: str = "auto"
    use_conditioning: bool = True
    harmonise: bool = True
    tolerance: float = 0.005
    exponent: float = 2.0
    padding: int = 2
    shading: str = "EMISSION"
    scene_view: bool = True
    maps: bool = False
    new_uv: bool = False


def _checked(scene: bpy.types.Scene, objects, s: MultiviewSettings, object_prompts: dict[str, str] | None,
             cameras=None) -> tuple[list, dict[str, str], dict[str, str]]:
    """The bake targets, their images' names and the object prompts, every input checked before a UV map is added
    or a view rendered.

    :param cameras: The cameras asked for (None: views are placed; an empty list is refused).
    :raises BadInput: For the first input that cannot be used.
    """
    if cameras is not None and not list(cameras):  # an empty selection, most likely
        raise BadInput("no cameras given to texture from: pass camera objects or names, or None to place views")
    check_objects([o for o in objects or () if isinstance(o, str)], [o.name for o in scene.objects])
    targets = uv_bake.bake_targets(scene, objects)
    refuse_edit_mode(targets, "a bake")
    names = bake_apply.check_images_free(targets, "bake")
    bake_apply.check_maps_free(targets, map_fusion.BAKED if s.maps else ())
    object_prompts = run_object_prompts(scene, object_prompts)
    check_bake_size(s.bake_size)
    if s.shading not in bake_apply.SHADINGS:
        raise BadInput(f"unknown shading {s.shading!r}; use one of {', '.join(bake_apply.SHADINGS)}")
    if s.shading in bake_apply.RELIGHTABLE and not s.maps:
        raise BadInput(f"{s.shading} shading needs the material maps; ask for them (maps=True, --maps)")
    return targets, names, object_prompts


def multiview_flow(scene: bpy.types.Scene | None, objects, cameras, prompt: str, seed: int, negative_prompt: str = "",
                   settings: MultiviewSettings = MultiviewSettings(), models: list[CameraModel] | None = None,
                   report: Progress | None = None, object_prompts: dict[str, str] | None = None,
                   only: str | None = None) -> Flow:
    """Multi-view texturing as a flow (:mod:`.flow`): views and depth now, one request per view, then the bake.

    UV maps added for the bake are removed again when the flow fails or is closed before the bake. A prompt
    that names several materials, or objects with their own prompt (``object_prompts``, or the Object Prompt
    set in the sidebar), paints each object as routed, the same in every view (:func:`.scene_prompts.views_segments`).

    :param only: Bake only this one of the objects (regenerating one object of a recorded run, with ``models``): the
        views are generated for the whole run, the other objects' textures are left as they are.
    :return: (when exhausted) the :class:`MultiviewResult`.
    """
    s, report, scene = settings, report or (lambda _f, _m: None), scene or bpy.context.scene
    timings: dict[str, float] = {}
    t = time.perf_counter()
    targets, names, object_prompts = _checked(scene, objects, s, object_prompts, cameras if models is None else None)
    target_names, scene_name, frame = [o.name for o in targets], scene.name, scene.frame_current
    baked = only_target(targets, only)
    id_renders = [] if needs_ids(prompt, object_prompts) else None
    warnings: list[str] = [] if objects else left_out.left_out_notes(scene)
    uv_maps = uv_bake.ensure_uv_maps(baked, new=s.new_uv, notes=warnings)
    try:
        depsgraph = scene_depsgraph(scene)
        tris = surfaces.surfaces(baked, depsgraph, uv_maps)
        timings["prepare"] = time.perf_counter() - t
        t = time.perf_counter()
        captured = capture_views(scene, list(tris.values()), cameras, s.views, s.placement, s.view_size, s.engine,
                                 warnings, report, models, s.scene_view and not cameras, id_renders)
        segments, parts = views_segments(id_renders, prompt, object_prompts) if id_renders else (None, SceneSegments())
        for view, labels in zip(captured, segments or (), strict=False):
            view.labels = labels  # each object is baked from its own pixels of each view
        mapping = locked_mapping(captured)
        timings["depth"] = time.perf_counter() - t
        t = time.perf_counter()
        gen = yield from view_flow(captured, prompt, seed, s.use_conditioning, s.harmonise, s.tolerance, s.exponent,
                                   maps=s.maps, segments=segments, segment_prompts=parts.prompts,
                                   unit=unit_scale(scene), segment_texts=parts.texts)
        timings["generate"] = time.perf_counter() - t
        scene, targets = _still_there(scene_name, target_names)
        baked = only_target(targets, only)
        refuse_edit_mode(baked, "a bake")  # entered while the views were generated
    except BaseException:
        _drop_added_uvs([o.name for o in baked])
        raise
    record = prov.provenance(
        "multiview", prompt, seed, gen.generator, [v.origin or v.camera for v in captured], mapping, negative_prompt,
        gen.fingerprint, frame, _options(s, target_names, len(captured), "models" if models else "cameras" if cameras
                                         else s.placement, object_prompts, parts.decisions)
        | {"unit_scale": unit_scale(scene)})  # cameras and range: scene units
    t = time.perf_counter()
    try:
        result = bake_views(scene, baked, captured, s.bake_size, s.tolerance, s.exponent, s.padding, s.shading,
                            record, names, report, uv_maps, tris, owners=parts.owners([o.name for o in baked]))
    except BaseException:  # e.g. an image of the user's named as ours since the start: UV maps added go again
        _drop_added_uvs([o.name for o in baked])
        raise
    timings["bake"] = time.perf_counter() - t
    result.mapping, result.timings = mapping, timings
    if s.maps:
        warnings += relief_notes(gen.generator, [(v.maps or {}).get("height") for v in captured], bake=True,
                                 displacement=s.shading == "PBR_DISPLACEMENT")
    _tell(result, scene, parts, (prompt, object_prompts, gen.generator), target_names if objects else None, warnings)
    # baked pixels must survive saving: packed now in the UI (autosave), at the save headless (20 textures of 1024²
    # take about 1 s to pack)
    pack_now(*result.made_images())
    report(1.0, "done")
    return result


def _tell(result: MultiviewResult, scene: bpy.types.Scene, parts: SceneSegments, asked: tuple, textured: list | None,
          warnings: list[str]) -> None:
    """Put a run's decisions and warnings on ``result`` and its assignment on the scene (for the sidebar).

    :param parts: The views' routing, for every object they show; the objects baked are told (``textured``).
    :param asked: ``(prompt, object prompts, generator name)`` of the run.
    :param textured: The objects the run was asked to bake (None: every one it sees).
    :param warnings: The run's other warnings, after those of the prompts.
    """
    shown = parts.only(textured)
    notes = run_warnings(*asked, shown, scene, textured)
    result.decisions, result.warnings[:0] = shown.decisions, notes + warnings
    record_assignment(scene, shown.decisions, notes)


def _options(s: MultiviewSettings, objects: list[str], views: int, placement: str, object_prompts: dict[str, str],
             decisions: list[dict]) -> dict:
    """The provenance options of a multi-view run (what :mod:`.regenerate` needs to run it again)."""
    return {"objects": objects, "bake_size": check_bake_size(s.bake_size), "view_size": int(s.view_size),
            "placement": placement, "views": views, "engine": s.engine, "conditioning": bool(s.use_conditioning),
            "harmonise": bool(s.harmonise), "tolerance": float(s.tolerance), "exponent": float(s.exponent),
            "padding": int(s.padding), "shading": s.shading,
            "scene_view": bool(s.scene_view and placement not in ("models", "cameras")), "maps": bool(s.maps),
            "new_uv": bool(s.new_uv),
            "object_prompts": dict(object_prompts), "parts": decisions}


def only_target(targets: list, name: str | None) -> list:
    """``targets``, or only the one called ``name`` when a name is given.

    :param targets: Bake targets.
    :param name: An object name, or None.
    :raises BadInput: When none of them is called ``name``.
    """
    if name is None:
        return targets
    found = [o for o in targets if o.name == name]
    if not found:
        raise BadInput(f"{name!r} is not one of the objects this bake textured "
                       f"({', '.join(repr(o.name) for o in targets)})")
    return found


def _still_there(scene_name: str, names: list[str]) -> tuple[bpy.types.Scene, list[bpy.types.Object]]:
    """The scene and objects of a flow after its images came back (the user may have deleted them)."""
    scene = bpy.data.scenes.get(scene_name)
    missing = [n for n in names if n not in bpy.data.objects]
    if scene is None or missing:
        gone = f"scene {scene_name!r}" if scene is None else ", ".join(repr(n) for n in missing)
        raise BadInput(f"{gone} no longer exist(s); the texture was not baked")
    return scene, [bpy.data.objects[n] for n in names]


def _drop_added_uvs(names: list[str]) -> None:
    """Remove the UV maps a failed or cancelled bake added (the user's own UV maps stay, and so does a map that a
    baked object sharing the mesh shows its bake through)."""
    baked = {o.data for o in bpy.data.objects if o.type == "MESH" and bake_apply.is_baked(o)}
    for obj in (bpy.data.objects.get(n) for n in names):
        if obj is not None and uv_bake.KEY_UV_ADDED in obj.data and obj.data not in baked:
            uv_bake.remove_added_uv(obj.data)
