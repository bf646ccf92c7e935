# SPDX-License-Identifier: GPL-3.0-or-later
"""The default embedded generator: the analytic layer plus the learned appearance network (no bpy).

Layer 1 (:mod:`.analytic`) turns depth into a G-buffer: normals, segments, seeded per-segment
palette hints drawn from the checkpoint's palette bank for the requested style, procedural
textures on back-projected points, sun with screen-space shadows and sky. Layer 2 turns that
G-buffer, a style, the light direction and seeded noise into the image, adding what it learned
from Cycles renders. Nothing needs torch by default, so the generator works from what the extension
zip bundles: layer 1 is numpy, layer 2 runs on OpenCV's ``cv2.dnn`` (:mod:`.netcv`) with the numpy
forward (:mod:`.netnp`) as the fallback (:mod:`.runtime` chooses); ``runtime="torch"`` runs layer 2
with the torch reference (:mod:`.model`) instead, on the same inputs. Images larger than
:data:`TILE` on a side are run in overlapping tiles blended with linear ramps (the network has no
global pooling, so tiles agree).

With a segment map and per-segment prompts (:mod:`.segments`) each region gets its own style, palette hints
and texture from layer 1, and layer 2 runs once, conditioned per pixel: every pixel carries its region's style in
a condition map (:func:`~.netnp.condition_map`; the network was trained on multi-material renders with such
maps). Geometry that covers only part of the frame is run on its box, with a margin of context.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..camera import CameraModel
from ..errors import BadInput
from . import anchor
from .analytic import GBuffer, gbuffer, prepare, seeded_light, surface_albedo, to_image
from .base import CancelFn, ProgressFn, Steps
from .checkpoint import DEFAULT_WEIGHTS
from .gloss import glossy
from .maps import MAPS, Layers, surface_maps
from .netnp import condition, condition_map, features, load_numpy, seeded_noise
from .palette import spread_hues, with_hues
from .prompt import COLOURS, FINISHES, STYLES, PromptReport, parse_prompt
from .runtime import load_runtime, predictor
from .segments import Region, build_regions, check_segments, resize_segments, style_masks

TILE = 1024
OVERLAP = 64
#: Context (pixels) kept around a style's regions when the network runs on their box only.
WINDOW_MARGIN = 64
#: Grid of such a box's corner: a multiple of the network's stride, so its pooling grid matches the whole image's.
WINDOW_ALIGN = 32
RUNTIMES = ("auto", "opencv", "numpy", "torch")

#: Network on one tile: ``predict(features, condition map tile or None)`` → 3×h×w linear RGB.
Predict = Callable[..., np.ndarray]


def hint_colours(bank: np.ndarray, report: PromptReport, style: str, n: int, seed: int,
                 variant: int | None = None) -> np.ndarray:
    """``n`` seeded per-segment albedo hints (n×3) from the palette bank for ``style``.

    :param bank: Palette bank, styles × bank size × 3 (from the checkpoint).
    :param report: Parsed prompt: colour words tint, finish words scale value and saturation.
    :param style: Style name.
    :param n: Number of segments.
    :param seed: Seed.
    :param variant: Region variant (:class:`~.segments.Region`); another draw per variant.
    """
    rng = np.random.default_rng([seed, 13] if variant is None else [seed, 13, variant])
    colours = bank[STYLES.index(style)]
    table = colours[rng.integers(0, colours.shape[0], max(n, 1))].astype(np.float32)
    for f in report.finishes:
        value, sat = FINISHES[f]
        grey = table.mean(1, keepdims=True)
        table = (grey + (table - grey) * np.float32(sat)) * np.float32(value)
    if report.colours:
        tints = np.array([COLOURS[report.colours[k % len(report.colours)]] for k in range(table.shape[0])],
                         np.float32) ** 2.2
        lum = table.mean(1, keepdims=True) / np.maximum(tints.mean(1, keepdims=True), 1e-3)
        table = 0.3 * table + 0.7 * tints * np.clip(lum, 0.5, 2.0)
    if report.colourful:  # clearly different hues: one per part (variant), or per segment for a whole image
        srgb = np.clip(table, 0.0, 1.0) ** (1 / 2.2)
        table = with_hues(srgb, spread_hues(table.shape[0], seed, variant)) ** 2.2
    return np.clip(table, 0.0, 1.0).astype(np.float32)


def _ramp(n: int, lo: int, hi: int, full: int, overlap: int) -> np.ndarray:
    """Blend weights of a tile spanning ``lo..hi`` of ``full`` pixels (linear ramps into its neighbours)."""
    r = np.ones(n, np.float32)
    ramp = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1]
    if lo > 0:
        r[:overlap] = ramp
    if hi < full:
        r[-overlap:] = ramp[::-1]
    return r


def network_window(mask: np.ndarray, margin: int = WINDOW_MARGIN, align: int = WINDOW_ALIGN
                   ) -> tuple[slice, slice] | None:
    """The part of the image the network run needs: the box of the geometry grown by ``margin`` pixels (context
    for the network), its corner on the ``align`` grid (the network's pooling grid); None for all of it.

    :param mask: H×W geometry mask.
    :param margin: Context around the geometry in pixels.
    :param align: Grid of the box's top-left corner.
    """
    h, w = mask.shape
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    y0, x0 = (max(0, int(v) - margin) // align * align for v in (rows[0], cols[0]))
    y1, x1 = min(h, int(rows[-1]) + 1 + margin), min(w, int(cols[-1]) + 1 + margin)
    return None if (y1 - y0) * (x1 - x0) > 0.8 * h * w else (slice(y0, y1), slice(x0, x1))


def style_indices(regions: list[Region], shape: tuple[int, int]) -> np.ndarray:
    """H×W style index of every pixel: its region's style; pixels outside every region (the background) take the
    style of the largest region, as in training.

    :param regions: The run's regions (:func:`~.segments.build_regions`).
    :param shape: ``(height, width)``.
    """
    sizes = [np.inf if r.where is None else int(r.where.sum()) for r in regions]
    out = np.full(shape, STYLES.index(regions[int(np.argmax(sizes))].style), np.int64)
    for r in regions:
        if r.where is not None:
            out[r.where] = STYLES.index(r.style)
    return out


def run_tiled(predict: Predict, feats: np.ndarray, tile: int = TILE, overlap: int = OVERLAP,
              cond: np.ndarray | None = None) -> np.ndarray:
    """``predict`` over overlapping tiles blended with linear ramps (3×H×W).

    :param predict: Network on one tile: 13×h×w features (and the condition map's tile, when given) → 3×h×w
        linear RGB.
    :param feats: 13×H×W features.
    :param tile: Tile side.
    :param overlap: Overlap between neighbouring tiles.
    :param cond: K×H×W condition map, cut into the same tiles; None when ``predict`` holds a condition vector.
    """
    h, w = feats.shape[-2:]
    if h <= tile and w <= tile:
        return predict(feats) if cond is None else predict(feats, cond)
    out = np.zeros((3, h, w), np.float32)
    weight = np.zeros((1, h, w), np.float32)
    step = tile - overlap
    for y0 in range(0, max(h - overlap, 1), step):
        for x0 in range(0, max(w - overlap, 1), step):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            part = np.ascontiguousarray(feats[:, y0:y1, x0:x1])
            part = predict(part) if cond is None else predict(part, np.ascontiguousarray(cond[:, y0:y1, x0:x1]))
            wgt = _ramp(y1 - y0, y0, y1, h, overlap)[:, None] * _ramp(x1 - x0, x0, x1, w, overlap)[None, :]
            out[:, y0:y1, x0:x1] += part * wgt
            weight[:, y0:y1, x0:x1] += wgt
    return out / np.maximum(weight, 1e-6)


class EmbeddedGenerator:
    """Two-layer embedded model: analytic G-buffer + learned appearance network (the default).

    ``last_report`` holds the :class:`~.prompt.PromptReport` of the latest call; words outside the
    vocabulary are listed in ``last_report.unknown`` and ``last_report.message``. :attr:`active_runtime`
    and :meth:`describe` say which runtime runs the network (and why OpenCV was not used, if not).

    :param weights: Safetensors checkpoint; the shipped one when None.
    :param runtime: ``"auto"`` (default: OpenCV's ``cv2.dnn`` when it loads the network and agrees with
        numpy on a probe, else numpy), ``"opencv"`` (no fallback), ``"numpy"`` or ``"torch"`` (the
        training framework's reference network; needs PyTorch).
    :raises BadInput: For an unknown runtime.
    """

    name = "embedded"
    #: The material maps :meth:`generate_maps` gives.
    maps = MAPS
    _cache: dict[tuple[str, str], tuple[object, str, str]] = {}

    def __init__(self, weights: Path | str | None = None, runtime: str = "auto") -> None:
        if runtime not in RUNTIMES:
            raise BadInput(f"unknown runtime {runtime!r} for the embedded generator; use one of {', '.join(RUNTIMES)}")
        self.weights = Path(weights) if weights is not None else DEFAULT_WEIGHTS  # its .json holds the sha256
        self.runtime = runtime
        self.last_report: PromptReport | None = None

    def _loaded(self) -> tuple[object, str, str]:
        """``(network, runtime that runs it, note)``, loaded once per process, runtime and weights file."""
        key = (self.runtime, str(self.weights))
        if key not in self._cache:
            if self.runtime == "torch":
                from .model import load_checkpoint  # imported only when asked for: torch is optional

                self._cache[key] = (load_checkpoint(self.weights), "torch", "")
            else:
                self._cache[key] = load_runtime(load_numpy(self.weights), self.runtime)
        return self._cache[key]

    @property
    def model(self):
        """The verified network (loaded once per process, runtime and weights file).

        :raises ModelUnavailable: Missing weights (or PyTorch, for ``runtime="torch"``; OpenCV, for
            ``runtime="opencv"``).
        :raises BadInput: Weights that fail verification.
        """
        return self._loaded()[0]

    @property
    def active_runtime(self) -> str:
        """The runtime that runs the network: ``opencv``, ``numpy`` or ``torch`` (loads the weights)."""
        return self._loaded()[1]

    def describe(self) -> str:
        """One line for logs and the UI: the generator, its runtime and why OpenCV is not used (if not)."""
        _, active, note = self._loaded()
        return f"embedded model on the {active} runtime" + (f" ({note})" if note else "")

    def _bank(self, model) -> np.ndarray:
        return model.bank.numpy() if self.active_runtime == "torch" else model.bank

    def network(self, model, cond: np.ndarray | None = None) -> Predict:
        """``predict(features, condition map=None)``: 13×h×w features → 3×h×w linear RGB with this generator's
        runtime.

        :param model: The loaded network (:attr:`model`).
        :param cond: Condition vector (:func:`~.netnp.condition`) used when no condition map is passed.
        """
        if self.active_runtime != "torch":
            return predictor(model, cond)
        import torch

        from .model import predict

        def run(f: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
            c_t = torch.from_numpy(cond).view(1, -1) if c is None else torch.from_numpy(c)
            return predict(model, torch.from_numpy(f), c_t).numpy()

        return run

    def describe_prompt(self, prompt: str) -> PromptReport:
        """Parse ``prompt`` without generating anything.

        :param prompt: Free text.
        """
        return parse_prompt(prompt)

    def generate(self, depth: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0,
                 size: tuple[int, int] | None = None, progress: ProgressFn | None = None,
                 cancel: CancelFn | None = None, camera: CameraModel | None = None,
                 light: np.ndarray | None = None, preview=None, segments: np.ndarray | None = None,
                 segment_prompts: list[str] | None = None, world_cell: float | None = None) -> np.ndarray:
        """Generate an sRGB image for ``depth`` (see :class:`~.base.Generator` for the contract).

        :param depth: H×W planar camera-Z depth in metres; ``inf``/``NaN`` mark background.
        :param mask: H×W bool, True where there is geometry.
        :param prompt: Style, colour and finish words; unknown words are reported in ``last_report``.
        :param seed: Random seed (palette hints, texture phase, noise, sun direction).
        :param size: Output ``(width, height)``; any size (padded to the network stride and cropped).
        :param progress: ``progress(fraction, message)`` callback.
        :param cancel: Cancellation poll.
        :param camera: Camera the depth was taken with.
        :param light: Camera-space direction towards the sun; seeded when None.
        :param preview: ``preview(rgb, fraction)``, called once with the analytic layer's image while
            the network runs (the worker shows it as the job's preview).
        :param segments: H×W integer segment map at the depth's size (:mod:`.segments`), or None.
        :param segment_prompts: One prompt per segment id; each segment gets its own style and palette.
        :param world_cell: Paint in world space with this pattern cell (metres) so the views of one run agree
            (:mod:`.anchor`); the camera's own space when None.
        :return: H×W×3 float32 sRGB in [0, 1].
        :raises BadInput: Unusable depth, size or seed, or weights that fail verification.
        :raises ModelUnavailable: Missing weights.
        """
        return self.generate_maps(depth, mask, prompt, seed, size, progress, cancel, camera, light, preview, segments,
                                  segment_prompts, maps=False, world_cell=world_cell).rgb

    def generate_maps(self, depth: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0,
                      size: tuple[int, int] | None = None, progress: ProgressFn | None = None,
                      cancel: CancelFn | None = None, camera: CameraModel | None = None,
                      light: np.ndarray | None = None, preview=None, segments: np.ndarray | None = None,
                      segment_prompts: list[str] | None = None, maps: bool = True,
                      world_cell: float | None = None) -> Layers:
        """The lit image and the material maps it was shaded from (:mod:`.maps`); parameters as :meth:`generate`.

        The albedo is the hinted albedo the appearance network is conditioned on: unlit, with no shadow.

        :param maps: Compute the maps (False: the lit image only, as :meth:`generate`).
        """
        steps = Steps(progress, cancel)
        lit, g, albedo = self._render(depth, mask, prompt, seed, size, steps, camera, light, preview, segments,
                                      segment_prompts, world_cell)
        layers = surface_maps(albedo, g.pattern, g.mortar, g.normals, g.mask, g.regions) if maps else {}
        steps.done()
        return Layers(to_image(lit), layers)

    def linear(self, depth: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0,
               size: tuple[int, int] | None = None, steps: Steps | None = None, camera: CameraModel | None = None,
               light: np.ndarray | None = None, preview=None, segments: np.ndarray | None = None,
               segment_prompts: list[str] | None = None) -> np.ndarray:
        """The image in linear RGB (3×H×W float32, before the sRGB encoding); :meth:`generate` encodes it.

        :param depth: H×W planar camera-Z depth in metres; ``inf``/``NaN`` mark background.
        :param mask: H×W bool, True where there is geometry.
        :param prompt: Style, colour and finish words.
        :param seed: Random seed.
        :param size: Output ``(width, height)``.
        :param steps: Progress and cancellation of the calling ``generate``.
        :param camera: Camera the depth was taken with.
        :param light: Camera-space direction towards the sun; seeded when None.
        :param preview: ``preview(rgb, fraction)`` with the analytic layer's image.
        :param segments: Segment map (see :meth:`generate`).
        :param segment_prompts: One prompt per segment id.
        """
        return self._render(depth, mask, prompt, seed, size, steps, camera, light, preview, segments,
                            segment_prompts)[0]

    def _render(self, depth: np.ndarray, mask: np.ndarray | None, prompt: str, seed: int,
                size: tuple[int, int] | None, steps: Steps | None, camera: CameraModel | None,
                light: np.ndarray | None, preview, segments: np.ndarray | None,
                segment_prompts: list[str] | None, world_cell: float | None = None
                ) -> tuple[np.ndarray, GBuffer, np.ndarray]:
        """``(linear image, the analytic layer's GBuffer, the hinted albedo)`` (see :meth:`linear`)."""
        steps = steps or Steps(None, None)
        steps(0.0, "checking input")
        seg = None if segments is None else check_segments(segments, segment_prompts, np.shape(depth))[0]
        d_np, m_np, seed, camera = prepare(depth, mask, size, seed, camera)
        self.last_report = report = parse_prompt(prompt)
        seg = None if seg is None else resize_segments(seg, (camera.width, camera.height))
        regions = build_regions(seg, segment_prompts, report, seed, m_np)
        model = self.model
        steps(0.1, "analytic layer")
        sun = seeded_light(seed) if light is None else np.asarray(light, np.float32)
        if light is None and world_cell:
            sun = anchor.world_sun(seed, camera, sun)
        g = gbuffer(d_np, m_np, camera, regions[0].style, seed, report, light=sun, regions=regions,
                    world_cell=world_cell)
        if preview is not None:
            preview(to_image(g.image), 0.5)
        albedo = self._hinted_albedo(model, g, regions, seed)
        net_normals, net_light = g.normals, g.light
        if world_cell:  # the network shades in the run's one frame, so every view of a surface is shaded alike
            net_normals, net_light = (anchor.world_directions(v, camera) for v in (g.normals, g.light))
        feats = features(albedo, g.pattern, g.direct, g.ambient, net_normals, g.disparity, g.edges, g.mask,
                         seeded_noise(seed, g.mask.shape))
        steps(0.5, "appearance network")
        styles = list(dict.fromkeys(r.style for r in regions))
        if len(styles) == 1:  # one condition vector ...
            net, cond = self.network(model, condition(STYLES.index(styles[0]), net_light)), None
        else:  # ... or every pixel its region's style: one run of layer 2 for all of them
            net, cond = self.network(model), condition_map(style_indices(regions, g.mask.shape), net_light)
        win = network_window(g.mask)
        if win is None:
            pred = run_tiled(net, feats, cond=cond)
        else:  # the box the geometry needs
            pred = np.zeros_like(albedo)
            part = None if cond is None else np.ascontiguousarray(cond[:, win[0], win[1]])
            pred[:, win[0], win[1]] = run_tiled(net, np.ascontiguousarray(feats[:, win[0], win[1]]), cond=part)
        out = np.zeros_like(albedo)
        for style, where in style_masks(regions):  # one pass per style, not per region
            lit = glossy(pred, albedo, style, g.normals, g.rays, g.mask, g.direct, g.light, g.sky)
            out = lit if where is None else np.where(where, lit, out)
        return np.where(g.mask, out, g.sky), g, albedo  # the network's sky is capped; use the analytic one

    def _hinted_albedo(self, model, g: GBuffer, regions: list[Region], seed: int) -> np.ndarray:
        """Layer 1's albedo with the palette hints of the checkpoint's bank, region by region (3×H×W)."""
        n_labels = max(int(g.labels.max()) + 1, g.table)
        if n_labels <= 0:
            return g.albedo
        albedo = np.zeros_like(g.albedo)
        labels = np.maximum(g.labels, 0)
        for r in regions:
            table = hint_colours(self._bank(model), r.report, r.style, n_labels, seed, r.variant)
            if r.report.same:  # one palette entry for every segment of the prompt
                table = np.broadcast_to(table[:1], table.shape)
            if r.where is None:
                albedo = surface_albedo(table[labels].transpose(2, 0, 1), g.pattern, g.mortar, r.mortar_colour,
                                        r.style) * g.mask
                continue
            idx = np.flatnonzero(r.where & g.mask)  # a region paints its own pixels only
            flat = (labels.reshape(-1)[idx], g.pattern.reshape(-1)[idx], g.mortar.reshape(-1)[idx])
            part = surface_albedo(table[flat[0]].T[:, None, :], flat[1][None], flat[2][None], r.mortar_colour, r.style)
            albedo.reshape(3, -1)[:, idx] = part[:, 0]
        return albedo
