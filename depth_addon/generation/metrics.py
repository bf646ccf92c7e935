# SPDX-License-Identifier: GPL-3.0-or-later
"""Quality metrics for depth-conditioned image generators (numpy + OpenCV; torch for the learned parts; no bpy).

* :func:`discontinuities` — depth edges ``|∇²(1/z)|/(1/z) > 0.05`` (zero on planes, even grazing).
* :func:`boundary_contrast` (BCR) — mean colour change straddling depth edges ÷ the same away from them.
* :func:`boundary_recall` (BR) — share of depth-edge pixels with a luminance Sobel gradient > 0.08
  within 1 px.
* :func:`shading_r2` — variance of luminance explained by a per-segment linear fit ``Y ~ 1 + n``
  on depth normals, segments being depth-edge-free components (≥ 1 % of the image, eroded 2 px).
* :func:`seed_diversity` — mean pairwise L1 between images of the same condition, at full and 1/8
  resolution.
* :class:`StyleClassifier` — a small CNN trained on rendered data; its accuracy on generated images
  measures style adherence.
* :func:`frechet_distance` over :func:`random_features` — Fréchet distance in a seeded random-weight
  CNN's embedding.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

EDGE_THRESHOLD = 0.05


def discontinuities(depth: np.ndarray, threshold: float = EDGE_THRESHOLD) -> np.ndarray:
    """Depth-discontinuity map (H×W bool) from the relative disparity second difference.

    :param depth: H×W planar depth, non-finite = background (counts as disparity 0).
    :param threshold: Relative threshold.
    """
    valid = np.isfinite(depth) & (depth > 0)
    q = np.where(valid, 1.0 / np.where(valid, depth, 1.0), 0.0)
    second = np.zeros_like(q)
    second[:, 1:-1] += np.abs(q[:, 2:] - 2 * q[:, 1:-1] + q[:, :-2])
    second[1:-1, :] += np.abs(q[2:, :] - 2 * q[1:-1, :] + q[:-2, :])
    return valid & (second > threshold * np.maximum(q, 1e-30))


def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of an H×W×3 image.

    :param img: Image in [0, 1].
    """
    return img[..., 0] * 0.2126 + img[..., 1] * 0.7152 + img[..., 2] * 0.0722


def _straddle(img: np.ndarray) -> np.ndarray:
    """Per pixel, the larger of the mean |ΔRGB| between the left/right and the up/down neighbours."""
    img = img.astype(np.float32)
    gx = np.zeros(img.shape[:2], np.float32)
    gy = np.zeros(img.shape[:2], np.float32)
    gx[:, 1:-1] = np.abs(img[:, 2:] - img[:, :-2]).mean(-1)
    gy[1:-1, :] = np.abs(img[2:] - img[:-2]).mean(-1)
    return np.maximum(gx, gy)


def boundary_contrast(img: np.ndarray, depth: np.ndarray) -> float:
    """BCR: mean straddling colour change on depth edges ÷ on geometry ≥ 3 px away from them.

    :param img: H×W×3 image in [0, 1].
    :param depth: H×W depth.
    :return: The ratio (nan when there are no edges or no far pixels).
    """
    edges = discontinuities(depth)
    far = np.isfinite(depth) & ~cv2.dilate(edges.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    if not edges.any() or not far.any():
        return float("nan")
    g = _straddle(img)
    return float(g[edges].mean() / max(g[far].mean(), 1e-4))


def boundary_recall(img: np.ndarray, depth: np.ndarray, threshold: float = 0.08) -> float:
    """BR: share of depth-edge pixels with a luminance Sobel gradient above ``threshold`` within 1 px.

    :param img: H×W×3 image in [0, 1].
    :param depth: H×W depth.
    :param threshold: Gradient magnitude threshold (Sobel normalised by 4... per unit step).
    """
    edges = discontinuities(depth)
    if not edges.any():
        return float("nan")
    y = luminance(img).astype(np.float32)
    mag = np.hypot(cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)) / 4.0
    near = cv2.dilate(mag, np.ones((3, 3), np.uint8))
    return float((near[edges] > threshold).mean())


def depth_normals(depth: np.ndarray, frame: tuple[float, float, float, float] = (-0.5, 0.5, -0.5, 0.5)) -> np.ndarray:
    """Camera-space unit normals (H×W×3) of a perspective depth map, central differences.

    :param depth: H×W planar depth.
    :param frame: View frame ``(left, right, bottom, top)`` on ``z = -1``.
    """
    h, w = depth.shape
    left, right, bottom, top = frame
    xs = left + (np.arange(w) + 0.5) * (right - left) / w
    ys = top - (np.arange(h) + 0.5) * (top - bottom) / h
    z = np.where(np.isfinite(depth), depth, 0.0)
    p = np.stack([xs[None, :] * z, ys[:, None] * z, -z], -1)
    dx = np.gradient(p, axis=1)
    dy = np.gradient(p, axis=0)
    n = np.cross(dy, dx)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    flip = (n * p).sum(-1) > 0
    n[flip] *= -1
    return n


