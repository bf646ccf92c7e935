# SPDX-License-Identifier: GPL-3.0-or-later
"""Texturing maths without Blender scenes: UV rasterisation, visibility, fusion, filling, views, provenance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput
from depth_addon.generation.maps import normal_from_height
from depth_addon.mapping import DepthMapping
from depth_addon.texturing import conditioning, coverage, density, fill, fusion, map_fusion, raster, sampling, views
from depth_addon.texturing import provenance as prov


def quad(uv_lo=(0.0, 0.0), uv_hi=(1.0, 1.0), z=0.0, size=2.0):
    """Two triangles: a ``size`` square in the plane ``z`` mapped to the UV box ``uv_lo..uv_hi``."""
    (u0, v0), (u1, v1) = uv_lo, uv_hi
    uv = np.array([[[u0, v0], [u1, v0], [u1, v1]], [[u0, v0], [u1, v1], [u0, v1]]], float)
    s = size
    pos = np.array([[[0, 0, z], [s, 0, z], [s, s, z]], [[0, 0, z], [s, s, z], [0, s, z]]], np.float32)
    nrm = np.tile(np.array([0, 0, 1], np.float32), (2, 3, 1))
    return uv, pos, nrm


def test_rasterize_interpolates_positions_exactly_and_finds_overlap():
    uv, pos, nrm = quad()
    g = raster.rasterize_uv(uv, pos, nrm, 64)
    assert g.count == 64 * 64 and g.overlap == 0.0
    rows, cols = np.divmod(g.index, 64)
    assert np.allclose(g.position[0], 2.0 * (cols + 0.5) / 64, atol=1e-5)  # x from u, y from v
    assert np.allclose(g.position[1], 2.0 * (rows + 0.5) / 64, atol=1e-5)
    assert np.allclose(g.normal[2], 1.0)
    half = raster.rasterize_uv(*quad((0, 0), (0.5, 0.5)), 64)
    assert half.count == 32 * 32 and half.mask()[:32, :32].all() and not half.mask()[32:].any()
    both = raster.rasterize_uv(np.concatenate([uv, uv * 0.5]), np.concatenate([pos, pos]),
                               np.concatenate([nrm, nrm]), 64)
    assert 0.2 < both.overlap < 0.3  # the half-size copy lies on a quarter of the full one
    flat = uv.copy()
    flat[0, 2] = flat[0, 1]  # zero UV area: skipped, not a crash
    assert raster.rasterize_uv(flat, pos, nrm, 16).count < 16 * 16
    degenerate = pos.copy()
    degenerate[1] = degenerate[1, 0]  # zero 3D area: the normal interpolates to zero, not NaN
    g2 = raster.rasterize_uv(uv, degenerate, np.zeros_like(nrm), 16)
    assert np.isfinite(g2.normal).all() and np.isfinite(g2.position).all()
    with pytest.raises(BadInput):
        raster.rasterize_uv(uv, pos, nrm, 3)
    with pytest.raises(BadInput):
        raster.rasterize_uv(uv[:, :2], pos, nrm, 16)


def test_rasterized_texels_hold_the_barycentric_mix_of_their_triangle():
    """Every texel's position and normal are its own triangle's corners mixed at the texel centre (the values are
    stepped along each row: checked here against the direct computation). Triangles reaching over the square's
    sides are drawn where the repeating texture shows them: a texel lies in its triangle moved by whole tiles."""
    rng, size, t = np.random.default_rng(7), 96, 60
    uv = rng.random((t, 1, 2)) * 0.9 + 0.05 + rng.normal(scale=0.08, size=(t, 3, 2))
    pos = (rng.random((t, 3, 3)) * 20.0 - 10.0).astype(np.float32)
    nrm = rng.normal(size=(t, 3, 3)).astype(np.float32)
    g = raster.rasterize_uv(uv, pos, nrm, size)
    rows, cols = np.divmod(g.index, size)
    best = None
    for tile in [(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)]:  # the copy of the triangle the texel is in
        p = (uv[g.triangle] - np.array(tile, float)) * size - 0.5  # corners in texel coordinates, per texel
        (ax, ay), (bx, by), (cx, cy) = (p[:, k].T for k in range(3))
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        w0 = ((bx - cols) * (cy - rows) - (by - rows) * (cx - cols)) / area
        w1 = ((cx - cols) * (ay - rows) - (cy - rows) * (ax - cols)) / area
        w_tile = np.stack([w0, w1, 1.0 - w0 - w1], 1)[..., None]
        inside = (w_tile > -1e-4).all(axis=(1, 2))
        best = (w_tile, inside) if best is None else (np.where(inside[:, None, None] & ~best[1][:, None, None],
                                                                w_tile, best[0]), best[1] | inside)
    w, inside = best
    assert inside.all()  # every texel centre lies in its triangle (or one of its copies a whole tile away)
    assert np.abs((w * pos[g.triangle]).sum(1).T - g.position).max() < 1e-4
    normal = (w * nrm[g.triangle]).sum(1).T
    normal /= np.linalg.norm(normal, axis=0)
    ok = np.linalg.norm((w * nrm[g.triangle]).sum(1), axis=1) > 1e-2  # away from normals that cancel out
    assert np.abs(normal[:, ok] - g.normal[:, ok]).max() < 1e-4


def test_fill_keeps_known_texels_and_leaves_no_background():
    rgb = np.zeros((64, 64, 3), np.float32)
    known = np.zeros((64, 64), bool)
    known[10:20, 10:30] = True
    rgb[known] = (1.0, 0.5, 0.25)
    out = fill.fill_texture(rgb, known, known, padding=2)
    assert np.allclose(out, (1.0, 0.5, 0.25), atol=1e-5)  # one island: every texel takes its colour
    grown, mask = fill.dilate(rgb, known, 2)
    assert mask[8:22, 8:32].all() and not mask[7, 15] and np.allclose(grown[mask], (1.0, 0.5, 0.25))
    rgb[40:50, 40:60] = (0.0, 0.0, 1.0)
    known[40:50, 40:60] = True
    out = fill.push_pull(rgb, known)
    assert np.array_equal(out[known], rgb[known])
    between = out[30, 35]
    assert 0.0 < between[0] < 1.0 and 0.0 < between[2] < 1.0  # a smooth blend between the islands
    assert np.allclose(fill.push_pull(rgb, np.zeros((64, 64), bool)), 0.0)


def test_nearest_source_takes_the_closest_painted_texel_in_every_channel():
    values = np.zeros((32, 48, 6), np.float32)
    seen = np.zeros((32, 48), bool)
    seen[4:10, 2:8], seen[20:28, 36:44] = True, True
    values[4:10, 2:8] = np.arange(6, dtype=np.float32) / 10.0  # one material ...
    values[20:28, 36:44] = 1.0 - np.arange(6, dtype=np.float32) / 10.0  # ... and another
    source = fill.nearest_source(seen)
    assert source.dtype == np.int32 and source.shape == (32 * 48,)
    out = values.reshape(-1, 6)[source].reshape(values.shape)
    assert np.array_equal(out[seen], values[seen])  # painted texels keep their values
    assert np.array_equal(out[0, 0], values[4, 2]) and np.array_equal(out[31, 47], values[27, 43])
    assert np.array_equal(out[14, 20], values[4, 2])  # nearer the first island: its values, never a mix
    assert set(np.unique(out[..., 0])) == {0.0, 1.0}


def test_filled_maps_gather_each_texel_from_its_nearest_painted_texel_into_separate_maps():
    size, rng = 32, np.random.default_rng(3)
    texels = rng.permutation(size * size)[:700]  # covered texels, in no particular order
    values = rng.uniform(-0.5, 1.5, (texels.size, 6)).astype(np.float32)
    seen = rng.random(texels.size) < 0.8
    grid = np.zeros((size * size, 6), np.float32)
    grid[texels] = values
    painted = np.zeros(size * size, bool)
    painted[texels[seen]] = True
    expected = grid[fill.nearest_source(painted.reshape(size, size))].reshape(size, size, 6)
    kept = values.copy()
    out = map_fusion.filled_maps(values, texels, seen, size, 0.01)
    assert np.array_equal(values, kept), "the caller's values are never clipped in place"
    lit = np.concatenate([rng.random((texels.size, 3), np.float32), values], 1)  # lit colours first: not read
    assert all(np.array_equal(m, out[k]) for k, m in map_fusion.filled_maps(lit, texels, seen, size, 0.01).items())
    as_bytes = images_bytes(expected)
    assert np.array_equal(out["albedo"], as_bytes[..., :3])  # rounded as Blender stores floats in a byte image
    assert np.array_equal(out["roughness"], as_bytes[..., 3]) and np.array_equal(out["metallic"], as_bytes[..., 4])
    assert np.array_equal(out["height"], expected[..., 5]) and out["height"].min() < 0  # metres: not clipped
    assert out["normal"].shape == (size, size, 3)
    assert {k: m.dtype for k, m in out.items()} == {"albedo": np.uint8, "roughness": np.uint8, "metallic": np.uint8,
                                                    "normal": np.uint8, "height": np.float32}
    assert all(m.flags.c_contiguous for m in out.values())  # images read them row by row
    flat = np.array([[[0.5, 0.5, 1.0]]], np.float32)
    assert np.array_equal(out["normal"], images_bytes(normal_from_height(out["height"], 0.01)))
    empty = map_fusion.filled_maps(values, texels, np.zeros(texels.size, bool), size, 0.01)  # no view paints it
    assert not empty["albedo"].any() and (empty["normal"] == images_bytes(flat)).all()
    one = np.array([[2.0, 0.5, -1.0, 3.0, np.nan, 7.0]], np.float32)
    single = map_fusion.filled_maps(one, np.array([0]), np.array([True]), 1, 0.01)
    assert single["albedo"].tolist() == [[[255, 128, 0]]] and single["roughness"].tolist() == [[255]]
    assert single["metallic"].tolist() == [[0]] and single["height"].tolist() == [[7.0]]  # NaN: 0


def images_bytes(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to bytes half up, clipped to [0, 1], as Blender stores floats in a byte image."""
    return np.floor(np.clip(values, 0, 1) * np.float32(255) + np.float32(0.5)).astype(np.uint8)


