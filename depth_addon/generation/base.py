# SPDX-License-Identifier: GPL-3.0-or-later
"""The generator contract and the input handling every generator shares (no bpy, no torch).

A generator turns a depth map into an image. Inputs follow one convention everywhere: ``depth`` is
H×W float32 planar camera Z in metres with ``inf``/``NaN`` for background, ``mask`` is H×W bool
(True = geometry), ``size`` is ``(width, height)`` of the output and row 0 is the top row. The
result is H×W×3 float32 display-referred sRGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from ..camera import CameraModel
from ..errors import BadInput, Cancelled

MAX_SIDE = 16384

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


@runtime_checkable
class Generator(Protocol):
    """Anything that turns a depth map into an sRGB image.

    Implementations must be deterministic: the same inputs and ``seed`` give a bit-identical image.
    """

    name: str

    def generate(
        self,
        depth: np.ndarray,
        mask: np.ndarray | None = None,
        prompt: str = "",
        seed: int = 0,
        size: tuple[int, int] | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        camera: CameraModel | None = None,
    ) -> np.ndarray:
        """Generate an image for ``depth``.

        :param depth: H×W planar camera-Z depth in metres; ``inf``/``NaN`` mark background.
        :param mask: H×W bool, True where there is geometry; defaults to ``isfinite(depth)``.
        :param prompt: Free text steering the look; words a generator does not know are ignored.
        :param seed: Random seed; equal seeds give bit-identical results.
        :param size: Output ``(width, height)``; defaults to the depth map's size.
        :param progress: Called as ``progress(fraction, message)`` with a non-decreasing fraction
            that ends at 1.0.
        :param cancel: Polled between steps; returning True raises :class:`Cancelled`.
        :param camera: Camera the depth was taken with; generators assume a default when None.
        :return: H×W×3 float32 display-referred sRGB in [0, 1], row 0 = top.
        :raises BadInput: For unusable depth, mask, size or seed.
        :raises Cancelled: When ``cancel()`` returned True.
        """
        ...


def region_prompts(gen: object, prompts: list[str] | None, texts: list[str] | None) -> list[str] | None:
    """The per-segment prompts ``gen`` is handed: for a generator that reads free text (``reads_free_text``:
    diffusers), each scene-prompt phrase as the user typed it ("weathered oak beams"); for the others, the
    single-material prompt the scene-prompt parser made of it ("oak wood"), which is what their vocabulary reads.

    :param gen: A generator.
    :param prompts: One parsed prompt per segment.
    :param texts: One typed phrase per segment, or None (then ``prompts`` serve every generator).
    """
    return texts if texts is not None and getattr(gen, "reads_free_text", False) else prompts


def validate_depth(depth: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check a depth map and its mask and return them in canonical form.

    Pixels that are masked out, non-finite or not positive become background: ``inf`` in the
    returned depth and False in the returned mask.

    :param depth: H×W depth in metres (any real dtype).
    :param mask: Optional H×W boolean mask, True = geometry.
    :return: ``(depth, mask)`` as C-contiguous float32 and bool arrays.
    :raises BadInput: When the arrays have the wrong shape or no pixel holds usable geometry.
    """
    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[..., 0]
    if d.ndim != 2 or d.shape[0] < 1 or d.shape[1] < 1:
        raise BadInput(f"depth must be a non-empty H×W array, got shape {d.shape}")
    if not (np.issubdtype(d.dtype, np.floating) or np.issubdtype(d.dtype, np.integer)):
        raise BadInput(f"depth must hold real numbers, got dtype {d.dtype}")
    d = d.astype(np.float32)
    valid = np.isfinite(d) & (d > 0)
    if mask is not None:
        m = np.asarray(mask)
        if m.ndim == 3 and m.shape[2] == 1:
            m = m[..., 0]
        if m.shape != d.shape:
            raise BadInput(f"mask shape {m.shape} does not match depth shape {d.shape}")
        valid &= m.astype(bool)
    if not valid.any():
        if not np.isfinite(d).any():
            raise BadInput("the depth map is all background (no finite depth): nothing to generate from")
        raise BadInput("the depth map has no finite positive depth inside the mask: nothing to generate from")
    out = np.where(valid, d, np.float32(np.inf)).astype(np.float32)
    return np.ascontiguousarray(out), np.ascontiguousarray(valid)


