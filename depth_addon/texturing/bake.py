# SPDX-License-Identifier: GPL-3.0-or-later
"""One object's texture from painted views, in its UV space (numpy and OpenCV, no bpy).

:func:`fuse_texture` rasterises the object's triangles into texels, fuses the views' colours there
(:func:`~.fusion.accumulate`), fills the texels no view sees and pads the islands; with material maps in the
views it splits the fused stack into the lit texture and the maps (:mod:`.map_fusion`). Objects are
independent, so several can be fused at once on threads (numpy and OpenCV release the GIL in their loops).
:func:`check_memory` refuses, before anything is made, bakes that would not fit in the memory left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import BadInput
from ..memory import available_bytes
from . import fill, map_fusion, raster
from .fusion import View, accumulate

#: Peak bytes per texel of one object's fusion, and more per channel: texel positions, normals and indices, the
#: fused colours and weights, the texture grid and the fill's working copies. Measured at 2048² on the demo
#: (peak traced memory of two objects fusing at once): 209 bytes a texel for 3 channels, 537 for 12.
TEXEL_BYTES, CHANNEL_BYTES = 36, 20
#: Bytes per texel of one finished image, prepared while earlier objects are stored: RGBA float32 for a float
#: image (the height map); an 8-bit image is a PNG file by then, far smaller, but its encoding briefly holds
#: float copies, so every image is counted alike.
IMAGE_BYTES = 16
#: Objects fused at the same time (one more waits queued); finished ones wait with their images' pixels.
CONCURRENT = 2


@dataclass
class FusedTexture:
    """One object's fused texture.

    :param texture: size×size×3 lit texture (row 0 = ``v = 0``), filled and padded.
    :param coverage: Share of the object's texels that some view sees.
    :param maps: Map name → size×size(×3) array when the views carried maps, else empty (the 8-bit maps as
        ``uint8``: :func:`.map_fusion.filled_maps`).
    """

    texture: np.ndarray
    coverage: float
    maps: dict = field(default_factory=dict)


def grid_smoother(geom: raster.TexelGeometry, sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    """A function that blurs per-texel values in the texture's grid (a seam-wide hand-over between views).

    :param geom: The object's texels.
    :param sigma: Gaussian sigma in texels.
    """
    def smooth(values: np.ndarray) -> np.ndarray:
        grid = geom.to_grid(values.astype(np.float32))
        return cv2.GaussianBlur(grid, (0, 0), sigma).reshape(-1)[geom.index]

    return smooth


def warm(views: list[View], tolerance: float) -> None:
    """Compute the views' cached per-pixel tables once, before threads share the views.

    :param views: The views.
    :param tolerance: Relative depth slack the fusion will use.
    """
    for view in views:
        view.threshold(tolerance)
        view.edges()
        if view.image is not None:
            view.sampled()


@dataclass(frozen=True)
class FuseOptions:
    """How views are fused into a texture.

    :param tolerance: Relative depth slack of the visibility test.
    :param exponent: Facing exponent of the weights.
    :param padding: Island padding in texels.
    :param select: ``best`` or ``blend`` (:data:`.fusion.SELECTIONS`).
    :param feather: Hand-over width (Gaussian sigma in texels) for ``best``; 0 for a hard switch.
    :param with_maps: The views carry material maps: split them out of the fused stack.
    :param unit: Metres per scene unit (the triangles are in scene units, the height map in metres).
    """

    tolerance: float = 0.005
    exponent: float = 2.0
    padding: int = 2
    select: str = "best"
    feather: float = 1.0
    with_maps: bool = False
    unit: float = 1.0


def fuse_texture(tris: tuple, views: list[View], size: int, options: FuseOptions, owner: np.ndarray | None = None
                 ) -> FusedTexture:
    """Fuse the views into one object's texture.

    :param owner: The object's part indices in the views' labels (:attr:`.fusion.View.labels`), or None.
    :param tris: The object's ``(uv, position, normal)`` triangles.
    :param views: Views with images (stacked with their maps when ``options.with_maps``:
        :func:`.map_fusion.stacked`).
    :param size: Texture side in texels.
    :param options: How to fuse.
    """
    o = options
    geom = raster.rasterize_uv(*tris, size, measure_overlap=False)
    smooth = grid_smoother(geom, o.feather) if o.feather > 0 else None
    colour, weight = accumulate(views, geom.position, geom.normal, o.tolerance, o.exponent, select=o.select,
                                smooth=smooth, owner=owner)
    seen = weight > 0
    coverage = float(seen.mean()) if seen.size else 0.0
    grid_seen = np.zeros(size * size, bool)
    grid_seen[geom.index[seen]] = True
    grid_seen = grid_seen.reshape(size, size)
    if not o.with_maps:
        return FusedTexture(fill.fill_texture(geom.to_grid(colour), grid_seen, geom.mask(), o.padding), coverage)
    lit = fill.fill_texture(geom.to_grid(colour[:, :3]), grid_seen, geom.mask(), o.padding)  # colours: smooth fill
    fill.clip_unit(lit)
    maps = map_fusion.filled_maps(colour, geom.index, seen, size,  # materials: never averaged across a gap
                                  map_fusion.texel_metres(tris[1], geom.count) * o.unit)
    return FusedTexture(lit, coverage, maps)


def check_memory(sizes: dict[str, int], channels: int, available: int | None = None) -> None:
    """Refuse a bake whose fusion would not fit in the memory left: the largest objects fuse at once while the
    finished images of others wait for the main thread (two fusing and two finished is the costliest state of
    the three in flight and the one being stored; counted here as two fusing and three finished).

    :param sizes: Object name → texture side.
    :param channels: Channels fused per texel (3, or 9 with material maps, which store six images).
    :param available: Free bytes; :func:`available_bytes` when None (no check when that is unknown).
    :raises BadInput: With the estimate, what is free, and what to change.
    """
    free = available_bytes() if available is None else available
    ordered = sorted(sizes.items(), key=lambda item: -item[1])
    largest = ordered[:CONCURRENT]
    images = 1 if channels <= 4 else 1 + len(map_fusion.BAKED)
    need = sum(size * size * (TEXEL_BYTES + CHANNEL_BYTES * channels) for _name, size in largest)
    need += sum(size * size * IMAGE_BYTES * images for _name, size in ordered[:CONCURRENT + 1])
    if free is None or not largest or need <= 0.8 * free:
        return
    name, size = largest[0]
    raise BadInput(f"baking {name!r} at {size}×{size} texels ({channels} channels) needs about {need / 2**30:.1f} GiB "
                   f"of memory and {free / 2**30:.1f} GiB is free: choose a smaller bake size, or 'auto'")

