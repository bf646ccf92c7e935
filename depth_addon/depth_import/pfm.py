# SPDX-License-Identifier: GPL-3.0-or-later
"""Portable Float Map (PFM), the format of the Middlebury and Scene Flow stereo benchmarks.

Layout: ``Pf`` (grey) or ``PF`` (RGB), newline, ``width height``, newline, the scale, newline, then
``width × height × channels`` float32 samples. The scale's sign gives the byte order (negative:
little-endian, positive: big-endian); its magnitude is a free factor that readers ignore. Rows are
stored **bottom to top**; :func:`read_pfm` and :func:`write_pfm` use row 0 = top in memory.
Middlebury marks unknown disparities with ``inf``.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import BadInput
from ..io.atomic import write_bytes_atomic
from .formats import check_size, display, parse_pfm_header


def read_pfm(path: str | os.PathLike) -> np.ndarray:
    """Read a PFM file as float32, H×W (``Pf``) or H×W×3 (``PF``), row 0 = top.

    :param path: The file.
    :raises BadInput: Bad header, truncated data or an image above the size limit.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
            width, height, channels, scale, offset = parse_pfm_header(head, path)
            check_size(width, height, display(path))
            fh.seek(offset)
            count = width * height * channels
            data = np.fromfile(fh, dtype="<f4" if scale < 0 else ">f4", count=count)
    except FileNotFoundError:
        raise BadInput(f"file not found: {display(path)}") from None
    except OSError as exc:
        raise BadInput(f"cannot read {display(path)}: {exc.strerror or exc}") from None
    if data.size != count:
        raise BadInput(f"{display(path)} is truncated: {data.size} of {count} floats")
    shape = (height, width, channels) if channels == 3 else (height, width)
    return np.ascontiguousarray(data.reshape(shape)[::-1], dtype=np.float32)


def encode_pfm(image: np.ndarray, little_endian: bool = True, scale: float = 1.0) -> bytes:
    """Encode an H×W or H×W×3 float array (row 0 = top) as PFM bytes.

    :param image: Pixels; stored as float32.
    :param little_endian: Byte order of the samples (written as the scale's sign).
    :param scale: Magnitude of the scale field (must be positive).
    """
    a = np.asarray(image, dtype=np.float32)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or a.size == 0:
        raise BadInput(f"PFM needs an H×W or H×W×3 array, got shape {a.shape}")
    if not scale > 0:
        raise BadInput(f"PFM scale magnitude must be positive, got {scale}")
    kind = b"PF" if a.ndim == 3 else b"Pf"
    header = b"%s\n%d %d\n%s\n" % (kind, a.shape[1], a.shape[0], repr(-scale if little_endian else scale).encode())
    body = np.ascontiguousarray(a[::-1], dtype="<f4" if little_endian else ">f4").tobytes()
    return header + body


def write_pfm(path: str | os.PathLike, image: np.ndarray, little_endian: bool = True, scale: float = 1.0) -> None:
    """Write ``image`` as PFM atomically (see :func:`encode_pfm`)."""
    write_bytes_atomic(path, encode_pfm(image, little_endian, scale))
