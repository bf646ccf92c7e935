# SPDX-License-Identifier: GPL-3.0-or-later
"""Core without Blender: camera model, mappings, PNG/EXR/NPY files and atomic writes."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput
from depth_addon.io.atomic import atomic_path
from depth_addon.io.depth_files import write_depth
from depth_addon.io.exr import read_exr
from depth_addon.io.png import encode_png, read_png_text, to_uint, with_text, write_png
from depth_addon.mapping import DepthMapping, fit_mapping, robust_range


@pytest.mark.parametrize("kind", ["linear", "inverse", "log"])
@pytest.mark.parametrize("invert", [False, True])
def test_mapping_round_trip(kind: str, invert: bool) -> None:
    m = DepthMapping(kind, 0.5, 40.0, invert)
    d = np.geomspace(0.5, 40.0, 50).astype(np.float32)
    v = m.apply(d)
    np.testing.assert_allclose(m.unapply(v), d, rtol=1e-4)
    near_end, far_end = (1.0, 0.0) if kind == "inverse" else (0.0, 1.0)
    if invert:
        near_end, far_end = far_end, near_end
    assert v[0] == pytest.approx(near_end) and v[-1] == pytest.approx(far_end)
    assert m.apply(np.array([np.inf]))[0] == pytest.approx(far_end)
    assert np.all(np.diff(v) < 0) if (kind == "inverse") != invert else np.all(np.diff(v) > 0)


def test_mapping_rejects_bad_parameters() -> None:
    with pytest.raises(BadInput, match="unknown depth mapping"):
        DepthMapping("sqrt", 1, 2)
    with pytest.raises(BadInput, match="smaller than far"):
        DepthMapping("linear", 5, 5)
    with pytest.raises(BadInput, match="near must be > 0"):
        DepthMapping("inverse", 0, 5)
    assert DepthMapping.from_dict(DepthMapping("log", 1, 9, True).to_dict()) == DepthMapping("log", 1, 9, True)


def test_robust_range_ignores_outliers_and_background() -> None:
    d = np.full((100, 100), 10.0, np.float32)
    d[:, :50] = 2.0
    d[0, 0], d[0, 1] = 1e-3, 1e6
    d[5:10] = np.inf
    near, far = robust_range(d)
    assert near == pytest.approx(2.0) and far == pytest.approx(10.0)
    assert fit_mapping(d, kind="linear").far == pytest.approx(10.0)
    with pytest.raises(BadInput, match="no valid pixels"):
        robust_range(np.full((4, 4), np.inf))


def test_camera_radial_planar_and_unproject() -> None:
    cam = CameraModel.from_fov(40, 30, 60.0)
    rng = np.random.default_rng(0)
    d = rng.uniform(1, 10, (30, 40)).astype(np.float32)
    np.testing.assert_allclose(cam.radial_to_planar(cam.planar_to_radial(d)), d, rtol=1e-6)
    pts = cam.unproject(d)
    np.testing.assert_allclose(-pts[..., 2], d)
    np.testing.assert_allclose(np.linalg.norm(pts, axis=-1), cam.planar_to_radial(d), rtol=1e-5)
    assert CameraModel.from_dict(json.loads(json.dumps(cam.to_dict()))) == cam


def test_camera_from_projection_with_shift() -> None:
    left, right, bottom, top, near, far = -0.3, 0.5, -0.2, 0.4, 0.1, 100.0
    # OpenGL frustum with its frame given on the plane z = -1 (so the near distance cancels out)
    p = np.array([[2 / (right - left), 0, (right + left) / (right - left), 0],
                  [0, 2 / (top - bottom), (top + bottom) / (top - bottom), 0],
                  [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)], [0, 0, -1, 0]])
    cam = CameraModel.from_projection(p, 8, 6)
    np.testing.assert_allclose(cam.frame, (left, right, bottom, top), atol=1e-12)
    assert not cam.ortho


def test_png_16_bit_is_readable_and_keeps_metadata(tmp_path) -> None:
    img = (np.arange(12 * 7).reshape(7, 12) * 700).astype(np.uint16)
    path = tmp_path / "x.png"
    write_png(path, img, {"mapping": '{"kind": "inverse"}', "note": "ünïcode"})
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and np.array_equal(back, img)
    assert read_png_text(path) == {"mapping": '{"kind": "inverse"}', "note": "ünïcode"}
    rgb = to_uint(np.random.default_rng(1).random((5, 4, 3)), 8)
    assert np.array_equal(cv2.imdecode(np.frombuffer(encode_png(rgb), np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1],
                          rgb)
    with pytest.raises(BadInput):
        encode_png(np.zeros((2, 2), np.float32))
    tagged = with_text(encode_png(rgb, {"a": "1"}, level=1), {"note": "baked"})  # pixels as they were, text added
    (tmp_path / "t.png").write_bytes(tagged)
    assert read_png_text(tmp_path / "t.png") == {"a": "1", "note": "baked"}
    assert np.array_equal(cv2.imdecode(np.frombuffer(tagged, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1], rgb)
    with pytest.raises(BadInput):
        with_text(b"GIF89a", {"note": "x"})


def test_png_of_a_view_is_the_png_of_its_copy() -> None:
    """Channels of a wider image, rows reversed, and 16-bit images are read where they lie: the same file."""
    grid = np.random.default_rng(2).integers(0, 256, (9, 6, 8), dtype=np.uint8)
    wide = np.random.default_rng(3).integers(0, 65536, (4, 5, 3), dtype=np.uint16)
    for view in (grid[..., :3], grid[::-1, :, 3], grid[:1, :, 4:8], wide[::-1], wide[..., 1]):
        png = encode_png(view, level=1)
        assert png == encode_png(np.ascontiguousarray(view), level=1)
        back = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(back if view.ndim == 2 else back[..., ::-1] if view.shape[2] == 3 else
                              cv2.cvtColor(back, cv2.COLOR_BGRA2RGBA), view)


def test_depth_files_exr_npy_png(tmp_path) -> None:
    d = np.array([[1.0, 2.0], [np.inf, 4.0]], np.float32)
    m = DepthMapping("inverse", 1.0, 4.0)
    write_depth(tmp_path / "d.exr", d, m, {"engine": "gpu"})
    channels, meta = read_exr(tmp_path / "d.exr")
    assert np.array_equal(channels["Z"], d) and json.loads(meta["mapping"])["kind"] == "inverse"
    assert meta["engine"] == "gpu"
    write_depth(tmp_path / "d.npy", d, m)
    assert np.array_equal(np.load(tmp_path / "d.npy"), d)
    assert json.loads((tmp_path / "d.json").read_text())["units"] == "metres"
    write_depth(tmp_path / "d.png", d, m)
    png = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert png[0, 0] == 65535 and png[1, 0] == 0 and png[1, 1] == 0
    with pytest.raises(BadInput, match="needs a mapping"):
        write_depth(tmp_path / "e.png", d, None)
    with pytest.raises(BadInput, match="unsupported"):
        write_depth(tmp_path / "e.jpg", d, m)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.exr", "d.json", "d.npy", "d.png"]


def test_atomic_write_leaves_nothing_on_failure(tmp_path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and len(list(tmp_path.iterdir())) == 1
