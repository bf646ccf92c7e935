# SPDX-License-Identifier: GPL-3.0-or-later
"""Sampling images at continuous pixel coordinates with OpenCV (numpy + cv2, no bpy).

OpenCV's ``remap`` takes at most four channels, so wider images (lit colours plus material maps) are split into
pieces once (:func:`planes`) and every piece is sampled with the same coordinate maps.
"""

from __future__ import annotations

import cv2
import numpy as np


def planes(image: np.ndarray) -> list[np.ndarray]:
    """An H×W(×C) image as contiguous float32 pieces of at most four channels, the most OpenCV's remap takes.

    :param image: H×W or H×W×C array.
    """
    img = np.asarray(image, np.float32)
    if img.ndim == 2 or img.shape[2] <= 4:
        return [np.ascontiguousarray(img)]
    return [np.ascontiguousarray(img[..., k:k + 4]) for k in range(0, img.shape[2], 4)]


def bilinear(image: np.ndarray | list[np.ndarray], col: np.ndarray, row: np.ndarray, cubic: bool = False
             ) -> np.ndarray:
    """Sample an H×W×C image at continuous pixel coordinates (edge-clamped), with OpenCV.

    :param image: H×W×C float array, or the same as :func:`planes` (made once for many calls).
    :param col: (N,) continuous column coordinates (pixel centres at ``c + 0.5``).
    :param row: (N,) continuous row coordinates.
    :param cubic: Bicubic instead of bilinear interpolation (may overshoot the input's range).
    """
    pieces = image if isinstance(image, list) else planes(image)
    widths = [1 if p.ndim == 2 else p.shape[2] for p in pieces]
    n = int(np.size(col))
    if n == 0:
        return np.zeros((0, sum(widths)), np.float32)
    width = 1024  # OpenCV maps are images: lay the points out in rows
    rows = -(-n // width)
    mx = np.zeros((rows, width), np.float32)
    my = np.zeros((rows, width), np.float32)
    mx.reshape(-1)[:n] = col - 0.5
    my.reshape(-1)[:n] = row - 0.5
    flag = cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
    if len(pieces) == 1:
        out = cv2.remap(pieces[0], mx, my, flag, borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(rows * width, widths[0])[:n]
    sampled = [cv2.remap(piece, mx, my, flag, borderMode=cv2.BORDER_REPLICATE) for piece in pieces]
    return cv2.merge(sampled).reshape(rows * width, sum(widths))[:n]  # twice as fast as numpy's strided copies
