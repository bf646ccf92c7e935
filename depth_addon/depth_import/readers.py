# SPDX-License-Identifier: GPL-3.0-or-later
"""Read depth maps and colour images into numpy, after their header passed :func:`.formats.probe`.

* PNG 8/16-bit and TIFF (8/16-bit integers, 32/64-bit floats) through OpenCV with
  ``IMREAD_UNCHANGED``, decoded from bytes (so non-ASCII paths work everywhere);
* EXR through OpenEXR, decoding only the channel picked by name (see :func:`read_exr_channels`);
* NPY/NPZ through ``np.load`` without pickles;
* PFM through :mod:`.pfm`.

Colour images (:func:`read_color`) have their size read from the header first (:mod:`.headers`), so
an oversized image is refused before it is decoded.

Depth comes back as :class:`RawDepth`: H×W float32 *raw values* (row 0 = top), NaN where the file
marks a pixel as missing (alpha 0, NaN). What the values mean is decided by :mod:`.values`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..io.exr import exr_truncated
from . import pfm
from .formats import MAX_PIXELS, ImageInfo, check_size, display, pick_member, probe
from .headers import check_image_size, exif_orientation

#: Colour-image suffixes read through OpenCV (EXR colour goes through OpenEXR).
COLOR_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr")
_CHANNEL_LETTERS = "RGBA"
_EXR_PREFERENCE = ("Z", "V", "Y", "depth", "Depth", "R")
#: Samples (pixels × channels, all parts) a multi-part EXR may hold when a channel outside its first part
#: is read, which decodes the whole file: four channels at the pixel limit (1 GiB of float32).
EXR_MAX_SAMPLES = 4 * MAX_PIXELS


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


def _depth_layer(name: str) -> bool:
    """Whether a layered channel name (``layer.channel``, Blender's ``ViewLayer.Pass.channel``) may hold depth: the
    channel of a depth layer or pass, or the ``R`` of a colour one (taken only when ``R = G = B``, see
    :func:`_read_exr`). A render's Normal, Position, Vector, UV or Mist pass has X, Y, Z or V channels that are no
    depth."""
    layer, channel = name.rsplit(".", 1)
    return channel in ("R", "depth", "Depth") or layer.rsplit(".", 1)[-1].lower() in ("depth", "z")


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
        matches = [n for n in names if n == want or n.endswith("." + want) and _depth_layer(n)]
        if len(matches) == 1:
            return matches[0]
    raise BadInput(f"{display(path)} has several channels ({', '.join(names)}); choose one with the channel option")


def _exr_error(path: str | os.PathLike, exc: BaseException) -> BadInput:
    try:
        cut = exr_truncated(path)
    except OSError:
        cut = None
    if cut:
        return BadInput(f"EXR {display(path)} is truncated ({cut}); was it copied or written completely?")
    text = str(exc).strip().splitlines()
    return BadInput(f"cannot read EXR {display(path)}: {text[0] if text else type(exc).__name__}")


def read_exr_channels(path: str | os.PathLike, info: ImageInfo, names: tuple[str, ...]) -> list[np.ndarray]:
    """Decode only the channels ``names`` of an EXR file (header already checked by :func:`.formats.probe`).

    Channels of the first part are read through OpenEXR's scanline reader, which allocates only the
    channels asked for (as float32, whatever their stored type). A channel in another part of a
    multi-part file needs the whole file decoded; that is refused when all parts together hold more
    than :data:`EXR_MAX_SAMPLES` samples.

    :param path: The EXR file.
    :param info: Its header information (the size of the first part).
    :param names: Channel names, all of the first part or all found in some part.
    :return: One H×W float32 array per name.
    :raises BadInput: Unreadable files, subsampled channels, and multi-part files too large to decode.
    """
    import OpenEXR

    legacy = getattr(OpenEXR, "InputFile", None)  # deprecated in OpenEXR 3.3 but the only per-channel reader
    if legacy is not None:
        try:
            import Imath

            f = legacy(os.fspath(path))
            try:
                first = set(f.header()["channels"])
                if first.issuperset(names):
                    raw = f.channels(list(names), Imath.PixelType(Imath.PixelType.FLOAT))
                    if any(len(b) != 4 * info.width * info.height for b in raw):
                        raise BadInput(f"{display(path)}: subsampled channels are not supported")
                    return [np.frombuffer(b, np.float32).reshape(info.height, info.width).copy() for b in raw]
            finally:
                f.close()
        except BadInput:
            raise
        except ImportError:  # pragma: no cover - Imath ships with OpenEXR
            pass
        except Exception as exc:  # the bindings raise plain exceptions for truncated files
            raise _exr_error(path, exc) from None
    try:
        header = OpenEXR.File(os.fspath(path), header_only=True)
        total = 0
        for part in header.parts:
            lo, hi = part.header["dataWindow"]
            total += (int(hi[0]) - int(lo[0]) + 1) * (int(hi[1]) - int(lo[1]) + 1) * len(part.header["channels"])
    except Exception as exc:
        raise _exr_error(path, exc) from None
    if total > EXR_MAX_SAMPLES:
        raise BadInput(f"{display(path)}: reading channel {names[0]!r} decodes every part of this multi-part EXR "
                       f"({total / 1e6:.0f} M samples, above the {EXR_MAX_SAMPLES // 1_000_000} M limit); "
                       "save that part on its own first")
    try:
        parts = [p.channels for p in OpenEXR.File(os.fspath(path), separate_channels=True).parts]
    except Exception as exc:
        raise _exr_error(path, exc) from None
    out = []
    for name in names:
        found = next((c[name].pixels for c in parts if name in c), None)
        if found is None:
            raise BadInput(f"{display(path)}: channel {name!r} has no pixel data")
        out.append(np.asarray(found, np.float32))
    return out


def _read_exr(path: str | os.PathLike, info: ImageInfo, channel: str | None) -> tuple[np.ndarray, str]:
    name = _pick_exr_channel(info.names, channel, path)
    rgb = tuple(name[:-1] + c for c in "RGB")
    if channel is None and name.rsplit(".", 1)[-1] == "R" and set(rgb) <= set(info.names):
        r, g, b = read_exr_channels(path, info, rgb)  # R is depth only in grey data stored as identical R, G, B
        if not (np.array_equal(r, g, equal_nan=True) and np.array_equal(r, b, equal_nan=True)):
            raise BadInput(f"{display(path)} has no depth channel (Z, V or a Depth pass) and its colour channels "
                           f"{', '.join(rgb)} differ: is it a colour render? Import the depth pass (in Blender: "
                           "View Layer › Passes › Z), or choose a channel with the channel option")
        return r, name
    return read_exr_channels(path, info, (name,))[0], name


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
        info = probe(path)  # every part's size checked from the header
        return np.stack(read_exr_channels(path, info, exr_color_channels(info.names, path)), axis=-1), True
    check_image_size(path)  # memory guard from the header, before anything is decoded
    image = decode_image(path)
    check_size(image.shape[1], image.shape[0], display(path))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    linear = image.dtype.kind == "f"
    return (color_to_float(image) if as_float else image), linear


def exr_color_channels(names: tuple[str, ...], path: str | os.PathLike) -> tuple[str, str, str]:
    """The colour channels of an EXR: ``R``, ``G``, ``B``, or those of its one colour layer (a Blender multilayer
    render's ``ViewLayer.Combined.R`` …; of several layers, the one Combined pass).

    :param names: The file's channel names.
    :param path: The file, for messages.
    :raises BadInput: No colour layer, or several that no Combined pass tells apart.
    """
    if all(c in names for c in "RGB"):
        return "R", "G", "B"
    layers = sorted({n[:-1] for n in names if n.endswith(".R") and {n[:-1] + "G", n[:-1] + "B"} <= set(names)})
    combined = [p for p in layers if p.endswith(".Combined.")]
    picked = combined if len(combined) == 1 else layers
    if len(picked) != 1:
        raise BadInput(f"{display(path)} has {'several colour layers' if picked else 'no R, G, B channels'}; it has "
                       f"{', '.join(names)}")
    return picked[0] + "R", picked[0] + "G", picked[0] + "B"


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """A photo as a photo viewer shows it: :func:`read_color`, a JPEG turned upright by its EXIF Orientation (other
    formats as stored).

    :param path: Photo file.
    :return: H×W×3 float32 in [0, 1] (H and W of the upright photo).
    """
    rgb, _linear = read_color(path)
    return upright(rgb, exif_orientation(path))


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels as stored → as shown, for an EXIF Orientation (1 to 8; anything else is left as is).

    :param image: H×W or H×W×C.
    :param orientation: The EXIF tag's value.
    """
    if orientation in (2, 4, 5, 7):  # mirrored: flipped left-right, then turned
        image = image[:, ::-1]
    turns = {3: 2, 4: 2, 5: 1, 6: -1, 7: -1, 8: 1}.get(orientation, 0)  # quarter turns counter-clockwise
    return np.ascontiguousarray(np.rot90(image, turns))


def color_to_float(image: np.ndarray) -> np.ndarray:
    """Integer RGB → float32 in [0, 1] (scaled by the type's maximum); float images pass through as float32."""
    if image.dtype.kind == "f":
        return np.ascontiguousarray(image, dtype=np.float32)
    return image.astype(np.float32) * np.float32(1.0 / float(np.iinfo(image.dtype).max))


__all__ = ["RawDepth", "color_to_float", "decode_image", "exr_color_channels", "pick_member", "read_color",
           "read_depth", "read_photo", "upright"]
