# SPDX-License-Identifier: GPL-3.0-or-later
"""Read one channel of an *uncompressed* scanline EXR with numpy alone (no OpenEXR, no bpy).

The engine depth paths make Blender write its passes as a multilayer EXR with ``exr_codec='NONE'``
and read the Z pass back. The OpenEXR bindings do that when they are installed; this reader is
the fallback where they are not (the bundled OpenEXR wheel is built for one Python version, and
Blender cannot read multilayer EXRs into ``Image.pixels``). It handles exactly what Blender
writes with compression off: single-part (interleaved, what the depth paths ask for) and
multi-part (5.0's default) scanline files with half, float or uint channels, one scanline per
chunk. Anything else raises :class:`ValueError`.
"""

from __future__ import annotations

import os
import struct

import numpy as np

MAGIC = b"\x76\x2f\x31\x01"
_TILED, _DEEP, _MULTIPART = 0x200, 0x800, 0x1000
_DTYPES = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}  # UINT, HALF, FLOAT


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("utf-8", "replace"), end + 1


def _channels(value: bytes) -> list[tuple[str, int]]:
    """``(name, pixel type)`` of a ``chlist`` attribute, in stored order."""
    out, pos = [], 0
    while value[pos:pos + 1] not in (b"\0", b""):
        name, pos = _cstring(value, pos)
        pixel_type, _linear, x_sampling, y_sampling = struct.unpack_from("<iB3xii", value, pos)
        pos += 16
        if (x_sampling, y_sampling) != (1, 1):
            raise ValueError(f"EXR channel {name!r} is subsampled")
        out.append((name, pixel_type))
    return out


def _header(data: bytes, pos: int) -> tuple[dict, int]:
    """Parse one header (the attributes this reader needs); an empty header ends a multi-part list."""
    header: dict = {}
    while True:
        name, pos = _cstring(data, pos)
        if not name:
            return header, pos
        _type, pos = _cstring(data, pos)
        (size,) = struct.unpack_from("<i", data, pos)
        value = data[pos + 4:pos + 4 + size]
        pos += 4 + size
        if name == "channels":
            header["channels"] = _channels(value)
        elif name == "compression":
            header["compression"] = value[0]
        elif name == "dataWindow":
            header["dataWindow"] = struct.unpack("<4i", value)
        elif name == "chunkCount":
            header["chunkCount"] = struct.unpack("<i", value)[0]
        elif name == "type":
            header["type"] = value.rstrip(b"\0").decode("ascii", "replace")


def read_channel(path: str | os.PathLike, name: str) -> np.ndarray:
    """One channel of an uncompressed scanline EXR as an H×W float32 array (row 0 = top).

    :param path: The ``.exr`` file.
    :param name: Full channel name, e.g. ``ViewLayer.Depth.Z``.
    :raises ValueError: Not an EXR, compressed, tiled or deep, or no channel called ``name``.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] != MAGIC:
        raise ValueError(f"{os.fspath(path)!r} is not an EXR file")
    (flags,) = struct.unpack_from("<i", data, 4)
    if flags & (_TILED | _DEEP):
        raise ValueError("only scanline EXRs can be read without OpenEXR")
    multipart, pos, headers = bool(flags & _MULTIPART), 8, []
    while True:
        header, pos = _header(data, pos)
        if not header:
            break
        headers.append(header)
        if not multipart:
            break
    tables = []
    for header in headers:
        x0, y0, x1, y1 = header["dataWindow"]
        count = header.get("chunkCount", y1 - y0 + 1)
        tables.append(np.frombuffer(data, "<u8", count, pos).astype(np.int64))
        pos += 8 * count
    part = next((i for i, h in enumerate(headers) if any(c == name for c, _t in h["channels"])), None)
    if part is None:
        found = [c for h in headers for c, _t in h["channels"]]
        raise ValueError(f"EXR has no channel {name!r} (it has {', '.join(found)})")
    header = headers[part]
    if header.get("compression", 0) != 0 or header.get("type", "scanlineimage") != "scanlineimage":
        raise ValueError("the EXR is compressed; only uncompressed EXRs can be read without OpenEXR")
    x0, y0, x1, y1 = header["dataWindow"]
    width, height = x1 - x0 + 1, y1 - y0 + 1
    offset = 0
    for channel, pixel_type in header["channels"]:
        if channel == name:
            dtype = _DTYPES[pixel_type]
            break
        offset += _DTYPES[pixel_type].itemsize * width
    row_bytes = sum(_DTYPES[t].itemsize for _c, t in header["channels"]) * width
    out = np.empty((height, width), np.float32)
    for chunk in tables[part]:
        start = int(chunk) + (4 if multipart else 0)
        y, size = struct.unpack_from("<ii", data, start)
        for row in range(size // row_bytes):
            first = start + 8 + row * row_bytes + offset
            out[y - y0 + row] = np.frombuffer(data, dtype, width, first)
    return out
