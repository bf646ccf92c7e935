# SPDX-License-Identifier: GPL-3.0-or-later
"""Memory guard of depth import: sizes from headers (colour JPEG/PNG/BMP/WebP/TIFF, BigTIFF and EXR depth),
refused above the limit before anything is decoded, EXR reads that decode only the channel asked for, and photos
turned upright by their EXIF Orientation."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest

from depth_addon.depth_import import ImportOptions, prepare, read_color, read_depth
from depth_addon.depth_import import readers as readers_module
from depth_addon.depth_import.formats import TiffError, ifd_tags, tiff_tags
from depth_addon.depth_import.headers import exif_orientation, image_size
from depth_addon.depth_import.readers import read_photo
from depth_addon.errors import BadInput

RNG = np.random.default_rng(11)
BIG = 16384  # 16k² = 268 Mpx, four times the limit


@pytest.fixture
def no_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any image is decoded (OpenCV or a full OpenEXR read)."""

    def refuse(*args, **kwargs):
        raise AssertionError("decoded before the size was checked")

    monkeypatch.setattr(readers_module, "decode_image", refuse)
    monkeypatch.setattr(cv2, "imdecode", refuse)


def encoded(suffix: str, image: np.ndarray, *params: int) -> bytes:
    ok, data = cv2.imencode(suffix, image, list(params))
    assert ok
    return data.tobytes()


def patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the SOF0 frame header of a baseline JPEG."""
    i = data.index(b"\xff\xc0") + 5  # marker, length (2), precision (1)
    return data[:i] + struct.pack(">HH", height, width) + data[i + 4:]


def bigtiff(width: int, height: int, pixels: bytes = b"", bits: int = 16) -> bytes:
    """An uncompressed little-endian BigTIFF, one strip, greyscale."""
    entries = [(256, 16, 1, width), (257, 16, 1, height), (258, 3, 1, bits), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 16, 1, 0), (277, 3, 1, 1), (278, 16, 1, height), (279, 16, 1, len(pixels))]
    ifd_size = 8 + 20 * len(entries) + 8
    data_at = 16 + ifd_size
    ifd = struct.pack("<Q", len(entries))
    for tag, kind, n, value in entries:
        value = data_at if tag == 273 else value
        ifd += struct.pack("<HHQ", tag, kind, n) + (struct.pack("<H", value) + b"\0" * 6 if kind == 3 else
                                                    struct.pack("<Q", value))
    return b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + ifd + struct.pack("<Q", 0) + pixels


def tiff_rgb_header(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (277, 3, 1, 3)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def write_exr(path: Path, channels: dict[str, np.ndarray]) -> Path:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {k: np.ascontiguousarray(v) for k, v in channels.items()}).write(str(path))
    return path


def write_exr_parts(path: Path, parts: list[dict[str, np.ndarray]]) -> Path:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File([OpenEXR.Part(dict(header), {k: v.copy() for k, v in p.items()}, name=f"part{k}")
                  for k, p in enumerate(parts)]).write(str(path))
    return path


def patch_exr_window(data: bytes, width: int, height: int, occurrence: int = 0) -> bytes:
    """Rewrite the ``dataWindow`` of one part of an EXR header (its pixels stay as they are)."""
    key = b"dataWindow\0box2i\0"
    i = -1
    for _ in range(occurrence + 1):
        i = data.index(key, i + 1)
    at = i + len(key) + 4 + 8  # attribute size, then xMin, yMin; xMax, yMax follow
    return data[:at] + struct.pack("<ii", width - 1, height - 1) + data[at + 8:]


# --- sizes from headers ----------------------------------------------------------------------------------


def test_header_sizes_match_the_decoded_images(tmp_path: Path) -> None:
    """The parsers read the same size the decoder produces, for every colour format."""
    image = RNG.integers(0, 255, (13, 21, 3), dtype=np.uint8)
    files = {"a.jpg": encoded(".jpg", image), "b.png": encoded(".png", image), "c.bmp": encoded(".bmp", image),
             "d.webp": encoded(".webp", image, cv2.IMWRITE_WEBP_QUALITY, 80),
             "e.webp": encoded(".webp", image, cv2.IMWRITE_WEBP_QUALITY, 101),
             "f.tif": encoded(".tif", image), "g.tif": encoded(".tif", image[..., 0].astype(np.uint16)),
             "h.bmp": encoded(".bmp", image[::-1].copy())}
    kinds = {files["d.webp"][12:16], files["e.webp"][12:16]}
    assert kinds == {b"VP8 ", b"VP8L"}, kinds  # both WebP flavours are covered
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert image_size(tmp_path / name) == (21, 13), name
        rgb, _linear = read_color(tmp_path / name)
        assert rgb.shape == (13, 21, 3), name
    values = RNG.integers(1, 60000, (5, 7), dtype=np.uint16)
    (tmp_path / "big.tif").write_bytes(bigtiff(7, 5, values.tobytes()))
    assert image_size(tmp_path / "big.tif") == (7, 5)
    assert np.array_equal(read_depth(tmp_path / "big.tif").values, values)  # BigTIFF decodes after the probe


def test_colour_jpeg_claiming_16k_is_refused_before_decoding(tmp_path: Path, no_decode) -> None:
    small = encoded(".jpg", RNG.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    path = tmp_path / "huge.jpg"
    path.write_bytes(patch_jpeg_size(small, BIG, BIG))
    assert path.stat().st_size < 2000 and image_size(path) == (BIG, BIG)
    with pytest.raises(BadInput, match=r"16384×16384, above the 67 Mpx limit .*image editor first"):
        read_color(path)
    with pytest.raises(BadInput, match="Mpx limit"):
        prepare(np.linspace(1, 2, 64, dtype=np.float32).reshape(8, 8), path)


@pytest.mark.parametrize("name", ["bmp", "webp-vp8", "webp-vp8x", "tiff", "png"])
def test_other_colour_formats_claiming_16k_are_refused(tmp_path: Path, name: str, no_decode) -> None:
    image = RNG.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    if name == "bmp":
        data = bytearray(encoded(".bmp", image))
        data[18:26] = struct.pack("<ii", BIG, -BIG)  # top-down rows: negative height
    elif name == "webp-vp8":
        data = bytearray(encoded(".webp", image, cv2.IMWRITE_WEBP_QUALITY, 80))
        data[26:30] = struct.pack("<HH", 0x3FFF, 0x3FFF)
    elif name == "webp-vp8x":
        data = b"RIFF" + struct.pack("<I", 22) + b"WEBPVP8X" + struct.pack("<I", 10) + b"\0" * 4
        data += (BIG - 1).to_bytes(3, "little") + (BIG - 1).to_bytes(3, "little")
    elif name == "tiff":
        data = tiff_rgb_header(BIG, BIG)
    else:
        data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", BIG, BIG, 8, 2, 0, 0, 0)
    path = tmp_path / f"huge.{name.split('-')[0]}"
    path.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="Mpx limit"):
        read_color(path)


def test_unrecognised_or_corrupt_colour_headers(tmp_path: Path) -> None:
    cases = {"text.jpg": b"not an image at all", "cut.jpg": encoded(".jpg", np.zeros((8, 8, 3), np.uint8))[:12],
             "riff.webp": b"RIFF\0\0\0\0WEBPXXXX", "empty.png": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadInput):
            read_color(tmp_path / name)


def test_bigtiff_depth_claiming_16k_is_refused_before_decoding(tmp_path: Path, no_decode) -> None:
    path = tmp_path / "huge.tif"
    path.write_bytes(bigtiff(BIG, BIG))
    with pytest.raises(BadInput, match="Mpx limit"):
        read_depth(path)


# --- EXR -------------------------------------------------------------------------------------------------


def test_exr_depth_claiming_16k_in_any_part_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The size of every part is checked from the header; nothing is decoded."""
    small = np.ones((4, 5), np.float32)
    single = write_exr(tmp_path / "one.exr", {"Z": small}).read_bytes()
    (tmp_path / "one_big.exr").write_bytes(patch_exr_window(single, BIG, BIG))
    multi = write_exr_parts(tmp_path / "two.exr", [{"R": small}, {"Z": small}]).read_bytes()
    (tmp_path / "two_big.exr").write_bytes(patch_exr_window(multi, BIG, BIG, occurrence=1))
    real_file = OpenEXR.File

    def header_only(*args, **kwargs):
        assert kwargs.get("header_only"), "pixels decoded before the size check"
        return real_file(*args, **kwargs)

    monkeypatch.setattr(OpenEXR, "File", header_only)
    monkeypatch.setattr(OpenEXR, "InputFile", None, raising=False)
    for name in ("one_big.exr", "two_big.exr"):
        with pytest.raises(BadInput, match="16384×16384, above the 67 Mpx limit"):
            read_depth(tmp_path / name, channel="Z")


