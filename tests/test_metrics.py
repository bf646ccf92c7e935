# SPDX-License-Identifier: GPL-3.0-or-later
"""The quality metric suite on constructed images: each metric moves in the expected direction."""

from __future__ import annotations

import numpy as np

from depth_addon.generation import metrics as M

FRAME = (-0.5, 0.5, -0.5, 0.5)


def box_scene(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A near square (depth 3) on a far wall (depth 6), and the square's mask."""
    depth = np.full((n, n), 6.0, np.float32)
    box = np.zeros((n, n), bool)
    box[n // 4: 3 * n // 4, n // 4: 3 * n // 4] = True
    depth[box] = 3.0
    return depth, box


def ground_plane(n: int = 64) -> np.ndarray:
    """A grazing ground plane filling the lower half, background above."""
    y = 0.5 - (np.arange(n) + 0.5) / n
    with np.errstate(divide="ignore"):
        t = np.where(y < 0, -1.5 / y, np.inf)
    return np.repeat(t[:, None], n, 1).astype(np.float32)


def test_discontinuities_on_box_not_on_grazing_plane():
    depth, box = box_scene()
    edges = M.discontinuities(depth)
    assert edges[16, 20:44].any() or edges[15, 20:44].any()
    assert not edges[30:34, 30:34].any()
    ground = ground_plane()
    e = M.discontinuities(ground)
    assert not e[40:, :].any()


def test_bcr_high_for_steps_at_depth_edges_low_for_noise():
    depth, box = box_scene()
    rng = np.random.default_rng(0)
    step = np.where(box[..., None], [0.9, 0.2, 0.1], [0.1, 0.3, 0.8]).astype(np.float32)
    step += rng.normal(0, 0.01, step.shape).astype(np.float32)
    noise = rng.uniform(0, 1, step.shape).astype(np.float32)
    assert M.boundary_contrast(step, depth) > 5.0
    assert M.boundary_contrast(noise, depth) < 1.5


def test_boundary_recall_step_vs_flat():
    depth, box = box_scene()
    step = np.where(box[..., None], 0.9, 0.1).astype(np.float32) * np.ones(3, np.float32)
    flat = np.full(step.shape, 0.5, np.float32)
    assert M.boundary_recall(step, depth) > 0.9
    assert M.boundary_recall(flat, depth) == 0.0


def test_shading_r2_lambert_vs_noise():
    n = 64
    yy, xx = np.mgrid[0:n, 0:n] / n
    depth = (4.0 + 0.8 * np.sin(3 * xx) + 0.6 * np.cos(4 * yy)).astype(np.float32)
    normals = M.depth_normals(depth, FRAME)
    lam = np.clip(normals @ np.array([0.4, 0.6, 0.7]), 0, 1)
    shaded = np.repeat(lam[..., None], 3, -1).astype(np.float32)
    noise = np.random.default_rng(1).uniform(0, 1, shaded.shape).astype(np.float32)
    assert M.shading_r2(shaded, depth, FRAME) > 0.9
    assert M.shading_r2(noise, depth, FRAME) < 0.1


def test_seed_diversity_directions():
    rng = np.random.default_rng(2)
    same = [np.full((32, 32, 3), 0.5, np.float32)] * 3
    assert M.seed_diversity(same) == (0.0, 0.0)
    grain = [np.clip(0.5 + rng.normal(0, 0.2, (32, 32, 3)), 0, 1).astype(np.float32) for _ in range(3)]
    palette = [np.full((32, 32, 3), v, np.float32) for v in (0.2, 0.5, 0.8)]
    full_g, low_g = M.seed_diversity(grain)
    full_p, low_p = M.seed_diversity(palette)
    assert full_g > 0.1 and low_g < 0.05  # pixel noise: high at full resolution, gone at 1/8
    assert low_p > 0.2


def test_frechet_distance_same_vs_shifted():
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, (40, 32, 32, 3)).astype(np.float32)
    b = rng.uniform(0, 1, (40, 32, 32, 3)).astype(np.float32)
    dark = (b * 0.3).astype(np.float32)
    fa, fb, fd = M.random_features(a), M.random_features(b), M.random_features(dark)
    assert np.allclose(M.random_features(a), fa)  # fixed random weights
    assert M.frechet_distance(fa, fb) < M.frechet_distance(fa, fd)


def test_region_features_colour_and_texture():
    rng = np.random.default_rng(5)
    flat = np.full((32, 32, 3), 0.5, np.float32)
    grain = np.clip(flat + rng.normal(0, 0.15, flat.shape), 0, 1).astype(np.float32)
    f_flat, f_grain = M.region_features(flat), M.region_features(grain)
    assert f_flat.shape == (57,) and np.isfinite(f_flat).all() and np.isfinite(f_grain).all()
    assert f_grain[36] > f_flat[36] + 0.01  # fine-scale luminance energy
    assert np.array_equal(M.region_features(grain), M.region_features(grain, np.ones((32, 32), bool)))
    assert np.array_equal(M.region_features(grain), M.region_features(grain, np.zeros((32, 32), bool)))  # empty
    as_uint8 = M.region_features((flat * 255).astype(np.uint8))
    assert np.allclose(as_uint8[:30], f_flat[:30], atol=0.01)


def test_style_regions_from_label_maps():
    labels = np.zeros((2, 20, 20), np.uint8)
    labels[0, :10] = 3  # style 2: 200 px
    labels[0, 10:12] = 1  # style 0: 40 px, too small
    labels[1] = 8
    assert M.style_regions(labels, min_pixels=100) == [(0, 2), (1, 7)]


def _half_image(rng: np.random.Generator, left: tuple, right: tuple, n: int = 24) -> np.ndarray:
    img = np.empty((n, n, 3), np.float32)
    img[:, : n // 2] = left
    img[:, n // 2:] = right
    return np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1).astype(np.float32)


def test_style_classifier_separates_trivial_styles():
    rng = np.random.default_rng(4)
    red = np.clip(rng.normal(0, 0.05, (24, 16, 16, 3)) + [0.8, 0.1, 0.1], 0, 1)
    blue = np.clip(rng.normal(0, 0.05, (24, 16, 16, 3)) + [0.1, 0.1, 0.8], 0, 1)
    x = list(np.concatenate([red, blue]).astype(np.float32))
    y = np.array([0] * 24 + [1] * 24)
    clf = M.StyleClassifier(2).fit(x, y, epochs=30, batch=16)
    assert (clf.predict(x) == y).mean() > 0.95


def test_style_classifier_reads_only_the_masked_region():
    rng = np.random.default_rng(6)
    red, blue, green = (0.8, 0.1, 0.1), (0.1, 0.1, 0.8), (0.1, 0.7, 0.1)
    left = np.zeros((24, 24), bool)
    left[:, :12] = True
    images, labels, masks = [], [], []
    for _ in range(12):  # training regions: each half of a two-colour image is one example
        for a, b, ka, kb in ((red, green, 0, 2), (green, blue, 2, 1), (blue, red, 1, 0)):
            img = _half_image(rng, a, b)
            images += [img, img]
            labels += [ka, kb]
            masks += [left, ~left]
    clf = M.StyleClassifier(3).fit(images, np.array(labels), masks, epochs=30, batch=16)
    test = _half_image(rng, red, blue)
    assert list(clf.predict([test, test], [left, ~left])) == [0, 1]
