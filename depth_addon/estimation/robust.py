# SPDX-License-Identifier: GPL-3.0-or-later
"""Scale and shift fits that minimise *relative* error: ``target ≈ scale · value + shift``.

Every residual is divided by its target, so one per cent off at 2 m weighs the same as one per cent off at
20 m (in disparity space, relative error of ``1/z`` is relative error of ``z``). :func:`fit_affine` is
plain weighted least squares for a few trusted samples; :func:`robust_affine` starts from the best of a
small RANSAC over sample pairs and refines by iteratively reweighted least squares (Tukey's biweight), so
pixels where the photo and the reference disagree (moved objects, sky, wrong geometry) drop out.
"""

from __future__ import annotations

import numpy as np

from ..errors import BadInput

#: RANSAC pairs tried before the reweighted refinement.
RANSAC_TRIALS = 64
#: Samples the RANSAC scores each pair on.
RANSAC_SAMPLES = 4096
#: Relative residual below which a sample is an inlier.
INLIER_THRESHOLD = 0.05
#: Reweighting rounds.
IRLS_ROUNDS = 8
#: Tukey's biweight tuning constant (in robust standard deviations).
TUKEY_C = 4.685


def fit_affine(values: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Weighted least squares of ``target ≈ scale · values + shift`` in relative error.

    :param values: 1-D raw values (finite).
    :param target: 1-D targets (finite, positive).
    :param weights: Non-negative weight per sample; 1 when None.
    :return: ``(scale, shift)``.
    :raises BadInput: When the values do not vary (scale and shift cannot be told apart).
    """
    x = np.asarray(values, np.float64) / target
    c = 1.0 / np.asarray(target, np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, np.float64)
    sxx, sxc, scc = float(np.dot(w * x, x)), float(np.dot(w * x, c)), float(np.dot(w * c, c))
    sx, sc = float(w @ x), float(w @ c)
    det = sxx * scc - sxc * sxc
    if not np.isfinite(det) or det <= 1e-12 * max(sxx * scc, 1e-300):
        raise BadInput("the samples all have the same estimated value, so scale and shift cannot be fitted; "
                       "use points at different distances")
    return (sx * scc - sc * sxc) / det, (sc * sxx - sx * sxc) / det


def _ransac(values: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """The pair-wise fit with the most inliers on a subsample."""
    n = values.size
    pick = rng.integers(0, n, size=min(n, RANSAC_SAMPLES))
    xs, ys = values[pick], target[pick]
    i, j = rng.integers(0, n, size=(2, RANSAC_TRIALS))
    dx = values[i] - values[j]
    ok = np.abs(dx) > 1e-12 * (np.abs(values[i]) + np.abs(values[j]) + 1e-30)
    if not ok.any():
        return fit_affine(values, target)
    scale = (target[i][ok] - target[j][ok]) / dx[ok]
    shift = target[i][ok] - scale * values[i][ok]
    residual = np.abs((scale[:, None] * xs[None, :] + shift[:, None]) / ys[None, :] - 1.0)
    best = int(np.argmax((residual < INLIER_THRESHOLD).sum(axis=1)))
    return float(scale[best]), float(shift[best])


def robust_affine(values: np.ndarray, target: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """RANSAC then Tukey-reweighted least squares of ``target ≈ scale · values + shift`` in relative error.

    :param values: 1-D raw values (finite).
    :param target: 1-D targets (finite, positive), same length.
    :param seed: Seed of the RANSAC sampling (the result is deterministic).
    :return: ``(scale, shift, inlier_fraction)``; inliers are within :data:`INLIER_THRESHOLD`.
    :raises BadInput: When the values do not vary.
    """
    values = np.asarray(values, np.float64)
    target = np.asarray(target, np.float64)
    scale, shift = _ransac(values, target, np.random.default_rng(seed))
    for _ in range(IRLS_ROUNDS):
        r = (scale * values + shift) / target - 1.0
        sigma = max(1.4826 * float(np.median(np.abs(r))), 1e-4)
        u = r / (TUKEY_C * sigma)
        w = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        if w.sum() < 2:
            break
        scale, shift = fit_affine(values, target, w)
    r = np.abs((scale * values + shift) / target - 1.0)
    return float(scale), float(shift), float(np.mean(r < INLIER_THRESHOLD))