def test_exr_decodes_only_the_channel_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A single-part EXR with many channels: only the picked one is decoded (no full-file read)."""
    planes = {c: RNG.random((6, 9)).astype(np.float32) for c in ("R", "G", "B", "A", "Z", "N.X", "N.Y")}
    write_exr(tmp_path / "many.exr", {k: v.copy() for k, v in planes.items()})
    half = write_exr(tmp_path / "half.exr", {"Z": planes["Z"].astype(np.float16)})
    real_file = OpenEXR.File

    def header_only(*args, **kwargs):
        assert kwargs.get("header_only"), "the whole EXR was decoded"
        return real_file(*args, **kwargs)

    monkeypatch.setattr(OpenEXR, "File", header_only)
    raw = read_depth(tmp_path / "many.exr")
    assert raw.channel == "Z" and np.array_equal(raw.values, planes["Z"]) and raw.values.flags.writeable
    rgb, linear = read_color(tmp_path / "many.exr")
    assert linear and np.array_equal(rgb, np.stack([planes[c] for c in "RGB"], axis=-1))
    assert np.array_equal(read_depth(half).values, planes["Z"].astype(np.float16).astype(np.float32))


def test_exr_channel_of_a_later_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A channel outside the first part still reads (whole-file decode), within a sample budget."""
    r, z = RNG.random((4, 5)).astype(np.float32), RNG.random((4, 5)).astype(np.float32)
    path = write_exr_parts(tmp_path / "parts.exr", [{"R": r}, {"Z": z}])
    assert np.array_equal(read_depth(path, channel="Z").values, z)
    monkeypatch.setattr(readers_module, "EXR_MAX_SAMPLES", 30)  # 2 parts × 20 samples
    with pytest.raises(BadInput, match="decodes every part"):
        read_depth(path, channel="Z")
    assert np.array_equal(read_depth(path, channel="R").values, r)  # first part: one channel, no budget


