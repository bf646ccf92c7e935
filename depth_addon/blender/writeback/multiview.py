# SPDX-License-Identifier: GPL-3.0-or-later
"""Multi-view write-back: place and capture views (depth per view), fuse their images into UV bakes.

:func:`capture_views` renders the views' depth; :func:`bake_views` fuses painted views into each object's
UV map, also for a single projection so it follows the object (``depth.bake_textures``). The
fusion runs in numpy in each object's UV space (:mod:`depth_addon.texturing`), not through
Blender bakes, so it needs no render engine beyond the depth renders.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import bpy
import numpy as np

from ...camera import CameraModel
from ...errors import BadInput
from ...mapping import DepthMapping, fit_mapping
from ...texturing import bake, density, map_fusion, raster
from ...texturing.fusion import View
from ...texturing.views import PLACEMENTS, place_views
from .. import images
from ..evaluation import scene_depsgraph
from ..units import unit_scale
from . import bake_apply, surfaces, uv_bake, view_cameras
from . import provenance as provenance_props

Progress = Callable[[float, str], None]
#: Objects fused at once (numpy and OpenCV release the GIL; the machines this runs on have 2 cores or more).
FUSION_THREADS = 2


@dataclass
class MultiviewResult:
    """What :func:`bake_views` (and so :func:`depth_addon.app.multiview.texture_multiview`) made.

    :param objects: The textured objects.
    :param views: The views, with depth, conditioned images and contributions.
    :param images: Object name → baked image.
    :param materials: Object name → baked material.
    :param uv_maps: Object name → UV map baked into.
    :param coverage: Object name → fraction of its texels some view saw.
    :param sizes: Object name → texture side baked (chosen per object for ``bake_size="auto"``).
    :param density: Object name → :class:`~depth_addon.texturing.density.DensityChoice` (``auto`` only).
    :param maps: Object name → {map name → image} when the views carried material maps.
    :param decisions: Which material each part got and why (per-object prompts; empty for one prompt).
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
    sizes: dict = field(default_factory=dict)
    density: dict = field(default_factory=dict)
    maps: dict = field(default_factory=dict)
    decisions: list = field(default_factory=list)
    mapping: DepthMapping | None = None
    provenance: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    def made_images(self) -> list[bpy.types.Image]:
        """Every image the bake made: each object's texture and its maps (what must be packed to be kept)."""
        return [*self.images.values(), *(i for m in self.maps.values() for i in m.values())]


def surface_samples(triangles: list[tuple[np.ndarray, np.ndarray, np.ndarray]], limit: int = 20000
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangle centroids, unit normals and areas of all objects (at most ``limit``, area-biased).

    :param triangles: Per object ``(uv, position, normal)`` from :func:`uv_bake.surface_triangles`.
    :param limit: Largest number of samples.
    """
    pos = np.concatenate([t[1] for t in triangles])
    area, normal = raster.triangle_areas(pos)
    centre = pos.mean(axis=1)
    if len(area) > limit:
        rng = np.random.default_rng(0)
        pick = rng.choice(len(area), limit, replace=False, p=area / area.sum() if area.sum() > 0 else None)
        scale = area.sum() / max(area[pick].sum(), 1e-30)
        return centre[pick], normal[pick], area[pick] * scale
    return centre, normal, area


def capture_views(scene: bpy.types.Scene, triangles: list, cameras=None, count: int = 4, placement: str = "orbit",
                  view_size: int = 512, engine: str = "auto", warnings: list[str] | None = None,
                  report: Progress | None = None, models: list[CameraModel] | None = None,
                  scene_view: bool = False, id_renders: list | None = None) -> list[View]:
    """Depth of every view: the user's cameras, or ``count`` placed around the objects.

    Views that see no geometry are dropped (with a warning). Placed views frame all the objects, so
    each object gets only part of a view's pixels; ``scene_view`` puts the scene camera's own view
    first, so what the user looks at is painted at the density they see it with.

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
    :param scene_view: With placed views, the scene camera's view comes first (when the scene has a camera).
    :param id_renders: When given, receives each kept view's depth render with object and material ids (for
        per-object prompts).
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
        if scene_view and scene.camera is not None and scene.camera.type == "CAMERA":
            todo[:0] = [(model, obj) for obj, model in view_cameras.user_views(scene, [scene.camera], view_size)]
            names[:0] = [scene.camera.name]
    views: list[View] = []
    for i, ((model, source), name) in enumerate(zip(todo, names, strict=True)):
        if report is not None:
            report(0.1 * i / len(todo), f"depth of {name}")
        result = view_cameras.render_view(scene, source, (model.width, model.height), engine, id_renders is not None)
        depth, rendered = view_cameras.planar(result), result.camera
        if warnings is not None:  # what the depth render found (instancers that draw nothing ...), once
            warnings.extend(w for w in result.meta.get("warnings", ()) if w not in warnings)
        if not np.isfinite(depth).any():
            if warnings is not None:
                warnings.append(f"{name} sees no geometry; it was left out")
            continue
        views.append(View(rendered, depth, origin=model if source is model else None))
        if id_renders is not None:
            id_renders.append(result)
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