def segments(depth: np.ndarray, min_share: float = 0.01, erode: int = 2) -> list[np.ndarray]:
    """Depth-edge-free components covering at least ``min_share`` of the image, eroded.

    :param depth: H×W depth.
    :param min_share: Minimum component size as a share of the image.
    :param erode: Erosion radius in pixels.
    """
    region = (np.isfinite(depth) & ~discontinuities(depth)).astype(np.uint8)
    n, lab = cv2.connectedComponents(region, connectivity=4)
    kernel = np.ones((2 * erode + 1, 2 * erode + 1), np.uint8)
    out = []
    for k in range(1, n):
        seg = lab == k
        if seg.sum() >= min_share * depth.size:
            seg = cv2.erode(seg.astype(np.uint8), kernel).astype(bool)
            if seg.sum() >= 16:
                out.append(seg)
    return out


def shading_r2(img: np.ndarray, depth: np.ndarray, frame: tuple[float, float, float, float] = (-0.5, 0.5, -0.5, 0.5),
               ) -> float:
    """Pooled R² of a per-segment linear fit of luminance on depth normals (light-agnostic).

    :param img: H×W×3 image in [0, 1].
    :param depth: H×W depth.
    :param frame: View frame of the camera.
    """
    n = depth_normals(depth, frame)
    y = luminance(img)
    ss_res = ss_tot = 0.0
    for seg in segments(depth):
        a = np.concatenate([np.ones((int(seg.sum()), 1)), n[seg]], 1)
        b = y[seg]
        coef, *_ = np.linalg.lstsq(a, b, rcond=None)
        ss_res += float(((a @ coef - b) ** 2).sum())
        ss_tot += float(((b - b.mean()) ** 2).sum())
    return float("nan") if ss_tot <= 0 else 1.0 - ss_res / ss_tot


def seed_diversity(images: list[np.ndarray]) -> tuple[float, float]:
    """Mean pairwise L1 between images (same condition, different seeds), full and 1/8 resolution.

    :param images: At least two H×W×3 images in [0, 1].
    :return: ``(full, low)``.
    """
    h, w = images[0].shape[:2]
    small = [cv2.resize(im.astype(np.float32), (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
             for im in images]
    pairs = list(itertools.combinations(range(len(images)), 2))
    full = np.mean([np.abs(images[i].astype(np.float32) - images[j]).mean() for i, j in pairs])
    low = np.mean([np.abs(small[i] - small[j]).mean() for i, j in pairs])
    return float(full), float(low)


def _torch():
    import torch

    return torch


def random_features(images: np.ndarray, seed: int = 0, dim: int = 224) -> np.ndarray:
    """Embeddings (N×dim) of N×H×W×3 images in a seeded random-weight CNN (mean and std pooled).

    :param images: Images in [0, 1], all the same size.
    :param seed: Weight seed (fixed for comparability).
    :param dim: Embedding size (even).
    """
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    chans = [3, 32, 64, 96, dim // 2]
    weights = [torch.randn(chans[i + 1], chans[i], 3, 3, generator=gen) * (2.0 / (9 * chans[i])) ** 0.5
               for i in range(4)]
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).permute(0, 3, 1, 2) * 2 - 1
    feats = []
    with torch.inference_mode():
        for start in range(0, x.shape[0], 32):
            h = x[start:start + 32]
            for wgt in weights:
                h = torch.relu(torch.nn.functional.conv2d(h, wgt, stride=2, padding=1))
            feats.append(torch.cat([h.mean((2, 3)), h.std((2, 3))], 1))
    return torch.cat(feats).numpy().astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two feature sets (N×D each).

    :param a: Features of set A.
    :param b: Features of set B.
    """
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = np.linalg.eigvals(s1 @ s2)
    tr_sqrt = np.sqrt(np.clip(eig.real, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


class StyleClassifier:
    """A 4-layer CNN that names the material style of an image, trained on rendered data.

    :param n_styles: Number of classes.
    :param seed: Initialisation and batching seed.
    """

    def __init__(self, n_styles: int, seed: int = 0) -> None:
        torch = _torch()
        nn = torch.nn
        torch.manual_seed(seed)
        layers: list = []
        chans = [3, 32, 64, 128, 128]
        for i in range(4):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1), nn.BatchNorm2d(chans[i + 1]), nn.ReLU(),
                       nn.MaxPool2d(2)]
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, n_styles))
        self.seed = seed

    def fit(self, images: np.ndarray, labels: np.ndarray, epochs: int = 8, batch: int = 32) -> StyleClassifier:
        """Train on N×H×W×3 images in [0, 1] with integer labels (flip augmentation).

        :param images: Training images.
        :param labels: Class per image.
        :param epochs: Passes over the data.
        :param batch: Batch size.
        """
        torch = _torch()
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).permute(0, 3, 1, 2)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        opt = torch.optim.AdamW(self.net.parameters(), 2e-3)
        total = epochs * ((len(y) + batch - 1) // batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=total)
        rng = np.random.default_rng(self.seed)
        self.net.train()
        for _ in range(epochs):
            order = rng.permutation(len(y))
            for s in range(0, len(y), batch):
                idx = torch.from_numpy(order[s:s + batch])
                xb = x[idx]
                if rng.uniform() < 0.5:
                    xb = xb.flip(-1)
                loss = torch.nn.functional.cross_entropy(self.net(xb * 2 - 1), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        self.net.eval()
        return self

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class indices for N×H×W×3 images.

        :param images: Images in [0, 1].
        """
        torch = _torch()
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).permute(0, 3, 1, 2)
        with torch.inference_mode():
            return self.net(x * 2 - 1).argmax(1).numpy()
