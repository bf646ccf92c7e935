# SPDX-License-Identifier: GPL-3.0-or-later
"""Multi-view texturing, the use case: views → depth → generation (conditioned on earlier views) → fused UV bakes.

The bridge (:mod:`depth_addon.blender.writeback.multiview`) places and captures the views and bakes them;
this module picks the generator, runs it view after view and records the provenance.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable

import bpy
import numpy as np

from ..blender.writeback import bake_apply, uv_bake
from ..blender.writeback.multiview import MultiviewResult, bake_views, capture_views, locked_mapping
from ..camera import CameraModel
from ..errors import BadInput, Cancelled
from ..generation import get_generator
from ..texturing import conditioning, raster
from ..texturing import provenance as prov
from ..texturing.fusion import View

Progress = Callable[[float, str], None]


def _reporter(progress: Progress | None, cancel: Callable[[], bool] | None) -> Progress:
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(min(max(fraction, 0.0), 1.0), message)
        if cancel is not None and cancel():
            raise Cancelled("cancelled by the user")

    return report


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
    try:
        params = inspect.signature(gen.generate).parameters
    except (TypeError, ValueError):
        return False
    return "init_image" in params and "init_mask" in params


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