def _oriented_jpeg(path: Path, image: np.ndarray, orientation: int) -> Path:
    """A JPEG of ``image`` as stored, with an EXIF Orientation tag (written by Pillow, as cameras do)."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(image).save(path, exif=exif, quality=100)
    return path


def test_exif_orientation_turns_photos_upright_as_decoders_do(tmp_path: Path) -> None:
    """Every EXIF Orientation (1 to 8) turns the stored pixels as OpenCV's own upright decode does; files without
    the tag (or not JPEG) are as stored."""
    image = np.kron(RNG.integers(0, 255, (6, 10, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    for orientation in range(1, 9):
        path = _oriented_jpeg(tmp_path / f"o{orientation}.jpg", image, orientation)
        assert exif_orientation(path) == orientation
        shown = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        turned = read_photo(path)
        assert turned.shape == shown.shape, orientation
        assert np.abs(turned * 255 - shown).max() < 1.0, orientation
    (tmp_path / "plain.png").write_bytes(encoded(".png", image))
    assert exif_orientation(tmp_path / "plain.png") == 1
    assert exif_orientation(tmp_path / "missing.jpg") == 1


@pytest.mark.parametrize("endian", ["<", ">"])
def test_one_ifd_walker_reads_exif_blocks_and_tiff_files(tmp_path: Path, endian: str) -> None:
    """The TIFF block of a photo's EXIF and the same bytes as a TIFF file give the same tags (one walker serves
    the orientation and the sizes); a corrupt block is no orientation."""
    from PIL import Image

    exif = Image.Exif()
    exif.endian = endian
    exif[0x0112], exif[0x0100], exif[0x010F] = 8, 70000, "Camera maker"  # SHORT, LONG, an ASCII string
    block = exif.tobytes()[6:]  # after "Exif\0\0"
    assert ifd_tags(block) == {0x0112: 8, 0x0100: 70000}
    (tmp_path / "block.tif").write_bytes(block)
    assert tiff_tags(tmp_path / "block.tif") == ifd_tags(block)
    image = np.zeros((8, 8, 3), np.uint8)
    Image.fromarray(image).save(tmp_path / "p.jpg", exif=exif)
    assert exif_orientation(tmp_path / "p.jpg") == 8
    assert ifd_tags(block[:20]) == {}  # entries cut off: none read
    with pytest.raises(TiffError, match="truncated"):
        ifd_tags(block[:20], needed={0x0100})
    Image.fromarray(image).save(tmp_path / "cut.jpg", exif=b"Exif\0\0" + block[:20])
    assert exif_orientation(tmp_path / "cut.jpg") == 1


def classic_ifd(order: str, entries: list[tuple[int, int, int, bytes]], count: int | None = None) -> bytes:
    """A classic TIFF structure by hand: header and first IFD (``count`` claimed, ``entries`` written as
    ``(tag, type, number of values, 4 value or offset bytes)``), nothing after it."""
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    ifd = struct.pack(order + "H", len(entries) if count is None else count)
    return head + ifd + b"".join(struct.pack(order + "HHI", tag, kind, n) + value for tag, kind, n, value in entries)


def jpeg_with_exif(tiff: bytes) -> bytes:
    """The start of a JPEG whose APP1 segment holds the EXIF TIFF block ``tiff``."""
    payload = b"Exif\0\0" + tiff
    return b"\xff\xd8\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + b"\xff\xd9"


@pytest.mark.parametrize("order", ["<", ">"])
def test_damaged_exif_keeps_its_orientation(tmp_path: Path, order: str) -> None:
    """An IFD that claims more entries than the block holds, or a multi-valued tag whose values point past the
    block, loses only what is missing: the Orientation still turns the photo."""
    def short(value: int) -> bytes:
        return struct.pack(order + "H", value) + b"\0\0"

    def offset(at: int) -> bytes:
        return struct.pack(order + "I", at)

    cut = classic_ifd(order, [(0x0112, 3, 1, short(6)), (0x0100, 4, 1, offset(64))], count=3)
    stray = classic_ifd(order, [(0x0102, 3, 3, offset(9999)), (0x0112, 3, 1, short(6)),
                                (0x0111, 4, 2, offset(9999))]) + b"\0" * 4
    assert ifd_tags(cut) == {0x0112: 6, 0x0100: 64} and ifd_tags(stray) == {0x0112: 6}
    for name, block in (("cut", cut), ("stray", stray)):
        (tmp_path / f"{name}.jpg").write_bytes(jpeg_with_exif(block))
        assert exif_orientation(tmp_path / f"{name}.jpg") == 6, name


def test_a_tiff_file_is_refused_only_for_damage_to_what_is_read(tmp_path: Path) -> None:
    """A TIFF depth map decodes past a damaged tag nothing here reads (as OpenCV does), and is refused, naming the
    damage, when its IFD is cut or its size, sample or pixel-data tags point past the end of the file."""
    pixels = np.arange(48, dtype=np.uint8).reshape(6, 8)

    def tiff(bits: tuple[int, int, int, bytes], extra: list, count: int | None = None) -> Path:
        def short(value: int) -> bytes:
            return struct.pack("<HH", value, 0)

        data_at = 8 + 2 + 12 * (8 + len(extra)) + 4
        entries = [(256, 3, 1, short(8)), (257, 3, 1, short(6)), bits, (259, 3, 1, short(1)), (262, 3, 1, short(1)),
                   (273, 4, 1, struct.pack("<I", data_at)), (277, 3, 1, short(1)), (279, 4, 1, struct.pack("<I", 48)),
                   *extra]
        path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.tif"
        path.write_bytes(classic_ifd("<", entries, count) + b"\0" * 4 + pixels.tobytes())
        return path

    eight = (258, 3, 1, struct.pack("<HH", 8, 0))
    private = (0xC350, 3, 3, struct.pack("<I", 9999))  # a tag no reader here uses, its values past the end
    readable = tiff(eight, [private])
    assert image_size(readable) == (8, 6) and 0xC350 not in tiff_tags(readable)
    assert np.array_equal(read_depth(readable).values, pixels)
    with pytest.raises(BadInput, match="tag 258 points past the end"):
        read_depth(tiff((258, 3, 3, struct.pack("<I", 9999)), []))
    with pytest.raises(BadInput, match="truncated or corrupt TIFF header"):
        read_depth(tiff(eight, [], count=20))


def test_an_oriented_colour_jpeg_is_imported_upright(tmp_path: Path) -> None:
    """A phone photo stored sideways colours its upright depth map upright (a JPEG of the upright pixels: Blender
    would show the stored ones), with a warning saying so and no resize."""
    image = np.kron(RNG.integers(0, 255, (6, 10, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    path = _oriented_jpeg(tmp_path / "phone.jpg", image, 6)  # stored 80×48, shown 48×80
    prepared = prepare(np.full((80, 48), 2.0, np.float32), path)
    assert prepared.color_path is None and prepared.color is None
    upright = cv2.imdecode(np.frombuffer(prepared.color_file, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert upright.shape == (80, 48, 3)
    assert np.abs(upright / 255.0 - read_photo(path)).mean() < 0.01  # JPEG again, at quality 95
    assert any("EXIF Orientation (6)" in w for w in prepared.warnings)
    assert not any("resized" in w for w in prepared.warnings)
    with pytest.raises(BadInput, match=r"colour image .*phone\.jpg' is 48×80 but the depth is 80×48"):
        prepare(np.full((48, 80), 2.0, np.float32), path, ImportOptions(color_mismatch="refuse"))
