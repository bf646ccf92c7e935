# SPDX-License-Identifier: GPL-3.0-or-later
"""Material maps through multi-view fusion: the maps ride along with the lit colours, texel for texel.

Each view's lit image and its maps (:mod:`depth_addon.generation.maps`) are stacked into one
many-channel image, so visibility, the winning view and the seam hand-over are computed once and every
map follows the same choice as the colours. After fusion the stack is split again (the colours are filled
smoothly, the maps from their nearest painted texel: :func:`filled_maps`) and the baked height becomes a
tangent-space normal map in the object's own UV space.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ..errors import BadInput
from ..generation.maps import normal_from_height
from . import fill
from .fusion import View
from .raster import triangle_areas

#: Maps fused with the colours, and their channel counts (``normal`` is derived from ``height`` after the bake;
#: ``height`` comes last).
FUSED = (("albedo", 3), ("roughness", 1), ("metallic", 1), ("height", 1))
#: Every baked map, in the order they are stored.
BAKED = ("albedo", "roughness", "metallic", "normal", "height")


def has_maps(views: list[View]) -> bool:
    """True when every view carries the fused maps.

    :param views: Views with images.
    """
    return bool(views) and all(v.maps is not None and all(k in v.maps for k, _c in FUSED) for v in views)


def stacked(view: View) -> View:
    """The view with its image replaced by lit colours + maps (H×W×9: rgb, albedo, roughness, metallic, height).

    :param view: A view with an image and maps of the same size.
    :raises BadInput: When a map's size differs from the image's.
    """
    rgb = np.asarray(view.image, np.float32)[..., :3]
    parts = [rgb]
    for name, channels in FUSED:
        m = np.asarray(view.maps[name], np.float32)
        m = m[..., None] if m.ndim == 2 else m[..., :channels]
        if m.shape[:2] != rgb.shape[:2]:
            raise BadInput(f"the {name} map is {m.shape[1]}×{m.shape[0]}, the image {rgb.shape[1]}×{rgb.shape[0]}")
        parts.append(m)
    return dataclasses.replace(view, image=np.concatenate(parts, -1))


def filled_maps(values: np.ndarray, texels: np.ndarray, seen: np.ndarray, size: int, texel_metres: float) -> dict:
    """The object's maps from its fused texels, each texel filled from its nearest seen texel; ``normal`` is made
    from the baked height.

    The texels are filled once for all channels (:func:`.fill.nearest_fill`), then split into one contiguous array
    per map (the images they are stored in read them row by row). Albedo, roughness and metallic are clipped to
    [0, 1]; height stays in metres. With no texel seen the maps are zeros and the normal map flat.

    :param values: (N, 6) fused map values of the object's texels, in :data:`FUSED` order.
    :param texels: (N,) flat texel index of each value (:attr:`.raster.TexelGeometry.index`).
    :param seen: (N,) bool, texels some view paints.
    :param size: Texture side in texels.
    :param texel_metres: Size of one texel on the surface (for the normal map's slopes).
    """
    grid = np.zeros((size * size, values.shape[1]), np.float32)
    grid[texels] = values
    seen_grid = np.zeros(size * size, bool)
    seen_grid[texels[seen]] = True
    filled = fill.nearest_fill(grid.reshape(size, size, values.shape[1]), seen_grid.reshape(size, size))
    planes = cv2.split(filled)
    for plane in planes[:-1]:
        np.clip(plane, 0.0, 1.0, out=plane)
    out, k = {}, 0
    for name, channels in FUSED:
        out[name] = planes[k] if channels == 1 else cv2.merge(planes[k:k + channels])
        k += channels
    out["normal"] = normal_from_height(out["height"], texel_metres)
    return out


def texel_metres(position: np.ndarray, texels: int) -> float:
    """Average size of one texel on the surface: ``sqrt(surface area / covered texels)``.

    :param position: (T, 3, 3) world corners of the object's triangles.
    :param texels: Texels the UV islands cover at the bake size.
    """
    area = float(triangle_areas(position)[0].sum())
    return float(np.sqrt(area / max(texels, 1)))
