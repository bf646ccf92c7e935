# SPDX-License-Identifier: GPL-3.0-or-later
"""Seeded colour palettes steered by prompt keywords (no bpy, no torch).

The procedural baseline understands a small vocabulary: colour words (``red``, ``blue``, …) and
material words (``stone``, ``wood``, ``grass``, ``metal``, ``marble``, ``brick``, ``sand``,
``snow``, …). Materials choose base colours and a texture style; colours tint whatever was chosen.
Words outside the vocabulary are ignored, so any prompt is accepted.
"""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass

import numpy as np

RGB = tuple[float, float, float]

STYLES = ("fbm", "veins", "rings", "bricks")

COLOURS: dict[str, RGB] = {
    "red": (0.78, 0.12, 0.10),
    "orange": (0.92, 0.48, 0.12),
    "yellow": (0.93, 0.82, 0.20),
    "gold": (0.83, 0.66, 0.22),
    "green": (0.20, 0.62, 0.22),
    "cyan": (0.15, 0.70, 0.75),
    "teal": (0.10, 0.50, 0.50),
    "blue": (0.14, 0.28, 0.80),
    "purple": (0.50, 0.22, 0.68),
    "pink": (0.93, 0.52, 0.68),
    "brown": (0.46, 0.30, 0.17),
    "white": (0.92, 0.92, 0.90),
    "gray": (0.52, 0.52, 0.52),
    "black": (0.08, 0.08, 0.09),
}


@dataclass(frozen=True)
class Material:
    """Look of a material word: candidate sRGB colours and texture parameters.

    :param colours: Base colours (display sRGB) the palette picks from.
    :param contrast: Strength of the texture modulation of albedo.
    :param style: One of :data:`STYLES`.
    :param specular: Strength of the specular highlight.
    :param shininess: Blinn-Phong exponent.
    """

    colours: tuple[RGB, ...]
    contrast: float = 0.3
    style: str = "fbm"
    specular: float = 0.03
    shininess: float = 16.0


MATERIALS: dict[str, Material] = {
    "stone": Material(((0.50, 0.48, 0.45), (0.42, 0.42, 0.44), (0.58, 0.54, 0.48)), 0.45),
    "wood": Material(((0.55, 0.36, 0.20), (0.66, 0.46, 0.27), (0.42, 0.26, 0.14)), 0.35, "rings", 0.05, 24.0),
    "grass": Material(((0.30, 0.52, 0.18), (0.38, 0.60, 0.22), (0.24, 0.44, 0.16)), 0.55),
    "metal": Material(((0.66, 0.67, 0.70), (0.55, 0.56, 0.60), (0.74, 0.72, 0.68)), 0.12, "fbm", 0.55, 48.0),
    "marble": Material(((0.90, 0.89, 0.86), (0.84, 0.84, 0.86), (0.88, 0.85, 0.80)), 0.5, "veins", 0.15, 40.0),
    "brick": Material(((0.62, 0.27, 0.18), (0.55, 0.24, 0.17), (0.68, 0.35, 0.24)), 0.4, "bricks"),
    "sand": Material(((0.86, 0.76, 0.55), (0.80, 0.70, 0.50), (0.90, 0.82, 0.62)), 0.18),
    "snow": Material(((0.95, 0.96, 0.98), (0.90, 0.92, 0.96), (0.97, 0.97, 0.97)), 0.08, "fbm", 0.08, 12.0),
    "concrete": Material(((0.62, 0.61, 0.58), (0.55, 0.55, 0.53)), 0.25),
    "water": Material(((0.12, 0.30, 0.42), (0.10, 0.36, 0.46)), 0.2, "fbm", 0.6, 60.0),
}

ALIASES: dict[str, str] = {
    "grey": "gray", "violet": "purple", "crimson": "red", "scarlet": "red", "azure": "blue", "navy": "blue",
    "rock": "stone", "rocky": "stone", "stony": "stone", "cobblestone": "stone", "granite": "stone",
    "wooden": "wood", "timber": "wood", "plank": "wood", "grassy": "grass", "lawn": "grass",
    "steel": "metal", "iron": "metal", "metallic": "metal", "chrome": "metal", "aluminium": "metal",
    "bricks": "brick", "sandy": "sand", "desert": "sand", "beach": "sand", "snowy": "snow", "ice": "snow",
    "cement": "concrete", "sea": "water", "ocean": "water", "lake": "water",
}


@dataclass(frozen=True)
class Swatch:
    """One palette entry: a segment's albedo and texture parameters.

    :param rgb: Base albedo as display sRGB in [0, 1].
    :param contrast: Texture modulation strength.
    :param style: Texture style, one of :data:`STYLES`.
    :param specular: Specular strength.
    :param shininess: Blinn-Phong exponent.
    """

    rgb: RGB
    contrast: float
    style: str
    specular: float
    shininess: float


def prompt_keywords(prompt: str) -> tuple[list[str], list[str]]:
    """The colour and material words of ``prompt``, in order of appearance, without repeats.

    :param prompt: Free text; case, punctuation and unknown words are ignored.
    :return: ``(colours, materials)``.
    """
    colours: list[str] = []
    materials: list[str] = []
    for word in re.findall(r"[a-z]+", (prompt or "").lower()):
        word = ALIASES.get(word, word)
        if word not in COLOURS and word not in MATERIALS and word.endswith("s"):
            word = ALIASES.get(word[:-1], word[:-1])
        if word in COLOURS and word not in colours:
            colours.append(word)
        elif word in MATERIALS and word not in materials:
            materials.append(word)
    return colours, materials


