# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth import core (no bpy): readers and their guards, value conversion, intrinsics, clean-up steps, grid."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest

from depth_addon.camera import CameraModel
from depth_addon.depth_import import ImportOptions, Intrinsics, ValueSpec, prepare, read_depth, read_pfm, write_pfm
from depth_addon.depth_import.formats import MAX_PIXELS, probe
from depth_addon.depth_import.pfm import encode_pfm
from depth_addon.depth_import.values import solve_inverse_affine, to_metres
from depth_addon.errors import BadInput
from depth_addon.io.png import encode_png, write_png

RNG = np.random.default_rng(7)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_header(path: Path, width: int, height: int, bits: int = 8, ctype: int = 0, idat: bytes = b"") -> Path:
    """A PNG whose IHDR says anything we like (the data need not match)."""
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, ctype, 0, 0, 0))
    path.write_bytes(head + _chunk(b"IDAT", idat or zlib.compress(b"\x00" * 8)) + _chunk(b"IEND", b""))
    return path


def write_exr(path: Path, channels: dict[str, np.ndarray]) -> Path:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {k: np.ascontiguousarray(v) for k, v in channels.items()}).write(str(path))
    return path


# --- readers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip(tmp_path: Path, dtype) -> None:
    values = RNG.integers(1, np.iinfo(dtype).max, (12, 17)).astype(dtype)
    write_png(tmp_path / "d.png", values)
    raw = read_depth(tmp_path / "d.png")
    assert raw.values.dtype == np.float32 and np.array_equal(raw.values, values)
    assert raw.integer_max == np.iinfo(dtype).max and raw.info.bits == 8 * np.dtype(dtype).itemsize


def test_png_alpha_marks_missing_and_channels(tmp_path: Path) -> None:
    ga = np.zeros((4, 5, 2), np.uint16)
    ga[..., 0], ga[..., 1] = 1000, 65535
    ga[1, 2, 1] = 0
    raw = read_depth(tmp_path.joinpath("ga.png").write_bytes(encode_png(ga)) and tmp_path / "ga.png")
    assert np.isnan(raw.values[1, 2]) and raw.values[0, 0] == 1000 and np.isfinite(raw.values).sum() == 19
    rgb = RNG.integers(0, 255, (6, 7, 3)).astype(np.uint8)
    write_png(tmp_path / "rgb.png", rgb)
    with pytest.raises(BadInput, match="channels that differ"):
        read_depth(tmp_path / "rgb.png")
    assert np.array_equal(read_depth(tmp_path / "rgb.png", channel="G").values, rgb[..., 1])
    write_png(tmp_path / "grey3.png", np.repeat(rgb[..., :1], 3, axis=2))
    assert np.array_equal(read_depth(tmp_path / "grey3.png").values, rgb[..., 0])


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_tiff_round_trip(tmp_path: Path, dtype) -> None:
    values = (RNG.random((9, 11)) * 1000).astype(dtype)
    assert cv2.imwrite(str(tmp_path / "d.tif"), values)
    raw = read_depth(tmp_path / "d.tif")
    assert raw.info.format == "tiff" and raw.info.bits == 8 * np.dtype(dtype).itemsize
    assert np.array_equal(raw.values, values.astype(np.float32))


@pytest.mark.parametrize("little", [True, False], ids=["little", "big"])
def test_pfm_round_trip_both_endiannesses(tmp_path: Path, little: bool) -> None:
    values = RNG.random((5, 8)).astype(np.float32)
    values[0, 0] = np.inf  # Middlebury's "unknown"
    write_pfm(tmp_path / "d.pfm", values, little_endian=little, scale=2.5)
    data = (tmp_path / "d.pfm").read_bytes()
    assert data.startswith(b"Pf\n8 5\n" + (b"-2.5" if little else b"2.5") + b"\n")
    body = np.frombuffer(data[data.index(b"2.5\n") + 4:], "<f4" if little else ">f4").reshape(5, 8)
    assert np.array_equal(body[0], values[-1])  # rows are stored bottom to top
    back = read_pfm(tmp_path / "d.pfm")
    assert np.array_equal(back, values)
    raw = read_depth(tmp_path / "d.pfm")
    assert np.isinf(raw.values[0, 0]) and np.array_equal(raw.values[1:], values[1:])
    (tmp_path / "crlf.pfm").write_bytes(data[:data.index(b"2.5\n") + 3].replace(b"\n", b"\r\n") + b"\r\n"
                                        + data[data.index(b"2.5\n") + 4:])  # a text-mode writer on Windows
    assert np.array_equal(read_pfm(tmp_path / "crlf.pfm"), values)


