# SPDX-License-Identifier: GPL-3.0-or-later
"""The colour image of a depth import: read and checked, kept at its own resolution for the material, and resized to
the depth's size only for the clean-up steps that read it (guided denoising).

The mesh's UVs span the whole colour image whatever its size, so a phone photo (4032×3024) over its LiDAR depth
(256×192) colours the mesh at the photo's resolution.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInput
from .formats import check_size, display, probe
from .headers import exif_orientation
from .readers import color_to_float, exr_color_channels, read_color, upright


@dataclass(frozen=True)
class LoadedColor:
    """A colour input, checked.

    :param array: H×W×3 float32 at the colour's own size when the material must be made from memory (an array was
        given, or a multilayer EXR's pass), else None.
    :param path: The file Blender loads as is, else None.
    :param linear: True when the values are scene-linear (EXR, float TIFF).
    :param guide: H×W×3 float32 at the depth's size for the steps that read the colour (when asked for), else None.
    :param encoded: An image file of a photo turned upright (:func:`upright_file`), which the material keeps packed
        as it is, else None.
    """

    array: np.ndarray | None
    path: str | None
    linear: bool
    guide: np.ndarray | None
    encoded: bytes | None = None


#: No colour input.
NO_COLOR = LoadedColor(None, None, False, None)
#: JPEG quality of a JPEG photo turned upright: its own losses stay far above the new ones.
UPRIGHT_JPEG_QUALITY = 95


def upright_file(image: np.ndarray, suffix: str) -> bytes | None:
    """The file a photo turned upright is kept as: a JPEG again for a JPEG (a few MB for a phone photo, encoded in
    about a tenth of a second), else a PNG; None for pixels that are not 8-bit (stored as pixels).

    :param image: H×W×3 upright pixels as decoded.
    :param suffix: The photo's file suffix.
    """
    if image.dtype != np.uint8:
        return None
    import cv2

    bgr = np.ascontiguousarray(image[..., ::-1])
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, UPRIGHT_JPEG_QUALITY]
        if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR_444"):  # full-resolution colour: no second chroma loss
            params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
        ok, data = cv2.imencode(".jpg", bgr, params)
    else:
        ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return data.tobytes() if ok else None


def _read(color, warnings: list[str]) -> tuple[np.ndarray, str | None, bool, bytes | None]:
    """``(pixels as decoded, the file Blender may load as is or None, linear, the upright photo's file or None)`` of a
    colour path or array."""
    if not isinstance(color, np.ndarray):
        image, linear = read_color(color, as_float=False)
        path = os.fspath(color)
        if Path(path).suffix.lower() == ".exr" and exr_color_channels(probe(path).names, path) != ("R", "G", "B"):
            path = None  # a layer of a multilayer file: Blender would show whichever pass it lists first
        orientation = exif_orientation(color)
        encoded = None
        if orientation != 1:  # Blender would show the pixels as stored: the material gets them turned upright
            image, path = upright(image, orientation), None
            encoded = upright_file(image, Path(os.fspath(color)).suffix.lower())
            warnings.append(f"colour image {display(color)} turned upright, as its EXIF Orientation "
                            f"({orientation}) says")
        return image, path, linear, encoded
    image = np.asarray(color)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype.kind not in "uif":
        raise BadInput(f"colour array must be H×W×3 or H×W×4 numbers, got {image.dtype} {image.shape}")
    check_size(image.shape[1], image.shape[0], "colour array")
    image = image[..., :3]
    if image.dtype.kind == "f":
        finite = image[np.isfinite(image)]
        if not finite.size:
            raise BadInput("the colour array has no finite value")
        top = float(finite.max())
        if 1.5 < top <= 255.0 and np.array_equal(finite, np.round(finite)):  # 0-255 bytes held as floats
            image = image / np.float32(255.0)
            warnings.append(f"the colour array's values reach {top:g}: taken as 0-255 and divided by 255")
    return image, None, False, None


def load_color(color, size: tuple[int, int], policy: str, warnings: list[str], need_guide: bool) -> LoadedColor:
    """Read and check the colour input of a depth import of ``size``.

    A colour image of another size is used at its own size (the UVs span it whole); a copy resized to the depth's
    size is made only for the clean-up steps that read the colour. Another aspect ratio stretches the photo over the
    depth, and a warning says so.

    :param color: Colour file path, or an H×W×3 (or ×4) array (floats in [0, 1], or 0-255).
    :param size: The depth's ``(width, height)``.
    :param policy: ``resize`` (use a colour image of another size, as above) or ``refuse`` it.
    :param warnings: Messages for the user, appended to.
    :param need_guide: Make :attr:`LoadedColor.guide` (guided denoising reads it).
    :raises BadInput: For an unreadable colour input, or one of another size under ``refuse``.
    """
    w, h = size
    image, path, linear, encoded = _read(color, warnings)
    ch, cw = image.shape[:2]
    stored = path is not None or encoded is not None  # the material needs no pixels from here
    full = color_to_float(image) if not stored or need_guide else None
    if (cw, ch) == (w, h):
        return LoadedColor(None if stored else full, path, linear, full if need_guide else None, encoded)
    what = "the colour array" if isinstance(color, np.ndarray) else display(color)
    if policy == "refuse":
        raise BadInput(f"colour image {what} is {cw}×{ch} but the depth is {w}×{h}")
    if abs(cw * h - ch * w) > max(w, h):
        warnings.append(f"colour image {cw}×{ch} has another aspect ratio than the depth's {w}×{h}: it is "
                        "stretched over the mesh")
    guide = None
    if need_guide:
        import cv2

        guide = cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA if cw > w else cv2.INTER_LINEAR)
        guide = np.clip(guide, 0, None) if linear else np.clip(guide, 0, 1)
    return LoadedColor(None if stored else full, path, linear, guide, encoded)
