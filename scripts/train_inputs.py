# SPDX-License-Identifier: GPL-3.0-or-later
"""The appearance network's training inputs from rendered samples (``make_training_data.py``): features, the
per-pixel style map that conditions the network, palette-bank colours and seeded batches (CPU, no bpy).

Used by ``train_embedded.py``; every style in a sample's material labels is painted by the analytic layer on
its own pixels, as the generator paints per-object prompts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from depth_addon.camera import CameraModel  # noqa: E402
from depth_addon.generation.analytic import gbuffer, surface_albedo  # noqa: E402
from depth_addon.generation.netnp import features  # noqa: E402
from depth_addon.generation.prompt import STYLES, parse_prompt  # noqa: E402
from depth_addon.generation.segments import Region  # noqa: E402


def style_map(d: dict) -> np.ndarray:
    """H×W style index of every pixel: its rendered material's style; background and unlabelled pixels take the
    scene's most common style (so a single-style scene has one constant map, as at inference).

    :param d: Loaded ``.npz`` sample (``label``: 0 background, style + 1 elsewhere).
    """
    label = d["label"].astype(np.int64)
    counts = np.bincount(label[label > 0] - 1, minlength=len(STYLES))
    main = int(counts.argmax()) if counts.any() else int(d["style"])
    return np.where(label > 0, label - 1, main).astype(np.uint8)


def sample_inputs(d: dict, index: int, hints: bool = True,
                  ) -> tuple[torch.Tensor, np.ndarray, dict[int, list[np.ndarray]], dict[int, list[np.ndarray]]]:
    """Features (12×H×W without noise), style map, hint colours and clean hint colours (per style) of one sample.

    Every style in the sample's label map is painted by the analytic layer on its own pixels (a region), as the
    generator paints per-object prompts. Clean colours come from segments of at least 64 px that are mostly
    sunlit (mean sun term ≥ 0.3) and mostly (≥ 80 % of their pixels) of the sample's scene style: they form the
    palette bank (large, well-lit surfaces: the other styles' small objects give noisier colours).

    :param d: Loaded ``.npz`` sample.
    :param index: Sample index (texture seed).
    :param hints: Use the Cycles colours as palette hints (training); the seeded palette otherwise.
    """
    depth = d["depth"]
    mask = np.isfinite(depth)
    h, w = depth.shape
    cam = CameraModel(w, h, tuple(float(v) for v in d["frame"]))
    smap = style_map(d)
    present = [int(k) for k in np.unique(smap[mask])] or [int(smap.flat[0])]
    regions = [Region(STYLES[k], parse_prompt(STYLES[k]), None if len(present) == 1 else smap == k)
               for k in present]
    g = gbuffer(depth, mask, cam, regions[0].style, index, light=d["light"], regions=regions)
    colours: dict[int, list[np.ndarray]] = {}
    clean: dict[int, list[np.ndarray]] = {}
    if hints:
        rgb = d["rgb"].astype(np.float32).transpose(2, 0, 1) / 255.0
        gt = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        shade = np.maximum(1.1 * g.direct + 0.3 * g.ambient, 0.15)
        lab = g.labels.reshape(-1)
        n = int(lab.max()) + 1
        keep = lab >= 0
        est = (gt / shade).reshape(3, -1)[:, keep]
        counts = np.bincount(lab[keep], minlength=n).astype(np.float32)
        sums = np.stack([np.bincount(lab[keep], est[c], minlength=n) for c in range(3)], 1)
        table = np.clip(sums / np.maximum(counts, 1)[:, None], 0.0, 1.0).astype(np.float32)
        base = table[np.maximum(g.labels, 0)].transpose(2, 0, 1)
        albedo = np.zeros((3, h, w), np.float32)
        for r in regions:
            part = surface_albedo(base, g.pattern, g.mortar, r.mortar_colour, r.style) * g.mask
            albedo = part if r.where is None else np.where(r.where, part, albedo)
        lit = np.bincount(lab[keep], g.direct.reshape(-1)[keep], minlength=n) / np.maximum(counts, 1)
        styles = smap.reshape(-1)[keep].astype(np.int64)
        votes = np.zeros((n, len(STYLES)), np.float32)
        np.add.at(votes, (lab[keep], styles), 1.0)
        major, own = votes.argmax(1), votes.max(1) / np.maximum(counts, 1)
        for k in range(n):
            if counts[k] >= 30:
                colours.setdefault(int(major[k]), []).append(table[k])
            if counts[k] >= 64 and lit[k] >= 0.3 and own[k] >= 0.8 and major[k] == int(d["style"]):
                clean.setdefault(int(major[k]), []).append(table[k])
    else:
        albedo = g.albedo
    f = torch.from_numpy(features(albedo, g.pattern, g.direct, g.ambient, g.normals, g.disparity, g.edges, g.mask,
                                  np.zeros((h, w), np.float32))[:-1])
    return f, smap, colours, clean


def style_maps(labels: torch.Tensor, n_styles: int) -> torch.Tensor:
    """N×S×H×W: the one-hot of each pixel's rendered style (``labels``: N×H×W, style + 1), zero on background."""
    onehot = F.one_hot((labels.long() - 1).clamp_min(0), n_styles).permute(0, 3, 1, 2).float()
    return onehot * (labels > 0)[:, None].float()


def condition_maps(smaps: torch.Tensor, lights: torch.Tensor, n_styles: int) -> torch.Tensor:
    """N×(S+3)×H×W network condition: every pixel its style's one-hot (``smaps``: N×H×W), and the light."""
    onehot = F.one_hot(smaps.long(), n_styles).permute(0, 3, 1, 2).float()
    return torch.cat([onehot, lights[:, :, None, None].expand(-1, -1, *smaps.shape[-2:])], 1)


@dataclass
class Samples:
    """The training set in memory.

    :param feats: N×12×H×W half-precision features (no noise channel).
    :param smaps: N×H×W uint8 style index of every pixel (:func:`style_map`): the network's condition map.
    :param lights: N×3 camera-space light directions.
    :param gts: N×3×H×W uint8 sRGB renders.
    :param labels: N×H×W uint8 rendered labels (0 background, style + 1).
    :param bank: Per style, every segment's hint colour (provisional palette bank).
    :param clean_bank: Per style, the clean hint colours (the shipped palette bank).
    """

    feats: torch.Tensor
    smaps: torch.Tensor
    lights: torch.Tensor
    gts: torch.Tensor
    labels: torch.Tensor
    bank: dict[int, list[np.ndarray]]
    clean_bank: dict[int, list[np.ndarray]]


def load_samples(files: list[Path]) -> Samples:
    """Run the analytic layer on every rendered sample and collect the hint colours.

    :param files: Sample files from ``make_training_data.py`` (single-style and ``--multi`` alike).
    """
    feats, smaps, lights, gts, labels = [], [], [], [], []
    bank: dict[int, list[np.ndarray]] = {k: [] for k in range(len(STYLES))}
    clean_bank: dict[int, list[np.ndarray]] = {k: [] for k in range(len(STYLES))}
    for i, path in enumerate(files):
        d = dict(np.load(path))
        f, smap, colours, clean = sample_inputs(d, i)
        for k, cols in colours.items():
            bank[k].extend(cols)
        for k, cols in clean.items():
            clean_bank[k].extend(cols)
        feats.append(f.half())
        smaps.append(torch.from_numpy(smap))
        lights.append(torch.from_numpy(np.asarray(d["light"], np.float32)))
        gts.append(torch.from_numpy(d["rgb"]).permute(2, 0, 1).contiguous())
        labels.append(torch.from_numpy(d["label"]))
    return Samples(torch.stack(feats), torch.stack(smaps), torch.stack(lights), torch.stack(gts), torch.stack(labels),
                   bank, clean_bank)


def random_batch(data: Samples, rng: np.random.Generator, batch: int, crop: int,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A seeded batch of random crops, half of them mirrored, with the noise channel appended.

    :param data: Training set.
    :param rng: Generator (consumed).
    :param batch: Batch size.
    :param crop: Crop side.
    :return: ``(features, condition map, ground truth in [0, 1], style maps for the discriminator)``.
    """
    idx = torch.from_numpy(rng.integers(0, data.feats.shape[0], batch))
    y0, x0 = (int(v) for v in rng.integers(0, data.feats.shape[-1] - crop + 1, 2))
    window = (..., slice(y0, y0 + crop), slice(x0, x0 + crop))
    x = data.feats[idx].float()[window]
    gt = data.gts[idx].float()[window] / 255.0
    light = data.lights[idx].clone()
    smaps, cmaps = data.labels[idx][window], data.smaps[idx][window]
    if rng.uniform() < 0.5:  # horizontal flip: mirror normals' x and the light's x
        x, gt, smaps, cmaps = x.flip(-1), gt.flip(-1), smaps.flip(-1), cmaps.flip(-1)
        x[:, 6] = -x[:, 6]
        light[:, 0] = -light[:, 0]
    cond = condition_maps(cmaps, light, len(STYLES))
    return torch.cat([x, torch.randn(x.shape[0], 1, *x.shape[-2:])], 1), cond, gt, style_maps(smaps, len(STYLES))