def test_pfm_colour_needs_a_channel(tmp_path: Path) -> None:
    rgb = RNG.random((4, 6, 3)).astype(np.float32)
    (tmp_path / "c.pfm").write_bytes(encode_pfm(rgb))
    with pytest.raises(BadInput, match="channels that differ"):
        read_depth(tmp_path / "c.pfm")
    assert np.array_equal(read_depth(tmp_path / "c.pfm", channel="B").values, rgb[..., 2])


def test_npy_and_npz(tmp_path: Path) -> None:
    values = RNG.random((6, 9)).astype(np.float64)
    np.save(tmp_path / "d.npy", values)
    assert np.array_equal(read_depth(tmp_path / "d.npy").values, values.astype(np.float32))
    np.save(tmp_path / "d1.npy", values[None])
    assert read_depth(tmp_path / "d1.npy").values.shape == (6, 9)
    np.save(tmp_path / "d3.npy", np.stack([values, 2 * values], -1))
    with pytest.raises(BadInput, match="choose one"):
        read_depth(tmp_path / "d3.npy")
    assert np.allclose(read_depth(tmp_path / "d3.npy", channel="1").values, 2 * values)
    np.savez(tmp_path / "one.npz", values)
    assert np.allclose(read_depth(tmp_path / "one.npz").values, values)
    np.savez(tmp_path / "two.npz", depth=values, conf=values * 0)
    assert np.allclose(read_depth(tmp_path / "two.npz").values, values)
    assert np.all(read_depth(tmp_path / "two.npz", channel="conf").values == 0)
    np.savez(tmp_path / "amb.npz", a=values, b=values)
    with pytest.raises(BadInput, match="several arrays"):
        read_depth(tmp_path / "amb.npz")


def test_exr_channel_pick(tmp_path: Path) -> None:
    z, r = RNG.random((4, 5)).astype(np.float32), RNG.random((4, 5)).astype(np.float32)
    write_exr(tmp_path / "a.exr", {"Z": z, "R": r})
    assert np.array_equal(read_depth(tmp_path / "a.exr").values, z)
    assert np.array_equal(read_depth(tmp_path / "a.exr", channel="R").values, r)
    write_exr(tmp_path / "m.exr", {"ViewLayer.Depth.Z": z, "ViewLayer.Combined.R": r})
    raw = read_depth(tmp_path / "m.exr", channel="Z")
    assert raw.channel == "ViewLayer.Depth.Z" and np.array_equal(raw.values, z)
    with pytest.raises(BadInput, match="no channel 'Q'"):
        read_depth(tmp_path / "a.exr", channel="Q")


def _tiff_header(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 16), (277, 3, 1, 1)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd


@pytest.mark.parametrize("fmt", ["png", "npy", "pfm", "tif"])
def test_memory_guard_reads_headers_only(tmp_path: Path, fmt: str) -> None:
    big = 16384
    path = tmp_path / f"big.{fmt}"
    if fmt == "png":
        png_with_header(path, big, big, 16)
    elif fmt == "npy":
        header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), np.float32))
        header["shape"] = (big, big)
        with open(path, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
    elif fmt == "pfm":
        path.write_bytes(b"Pf\n%d %d\n-1.0\n" % (big, big))
    else:
        path.write_bytes(_tiff_header(big, big))
    with pytest.raises(BadInput, match="Mpx limit"):
        read_depth(path)
    assert MAX_PIXELS == 8192 * 8192


def test_corrupt_truncated_and_unsupported_files(tmp_path: Path) -> None:
    values = (RNG.random((20, 30)) * 60000).astype(np.uint16)
    good = encode_png(values)
    cases = {
        "half.png": good[: len(good) // 2], "garbage.png": bytes(RNG.integers(0, 255, 300, dtype=np.uint8)),
        "empty.npy": b"", "text.exr": b"not an exr at all", "short.pfm": b"Pf\n4 4\n-1\n" + b"\0" * 20,
    }
    np.save(tmp_path / "full.npy", values)
    cases["cut.npy"] = (tmp_path / "full.npy").read_bytes()[:-40]
    write_pfm(tmp_path / "full.pfm", values.astype(np.float32))
    write_exr(tmp_path / "full.exr", {"Z": values.astype(np.float32)})
    cases["cut.exr"] = (tmp_path / "full.exr").read_bytes()[:200]
    cv2.imwrite(str(tmp_path / "full.tif"), values)
    cases["cut.tif"] = (tmp_path / "full.tif").read_bytes()[:300]
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadInput):
            read_depth(tmp_path / name)
    for bits, ctype, match in ((1, 0, "bit depth 1"), (4, 0, "bit depth 4"), (8, 3, "palette")):
        with pytest.raises(BadInput, match=match):
            read_depth(png_with_header(tmp_path / f"b{bits}{ctype}.png", 8, 8, bits, ctype))
    np.save(tmp_path / "five.npy", np.zeros((4, 4, 5), np.float32))
    np.save(tmp_path / "bool.npy", np.zeros((4, 4), bool))
    for name in ("five.npy", "bool.npy"):
        with pytest.raises(BadInput):
            read_depth(tmp_path / name)
    with pytest.raises(BadInput, match="unsupported depth file"):
        read_depth(tmp_path / "x.jpg")
    with pytest.raises(BadInput, match="not found"):
        read_depth(tmp_path / "missing.png")


def test_unicode_path(tmp_path: Path) -> None:
    folder = tmp_path / "深度 ñ"
    folder.mkdir()
    values = (RNG.random((5, 6)) * 1000).astype(np.uint16)
    write_png(folder / "тест.png", values)
    assert np.array_equal(read_depth(folder / "тест.png").values, values)
    assert probe(folder / "тест.png").width == 6


# --- values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values, match", [
    (np.full((4, 4), np.nan), "no finite"), (np.full((4, 4), np.inf), "no finite"),
    (np.zeros((4, 4)), "all zero"), (np.ones((1, 1)), "at least 2×2"),
])
def test_raw_values_without_depth_are_refused(values: np.ndarray, match: str) -> None:
    with pytest.raises(BadInput, match=match):
        to_metres(values.astype(np.float32), ValueSpec())


