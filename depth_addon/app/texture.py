# SPDX-License-Identifier: GPL-3.0-or-later
"""Generation and write-back from one camera, the use case: depth → generator → projection (+ compositor).

:func:`texture_flow` is the use case as a flow (:mod:`.flow`): in this process through :func:`texture_scene`,
from the sidebar through the worker. :func:`apply_generated` is the one write-back of a generated image.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from ..blender import idref, images
from ..blender.compositor import group as comp
from ..blender.writeback import left_out, projection
from ..blender.writeback import provenance as provenance_props
from ..depthmap import DepthResult
from ..errors import BadInput
from ..generation import get_generator
from ..generation.base import region_prompts
from ..io.atomic import write_bytes_atomic
from ..io.exr import write_exr
from ..io.png import to_uint, with_text, write_png
from ..mapping import DepthMapping
from ..texturing import provenance as prov
from .depth import depth_mapping, render_depth, save_depth
from .flow import PAUSE, Flow, Generated, GenerateRequest, relief_notes, reporter, run_local, wanted_maps
from .packing import keep_on_save
from .scene_prompts import (
    SceneSegments,
    check_objects,
    needs_ids,
    record_assignment,
    routed_depth,
    run_object_prompts,
    run_warnings,
    scene_segments,
)

Progress = Callable[[float, str], None]
#: Scene property naming the last generated image (the default of Project Image).
LAST_IMAGE = "depth_addon_last_image"
#: One thread for numpy work that overlaps generation (it releases the GIL).
_THREAD: dict = {}  # "pool": the helper thread, made on first use and shut down when the add-on is disabled


def _pool() -> ThreadPoolExecutor:
    """The helper thread for numpy work that overlaps generation."""
    if "pool" not in _THREAD:
        _THREAD["pool"] = ThreadPoolExecutor(1, thread_name_prefix="depth_addon")
    return _THREAD["pool"]


def shutdown() -> None:
    """Stop the helper thread (add-on unregister); the next run makes a new one."""
    pool = _THREAD.pop("pool", None)
    if pool is not None:
        pool.shutdown(wait=True)


def generate(depth: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0,
             generator: str | None = None, size: tuple[int, int] | None = None, camera=None,
             progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
             segments: np.ndarray | None = None, segment_prompts: list[str] | None = None,
             segment_texts: list[str] | None = None, object_prompts: dict[str, str] | None = None) -> np.ndarray:
    """Generate an RGB image (H×W×3 float32, sRGB values in [0, 1]) from depth in metres.

    :param depth: H×W planar depth, ``inf`` background; or a depth render (:class:`DepthResult`): its depth in
        metres, mask and camera are used, and with ``render_depth(ids=True)`` a prompt naming several materials, or
        ``object_prompts``, paints each object as routed (:mod:`.scene_prompts`).
    :param mask: H×W bool of valid pixels; ``isfinite(depth)`` when None.
    :param prompt: What to paint.
    :param seed: Same seed, same image.
    :param generator: Generator name; the default generator when None.
    :param size: Output ``(width, height)``; the depth's size when None.
    :param camera: :class:`~depth_addon.camera.CameraModel` of the depth (for normals).
    :param progress: Called with ``(fraction, message)``.
    :param cancel: Polled; returning True raises :class:`~depth_addon.errors.Cancelled`.
    :param segments: H×W part index per pixel, painted per part with ``segment_prompts`` (generators that
        paint regions; :mod:`.scene_prompts`).
    :param segment_prompts: One prompt per part index.
    :param segment_texts: The same as typed (free-text generators read these instead).
    :param object_prompts: Object name → prompt, winning over routing; needs ``depth`` as a render with ids.
    """
    if isinstance(depth, DepthResult) or object_prompts:
        depth, mask, camera, parts = routed_depth(depth, prompt, object_prompts)
        segments, segment_prompts, segment_texts = parts.segments, parts.prompts, parts.texts
    gen = get_generator(generator)
    extra = ({"segments": segments, "segment_prompts": region_prompts(gen, segment_prompts, segment_texts)}
             if segments is not None else {})
    return gen.generate(depth, mask, prompt=prompt, seed=seed, size=size, progress=progress, cancel=cancel,
                        camera=camera, **extra)


def project(scene: bpy.types.Scene, result: DepthResult, image: bpy.types.Image, objects=None, occlusion: bool = True,
            slack: np.ndarray | None = None):
    """Project ``image`` from the camera ``result`` was rendered from onto the scene's meshes.

    Each material slot gets a new material (the originals are kept and restored by ``projection.remove_projection``);
    surfaces the camera did not see keep their own look.

    :param scene: Scene whose objects receive the projection.
    :param result: The depth render (camera pose, frame and occlusion depth).
    :param image: The image to project.
    :param objects: Objects to project onto; every visible mesh when None.
    :param occlusion: Test visibility against the captured depth.
    :param slack: :func:`~depth_addon.blender.images.depth_slack` of the planar depth, when already computed.
    """
    planar = result.camera.radial_to_planar(result.depth) if result.radial else result.depth
    if not occlusion:
        return projection.project_image(scene, result.camera, image, objects=objects)
    occluder = images.occlusion_image(f"{image.name} Depth", planar, slack)
    return projection.project_image(scene, result.camera, image, objects=objects, depth_image=occluder)


@dataclass
class TextureRun:
    """What :func:`texture_scene` produced: arrays, datablocks, files and stage timings; ``notes`` say what was left
    out and why, ``warnings`` what in the prompts painted nothing (:func:`.scene_prompts.run_warnings`)."""

    depth: DepthResult
    mapping: DepthMapping
    rgb: np.ndarray
    image: bpy.types.Image
    projection: object
    compositor: bpy.types.NodeTree | None
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    parts: SceneSegments = field(default_factory=SceneSegments)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def texture_scene(scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                  prompt: str = "", seed: int = 0, generator: str | None = None, out_dir: str | os.PathLike | None
                  = None, resolution: tuple[int, int] | None = None, engine: str = "auto", mapping: str = "inverse",
                  compositor: bool = True, progress: Progress | None = None,
                  cancel: Callable[[], bool] | None = None, object_prompts: dict[str, str] | None = None,
                  maps: bool | str | list = False, objects: list | tuple | None = None) -> TextureRun:
    """The whole path in this process: depth from the camera → generated image → projection (+ compositor).

    The sidebar runs the same :func:`texture_flow` through the worker (:mod:`.jobs`).

    :param scene: Scene to texture; the context scene when None.
    :param camera: Camera object or name; the scene camera when None.
    :param prompt: What to paint.
    :param seed: Same seed, same image.
    :param generator: Generator name; the default generator when None.
    :param out_dir: When given, ``depth.exr``, ``depth.png`` and ``generated.png`` are written there and the
        projected image is loaded from ``generated.png`` (so a saved .blend references it).
    :param resolution: ``(width, height)`` of depth and image; the scene's when None.
    :param engine: Depth engine (see :func:`render_depth`).
    :param mapping: Mapping kind recorded with the depth PNG.
    :param compositor: Also set up our compositor group with the generated image as AI layer (when the image is
        seen from the scene camera; :attr:`TextureRun.notes` says when it was left out).
    :param progress: Called with ``(fraction, message)``.
    :param cancel: Polled between stages and inside generation.
    :param object_prompts: Object name → prompt, winning over the routing of a multi-material ``prompt``.
    :param maps: Also project material maps: a relightable Principled material instead of the lit image as
        emission, the maps written next to the image with ``out_dir``. ``True`` or map names (see
        :func:`~.flow.wanted_maps`; with ``True`` a generator without relief is noted in :attr:`TextureRun.notes`).
    :param objects: Mesh objects (or their names) to project onto; every visible mesh when None or empty.
    """
    report = reporter(progress, cancel)
    names = tuple(o if isinstance(o, str) else o.name for o in objects or ())
    flow = texture_flow(scene, camera, prompt, seed, out_dir, resolution, engine, mapping, compositor, names,
                        report=report, object_prompts=object_prompts, maps=wanted_maps(maps, generator))
    return run_local(flow, generator, progress=progress, cancel=cancel)


def _notes(scene: bpy.types.Scene, depth: DepthResult, proj: projection.ProjectionResult, objects: tuple[str, ...],
           generated: Generated, maps: bool | str | list) -> list[str]:
    """What a projection run tells besides the prompts: what the depth render found (instancers that draw nothing
    ...), meshes in view left out (linked from a library), results of other scenes replaced, flat relief.

    :param scene: The scene.
    :param depth: The run's depth.
    :param proj: What the projection did.
    :param objects: The objects chosen for the run (none: every mesh in view).
    :param generated: What the generator gave.
    :param maps: The maps asked for.
    """
    notes = list(depth.meta.get("warnings", ()))
    notes += [] if objects else left_out.left_out_notes(scene)
    notes += [f"{', '.join(map(repr, proj.replaced))} showed another scene's result, replaced by this one (an object "
              "shows one projection, in every scene it is in)"] if proj.replaced else []
    if maps and generated.maps:
        notes += relief_notes(generated.generator, [generated.maps.get("height")], bake=False)
    return notes


def texture_flow(scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                 prompt: str = "", seed: int = 0, out_dir: str | os.PathLike | None = None,
                 resolution: tuple[int, int] | None = None, engine: str = "auto", mapping: str = "inverse",
                 compositor: bool = True, objects: tuple[str, ...] = (), label: str = "Generated",
                 report: Progress | None = None, object_prompts: dict[str, str] | None = None,
                 maps: bool = False) -> Flow:
    """Texture from one camera as a flow (:mod:`.flow`): depth now, one image request, then the write-back.

    A prompt that names several materials, or ``object_prompts``, paints each object (or material slot)
    with its own material (:mod:`.scene_prompts`); the assignment is recorded in the provenance.

    :param objects: Names of the objects to project onto; every visible mesh when empty.
    :param object_prompts: Object name → prompt, winning over the routing of ``prompt`` and over the Object
        Prompt set on the object in the sidebar (which wins over the routing too).
    :param label: Names the image (``Depth <label>``, numbered when taken).
    :param report: Progress of the main-thread stages.
    The other parameters are :func:`texture_scene`'s.
    :return: (when exhausted) the :class:`TextureRun`.
    """
    report, scene = report or (lambda _f, _m: None), scene or bpy.context.scene
    frame, timings, files = scene.frame_current, {}, {}
    t = time.perf_counter()
    report(0.0, "rendering depth")
    check_objects(objects, [o.name for o in scene.objects], scene)
    (scene_ref,), object_refs = idref.remember([scene]), idref.remember(scene.objects[n] for n in objects)
    object_prompts = run_object_prompts(scene, object_prompts)
    per_part = needs_ids(prompt, object_prompts)
    depth = render_depth(scene, camera, resolution, engine, ids=per_part)
    if not depth.mask.any():
        raise BadInput("the camera sees no geometry; nothing to texture")
    if not objects:  # before anything is generated: none of the meshes in view may take a result
        left_out.require_meshes_in_view(scene)
    parts = scene_segments(depth, prompt, object_prompts) if per_part else SceneSegments()
    depth_map = depth_mapping(depth, kind=mapping)
    timings["depth"] = time.perf_counter() - t
    if out_dir is not None:
        files["depth_exr"] = save_depth(depth, Path(out_dir) / "depth.exr", depth_map)
        files["depth_png"] = save_depth(depth, Path(out_dir) / "depth.png", depth_map)
    cam_name = camera if isinstance(camera, str) else (camera or scene.camera).name
    planar = depth.camera.radial_to_planar(depth.depth) if depth.radial else depth.depth
    slack = _pool().submit(images.depth_slack, planar)  # numpy, while the image is generated
    t = time.perf_counter()
    report(0.1, "generating")
    metres, metric_camera = depth.metric()  # generators paint relief and patterns of sizes in metres
    generated = yield GenerateRequest(metres, depth.mask, metric_camera, prompt, seed, segments=parts.segments,
                                      segment_prompts=parts.prompts if parts.segments is not None else None,
                                      segment_texts=parts.texts if parts.segments is not None else None, maps=maps)
    timings["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    report(0.8, "projecting")
    scene = _scene(*scene_ref)  # renamed meanwhile: found by its session id
    objects = tuple(o.name for o in idref.find_all(bpy.data.objects, object_refs) if o is not None)
    if object_refs and not objects:
        raise BadInput("none of the objects chosen for this result exist any more")
    record = prov.provenance("projection", prompt, seed, generated.generator, [depth.camera], depth_map,
                             weights_hash=generated.fingerprint, frame=frame,
                             options={"engine": engine, "camera": cam_name, "parts": parts.decisions,
                                      "object_prompts": object_prompts, "maps": bool(maps),
                                      "unit_scale": depth.unit_scale})  # cameras and range: scene units
    image, proj = yield from apply_generated(scene, depth, generated.rgb, record, out_dir, files, objects, label,
                                             slack.result(), generated.maps if maps else None)
    timings["project"] = time.perf_counter() - t
    notes = _notes(scene, depth, proj, objects, generated, maps)
    group = _composite(scene, image, cam_name, timings, notes) if compositor else None
    shown = parts.only(objects)  # the image is routed for all it shows; the objects textured are reported
    warnings = run_warnings(prompt, object_prompts, generated.generator, shown, scene, objects)
    record_assignment(scene, shown.decisions, warnings)
    report(1.0, "done")
    return TextureRun(depth=depth, mapping=depth_map, rgb=generated.rgb, image=image, projection=proj,
                      compositor=group, files=files, timings=timings, parts=shown, notes=notes, warnings=warnings)


def _composite(scene: bpy.types.Scene, image: bpy.types.Image, camera: str, timings: dict, notes: list[str]
               ) -> bpy.types.NodeTree | None:
    """Layer ``image`` over the scene's render with our compositor group, when it is seen from the scene camera;
    else say why not in ``notes`` (it would not line up) and leave the compositor as it was."""
    if scene.camera is not None and scene.camera.name != camera:
        notes.append(f"the compositor was left as it was: the image is seen from {camera!r}, the render from "
                     f"{scene.camera.name!r}, so it would not line up")
        return None
    t = time.perf_counter()
    group = comp.ensure_compositor_group(scene, image=image)
    comp.activate_compositor(scene)
    timings["compositor"] = time.perf_counter() - t
    return group


def _scene(name: str, uid: int | None = None) -> bpy.types.Scene:
    """The scene called ``name`` (with ``uid``: the one of that session id, renamed or not); the user may have deleted
    it while the image was generated."""
    scene = bpy.data.scenes.get(name) if uid is None else idref.find(bpy.data.scenes, name, uid)
    if scene is None:
        raise BadInput(f"scene {name!r} no longer exists; the result was dropped")
    return scene


def apply_generated(scene: bpy.types.Scene, depth: DepthResult, rgb: np.ndarray, record: dict,
                    out_dir: str | os.PathLike | None = None, files: dict[str, Path] | None = None,
                    objects: tuple[str, ...] = (), label: str = "Generated", slack: np.ndarray | None = None,
                    maps: dict | None = None) -> Flow:
    """Write a generated image back into the scene: an image datablock projected from the capture camera.

    Every route that generates from one camera ends here (a flow step: use it with ``yield from``; it
    pauses between creating the image, its occlusion depth and the projection). With ``out_dir`` the image is written to
    ``generated.png`` (provenance in its metadata) and loaded from there, so a saved .blend references it;
    without, the image holds its pixels as a packed PNG file from the start (8-bit maps too), so the save and
    autosave keep them and nothing is encoded later; the float occlusion depth is packed at the save
    (:func:`pack_on_save`).
    The image is called ``Depth <label>`` (numbered when the name is taken); the provenance ``record`` is
    attached to it, the projector and the new materials.

    :param scene: The scene.
    :param depth: The depth render the image was generated from (camera pose and occlusion).
    :param rgb: H×W×3 float sRGB image.
    :param record: Provenance record (:func:`depth_addon.texturing.provenance.provenance`).
    :param out_dir: Folder for ``generated.png``; None keeps the image in the .blend only.
    :param files: Collects ``generated`` → path when given.
    :param objects: Names of the objects to project onto; every visible mesh when empty.
    :param label: Image name after ``Depth ``.
    :param slack: The depth's occlusion slack when already computed.
    :param maps: Material maps of the image (:mod:`depth_addon.generation.maps`), projected as a relightable one.
    :return: (when exhausted) ``(image, projection result)``.
    :raises BadInput: When none of ``objects`` exists any more.
    """
    name = images.free_name(f"Depth {label}")
    if out_dir is not None:
        path = Path(out_dir) / "generated.png"
        write_png(path, to_uint(rgb, 8), prov.metadata_text(record))
        image = bpy.data.images.load(str(path.resolve()), check_existing=False)
        image.name = name
        if files is not None:
            files["generated"] = path
    else:  # packed from the start: autosave and the save keep it, and packing encodes nothing later
        image = images.image_from_array(name, images.pixels(rgb, encode=True))
    occluder, projected = None, map_images(image.name, maps, out_dir, files, record) if maps else {}
    try:
        yield PAUSE
        planar = depth.camera.radial_to_planar(depth.depth) if depth.radial else depth.depth
        occluder = images.occlusion_image(f"{image.name} Depth", planar, slack)
        yield PAUSE
        targets = None
        if objects:
            targets = [bpy.data.objects[n] for n in objects if n in bpy.data.objects]
            if not targets:
                raise BadInput("none of the objects chosen for this result exist any more")
        proj = projection.project_image(_scene(scene.name), depth.camera, image, objects=targets,
                                        depth_image=occluder, maps=projected or None)
    except BaseException:
        for made in (image, occluder, *projected.values()):
            if made is not None:
                bpy.data.images.remove(made)
        raise
    provenance_props.attach(record, image, proj.projector, *proj.materials, *projected.values())
    scene[LAST_IMAGE] = image.name
    keep_on_save()  # whatever else of ours lives in memory is packed at the save
    return image, proj


#: The maps a projection uses, and their image name suffixes (the normal map is a bake's: it needs UVs).
PROJECTED_MAPS = {"albedo": "Albedo", "roughness": "Roughness", "metallic": "Metallic", "height": "Height"}


def map_images(name: str, maps: dict, out_dir: str | os.PathLike | None, files: dict | None, record: dict) -> dict:
    """Images ``<name> Albedo`` … of the projected maps; with ``out_dir`` also written as ``albedo.png``,
    ``roughness.png``, ``metallic.png`` (provenance in the metadata) and ``height.exr`` (metres).

    :param name: The lit image's name.
    :param maps: Map name → H×W(×3) array at the image's size.
    :param out_dir: Output folder, or None.
    :param files: Collects ``<map>`` → path when given.
    :param record: Provenance record.
    :return: Map name → image.
    """
    out = {}
    for key, suffix in PROJECTED_MAPS.items():
        if key not in maps:
            continue
        value = np.asarray(maps[key], np.float32)
        stored = value if key in images.FLOAT_MAPS else images.pixels(value, encode=True)  # 8-bit: packed PNG
        out[key] = images.map_image(images.free_name(f"{name} {suffix}"), key, stored)
        images.pack_generated(out[key])  # the float height map too: Undo/Redo and autosave keep no unpacked pixels
        if out_dir is not None:
            path = Path(out_dir) / (f"{key}.exr" if key == "height" else f"{key}.png")
            if key == "height":
                write_exr(path, {"Y": value}, {"units": "metres", "map": "height"})
            else:  # the same file as the image holds, with the provenance
                write_bytes_atomic(path, with_text(stored.png, prov.metadata_text(record)))
            if files is not None:
                files[key] = path
    return out
