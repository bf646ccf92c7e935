# SPDX-License-Identifier: GPL-3.0-or-later
"""Multi-view texturing: views → depth → generation (conditioned on earlier views) → fused UV bakes.

:func:`texture_multiview` runs the whole path for a set of objects; :func:`bake_views` is its last
stage and also bakes a single projection so it follows the object (``depth.bake_textures``). The
fusion runs in numpy in each object's UV space (:mod:`depth_addon.texturing`), not through
Blender bakes, so it needs no render engine beyond the depth renders.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import bpy
import numpy as np

from ...camera import CameraModel
from ...errors import BadInput, Cancelled
from ...mapping import DepthMapping, fit_mapping
from ...texturing import conditioning, fill, raster
from ...texturing import provenance as prov
from ...texturing.fusion import View, accumulate
from ...texturing.views import PLACEMENTS, place_views
from . import bake_apply, uv_bake, view_cameras
from . import provenance as provenance_props

Progress = Callable[[float, str], None]


@dataclass
class MultiviewResult:
    """What :func:`texture_multiview` (or :func:`bake_views`) made.

    :param objects: The textured objects.
    :param views: The views, with depth, conditioned images and contributions.
    :param images: Object name → baked image.
    :param materials: Object name → baked material.
    :param uv_maps: Object name → UV map baked into.
    :param coverage: Object name → fraction of its texels some view saw.
    :param mapping: Depth mapping with the range locked across views (None for a single bake).
    :param provenance: The record attached to the images and materials.
    :param warnings: Things the user should know (views that saw nothing ...).
    :param timings: Seconds per stage.
    """

    objects: list
    views: list[View]
    images: dict = field(default_factory=dict)
    materials: dict = field(default_factory=dict)
    uv_maps: dict = field(default_factory=dict)
    coverage: dict = field(default_factory=dict)
    mapping: DepthMapping | None = None
    provenance: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)


def _reporter(progress: Progress | None, cancel: Callable[[], bool] | None) -> Progress:
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(min(max(fraction, 0.0), 1.0), message)
        if cancel is not None and cancel():
            raise Cancelled("cancelled by the user")

    return report


def surface_samples(triangles: list[tuple[np.ndarray, np.ndarray, np.ndarray]], limit: int = 20000
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangle centroids, unit normals and areas of all objects (at most ``limit``, area-biased).

    :param triangles: Per object ``(uv, position, normal)`` from :func:`uv_bake.surface_triangles`.
    :param limit: Largest number of samples.
    """
    pos = np.concatenate([t[1] for t in triangles])
    edge1, edge2 = pos[:, 1] - pos[:, 0], pos[:, 2] - pos[:, 0]
    cross = np.cross(edge1, edge2)
    area = np.linalg.norm(cross, axis=1) / 2.0
    normal = cross / np.maximum(2.0 * area, 1e-12)[:, None]
    centre = pos.mean(axis=1)
    if len(area) > limit:
        rng = np.random.default_rng(0)
        pick = rng.choice(len(area), limit, replace=False, p=area / area.sum() if area.sum() > 0 else None)
        scale = area.sum() / max(area[pick].sum(), 1e-30)
        return centre[pick], normal[pick], area[pick] * scale
    return centre, normal, area


