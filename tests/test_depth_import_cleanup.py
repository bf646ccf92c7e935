# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth import core (no bpy), after reading: clean-up steps, the pixel grid and the whole ``prepare``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depth_addon.depth_import import ImportOptions, Intrinsics, prepare
from depth_addon.depth_import import preprocess as pp
from depth_addon.depth_import.grid import build_grid, plan_grid, plane_grid, plane_step
from depth_addon.errors import BadInput
from depth_addon.io.png import write_png

RNG = np.random.default_rng(7)


def _step(h: int = 32, w: int = 32, near: float = 2.0, far: float = 4.0) -> np.ndarray:
    d = np.full((h, w), far, np.float32)
    d[:, : w // 2] = near
    return d


def test_fill_holes_fills() -> None:
    d = np.full((40, 40), 3.0, np.float32) + np.linspace(0, 1, 40, dtype=np.float32)[None]
    d[10:14, 10:14], d[20, 30], d[30:32, 5] = np.nan, 0.0, np.inf
    out = pp.fill_holes(d)
    assert pp.valid_mask(out).all() and np.allclose(out[12, 12], d[12, 9:15:5].mean(), atol=0.05)
    big = d.copy()
    big[:, 25:] = np.nan
    part = pp.fill_holes(big, max_hole=20)
    assert np.isfinite(part[12, 12]) and np.isnan(part[5, 30])


def test_tearing_removes_faces_across_a_jump() -> None:
    d = _step()
    keep = pp.face_mask(d, 1.1)
    assert not keep[:, 15].any() and keep[:, :15].all() and keep[:, 16:].all()
    assert pp.face_mask(d).all() and pp.face_mask(d, 2.5).all()
    torn = pp.torn_pixels(d, 1.1)
    assert torn[:, 15:17].all() and not torn[:, :15].any()
    d[3, 3] = np.nan
    assert not pp.face_mask(d)[2:4, 2:4].any()


@pytest.mark.parametrize("method", ["bilateral", "guided"])
def test_denoise_reduces_noise_keeps_the_step(method: str) -> None:
    clean = _step(48, 48)
    noisy = clean * (1 + 0.01 * RNG.standard_normal(clean.shape)).astype(np.float32)
    if method == "bilateral":
        out = pp.denoise_bilateral(noisy, sigma=0.05, radius=3)
    else:
        guide = np.repeat((clean == 2.0)[..., None], 3, 2).astype(np.float32)  # the colour edge = the depth edge
        out = pp.denoise_guided(noisy, guide, radius=4, eps=1e-3)
    flat = np.s_[:, 5:18], np.s_[:, 30:43]
    for region in flat:
        assert np.std(out[region] / clean[region]) < 0.5 * np.std(noisy[region] / clean[region])
    assert abs(out[:, 22].mean() - 2.0) < 0.03 and abs(out[:, 25].mean() - 4.0) < 0.06  # edge kept


@pytest.mark.parametrize("method", ["bilateral", "guided"])
def test_denoise_leaves_a_clean_sloped_plane_on_its_plane_up_to_the_border(method: str) -> None:
    """The filters see the surface go on past the image border: a plane's border pixels stay on it."""
    h, w, f = 48, 64, 60.0
    v, u = np.mgrid[0:h, 0:w] + 0.5
    n = np.array([0.3, -0.4, 1.0]) / np.linalg.norm([0.3, -0.4, 1.0])
    plane = (3.0 / (n[0] * (u - w / 2) / f + n[1] * (v - h / 2) / f + n[2])).astype(np.float32)
    guide = np.full((h, w, 3), 0.5, np.float32)
    out = pp.denoise_bilateral(plane) if method == "bilateral" else pp.denoise_guided(plane, guide)
    error = np.abs(out / plane - 1.0)
    assert error[4:-4, 4:-4].max() < 1e-3 and error.max() < 2e-3, (error[4:-4, 4:-4].max(), error.max())


def test_clip_normalise_downsample_and_pipeline() -> None:
    d = np.linspace(1, 2, 100, dtype=np.float32).reshape(10, 10)
    d[0, 0] = 500.0
    assert pp.clip_percentiles(d, 0, 98)[0, 0] < 3.0
    n = pp.normalise_range(d, 1.0, 5.0)
    assert np.isclose(np.nanmin(n), 1.0) and np.isclose(np.nanmax(n), 5.0)
    small = pp.downsample(np.arange(49, dtype=np.float32).reshape(7, 7) + 1, 2)
    assert small.shape == (3, 3) and small[0, 0] == np.median([1, 2, 8, 9])
    intr = Intrinsics.from_fov(10, 10, 60.0)
    res = pp.Preprocess(clip=(1, 99), fill_holes=True, denoise="bilateral", downsample=2, tear_ratio=1.5).run(
        d, intr, None, True)
    assert set(res.stages) == {"input", "clip", "fill", "denoise", "downsample", "tear"}
    assert res.depth.shape == (5, 5) and res.intrinsics.width == 5 and res.keep.shape == (4, 4)
    with pytest.raises(BadInput, match="guided"):
        pp.Preprocess(denoise="guided").run(d, intr)


# --- grid ------------------------------------------------------------------------------------------


def test_full_grid_counts_positions_and_uvs() -> None:
    d = (2 + RNG.random((6, 8))).astype(np.float32)
    cam = Intrinsics.from_fov(8, 6, 70.0)
    g = build_grid(d, cam.frame, np.ones((5, 7), bool))
    assert (len(g.vertices), g.face_count, len(g.edges)) == (48, 35, 6 * 7 + 5 * 8)
    plan = plan_grid(np.ones((5, 7), bool))
    assert (plan.vertex_count, plan.edge_count, plan.face_count, plan.padded) == (48, 6 * 7 + 5 * 8, 35, None)
    assert np.allclose(g.vertices, cam.camera_model().unproject(d).reshape(-1, 3))
    uv = g.uvs.reshape(-1, 4, 2)[0]
    u0, u1, v0, v1 = 0.5 / 8, 1.5 / 8, 1 - 0.5 / 6, 1 - 1.5 / 6
    assert np.allclose(uv, [[u0, v0], [u0, v1], [u1, v1], [u1, v0]])


@pytest.mark.parametrize("seed", range(6))
def test_grid_with_dropped_faces_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = rng.integers(2, 9, 2)
    keep = rng.random((h - 1, w - 1)) < (0.5 if seed % 2 else 0.9)
    keep[0, 0] = True
    g = build_grid((1 + rng.random((h, w))).astype(np.float32), (-1, 1, -1, 1), keep)
    pix = g.vertex_pixels()
    cv, ce = g.corner_verts.reshape(-1, 4), g.corner_edges.reshape(-1, 4)
    ref = {(i * w + j, (i + 1) * w + j, (i + 1) * w + j + 1, i * w + j + 1)
           for i in range(h - 1) for j in range(w - 1) if keep[i, j]}
    assert {tuple(pix[c]) for c in cv} == ref
    ref_edges = {frozenset((f[k], f[(k + 1) % 4])) for f in ref for k in range(4)}
    assert {frozenset(pix[e]) for e in g.edges} == ref_edges and len(g.edges) == len(ref_edges)
    plan = plan_grid(keep)  # the sizes Blender allocates before the arrays exist
    assert (plan.vertex_count, plan.edge_count, plan.face_count) == (len(g.vertices), len(g.edges), g.face_count)
    for c, e in zip(cv, ce, strict=True):
        assert all(set(g.edges[e[k]]) == {c[k], c[(k + 1) % 4]} for k in range(4))
    assert np.array_equal(np.unique(cv), np.arange(len(g.vertices)))  # no unused vertex


def test_prepare_colour_mismatch_and_options(tmp_path: Path) -> None:
    d = (2 + RNG.random((10, 16))).astype(np.float32)
    color = RNG.random((20, 32, 3)).astype(np.float32)
    p = prepare(d, color)
    assert p.color.shape == (20, 32, 3) and not any("colour image" in w for w in p.warnings)  # kept at its size
    with pytest.raises(BadInput, match="colour image"):
        prepare(d, color, ImportOptions(color_mismatch="refuse"))
    write_png(tmp_path / "c.png", np.zeros((10, 16, 3), np.uint8))
    p = prepare(d, tmp_path / "c.png", ImportOptions(fov=60.0))  # a lens given: nothing to warn about
    assert p.color is None and p.color_path == str(tmp_path / "c.png") and not p.warnings
    with pytest.raises(BadInput, match="unknown import option"):
        ImportOptions.from_flat(colour="x")
    assert ImportOptions.from_flat(values="inverse", focal_px=50, tear_ratio=None).values.kind == "inverse"
    bytes_as_floats = np.full((10, 16, 3), 200.0, np.float32)  # 0-255 values in a float array
    p = prepare(d, bytes_as_floats, ImportOptions(fov=60.0))
    assert np.allclose(p.color, 200.0 / 255.0) and any("divided by 255" in w for w in p.warnings)
    highlights = np.full((10, 16, 3), 0.5, np.float32)
    highlights[2, 3] = 7.25  # a render's float colour with a specular highlight: not bytes
    assert not any("divided by 255" in w for w in prepare(d, highlights, ImportOptions(fov=60.0)).warnings)
    with pytest.raises(BadInput, match="no finite value"):
        prepare(d, np.full((10, 16, 3), np.nan, np.float32))
    with pytest.raises(BadInput, match="at least 0"):
        ImportOptions.from_flat(fill_holes=True, max_hole=-1)


def test_plane_grid_for_material_displacement() -> None:
    assert (plane_step(2048, 2048), plane_step(512, 300), plane_step(32, 24), plane_step(129, 10)) == (16, 4, 1, 2)
    h, w = 40, 70
    keep = np.ones((h - 1, w - 1), bool)
    keep[20:25, 30:33] = False  # a hole: every coarse face overlapping it goes
    cam = Intrinsics.from_fov(w, h, 60.0)
    g = plane_grid((h, w), cam.frame, keep, 8, 2.0)
    rows, cols = np.linspace(0, h - 1, 6), np.linspace(0, w - 1, 10)  # ceil(39/8) = 5, ceil(69/8) = 9 faces
    assert g.step == 8 and g.face_count == 5 * 9 - 4 and np.all(g.vertices[:, 2] == 0)
    left, right, bottom, top = cam.frame
    assert np.allclose(g.vertices[0, :2], [(left + 0.5 * (right - left) / w) * 2, (top - 0.5 * (top - bottom) / h) * 2])
    assert np.allclose(g.vertices[-1, :2], [(right - 0.5 * (right - left) / w) * 2,
                                            (bottom + 0.5 * (top - bottom) / h) * 2])
    pix = g.vertex_pixels()[g.corner_verts]
    r, c = np.divmod(pix, cols.size)
    assert np.allclose(g.uvs, np.stack([(cols[c] + 0.5) / w, 1 - (rows[r] + 0.5) / h], 1))
    faces = {(r[k], c[k]) for k in range(0, len(r), 4)}  # top-left corner of each face
    # pixel faces 20–24 × 30–32 lie in coarse rows 15.6–23.4–31.2 and columns 23–30.7–38.3
    assert faces.isdisjoint({(2, 3), (2, 4), (3, 3), (3, 4)}) and {(1, 3), (2, 2), (4, 4)} <= faces
    assert np.array_equal(np.unique(g.corner_verts), np.arange(len(g.vertices)))
    sparse = np.zeros((h - 1, w - 1), bool)
    sparse[3, 4] = True  # no coarse face is fully kept: the step halves down to 1
    assert plane_grid((h, w), cam.frame, sparse, 8, 1.0).step == 1


def test_a_hole_beside_an_edge_is_filled_from_the_surface_behind() -> None:
    """A sensor's hole next to an object (its shadow on the wall) is wall: filling it must not ramp from the object
    to the wall, which would join them by a sheet no tearing cuts. A hole on a steep floor still fills smoothly."""
    wall = np.full((40, 40), 6.0, np.float32) + np.arange(40, dtype=np.float32)[None] * np.float32(0.02)
    d = wall.copy()
    d[8:30, 10:20] = 3.0  # a box in front of the wall
    d[8:30, 20:24] = np.nan  # its shadow: the wall there is unseen
    out = pp.fill_holes(d)
    assert np.abs(out[8:30, 20:24] / wall[8:30, 20:24] - 1).max() < 0.02
    assert pp.face_mask(out, 1.1)[8:29, 19].sum() == 0  # the box and the filled wall stay apart

    floor = (2.0 * 4.0 ** (np.arange(40, dtype=np.float32) / 40))[::-1, None] * np.ones((1, 40), np.float32)
    d = floor.copy()
    d[15:25, 15:25] = np.nan  # its border spans a depth ratio of 1.4 without a jump
    assert np.abs(pp.fill_holes(d)[15:25, 15:25] / floor[15:25, 15:25] - 1).max() < 0.1  # both sides: not the far one