def facing_camera(z_eye=0.0, fov=60.0, n=32) -> CameraModel:
    """A camera at (0, 0, z_eye) looking down -Z."""
    m = np.eye(4)
    m[2, 3] = z_eye
    return CameraModel.from_fov(n, n, fov, matrix_world=tuple(map(tuple, m)))


def test_visibility_excludes_occluded_points():
    cam = facing_camera()
    x, y = cam.pixel_plane_coords()
    card = (np.abs(3 * x[None, :]) < 0.3) & (np.abs(3 * y[:, None]) < 0.3)  # a card at z=-3 covers the middle
    depth = np.where(card, 3.0, 6.0).astype(np.float32)
    view = fusion.View(cam, depth)
    pts = fusion.as_soa([[0.0, 0.0, -6.0], [2.5, 0.0, -6.0], [0.0, 0.0, -3.0], [0.0, 0.0, 1.0]])
    nrm = fusion.as_soa(np.tile([0.0, 0.0, 1.0], (4, 1)))
    s = fusion.sample_view(view, pts, nrm)
    assert s.visible.tolist() == [False, True, True, False]  # behind the card, free wall, the card, behind us
    away = fusion.sample_view(view, pts, -nrm)
    assert not away.visible.any()  # back faces are not painted
    assert fusion.sample_view(view, pts, -nrm, two_sided=True).visible.tolist() == [False, True, True, False]