def capture_views(scene: bpy.types.Scene, triangles: list, cameras=None, count: int = 4, placement: str = "orbit",
                  view_size: int = 512, engine: str = "auto", warnings: list[str] | None = None,
                  report: Progress | None = None, models: list[CameraModel] | None = None) -> list[View]:
    """Depth of every view: the user's cameras, or ``count`` placed around the objects.

    Views that see no geometry are dropped (with a warning).

    :param scene: The scene.
    :param triangles: Per object ``(uv, position, normal)`` world triangles (for placement).
    :param cameras: Camera objects or names; None places views.
    :param count: Number of placed views.
    :param placement: ``orbit``, ``hemisphere`` or ``greedy``.
    :param view_size: Longer side of each view in pixels.
    :param engine: Depth engine.
    :param warnings: List that collects warnings.
    :param report: Progress callback.
    :param models: Exact views to render (a recorded run); overrides ``cameras`` and placement.
    :raises BadInput: When no view sees anything.
    """
    if not 16 <= int(view_size) <= 4096:
        raise BadInput(f"view size must be 16 to 4096 pixels, got {view_size}")
    if models:
        todo = [(m, m) for m in models]
        names = [f"view {i + 1}" for i in range(len(models))]
    elif cameras:
        todo = [(model, obj) for obj, model in view_cameras.user_views(scene, cameras, view_size)]
        names = [obj.name for _m, obj in todo]
    else:
        if placement not in PLACEMENTS:
            raise BadInput(f"unknown view placement {placement!r}; use one of {', '.join(PLACEMENTS)}")
        if not 1 <= int(count) <= 64:
            raise BadInput(f"number of views must be 1 to 64, got {count}")
        center, radius = view_cameras.bounds([t[1] for t in triangles])
        samples = surface_samples(triangles) if placement == "greedy" else None
        models = place_views(placement, int(count), center, radius, (int(view_size), int(view_size)),
                             samples=samples)
        todo = [(m, m) for m in models]
        names = [f"{placement} view {i + 1}" for i in range(len(models))]
    views: list[View] = []
    for i, ((model, source), name) in enumerate(zip(todo, names, strict=True)):
        if report is not None:
            report(0.1 * i / len(todo), f"depth of {name}")
        depth, rendered = view_cameras.render_view_depth(scene, source, (model.width, model.height), engine)
        if not np.isfinite(depth).any():
            if warnings is not None:
                warnings.append(f"{name} sees no geometry; it was left out")
            continue
        views.append(View(rendered, depth, origin=model if source is model else None))
    if not views:
        raise BadInput("none of the views sees any geometry; move the cameras or the objects")
    return views


def locked_mapping(views: list[View], kind: str = "inverse") -> DepthMapping:
    """One depth mapping whose range covers every view (the range is locked across views).

    :param views: Views with depth.
    :param kind: Mapping curve.
    """
    d = np.concatenate([v.depth[np.isfinite(v.depth)] for v in views])
    return fit_mapping(d, np.ones(d.shape, bool), kind=kind)


def generate_views(views: list[View], prompt: str, seed: int, generator: str | None, use_conditioning: bool = True,
                   harmonise: bool = True, tolerance: float = 0.005, exponent: float = 2.0,
                   report: Progress | None = None, cancel: Callable[[], bool] | None = None):
    """Generate each view's image in order, each conditioned on the paint of the earlier ones.

    Earlier paint is reprojected into the view first. A generator whose ``generate`` accepts
    ``init_image`` (H×W×3 earlier paint) and ``init_mask`` (H×W bool, True where it may paint)
    gets them; with any generator the result is then composited by the keep/refine/generate
    trimap and harmonised with the earlier paint.

    :param views: Views with depth; their ``image`` and ``contribution`` are set.
    :param prompt: Prompt.
    :param seed: Seed (the same for every view, so palettes agree).
    :param generator: Generator name.
    :param use_conditioning: Keep/refine/generate trimap against earlier views.
    :param harmonise: Match each view's colours to the earlier paint on the overlap.
    :param tolerance: Relative depth slack of visibility tests.
    :param exponent: Facing exponent of the weights.
    :param report: Progress callback.
    :param cancel: Polled inside generation.
    :return: The generator instance.
    """
    from ...generation import get_generator

    gen = get_generator(generator)
    hints = _accepts_hints(gen)
    for k, view in enumerate(views):
        if report is not None:
            report(0.1 + 0.5 * k / len(views), f"generating view {k + 1} of {len(views)}")
        mask = np.isfinite(view.depth)
        prior = conditioning.reproject(views[:k], view, tolerance, exponent) if k else None
        extra = {}
        if hints and prior is not None and use_conditioning:  # generators that can inpaint get the paint
            extra = {"init_image": prior.colour, "init_mask": (conditioning.trimap(prior) != conditioning.KEEP)}
        rgb = np.asarray(gen.generate(view.depth, mask, prompt=prompt, seed=seed, camera=view.camera, cancel=cancel,
                                      **extra), np.float32)[..., :3]
        if prior is not None and (use_conditioning or harmonise):
            image, share, _labels, gain_offset = conditioning.condition(rgb, prior, mask, harmonise=harmonise)
            if use_conditioning:
                view.image, view.contribution = image, share
            else:
                gain, offset = gain_offset
                view.image = np.clip(rgb * gain + offset, 0.0, 1.0)
        else:
            view.image = rgb
    return gen


