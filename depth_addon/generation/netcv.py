# SPDX-License-Identifier: GPL-3.0-or-later
"""The appearance network on OpenCV's ``cv2.dnn`` (the fast runtime; numpy is its fallback).

At load time the network's graph is written in memory as ONNX (:mod:`.onnxgraph`) from the verified
safetensors weights (:func:`~.netnp.load_numpy`) and read by ``cv2.dnn.readNetFromONNX``; no ONNX
file is shipped or written. ``cv2.dnn`` runs the convolutions, pooling, upsampling and concatenation
with its own threaded kernels. The FiLM scale and shift of every block depend on the style and the
light direction, so they are graph inputs set per call: 1×C×1×1 each for one style, 1×C×H×W maps at the
block's resolution when every pixel has its own style (a condition map). The pixel (un)shuffle and
the output activations stay in numpy (:func:`~.netnp.unshuffle_chw`, :func:`~.netnp.finish`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .netnp import (
    NumpyAppearanceNet,
    block_levels,
    condition_levels,
    film_chw,
    finish,
    pad_inputs,
    shuffle_chw,
    unshuffle_chw,
)
from .onnxgraph import Graph, value_info

#: Name of the graph input holding the unshuffled features.
INPUT = "x"


@dataclass
class CvAppearanceNet:
    """The network as a ``cv2.dnn.Net`` plus the numpy weights it was built from.

    :param weights: Verified numpy weights (FiLM layers, palette bank, config).
    :param net: The ``cv2.dnn`` network.
    :param blocks: Block names in graph order (their FiLM inputs are ``<name>.scale`` / ``<name>.shift``).
    """

    weights: NumpyAppearanceNet
    net: object
    blocks: list[str]

    @property
    def bank(self) -> np.ndarray:
        """Palette bank, styles × bank size × 3."""
        return self.weights.bank


def _block(g: Graph, weights: NumpyAppearanceNet, name: str, x: str) -> str:
    """Conv, LeakyReLU, conv, FiLM (graph inputs), LeakyReLU; return the output's name."""
    for conv in ("c1", "c2"):
        w, b = weights.convs[f"{name}.{conv}"]
        wn = g.constant(f"{name}.{conv}.w", w.transpose(3, 2, 0, 1))  # 3×3×Cin×Cout → Cout×Cin×3×3
        x = g.node("Conv", [x, wn, g.constant(f"{name}.{conv}.b", b)], f"{name}.{conv}", kernel_shape=(3, 3),
                   pads=(1, 1, 1, 1))
        if conv == "c1":
            x = g.node("LeakyRelu", [x], f"{name}.a1", alpha=0.2)
    c = weights.convs[f"{name}.c2"][1].shape[0]
    for part in ("scale", "shift"):
        g.inputs.append(value_info(f"{name}.{part}", (1, c, 1, 1)))
    x = g.node("Mul", [x, f"{name}.scale"], f"{name}.mul")
    x = g.node("Add", [x, f"{name}.shift"], f"{name}.add")
    return g.node("LeakyRelu", [x], f"{name}.out", alpha=0.2)


def graph(weights: NumpyAppearanceNet) -> tuple[bytes, list[str]]:
    """The network as encoded ONNX (NCHW, input: unshuffled features; output: head before the shuffle).

    :param weights: Verified numpy weights.
    :return: ``(model bytes, block names)``.
    """
    g = Graph()
    cin = weights.convs["stem.c1"][0].shape[2]
    g.inputs.append(value_info(INPUT, (1, cin, 64, 64)))
    n = len(weights.config.channels)
    blocks = ["stem", *(f"down.{i}" for i in range(n - 1)), *(f"up.{i}" for i in range(n - 1))]
    x = _block(g, weights, "stem", INPUT)
    skips = [x]
    for i in range(n - 1):
        x = g.node("AveragePool", [x], f"pool.{i}", kernel_shape=(2, 2), strides=(2, 2))
        x = _block(g, weights, f"down.{i}", x)
        skips.append(x)
    scales = g.constant("up.scales", np.array([1.0, 1.0, 2.0, 2.0], np.float32))
    roi = g.constant("up.roi", np.zeros(0, np.float32))
    for i, skip in enumerate(reversed(skips[:-1])):
        up = g.node("Resize", [x, roi, scales], f"resize.{i}", mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        x = _block(g, weights, f"up.{i}", g.node("Concat", [up, skip], f"cat.{i}", axis=1))
    w, b = weights.convs["head"]
    g.node("Conv", [x, g.constant("head.w", w.transpose(3, 2, 0, 1)), g.constant("head.b", b)], "head",
           kernel_shape=(3, 3), pads=(1, 1, 1, 1))
    g.outputs.append(value_info("head", (1, w.shape[-1], 64, 64)))
    return g.model(), blocks


def load_cv(weights: NumpyAppearanceNet, threads: int | None = None) -> CvAppearanceNet:
    """Build the ``cv2.dnn`` network from verified weights.

    :param weights: Verified numpy weights (:func:`~.netnp.load_numpy`).
    :param threads: ``cv2.setNumThreads`` value; OpenCV's default (all cores) when None.
    :raises ImportError: Without OpenCV.
    :raises cv2.error: When OpenCV cannot import the graph.
    """
    import cv2

    if threads is not None:
        cv2.setNumThreads(threads)
    model, blocks = graph(weights)
    net = cv2.dnn.readNetFromONNX(np.frombuffer(model, np.uint8))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return CvAppearanceNet(weights, net, blocks)


def predict_cv(model: CvAppearanceNet, feats: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """Run the network on one image of any size: pad (replicate) to the stride, run, crop, clamp at 0.

    :param model: Loaded network.
    :param feats: 13×H×W features (:func:`~.netnp.features`).
    :param cond: Condition vector (:func:`~.netnp.condition`) or K×H×W map (:func:`~.netnp.condition_map`).
    :return: 3×H×W linear RGB.
    """
    h, w = feats.shape[-2:]
    x, cond = pad_inputs(feats, cond, model.weights.config.stride)
    n_levels = len(model.weights.config.channels)
    conds, at = condition_levels(cond, n_levels), block_levels(n_levels)
    net = model.net
    net.setInput(unshuffle_chw(x)[None], INPUT)
    for name in model.blocks:
        scale, shift = film_chw(model.weights, name, conds[at[name]])
        scale += 1.0
        for part, value in (("scale", scale), ("shift", shift)):
            net.setInput(value.reshape(1, -1, 1, 1) if value.ndim == 1 else value[None], f"{name}.{part}")
    head = net.forward("head")[0]
    return finish(shuffle_chw(head), x, h, w)