def check_bake_size(bake_size: int | str) -> int | str:
    """``"auto"`` or a texture side in the allowed range.

    :param bake_size: ``"auto"`` (per object, from texel density) or a side in texels.
    :raises BadInput: Anything else.
    """
    if isinstance(bake_size, str) and bake_size.strip().lower() == "auto":
        return "auto"
    if isinstance(bake_size, str) and not bake_size.strip().isdigit():
        raise BadInput(f"bake size must be 'auto' or a number of texels, got {bake_size!r}")
    if isinstance(bake_size, bool) or (isinstance(bake_size, float) and not bake_size.is_integer()):
        raise BadInput(f"bake size must be a whole number of texels, got {bake_size!r}")
    return raster.check_size(int(bake_size))


def auto_size(views: list[View], tris: tuple[np.ndarray, np.ndarray, np.ndarray], tolerance: float,
              probe: int = 128) -> density.DensityChoice:
    """Texture side for one object from the views' pixel density on it (:mod:`depth_addon.texturing.density`).

    :param views: Views with depth.
    :param tris: The object's ``(uv, position, normal)`` triangles.
    :param tolerance: Relative depth slack of the visibility test.
    :param probe: Side of the small raster whose texels sample the surface.
    """
    geom = raster.rasterize_uv(*tris, probe, measure_overlap=False)
    area = float(raster.triangle_areas(tris[1])[0].sum())
    return density.bake_size_for(views, geom.position, geom.normal, geom.count, probe, area, tolerance=tolerance)


def _density_warnings(name: str, choice: density.DensityChoice) -> list[str]:
    out = []
    if choice.wasteful:
        out.append(f"{name!r}: its UV layout uses only {choice.uv_share:.0%} of the texture; a UV map made for the "
                   "bake gives it more detail at the same size (--new-uv, or Own UV Map in the sidebar; your UV "
                   "maps are kept)")
    if choice.capped:
        out.append(f"{name!r}: keeping the views' detail ({choice.view_density:.0f} px/m) needs more than "
                   f"{choice.size}² texels; baked at {choice.size}² ({choice.texel_density:.0f} texels/m)")
    return out


def _fuse_and_prepare(tris: tuple, views: list[View], size: int, options: bake.FuseOptions,
                      owner: np.ndarray | None = None) -> tuple[float, images.Pixels, dict[str, images.Pixels]]:
    """Fuse one object's texture and prepare its images' pixels (a worker thread: no bpy data is touched).

    The 8-bit images arrive as PNG files (:class:`images.Pixels <depth_addon.blender.images.Pixels>`), so the
    main thread only hands them to Blender, and saving the file or packing them later encodes nothing.

    :return: ``(coverage, lit texture pixels, map name → pixels)``.
    """
    fused = bake.fuse_texture(tris, views, size, options, owner)
    maps = {name: images.pixels(value, bottom_up=True, encode=name not in images.FLOAT_MAPS)
            for name, value in fused.maps.items()}
    return fused.coverage, images.pixels(fused.texture, bottom_up=True, encode=True), maps