def _accepts_hints(gen) -> bool:
    """True when ``gen.generate`` takes ``init_image`` and ``init_mask`` (inpainting-capable generators)."""
    import inspect

    try:
        params = inspect.signature(gen.generate).parameters
    except (TypeError, ValueError):
        return False
    return "init_image" in params and "init_mask" in params


def bake_views(scene: bpy.types.Scene, objects: list, views: list[View], bake_size: int = 1024,
               tolerance: float = 0.005, exponent: float = 2.0, padding: int = 2, shading: str = "EMISSION",
               record: dict | None = None, image_names: dict[str, str] | None = None,
               report: Progress | None = None, uv_maps: dict[str, str] | None = None,
               triangles: dict | None = None) -> MultiviewResult:
    """Fuse views with images into each object's UV texture and show it on the object.

    :param scene: The scene.
    :param objects: Validated bake targets (:func:`uv_bake.bake_targets`).
    :param views: Views with depth and images.
    :param bake_size: Texture side (512–4096 typical; 8–8192 accepted).
    :param tolerance: Relative depth slack of the visibility test.
    :param exponent: Facing exponent.
    :param padding: Island padding in texels.
    :param shading: ``EMISSION`` or ``PRINCIPLED``.
    :param record: Provenance attached to images and materials.
    :param image_names: Object name → image name (checked: never a user's image).
    :param report: Progress callback.
    :param uv_maps: Object name → UV map (from :func:`uv_bake.ensure_uv_maps`); made when None.
    :param triangles: Object name → world triangles already read; read when None.
    """
    size = raster.check_size(bake_size)
    names = bake_apply.check_images_free(objects, "bake", image_names)
    if shading not in bake_apply.SHADINGS:
        raise BadInput(f"unknown shading {shading!r}; use one of {', '.join(bake_apply.SHADINGS)}")
    uv_maps = uv_maps or uv_bake.ensure_uv_maps(objects)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    result = MultiviewResult(objects=list(objects), views=views, uv_maps=uv_maps, provenance=record or {})
    made: list = []
    try:
        for i, obj in enumerate(objects):
            if report is not None:
                report(0.6 + 0.4 * i / len(objects), f"baking {obj.name}")
            tris = (triangles or {}).get(obj.name) or uv_bake.surface_triangles(obj, depsgraph, uv_maps[obj.name])
            geom = raster.rasterize_uv(*tris, size, measure_overlap=False)
            colour, weight = accumulate(views, geom.position, geom.normal, tolerance, exponent)
            seen = weight > 0
            result.coverage[obj.name] = float(seen.mean()) if seen.size else 0.0
            grid_seen = np.zeros(size * size, bool)
            grid_seen[geom.index[seen]] = True
            texture = fill.fill_texture(geom.to_grid(colour), grid_seen.reshape(size, size), geom.mask(), padding)
            image = bake_apply.store_texture(names[obj.name], texture)
            made.append(image)
            result.images[obj.name] = image
        for obj in objects:
            result.materials[obj.name] = bake_apply.apply_bake(obj, result.images[obj.name], uv_maps[obj.name],
                                                               "bake", shading)
    except BaseException:
        for image in made:
            if image.users == 0:
                bpy.data.images.remove(image)
        for obj in objects:
            if not bake_apply.is_baked(obj) and uv_bake.KEY_UV_ADDED in obj.data:
                uv_bake.remove_added_uv(obj.data)
        raise
    if record:
        for obj in objects:
            provenance_props.attach(record, result.images[obj.name], result.materials[obj.name])
    for obj in objects:
        if result.coverage[obj.name] == 0.0:
            result.warnings.append(f"no view sees {obj.name!r}; its texture is a guess from nothing")
    return result