def test_grazing_plane_has_no_false_occlusion():
    """A floor seen at a grazing angle: points between pixel centres pass thanks to the slack."""
    tilt = np.radians(80.0)  # looking almost along the floor
    m = np.eye(4)
    m[:3, :3] = [[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]]
    m[2, 3] = 1.0
    cam = CameraModel.from_fov(64, 64, 50.0, matrix_world=tuple(map(tuple, m)))
    rng = np.random.default_rng(1)
    pts = np.stack([rng.uniform(-3, 3, 4000), rng.uniform(2, 40, 4000), np.zeros(4000)], 1)
    col, row, z = fusion.project_points(cam, fusion.as_soa(pts))
    keep = (col >= 0) & (col < 64) & (row >= 0) & (row < 64) & (z > 0)
    pts = pts[keep]
    # exact floor depth at each pixel centre: ray/plane intersection
    xs, ys = cam.pixel_plane_coords()
    dirs = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], -np.ones((64, 64))), -1) @ m[:3, :3].T
    t = -m[2, 3] / dirs[..., 2]
    depth = np.where(t > 0, t, np.inf).astype(np.float32)  # camera Z = t for rays with z = -1
    view = fusion.View(cam, depth)
    nrm = fusion.as_soa(np.tile([0.0, 0.0, 1.0], (len(pts), 1)))
    seen = fusion.sample_view(view, fusion.as_soa(pts), nrm, tolerance=0.005).visible.mean()
    assert seen > 0.999
    naive = z[keep] <= depth.reshape(-1)[(row[keep].astype(int) * 64 + col[keep].astype(int))] * 1.005
    assert naive.mean() < 0.9  # without the slack a plain relative tolerance speckles the floor


