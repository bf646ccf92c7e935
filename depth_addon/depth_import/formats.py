# SPDX-License-Identifier: GPL-3.0-or-later
"""Header probes for every depth format we read, so sizes are checked before any pixel is allocated.

:func:`probe` reads only the header of a file (PNG ``IHDR``, TIFF first IFD, NPY/NPZ array header,
EXR header, PFM text header) and returns an :class:`ImageInfo`. It refuses images above
:data:`MAX_PIXELS` and files whose declared data is longer than the file (truncated). TIFF means
classic TIFF and BigTIFF; every part of a multi-part EXR is checked.
"""

from __future__ import annotations

import ast
import mmap
import os
import struct
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput
from ..io.exr import exr_truncated

#: Memory guard, the same limit as the render side (``depth_addon.blender.camera.MAX_PIXELS``).
MAX_PIXELS = 8192 * 8192
#: File suffix → format name.
SUFFIXES = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".exr": "exr", ".npy": "npy", ".npz": "npz",
            ".pfm": "pfm"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> channels after decoding


@dataclass(frozen=True)
class ImageInfo:
    """What a header says about a file.

    :param format: ``png``, ``tiff``, ``exr``, ``npy``, ``npz`` or ``pfm``.
    :param width: Width in pixels.
    :param height: Height in pixels.
    :param channels: Channels per pixel (EXR: number of channels in all parts).
    :param bits: Bits per sample (0 when unknown).
    :param sample: ``uint``, ``int``, ``float`` or ``unknown``.
    :param names: Channel or array names (EXR channels, NPZ members).
    """

    format: str
    width: int
    height: int
    channels: int = 1
    bits: int = 0
    sample: str = "unknown"
    names: tuple[str, ...] = ()


def display(path: str | os.PathLike) -> str:
    """The file name as shown in messages."""
    return repr(os.fspath(path))


def check_size(width: int, height: int, what: str) -> None:
    """Refuse empty images and images above :data:`MAX_PIXELS` (before anything is allocated).

    :param width: Width in pixels.
    :param height: Height in pixels.
    :param what: Name of the image for the message.
    :raises BadInput: With the size and the limit.
    """
    if width < 1 or height < 1:
        raise BadInput(f"{what} has no pixels ({width}×{height})")
    if width * height > MAX_PIXELS:
        raise BadInput(f"{what} is {width}×{height}, above the {MAX_PIXELS // 1_000_000} Mpx limit "
                       "(8192×8192); make it smaller in an image editor first (the import's Downsample works on "
                       "what was read)")


def format_of(path: str | os.PathLike) -> str:
    """Format name from the suffix.

    :raises BadInput: For an unknown suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise BadInput(f"unsupported depth file {display(path)}; use one of {', '.join(sorted(SUFFIXES))}")
    return SUFFIXES[suffix]


def _read_head(path: str | os.PathLike, n: int = 4096) -> tuple[bytes, int]:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            return fh.read(n), size
    except FileNotFoundError:
        raise BadInput(f"file not found: {display(path)}") from None
    except OSError as exc:
        raise BadInput(f"cannot read {display(path)}: {exc.strerror or exc}") from None


def probe_png(head: bytes, size: int, path: str | os.PathLike) -> ImageInfo:
    """Parse the PNG signature and ``IHDR``; refuse palette images and bit depths other than 8 and 16."""
    if not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR" or len(head) < 29:
        raise BadInput(f"{display(path)} is not a PNG file (bad signature or header)")
    width, height, bits, ctype = struct.unpack(">IIBB", head[16:26])
    if ctype not in _PNG_CHANNELS:
        raise BadInput(f"{display(path)}: invalid PNG colour type {ctype}")
    if ctype == 3:
        raise BadInput(f"{display(path)} is a palette PNG; a depth map must be greyscale (8 or 16 bit)")
    if bits not in (8, 16):
        raise BadInput(f"{display(path)}: unsupported PNG bit depth {bits}; use 8 or 16 bit")
    check_size(width, height, display(path))
    return ImageInfo("png", width, height, _PNG_CHANNELS[ctype], bits, "uint")


#: TIFF field types read from an IFD entry: type → (struct code, size in bytes); SHORT, LONG, LONG8.
_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}
#: Entries read from one IFD at most (a corrupt count must not allocate gigabytes).
_TIFF_MAX_ENTRIES = 4096
#: Tags a TIFF file cannot be read without: size, bits, samples, sample format, strip and tile offsets and sizes.
_TIFF_FILE_TAGS = frozenset({256, 257, 258, 273, 277, 279, 324, 325, 339})


class TiffError(ValueError):
    """Not a TIFF, or a corrupt one; ``str()`` continues a sentence that starts with the file's name."""