def texture_multiview(scene: bpy.types.Scene | None = None, objects=None, cameras=None, views: int = 4,
                      placement: str = "orbit", prompt: str = "", seed: int = 0, generator: str | None = None,
                      negative_prompt: str = "", bake_size: int = 1024, view_size: int = 512, engine: str = "auto",
                      use_conditioning: bool = True, harmonise: bool = True, tolerance: float = 0.005,
                      exponent: float = 2.0, padding: int = 2, shading: str = "EMISSION",
                      progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
                      models: list[CameraModel] | None = None) -> MultiviewResult:
    """Texture objects from several views and bake the fused result into their UV maps.

    :param scene: The scene; the context scene when None.
    :param objects: Objects to texture; every visible local mesh when None.
    :param cameras: The user's cameras (objects or names); None places ``views`` cameras.
    :param views: Number of placed views.
    :param placement: ``orbit``, ``hemisphere`` or ``greedy`` (most uncovered surface first).
    :param prompt: Prompt.
    :param seed: Seed.
    :param generator: Generator name; the default when None.
    :param negative_prompt: Recorded in the provenance (for generators that take one).
    :param bake_size: Texture side per object.
    :param view_size: Longer side of each generated view.
    :param engine: Depth engine.
    :param use_conditioning: Condition later views on earlier paint (keep/refine/generate).
    :param harmonise: Match each view's colours to earlier paint.
    :param tolerance: Relative depth slack of visibility.
    :param exponent: Facing exponent of the fusion weights.
    :param padding: Island padding in texels.
    :param shading: ``EMISSION`` or ``PRINCIPLED``.
    :param progress: Called with ``(fraction, message)``.
    :param cancel: Polled; True raises :class:`~depth_addon.errors.Cancelled`.
    :param models: Exact camera models to use (reproducing a recorded run); overrides the rest.
    :raises BadInput: Bad objects, options, a user's image in the way, or views that see nothing.
    """
    scene = scene or bpy.context.scene
    report = _reporter(progress, cancel)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    targets = uv_bake.bake_targets(scene, objects)
    names = bake_apply.check_images_free(targets, "bake")
    raster.check_size(bake_size)
    if shading not in bake_apply.SHADINGS:
        raise BadInput(f"unknown shading {shading!r}; use one of {', '.join(bake_apply.SHADINGS)}")
    uv_maps = uv_bake.ensure_uv_maps(targets)
    try:
        depsgraph = bpy.context.evaluated_depsgraph_get()
        tris = {o.name: uv_bake.surface_triangles(o, depsgraph, uv_maps[o.name]) for o in targets}
        timings["prepare"] = time.perf_counter() - t
        t = time.perf_counter()
        warnings: list[str] = []
        captured = capture_views(scene, list(tris.values()), cameras, views, placement, view_size, engine, warnings,
                                 report, models)
        mapping = locked_mapping(captured)
        timings["depth"] = time.perf_counter() - t
        t = time.perf_counter()
        gen = generate_views(captured, prompt, seed, generator, use_conditioning, harmonise, tolerance, exponent,
                             report, cancel)
        timings["generate"] = time.perf_counter() - t
    except BaseException:
        for obj in targets:
            if uv_bake.KEY_UV_ADDED in obj.data and not bake_apply.is_baked(obj):
                uv_bake.remove_added_uv(obj.data)
        raise
    record = prov.provenance(
        "multiview", prompt, seed, getattr(gen, "name", generator or "default"),
        [v.origin or v.camera for v in captured], mapping, negative_prompt, prov.generator_fingerprint(gen),
        scene.frame_current,
        {"objects": [o.name for o in targets], "bake_size": int(bake_size), "view_size": int(view_size),
         "placement": "models" if models else "cameras" if cameras else placement, "views": len(captured),
         "engine": engine,
         "conditioning": bool(use_conditioning), "harmonise": bool(harmonise), "tolerance": float(tolerance),
         "exponent": float(exponent), "padding": int(padding), "shading": shading})
    t = time.perf_counter()
    result = bake_views(scene, targets, captured, bake_size, tolerance, exponent, padding, shading, record, names,
                        report, uv_maps, tris)
    timings["bake"] = time.perf_counter() - t
    result.mapping, result.timings = mapping, timings
    result.warnings[:0] = warnings
    report(1.0, "done")
    return result
