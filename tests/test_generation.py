# SPDX-License-Identifier: GPL-3.0-or-later
"""Generators: the registry, the input contract and the procedural baseline on analytic depth maps."""

from __future__ import annotations

import dataclasses
import math
import sys
from collections import deque

import numpy as np
import pytest
from images import same_image

from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput, Cancelled, ModelUnavailable
from depth_addon.generation import DEFAULT_GENERATOR, Generator, available_generators, get_generator, validate_depth
from depth_addon.generation.base import resize_depth

GROUND_Y = -1.5  # camera-space height of the ground plane
BOX_Z = 4.0  # box front face: |x| <= 1, GROUND_Y <= y <= 0.5, camera Z = -4


def scene(width: int = 128, height: int = 128, ground: bool = True, box: bool = True,
          ) -> tuple[np.ndarray, CameraModel]:
    """Analytic planar depth of a ground plane with a box standing on it (50° camera at the origin).

    :param width: Image width.
    :param height: Image height.
    :param ground: Include the ground plane (up to 100 m).
    :param box: Include the box.
    """
    cam = CameraModel.from_fov(width, height, 50.0)
    x, y = cam.pixel_plane_coords()
    xs, ys = np.meshgrid(x, y)
    with np.errstate(divide="ignore"):
        t = np.where(ys < 0, GROUND_Y / ys, np.inf)
    t = np.where(t <= 100.0, t, np.inf) if ground else np.full_like(t, np.inf)
    on_box = (np.abs(BOX_Z * xs) <= 1.0) & (BOX_Z * ys >= GROUND_Y) & (BOX_Z * ys <= 0.5) & box
    return np.where(on_box, BOX_Z, t).astype(np.float32), cam


@pytest.fixture(scope="module")
def gen() -> Generator:
    """The baseline generator, shared by the tests of this module."""
    return get_generator("baseline")


