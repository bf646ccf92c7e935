# SPDX-License-Identifier: GPL-3.0-or-later
"""Read depth maps and colour images into numpy, after their header passed :func:`.formats.probe`.

* PNG 8/16-bit and TIFF (8/16-bit integers, 32/64-bit floats) through OpenCV with
  ``IMREAD_UNCHANGED``, decoded from bytes (so non-ASCII paths work everywhere);
* EXR through OpenEXR, one channel picked by name;
* NPY/NPZ through ``np.load`` without pickles;
* PFM through :mod:`.pfm`.

Depth comes back as :class:`RawDepth`: H×W float32 *raw values* (row 0 = top), NaN where the file
marks a pixel as missing (alpha 0, NaN). What the values mean is decided by :mod:`.values`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInput
from . import pfm
from .formats import ImageInfo, check_size, display, pick_member, probe

#: Colour-image suffixes read through OpenCV (EXR colour goes through OpenEXR).
COLOR_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr")
_CHANNEL_LETTERS = "RGBA"
_EXR_PREFERENCE = ("Z", "V", "Y", "depth", "Depth", "R")


@dataclass
class RawDepth:
    """Raw values of a depth file.

    :param values: H×W float32, NaN where the file marks the pixel as missing.
    :param info: The header information.
    :param channel: The channel or array the values came from.
    :param integer_max: Largest value of the source integer type (0 for float sources).
    """

    values: np.ndarray
    info: ImageInfo
    channel: str
    integer_max: float = 0.0


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - depends on the installation
        raise BadInput("reading PNG/TIFF needs OpenCV (pip install opencv-python-headless)") from None
    return cv2


def decode_image(path: str | os.PathLike) -> np.ndarray:
    """Decode a PNG/TIFF/JPEG file with OpenCV (channels converted to RGB(A) order).

    :raises BadInput: When OpenCV cannot decode it (truncated, corrupt or unsupported).
    """
    cv2 = _cv2()
    try:
        data = np.fromfile(os.fspath(path), dtype=np.uint8)
    except OSError as exc:
        raise BadInput(f"cannot read {display(path)}: {exc.strerror or exc}") from None
    old = cv2.getLogLevel()
    cv2.setLogLevel(0)  # silent: a failed decode is reported as BadInput, not as a warning on stderr
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error:
        image = None
    finally:
        cv2.setLogLevel(old)
    if image is None:
        raise BadInput(f"cannot decode {display(path)}: truncated, corrupt or an unsupported variant")
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[..., ::-1]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[..., [2, 1, 0, 3]]
    return image


def _pick_image_channel(image: np.ndarray, channel: str | None, path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """One channel of a decoded image; alpha == 0 marks missing pixels."""
    if image.ndim == 2:
        if channel not in (None, "R", "Y", "0"):
            raise BadInput(f"{display(path)} has one channel; channel {channel!r} does not exist")
        return image, "Y"
    count = image.shape[2]
    if count not in (3, 4):
        raise BadInput(f"{display(path)}: unsupported channel count {count}; use 1, 3 or 4")
    alpha = image[..., 3] if count == 4 else None
    if channel is None:
        if not (np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2])):
            raise BadInput(f"{display(path)} has {count} channels that differ; choose one with the channel "
                           "option (R, G, B or A)")
        picked, name = image[..., 0], "Y"
    else:
        key = channel.upper()
        index = int(key) if key.isdigit() else _CHANNEL_LETTERS.find(key)
        if not 0 <= index < count:
            raise BadInput(f"{display(path)} has channels {_CHANNEL_LETTERS[:count]}; no channel {channel!r}")
        picked, name = image[..., index], _CHANNEL_LETTERS[index]
        if index == 3:
            alpha = None
    if alpha is not None and (alpha == 0).any():
        picked = picked.astype(np.float32)
        picked[alpha == 0] = np.nan
    return picked, name


def _pick_exr_channel(names: tuple[str, ...], channel: str | None, path: str | os.PathLike) -> str:
    if channel is not None:
        if channel in names:
            return channel
        matches = [n for n in names if n.rsplit(".", 1)[-1] == channel]
        if len(matches) == 1:
            return matches[0]
        raise BadInput(f"{display(path)} has no channel {channel!r}; it has {', '.join(names)}")
    if len(names) == 1:
        return names[0]
    for want in _EXR_PREFERENCE:
        matches = [n for n in names if n == want or n.endswith("." + want)]
        if len(matches) == 1:
            return matches[0]
    raise BadInput(f"{display(path)} has several channels ({', '.join(names)}); choose one with the channel option")


def _read_exr(path: str | os.PathLike, info: ImageInfo, channel: str | None) -> tuple[np.ndarray, str]:
    import OpenEXR

    name = _pick_exr_channel(info.names, channel, path)
    try:
        f = OpenEXR.File(os.fspath(path), separate_channels=True)
        for part in f.parts:
            if name in part.channels:
                return np.asarray(part.channels[name].pixels), name
    except Exception as exc:  # the bindings raise plain exceptions for truncated files
        raise BadInput(f"cannot read EXR {display(path)}: {exc}") from None
    raise BadInput(f"{display(path)}: channel {name!r} has no pixel data")


def _read_npy(path: str | os.PathLike, info: ImageInfo, channel: str | None) -> tuple[np.ndarray, str]:
    try:
        if info.format == "npz":
            with np.load(os.fspath(path), allow_pickle=False) as archive:
                name = info.names[0]
                array = archive[name]
        else:
            array, name = np.load(os.fspath(path), allow_pickle=False), "array"
    except (ValueError, OSError, EOFError) as exc:
        raise BadInput(f"cannot read {display(path)}: {exc}") from None
    if array.ndim == 3 and array.shape[2] in (2, 3, 4) and info.channels > 1:
        if channel is None:
            raise BadInput(f"{display(path)} holds {array.shape[2]} values per pixel; choose one with the channel "
                           "option (an index)")
        if not channel.isdigit() or int(channel) >= array.shape[2]:
            raise BadInput(f"{display(path)}: channel must be an index below {array.shape[2]}, got {channel!r}")
        return array[..., int(channel)], f"{name}[{channel}]"
    return array.reshape(info.height, info.width), name


def read_depth(path: str | os.PathLike, channel: str | None = None) -> RawDepth:
    """Read the raw values of a depth file (header checked first, see :func:`.formats.probe`).

    :param path: ``.png``, ``.tif``/``.tiff``, ``.exr``, ``.npy``, ``.npz`` or ``.pfm``.
    :param channel: EXR channel name (full or last component, e.g. ``Z``), image channel (``R``,
        ``G``, ``B``, ``A`` or an index), NPZ array name or NPY last-axis index. When omitted: the
        only channel, grey data stored as identical RGB, or a depth-like EXR channel/NPZ array.
    :raises BadInput: Unreadable, unsupported or oversized files; ambiguous channels.
    """
    info = probe(path, channel if Path(path).suffix.lower() == ".npz" else None)
    if info.format in ("png", "tiff"):
        image = decode_image(path)
        check_size(image.shape[1], image.shape[0], display(path))
        if image.dtype.kind in "iu":
            int_max = float(np.iinfo(image.dtype).max)
        elif image.dtype.kind == "f":
            int_max = 0.0
        else:
            raise BadInput(f"{display(path)}: unsupported sample type {image.dtype}")
        values, name = _pick_image_channel(image, channel, path)
    elif info.format == "exr":
        values, name = _read_exr(path, info, channel)
        int_max = 0.0
    elif info.format in ("npy", "npz"):
        values, name = _read_npy(path, info, channel if info.format == "npy" else None)
        int_max = float(np.iinfo(values.dtype).max) if values.dtype.kind in "iu" else 0.0
    else:
        values = pfm.read_pfm(path)
        if values.ndim == 3:
            picked, name = _pick_image_channel(values, channel, path)
            values = picked
        else:
            name = "Y"
        int_max = 0.0
    values = np.asarray(values, dtype=np.float32)
    if values.shape != (info.height, info.width) and info.width:
        raise BadInput(f"{display(path)}: decoded {values.shape[::-1]} pixels, header says {info.width}×{info.height}")
    return RawDepth(values=np.ascontiguousarray(values), info=info, channel=name, integer_max=int_max)


def read_color(path: str | os.PathLike, as_float: bool = True) -> tuple[np.ndarray, bool]:
    """Read a colour image as H×W×3 (float32 in [0, 1] unless ``as_float`` is False).

    :param path: PNG, JPEG, TIFF, BMP, WebP (display values) or EXR (linear R, G, B).
    :param as_float: Convert integer pixels to float32 in [0, 1]; False keeps the decoded type
        (enough to validate the file and learn its size).
    :return: ``(rgb, linear)``; ``linear`` is True for float sources (EXR, float TIFF).
    :raises BadInput: Unreadable, unsupported or oversized images.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in COLOR_SUFFIXES:
        raise BadInput(f"unsupported colour image {display(path)}; use one of {', '.join(COLOR_SUFFIXES)}")
    if suffix == ".exr":
        info = probe(path)
        import OpenEXR

        try:
            channels = OpenEXR.File(os.fspath(path), separate_channels=True).parts[0].channels
            planes = [np.asarray(channels[c].pixels, np.float32) for c in "RGB" if c in channels]
        except Exception as exc:
            raise BadInput(f"cannot read EXR {display(path)}: {exc}") from None
        if len(planes) != 3:
            raise BadInput(f"{display(path)} has no R, G, B channels; it has {', '.join(info.names)}")
        return np.stack(planes, axis=-1), True
    if suffix == ".png":  # memory guard from the IHDR; palette and low-bit PNGs are fine as colour
        head, _size = open_head(path)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            check_size(int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), display(path))
    image = decode_image(path)
    check_size(image.shape[1], image.shape[0], display(path))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    linear = image.dtype.kind == "f"
    return (color_to_float(image) if as_float else image), linear


def color_to_float(image: np.ndarray) -> np.ndarray:
    """Integer RGB → float32 in [0, 1] (scaled by the type's maximum); float images pass through as float32."""
    if image.dtype.kind == "f":
        return np.ascontiguousarray(image, dtype=np.float32)
    return image.astype(np.float32) * np.float32(1.0 / float(np.iinfo(image.dtype).max))


def open_head(path: str | os.PathLike, n: int = 64) -> tuple[bytes, int]:
    """First ``n`` bytes and the size of a file.

    :raises BadInput: When the file is missing or unreadable.
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(n), os.path.getsize(path)
    except FileNotFoundError:
        raise BadInput(f"file not found: {display(path)}") from None
    except OSError as exc:
        raise BadInput(f"cannot read {display(path)}: {exc.strerror or exc}") from None


__all__ = ["RawDepth", "color_to_float", "decode_image", "pick_member", "read_color", "read_depth"]
