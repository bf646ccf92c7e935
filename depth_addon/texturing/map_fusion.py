# SPDX-License-Identifier: GPL-3.0-or-later
"""Material maps through multi-view fusion: the maps ride along with the lit colours, texel for texel.

Each view's lit image and its maps (:mod:`depth_addon.generation.maps`) are stacked into one
many-channel image, so visibility, the winning view and the seam hand-over are computed once and every
map follows the same choice as the colours. After fusion the stack is split again (the colours are filled
smoothly, each map gathered from its nearest painted texel: :func:`filled_maps`) and the baked height becomes a
tangent-space normal map in the object's own UV space.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ..errors import BadInput
from ..generation.maps import normal_bytes
from ..io.png import to_byte
from . import fill
from .fusion import View
from .raster import triangle_areas

#: Maps fused with the colours, and their channel counts (``normal`` is derived from ``height`` after the bake;
#: ``height`` comes last).
FUSED = (("albedo", 3), ("roughness", 1), ("metallic", 1), ("height", 1))
#: Channels of the fused maps.
MAP_CHANNELS = sum(c for _name, c in FUSED)
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
    from the baked height. The 8-bit maps come as the bytes their images store.

    One distance transform finds, for every texel of the texture, its nearest seen texel (:func:`.fill.nearest_seen`).
    The seen texels' rows are gathered once, in that order, and the 8-bit maps are rounded there
    (:func:`~depth_addon.io.png.to_byte`: clipped to [0, 1], as Blender stores floats in a byte image), where there
    are fewer values than texels; their bytes are then spread over the texture in one gather of 8-byte texels
    (:func:`_spread`). Height stays float, in metres. With no texel seen the maps are zeros and the normal map flat.

    :param values: (N, C) fused values of the object's texels, the maps in their last :data:`FUSED` columns (lit
        colours may come first: whole rows are gathered, much faster than the columns of a wider array; not changed).
    :param texels: (N,) flat texel index of each value (:attr:`.raster.TexelGeometry.index`), each texel once.
    :param seen: (N,) bool, texels some view paints.
    :param size: Texture side in texels.
    :param texel_metres: Size of one texel on the surface (for the normal map's slopes).
    :return: ``albedo`` (size×size×3), ``roughness``, ``metallic`` (size×size) and ``normal`` (size×size×3) as
        ``uint8``; ``height`` (size×size) as ``float32``.
    """
    seen_rows = np.flatnonzero(seen)
    if not len(seen_rows):
        out = {name: np.zeros((size, size) if c == 1 else (size, size, c), np.float32 if name == "height" else np.uint8)
               for name, c in FUSED}
    else:
        where = texels[seen_rows]
        row_at = np.zeros(size * size, np.int32)
        row_at[where] = seen_rows
        seen_grid = np.zeros(size * size, bool)
        seen_grid[where] = True
        rows = np.asarray(values, np.float32).take(row_at[np.flatnonzero(seen_grid)], axis=0)  # seen, row-major
        out = _spread(rows, fill.nearest_seen(seen_grid.reshape(size, size)), size)
    out["normal"] = normal_bytes(out["height"], texel_metres)
    return out


def _spread(rows: np.ndarray, source: np.ndarray, size: int) -> dict:
    """The maps of every texel from the seen texels' values: each texel takes the row ``source`` names.

    The rows are rounded to bytes in place and the 8-bit maps' bytes packed into 8-byte rows, gathered as one
    8-byte value per texel: a single gather for all of them, with contiguous reads and writes, instead of one per map
    of 3- and 1-byte elements. OpenCV moves the channels (numpy is slow at 5 of 9, or 3 of 8).

    :param rows: (S, C) fused values of the seen texels, the maps in their last :data:`FUSED` columns (height last);
        worked on in place.
    :param source: (size², ) row of each texel (:func:`.fill.nearest_seen`).
    :param size: Texture side in texels.
    """
    count, width = rows.shape
    height = rows[:, -1].take(source).reshape(size, size)  # metres, before the rows are rounded
    packed = np.zeros((count, 8), np.uint8)
    first = width - MAP_CHANNELS
    cv2.mixChannels([to_byte(rows, scratch=True).reshape(count, 1, width)], [packed.reshape(count, 1, 8)],
                    [i for c in range(MAP_CHANNELS - 1) for i in (first + c, c)])
    grid = packed.view(np.uint64).reshape(-1).take(source).view(np.uint8).reshape(size, size, 8)
    out, k = {}, 0
    for name, channels in FUSED[:-1]:
        out[name] = np.empty((size, size, channels), np.uint8)
        cv2.mixChannels([grid], [out[name]], [i for c in range(channels) for i in (k + c, c)])
        out[name] = out[name].reshape((size, size) if channels == 1 else (size, size, channels))
        k += channels
    out["height"] = height
    return out


def texel_metres(position: np.ndarray, texels: int) -> float:
    """Average size of one texel on the surface: ``sqrt(surface area / covered texels)``.

    :param position: (T, 3, 3) world corners of the object's triangles.
    :param texels: Texels the UV islands cover at the bake size.
    """
    area = float(triangle_areas(position)[0].sum())
    return float(np.sqrt(area / max(texels, 1)))
