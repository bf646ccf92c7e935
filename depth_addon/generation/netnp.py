# SPDX-License-Identifier: GPL-3.0-or-later
"""The appearance network's forward pass in numpy: the runtime that ships (no torch, no bpy).

Same computation as :class:`~.model.AppearanceNet` (the torch reference, used for training), on
the same verified safetensors weights. Activations are H×W×C float32. A 3×3 convolution runs as
nine matrix products over a zero-padded copy of its input flattened to rows: tap ``(dy, dx)`` of
every output pixel is one row offset away, so each product reads a contiguous block and no im2col
matrix is built. Rows are processed in bands of :data:`BAND_ROWS`, which bounds the temporary
memory of a convolution to a few MB whatever the image size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint import AppearanceConfig, read_checkpoint

#: Output rows (padded-row units) per matrix-product band.
BAND_ROWS = 16384


@dataclass
class NumpyAppearanceNet:
    """Weights of the appearance network, rearranged for :func:`forward`.

    :param config: Network shape.
    :param convs: Per convolution name (``stem.c1``…): ``(weight 3×3×Cin×Cout, bias Cout)``.
    :param films: Per block name: ``(weight K×2C, bias 2C)`` of the FiLM layer.
    :param bank: Palette bank, styles × bank size × 3 linear colours.
    """

    config: AppearanceConfig
    convs: dict[str, tuple[np.ndarray, np.ndarray]]
    films: dict[str, tuple[np.ndarray, np.ndarray]]
    bank: np.ndarray


def load_numpy(path: Path | str | None = None) -> NumpyAppearanceNet:
    """Verify and load the weights for the numpy runtime.

    :param path: ``.safetensors`` file; the shipped weights when None.
    :raises ModelUnavailable: Missing file or hash record.
    :raises BadInput: Refused, corrupt or truncated file.
    """
    config, t = read_checkpoint(path)
    convs, films = {}, {}
    for key in t:
        if key.endswith(".weight") and t[key].ndim == 4:
            name = key[: -len(".weight")]
            convs[name] = (np.ascontiguousarray(t[key].transpose(2, 3, 1, 0)), t[name + ".bias"])
        elif key.endswith(".film.weight"):
            name = key[: -len(".film.weight")]
            films[name] = (np.ascontiguousarray(t[key].T), t[name + ".film.bias"])
    return NumpyAppearanceNet(config, convs, films, t["bank"])


def conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """3×3 convolution with zero padding 1 (as ``nn.Conv2d(cin, cout, 3, padding=1)``).

    :param x: H×W×Cin input.
    :param weight: 3×3×Cin×Cout kernel.
    :param bias: Cout bias.
    :return: H×W×Cout (a view into a padded-row buffer).
    """
    h, w, cin = x.shape
    cout = weight.shape[-1]
    wp = w + 2
    padded = np.zeros((h + 3, wp, cin), np.float32)  # one spare row: the last taps read past row h + 1
    padded[1: h + 1, 1: w + 1] = x
    flat = padded.reshape(-1, cin)
    n = h * wp
    out = np.empty((n, cout), np.float32)
    tmp = np.empty((min(BAND_ROWS, n), cout), np.float32)
    taps = [((dy - 1) * wp + dx - 1, weight[dy, dx]) for dy in range(3) for dx in range(3)]
    for a in range(0, n, BAND_ROWS):
        b = min(a + BAND_ROWS, n)
        acc, part = out[a:b], tmp[: b - a]
        base = wp + 1 + a
        for k, (offset, wk) in enumerate(taps):
            src = flat[base + offset: base + offset + (b - a)]
            if k == 0:
                np.matmul(src, wk, out=acc)
            else:
                np.matmul(src, wk, out=part)
                acc += part
        acc += bias
    return out.reshape(h, wp, cout)[:, :w]


def block(net: NumpyAppearanceNet, name: str, x: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """Two 3×3 convolutions with FiLM (as ``model._Block``).

    :param net: Weights.
    :param name: Block name (``stem``, ``down.0``…).
    :param x: H×W×Cin input.
    :param cond: K condition vector.
    """
    x = conv3x3(x, *net.convs[name + ".c1"])
    x = np.maximum(x, 0.2 * x)
    fw, fb = net.films[name]
    gamma, beta = np.split(cond @ fw + fb, 2)
    x = conv3x3(x, *net.convs[name + ".c2"])
    x = x * (1.0 + gamma) + beta
    return np.maximum(x, 0.2 * x)


def unshuffle(x: np.ndarray) -> np.ndarray:
    """H×W×C → H/2×W/2×4C with torch's ``pixel_unshuffle`` channel order (c, row, column)."""
    h, w, c = x.shape
    return x.reshape(h // 2, 2, w // 2, 2, c).transpose(0, 2, 4, 1, 3).reshape(h // 2, w // 2, 4 * c)


def shuffle(x: np.ndarray) -> np.ndarray:
    """H×W×4C → 2H×2W×C, the inverse of :func:`unshuffle` (torch's ``pixel_shuffle``)."""
    h, w, c4 = x.shape
    return x.reshape(h, w, c4 // 4, 2, 2).transpose(0, 3, 1, 4, 2).reshape(2 * h, 2 * w, c4 // 4)


def forward(net: NumpyAppearanceNet, feats: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """Linear RGB (H×W×3) from features (H×W×13, sides a multiple of the stride).

    :param net: Weights.
    :param feats: Features, channels last.
    :param cond: K condition vector (style one-hot and light direction).
    """
    n_levels = len(net.config.channels)
    x = block(net, "stem", unshuffle(feats), cond)
    skips = [x]
    for i in range(n_levels - 1):
        h, w, c = x.shape
        x = block(net, f"down.{i}", x.reshape(h // 2, 2, w // 2, 2, c).mean((1, 3)), cond)
        skips.append(x)
    for i, skip in enumerate(reversed(skips[:-1])):
        up = np.repeat(np.repeat(x, 2, 0), 2, 1)
        x = block(net, f"up.{i}", np.concatenate([up, skip], 2), cond)
    out = shuffle(conv3x3(x, *net.convs["head"]))
    shading = np.logaddexp(0.0, out[..., :3] + 0.5, dtype=np.float32)  # softplus
    residual = 0.25 * np.tanh(out[..., 3:])
    albedo = feats[..., :3] ** 2  # features hold sqrt(albedo)
    return albedo * shading + residual


def predict_numpy(net: NumpyAppearanceNet, feats: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """Run the network on one image of any size: pad (replicate) to the stride, run, crop, clamp at 0.

    :param net: Weights.
    :param feats: 13×H×W features (:func:`features`).
    :param cond: Condition vector (:func:`condition`).
    :return: 3×H×W linear RGB.
    """
    h, w = feats.shape[-2:]
    s = net.config.stride
    ph, pw = (-h) % s, (-w) % s
    x = np.pad(feats, ((0, 0), (0, ph), (0, pw)), mode="edge") if ph or pw else feats
    x = np.ascontiguousarray(x.transpose(1, 2, 0), dtype=np.float32)
    out = forward(net, x, np.asarray(cond, np.float32).reshape(-1))
    return np.ascontiguousarray(np.maximum(out[:h, :w], 0.0).transpose(2, 0, 1))


def features(albedo: np.ndarray, pattern: np.ndarray, direct: np.ndarray, ambient: np.ndarray,
             normals: np.ndarray, disparity: np.ndarray, edges: np.ndarray, mask: np.ndarray,
             noise: np.ndarray) -> np.ndarray:
    """Stack G-buffer maps (each C×H×W or H×W) into the 13×H×W network input (both runtimes, training too).

    :param albedo: 3×H×W linear albedo.
    :param pattern: Texture modulation.
    :param direct: Sun term with shadows.
    :param ambient: Sky term.
    :param normals: 3×H×W camera-space normals.
    :param disparity: Disparity normalised by its median.
    :param edges: Depth discontinuities.
    :param mask: Geometry mask.
    :param noise: Seeded standard normal noise (:func:`seeded_noise`).
    """
    maps = [np.sqrt(np.maximum(albedo, 0.0)), pattern, direct, ambient, normals, np.log1p(disparity), edges, mask,
            noise]
    return np.concatenate([np.asarray(m, np.float32).reshape(-1, *m.shape[-2:]) for m in maps], 0)


def condition(style: int, light: np.ndarray, n_styles: int = 8) -> np.ndarray:
    """The condition vector (styles + 3): style one-hot and light direction.

    :param style: Style index.
    :param light: Camera-space unit light direction (3).
    :param n_styles: Number of styles.
    """
    onehot = np.zeros(n_styles, np.float32)
    onehot[style] = 1.0
    return np.concatenate([onehot, np.asarray(light, np.float32).reshape(3)])


def seeded_noise(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """The network's noise channel: standard normal float32 from numpy's generator, the same in every runtime.

    :param seed: Generation seed.
    :param shape: ``(height, width)``.
    """
    return np.random.default_rng([seed, 23]).standard_normal(shape, dtype=np.float32)
