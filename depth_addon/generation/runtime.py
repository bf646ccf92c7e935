# SPDX-License-Identifier: GPL-3.0-or-later
"""Choosing the runtime of the appearance network: OpenCV's ``cv2.dnn`` when it works, numpy otherwise.

Both run the same verified safetensors weights with no torch. ``auto`` builds the ``cv2.dnn`` network
(:mod:`.netcv`) and checks it on a small seeded probe (one style, and one per pixel) against the numpy forward
(:mod:`.netnp`); if OpenCV is missing, cannot import the graph, raises, or disagrees by more than
:data:`PROBE_TOLERANCE`, the numpy network is used and the reason is kept as a note (shown by the generator's
``describe``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..errors import ModelUnavailable
from .netnp import NumpyAppearanceNet, condition_map, predict_numpy

#: Largest difference (linear RGB) allowed between OpenCV and numpy on the load-time probe.
PROBE_TOLERANCE = 1e-3
#: Side of the probe image (two strides: exercises padding-free pooling and upsampling).
PROBE_SIZE = 32

_LOCK = threading.Lock()  # one cv2.dnn.Net holds per-call inputs: calls on it are serialised


def probe_inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded features (13×:data:`PROBE_SIZE`²), condition vector and condition map (two styles, one per half)
    for the load-time check.

    :param seed: Seed.
    """
    rng = np.random.default_rng([seed, 29])
    feats = rng.random((13, PROBE_SIZE, PROBE_SIZE), dtype=np.float32)
    light = np.array([0.3, 0.8, 0.5], np.float32)
    cond = np.concatenate([np.eye(8, dtype=np.float32)[seed % 8], light])
    halves = np.where(np.arange(PROBE_SIZE) < PROBE_SIZE // 2, seed % 8, (seed + 3) % 8)
    return feats, cond, condition_map(np.broadcast_to(halves, (PROBE_SIZE, PROBE_SIZE)), light)


def _opencv(weights: NumpyAppearanceNet) -> tuple[object | None, str]:
    """The checked OpenCV network, or None and the reason it is not used."""
    try:
        import cv2  # noqa: F401 - bundled with the extension, but a user's Python may lack it
    except ImportError as exc:
        return None, f"OpenCV not available: {exc}"
    from .netcv import load_cv, predict_cv

    try:
        net = load_cv(weights)
        feats, cond, cmap = probe_inputs()  # one style for the image, and one per pixel
        diff = max(float(np.abs(predict_cv(net, feats, c) - predict_numpy(weights, feats, c)).max())
                   for c in (cond, cmap))
    except Exception as exc:  # noqa: BLE001 - any OpenCV failure means: use numpy
        return None, f"OpenCV could not run the network: {exc}".splitlines()[0]
    if not diff <= PROBE_TOLERANCE:
        return None, f"OpenCV disagreed with numpy on the probe by {diff:.1e}"
    return net, ""


def load_runtime(weights: NumpyAppearanceNet, runtime: str = "auto") -> tuple[object, str, str]:
    """The network for a runtime name, with the runtime actually used and a note on any fallback.

    :param weights: Verified numpy weights (:func:`~.netnp.load_numpy`).
    :param runtime: ``auto``, ``opencv`` (no fallback) or ``numpy``.
    :return: ``(network, "opencv" or "numpy", note)``.
    :raises ModelUnavailable: For ``opencv`` when OpenCV cannot run the network.
    """
    if runtime == "numpy":
        return weights, "numpy", ""
    net, note = _opencv(weights)
    if net is not None:
        return net, "opencv", ""
    if runtime == "opencv":
        raise ModelUnavailable(f"the opencv runtime cannot run the embedded model: {note}")
    return weights, "numpy", note


def predictor(model: object, cond: np.ndarray | None = None) -> Callable[..., np.ndarray]:
    """``predict(features, condition map=None)``: 13×h×w features → 3×h×w linear RGB with the loaded network
    (OpenCV or numpy).

    :param model: From :func:`load_runtime`.
    :param cond: Condition vector (:func:`~.netnp.condition`) used when no K×h×w condition map is passed.
    """
    if isinstance(model, NumpyAppearanceNet):
        return lambda f, c=None: predict_numpy(model, f, cond if c is None else c)
    from .netcv import predict_cv

    def run(f: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
        with _LOCK:
            return predict_cv(model, f, cond if c is None else c)

    return run
