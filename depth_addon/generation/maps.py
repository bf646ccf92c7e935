# SPDX-License-Identifier: GPL-3.0-or-later
"""Material maps next to the lit image: albedo, roughness, metallic, normal and height (numpy, no bpy).

The embedded generators build every image from an unlit surface description before they shade it: a
palette colour per segment, the style's pattern, mortar joints and normals from depth. These maps hand
that description out, so a result can be relit by the scene's own lights instead of carrying the
generator's sun and shadows:

* ``albedo`` — H×W×3 sRGB base colour, the same albedo the shading starts from (no light, no shadow);
* ``roughness`` — H×W in [0, 1], per style (:data:`ROUGHNESS`), rougher in mortar joints, finish words
  move it (``glossy``/``polished`` smoother, ``matte``/``rough`` rougher);
* ``metallic`` — H×W in [0, 1] (:data:`METALLIC`: 1 for ``metal``);
* ``height`` — H×W relief in metres around the surface (:data:`HEIGHT`: mortar joints sink, bricks,
  planks and stones stand out by their pattern);
* ``normal`` — H×W×3 camera-space unit normals from depth, encoded ``0.5 + 0.5 n`` (+X right, +Y up, +Z
  towards the camera). Bakes turn ``height`` into a tangent-space normal map in the object's UV space
  (:func:`normal_from_height`), which is what materials and glTF use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BadInput
from ..io.png import to_byte
from .baseline import linear_to_srgb

#: The maps a generator that gives maps returns (see :class:`Layers`).
MAPS = ("albedo", "roughness", "metallic", "normal", "height")
#: The maps estimated for a generator that only paints a picture (:mod:`.delight`): a picture gives no relief, so
#: its height map is flat, and so is the normal map a bake makes from it.
ESTIMATED = ("albedo", "roughness", "metallic")
#: Base roughness per style.
ROUGHNESS = {"brick": 0.85, "wood": 0.6, "stone": 0.8, "marble": 0.15, "tiles": 0.3, "metal": 0.35,
             "plaster": 0.9, "grass": 0.95}
#: Metalness per style (others are dielectric).
METALLIC = {"metal": 1.0}
#: Relief amplitude per style in metres (pattern ±1 maps to ± this; mortar sinks by twice it).
HEIGHT = {"brick": 0.006, "wood": 0.0015, "stone": 0.01, "marble": 0.0005, "tiles": 0.003, "metal": 0.0005,
          "plaster": 0.001, "grass": 0.008}
#: Roughness change per finish word.
FINISH_ROUGHNESS = {"glossy": -0.3, "matte": 0.15, "dull": 0.1}


@dataclass
class Layers:
    """What ``generate_maps`` returns: the lit image and the maps it was shaded from.

    :param rgb: H×W×3 float32 sRGB lit image (what ``generate`` returns).
    :param maps: Map name (:data:`MAPS`) → H×W×3 or H×W float32 array.
    """

    rgb: np.ndarray
    maps: dict


def check_maps(maps: object) -> tuple[str, ...]:
    """The maps a request asks for: ``True`` every map (the relightable material), ``False`` or None none, a map name
    or a list of map names those.

    A projection or bake makes every map whenever it makes any (the relightable material wires them together);
    naming maps says which ones the result must really hold (:func:`refused_maps`).

    :param maps: ``True``, ``False``, None, a map name or a list/tuple/set of map names.
    :raises BadInput: For another type, or a name that is no map (the message names the maps).
    """
    if maps is None or isinstance(maps, bool):
        return MAPS if maps else ()
    names = [maps] if isinstance(maps, str) else maps
    if not isinstance(names, list | tuple | set | frozenset) or not all(isinstance(n, str) for n in names):
        raise BadInput(f"maps must be True, False or a list of map names ({', '.join(MAPS)}), got {maps!r}")
    unknown = [n for n in names if n.strip().lower() not in MAPS]
    if unknown:
        raise BadInput(f"unknown map{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; the maps are "
                       f"{', '.join(MAPS)}")
    return tuple(m for m in MAPS if m in {n.strip().lower() for n in names})


def refused_maps(generator: str, given: tuple[str, ...] | None, asked: tuple[str, ...]) -> str | None:
    """Why ``generator`` cannot give the maps named in ``asked``, or None when it gives them all.

    :param generator: Its name, for the message.
    :param given: The maps it gives (a generator's ``maps``; :data:`ESTIMATED` for those that only paint), or None
        when not known.
    :param asked: The maps asked for by name.
    """
    missing = [m for m in asked if given is not None and m not in given]
    if not missing:
        return None
    return (f"the {generator!r} generator cannot give the {' or '.join(missing)} map"
            f"{'s' if len(missing) > 1 else ''}; it gives {', '.join(given) or 'no maps'}; the embedded and analytic "
            f"generators give every map ({', '.join(MAPS)})")


def flat_maps_warning(generator: str, bake: bool, displacement: bool = False) -> str:
    """The warning for a result whose maps were estimated from a picture: which ones it holds, which are flat.

    :param generator: The generator's name.
    :param bake: A bake (its normal map is made from the flat height) rather than a projection.
    :param displacement: The height map was asked to displace the surface.
    """
    flat = "height map is flat (all zero), and so is the normal map baked from it" if bake else "height map is flat " \
        "(all zero)"
    moves = "; displacement moves nothing" if displacement else ""
    return (f"the {generator!r} generator gives no relief: it gives the {', '.join(ESTIMATED)} maps (estimated from "
            f"its picture); its {flat}{moves}; the embedded and analytic generators give every map "
            f"({', '.join(MAPS)})")


def surface_maps(albedo: np.ndarray, pattern: np.ndarray, mortar: np.ndarray, normals: np.ndarray,
                 mask: np.ndarray, regions: list) -> dict:
    """The maps of one image from the analytic layer's surface description.

    :param albedo: 3×H×W linear albedo the shading started from.
    :param pattern: H×W style pattern in about [-1, 1].
    :param mortar: H×W mortar weight in [0, 1].
    :param normals: 3×H×W camera-space unit normals.
    :param mask: H×W bool geometry.
    :param regions: :class:`~.segments.Region` list (style, report and pixels of each region).
    """
    h, w = mask.shape
    rough = np.zeros((h, w), np.float32)
    metal = np.zeros((h, w), np.float32)
    height = np.zeros((h, w), np.float32)
    pat = np.clip(np.nan_to_num(pattern), -1.0, 1.0)
    for r in regions:
        where = mask if r.where is None else mask & r.where
        base = ROUGHNESS.get(r.style, 0.7) + sum(FINISH_ROUGHNESS.get(f, 0.0) for f in r.report.finishes)
        amp = HEIGHT.get(r.style, 0.002)
        rough = np.where(where, np.clip(base + 0.05 * pat + 0.1 * mortar, 0.02, 1.0), rough)
        metal = np.where(where, METALLIC.get(r.style, 0.0) * (1.0 - mortar), metal)
        height = np.where(where, amp * (pat * (1.0 - mortar) - 2.0 * mortar), height)
    encoded = 0.5 + 0.5 * np.moveaxis(np.nan_to_num(normals), 0, -1)
    encoded = np.where(mask[..., None], encoded, np.float32(0.5) * np.array([1, 1, 2], np.float32))
    return {"albedo": linear_to_srgb(np.moveaxis(albedo * mask, 0, -1)),
            "roughness": rough.astype(np.float32), "metallic": metal.astype(np.float32),
            "normal": encoded.astype(np.float32), "height": height.astype(np.float32)}


def _cv2():
    """OpenCV, or None in a Python without it (the extension bundles it; a bare ``bpy`` may lack it)."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def normal_from_height(height: np.ndarray, texel_metres: float, use_cv2: bool = True) -> np.ndarray:
    """Tangent-space normal map (H×W×3, encoded ``0.5 + 0.5 n``, OpenGL convention: +Y is +V) of a height
    texture whose row 0 is ``v = 0``.

    Tangents follow the UV axes (+X along U, +Y along V), which is how Blender's Normal Map node and glTF
    read a map on a UV layout that is not mirrored.

    OpenCV does it in about 5 ms at 1024² when it is there (a bake makes one per object); numpy takes about 16 ms.

    :param height: H×W relief in metres, in texture space.
    :param texel_metres: Size of one texel on the surface in metres.
    :param use_cv2: Use OpenCV when it can be imported (False: the numpy route, which gives the same map).
    """
    cv2 = _cv2() if use_cv2 else None
    du, dv = _slopes(height, texel_metres, cv2)
    if cv2 is not None:
        inv = cv2.divide(0.5, cv2.sqrt(cv2.add(cv2.add(cv2.multiply(du, du), cv2.multiply(dv, dv)), 1.0)))
        return cv2.merge([cv2.add(cv2.multiply(du, inv), 0.5), cv2.add(cv2.multiply(dv, inv), 0.5),
                          cv2.add(inv, 0.5)])
    inv = np.float32(0.5) / np.sqrt(du * du + dv * dv + np.float32(1.0))
    return np.stack([0.5 + du * inv, 0.5 + dv * inv, 0.5 + inv], -1).astype(np.float32)


def normal_bytes(height: np.ndarray, texel_metres: float) -> np.ndarray:
    """:func:`normal_from_height` as the bytes an 8-bit image stores (:func:`~depth_addon.io.png.to_byte` of it):
    the same bytes, made in place one channel at a time (about half the time at 1024², and less than half the
    temporary memory).

    :param height: H×W relief in metres, in texture space.
    :param texel_metres: Size of one texel on the surface in metres.
    :return: H×W×3 ``uint8``.
    """
    du, dv = _slopes(height, texel_metres, _cv2())
    inv = np.multiply(du, du)
    spare = np.multiply(dv, dv)
    inv += spare
    inv += np.float32(1.0)
    np.sqrt(inv, out=inv)
    np.divide(np.float32(0.5), inv, out=inv)  # 0.5 / |(du, dv, 1)|
    du *= inv
    dv *= inv
    spare[...] = inv
    out = np.empty(du.shape + (3,), np.uint8)
    for k, channel in enumerate((du, dv, spare)):
        channel += np.float32(0.5)
        to_byte(channel, out=out[..., k], scratch=True)
    return out


def _slopes(height: np.ndarray, texel_metres: float, cv2) -> tuple[np.ndarray, np.ndarray]:
    """Height change per unit of surface along U and V, negated (central differences, one-sided on the edges).

    :param height: H×W relief in metres.
    :param texel_metres: Size of one texel on the surface in metres.
    :param cv2: OpenCV, or None for the numpy route.
    :return: ``(du, dv)``, new H×W float32 arrays.
    """
    h = np.ascontiguousarray(height, np.float32)
    scale = np.float32(-0.5 / max(float(texel_metres), 1e-6))  # central differences ...
    if cv2 is not None:
        kernel = np.array([[-scale, 0.0, scale]], np.float32)
        du = cv2.filter2D(h, -1, kernel, borderType=cv2.BORDER_REPLICATE)
        dv = cv2.filter2D(h, -1, kernel.T, borderType=cv2.BORDER_REPLICATE)
    else:
        pad = np.pad(h, 1, mode="edge")
        du = (pad[1:-1, 2:] - pad[1:-1, :-2]) * scale
        dv = (pad[2:, 1:-1] - pad[:-2, 1:-1]) * scale
    if h.shape[1] > 1:  # ... and one-sided on the edges: a replicated border halves them there
        du[:, [0, -1]] *= np.float32(2.0)
    if h.shape[0] > 1:
        dv[[0, -1]] *= np.float32(2.0)
    return du, dv


def shadow_correlation(image: np.ndarray, shading: np.ndarray, mask: np.ndarray,
                       labels: np.ndarray | None = None) -> float:
    """|Pearson correlation| between an image's luminance and a shading term over ``mask`` (0 when flat).

    With ``labels`` (the generator's surface segments) both are compared within each segment (per-segment
    means removed): surfaces differ in palette colour and in sun angle, and that is not baked lighting; a
    shadow falling across one surface is. Used to check that an albedo carries no baked lighting.

    :param image: H×W×3 colours.
    :param shading: H×W shading term (the generator's sun × shadow).
    :param mask: H×W bool pixels to compare.
    :param labels: H×W integer segment labels, or None to compare over the whole mask.
    """
    lum = (np.asarray(image, np.float64)[..., :3] @ [0.2126, 0.7152, 0.0722])[mask]
    s = np.asarray(shading, np.float64)[mask]
    if labels is not None:
        lab = np.asarray(labels)[mask]
        _, inverse, counts = np.unique(lab, return_inverse=True, return_counts=True)
        lum = lum - (np.bincount(inverse, lum) / counts)[inverse]
        s = s - (np.bincount(inverse, s) / counts)[inverse]
    if lum.size < 2 or lum.std() < 1e-9 or s.std() < 1e-9:
        return 0.0
    return float(abs(np.corrcoef(lum, s)[0, 1]))
