# SPDX-License-Identifier: GPL-3.0-or-later
"""A small dependency-free PNG codec for 8/16-bit images with text metadata.

Blender's bundled Python has no imaging library, and the depth previews we write must carry the
mapping they were made with, so we write PNG ourselves: IHDR, ``iTXt`` chunks (UTF-8 key/value
pairs), one zlib-compressed IDAT (rows with the Up filter), IEND. Reading covers what we write
(non-interlaced, any filter).
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ..errors import BadInput
from .atomic import write_bytes_atomic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _text_chunks(text: dict[str, str] | None) -> list[bytes]:
    """Uncompressed ``iTXt`` chunks (UTF-8) of key/value pairs."""
    return [_chunk(b"iTXt", key.encode("latin-1")[:79] + b"\x00\x00\x00\x00\x00" + str(value).encode("utf-8"))
            for key, value in (text or {}).items()]


def with_text(png: bytes, text: dict[str, str]) -> bytes:
    """A PNG file with ``text`` added as ``iTXt`` chunks after its header, pixel data left as it is.

    :param png: A PNG file's bytes.
    :param text: Metadata to add.
    :raises BadInput: When ``png`` is not a PNG file.
    """
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise BadInput("not a PNG file")
    end = 8 + 12 + struct.unpack(">I", png[8:12])[0]  # length, type, data, CRC of IHDR
    return png[:end] + b"".join(_text_chunks(text)) + png[end:]


def encode_png(image: np.ndarray, text: dict[str, str] | None = None, level: int = 6) -> bytes:
    """Encode an H×W or H×W×C ``uint8``/``uint16`` array (row 0 = top) as PNG bytes.

    :param image: Pixel data with 1–4 channels.
    :param text: Metadata written as ``iTXt`` chunks.
    :param level: zlib compression level.
    """
    a = np.asarray(image)
    if a.dtype not in (np.uint8, np.uint16):
        raise BadInput(f"PNG needs uint8 or uint16 pixels, got {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in _COLOR_TYPES or a.shape[0] < 1 or a.shape[1] < 1:
        raise BadInput(f"PNG needs an H×W×(1..4) image, got shape {np.asarray(image).shape}")
    h, w, c = a.shape
    depth = 16 if a.dtype == np.uint16 else 8
    raw = (a.astype(">u2").view(np.uint8) if depth == 16 else a).reshape(h, -1)  # a view where rows lie in one piece
    rows = np.empty((h, raw.shape[1] + 1), np.uint8)  # filter type 2 (Up) per row: each byte minus the one above
    rows[:, 0] = 2
    rows[0, 1:] = raw[0]
    np.subtract(raw[1:], raw[:-1], out=rows[1:, 1:])  # modulo 256: smaller and faster to compress than raw bytes
    out = [PNG_SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, _COLOR_TYPES[c], 0, 0, 0))]
    out.extend(_text_chunks(text))
    out.append(_chunk(b"IDAT", zlib.compress(rows, level)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


def write_png(path: str | os.PathLike, image: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Write ``image`` as PNG to ``path`` atomically (see :func:`encode_png`)."""
    write_bytes_atomic(path, encode_png(image, text))


def read_png_text(path: str | os.PathLike) -> dict[str, str]:
    """Return the ``tEXt``/``iTXt`` metadata of a PNG file (uncompressed text only)."""
    data = open(path, "rb").read()
    if not data.startswith(PNG_SIGNATURE):
        raise BadInput(f"{os.fspath(path)!r} is not a PNG file")
    pos, text = 8, {}
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\x00")
            text[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\x00")
            if rest[:1] == b"\x00":  # not compressed
                _lang, _, rest = rest[2:].partition(b"\x00")
                _tkey, _, value = rest.partition(b"\x00")
                text[key.decode("latin-1")] = value.decode("utf-8")
        elif kind == b"IEND":
            break
        pos += 12 + length
    return text


def to_byte(values: np.ndarray, out: np.ndarray | None = None, scratch: bool = False) -> np.ndarray:
    """``uint8`` values of float ``values`` as Blender rounds floats into a byte image: clipped to [0, 1] (NaN
    becomes 0), times 255, rounded half up (:func:`to_uint` rounds half to even).

    :param values: Float values of any shape (not changed, unless ``scratch``).
    :param out: A ``uint8`` array of the same shape (any strides, e.g. one channel of an image) to write to.
    :param scratch: ``values`` is a ``float32`` array the caller no longer needs: it is worked on in place.
    :return: ``out``, or a new array.
    """
    values = np.asarray(values, np.float32)
    scaled = np.fmax(values, np.float32(0.0), out=values if scratch else None)  # NaN and below 0 become 0 ...
    np.minimum(scaled, np.float32(1.0), out=scaled)  # ... above 1 becomes 1: np.clip and a NaN pass, 3× faster
    scaled *= np.float32(255.0)
    scaled += np.float32(0.5)
    if out is None:
        return scaled.astype(np.uint8)  # truncation after + 0.5: round half up
    out[...] = scaled  # the same truncating cast
    return out


def to_uint(image: np.ndarray, bits: int) -> np.ndarray:
    """Quantise a [0, 1] float image to ``uint8``/``uint16`` with rounding and clipping.

    :param image: Float pixels; values outside [0, 1] are clipped, NaN becomes 0.
    :param bits: 8 or 16.
    """
    if bits not in (8, 16):
        raise BadInput(f"bit depth must be 8 or 16, got {bits}")
    scale = 255.0 if bits == 8 else 65535.0
    a = np.clip(np.nan_to_num(np.asarray(image, np.float32), nan=0.0), 0.0, 1.0)
    return np.rint(a * scale).astype(np.uint8 if bits == 8 else np.uint16)