def test_a_constant_map_is_a_plane_in_metres_and_no_shape_as_relative_inverse_depth() -> None:
    """A wall rendered head-on is constant: as metres it is a plane; relative inverse depth is spread between near
    and far by its own range, which a constant map does not have."""
    holed = np.where(np.arange(100).reshape(10, 10) == 42, np.nan, 5.0).astype(np.float32)
    z, _info = to_metres(holed, ValueSpec())
    assert np.all(z[np.isfinite(holed)] == 5.0) and np.isnan(z.flat[42])
    for values in (np.full((4, 4), 2.0, np.float32), holed):
        with pytest.raises(BadInput, match="constant .* no shape; give its scale and shift"):
            to_metres(values, ValueSpec(kind="inverse"))
    z, _info = to_metres(np.full((4, 4), 0.5, np.float32), ValueSpec(kind="inverse", scale=1.0))
    assert np.allclose(z, 2.0)  # absolute inverse depth: a plane at 2 m


def test_metric_depth_scale_and_invalid_pixels() -> None:
    raw = np.array([[1000, 0], [2500, 4000]], np.float32)
    z, info = to_metres(raw, ValueSpec(scale=0.001))
    assert np.isnan(z[0, 1]) and np.allclose(z[[0, 1, 1], [0, 0, 1]], [1.0, 2.5, 4.0]) and info["scale"] == 0.001
    with pytest.raises(BadInput, match="negative depth"):
        to_metres(np.array([[1, -2], [3, 4]], np.float32), ValueSpec())
    z, _ = to_metres(np.array([[0, 255], [128, 64]], np.float32), ValueSpec(normalise=True, scale=10), 255)
    assert np.isclose(z[0, 1], 10.0)


def test_inverse_depth_affine_solve() -> None:
    truth = 1.0 + 5.0 * RNG.random((10, 12)).astype(np.float32)
    scale, shift = 2.0, -0.05
    raw = ((1.0 / truth - shift) / scale).astype(np.float32)  # what an estimator would give
    known = [(1, 1, truth[1, 1]), (8, 3, truth[8, 3]), (4, 10, truth[4, 10])]
    s, t = solve_inverse_affine(raw, known)
    assert abs(s - scale) < 1e-4 and abs(t - shift) < 1e-5
    z, info = to_metres(raw, ValueSpec(kind="inverse", known=tuple(known)))
    assert np.allclose(z, truth, rtol=1e-4) and info["fit"] == "known points"
    s1, t1 = solve_inverse_affine(raw * 0 + raw, [(2, 2, truth[2, 2])])
    assert t1 == 0 and np.isclose(s1 * raw[2, 2], 1 / truth[2, 2])
    with pytest.raises(BadInput, match="same value"):
        solve_inverse_affine(np.ones((3, 3), np.float32), [(0, 0, 1.0), (1, 1, 2.0)])
    with pytest.raises(BadInput, match="outside"):
        solve_inverse_affine(raw, [(50, 1, 2.0)])


