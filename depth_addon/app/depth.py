# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth out of a scene, the use cases: render a view, pick its mapping, write it, and the settings' rules.

The operators, the command line and :mod:`depth_addon.api` call these; the rendering itself is the
bridge's (:mod:`depth_addon.blender.depth`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import bpy

from ..blender.depth import preview
from ..blender.depth.ranges import depth_mapping, settings_mapping
from ..blender.depth.render import render_depth as _render
from ..blender.depth.sequence import View, output_path, render_views, scene_views, sequence_range
from ..blender.evaluation import edits_flushed
from ..blender.units import unit_scale
from ..depthmap import DepthResult
from ..errors import BadInput
from ..io.depth_files import write_depth
from ..mapping import CLIPPED_SHARE, ENGINES, DepthMapping, clipped_share

__all__ = ["ENGINES", "PREVIEW_IMAGE", "Clipped", "DepthResult", "View", "clipped", "clipping_warning",
           "depth_mapping", "output_path", "preview_error", "render_depth", "render_views", "save_depth",
           "scene_mapping", "scene_views", "sequence_mapping", "sequence_range", "scaled_mapping", "show_model_image",
           "shown_image", "unit_scale"]

MODEL_IMAGE = "Depth Map"
PREVIEW_IMAGE = preview.PREVIEW_IMAGE


def render_depth(scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                 resolution: tuple[int, int] | None = None, engine: str = "auto", radial: bool = False,
                 normals: bool = False, ids: bool = False) -> DepthResult:
    """Render float32 depth from a camera; background is ``inf`` and ``.mask`` marks geometry.

    Depth is in the scene's units, as its geometry and camera are: metres, unless the scene's Unit Scale is set
    (then ``.unit_scale`` metres each; ``.metric()`` converts, and saved files hold metres). A mesh in Edit Mode is
    rendered with its edits, as Blender's render takes them: Edit Mode is left for the render and entered again.

    :param scene: Scene to render; the context scene when None.
    :param camera: Camera object or name; the scene camera when None.
    :param resolution: ``(width, height)``; the scene's resolution × percentage when None.
    :param engine: ``auto`` (fastest that works), ``gpu``, ``workbench`` or ``cycles``.
    :param radial: Distance along each pixel's ray instead of planar camera Z.
    :param normals: Also return ``.normals`` (H×W×3 camera space, from the same gpu draw).
    :param ids: Also return ``.object_ids``/``.objects`` and ``.material_ids``/``.materials``.
    """
    with edits_flushed(scene or bpy.context.scene):  # a mesh in Edit Mode: rendered with its edits
        return _render(scene, camera, resolution, engine, radial, normals=normals, ids=ids)


def scaled_mapping(mapping: DepthMapping, factor: float) -> DepthMapping:
    """``mapping`` for depth ``factor`` times larger (its values stay the same): e.g. scene units to metres.

    :param mapping: A mapping.
    :param factor: Length factor.
    """
    return mapping if factor == 1.0 else dataclasses.replace(mapping, near=mapping.near * factor,
                                                             far=mapping.far * factor)


def save_depth(result: DepthResult, path: str | os.PathLike, mapping: DepthMapping | None = None,
               bits: int = 16) -> Path:
    """Write ``result`` to ``.exr`` / ``.npy`` (metres) or ``.png`` (mapped, 8 or 16-bit), atomically.

    The mapping, the camera model, the engine and whether depth is radial go into the metadata. Files hold
    metres: in a scene whose Unit Scale is set, depth, camera and mapping are converted (:meth:`DepthResult.metric`).

    :param result: A depth render.
    :param path: Target file; the suffix picks the format.
    :param mapping: Mapping to apply (PNG) and record, in the result's units; :func:`depth_mapping` of the result
        when None.
    :param bits: PNG bit depth, 8 or 16.
    :raises BadInput: A PNG of a depth map with nothing in view and no mapping, bad bits or suffix.
    """
    if mapping is None and result.mask.any():
        mapping = depth_mapping(result)
    if mapping is None and Path(path).suffix.lower() == ".png":
        raise BadInput("the depth map has no valid pixels (nothing in view): a PNG needs an explicit mapping "
                       "with near and far")
    depth, camera = result.metric()  # files hold metres (a PNG's values are the same: mappings scale along)
    mapping = None if mapping is None else scaled_mapping(mapping, result.unit_scale)
    extra = {"camera": camera.to_dict(), "engine": result.engine, "depth": "radial" if result.radial
             else "planar"}
    if result.unit_scale != 1.0:
        extra["unit_scale"] = result.unit_scale  # metres per scene unit of the scene it came from
    view = {k: v for k, v in result.meta.items() if isinstance(v, str | int | float)}
    if view:
        extra["view"] = view  # camera name and frame, for sequences
    return write_depth(path, depth, mapping, extra, bits=bits)


