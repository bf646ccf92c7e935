# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender images from numpy arrays, without ever overwriting an image the user owns.

Images we create carry the custom property ``depth_addon_owned``. An existing image of the wanted
name is reused only when it has that tag; otherwise Blender gives the new image a unique name.
Arrays use row 0 = top; ``Image.pixels`` is bottom-up RGBA, so rows are flipped on the way in.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..errors import BadInput

KEY_OWNED = "depth_addon_owned"  # on images, projectors and collections we created
FAR_DEPTH = 1.0e10  # depth written for unknown pixels: nothing occludes there


def _store_image(name: str, rgb: np.ndarray, float_buffer: bool, colorspace: str) -> bpy.types.Image:
    """Write H×W×3 ``rgb`` (row 0 = top) into our image ``name``, reused if we made it, else a new one."""
    h, w = rgb.shape[:2]
    im = bpy.data.images.get(name)
    if im is not None and im.get(KEY_OWNED) and im.library is None and im.source == "GENERATED":
        if tuple(im.size) != (w, h):
            im.generated_width, im.generated_height = w, h
        if im.is_float != float_buffer:
            im.use_generated_float = float_buffer
    else:  # absent, or a user's image: never overwritten, Blender picks a unique name
        im = bpy.data.images.new(name, w, h, alpha=True, float_buffer=float_buffer)
        im[KEY_OWNED] = True
    im.colorspace_settings.name = colorspace
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = rgb[..., :3]
    im.pixels.foreach_set(rgba[::-1].ravel())  # Image.pixels is bottom-up
    im.update()
    return im


def image_from_array(name: str, rgb: np.ndarray, colorspace: str = "sRGB", float_buffer: bool = False
                     ) -> bpy.types.Image:
    """Store an H×W×3 colour array (row 0 = top) in an image datablock.

    An existing image called ``name`` is reused only when this module created it; otherwise the
    new image gets a unique name and the user's image stays as it is.

    :param name: Wanted image name.
    :param rgb: H×W×3 (or ×4, alpha ignored; or H×W grey) float array of display values in ``[0, 1]``.
    :param colorspace: Colour space the values are in (``'sRGB'`` for generated pictures).
    :param float_buffer: Keep full float precision instead of 8 bits per channel.
    :return: The image (not packed; pack it before saving the file if it must be kept).
    """
    arr = np.asarray(rgb, dtype=np.float32)
    if arr.ndim == 2:  # grey: previews, masks
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadInput(f"expected an H×W×3 colour array, got shape {arr.shape}")
    return _store_image(name, arr, float_buffer, colorspace)


def float_image_from_array(name: str, depth: np.ndarray) -> bpy.types.Image:
    """Store an H×W camera-Z depth map (metres, row 0 = top) as a Non-Color float image.

    Non-finite and non-positive values become :data:`FAR_DEPTH` (nothing occludes there).

    :param name: Wanted image name (same reuse rule as :func:`image_from_array`).
    :param depth: H×W float array.
    """
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2 or d.size == 0:
        raise BadInput(f"expected an H×W depth array, got shape {d.shape}")
    d = np.where(np.isfinite(d) & (d > 0), d, FAR_DEPTH).astype(np.float32)
    return _store_image(name, np.repeat(d[..., None], 3, axis=2), True, "Non-Color")