def _ifd_layout(data: bytes | mmap.mmap) -> tuple[str, int, str, str, int]:
    """``(byte order, first IFD offset, count format, entry format, inline value bytes)`` of a TIFF or BigTIFF.

    :raises TiffError: Not a TIFF, or a corrupt header.
    """
    order = {b"II": "<", b"MM": ">"}.get(bytes(data[:2]))
    if order is None or len(data) < 16:
        raise TiffError(" is not a TIFF file (bad byte-order mark)")
    magic = struct.unpack(order + "H", data[2:4])[0]
    if magic == 42:
        return order, struct.unpack(order + "I", data[4:8])[0], "H", "HHI4s", 4
    if magic == 43:  # BigTIFF: 8-byte offsets and counts, 20-byte entries
        if struct.unpack(order + "HH", data[4:8]) != (8, 0):
            raise TiffError(": corrupt BigTIFF header")
        return order, struct.unpack(order + "Q", data[8:16])[0], "Q", "HHQ8s", 8
    raise TiffError(f" is not a TIFF file (magic {magic})")


def ifd_tags(data: bytes | mmap.mmap, needed: Collection[int] = ()) -> dict[int, int]:
    """The first value of every integer tag (SHORT, LONG, LONG8) of the first IFD of a classic TIFF or a BigTIFF.

    The one walker of TIFF structures: a TIFF file (mapped, so only the pages touched are read) and the TIFF block
    of a JPEG's EXIF segment. Offsets are from the start of ``data``. A damaged IFD gives what it holds: entries
    its count claims past the end of ``data`` are not read, and a tag whose value lies outside ``data`` is left
    out, so one bad tag of a photo's EXIF does not lose its Orientation. A reader that
    cannot do without some tags names them in ``needed``: then a cut IFD, or one of those tags with its value
    outside ``data``, is an error.

    :param data: The TIFF structure from its byte-order mark on.
    :param needed: Tags the caller needs (a TIFF file's size, sample layout and pixel data).
    :raises TiffError: Not a TIFF, a truncated or corrupt header or, with ``needed``, a damaged IFD or needed tag.
    """
    order, ifd, count_fmt, entry_fmt, inline = _ifd_layout(data)
    entry_size, count_size = struct.calcsize(order + entry_fmt), struct.calcsize(order + count_fmt)
    offset_fmt = order + ("I" if inline == 4 else "Q")
    try:
        (count,) = struct.unpack(order + count_fmt, data[ifd:ifd + count_size])
    except struct.error:
        raise TiffError(": truncated or corrupt TIFF header") from None
    present = min(count, _TIFF_MAX_ENTRIES, (len(data) - ifd - count_size) // entry_size)
    if needed and count > _TIFF_MAX_ENTRIES:
        raise TiffError(f": corrupt TIFF header ({count} tags)")
    if needed and present < count:
        raise TiffError(": truncated or corrupt TIFF header")
    entries = data[ifd + count_size:ifd + count_size + entry_size * present]
    tags: dict[int, int] = {}
    for k in range(present):
        tag, kind, n, raw = struct.unpack(order + entry_fmt, entries[entry_size * k: entry_size * (k + 1)])
        if kind not in _TIFF_TYPES or n < 1:
            continue
        code, size = _TIFF_TYPES[kind]
        if n * size > inline:  # the values sit at an offset: read the first
            (at,) = struct.unpack(offset_fmt, raw)
            if at + size > len(data):
                if tag in needed:
                    raise TiffError(f": corrupt TIFF header (tag {tag} points past the end of the file)")
                continue
            raw = data[at:at + size]
        tags[tag] = struct.unpack(order + code, raw[:size])[0]
    return tags


def tiff_tags(path: str | os.PathLike) -> dict[int, int]:
    """:func:`ifd_tags` of a TIFF or BigTIFF file (only the header, the first IFD and the first value of
    multi-valued tags are read). A damaged tag the reader does not use is left out; a cut IFD or a damaged size,
    layout or pixel-data tag (:data:`_TIFF_FILE_TAGS`) is refused.

    :param path: The file.
    :raises BadInput: Missing or unreadable, not a TIFF, or a truncated or corrupt header.
    """
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size < 16:
                raise TiffError(" is not a TIFF file (bad byte-order mark)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return ifd_tags(data, _TIFF_FILE_TAGS)
    except FileNotFoundError:
        raise BadInput(f"file not found: {display(path)}") from None
    except OSError as exc:
        raise BadInput(f"cannot read {display(path)}: {exc.strerror or exc}") from None
    except TiffError as exc:
        raise BadInput(f"{display(path)}{exc}") from None


def probe_tiff(head: bytes, size: int, path: str | os.PathLike) -> ImageInfo:
    """Parse the first IFD of a classic TIFF or BigTIFF (width, height, samples, bits, sample format)."""
    tags = tiff_tags(path)
    width, height = tags.get(256, 0), tags.get(257, 0)
    check_size(width, height, display(path))
    sample = {1: "uint", 2: "int", 3: "float"}.get(tags.get(339, 1), "unknown")
    bits = tags.get(258, 1)
    channels = tags.get(277, 1)
    if bits not in (8, 16, 32, 64) or (sample == "float" and bits < 32):
        raise BadInput(f"{display(path)}: unsupported TIFF sample ({bits}-bit {sample}); use 8/16-bit "
                       "integers or 32/64-bit floats")
    return ImageInfo("tiff", width, height, channels, bits, sample)


def _npy_header(fh, where: str) -> tuple[tuple[int, ...], str, int]:
    """Return ``(shape, dtype string, header length)`` of an open ``.npy`` stream."""
    magic = fh.read(8)
    if len(magic) < 8 or magic[:6] != b"\x93NUMPY":
        raise BadInput(f"{where} is not a NumPy .npy array")
    major = magic[6]
    size_fmt = "<H" if major == 1 else "<I"
    raw_len = fh.read(struct.calcsize(size_fmt))
    if len(raw_len) != struct.calcsize(size_fmt):
        raise BadInput(f"{where}: truncated .npy header")
    (hlen,) = struct.unpack(size_fmt, raw_len)
    text = fh.read(hlen)
    try:
        header = ast.literal_eval(text.decode("latin-1"))
        shape, descr = tuple(int(v) for v in header["shape"]), header["descr"]
    except (ValueError, SyntaxError, KeyError, TypeError):
        raise BadInput(f"{where}: corrupt .npy header") from None
    if not isinstance(descr, str) or header.get("fortran_order") not in (False, True):
        raise BadInput(f"{where}: structured or object arrays are not depth maps")
    return shape, descr, 8 + len(raw_len) + hlen


def _array_info(shape: tuple[int, ...], descr: str, where: str, fmt: str, names: tuple[str, ...] = ()) -> ImageInfo:
    kind = descr.lstrip("<>|=")[:1]
    sample = {"u": "uint", "i": "int", "f": "float"}.get(kind)
    if sample is None:
        raise BadInput(f"{where}: unsupported array type {descr!r}; use integers or floats")
    dims = [d for d in shape if d != 1] if len(shape) > 2 else list(shape)
    if len(shape) == 3 and shape[2] in (2, 3, 4):
        height, width, channels = shape
    elif len(dims) == 2:
        (height, width), channels = dims, 1
    else:
        raise BadInput(f"{where}: array of shape {shape} is not an H×W depth map")
    check_size(width, height, where)
    return ImageInfo(fmt, width, height, channels, 8 * int(descr.lstrip("<>|=")[1:] or 0), sample, names)


def probe_npy(path: str | os.PathLike, size: int) -> ImageInfo:
    """Parse a ``.npy`` header and check that the file holds all the data it declares."""
    try:
        with open(path, "rb") as fh:
            shape, descr, offset = _npy_header(fh, display(path))
    except OSError as exc:
        raise BadInput(f"cannot read {display(path)}: {exc.strerror or exc}") from None
    info = _array_info(shape, descr, display(path), "npy")
    count = 1
    for d in shape:
        count *= d
    if offset + count * info.bits // 8 > size:
        raise BadInput(f"{display(path)} is truncated: the header declares {shape} {descr}")
    return info


def probe_npz(path: str | os.PathLike, member: str | None) -> ImageInfo:
    """Parse the header of one array of a ``.npz`` archive (``member``, or the only/``depth`` one)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = tuple(n[:-4] for n in zf.namelist() if n.endswith(".npy"))
            name = pick_member(names, member, path)
            with zf.open(name + ".npy") as fh:
                shape, descr, _ = _npy_header(fh, f"{display(path)}[{name}]")
    except (zipfile.BadZipFile, EOFError, OSError):
        raise BadInput(f"{display(path)} is not a readable .npz archive (truncated or corrupt)") from None
    return _array_info(shape, descr, f"{display(path)}[{name}]", "npz", (name, *[n for n in names if n != name]))


def pick_member(names: tuple[str, ...], member: str | None, path: str | os.PathLike) -> str:
    """Choose the array of an archive: ``member`` when given, else the only one or a depth-like name."""
    if not names:
        raise BadInput(f"{display(path)} holds no arrays")
    if member is not None:
        if member not in names:
            raise BadInput(f"{display(path)} has no array {member!r}; it has {', '.join(names)}")
        return member
    if len(names) == 1:
        return names[0]
    for want in ("depth", "disparity", "disp", "inverse_depth", "arr_0"):
        if want in names:
            return want
    raise BadInput(f"{display(path)} holds several arrays ({', '.join(names)}); choose one with the channel option")


def probe_exr(path: str | os.PathLike) -> ImageInfo:
    """Read the EXR header only: the data window and channel names of every part (each part's size is checked)."""
    try:
        import OpenEXR
    except ImportError:  # pragma: no cover - depends on the installation
        raise BadInput("reading EXR needs the OpenEXR package (pip install OpenEXR)") from None
    try:
        f = OpenEXR.File(os.fspath(path), header_only=True)
        windows = [p.header["dataWindow"] for p in f.parts]
        names = tuple(c.name for p in f.parts for c in p.header["channels"])
    except Exception as exc:  # the bindings raise plain exceptions for unreadable files
        cut = exr_truncated(path)
        if cut:
            raise BadInput(f"EXR {display(path)} is truncated ({cut}); was it copied or written completely?") from None
        raise BadInput(f"cannot read EXR {display(path)}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    sizes = [(int(hi[0]) - int(lo[0]) + 1, int(hi[1]) - int(lo[1]) + 1) for lo, hi in windows]
    for k, (width, height) in enumerate(sizes):  # every part: a channel of any part may be decoded
        check_size(width, height, display(path) + (f" (part {k})" if k else ""))
    cut = exr_truncated(path)
    if cut:
        raise BadInput(f"EXR {display(path)} is truncated ({cut}); was it copied or written completely?")
    return ImageInfo("exr", *sizes[0], len(names), 32, "float", names)


def parse_pfm_header(head: bytes, path: str | os.PathLike) -> tuple[int, int, int, float, int]:
    """Return ``(width, height, channels, scale, data offset)`` of a PFM header.

    The header is three whitespace-separated tokens after the type (``PF`` colour, ``Pf`` grey):
    width, height and the scale, whose sign gives the byte order (negative: little-endian). One line end follows
    the scale: ``\n``, or ``\r\n`` as text-mode writers on Windows end their lines.
    """
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        while pos < len(head) and head[pos: pos + 1].isspace():
            pos += 1
        start = pos
        while pos < len(head) and not head[pos: pos + 1].isspace():
            pos += 1
        if start == pos:
            raise BadInput(f"{display(path)}: truncated PFM header")
        tokens.append(head[start:pos])
    if tokens[0] not in (b"PF", b"Pf"):
        raise BadInput(f"{display(path)} is not a PFM file (type {tokens[0][:8]!r})")
    try:
        width, height, scale = int(tokens[1]), int(tokens[2]), float(tokens[3])
    except ValueError:
        raise BadInput(f"{display(path)}: corrupt PFM header") from None
    if scale == 0.0 or scale != scale:
        raise BadInput(f"{display(path)}: PFM scale must be non-zero")
    end = 2 if head[pos: pos + 2] == b"\r\n" else 1
    return width, height, 3 if tokens[0] == b"PF" else 1, scale, pos + end


def probe(path: str | os.PathLike, member: str | None = None) -> ImageInfo:
    """Read the header of a depth file and check its size, without reading the pixels.

    :param path: Depth file (``.png``, ``.tif``/``.tiff``, ``.exr``, ``.npy``, ``.npz``, ``.pfm``).
    :param member: Array name inside a ``.npz`` archive.
    :raises BadInput: Missing, unsupported, corrupt or truncated files and images above the limit.
    """
    fmt = format_of(path)
    head, size = _read_head(path)
    if size == 0:
        raise BadInput(f"{display(path)} is empty")
    if fmt == "png":
        return probe_png(head, size, path)
    if fmt == "tiff":
        return probe_tiff(head, size, path)
    if fmt == "npy":
        return probe_npy(path, size)
    if fmt == "npz":
        return probe_npz(path, member)
    if fmt == "exr":
        return probe_exr(path)
    width, height, channels, _scale, offset = parse_pfm_header(head, path)
    check_size(width, height, display(path))
    if offset + width * height * channels * 4 > size:
        raise BadInput(f"{display(path)} is truncated: {width}×{height}×{channels} floats declared")
    return ImageInfo("pfm", width, height, channels, 32, "float")
