# SPDX-License-Identifier: GPL-3.0-or-later
"""Image comparisons shared by the tests."""

from __future__ import annotations

import numpy as np

#: Two runs of the same numpy computation may differ in the last float32 bit: numpy's SIMD loops take
#: different paths with the arrays' memory alignment. "The same image" means equal to this tolerance.
FLOAT_ROUNDING = 1e-6


def same_image(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two float images are the same up to float rounding (same shape, every value within 1e-6).

    :param a: first image.
    :param b: second image.
    """
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= FLOAT_ROUNDING))
