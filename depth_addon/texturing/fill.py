# SPDX-License-Identifier: GPL-3.0-or-later
"""Hole filling in texture space: island padding by dilation and smooth push-pull inpainting.

Two tools, both linear in the number of texels:

* :func:`dilate` copies the average of the valid 3×3 neighbours into each empty texel next to the
  valid region, ring by ring: islands grow by their own border colour, so bilinear filtering and
  mip-maps at island borders never reach the background.
* :func:`push_pull` fills *every* empty texel from a pyramid of weighted averages (push: halve the
  resolution summing colour×weight and weight; pull: fill holes from the coarser level upsampled),
  which gives smooth, seam-free values in holes of any size.

Material maps are filled from :func:`nearest_seen` instead: each empty texel takes the values of the nearest
painted one, so materials are never averaged across a gap (a roughness or metallic halfway between two
materials belongs to neither), at the cost of one distance transform for all channels.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import BadInput

#: Most channels the fills take at once (colours plus material maps).
MAX_CHANNELS = 16


def _check(rgb: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.ascontiguousarray(rgb, np.float32)
    m = np.asarray(valid, bool)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or m.shape != a.shape[:2] or not 1 <= a.shape[2] <= MAX_CHANNELS:
        raise BadInput(f"expected an H×W×C (C ≤ {MAX_CHANNELS}) array and an H×W mask, got {a.shape} and {m.shape}")
    return a, m


# OpenCV does the per-texel work on single-channel planes: numpy is slow on H×W×C arrays broadcast
# against H×W masks, and OpenCV's channel split/merge costs as much as the filtering itself.


def _reciprocal(weight: np.ndarray) -> np.ndarray:
    return np.divide(1.0, weight, out=np.zeros_like(weight), where=weight > 0)


def _dilate_planes(planes: list[np.ndarray], mask: np.ndarray, iterations: int) -> np.ndarray:
    """Grow ``planes`` (each already zero outside ``mask``) in place; return the grown uint8 mask."""
    m8 = mask.astype(np.uint8)
    weight = m8.astype(np.float32)
    for _ in range(int(iterations)):
        wsum = cv2.boxFilter(weight, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
        ring = ((wsum > 0) & (m8 == 0)).astype(np.uint8)
        if not ring.any():
            break
        inv = _reciprocal(wsum)
        for i, plane in enumerate(planes):
            grown = cv2.multiply(cv2.boxFilter(plane, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT),
                                 inv)
            planes[i] = cv2.copyTo(grown, ring, plane)
        m8 |= ring
        weight = m8.astype(np.float32)
    return m8


def dilate(rgb: np.ndarray, valid: np.ndarray, iterations: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Grow the valid region by ``iterations`` texels, each new texel the mean of its valid neighbours.

    :param rgb: H×W×C float values (C ≤ 16); invalid texels are ignored.
    :param valid: H×W bool, True where ``rgb`` holds data.
    :param iterations: Rings to add (the padding width in texels).
    :return: ``(values, valid)`` after growing; valid texels keep their values exactly.
    """
    a, m = _check(rgb, valid)
    m8 = m.astype(np.uint8)
    planes = [cv2.copyTo(p, m8, np.zeros_like(p)) for p in cv2.split(a)]
    grown = _dilate_planes(planes, m, iterations)
    out = cv2.merge(planes).reshape(a.shape)
    return (out if np.ndim(rgb) == 3 else out[..., 0]), grown > 0


