# SPDX-License-Identifier: GPL-3.0-or-later
"""Float EXR read/write through the OpenEXR bindings (no bpy).

OpenEXR reads Blender's own EXRs (single-layer ``V``, multilayer ``ViewLayer.Depth.Z``), which
OpenCV and imageio cannot; it also lets us store our metadata as header attributes.
"""

from __future__ import annotations

import math
import os
import struct

import numpy as np

from ..errors import BadInput, ModelUnavailable
from .atomic import atomic_path


def _openexr():
    try:
        import OpenEXR
    except ImportError:  # pragma: no cover - depends on the installation
        raise ModelUnavailable("writing EXR needs the OpenEXR package (pip install OpenEXR)") from None
    return OpenEXR


def write_exr(path: str | os.PathLike, channels: dict[str, np.ndarray], meta: dict[str, str] | None = None) -> None:
    """Write float32 channels (H×W each, row 0 = top) to a ZIP-compressed scanline EXR atomically.

    :param path: Target ``.exr`` path.
    :param channels: Channel name → H×W array; all the same shape.
    :param meta: String header attributes (keys are prefixed with ``depth_addon.``).
    """
    exr = _openexr()
    shapes = {np.asarray(a).shape for a in channels.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise BadInput(f"EXR channels must be H×W arrays of one shape, got {sorted(shapes)}")
    header = {"compression": exr.ZIP_COMPRESSION, "type": exr.scanlineimage}
    for key, value in (meta or {}).items():
        header[f"depth_addon.{key}"] = str(value)
    data = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in channels.items()}
    with atomic_path(path) as tmp:
        exr.File(header, data).write(str(tmp))


#: Scanlines per chunk by compression (NONE, RLE, ZIPS, ZIP, PIZ, PXR24, B44, B44A, DWAA, DWAB).
_LINES_PER_CHUNK = (1, 1, 1, 16, 32, 16, 32, 32, 32, 256)


def _header(data: bytes) -> tuple[dict[str, bytes], int] | None:
    """Attributes of a single-part EXR header and the offset just after it; None when cut off or unusual."""
    if len(data) < 8 or data[:4] != b"\x76\x2f\x31\x01" or data[5] & 0x1E:  # tiled, long names, deep, multi-part
        return None
    attrs: dict[str, bytes] = {}
    pos = 8
    while pos < len(data) and data[pos] != 0:
        name_end = data.find(b"\0", pos)
        type_end = data.find(b"\0", name_end + 1)
        if name_end < 0 or type_end < 0 or type_end + 5 > len(data):
            return None
        size = struct.unpack_from("<i", data, type_end + 1)[0]
        attrs[data[pos:name_end].decode("latin-1")] = data[type_end + 5 : type_end + 5 + size]
        pos = type_end + 5 + size
    return (attrs, pos + 1) if pos < len(data) else None


def exr_truncated(path: str | os.PathLike) -> str | None:
    """Why a scanline EXR file is cut short (its chunk table points past the end), or None when it is whole.

    Only single-part scanline files are checked; others (and unreadable headers) give None.

    :param path: The file.
    """
    data = open(path, "rb").read()
    parsed = _header(data)
    if parsed is None:
        plain = len(data) >= 8 and data[:4] == b"\x76\x2f\x31\x01" and not data[5] & 0x1E
        return f"{len(data)} bytes end inside its header" if plain or len(data) < 8 else None
    attrs, table = parsed
    window, compression = attrs.get("dataWindow"), attrs.get("compression")
    if window is None or len(window) != 16 or not compression or compression[0] >= len(_LINES_PER_CHUNK):
        return None
    _x0, y0, _x1, y1 = struct.unpack("<4i", window)
    chunks = math.ceil((y1 - y0 + 1) / _LINES_PER_CHUNK[compression[0]])
    if table + 8 * chunks > len(data):
        return f"{len(data)} bytes end inside its chunk table"
    offsets = struct.unpack_from(f"<{chunks}Q", data, table)
    last = max(offsets)
    if last + 8 > len(data):
        return f"{len(data)} bytes, its last chunk starts at byte {last}"
    end = last + 8 + struct.unpack_from("<i", data, last + 4)[0]
    if end > len(data):
        return f"{len(data)} bytes, its last chunk ends at byte {end}"
    return None


def read_exr_meta(path: str | os.PathLike) -> dict[str, str]:
    """The ``depth_addon.*`` header attributes of an EXR file (prefix removed), reading no pixels; empty when
    the file has none, cannot be read, or OpenEXR is not installed.

    :param path: The EXR file.
    """
    try:
        exr = _openexr()
        f = exr.File(str(path), header_only=True)
    except Exception:  # noqa: BLE001 - missing bindings and unreadable files alike: no metadata
        return {}
    return {k[len("depth_addon.") :]: v if isinstance(v, str) else str(v) for part in f.parts
            for k, v in part.header.items() if isinstance(k, str) and k.startswith("depth_addon.")}


def read_exr(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read every channel of every part and the ``depth_addon.*`` header attributes.

    :return: ``(channels, meta)``; channel names are as stored (multilayer names keep their layer
        prefix), ``meta`` keys have the ``depth_addon.`` prefix removed.
    :raises BadInput: For an unreadable or truncated file.
    """
    exr = _openexr()
    try:
        cut = exr_truncated(path)
    except OSError as exc:
        raise BadInput(f"cannot read EXR {os.fspath(path)!r}: {exc.strerror or exc}") from None
    if cut:
        raise BadInput(f"EXR {os.fspath(path)!r} is truncated ({cut}); was it copied or written completely?")
    try:
        f = exr.File(str(path))
    except Exception as exc:  # the bindings raise plain exceptions for unreadable files
        raise BadInput(f"cannot read EXR {os.fspath(path)!r}: {exc}") from None
    channels: dict[str, np.ndarray] = {}
    meta: dict[str, str] = {}
    for part in f.parts:
        for name, ch in part.channels.items():
            channels[name] = np.asarray(ch.pixels)
        for key, value in part.header.items():
            if isinstance(key, str) and key.startswith("depth_addon."):
                meta[key[len("depth_addon.") :]] = value if isinstance(value, str) else str(value)
    return channels, meta
