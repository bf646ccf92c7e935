# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-segment prompts in the generators: each region its own style and palette, old calls unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from images import same_image
from test_embedded import ground_box

from depth_addon.errors import BadInput
from depth_addon.generation.analytic import AnalyticGenerator
from depth_addon.generation.baseline import ProceduralBaseline
from depth_addon.generation.embedded import EmbeddedGenerator
from depth_addon.generation.prompt import parse_prompt
from depth_addon.generation.regional import prompt_masks
from depth_addon.generation.segments import build_regions, resize_segments


def _halves(depth: np.ndarray) -> np.ndarray:
    seg = np.zeros(depth.shape, np.int32)
    seg[:, depth.shape[1] // 2:] = 1
    return seg


def _mean_rgb(img: np.ndarray, where: np.ndarray) -> np.ndarray:
    return img[where].mean(0)


@pytest.mark.parametrize("gen", [AnalyticGenerator(), EmbeddedGenerator(runtime="numpy")], ids=lambda g: g.name)
def test_each_segment_gets_its_own_style(gen):
    depth, cam = ground_box(box=False)
    seg = _halves(depth)
    img = gen.generate(depth, prompt="stone", seed=3, camera=cam, segments=seg, segment_prompts=["red brick", "grass"])
    ground = np.isfinite(depth)
    left, right = _mean_rgb(img, ground & (seg == 0)), _mean_rgb(img, ground & (seg == 1))
    assert left[0] > left[1] and right[1] > right[0]  # brick is red, grass is green
    assert gen.last_report.styles == ["stone"]


@pytest.mark.parametrize("gen", [AnalyticGenerator(), EmbeddedGenerator(runtime="numpy")], ids=lambda g: g.name)
def test_old_calls_and_segment_free_maps_are_unchanged(gen):
    depth, cam = ground_box()
    plain = gen.generate(depth, prompt="brick", seed=1, camera=cam)
    none = gen.generate(depth, prompt="brick", seed=1, camera=cam, segments=None, segment_prompts=None)
    unused = gen.generate(depth, prompt="brick", seed=1, camera=cam, segments=np.full(depth.shape, -1),
                          segment_prompts=["grass"])
    assert same_image(plain, none) and same_image(plain, unused)


def test_neighbours_with_one_material_get_different_draws_unless_same():
    mask = np.ones((4, 4), bool)
    seg = np.repeat(np.arange(4), 4).reshape(4, 4) % 2
    report = parse_prompt("")
    regions = build_regions(seg, ["stone", "stone"], report, 0, mask)
    assert [r.style for r in regions] == ["stone", "stone"] and regions[0].variant != regions[1].variant
    same = build_regions(seg, ["same stone", "same stone"], report, 0, mask)
    assert same[0].variant == same[1].variant
    partial = build_regions(np.where(seg == 1, -1, 0), ["grass"], report, 0, mask)
    assert [r.style for r in partial][0] == "grass" and len(partial) == 2


def test_baseline_paints_each_segment_from_its_own_prompt_pass():
    """The baseline paints regions by masked passes: each segment matches its prompt's full-frame image there."""
    depth, cam = ground_box(box=False)
    seg = _halves(depth)
    gen = ProceduralBaseline()
    img = gen.generate(depth, prompt="stone", seed=3, camera=cam, segments=seg, segment_prompts=["red brick", "grass"])
    ground = np.isfinite(depth)
    left, right = _mean_rgb(img, ground & (seg == 0)), _mean_rgb(img, ground & (seg == 1))
    assert left[0] > left[1] and right[1] > right[0]  # brick is red, grass is green
    brick = gen.generate(depth, prompt="red brick", seed=3, camera=cam)
    assert np.array_equal(img[seg == 0], brick[seg == 0])
    same = gen.generate(depth, prompt="stone", seed=3, camera=cam, segments=seg, segment_prompts=["stone", "stone"])
    assert np.array_equal(same, gen.generate(depth, prompt="stone", seed=3, camera=cam))  # one prompt, one pass


def test_prompt_masks_group_pixels_by_prompt():
    seg = np.array([[0, 1, 2, -1], [3, 3, 0, 9]])
    groups = prompt_masks(seg, ["brick", " ", "wood", "brick "], "grass", seg.shape, (4, 2))
    assert [t for t, _ in groups] == ["grass", "brick", "wood"]
    where = {t: w for t, w in groups}
    assert where["brick"].tolist() == [[True, False, False, False], [True, True, True, False]]
    assert where["grass"].tolist() == [[False, True, False, True], [False, False, False, True]]
    assert (np.sum([w for _, w in groups], axis=0) == 1).all()  # every pixel in exactly one group
    assert prompt_masks(np.full((2, 4), 7), ["brick"], "grass", (2, 4), (4, 2)) == [("grass", None)]
    assert prompt_masks(None, None, "grass", (2, 4), (4, 2)) == [("grass", None)]


def test_analytic_neighbour_palettes_differ():
    depth, cam = ground_box(box=False)
    seg = _halves(depth)
    img = AnalyticGenerator().generate(depth, prompt="", seed=5, camera=cam, segments=seg,
                                       segment_prompts=["plaster", "plaster"])
    ground = np.isfinite(depth)
    assert np.abs(_mean_rgb(img, ground & (seg == 0)) - _mean_rgb(img, ground & (seg == 1))).max() > 0.01


def test_bad_segment_maps_are_refused_and_resized():
    depth, cam = ground_box()
    with pytest.raises(BadInput):
        AnalyticGenerator().generate(depth, camera=cam, segments=np.zeros((3, 3), np.int32), segment_prompts=["a"])
    with pytest.raises(BadInput):
        AnalyticGenerator().generate(depth, camera=cam, segments=np.zeros(depth.shape), segment_prompts=["a"])
    seg = _halves(depth)
    img = AnalyticGenerator().generate(depth, camera=cam, size=(48, 40), segments=seg, segment_prompts=["a", "b"])
    assert img.shape == (40, 48, 3) and resize_segments(seg, (48, 40)).shape == (40, 48)


def test_local_generator_passes_segments_through():
    from depth_addon.app.flow import GenerateRequest, LocalGenerator

    depth, cam = ground_box(box=False)
    seg = _halves(depth)
    request = GenerateRequest(depth, np.isfinite(depth), cam, "stone", 3, segments=seg,
                              segment_prompts=["red brick", "grass"])
    rgb = LocalGenerator("analytic")(request, None, None).rgb
    ground = np.isfinite(depth)
    left, right = _mean_rgb(rgb, ground & (seg == 0)), _mean_rgb(rgb, ground & (seg == 1))
    assert left[0] > left[1] and right[1] > right[0]


def test_a_small_object_runs_the_network_once_on_its_box(monkeypatch):
    from depth_addon.generation import embedded

    _plane, cam = ground_box(320, 256)
    h, w = 256, 320
    depth = np.full((h, w), np.inf, np.float32)
    depth[100:170, 120:220] = 4.0  # a box face alone, in an empty frame
    seg = np.zeros(depth.shape, np.int32)
    seg[:, w // 2:] = 1  # its left half brick, its right half grass
    win = embedded.network_window(np.isfinite(depth))
    assert win is not None and win[0].start % embedded.WINDOW_ALIGN == 0 == win[1].start % embedded.WINDOW_ALIGN
    rows, cols = np.flatnonzero(np.isfinite(depth).any(1)), np.flatnonzero(np.isfinite(depth).any(0))
    assert win[0].start <= rows[0] - 64 + 31 and win[0].stop == min(h, rows[-1] + 65) and win[1].stop == cols[-1] + 65
    gen = EmbeddedGenerator()
    calls = []
    real = gen.network
    monkeypatch.setattr(gen, "network", lambda *a, **k: calls.append(a) or real(*a, **k))
    kw = dict(prompt="grass", seed=3, camera=cam, segments=seg, segment_prompts=["red brick", "grass"])
    windowed = gen.generate(depth, **kw)
    assert len(calls) == 1  # one run for both styles: the network is conditioned per pixel
    monkeypatch.setattr(embedded, "network_window", lambda *_a, **_k: None)
    whole = gen.generate(depth, **kw)
    assert np.abs(windowed - whole).max() < 1e-3  # the box's margin gives the network all the context it uses
    box = np.isfinite(depth)
    left, right = _mean_rgb(whole, box & (seg == 0)), _mean_rgb(whole, box & (seg == 1))
    assert left[0] > left[1] and right[1] > right[0]


def test_condition_map_runtimes_agree_and_a_constant_map_is_the_vector():
    from depth_addon.generation.netnp import condition, condition_map, load_numpy, predict_numpy
    from depth_addon.generation.runtime import load_runtime, predictor

    net = load_numpy()
    cv_model, active, _note = load_runtime(net, "auto")
    rng = np.random.default_rng(5)
    feats = rng.random((13, 70, 90), dtype=np.float32)  # odd sizes: the map is padded with the features
    light = np.array([0.3, 0.8, 0.5], np.float32)
    styles = np.where(np.arange(90)[None, :] < 40, 0, 3).repeat(70, 0)
    cmap = condition_map(styles, light)
    assert cmap.shape == (11, 70, 90)
    vec = predict_numpy(net, feats, condition(3, light))
    const = predict_numpy(net, feats, condition_map(np.full((70, 90), 3), light))
    assert np.abs(vec - const).max() < 1e-6  # the same sums, up to float rounding (the order may differ by CPU)
    mixed = predict_numpy(net, feats, cmap)
    assert np.abs(mixed[:, :, 70:] - vec[:, :, 70:]).max() < 0.05 < np.abs(mixed[:, :, :20] - vec[:, :, :20]).max()
    other = predictor(cv_model)(feats, cmap)
    assert np.abs(other - mixed).max() < 1e-3, active



def _six_boxes(size: tuple[int, int] = (192, 64)) -> tuple[np.ndarray, np.ndarray, object]:
    """Six box fronts at 8 m, 4 px apart, before a wall at 12 m, each its own segment (-1 on the wall)."""
    from depth_addon.camera import CameraModel

    w, h = size
    depth = np.full((h, w), 12.0, np.float32)
    seg = np.full((h, w), -1, np.int32)
    for i in range(6):
        cols = slice(8 + i * 30, 4 + (i + 1) * 30)
        depth[16:48, cols] = 8.0
        seg[16:48, cols] = i
    return depth, seg, CameraModel.from_fov(w, h, 50.0)


def _box_colours(gen, text: str) -> np.ndarray:
    """Median colour (6×3) of each box: the albedo map where the generator gives one, else the lit image."""
    depth, seg, cam = _six_boxes()
    if hasattr(gen, "generate_maps"):
        img = gen.generate_maps(depth, prompt="grass", seed=4, camera=cam, segments=seg,
                                segment_prompts=[text] * 6).maps["albedo"]
    else:
        img = gen.generate(depth, prompt="grass", seed=4, camera=cam, segments=seg, segment_prompts=[text] * 6)
    img = np.asarray(img, np.float32).reshape(seg.shape + (-1,))[..., :3]
    inner = np.zeros_like(seg, bool)
    inner[20:44] = True
    return np.array([np.median(img[(seg == i) & inner], 0) for i in range(6)])


def _hue_gaps(colours: np.ndarray) -> list[float]:
    import colorsys

    hues = [colorsys.rgb_to_hsv(*np.clip(c, 0, 1))[0] for c in colours]
    return [min(abs(a - b), 1 - abs(a - b)) for a, b in zip(hues, hues[1:], strict=False)]


GENERATORS = [AnalyticGenerator(), EmbeddedGenerator(runtime="numpy"), ProceduralBaseline()]


@pytest.mark.parametrize("gen", GENERATORS, ids=lambda g: g.name)
def test_same_gives_every_part_one_colour_and_neighbours_differ_without_it(gen):
    """'plaster': neighbouring boxes differ; 'same plaster' / 'identical plaster': they share one colour (in the
    albedo; the baseline gives no albedo map, and its lit image shades each box a little differently)."""
    tolerance = 0.03 if hasattr(gen, "generate_maps") else 0.08
    apart = _box_colours(gen, "plaster")
    gaps = np.abs(np.diff(apart, axis=0)).max(1)
    assert gaps.max() > 0.03, apart
    for word in ("same", "identical"):
        alike = _box_colours(gen, f"plaster {word}")
        assert np.abs(alike - alike.mean(0)).max() < 0.5 * gaps.max() and np.abs(alike - alike[0]).max() < tolerance, (
            word, alike)


@pytest.mark.parametrize("gen", GENERATORS, ids=lambda g: g.name)
def test_colourful_gives_neighbours_clearly_different_hues(gen):
    """'colourful plaster': every pair of neighbouring boxes at least 30° of hue apart, and well saturated; brick
    boxes keep brick's hues, colourful brick ones spread."""
    import colorsys

    for text in ("plaster colourful", "colorful plaster"):
        colours = _box_colours(gen, text)
        assert min(_hue_gaps(colours)) > 30 / 360, (text, colours)
        assert min(colorsys.rgb_to_hsv(*np.clip(c, 0, 1))[1] for c in colours) > 0.25, colours
    plain, colourful = _box_colours(gen, "brick"), _box_colours(gen, "brick colourful")
    assert max(_hue_gaps(plain)) < min(_hue_gaps(colourful)), (plain, colourful)


def test_region_colours_are_drawn_once_per_region_and_gloss_once_per_style(monkeypatch):
    """Many parts: each region draws the colours of its own labels only (not a palette as large as the image's
    label count), gloss is shaded once per style, and the image is the same as drawing whole palettes."""
    from depth_addon.generation import analytic

    calls = {"hsv": 0, "gloss": 0}
    real_hsv, real_gloss = analytic.colorsys.hsv_to_rgb, analytic.glossy

    def hsv(*args):
        calls["hsv"] += 1
        return real_hsv(*args)

    def gloss(*args):
        calls["gloss"] += 1
        return real_gloss(*args)

    monkeypatch.setattr(analytic.colorsys, "hsv_to_rgb", hsv)
    monkeypatch.setattr(analytic, "glossy", gloss)
    n, side = 100, 10
    depth = np.full((200, 200), 20.0, np.float32)
    seg = np.full(depth.shape, -1, np.int32)
    for i in range(n):
        y, x = divmod(i, side)
        depth[y * 20 + 2:y * 20 + 18, x * 20 + 2:x * 20 + 18] = 8.0 + 0.3 * (i % 3)
        seg[y * 20 + 2:y * 20 + 18, x * 20 + 2:x * 20 + 18] = i
    prompts = [("brick", "stone", "wood", "red tiles")[i % 4] for i in range(n)]
    g = analytic.gbuffer(depth, np.isfinite(depth), analytic.CameraModel.from_fov(200, 200, 50.0), "stone", 2,
                         regions=build_regions(seg, prompts, parse_prompt("grass"), 2, np.ones(depth.shape, bool)))
    labels = int(g.labels.max()) + 1
    assert labels > n and calls["hsv"] < 4 * labels, (labels, calls)  # linear: was regions × labels
    assert calls["gloss"] == 5  # brick, stone, wood, tiles and the main prompt's grass


def test_drawing_some_rows_of_a_palette_gives_the_rows_of_the_whole_palette():
    from depth_addon.generation.analytic import palette_colours

    for text in ("stone", "red brick"):
        report = parse_prompt(text)
        whole_rng, some_rng = np.random.default_rng([3, 11, 7]), np.random.default_rng([3, 11, 7])
        whole = palette_colours(report, report.styles[0], 40, whole_rng)
        some = palette_colours(report, report.styles[0], 40, some_rng, np.array([5, 5, 17, 39]))
        assert np.array_equal(some[[5, 17, 39]], whole[[5, 17, 39]]) and not some[[0, 6, 38]].any()
        assert whole_rng.random() == some_rng.random()  # the generator ends where drawing every row leaves it