def _fuse_all(objects: list, tris: dict, views: list[View], result: MultiviewResult, report: Progress | None,
              made: list, names: dict[str, str], options: bake.FuseOptions, owners: dict[str, np.ndarray]) -> None:
    """Fuse every object's texture on worker threads, two at a time, and store each on this (the main) thread.

    Objects are independent: while one is stored as Blender images (bpy, main thread only), the next ones fuse
    and their pixels are prepared. At most :data:`FUSION_THREADS` + 1 objects are fused ahead of the one being
    stored, so the memory held does not grow with the number of objects (:func:`.bake.check_memory` counts it).

    :param objects: The bake targets.
    :param tris: Object name → its ``(uv, position, normal)`` triangles.
    :param views: Views with images (stacked with their maps when the options say so).
    :param result: Gets the coverage, images and maps; its ``sizes`` give each texture's side.
    :param report: Progress callback, or None.
    :param made: Collects every image made (removed again when the bake fails).
    :param names: Object name → image name.
    :param options: How to fuse.
    :param owners: Object name → its part indices in the views' labels (objects not named take every pixel).
    """
    bake.warm(views, options.tolerance)
    waiting = iter(objects)
    with ThreadPoolExecutor(max_workers=FUSION_THREADS) as pool:
        jobs: deque = deque()

        def submit_next() -> None:
            obj = next(waiting, None)
            if obj is not None:
                jobs.append((obj, pool.submit(_fuse_and_prepare, tris[obj.name], views, result.sizes[obj.name],
                                              options, owners.get(obj.name))))

        for _ in range(FUSION_THREADS + 1):  # one queued: a worker that finishes starts the next at once
            submit_next()
        try:
            for i in range(len(objects)):
                obj, job = jobs.popleft()
                if report is not None:
                    report(0.6 + 0.4 * i / len(objects), f"baking {obj.name}")
                result.coverage[obj.name], lit, maps = job.result()
                submit_next()
                if options.with_maps:
                    result.maps[obj.name] = bake_apply.store_maps(obj.name, maps)
                    made.extend(result.maps[obj.name].values())
                image = bake_apply.store_texture(names[obj.name], lit)
                made.append(image)
                result.images[obj.name] = image
        finally:
            for _obj, job in jobs:
                job.cancel()


def bake_views(scene: bpy.types.Scene, objects: list, views: list[View], bake_size: int | str = "auto",
               tolerance: float = 0.005, exponent: float = 2.0, padding: int = 2, shading: str = "EMISSION",
               record: dict | None = None, image_names: dict[str, str] | None = None,
               report: Progress | None = None, uv_maps: dict[str, str] | None = None,
               triangles: dict | None = None, select: str = "best", feather: float = 1.0,
               owners: dict[str, np.ndarray] | None = None) -> MultiviewResult:
    """Fuse views with images into each object's UV texture and show it on the object.

    An object no view sees from any side is reported in the warnings and left as it was.

    :param scene: The scene.
    :param objects: Validated bake targets (:func:`uv_bake.bake_targets`).
    :param views: Views with depth and images.
    :param bake_size: Texture side (512–4096 typical; 8–8192 accepted), or ``"auto"``: per object, the smallest
        power of two whose texel density reaches the views' pixel density on it (256–2048).
    :param tolerance: Relative depth slack of the visibility test.
    :param exponent: Facing exponent.
    :param padding: Island padding in texels.
    :param shading: :data:`.bake_apply.SHADINGS`.
    :param record: Provenance attached to images and materials.
    :param image_names: Object name → image name (checked: never a user's image).
    :param report: Progress callback.
    :param uv_maps: Object name → UV map (from :func:`uv_bake.ensure_uv_maps`); made when None.
    :param triangles: Object name → world triangles already read; read when None.
    :param select: ``best`` (one view per texel, seams feathered) or ``blend`` (weighted mean of all views).
    :param feather: Width (Gaussian sigma in texels) of the hand-over between views for ``best``.
    :param owners: Object name → its part indices in the views' labels
        (:attr:`~depth_addon.texturing.fusion.View.labels`): each object then takes only its own pixels of each view.
    """
    fixed = check_bake_size(bake_size)
    names = bake_apply.check_images_free(objects, "bake", image_names)
    if shading not in bake_apply.SHADINGS:
        raise BadInput(f"unknown shading {shading!r}; use one of {', '.join(bake_apply.SHADINGS)}")
    with_maps = map_fusion.has_maps(views)
    if shading in bake_apply.RELIGHTABLE and not with_maps:
        raise BadInput(f"{shading} shading needs material maps: ask the generator for them (--maps), or use EMISSION")
    bake_apply.check_maps_free(objects, map_fusion.BAKED if with_maps else ())
    fused_views = [map_fusion.stacked(v) for v in views] if with_maps else views
    notes: list[str] = []  # objects unwrapped into a UV map made for the bake
    uv_maps = uv_maps or uv_bake.ensure_uv_maps(objects, notes=notes)
    depsgraph = scene_depsgraph(scene)
    result = MultiviewResult(objects=list(objects), views=views, uv_maps=uv_maps, provenance=record or {},
                             warnings=notes)
    made: list = []
    try:
        tris = surfaces.surfaces(objects, depsgraph, uv_maps, triangles)
        result.warnings.extend(_shared_uv_warnings(objects, tris))
        for obj in objects:
            size = fixed
            if size == "auto":
                choice = result.density[obj.name] = auto_size(views, tris[obj.name], tolerance)
                result.warnings.extend(_density_warnings(obj.name, choice))
                size = choice.size
            result.sizes[obj.name] = size
        bake.check_memory(result.sizes, int(np.shape(fused_views[0].image)[-1]) if fused_views else 3)
        options = bake.FuseOptions(tolerance, exponent, padding, select, feather, with_maps, unit_scale(scene))
        _fuse_all(objects, tris, fused_views, result, report, made, names, options, owners or {})
        objects = _drop_unseen(objects, result, made)
        for obj in objects:
            result.materials[obj.name] = bake_apply.apply_bake(obj, result.images[obj.name], uv_maps[obj.name],
                                                               "bake", shading, result.maps.get(obj.name))
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
    if shading == "PBR_DISPLACEMENT" and any(np.any(v.maps["height"]) for v in views if v.maps):  # some relief
        result.warnings.extend(f"{o.name!r} has no Subdivision Surface modifier: its height map moves only its "
                               "vertices; add one (adaptive from Blender 5.0) to render the relief"
                               for o in objects if not any(m.type == "SUBSURF" for m in o.modifiers))
    return result


