# SPDX-License-Identifier: GPL-3.0-or-later
"""Reproduce a generated result from its provenance record (``depth.regenerate``).

The record names the capture cameras, prompt, seed, generator and run options, so the depth can
be rendered again from the same poses (through temporary cameras) and the same image generated.
With the same seed and an unchanged scene the result is identical; a new seed or prompt gives a
variation made the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from ..blender import idref, images
from ..blender.camera import camera_model
from ..blender.writeback import multiview, view_cameras
from ..blender.writeback import provenance as provenance_props
from ..errors import BadInput
from ..generation.scene_prompt import parse_scene_prompt
from ..texturing import provenance as prov
from .flow import Flow, GenerateRequest, run_local
from .multiview import MultiviewSettings, multiview_flow, only_target
from .regenerate_projection import give_records, local_edit, projected_image, refresh_image, refresh_maps, showing
from .scene_prompts import SceneSegments, check_object_prompts, record_assignment, run_warnings, scene_segments


@dataclass
class RegenerateRun:
    """What a regenerate made and what it tells, as the other texturing runs do.

    :param result: What :func:`regenerate_record` returns.
    :param decisions: Which material each object of the run got and why (empty: one prompt for every object).
    :param warnings: What in the prompts painted nothing, then what the bake found.
    """

    result: object
    decisions: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _objects(names: list[str], record: dict) -> list[bpy.types.Object]:
    """The objects of a bake run: by their recorded names, or (renamed since) the objects that show its result.

    :raises BadInput: When some are gone.
    """
    found = [bpy.data.objects.get(n) for n in names]
    missing = [n for n, o in zip(names, found, strict=True) if o is None]
    if not missing:
        return found
    showing = [o for o in bpy.data.objects if o.type == "MESH" and (provenance_props.find(o) or (None,))[0] == record]
    if len(showing) == len(names):  # every object of the run still shows it, under other names
        return showing
    raise BadInput(f"objects of the original run are gone: {', '.join(missing)}")


def _source(scene: bpy.types.Scene, model, name: str | None):
    """The recorded camera object when it still sees exactly ``model``, else ``model`` itself.

    Rendering through the original camera avoids the tiny float differences of a camera rebuilt
    from the model, so an unchanged scene regenerates bit-identical pixels.
    """
    obj = bpy.data.objects.get(name) if name else None
    if obj is None or obj.type != "CAMERA":
        return model
    current = camera_model(scene, obj, model.width, model.height)
    same = np.allclose(current.matrix, model.matrix, atol=1e-6) and np.allclose(current.frame, model.frame, atol=1e-9)
    return obj if same and current.ortho == model.ortho else model


def regenerate_record(record: dict, scene: bpy.types.Scene | None = None, seed: int | None = None,
                      prompt: str | None = None, target=None, only: str | None = None) -> object:
    """Run the generation a provenance record describes again, in this process.

    :param record: A provenance record (:mod:`depth_addon.texturing.provenance`).
    :param scene: The scene; the context scene when None.
    :param seed: New seed; the record's when None.
    :param prompt: New prompt; the record's when None.
    :param target: For ``projection`` records, the image whose projection is refreshed.
    :param only: An object name: only that object is repainted, with ``prompt`` as its own prompt. A projection's
        image and maps change only on the object's pixels (a masked local edit); a bake (single or multi-view)
        bakes only that object's textures again, and the other objects' baked images stay as they were.
    :return: A :class:`MultiviewResult` (multiview, bake) or the new image (projection).
    :raises BadInput: For records that cannot be reproduced here.
    """
    return run_local(regenerate_flow(record, scene, seed, prompt, target, only), record.get("generator") or None)


def regenerate_flow(record: dict, scene: bpy.types.Scene | None = None, seed: int | None = None,
                    prompt: str | None = None, target=None, only: str | None = None) -> Flow:
    """:func:`regenerate_record` as a flow (:mod:`.flow`); the generator to use is ``record["generator"]``.

    :return: (when exhausted) what :func:`regenerate_record` returns.
    """
    run = yield from regenerate_run_flow(record, scene, seed, prompt, target, only)
    return run.result


def regenerate_run_flow(record: dict, scene: bpy.types.Scene | None = None, seed: int | None = None,
                        prompt: str | None = None, target=None, only: str | None = None) -> Flow:
    """:func:`regenerate_flow` that also tells which material each object got and what painted nothing (and keeps
    that on the scene for the sidebar, :func:`~.scene_prompts.record_assignment`), as the other texturing runs do.

    :return: (when exhausted) a :class:`RegenerateRun`.
    """
    scene = scene or bpy.context.scene
    original, seed = record, record["seed"] if seed is None else int(seed)
    named = provenance_props.current(record)  # its objects as they are called now (renamed: found by their ids)
    options = dict(named.get("options", {}))
    if "object_prompts" in options:
        options["object_prompts"] = _said(options["object_prompts"])
    latest = _said(_latest_object_prompts(named, target))
    if latest:  # every object with the prompt it was last painted with
        options["object_prompts"] = latest
    if only is not None:  # one object's own prompt changes; the scene prompt stays
        options["object_prompts"] = {**(options.get("object_prompts") or {}),
                                     only: prompt if prompt is not None else _prompt_of(named, only)}
        prompt = record["prompt"]
    record = dict(named, options=options)
    prompt = record["prompt"] if prompt is None else prompt
    cameras = prov.cameras_of(record)
    options = record.get("options", {})
    if record["kind"] == "multiview":
        settings = MultiviewSettings(
            bake_size=multiview.check_bake_size(options.get("bake_size", 1024)), engine=options.get("engine", "auto"),
            use_conditioning=bool(options.get("conditioning", True)), harmonise=bool(options.get("harmonise", True)),
            tolerance=float(options.get("tolerance", 0.005)), exponent=float(options.get("exponent", 2.0)),
            padding=int(options.get("padding", 2)), shading=options.get("shading", "EMISSION"),
            maps=bool(options.get("maps", False)), new_uv=bool(options.get("new_uv", False)))
        result = yield from multiview_flow(scene, _objects(options.get("objects", []), original), None, prompt, seed,
                                           record.get("negative_prompt", ""), settings, cameras,
                                           object_prompts=options.get("object_prompts"), only=only)
        run = RegenerateRun(result, result.decisions, result.warnings)  # multiview_flow told the scene
    elif record.get("generator") == "external image":
        raise BadInput("this texture was baked from an image that was not generated here; nothing to regenerate")
    else:
        objects = _objects(options.get("objects", []), original) if record["kind"] == "bake" else []
        run = yield from _single_view_flow(record, scene, seed, prompt, target, cameras[0], options, only, objects)
    if only is not None and record["kind"] != "projection":  # the run's other objects keep their pixels and seed
        share_record(original, _others_record(named, run.result.provenance))
    return run


def _others_record(original: dict, new: dict) -> dict:
    """The record of the objects of a run that were not repainted when one of them was: their own (seed, prompt and
    what they were painted with), with the run's object prompts as the repainted object left them, so a later
    regenerate of any of them keeps that object's new prompt.

    :param original: The record the run's objects showed.
    :param new: The record of the repainted object.
    """
    options = dict(original.get("options", {}))
    options["object_prompts"] = dict(new.get("options", {}).get("object_prompts") or {})
    return dict(original, options=options)


def _said(object_prompts: dict | None) -> dict:
    """Recorded ``object_prompts`` less the blank ones: a run made before a blank object prompt was refused stored
    it, and regenerating lets the scene prompt paint that object (the user cannot give it a text from here).

    :param object_prompts: Object name → prompt, as a record holds them.
    """
    return {name: text for name, text in (object_prompts or {}).items() if not isinstance(text, str) or text.strip()}


def _latest_object_prompts(record: dict, image: bpy.types.Image | None = None) -> dict[str, str]:
    """The object prompts of a run as its objects now show them: ``record``'s, and each object's own prompt as the
    record it shows holds it (when it is a record of the same run).

    Repainting one object alone writes its new prompt into its own record and into the records of the objects that
    still showed the run's record; an object repainted alone earlier shows a record of its own, which does not learn
    the later ones. The record on each object is the newest word on that object's prompt, so a regenerate from any of
    them paints every object with its latest prompt.

    :param record: A record, its objects called as they are now (:func:`.provenance.current`).
    :param image: For a ``projection`` record: the projected image, whose objects are the run's.
    """
    options = record.get("options", {})
    prompts = dict(options.get("object_prompts") or {})
    index = idref.stable_index(bpy.data.objects)  # one pass: a name lookup in bpy.data walks the objects
    if record["kind"] == "projection":
        objects = showing(image)
    else:
        objects = [o for o in map(index.by_name.get, options.get("objects") or []) if o is not None]
    seen: dict[int, dict] = {}  # the record each holder (image, material, object) holds, read once
    for obj in objects:
        found = provenance_props.find(obj)
        if found is not None and found[1].session_uid not in seen:
            seen[found[1].session_uid] = provenance_props.current(found[0], index)
        own = seen[found[1].session_uid] if found is not None else {}
        if _same_run(own, record) and obj.name in (own["options"].get("object_prompts") or {}):
            prompts[obj.name] = own["options"]["object_prompts"][obj.name]
    return prompts


def _same_run(a: dict, b: dict) -> bool:
    """Whether records ``a`` and ``b`` were made by one run (the same kind, cameras and objects), repainted alone or
    regenerated since."""
    return bool(a) and a.get("kind") == b.get("kind") and a.get("cameras") == b.get("cameras") and (
        a.get("options", {}).get("objects") == b.get("options", {}).get("objects"))


def _prompt_of(record: dict, name: str) -> str:
    """The prompt object ``name`` was painted with in a per-object record (the scene prompt otherwise, and for a
    blank one that a run made before it was refused recorded)."""
    for d in record.get("options", {}).get("parts") or []:
        if _of_object(d, name) and str(d.get("prompt") or "").strip():
            return d["prompt"]
    return record["prompt"]


def _of_object(decision: dict, name: str) -> bool:
    """Whether ``decision`` is a part of object ``name``: its ``object`` (an object called ``name/x`` is another
    object); in records made before decisions named their object, its part is ``name`` or ``name/material``."""
    if "object" in decision:
        return decision["object"] == name
    return decision["part"] == name or decision["part"].startswith(f"{name}/")


def _single_view_flow(record: dict, scene: bpy.types.Scene, seed: int, prompt: str, target, camera,
                      options: dict, only: str | None = None, objects: list | None = None) -> Flow:
    """Regenerate a projection or a single-view bake (into ``objects``) from its capture camera (see
    :func:`regenerate_run_flow`).

    A result painted per object (a prompt that names several materials, or object prompts) is routed
    again from a fresh id render, so every object keeps what the prompt says about it.
    """
    object_prompts = check_object_prompts(options.get("object_prompts"), [o.name for o in scene.objects])
    per_part = bool(object_prompts) or len(parse_scene_prompt(prompt).phrases) > 1
    result = view_cameras.render_view(scene, _source(scene, camera, options.get("camera")),
                                      (camera.width, camera.height), options.get("engine", "auto"), ids=per_part)
    depth, rendered = view_cameras.planar(result), result.camera
    if not np.isfinite(depth).any():
        raise BadInput("the capture camera of this result sees no geometry any more")
    parts = scene_segments(result, prompt, object_prompts) if per_part else SceneSegments()
    target_ref = None if target is None else idref.remember([target])[0]  # renamed or deleted meanwhile: found again
    relightable = bool(options.get("maps"))
    unit = result.unit_scale  # generators are handed metres
    generated = yield GenerateRequest(depth * np.float32(unit), np.isfinite(depth), rendered.scaled(unit), prompt,
                                      seed, maps=relightable,
                                      segments=parts.segments,
                                      segment_prompts=parts.prompts if parts.segments is not None else None,
                                      segment_texts=parts.texts if parts.segments is not None else None)
    new_record = dict(record, seed=seed, prompt=prompt)
    new_record["options"] = dict(options, parts=parts.decisions)  # routed again: what each part got now
    textured = [o.name for o in objects or ()] if record["kind"] == "bake" else None
    shown = parts.only(textured)  # the image is routed for all it shows; the run's objects are told
    warnings = run_warnings(prompt, object_prompts, generated.generator, shown, scene, textured)
    record_assignment(scene, shown.decisions, warnings)
    if record["kind"] == "bake":
        view = multiview.View(rendered, depth, image=generated.rgb, origin=camera, maps=generated.maps,
                              labels=parts.segments)
        baked = _rebake(scene, objects or [], new_record, view, parts, only)
        baked.decisions, baked.warnings[:0] = shown.decisions, warnings
        return RegenerateRun(baked, shown.decisions, baked.warnings)
    inside = None
    if only is not None and target is not None and parts.segments is not None:
        inside = _inside(parts, only)
    target = idref.find(bpy.data.images, *target_ref) if target_ref else None
    shared = provenance_props.read(target) or record  # how the objects not repainted alone were painted
    image = refresh_image(target, local_edit(target, generated.rgb, inside), record)
    maps = refresh_maps(image, generated.maps, inside) if relightable and generated.maps else []
    give_records(image, maps, new_record, _others_record(provenance_props.current(shared), new_record), only)
    return RegenerateRun(image, shown.decisions, warnings)


def _rebake(scene: bpy.types.Scene, objects: list, new_record: dict, view, parts: SceneSegments,
            only: str | None) -> multiview.MultiviewResult:
    """Bake a regenerated view into the objects of a single-view bake (only object ``only`` when given: the other
    objects' textures stay as they are)."""
    options = new_record.get("options", {})
    objects = only_target(objects, only)
    size = multiview.check_bake_size(options.get("bake_size", 1024))
    shading = options.get("shading") or ("PBR" if view.maps else "EMISSION")
    result = multiview.bake_views(scene, objects, [view], size, tolerance=0.02, shading=shading, record=new_record,
                                  owners=parts.owners([o.name for o in objects]))
    images.pack_generated(*result.images.values(), *(i for m in result.maps.values() for i in m.values()))
    return result


def share_record(old: dict, new: dict) -> None:
    """Give ``new`` to the materials and images of every object that still shows ``old`` (after one object of a bake
    was repainted: :func:`_others_record`). Pixels are not touched.

    :param old: The record the objects showed.
    :param new: The record to show instead.
    """
    for obj in bpy.data.objects:
        for slot in obj.material_slots:
            mat = slot.material
            tree = mat.node_tree if mat is not None else None
            nodes = tree.nodes if tree is not None else ()
            for idb in (mat, *(n.image for n in nodes if n.bl_idname == "ShaderNodeTexImage")):
                if idb is not None and provenance_props.read(idb) == old:
                    provenance_props.attach(new, idb)


def _inside(parts: SceneSegments, name: str) -> np.ndarray:
    """H×W bool: the pixels of object ``name`` (its parts in ``parts.segments``).

    :raises BadInput: When the object shows no pixel.
    """
    ids = [d["segment"] for d in parts.decisions if _of_object(d, name)]
    inside = np.isin(parts.segments, ids)
    if not inside.any():
        raise BadInput(f"{name!r} is not in the capture camera's view; nothing of it to repaint")
    return inside


def regenerate(obj: bpy.types.Object, scene: bpy.types.Scene | None = None, seed: int | None = None,
               prompt: str | None = None, only_this: bool = False) -> object:
    """Regenerate the result shown on ``obj`` from the provenance found on it (in this process).

    :param obj: An object showing a projection, bake or multi-view texture of ours.
    :param scene: The scene; the context scene when None.
    :param seed: New seed; the recorded one when None.
    :param prompt: New prompt; the recorded one when None.
    :param only_this: Repaint only ``obj``, ``prompt`` as its own prompt (a projection: a masked local edit of the
        image and its maps; a bake: only ``obj``'s textures are baked again).
    :raises BadInput: When the object carries no provenance.
    """
    record, target = find_record(obj)
    return regenerate_record(record, scene, seed, prompt, target, obj.name if only_this else None)


def find_record(obj: bpy.types.Object | None) -> tuple[dict, bpy.types.Image | None]:
    """The provenance record of what ``obj`` shows, and the image holding it (projections), or None.

    :raises BadInput: When the object carries no provenance.
    """
    found = provenance_props.find(obj) if obj is not None else None
    if found is None:
        raise BadInput(f"{getattr(obj, 'name', None)!r} shows nothing with a provenance record to regenerate")
    record, holder = found
    if not isinstance(holder, bpy.types.Image) and record.get("kind") == "projection":
        holder = projected_image(obj)
    return record, holder if isinstance(holder, bpy.types.Image) else None
