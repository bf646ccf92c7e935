# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-segment prompts for the generators: a segment map plus one prompt per segment → painted regions (numpy).

A caller (the texture flow, from the scene's objects and material slots) may pass ``segments``, an H×W
integer map, and ``segment_prompts``, one prompt per segment id. Pixel ``(y, x)`` with
``0 <= segments[y, x] < len(segment_prompts)`` is painted as its segment's prompt asks; other pixels
(-1, or ids without a prompt, or an empty prompt) follow the generator's main ``prompt``.
:func:`build_regions` turns them into :class:`Region` objects: every segment is its own region with its
own style and palette *variant*, so neighbouring parts with the same material still get different seeded
palette entries, unless their prompt has a sameness word (:data:`~.scene_prompt.SAMENESS`): then every
segment with that prompt text shares the variant of the first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BadInput
from .prompt import SAMENESS, STYLES, PromptReport, parse_prompt


@dataclass
class Region:
    """Pixels painted with one style and prompt.

    :param style: Style name.
    :param report: Parsed prompt of the region.
    :param where: H×W bool pixels of the region; None for the whole image.
    :param variant: Palette and texture variant; None for the single-prompt draw of old.
    :param mortar_colour: Filled in by the analytic layer (linear, 3).
    """

    style: str
    report: PromptReport
    where: np.ndarray | None = None
    variant: int | None = None
    mortar_colour: np.ndarray | None = None


def choose_style(report: PromptReport, seed: int) -> str:
    """The style a prompt asks for: its first style word, the routed style, or a seeded pick.

    :param report: Parsed prompt.
    :param seed: Seed for the fallback pick.
    """
    if report.styles:
        return report.styles[0]
    if report.routed:
        return report.routed
    return STYLES[int(np.random.default_rng([seed, 3]).integers(len(STYLES)))]


def check_segments(segments: np.ndarray | None, prompts, shape: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """Validate a segment map and its prompts.

    :param segments: H×W integer map (same size as the depth map).
    :param prompts: One prompt (str) per segment id.
    :param shape: ``(height, width)`` of the depth map.
    :raises BadInput: For a map of the wrong shape or type, or prompts that are not strings.
    """
    seg = np.asarray(segments)
    if seg.shape != tuple(shape) or not np.issubdtype(seg.dtype, np.integer):
        raise BadInput(f"segments must be an integer map of shape {tuple(shape)}, got {seg.dtype} {seg.shape}")
    prompts = list(prompts or [])
    if not all(isinstance(p, str) for p in prompts):
        raise BadInput("segment_prompts must be a list of strings")
    return seg.astype(np.int64, copy=False), prompts


def resize_segments(segments: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a segment map (or any H×W(×C) array) to ``(width, height)``, with the taps of
    ``resize_depth``.

    :param segments: H×W integer map, or any H×W(×C) array.
    :param size: Output ``(width, height)``.
    """
    h, w = segments.shape[:2]
    w2, h2 = size
    if (w2, h2) == (w, h):
        return segments
    iy = np.minimum(((np.arange(h2) + 0.5) * h / h2).astype(np.int64), h - 1)
    ix = np.minimum(((np.arange(w2) + 0.5) * w / w2).astype(np.int64), w - 1)
    return np.ascontiguousarray(segments[iy][:, ix])


def build_regions(segments: np.ndarray | None, prompts: list[str] | None, report: PromptReport, seed: int,
                  mask: np.ndarray) -> list[Region]:
    """The regions to paint: one per segment seen under ``mask``, plus the main prompt's for the rest.

    :param segments: H×W integer map at the output size, or None (one region: the main prompt, as before).
    :param prompts: One prompt per segment id.
    :param report: Parsed main prompt.
    :param seed: Seed (styles picked for prompts without a style word).
    :param mask: H×W geometry mask.
    """
    main = Region(choose_style(report, seed), report)
    if segments is None or not prompts:
        return [main]
    prompts = list(prompts)
    valid = (segments >= 0) & (segments < len(prompts))
    ids = np.unique(segments[valid & mask])
    ids = [int(i) for i in ids if prompts[i].strip()]
    if not ids:
        return [main]
    parsed: dict[str, PromptReport] = {}
    first: dict[str, int] = {}
    regions = []
    for i in ids:
        text = prompts[i]
        if text not in parsed:
            parsed[text], first[text] = parse_prompt(text), i
        same = any(w in SAMENESS for w in text.lower().split())
        rep = parsed[text]
        regions.append(Region(choose_style(rep, seed), rep, segments == i, 1 + (first[text] if same else i)))
    rest = mask & ~np.isin(segments, ids)
    if rest.any():
        regions.append(Region(main.style, report, rest, 0))
    return regions


def style_masks(regions: list[Region]) -> list[tuple[str, np.ndarray | None]]:
    """Each style of ``regions`` once, with the pixels of its regions (None: the whole image), in order of first
    appearance: what is shaded per style is then done once per style, not once per region.

    :param regions: The regions (:func:`build_regions`).
    """
    out: dict[str, np.ndarray | None] = {}
    for r in regions:
        if r.where is None or out.get(r.style, False) is None:
            out[r.style] = None
        elif r.style in out:
            out[r.style] |= r.where
        else:
            out[r.style] = r.where.copy()
    return list(out.items())
