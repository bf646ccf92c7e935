# SPDX-License-Identifier: GPL-3.0-or-later
"""Sizes of colour images from their headers, so the memory guard runs before any pixel is decoded.

:func:`image_size` recognises the file by its first bytes (as the decoder does, whatever the suffix):
PNG (``IHDR``), JPEG (the ``SOFn`` frame header), BMP (the DIB header), WebP (the ``VP8``,
``VP8L`` or ``VP8X`` chunk) and TIFF/BigTIFF (the first IFD, see :func:`.formats.tiff_tags`).
Only a few bytes are read; JPEG segments before the frame header are skipped with seeks. A JPEG's EXIF
Orientation (:func:`exif_orientation`) is read by the same IFD walker, :func:`.formats.ifd_tags`.
"""

from __future__ import annotations

import os
import struct

from ..errors import BadInput
from .formats import TiffError, check_size, display, ifd_tags, tiff_tags

#: JPEG start-of-frame markers (every SOFn except DHT 0xC4, JPG 0xC8 and DAC 0xCC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Segments read before a JPEG frame header at most.
_JPEG_MAX_SEGMENTS = 4096


def _jpeg_segments(fh):
    """Yield ``(marker, length)`` of each JPEG segment up to the scan, the file at the segment's payload (skipped
    with a seek when the caller reads nothing)."""
    fh.seek(2)
    for _ in range(_JPEG_MAX_SEGMENTS):
        byte = fh.read(1)
        if byte != b"\xff":  # every segment starts with a marker
            return
        while byte == b"\xff":  # fill bytes before the marker code
            byte = fh.read(1)
        if not byte:
            return
        marker = byte[0]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan
            return
        raw = fh.read(2)
        if len(raw) < 2:
            return
        (length,) = struct.unpack(">H", raw)
        start = fh.tell()
        yield marker, length
        fh.seek(start + length - 2)


def _jpeg_size(fh, path: str | os.PathLike) -> tuple[int, int]:
    """Walk the JPEG segments up to the frame header; return ``(width, height)``."""
    for marker, length in _jpeg_segments(fh):
        if marker in _SOF:
            frame = fh.read(5)
            if len(frame) < 5 or length < 7:
                break
            height, width = struct.unpack(">HH", frame[1:5])
            if height == 0:  # height given later by a DNL segment, which decoders do not support
                raise BadInput(f"{display(path)}: JPEG without its height in the frame header is not supported")
            return width, height
    raise BadInput(f"{display(path)}: truncated or corrupt JPEG (no frame header)")


def exif_orientation(path: str | os.PathLike) -> int:
    """A JPEG's EXIF Orientation (1 to 8; 1 is upright as stored), or 1 when it has none or is not a JPEG.

    Cameras and phones store the sensor's pixels and record how to turn them; Blender shows the pixels as stored.

    :param path: The image file.
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != b"\xff\xd8":
                return 1
            for marker, length in _jpeg_segments(fh):
                if marker == 0xE1 and length > 16:
                    payload = fh.read(length - 2)
                    if payload.startswith(b"Exif\x00\x00"):
                        return _tiff_orientation(payload[6:])
                if marker in _SOF:
                    break
    except OSError:
        return 1
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    """Tag 0x0112 of the first IFD of an EXIF block's TIFF structure (1 when absent, out of range or corrupt)."""
    try:
        orientation = ifd_tags(tiff).get(0x0112, 1)
    except TiffError:
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def _bmp_size(head: bytes, path: str | os.PathLike) -> tuple[int, int]:
    if len(head) >= 26 and struct.unpack("<I", head[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack("<HH", head[18:22])
    if len(head) < 26 or struct.unpack("<I", head[14:18])[0] < 40:
        raise BadInput(f"{display(path)}: truncated or corrupt BMP header")
    width, height = struct.unpack("<ii", head[18:26])
    return width, abs(height)  # negative height: rows stored top-down


def _webp_size(head: bytes, path: str | os.PathLike) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":  # lossy key frame
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:  # lossless: 14-bit width-1, height-1
        (bits,) = struct.unpack("<I", head[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:  # extended: 24-bit canvas width-1, height-1
        return (int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1)
    raise BadInput(f"{display(path)}: truncated or corrupt WebP header")


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height of a PNG, JPEG, BMP, WebP or TIFF/BigTIFF image from its header only.

    :param path: The image file.
    :raises BadInput: Missing or unreadable file, a format not listed, or a corrupt header.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head.startswith(b"\xff\xd8"):
                return _jpeg_size(fh, path)
    except FileNotFoundError:
        raise BadInput(f"file not found: {display(path)}") from None
    except OSError as exc:
        raise BadInput(f"cannot read {display(path)}: {exc.strerror or exc}") from None
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"BM"):
        return _bmp_size(head, path)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp_size(head, path)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        tags = tiff_tags(path)
        return tags.get(256, 0), tags.get(257, 0)
    if not head:
        raise BadInput(f"{display(path)} is empty")
    raise BadInput(f"{display(path)} is not a PNG, JPEG, TIFF, BMP or WebP image (unrecognised header)")


def check_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """:func:`image_size`, refused above :data:`.formats.MAX_PIXELS` (or when empty) before decoding.

    :param path: The image file.
    :return: ``(width, height)``.
    :raises BadInput: See :func:`image_size` and :func:`.formats.check_size`.
    """
    width, height = image_size(path)
    check_size(width, height, display(path))
    return width, height