def test_fusion_blends_by_facing_and_flips_inverted_normals():
    pts = fusion.as_soa([[0.0, 0.0, -5.0]])
    front = facing_camera()
    m = np.eye(4)
    m[:3, :3] = [[np.cos(1.0), 0, np.sin(1.0)], [0, 1, 0], [-np.sin(1.0), 0, np.cos(1.0)]]
    m[:3, 3] = np.array([0, 0, -5.0]) + 5.0 * m[:3, 2]  # same distance, 57° off the normal
    side = CameraModel.from_fov(32, 32, 60.0, matrix_world=tuple(map(tuple, m)))
    va = fusion.View(front, np.full((32, 32), 5.0, np.float32), image=np.full((32, 32, 3), 1.0, np.float32))
    vb = fusion.View(side, np.full((32, 32), 5.0, np.float32), image=np.zeros((32, 32, 3), np.float32))
    nrm = fusion.as_soa([[0.0, 0.0, 1.0]])
    colour, weight = fusion.accumulate([va, vb], pts, nrm, exponent=2.0)
    wa, wb = 1.0, np.cos(1.0) ** 2
    assert colour[0] == pytest.approx([wa / (wa + wb)] * 3, abs=1e-3) and weight[0] > 0
    flipped, _ = fusion.accumulate([va, vb], pts, -nrm, exponent=2.0)
    assert flipped[0] == pytest.approx(colour[0], abs=1e-5)  # inverted normals are detected and reversed
    assert fusion.facing_votes([va, vb], pts, -nrm) == 0.0