def _push_pull_planes(planes: list[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
    """Push-pull fill of single-channel planes (each zero outside ``mask``); returns new planes."""
    weight = mask.astype(np.float32)
    levels = [(planes, weight)]  # (colour × weight planes, weight) with weights clamped to [0, 1]
    while max(levels[-1][1].shape) > 1:
        cols, w = levels[-1]
        size = ((w.shape[1] + 1) // 2, (w.shape[0] + 1) // 2)
        w2 = cv2.resize(w, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0])
        clamped = np.minimum(w2 * 4.0, 1.0)  # sum of the children, clamped
        scale = np.divide(clamped, w2, out=np.zeros_like(w2), where=w2 > 0)
        cols2 = [cv2.multiply(cv2.resize(c, size, interpolation=cv2.INTER_AREA).reshape(w2.shape), scale)
                 for c in cols]
        levels.append((cols2, clamped))
    cols, w = levels[-1]
    colour = [cv2.multiply(c, _reciprocal(w)) for c in cols]
    for cols, w in reversed(levels[:-1]):
        h, wd = w.shape
        rest = 1.0 - w
        colour = [cv2.add(own, cv2.multiply(np.ascontiguousarray(
            cv2.resize(c, (c.shape[1] * 2, c.shape[0] * 2), interpolation=cv2.INTER_LINEAR).reshape(
                c.shape[0] * 2, c.shape[1] * 2)[:h, :wd]), rest)) for own, c in zip(cols, colour, strict=True)]
    return colour


def push_pull(rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill every invalid texel smoothly from the valid ones (pyramid push-pull).

    :param rgb: H×W×C float values (C ≤ 16).
    :param valid: H×W bool marking known texels.
    :return: H×W×C float32; known texels are unchanged. All zeros when nothing is known.
    """
    a, m = _check(rgb, valid)
    if not m.any():
        return np.zeros(np.shape(rgb), np.float32)
    m8 = m.astype(np.uint8)
    planes = [cv2.copyTo(p, m8, np.zeros_like(p)) for p in cv2.split(a)]
    filled = [cv2.copyTo(p, m8, f) for p, f in zip(cv2.split(a), _push_pull_planes(planes, m), strict=True)]
    out = cv2.merge(filled).reshape(a.shape)
    return out if np.ndim(rgb) == 3 else out[..., 0]


def fill_texture(rgb: np.ndarray, seen: np.ndarray, inside: np.ndarray, padding: int = 2) -> np.ndarray:
    """Finish a fused texture: inpaint unseen texels inside the islands, pad the islands, fill the rest.

    :param rgb: H×W×C fused colours or colours plus maps (meaningful where ``seen``).
    :param seen: H×W bool, texels some view painted.
    :param inside: H×W bool, texels covered by the object's UV islands (kept for callers that
        distinguish them; every texel is filled).
    :param padding: Border width in texels grown from each island's own colours before the
        smooth fill takes over the empty space between islands.
    :return: H×W×C float32 with every texel set; painted texels are unchanged.
    """
    a, seen = _check(rgb, seen)
    m8 = seen.astype(np.uint8)
    planes = [cv2.copyTo(p, m8, np.zeros_like(p)) for p in cv2.split(a)]
    grown = _dilate_planes(planes, seen, padding)  # island borders, small holes: the neighbours' colours
    filled = _push_pull_planes(planes, grown > 0)  # larger unseen areas, the space between islands: smooth
    out = [cv2.copyTo(p, grown, f) for p, f in zip(planes, filled, strict=True)]
    return cv2.merge(out).reshape(a.shape)


def nearest_seen(seen: np.ndarray) -> np.ndarray:
    """For every texel (row-major), which ``seen`` texel is nearest, counted among the seen texels in row-major
    order from 0 (Euclidean distance, OpenCV's 5×5 estimate): one distance transform with labels.

    :param seen: H×W bool, texels that hold data; at least one.
    :return: H·W int32 ranks; the k-th seen texel is its own source, ``k``.
    """
    m = np.asarray(seen, bool)
    # labels number the zero pixels of the source (the seen texels) in row-major order, from 1
    _distance, labels = cv2.distanceTransformWithLabels((~m).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
                                                        labelType=cv2.DIST_LABEL_PIXEL)
    labels = labels.reshape(-1)
    labels -= 1
    return labels


def nearest_source(seen: np.ndarray) -> np.ndarray:
    """For every texel (row-major), the flat index of the nearest ``seen`` texel (:func:`nearest_seen`).

    :param seen: H×W bool, texels that hold data; at least one.
    :return: H·W int32 flat indices; a seen texel is its own source.
    """
    m = np.asarray(seen, bool)
    return np.take(np.flatnonzero(m).astype(np.int32), nearest_seen(m))


def clip_unit(values: np.ndarray) -> np.ndarray:
    """Clip float ``values`` to [0, 1] in place (NaN stays NaN, as with ``np.clip``), about three times faster
    than ``np.clip``; returns them.

    :param values: A writable float array.
    """
    np.minimum(values, 1.0, out=values)
    np.maximum(values, 0.0, out=values)
    return values