def validate_size(size: tuple[int, int] | None, shape: tuple[int, int]) -> tuple[int, int]:
    """Output ``(width, height)``: ``size`` checked, or the depth map's own size.

    :param size: Requested ``(width, height)`` or None.
    :param shape: ``(height, width)`` of the depth map.
    :raises BadInput: When the size is not two positive integers up to :data:`MAX_SIDE`.
    """
    if size is None:
        return int(shape[1]), int(shape[0])
    try:
        w, h = (int(v) for v in size)
        exact = all(float(v) == int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"size must be (width, height), got {size!r}") from exc
    if not exact or not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise BadInput(f"size must be two whole numbers between 1 and {MAX_SIDE}, got {size!r}")
    return w, h


def validate_seed(seed: int) -> int:
    """The seed as a non-negative integer below 2**64 (negative seeds wrap around).

    :param seed: Any integer (bools and floats are refused).
    :raises BadInput: When ``seed`` is not an integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise BadInput(f"seed must be an integer, got {seed!r}")
    return int(seed) % (1 << 64)


def resize_depth(depth: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resample a validated depth map and mask to ``size`` without inventing in-between surfaces.

    Downsampling picks the nearest source pixel (averaging across a silhouette would create
    points floating between foreground and background). Upsampling interpolates disparity
    bilinearly where the four source taps are geometry within 5 % of each other, so planes stay
    planes, and falls back to the nearest tap everywhere else.

    :param depth: H×W float32 depth as returned by :func:`validate_depth`.
    :param mask: H×W bool mask as returned by :func:`validate_depth`.
    :param size: Output ``(width, height)``.
    :return: ``(depth, mask)`` at the new size; background is ``inf``/False.
    """
    h, w = depth.shape
    w2, h2 = size
    if (w2, h2) == (w, h):
        return depth, mask
    iy = np.minimum(((np.arange(h2) + 0.5) * h / h2).astype(np.int64), h - 1)
    ix = np.minimum(((np.arange(w2) + 0.5) * w / w2).astype(np.int64), w - 1)
    near_d, near_m = depth[iy][:, ix], mask[iy][:, ix]
    if w2 <= w and h2 <= h:
        return np.ascontiguousarray(near_d), np.ascontiguousarray(near_m)
    sy = np.clip((np.arange(h2) + 0.5) * h / h2 - 0.5, 0.0, h - 1.0)
    sx = np.clip((np.arange(w2) + 0.5) * w / w2 - 0.5, 0.0, w - 1.0)
    y0, x0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (sy - y0)[:, None].astype(np.float32), (sx - x0)[None, :].astype(np.float32)
    disp = np.where(mask, 1.0 / np.where(mask, depth, 1.0), 0.0).astype(np.float32)
    taps = [disp[y][:, x] for y in (y0, y1) for x in (x0, x1)]
    top = taps[0] * (1 - fx) + taps[1] * fx
    bottom = taps[2] * (1 - fx) + taps[3] * fx
    blend = top * (1 - fy) + bottom * fy
    lo, hi = np.minimum.reduce(taps), np.maximum.reduce(taps)
    smooth = (lo > 0) & (hi <= lo * 1.05)
    with np.errstate(divide="ignore"):
        out = np.where(smooth, 1.0 / np.where(smooth, blend, 1.0), near_d).astype(np.float32)
    out_mask = smooth | near_m
    return np.ascontiguousarray(out), np.ascontiguousarray(out_mask)


class Steps:
    """Progress reporting and cancellation for one ``generate`` call.

    :param progress: Optional ``progress(fraction, message)`` callback.
    :param cancel: Optional ``cancel()`` poll; True aborts at the next check point.
    """

    def __init__(self, progress: ProgressFn | None, cancel: CancelFn | None) -> None:
        self._progress = progress
        self._cancel = cancel
        self._last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        """Check for cancellation, then report ``fraction`` (never going backwards).

        :param fraction: Share of the work done, 0..1.
        :param message: Short description of the step that starts now.
        :raises Cancelled: When the cancel poll returns True.
        """
        if self._cancel is not None and self._cancel():
            raise Cancelled("image generation cancelled")
        self._report(fraction, message)

    def done(self, message: str = "done") -> None:
        """Report completion (fraction 1.0); the work is finished, so no cancel check.

        :param message: Final message.
        """
        self._report(1.0, message)

    def _report(self, fraction: float, message: str) -> None:
        self._last = min(1.0, max(self._last, float(fraction)))
        if self._progress is not None:
            self._progress(self._last, message)