@dataclasses.dataclass(frozen=True)
class Clipped:
    """A view whose mapped values are clipped: which, how much of it, and the depth in view in metres."""

    where: str
    share: float
    low: float
    high: float


def clipped(result: DepthResult, mapping: DepthMapping, where: str) -> Clipped | None:
    """The view, when more of its depth than :data:`~depth_addon.mapping.CLIPPED_SHARE` lies outside ``mapping``.

    :param result: The view's depth render.
    :param mapping: The mapping its PNG or image gets, in the result's units.
    :param where: The view as a message names it (``camera 'Cam' frame 2``).
    """
    share = clipped_share(result.depth, result.mask, mapping)
    if share <= CLIPPED_SHARE:
        return None
    seen = result.depth[result.mask] * result.unit_scale  # what the mapping is applied to (radial when radial)
    return Clipped(where, share, float(seen.min()), float(seen.max()))


def clipping_warning(views: list[Clipped], total: int, mapping: DepthMapping, hint: str) -> str:
    """One warning for the views whose mapped values are clipped to the ends of the range.

    :param views: The clipped views (:func:`clipped`), at least one.
    :param total: How many views were rendered.
    :param mapping: The mapping, in metres.
    :param hint: What to change, appended after a semicolon.
    """
    names = ", ".join(v.where for v in views[:3]) + (" …" if len(views) > 3 else "")
    where = names if total == 1 else f"{len(views)} of {total} views ({names})"
    share = f"{'up to ' if len(views) > 1 else ''}{max(v.share for v in views):.0%}"
    low, high = min(v.low for v in views), max(v.high for v in views)
    return (f"{where}: {share} of the depth in view lies outside near {mapping.near:g} – far {mapping.far:g} m "
            f"({low:.3g}–{high:.3g} m in view): those pixels are clipped to the ends of the mapped range; {hint}")


def scene_mapping(scene: bpy.types.Scene, result: DepthResult) -> DepthMapping:
    """The mapping the scene's settings ask for; a fitted range is written back to the settings' Near/Far.

    :param scene: The scene (its Depth settings).
    :param result: The view a range is fitted to when it is not locked.
    :raises BadInput: When the camera sees nothing and the range is not locked.
    """
    mapping = settings_mapping(scene, result)
    if mapping is None:
        raise BadInput("the camera sees no geometry (nothing in view)")
    settings = scene.depth_addon
    if not settings.lock_range:
        settings.near, settings.far = mapping.near, mapping.far
    return mapping


def shown_image(live: bool) -> bpy.types.Image | None:
    """The depth image the sidebar shows: the live preview, or the "Depth Map" of the last render (ours, whatever
    name Blender gave it beside a user's image of that name).

    :param live: The live preview is on.
    """
    return preview.preview_image(PREVIEW_IMAGE if live else MODEL_IMAGE)


def preview_error() -> str | None:
    """Why the live preview's last refresh rendered nothing (no camera, the camera inside a mesh, …), or None."""
    return preview.last_error()


def show_model_image(result: DepthResult, mapping: DepthMapping, bits: int) -> bpy.types.Image:
    """Write the "Depth Map" image: exactly the values the PNG (and so the model) gets.

    :param result: The depth render.
    :param mapping: Its mapping.
    :param bits: PNG bit depth the values are quantised to.
    """
    image = preview.write_preview_image(MODEL_IMAGE, preview.model_values(result.depth, mapping, bits))
    image["depth_addon_engine"] = result.engine
    image["depth_addon_mapping"] = mapping.to_dict()
    return image


def sequence_mapping(scene: bpy.types.Scene, views: list[View]) -> DepthMapping:
    """One mapping for a whole sequence from the scene's settings: the locked range, or one fitted over every
    view first (written back to the settings' Near/Far).

    :param scene: The scene (its Depth settings).
    :param views: The views of the sequence.
    :raises BadInput: When no view sees anything.
    """
    settings = scene.depth_addon
    if settings.lock_range:
        return DepthMapping(settings.mapping, settings.near, settings.far, settings.invert)
    with edits_flushed(scene):  # a mesh in Edit Mode: its edits are in the range, as in the files
        near, far = sequence_range(scene, views, settings.range_mode, settings.engine, settings.radial)
    settings.near, settings.far = near, far
    return DepthMapping(settings.mapping, near, far, settings.invert)
