# SPDX-License-Identifier: GPL-3.0-or-later
"""Material maps through multi-view fusion: the maps ride along with the lit colours, texel for texel.

Each view's lit image and its maps (:mod:`depth_addon.generation.maps`) are stacked into one
many-channel image, so visibility, the winning view and the seam hand-over are computed once and every
map follows the same choice as the colours. After fusion the stack is split again (the colours are filled
smoothly, the maps from their nearest painted texel: :func:`.fill.nearest_fill`) and the baked height becomes a
tangent-space normal map in the object's own UV space.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import BadInput
from ..generation.maps import normal_from_height
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


def split(texture: np.ndarray, maps: np.ndarray, texel_metres: float) -> tuple[np.ndarray, dict]:
    """``(lit colours, maps)`` of a filled texture and its filled maps; ``normal`` is made from the baked height.

    The colours, albedo, roughness and metallic are clipped to [0, 1] in place (height stays in metres) and
    the maps are returned as views into ``maps``: the images they are stored in copy them anyway.

    :param texture: size×size×3 filled lit colours, row 0 = ``v = 0`` (modified).
    :param maps: size×size×6 filled maps in :data:`FUSED` order (modified).
    :param texel_metres: Size of one texel on the surface (for the normal map's slopes).
    """
    np.clip(texture, 0.0, 1.0, out=texture)
    height = np.ascontiguousarray(maps[..., -1])  # the last channel, in metres: kept unclipped
    np.clip(maps, 0.0, 1.0, out=maps)
    out, k = {}, 0
    for name, channels in FUSED[:-1]:
        out[name] = maps[..., k] if channels == 1 else maps[..., k:k + channels]
        k += channels
    out["height"] = height
    out["normal"] = normal_from_height(height, texel_metres)
    return texture, out


def texel_metres(position: np.ndarray, texels: int) -> float:
    """Average size of one texel on the surface: ``sqrt(surface area / covered texels)``.

    :param position: (T, 3, 3) world corners of the object's triangles.
    :param texels: Texels the UV islands cover at the bake size.
    """
    area = float(triangle_areas(position)[0].sum())
    return float(np.sqrt(area / max(texels, 1)))
