# SPDX-License-Identifier: GPL-3.0-or-later
"""Coverage heat-map before generating: which surface the planned views do not reach.

:func:`coverage_preview` renders only the depth of the planned views, counts per texel how many
views see it well and shows the count on each object as a red / yellow / green texture (a
restorable material, like a bake). Nothing is generated, so it is quick enough to try placements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from ...texturing import fill, raster
from ...texturing.coverage import coverage_counts, heat_colours
from ...texturing.fusion import View
from ..evaluation import scene_depsgraph
from . import bake_apply, multiview, surfaces, uv_bake


@dataclass
class CoverageResult:
    """What :func:`coverage_preview` found.

    :param objects: The objects checked.
    :param views: The planned views (depth only).
    :param unseen: Object name → fraction of its surface texels no view sees well.
    :param images: Object name → heat-map image (when shown).
    :param warnings: Views that saw nothing ...
    """

    objects: list
    views: list[View]
    unseen: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def unseen_total(self) -> float:
        """Unseen fraction over all objects' texels."""
        return float(np.mean(list(self.unseen.values()))) if self.unseen else 0.0


def coverage_preview(scene: bpy.types.Scene | None = None, objects=None, cameras=None, views: int = 4,
                     placement: str = "orbit", view_size: int = 256, size: int = 256, engine: str = "auto",
                     min_facing: float = 0.2, show: bool = True, tolerance: float = 0.005) -> CoverageResult:
    """Count, per texel of each object, the planned views that see it; optionally show the heat-map.

    :param scene: The scene; the context scene when None.
    :param objects: Objects to check; every visible local mesh when None.
    :param cameras: The user's cameras; None places ``views`` cameras like :func:`multiview.texture_multiview`.
    :param views: Number of placed views.
    :param placement: ``orbit``, ``hemisphere`` or ``greedy``.
    :param view_size: Longer side of the depth renders.
    :param size: Heat-map texture side.
    :param engine: Depth engine.
    :param min_facing: Smallest ``n·v`` that counts as seen.
    :param show: Put the heat-map on the objects (restorable with ``remove_result``).
    :param tolerance: Relative depth slack of the visibility test.
    """
    scene = scene or bpy.context.scene
    targets = uv_bake.bake_targets(scene, objects)
    names = bake_apply.check_images_free(targets, "coverage") if show else {}
    raster.check_size(size)
    uv_maps = uv_bake.ensure_uv_maps(targets)
    depsgraph = scene_depsgraph(scene)
    tris = surfaces.surfaces(targets, depsgraph, uv_maps)
    warnings: list[str] = []
    try:
        planned = multiview.capture_views(scene, list(tris.values()), cameras, views, placement, view_size, engine,
                                          warnings)
    except BaseException:
        for obj in targets:
            if not bake_apply.is_baked(obj) and uv_bake.KEY_UV_ADDED in obj.data:
                uv_bake.remove_added_uv(obj.data)
        raise
    result = CoverageResult(objects=targets, views=planned, warnings=warnings)
    for obj in targets:
        geom = raster.rasterize_uv(*tris[obj.name], size, measure_overlap=False)
        counts = coverage_counts(planned, geom.position, geom.normal, tolerance, min_facing)
        result.unseen[obj.name] = float((counts == 0).mean()) if counts.size else 1.0
        if show:
            texture = fill.fill_texture(geom.to_grid(heat_colours(counts)), geom.mask(), geom.mask(), 2)
            image = bake_apply.store_texture(names[obj.name], texture)
            bake_apply.apply_bake(obj, image, uv_maps[obj.name], "coverage", "EMISSION")
            result.images[obj.name] = image
    if not show:
        for obj in targets:
            if not bake_apply.is_baked(obj) and uv_bake.KEY_UV_ADDED in obj.data:
                uv_bake.remove_added_uv(obj.data)
    return result
