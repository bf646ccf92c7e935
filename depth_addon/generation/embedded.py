# SPDX-License-Identifier: GPL-3.0-or-later
"""The default embedded generator: the analytic layer plus the learned appearance network (torch, no bpy).

Layer 1 (:mod:`.analytic`) turns depth into a G-buffer: normals, segments, seeded per-segment
palette hints drawn from the checkpoint's palette bank for the requested style, procedural
textures on back-projected points, sun with screen-space shadows and sky. Layer 2
(:mod:`.model`) turns that G-buffer, a style, the light direction and seeded noise into the image,
adding what it learned from Cycles renders. Images larger than :data:`TILE` on a side are run in
overlapping tiles blended with linear ramps (the network has no global pooling, so tiles agree).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..camera import CameraModel
from .analytic import choose_style, gbuffer, prepare, seeded_light, surface_albedo, to_image
from .base import CancelFn, ProgressFn, Steps
from .gloss import glossy
from .model import DEFAULT_WEIGHTS, AppearanceNet, condition, features, load_checkpoint, predict
from .prompt import COLOURS, FINISHES, STYLES, PromptReport, parse_prompt

TILE = 1024
OVERLAP = 64


def hint_colours(model: AppearanceNet, report: PromptReport, style: str, n: int, seed: int) -> torch.Tensor:
    """``n`` seeded per-segment albedo hints from the model's palette bank for ``style``.

    :param model: Loaded network (holds the bank).
    :param report: Parsed prompt: colour words tint, finish words scale value and saturation.
    :param style: Style name.
    :param n: Number of segments.
    :param seed: Seed.
    """
    rng = np.random.default_rng([seed, 13])
    bank = model.bank[STYLES.index(style)]
    table = bank[torch.from_numpy(rng.integers(0, bank.shape[0], max(n, 1)))].clone()
    for f in report.finishes:
        value, sat = FINISHES[f]
        grey = table.mean(1, keepdim=True)
        table = (grey + (table - grey) * sat) * value
    if report.colours:
        tints = torch.tensor([COLOURS[report.colours[k % len(report.colours)]] for k in range(table.shape[0])]) ** 2.2
        lum = table.mean(1, keepdim=True) / tints.mean(1, keepdim=True).clamp_min(1e-3)
        table = 0.3 * table + 0.7 * tints * lum.clamp(0.5, 2.0)
    return table.clamp(0.0, 1.0)


def run_tiled(model: AppearanceNet, feats: torch.Tensor, cond: torch.Tensor, tile: int = TILE,
              overlap: int = OVERLAP) -> torch.Tensor:
    """:func:`~.model.predict` over overlapping tiles blended with linear ramps (3×H×W).

    :param model: Network.
    :param feats: 13×H×W features.
    :param cond: 1×K condition.
    :param tile: Tile side.
    :param overlap: Overlap between neighbouring tiles.
    """
    h, w = feats.shape[-2:]
    if h <= tile and w <= tile:
        return predict(model, feats, cond)
    out = torch.zeros(3, h, w)
    weight = torch.zeros(1, h, w)
    step = tile - overlap
    for y0 in range(0, max(h - overlap, 1), step):
        for x0 in range(0, max(w - overlap, 1), step):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            part = predict(model, feats[:, y0:y1, x0:x1], cond)
            ry = torch.ones(y1 - y0)
            rx = torch.ones(x1 - x0)
            ramp = torch.linspace(0.0, 1.0, overlap + 2)[1:-1]
            if y0 > 0:
                ry[:overlap] = ramp
            if y1 < h:
                ry[-overlap:] = ramp.flip(0)
            if x0 > 0:
                rx[:overlap] = ramp
            if x1 < w:
                rx[-overlap:] = ramp.flip(0)
            wgt = (ry.view(-1, 1) * rx.view(1, -1)).unsqueeze(0)
            out[:, y0:y1, x0:x1] += part * wgt
            weight[:, y0:y1, x0:x1] += wgt
    return out / weight.clamp_min(1e-6)


class EmbeddedGenerator:
    """Two-layer embedded model: analytic G-buffer + learned appearance network (the default).

    ``last_report`` holds the :class:`~.prompt.PromptReport` of the latest call; words outside the
    vocabulary are listed in ``last_report.unknown`` and ``last_report.message``.

    :param weights: Safetensors checkpoint; the shipped one when None.
    :param threads: Torch intra-op threads while generating (restored afterwards); None keeps torch's.
    """

    name = "embedded"
    _cache: dict[str, AppearanceNet] = {}

    def __init__(self, weights: Path | str | None = None, threads: int | None = None) -> None:
        self.weights = Path(weights) if weights is not None else DEFAULT_WEIGHTS  # its .json holds the sha256
        self.threads = threads
        self.last_report: PromptReport | None = None

    @property
    def model(self) -> AppearanceNet:
        """The verified network (loaded once per process and weights file)."""
        key = str(self.weights)
        if key not in self._cache:
            self._cache[key] = load_checkpoint(self.weights)
        return self._cache[key]

    def describe_prompt(self, prompt: str) -> PromptReport:
        """Parse ``prompt`` without generating anything.

        :param prompt: Free text.
        """
        return parse_prompt(prompt)

    def generate(self, depth: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0,
                 size: tuple[int, int] | None = None, progress: ProgressFn | None = None,
                 cancel: CancelFn | None = None, camera: CameraModel | None = None,
                 light: np.ndarray | None = None, preview=None) -> np.ndarray:
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
        :return: H×W×3 float32 sRGB in [0, 1].
        :raises BadInput: Unusable depth, size or seed, or weights that fail verification.
        :raises ModelUnavailable: Missing weights.
        """
        steps = Steps(progress, cancel)
        steps(0.0, "checking input")
        d_np, m_np, seed, camera = prepare(depth, mask, size, seed, camera)
        self.last_report = report = parse_prompt(prompt)
        model = self.model
        previous = torch.get_num_threads()
        if self.threads is not None and self.threads != previous:
            torch.set_num_threads(max(1, int(self.threads)))
        try:
            with torch.inference_mode():
                steps(0.1, "analytic layer")
                style = choose_style(report, seed)
                sun = seeded_light(seed) if light is None else np.asarray(light, np.float32)
                g = gbuffer(d_np, m_np, camera, style, seed, report, light=sun)
                if preview is not None:
                    preview(to_image(g.image), 0.5)
                n_labels = int(g.labels.max()) + 1
                albedo = g.albedo
                if n_labels > 0:
                    table = hint_colours(model, report, style, n_labels, seed)
                    albedo = surface_albedo(table[g.labels.clamp_min(0)].permute(2, 0, 1), g.pattern, g.mortar,
                                            g.mortar_colour, style) * g.mask
                noise = torch.randn(g.mask.shape, generator=torch.Generator().manual_seed(seed % (1 << 63)))
                feats = features(albedo, g.pattern, g.direct, g.ambient, g.normals, g.disparity, g.edges, g.mask,
                                 noise)
                steps(0.5, "appearance network")
                out = run_tiled(model, feats, condition(STYLES.index(style), g.light))
                out = glossy(out, albedo, style, g.normals, g.rays, g.mask, g.direct, g.light, g.sky)
                out = torch.where(g.mask, out, g.sky)  # the network's sky is capped; use the analytic one
                result = to_image(out)
        finally:
            if torch.get_num_threads() != previous:
                torch.set_num_threads(previous)
        steps.done()
        return result