def test_best_view_selection_keeps_one_view_and_feathers_only_where_told():
    pts = fusion.as_soa([[0.0, 0.0, -5.0], [0.1, 0.0, -5.0]])
    front = facing_camera()
    m = np.eye(4)
    m[:3, :3] = [[np.cos(1.0), 0, np.sin(1.0)], [0, 1, 0], [-np.sin(1.0), 0, np.cos(1.0)]]
    m[:3, 3] = np.array([0, 0, -5.0]) + 5.0 * m[:3, 2]
    side = CameraModel.from_fov(32, 32, 60.0, matrix_world=tuple(map(tuple, m)))
    va = fusion.View(front, np.full((32, 32), 5.0, np.float32), image=np.full((32, 32, 3), 1.0, np.float32))
    vb = fusion.View(side, np.full((32, 32), 5.0, np.float32), image=np.zeros((32, 32, 3), np.float32))
    nrm = fusion.as_soa([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    blend, w_blend = fusion.accumulate([va, vb], pts, nrm, select="blend")
    best, w_best = fusion.accumulate([va, vb], pts, nrm, select="best")
    assert 0.3 < blend[0, 0] < 0.9  # the blend mixes the two views ...
    assert best[:, 0] == pytest.approx([1.0, 1.0], abs=1e-4)  # ... the best view (head-on) wins outright
    assert w_best == pytest.approx(w_blend)  # the weight still says how well the point was seen
    towards_side = fusion.as_soa([[0.0, 0.0, 1.0], m[:3, 2]])  # the second point faces the side view
    hard, _ = fusion.accumulate([va, vb], pts, towards_side, select="best")
    assert hard[:, 0] == pytest.approx([1.0, 0.0], abs=1e-4)  # each point keeps its own best view
    # the hand-over filter decides the mix: here a "blur" over all points, so both views count half everywhere
    half, _ = fusion.accumulate([va, vb], pts, towards_side, select="best",
                                smooth=lambda share: np.full_like(share, share.mean()))
    assert half[:, 0] == pytest.approx([0.5, 0.5], abs=1e-4)
    with pytest.raises(BadInput, match="view selection"):
        fusion.accumulate([va, vb], pts, nrm, select="median")


def test_auto_bake_size_follows_the_views_pixel_density():
    cam = facing_camera(n=64)  # a plane 5 m in front, seen head-on
    depth = np.full((64, 64), 5.0, np.float32)
    view = fusion.View(cam, depth)
    per_metre = 64 / (cam.frame[1] - cam.frame[0]) / 5.0
    xs = np.linspace(-0.5, 0.5, 20)
    pts = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    xyz = fusion.as_soa(np.c_[pts, np.full(len(pts), -5.0)])
    nrm = fusion.as_soa(np.tile([0.0, 0.0, 1.0], (len(pts), 1)))
    assert density.view_density([view], xyz, nrm) == pytest.approx(np.full(len(pts), per_metre), rel=1e-4)
    # 1000 m² on the whole texture: texels/m = size / 31.6, and 1.5 × 11.1 px/m needs 526 texels → 1024
    choice = density.bake_size_for([view], xyz, nrm, probe_texels=128 * 128, probe_size=128, surface_area=1000.0)
    assert choice.size == 1024 and choice.texel_density >= density.OVERSAMPLING * per_metre
    assert not choice.wasteful and not choice.capped
    small = density.bake_size_for([view], xyz, nrm, probe_texels=128 * 128 // 10, probe_size=128,
                                  surface_area=100.0, cap=512)
    assert small.wasteful and small.capped and small.size == 512
    unseen = density.bake_size_for([], xyz, nrm, probe_texels=100, probe_size=128, surface_area=1.0)
    assert unseen.size == density.AUTO_MIN and unseen.view_density == 0.0


def test_gain_offset_fit_recovers_and_clamps():
    rng = np.random.default_rng(0)
    src = rng.uniform(0.1, 0.8, (500, 3))
    gain, offset = conditioning.fit_gain_offset(src, src * [1.2, 0.9, 1.0] + [0.05, -0.02, 0.0])
    assert gain == pytest.approx([1.2, 0.9, 1.0], abs=1e-3) and offset == pytest.approx([0.05, -0.02, 0.0], abs=1e-3)
    g2, _ = conditioning.fit_gain_offset(src, src * 5.0)
    assert (g2 <= 1.6 + 1e-6).all()
    g3, o3 = conditioning.fit_gain_offset(src[:3], src[:3] * 2)
    assert np.allclose(g3, 1.0) and np.allclose(o3, 0.0)  # too few samples: identity


def test_conditioning_trimap_and_normals():
    cam = facing_camera(n=16)
    flat = fusion.View(cam, np.full((16, 16), 4.0, np.float32))
    n = conditioning.normals_from_depth(flat.depth, cam)
    assert np.allclose(n[..., 2], 1.0, atol=1e-4)
    earlier = fusion.View(cam, flat.depth.copy(), image=np.full((16, 16, 3), 0.25, np.float32))
    prior = conditioning.reproject([earlier], flat)
    assert (prior.weight > 0).all() and np.allclose(prior.colour, 0.25, atol=1e-4)
    assert (conditioning.trimap(prior) == conditioning.KEEP).all()  # painted head-on already: keep
    prior.facing[:8] = 0.3  # painted from a poor angle: this head-on view refines it
    prior.weight[:, :4] = 0.0  # never painted: generate
    labels = conditioning.trimap(prior)
    assert (labels[8:, 4:] == conditioning.KEEP).all() and (labels[:8, 4:] == conditioning.REFINE).all()
    assert (labels[:, :4] == conditioning.GENERATE).all()
    image, share, _labels, _gain = conditioning.condition(np.full((16, 16, 3), 0.75, np.float32), prior,
                                                          np.ones((16, 16), bool), harmonise=False, feather=0)
    assert np.allclose(image[12, 12], 0.25) and np.allclose(image[4, 12], 0.5) and np.allclose(image[4, 1], 0.75)
    assert share[12, 12] == 0.0 and share[4, 1] == 1.0


def test_view_placements():
    dirs = views.orbit_directions(6, elevation_deg=30.0)
    assert dirs.shape == (6, 3) and np.allclose(np.linalg.norm(dirs, axis=1), 1.0)
    assert np.allclose(dirs[:, 2], np.sin(np.radians(30.0)))
    hemi = views.hemisphere_directions(10)
    assert (hemi[:, 2] > 0).all() and np.allclose(np.linalg.norm(hemi, axis=1), 1.0)
    m = views.look_at(np.array([0.0, -5.0, 2.0]), np.zeros(3))
    assert np.allclose(m[:3, :3].T @ m[:3, :3], np.eye(3), atol=1e-9)
    assert np.allclose(-m[:3, 2], -np.array([0.0, -5.0, 2.0]) / np.linalg.norm([0, -5, 2]))
    assert np.isfinite(views.look_at(np.array([0, 0, 5.0]), np.zeros(3))).all()  # straight down works too
    cam = views.framing_camera(np.array([1.0, 0.0, 0.0]), np.array([1.0, 2.0, 3.0]), 2.0, (64, 48))
    pts = np.array([1.0, 2.0, 3.0]) + 2.0 * np.array([[0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
    col, row, z = fusion.project_points(cam, fusion.as_soa(pts))
    assert ((col > 0) & (col < 64) & (row > 0) & (row < 48) & (z > 0)).all()  # the sphere fits the frame
    with pytest.raises(BadInput):
        views.place_views("spiral", 4, np.zeros(3), 1.0)


def test_greedy_placement_adds_the_view_that_sees_uncovered_surface():
    """Samples on the +X and -X faces of a block: after one side, the next pick must see the other."""
    rng = np.random.default_rng(0)
    pts = np.concatenate([np.stack([np.full(300, s), rng.uniform(-1, 1, 300), rng.uniform(-1, 1, 300)], 1)
                          for s in (0.5, -0.5)])
    nrm = np.concatenate([np.tile([1.0, 0, 0], (300, 1)), np.tile([-1.0, 0, 0], (300, 1))])
    cands = [views.framing_camera(d, np.zeros(3), 1.5, (64, 64)) for d in ([1.0, 0, 0.1], [1.0, 0.2, 0.1],
                                                                           [-1.0, 0, 0.1], [0, 0, 1.0])]
    chosen, fractions = views.greedy_views(pts, nrm, np.ones(600), cands, 2)
    assert sorted(chosen) in ([0, 2], [1, 2]) and fractions[-1] > 0.95 and fractions[0] < 0.6
    cover = coverage.coverage_counts([fusion.View(cands[0], np.full((64, 64), np.inf, np.float32))],
                                     fusion.as_soa(pts), fusion.as_soa(nrm))
    assert (cover[:300] == 1).all() and (cover[300:] == 0).all()
    assert np.allclose(coverage.heat_colours(np.array([0, 1, 5])), coverage.HEAT)


def test_provenance_round_trip(tmp_path):
    cam = facing_camera()
    rec = prov.provenance("multiview", "red brick", 7, "baseline", [cam, cam], DepthMapping("inverse", 1.0, 9.0),
                          negative_prompt="blurry", weights_hash="abc", frame=12, options={"bake_size": 512})
    back = prov.loads(prov.dumps(rec))
    assert back == rec and back["depth_range"] == [1.0, 9.0] and back["frame"] == 12
    assert prov.cameras_of(back)[0] == cam and prov.mapping_of(back) == DepthMapping("inverse", 1.0, 9.0)
    meta = prov.metadata_text(rec)
    assert prov.loads(meta[prov.META_KEY]) == rec and meta["seed"] == "7" and meta["negative_prompt"] == "blurry"
    for bad in (lambda: prov.provenance("nope", "", 0, "g", [cam]), lambda: prov.provenance("bake", "", 0, "g", []),
                lambda: prov.provenance("bake", "", 0, "g", [cam], options={"x": object()}),
                lambda: prov.loads("{}"), lambda: prov.loads("not json")):
        with pytest.raises(BadInput):
            bad()

    class Weighted:
        weights_hash = "sha256:1234"

    assert prov.generator_fingerprint(Weighted()) == "sha256:1234"

    class FromFile:
        weights = tmp_path / "net.safetensors"

    (tmp_path / "net.json").write_text('{"sha256": "ab12"}')
    assert prov.generator_fingerprint(FromFile()) == "sha256:ab12"
    assert prov.generator_fingerprint(object()).startswith("code:")


def test_fusion_keeps_the_channel_count_when_no_view_sees_the_points():
    cam = facing_camera()
    stack = fusion.View(cam, np.full((32, 32), 5.0, np.float32), image=np.ones((32, 32, 9), np.float32))
    behind = fusion.as_soa([[0.0, 0.0, 5.0], [0.1, 0.0, 6.0]])  # behind the camera
    nrm = fusion.as_soa([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    for select in fusion.SELECTIONS:
        colour, weight = fusion.accumulate([stack], behind, nrm, select=select)
        assert colour.shape == (2, 9) and not colour.any() and not weight.any()
    rgba = dataclasses.replace(stack, image=np.ones((32, 32, 4), np.float32))
    assert fusion.accumulate([rgba], behind, nrm)[0].shape == (2, 3)  # alpha is not a colour


def test_one_view_fusion_gives_the_views_colours_in_every_channel():
    cam = facing_camera()
    rng = np.random.default_rng(3)
    image = rng.random((32, 32, 9)).astype(np.float32)
    view = fusion.View(cam, np.full((32, 32), 5.0, np.float32), image=image)
    pts = fusion.as_soa(np.c_[rng.uniform(-2, 2, (50, 2)), np.full(50, -5.0)])
    nrm = fusion.as_soa(np.tile([0.0, 0.0, 1.0], (50, 1)))
    s = fusion.sample_view(view, pts, nrm)
    assert s.index.size == 50
    want = view.colour_at(s.col, s.row)
    for select in fusion.SELECTIONS:
        colour, _weight = fusion.accumulate([view], pts, nrm, select=select)
        assert np.allclose(colour, want, atol=1e-6)
    kept = np.ones((32, 32), np.float32)
    kept[:, :16] = 0.0  # conditioning keeps earlier paint on the left: this view adds nothing there
    left = s.col < 16
    for select in fusion.SELECTIONS:
        colour, weight = fusion.accumulate([dataclasses.replace(view, contribution=kept)], pts, nrm, select=select)
        assert not weight[left].any() and not colour[left].any()  # no weight, no colour
        assert (weight[~left] > 0).all() and np.allclose(colour[~left], want[~left], atol=1e-6)
    per_channel = np.concatenate([sampling.bilinear(image[..., k], s.col, s.row, cubic=True) for k in range(9)], 1)
    assert np.allclose(sampling.bilinear(image, s.col, s.row, cubic=True), per_channel, atol=1e-6)

