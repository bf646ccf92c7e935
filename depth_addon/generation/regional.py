# SPDX-License-Identifier: GPL-3.0-or-later
"""Regional prompts by masked passes, for generators that paint one prompt per call (no bpy, no torch).

``baseline`` and ``diffusers`` take the same ``segments`` / ``segment_prompts`` pair as the generators
that are conditioned per pixel (see :mod:`.segments`), and paint it this way:

1. :func:`prompt_masks` groups the pixels by the prompt they must follow: a pixel whose segment has a
   non-empty prompt follows it, every other pixel (background, ``-1``, ids without a prompt) follows the
   main ``prompt``;
2. the generator runs once per distinct prompt, on the whole frame, with the same depth and seed, so
   every pass sees the same geometry and lays out the same structure;
3. :func:`masked_passes` keeps each pass only where its prompt applies. Segment borders follow object
   and material-slot borders, which are depth or material edges in the image, so the cut is a hard one.

One distinct prompt costs one pass, as without segments; ``n`` distinct prompts cost ``n`` passes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .base import Steps
from .segments import check_segments, resize_segments

#: ``run(prompt, steps)`` → H×W×3 image for the whole frame.
PassFn = Callable[[str, Steps], np.ndarray]


def prompt_masks(segments: np.ndarray | None, prompts: list[str] | None, prompt: str, shape: tuple[int, int],
                 size: tuple[int, int]) -> list[tuple[str, np.ndarray | None]]:
    """The distinct prompts of a frame and the pixels each one paints.

    :param segments: H×W integer segment map of the depth map's shape (resized to ``size`` by nearest
        neighbour, as the depth is), or None.
    :param prompts: One prompt per segment id.
    :param prompt: The main prompt, for pixels no segment prompt covers.
    :param shape: ``(height, width)`` of the depth map.
    :param size: Output ``(width, height)``.
    :raises BadInput: For a segment map of another shape or prompts that are not strings.
    :return: ``[(prompt, where)]``; ``where`` is a bool map, or None for the whole frame when there is only
        one prompt. The main prompt comes first when it covers any pixel, then segment prompts in order of
        their first segment id.
    """
    if segments is None or not prompts:
        return [(prompt, None)]
    seg, prompts = check_segments(segments, prompts, shape)
    seg = resize_segments(seg, size)
    texts = np.array([p.strip() or "\0" for p in prompts] + ["\0"], dtype=object)
    lookup = np.where((seg >= 0) & (seg < len(prompts)), seg, len(prompts))
    order = list(dict.fromkeys(t for t in texts[np.unique(lookup)] if t != "\0"))
    group = {text: k for k, text in enumerate(order)}
    owner = np.array([group.get(t, -1) for t in texts], np.int64)[lookup]  # segment id → its prompt's group
    groups = [(text, owner == k) for k, text in enumerate(order)]
    rest = owner < 0
    if rest.any():
        groups.insert(0, (prompt, rest))
    if len(groups) == 1:
        return [(groups[0][0], None)]
    return groups


def masked_passes(run: PassFn, groups: list[tuple[str, np.ndarray | None]], steps: Steps, start: float = 0.0
                  ) -> np.ndarray:
    """Run ``run`` once per prompt group and keep each pass where its prompt applies.

    :param run: ``run(prompt, steps)`` paints the whole frame for one prompt and reports into ``steps``.
    :param groups: The output of :func:`prompt_masks`.
    :param steps: The call's progress and cancellation; each pass gets an equal share after ``start``.
    :param start: Fraction of the call already done.
    :return: H×W×3 float32 image.
    :raises Cancelled: When the call's cancel poll returns True.
    """
    n = len(groups)
    out: np.ndarray | None = None
    for k, (text, where) in enumerate(groups):
        label = f"prompt {k + 1}/{n}: " if n > 1 else ""

        def sub(fraction: float, message: str, k: int = k, label: str = label) -> None:
            steps(start + (1.0 - start) * (k + fraction) / n, label + message)

        image = np.asarray(run(text, Steps(sub, None)), np.float32)
        if where is None:
            return image
        if out is None:
            out = np.empty_like(image)
        out[where] = image[where]
    return out