def _jitter(rgb: RGB, rng: np.random.Generator, hue: float, sat: float, val: float) -> RGB:
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    h = (h + rng.uniform(-hue, hue)) % 1.0
    s = float(np.clip(s * rng.uniform(1.0 - sat, 1.0 + sat), 0.0, 1.0))
    v = float(np.clip(v * rng.uniform(1.0 - val, 1.0 + val), 0.02, 1.0))
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return float(r), float(g), float(b)


def build_palette(prompt: str, rng: np.random.Generator, size: int = 6) -> list[Swatch]:
    """A palette of ``size`` swatches chosen by ``rng`` and steered by the prompt's keywords.

    Without keywords the palette is a random harmony around a seeded hue. Material words pick base
    colours and texture styles; colour words then tint every swatch (fully when there is no
    material word, so "red" gives reds).

    :param prompt: Free text.
    :param rng: Seeded random generator (consumed).
    :param size: Number of swatches.
    """
    colours, materials = prompt_keywords(prompt)
    base_hue = rng.uniform()
    swatches: list[Swatch] = []
    for k in range(size):
        if materials:
            mat = MATERIALS[materials[k % len(materials)]]
            rgb = mat.colours[int(rng.integers(len(mat.colours)))]
            rgb = _jitter(rgb, rng, 0.015, 0.1, 0.1)
        else:
            mat = Material(((0.5, 0.5, 0.5),), float(rng.uniform(0.15, 0.4)))
            hue = (base_hue + k * 0.38 + rng.uniform(-0.05, 0.05)) % 1.0
            r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.25, 0.6), rng.uniform(0.45, 0.85))
            rgb = (float(r), float(g), float(b))
        if colours:
            tint = COLOURS[colours[k % len(colours)]]
            amount = 0.6 if materials else 1.0
            rgb = tuple(float((1 - amount) * a + amount * t) for a, t in zip(rgb, tint, strict=True))
            rgb = _jitter(rgb, rng, 0.02, 0.1, 0.18)
        swatches.append(Swatch(rgb, mat.contrast, mat.style, mat.specular, mat.shininess))
    return swatches


#: Hue step between the parts of a colourful prompt: the golden ratio's fraction keeps any two near ones apart.
GOLDEN = 0.6180339887


def spread_hues(n: int, seed: int, variant: int | None = None) -> np.ndarray:
    """Hues (0-1) for a colourful prompt (``colourful``, ``varied`` ...): ``n`` rows of a palette table.

    A region (one part, :class:`~.segments.Region`) takes one hue for all its rows, the next part the hue a golden
    step further on, so neighbouring parts get clearly different hues; without a variant (the whole image is one
    prompt) every row takes its own step.

    :param n: Rows.
    :param seed: The run's seed (the first hue).
    :param variant: The region's variant, or None.
    """
    phase = float(np.random.default_rng([seed, 29]).uniform())
    steps = np.arange(n) if variant is None else np.full(n, variant)
    return ((phase + GOLDEN * steps) % 1.0).astype(np.float32)


def with_hues(rgb: np.ndarray, hues: np.ndarray, saturation: float = 0.55) -> np.ndarray:
    """``rgb`` (N×3 display sRGB) turned to ``hues``, at least ``saturation`` saturated, value kept in 0.45-0.9.

    :param rgb: N×3 colours in [0, 1].
    :param hues: N hues in [0, 1).
    :param saturation: Lowest saturation.
    """
    rgb = np.clip(np.asarray(rgb, np.float64), 0.0, 1.0)
    value = np.clip(rgb.max(1), 0.45, 0.9)
    sat = np.maximum((rgb.max(1) - rgb.min(1)) / np.maximum(rgb.max(1), 1e-6), saturation)
    h6 = (np.asarray(hues, np.float64) % 1.0) * 6.0
    sector, f = np.floor(h6).astype(int) % 6, h6 - np.floor(h6)
    p, q, t = value * (1 - sat), value * (1 - sat * f), value * (1 - sat * (1 - f))
    table = np.stack([np.stack(c, 1) for c in ((value, t, p), (q, value, p), (p, value, t), (p, q, value),
                                                (t, p, value), (value, p, q))])  # 6 × N × 3
    return table[sector, np.arange(len(sector))].astype(np.float32)


def sky_colours(rng: np.random.Generator) -> tuple[RGB, RGB, RGB]:
    """Seeded ``(zenith, horizon, below-horizon)`` sky colours, display sRGB.

    :param rng: Seeded random generator (consumed).
    """
    zenith = _jitter((0.32, 0.52, 0.84), rng, 0.03, 0.15, 0.08)
    horizon = _jitter((0.80, 0.86, 0.92), rng, 0.05, 0.3, 0.04)
    ground = _jitter((0.55, 0.56, 0.58), rng, 0.05, 0.3, 0.08)
    return zenith, horizon, ground
