# SPDX-License-Identifier: GPL-3.0-or-later
"""The appearance network's forward pass in numpy: the runtime that ships (no torch, no bpy).

Same computation as :class:`~.model.AppearanceNet` (the torch reference, used for training), on
the same verified safetensors weights. Activations are H×W×C float32. A 3×3 convolution runs as
nine matrix products over a zero-padded copy of its input flattened to rows: tap ``(dy, dx)`` of
every output pixel is one row offset away, so each product reads a contiguous block and no im2col
matrix is built. Rows are processed in bands of :data:`BAND_ROWS`, which bounds the temporary
memory of a convolution to a few MB whatever the image size.

The condition is a vector (one style for the image) or a map (:func:`condition_map`: every pixel its own
style); a map is averaged down to each block's resolution (:func:`condition_levels`), where FiLM turns it
into per-pixel scales and shifts.
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


def leaky_relu(x: np.ndarray) -> np.ndarray:
    """LeakyReLU with slope 0.2 into a new contiguous array (one temporary).

    :param x: Input (may be a strided view).
    """
    out = np.multiply(x, np.float32(0.2))
    return np.maximum(out, x, out=out)


def block(net: NumpyAppearanceNet, name: str, x: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """Two 3×3 convolutions with FiLM (as ``model._Block``).

    :param net: Weights.
    :param name: Block name (``stem``, ``down.0``…).
    :param x: H×W×Cin input.
    :param cond: K condition vector, or an H×W×K condition map at the block's resolution.
    """
    x = leaky_relu(conv3x3(x, *net.convs[name + ".c1"]))
    gamma, beta = film(net, name, cond)
    x = conv3x3(x, *net.convs[name + ".c2"])
    x *= 1.0 + gamma
    x += beta
    return leaky_relu(x)


def upsample_concat(x: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """Nearest 2× upsampling of ``x`` concatenated with ``skip`` along channels, written in one buffer.

    :param x: H×W×C1 coarse features.
    :param skip: 2H×2W×C2 skip features.
    """
    h, w, c1 = x.shape
    out = np.empty((2 * h, 2 * w, c1 + skip.shape[2]), np.float32)
    out.reshape(h, 2, w, 2, -1)[..., :c1] = x[:, None, :, None, :]
    out[..., c1:] = skip
    return out


def unshuffle(x: np.ndarray) -> np.ndarray:
    """H×W×C → H/2×W/2×4C with torch's ``pixel_unshuffle`` channel order (c, row, column)."""
    h, w, c = x.shape
    return x.reshape(h // 2, 2, w // 2, 2, c).transpose(0, 2, 4, 1, 3).reshape(h // 2, w // 2, 4 * c)


def unshuffle_chw(x: np.ndarray) -> np.ndarray:
    """C×H×W → 4C×H/2×W/2, torch's ``pixel_unshuffle`` on channel-first maps.

    :param x: Channel-first maps, even sides.
    """
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).transpose(0, 2, 4, 1, 3).reshape(4 * c, h // 2, w // 2)


def shuffle_chw(x: np.ndarray) -> np.ndarray:
    """4C×H×W → C×2H×2W, torch's ``pixel_shuffle`` on channel-first maps.

    :param x: Channel-first maps.
    """
    c4, h, w = x.shape
    return x.reshape(c4 // 4, 2, 2, h, w).transpose(0, 3, 1, 4, 2).reshape(c4 // 4, 2 * h, 2 * w)


def film(net: NumpyAppearanceNet, name: str, cond: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FiLM ``(gamma, beta)`` of one block: C each for a condition vector, H×W×C each for a map.

    :param net: Weights.
    :param name: Block name.
    :param cond: K condition vector, or an H×W×K condition map.
    """
    fw, fb = net.films[name]
    gamma, beta = np.split(cond @ fw + fb, 2, axis=-1)
    return gamma, beta


def film_chw(net: NumpyAppearanceNet, name: str, cond: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`film` laid out channel first: C each for a condition vector, C×H×W each (contiguous) for a map, made
    so by the product itself rather than by copying a transposed H×W×C result.

    :param net: Weights.
    :param name: Block name.
    :param cond: K condition vector, or an H×W×K condition map.
    """
    if cond.ndim == 1:
        return film(net, name, cond)
    fw, fb = net.films[name]
    h, w, k = cond.shape
    out = (fw.T @ cond.reshape(-1, k).T).reshape(-1, h, w)  # 2C × H × W
    out += fb[:, None, None]
    half = len(out) // 2
    return out[:half], out[half:]


def condition_levels(cond: np.ndarray, n_levels: int) -> list[np.ndarray]:
    """The condition each resolution level reads: a vector for all of them, or a map averaged over 2×2 cells down
    to each level (level 0 is half the input's resolution, as the stem).

    :param cond: K condition vector, or an H×W×K map at the input's resolution (sides a multiple of the stride).
    :param n_levels: Number of levels.
    """
    if cond.ndim == 1:
        return [cond] * n_levels
    levels = []
    for _ in range(n_levels):
        h, w, k = cond.shape
        cond = cond.reshape(h // 2, 2, w // 2, 2, k).mean((1, 3), dtype=np.float32)
        levels.append(cond)
    return levels


def block_levels(n_levels: int) -> dict[str, int]:
    """The resolution level of every block (``stem``, ``down.i``, ``up.i``) of a network with ``n_levels``."""
    out = {"stem": 0}
    out.update({f"down.{i}": i + 1 for i in range(n_levels - 1)})
    out.update({f"up.{i}": n_levels - 2 - i for i in range(n_levels - 1)})
    return out


def finish(head: np.ndarray, feats: np.ndarray, h: int, w: int) -> np.ndarray:
    """Linear RGB (3×h×w, clamped at 0) from the shuffled head output and the features (channel-first).

    ``albedo × softplus(shading + 0.5) + 0.25 tanh(residual)``, cropped to ``h``×``w`` first.

    :param head: 6×H×W head output after the pixel shuffle.
    :param feats: 13×H×W features (the first three hold sqrt(albedo)).
    :param h: Output height.
    :param w: Output width.
    """
    out = np.ascontiguousarray(head[:, :h, :w], np.float32)
    shading, residual = out[:3], out[3:]
    shading += np.float32(0.5)
    np.logaddexp(np.float32(0.0), shading, out=shading)  # softplus
    np.tanh(residual, out=residual)
    shading *= np.square(feats[:3, :h, :w])  # features hold sqrt(albedo)
    shading += np.float32(0.25) * residual
    return np.maximum(shading, 0.0, out=shading)


def forward(net: NumpyAppearanceNet, feats: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """The head's output before the pixel shuffle (H/2×W/2×24) from features (H×W×13, sides a multiple of the stride).

    :param net: Weights.
    :param feats: Features, channels last.
    :param cond: K condition vector (style one-hot and light direction), or an H×W×K condition map.
    """
    n_levels = len(net.config.channels)
    conds, at = condition_levels(cond, n_levels), block_levels(n_levels)
    x = block(net, "stem", unshuffle(feats), conds[0])
    skips = [x]
    for i in range(n_levels - 1):
        h, w, c = x.shape
        x = block(net, f"down.{i}", x.reshape(h // 2, 2, w // 2, 2, c).mean((1, 3)), conds[at[f"down.{i}"]])
        skips.append(x)
    for i, skip in enumerate(reversed(skips[:-1])):
        x = block(net, f"up.{i}", upsample_concat(x, skip), conds[at[f"up.{i}"]])
    return conv3x3(x, *net.convs["head"])


def predict_numpy(net: NumpyAppearanceNet, feats: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """Run the network on one image of any size: pad (replicate) to the stride, run, crop, clamp at 0.

    :param net: Weights.
    :param feats: 13×H×W features (:func:`features`).
    :param cond: Condition vector (:func:`condition`) or K×H×W condition map (:func:`condition_map`).
    :return: 3×H×W linear RGB.
    """
    x, c = pad_inputs(feats, cond, net.config.stride)
    head = forward(net, np.ascontiguousarray(x.transpose(1, 2, 0)), c)
    h, w = feats.shape[-2:]
    return finish(shuffle_chw(head.transpose(2, 0, 1)), x, h, w)


def pad_inputs(feats: np.ndarray, cond: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Features (C×H×W) and condition padded (replicated edges) to a multiple of ``stride``; the condition as a
    vector or as an H×W×K map, channels last.

    :param feats: Features.
    :param cond: Condition vector, or K×H×W condition map.
    :param stride: The network's stride.
    """
    h, w = feats.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    pad = ((0, 0), (0, ph), (0, pw))
    x = np.asarray(np.pad(feats, pad, mode="edge") if ph or pw else feats, np.float32)
    cond = np.asarray(cond, np.float32)
    if cond.ndim == 1:
        return x, cond
    cond = np.pad(cond, pad, mode="edge") if ph or pw else cond
    return x, np.ascontiguousarray(cond.transpose(1, 2, 0))


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


def condition_map(styles: np.ndarray, light: np.ndarray, n_styles: int = 8) -> np.ndarray:
    """The per-pixel condition map ((styles + 3)×H×W): every pixel its style's one-hot, and the light direction.

    :param styles: H×W style index per pixel.
    :param light: Camera-space unit light direction (3).
    :param n_styles: Number of styles.
    """
    eye = np.eye(n_styles, dtype=np.float32)
    onehot = eye[np.clip(styles, 0, n_styles - 1)].transpose(2, 0, 1)
    light = np.broadcast_to(np.asarray(light, np.float32).reshape(3, 1, 1), (3, *styles.shape))
    return np.ascontiguousarray(np.concatenate([onehot, light], 0))


def seeded_noise(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """The network's noise channel: standard normal float32 from numpy's generator, the same in every runtime.

    :param seed: Generation seed.
    :param shape: ``(height, width)``.
    """
    return np.random.default_rng([seed, 23]).standard_normal(shape, dtype=np.float32)