def test_relative_inverse_depth_spans_near_far() -> None:
    raw = np.linspace(0, 255, 64, dtype=np.float32).reshape(8, 8)
    z, _ = to_metres(raw, ValueSpec(kind="inverse", near=2.0, far=20.0))
    assert np.isclose(z.min(), 2.0) and np.isclose(z.max(), 20.0) and z[0, 0] > z[-1, -1]  # large value = near


def test_stereo_disparity() -> None:
    disp = np.array([[10.0, 20.0], [0.0, 40.0]], np.float32)
    z, info = to_metres(disp, ValueSpec(kind="disparity", baseline=0.2, focal_px=1000.0, doffs=10.0))
    assert np.allclose(z[[0, 0, 1, 1], [0, 1, 0, 1]], [200 / 20, 200 / 30, 200 / 10, 200 / 50])
    assert info["doffs"] == 10.0
    z, _ = to_metres(disp, ValueSpec(kind="disparity", baseline=0.2), focal_px=500.0)  # fx of the camera
    assert np.isclose(z[0, 0], 10.0) and np.isnan(z[1, 0])
    with pytest.raises(BadInput, match="baseline"):
        to_metres(disp, ValueSpec(kind="disparity", focal_px=1000.0))
    with pytest.raises(BadInput, match="baseline"):
        to_metres(disp, ValueSpec(kind="disparity", baseline=0.1))


# --- intrinsics ------------------------------------------------------------------------------------


def test_intrinsics_conventions() -> None:
    a = Intrinsics.from_fov(64, 48, 60.0)
    assert np.allclose(a.frame, CameraModel.from_fov(64, 48, 60.0).frame)
    b = Intrinsics.from_focal_px(40, 30, 50.0, 45.0, cx=12.0, cy=20.0)
    x, y = b.camera_model().pixel_plane_coords()
    assert np.allclose(x, (np.arange(40) + 0.5 - 12.0) / 50.0) and np.allclose(y, -(np.arange(30) + 0.5 - 20.0) / 45.0)
    assert Intrinsics.from_opencv(40, 30, 50, 45, 11.5, 19.5) == b
    assert np.allclose(Intrinsics.from_camera_model(b.camera_model()).frame, b.frame)
    lens = Intrinsics.from_lens(36, 24, 50.0, 36.0)
    assert np.isclose(lens.fx, 50.0) and lens.blender_camera()["lens"] == pytest.approx(50.0)
    assert np.isclose(Intrinsics.from_lens(36, 24, 50.0, 24.0, sensor_fit="VERTICAL").fx, 50.0)
    with pytest.raises(BadInput, match="unknown sensor fit 'DIAGONAL'"):
        Intrinsics.from_lens(36, 24, 50.0, 36.0, sensor_fit="DIAGONAL")
    half = b.scaled(2)
    assert (half.width, half.height) == (20, 15) and np.allclose(half.frame, b.frame)
    params = b.blender_camera()
    assert params["shift_x"] == pytest.approx((20 - 12) / 40) and params["pixel_aspect_y"] == pytest.approx(50 / 45)
    with pytest.raises(BadInput):
        Intrinsics.from_focal_px(40, 30, -1.0)
    with pytest.raises(BadInput, match="one camera description"):
        prepare(np.ones((4, 4)) + np.eye(4), options=ImportOptions(fov=50, focal_px=100))


def test_integer_values_mapped_onto_a_range_are_not_said_to_be_metres() -> None:
    """Integer values normalised onto a near–far range are not "taken as metres", and the warning says so only
    when nothing says what they are."""
    from depth_addon.depth_import import Preprocess

    codes = np.arange(64, dtype=np.uint16).reshape(8, 8) * 100 + 1000
    plain = prepare(codes, options=ImportOptions(fov=60.0, preprocess=Preprocess(tear_ratio=None)))
    assert any("taken as metres" in w for w in plain.warnings), plain.warnings
    ranged = prepare(codes, options=ImportOptions(fov=60.0, preprocess=Preprocess(normalise=(1.0, 5.0),
                                                                                 tear_ratio=None)))
    assert not any("taken as metres" in w for w in ranged.warnings), ranged.warnings
    finite = ranged.depth[np.isfinite(ranged.depth)]
    assert abs(float(finite.min()) - 1.0) < 1e-4 and abs(float(finite.max()) - 5.0) < 1e-4