#: Modifiers that lay copies of a mesh's faces, on the same UVs unless told otherwise.
COPYING_MODIFIERS = frozenset({"MIRROR", "ARRAY", "SOLIDIFY", "SCREW", "NODES", "PARTICLE_INSTANCE"})


def _shared_uv_warnings(objects: list, tris: dict) -> list[str]:
    """One line per object whose modifiers (Mirror, Array ...) lay copies of its faces on the same UVs: one texel
    then shows on every copy, painted as one of them was seen (its UV map was checked before its modifiers)."""
    out = []
    for obj in objects:
        uv = tris[obj.name][0]
        dummy = np.zeros((len(uv), 3, 3), np.float32)
        share = raster.rasterize_uv(uv, dummy, dummy, 128).overlap
        if share > uv_bake.OVERLAP_LIMIT:
            copying = [m.name for m in obj.modifiers if m.show_render and m.type in COPYING_MODIFIERS]
            mods = ", ".join(map(repr, copying or [m.name for m in obj.modifiers if m.show_render]))
            out.append(f"{obj.name!r}: its modifiers ({mods}) lay copies of its faces on the same UVs ({share:.0%} of "
                       "its texels), so every copy shows the paint of one; apply them and bake with Own UV Map (a UV "
                       "map made for the bake) to give each copy its own texels")
    return out


def _drop_unseen(objects: list, result: MultiviewResult, made: list) -> list:
    """The objects some view sees; the others are reported and left as they were (their images removed, the UV
    map added for the bake taken off again).

    :raises BadInput: When no view sees any of the objects.
    """
    unseen = [o for o in objects if result.coverage.get(o.name, 0.0) == 0.0]
    if len(unseen) == len(objects):
        raise BadInput(f"no view sees {', '.join(repr(o.name) for o in objects)} from any side: nothing was baked")
    for obj in unseen:
        for image in (result.images.pop(obj.name), *result.maps.pop(obj.name, {}).values()):
            made.remove(image)
            bpy.data.images.remove(image)
        if uv_bake.KEY_UV_ADDED in obj.data:
            uv_bake.remove_added_uv(obj.data)
        result.objects.remove(obj)
        result.warnings.append(f"no view sees {obj.name!r} from any side: it was left as it was")
    return [o for o in objects if o not in unseen]