def neighbour_pairs(depth: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Right and down neighbour pairs: (depth a, depth b, index a, index b) as flat arrays.

    :param depth: H×W array.
    """
    h, w = depth.shape
    idx = np.arange(h * w).reshape(h, w)
    return [(depth[:, :-1].ravel(), depth[:, 1:].ravel(), idx[:, :-1].ravel(), idx[:, 1:].ravel()),
            (depth[:-1].ravel(), depth[1:].ravel(), idx[:-1].ravel(), idx[1:].ravel())]


def test_registry() -> None:
    assert DEFAULT_GENERATOR in available_generators()
    assert get_generator(None).name == DEFAULT_GENERATOR
    assert get_generator("").name == DEFAULT_GENERATOR
    assert isinstance(get_generator(), Generator)
    with pytest.raises(BadInput, match="baseline"):
        get_generator("no-such-model")


def test_default_generators_need_no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    for name in ("embedded", "analytic", "baseline"):
        assert get_generator(name).name == name
    with pytest.raises(ModelUnavailable, match="PyTorch"):
        get_generator("embedded", runtime="torch")


def test_shape_dtype_range(gen: Generator) -> None:
    depth, _ = scene(128, 128)
    img = gen.generate(depth)
    assert img.shape == (128, 128, 3) and img.dtype == np.float32
    assert np.isfinite(img).all() and img.min() >= 0.0 and img.max() <= 1.0
    assert img.std() > 0.02  # not a flat image


@pytest.mark.parametrize("size", [(96, 64), (200, 150), (40, 300)])
def test_explicit_size(gen: Generator, size: tuple[int, int]) -> None:
    depth, _ = scene(128, 128)
    img = gen.generate(depth, size=size, seed=3)
    assert img.shape == (size[1], size[0], 3) and img.dtype == np.float32
    assert np.isfinite(img).all() and img.min() >= 0.0 and img.max() <= 1.0


def test_bad_size_and_seed(gen: Generator) -> None:
    depth, _ = scene(32, 32)
    for size in [(0, 10), (10, -1), (1.5, 10), "big", (10,)]:
        with pytest.raises(BadInput):
            gen.generate(depth, size=size)
    with pytest.raises(BadInput):
        gen.generate(depth, seed=1.5)


def test_deterministic(gen: Generator) -> None:
    depth, cam = scene(96, 80)
    a = gen.generate(depth, prompt="stone wall", seed=7, camera=cam)
    b = get_generator("baseline").generate(depth.copy(), prompt="stone wall", seed=7, camera=cam)
    # same to float rounding: numpy's SIMD sums may differ in the last bit with the arrays' memory alignment
    assert np.abs(a - b).max() <= 1e-6


def test_seeds_differ(gen: Generator) -> None:
    depth, _ = scene(96, 80)
    a, b = gen.generate(depth, seed=0), gen.generate(depth, seed=1)
    assert np.abs(a - b).mean() > 0.02


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_colour_changes_at_depth_discontinuities(gen: Generator, seed: int) -> None:
    depth, _ = scene(128, 128)
    img = gen.generate(depth, seed=seed).reshape(-1, 3)
    across, within = [], []
    for da, db, ia, ib in neighbour_pairs(depth):
        both = np.isfinite(da) & np.isfinite(db)
        with np.errstate(invalid="ignore"):
            rel = np.abs(da - db) / np.minimum(da, db)
        diff = np.abs(img[ia] - img[ib]).sum(1)
        one_on_box = (da == BOX_Z) != (db == BOX_Z)  # grazing ground also changes >5 %/px: not an edge
        across.append(diff[both & one_on_box & (rel > 0.05)])
        within.append(diff[both & (rel < 0.01)])
    across, within = np.concatenate(across), np.concatenate(within)
    assert across.size > 20 and within.size > 1000
    assert across.mean() >= 1.5 * within.mean(), (across.mean(), within.mean())


def test_background_is_sky(gen: Generator) -> None:
    full, _ = scene(96, 96)
    ground_only, _ = scene(96, 96, box=False)
    box_only, _ = scene(96, 96, ground=False)
    a, b = gen.generate(full, seed=5), gen.generate(ground_only, seed=5)
    sky_in_both = ~np.isfinite(full) & ~np.isfinite(ground_only)
    assert sky_in_both.sum() > 1000
    assert np.abs(a[sky_in_both] - b[sky_in_both]).max() <= 1e-6  # the sky does not depend on the geometry
    box_on_sky = np.isfinite(full) & ~np.isfinite(ground_only)
    assert box_on_sky.sum() > 100
    assert np.abs(a[box_on_sky] - b[box_on_sky]).mean() > 0.02  # geometry is not painted as sky
    # Masking the ground out is the same as having no ground.
    masked = gen.generate(full, mask=np.isfinite(box_only), seed=5)
    assert np.abs(masked - gen.generate(box_only, seed=5)).max() <= 1e-6


def test_prompt_colour_words(gen: Generator) -> None:
    depth, _ = scene(96, 96)
    geo = np.isfinite(depth)
    for seed in range(3):
        red = gen.generate(depth, prompt="a red house", seed=seed)[geo]
        blue = gen.generate(depth, prompt="a blue house", seed=seed)[geo]
        assert red[:, 0].mean() > blue[:, 0].mean() + 0.1
        assert blue[:, 2].mean() > red[:, 2].mean() + 0.1


def test_prompt_unknown_words_ignored_material_words_used(gen: Generator) -> None:
    depth, _ = scene(64, 64)
    plain = gen.generate(depth, prompt="", seed=4)
    assert same_image(plain, gen.generate(depth, prompt="zorblax quux, 42!", seed=4))
    assert same_image(gen.generate(depth, prompt="Red.", seed=4), gen.generate(depth, prompt="red", seed=4))
    snow = gen.generate(depth, prompt="snow", seed=4)[np.isfinite(depth)]
    assert snow.mean() > plain[np.isfinite(depth)].mean() + 0.05 and snow.mean() > 0.7


def test_progress_monotone_and_complete(gen: Generator) -> None:
    depth, _ = scene(64, 64)
    calls: list[tuple[float, str]] = []
    gen.generate(depth, progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert len(calls) >= 3 and all(isinstance(m, str) and m for _, m in calls)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0.0 <= fractions[0] < 1.0


@pytest.mark.parametrize("after", [0, 2])
def test_cancel_raises(gen: Generator, after: int) -> None:
    depth, _ = scene(64, 64)
    polls = []

    def cancel() -> bool:
        polls.append(1)
        return len(polls) > after

    with pytest.raises(Cancelled):
        gen.generate(depth, cancel=cancel)
    assert len(polls) == after + 1
    gen.generate(depth, cancel=lambda: False)  # a poll that never fires changes nothing


@pytest.mark.parametrize("fill", [np.inf, np.nan, 0.0, -2.0])
def test_unusable_depth_is_bad_input(gen: Generator, fill: float) -> None:
    with pytest.raises(BadInput, match="nothing to generate"):
        gen.generate(np.full((16, 16), fill, np.float32))


def test_validate_depth() -> None:
    depth = np.array([[1.0, np.nan], [0.0, 2.0]])
    d, m = validate_depth(depth, np.array([[True, True], [True, False]]))
    assert d.dtype == np.float32 and m.dtype == bool
    assert m.tolist() == [[True, False], [False, False]] and d[0, 0] == 1.0 and np.isinf(d[1, 1])
    with pytest.raises(BadInput, match="shape"):
        validate_depth(depth, np.ones((3, 2), bool))
    with pytest.raises(BadInput):
        validate_depth(np.ones((2, 2, 2)))
    with pytest.raises(BadInput, match="nothing to generate"):
        validate_depth(depth, np.zeros((2, 2), bool))


def test_resize_keeps_silhouettes_and_planes() -> None:
    depth, mask = validate_depth(*scene(64, 64)[:1])
    small_d, small_m = resize_depth(depth, mask, (24, 40))
    assert small_d.shape == (40, 24) and np.isin(small_d, depth).all()  # nearest: no new values
    assert np.array_equal(small_m, np.isfinite(small_d))
    big_d, big_m = resize_depth(depth, mask, (160, 160))
    ref, _ = scene(160, 160)
    assert big_d.shape == (160, 160) and np.array_equal(big_m, np.isfinite(big_d))
    r = 3  # compare against the reference surfaces within r pixels
    pad = np.pad(np.where(np.isfinite(ref), ref, np.nan), r, constant_values=np.nan)
    near = np.stack([pad[dy:dy + 160, dx:dx + 160] for dy in range(2 * r + 1) for dx in range(2 * r + 1)])
    same = np.all(near == ref, axis=0) & (ref < 20.0)  # well inside one surface, ground not grazing
    assert same.sum() > 5000
    assert np.allclose(big_d[same], ref[same], rtol=1e-3)  # planes stay planes
    check = big_m & (big_d < 20.0)  # rows near the horizon change by over 5 % per pixel anyway
    err = np.abs(near[:, check] - big_d[check]) / near[:, check]
    assert np.all(np.nanmin(np.where(np.isnan(err), np.inf, err), axis=0) < 0.05)  # no floating points


def test_other_cameras(gen: Generator) -> None:
    depth, cam = scene(80, 60)
    c, s = math.cos(math.radians(90.0)), math.sin(math.radians(90.0))
    posed = dataclasses.replace(cam, matrix_world=((1, 0, 0, 5.0), (0, c, -s, -3.0), (0, s, c, 1.7), (0, 0, 0, 1)))
    ortho = CameraModel(80, 60, (-4.0, 4.0, -3.0, 3.0), ortho=True)
    plain = gen.generate(depth, camera=cam)
    for camera in (posed, ortho):
        img = gen.generate(depth, camera=camera, size=(40, 30))
        assert img.shape == (30, 40, 3) and np.isfinite(img).all() and 0.0 <= img.min() and img.max() <= 1.0
    moved = gen.generate(depth, camera=posed)
    sky = ~np.isfinite(depth)
    assert np.allclose(moved[sky], plain[sky], atol=1e-5)  # same view direction, same sky
    assert not np.array_equal(moved[~sky], plain[~sky])  # texture lives in world space


def test_normals_and_edges_on_analytic_scene() -> None:
    from depth_addon.generation import _ops

    depth, cam = scene(160, 120)
    mask = np.isfinite(depth)
    filled = np.where(mask, depth, 1.0).astype(np.float32)
    points = np.ascontiguousarray(np.moveaxis(cam.unproject(filled), -1, 0), dtype=np.float32)
    normals = _ops.camera_normals(points, mask)
    on_box = depth == BOX_Z
    on_ground = mask & ~on_box
    assert np.all(normals[2][on_box] > 0.999)  # box front faces the camera (+Z)
    assert np.all(normals[1][on_ground] > 0.999)  # ground faces up (+Y), silhouettes included
    edges = _ops.depth_edges(filled, mask, ortho=False)
    pad = np.pad(on_box, 1)
    box_border = on_box & ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
    box_border[np.nonzero(on_box.any(1))[0][-1]] = False  # the bottom row stands on the ground: no step
    assert box_border.sum() > 50 and edges[box_border].all()
    ground_pad = np.pad(on_ground, 2)
    deep_ground = np.ones_like(on_ground)
    for dy in range(5):
        for dx in range(5):
            deep_ground &= ground_pad[dy:dy + 120, dx:dx + 160]
    assert deep_ground.sum() > 3000 and not edges[deep_ground].any()  # grazing plane: no edges


def _flood_components(region: np.ndarray) -> int:
    seen = np.zeros_like(region)
    count = 0
    for start in zip(*np.nonzero(region), strict=True):
        if seen[start]:
            continue
        count += 1
        queue = deque([start])
        seen[start] = True
        while queue:
            y, x = queue.popleft()
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < region.shape[0] and 0 <= nx < region.shape[1] and region[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
    return count


def test_connected_components_match_flood_fill() -> None:
    from depth_addon.generation._ops import connected_components

    rng = np.random.default_rng(0)
    for _ in range(30):
        h, w = (int(v) for v in rng.integers(1, 24, 2))
        region = rng.random((h, w)) < rng.uniform(0.3, 0.7)
        labels = connected_components(region)
        assert np.array_equal(labels >= 0, region)
        n = _flood_components(region)
        assert len(np.unique(labels[region])) == n and (labels.max() if region.any() else -1) == n - 1
        for da, db, ia, ib in neighbour_pairs(np.where(region, 1.0, np.nan)):
            both = np.isfinite(da) & np.isfinite(db)
            assert np.array_equal(labels.ravel()[ia[both]], labels.ravel()[ib[both]])
