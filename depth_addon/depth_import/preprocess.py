# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth clean-up before meshing: pure functions on H×W float32 metres (NaN = invalid) and a pipeline.

Every step is optional and returns a new array; :class:`Preprocess` runs the enabled ones in a
fixed order (normalise → clip → fill → denoise → downsample) and can keep each intermediate result
as a preview. Tearing (:func:`face_mask`) decides which grid faces are dropped at depth jumps so a
foreground object does not smear into the background.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import BadInput
from .intrinsics import Intrinsics

DENOISE = ("none", "bilateral", "guided")
#: Depth ratio across a hole's border that marks an edge (the default tear ratio): such a hole fills from behind.
EDGE_RATIO = 1.1


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - depends on the installation
        raise BadInput("this pre-processing step needs OpenCV (pip install opencv-python-headless)") from None
    return cv2


def valid_mask(depth: np.ndarray) -> np.ndarray:
    """True where depth is finite and positive."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth > 0)


def normalise_range(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """Map valid depth linearly onto ``[near, far]`` metres (for relative inputs of arbitrary scale).

    :param depth: H×W metres, NaN invalid.
    :param near: Metres for the smallest valid value.
    :param far: Metres for the largest valid value.
    """
    if not 0 < near < far:
        raise BadInput(f"normalise needs 0 < near < far, got {near}, {far}")
    ok = valid_mask(depth)
    lo, hi = float(depth[ok].min()), float(depth[ok].max())
    out = np.full_like(depth, np.nan)
    out[ok] = near + (depth[ok] - lo) * ((far - near) / (hi - lo) if hi > lo else 0.0)
    return out


def clip_percentiles(depth: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Clamp valid depth to its ``low``/``high`` percentiles (flying pixels, sensor spikes).

    :param depth: H×W metres, NaN invalid.
    :param low: Lower percentile in [0, 100).
    :param high: Upper percentile in (low, 100].
    """
    if not 0 <= low < high <= 100:
        raise BadInput(f"percentiles need 0 <= low < high <= 100, got {low}, {high}")
    ok = valid_mask(depth)
    lo, hi = np.percentile(depth[ok], [low, high])
    out = depth.copy()
    out[ok] = np.clip(depth[ok], lo, hi)
    return out


def fill_holes(depth: np.ndarray, max_hole: int = 0, radius: int = 3, background: np.ndarray | None = None
               ) -> np.ndarray:
    """Inpaint invalid pixels (NaN, inf, zero, negative) from their surroundings (OpenCV Navier–Stokes); a hole
    whose border falls apart at a depth jump is filled from its far side alone (see :func:`_fill_behind_edges`).

    :param depth: H×W metres.
    :param max_hole: Fill only connected holes up to this many pixels (0: every hole, including an
        open background the file does not mark as such).
    :param radius: Inpainting neighbourhood in pixels.
    :param background: H×W bool, pixels the file marks as seeing nothing (sky): never filled.
    """
    cv2 = _cv2()
    holes = ~valid_mask(depth)
    if background is not None:
        holes &= ~background
    if max_hole > 0 and holes.any():
        count, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
        small = np.zeros(count, bool)
        small[1:] = stats[1:, cv2.CC_STAT_AREA] <= max_hole
        holes = small[labels]
    if not holes.any():
        return depth.copy()
    src = np.where(holes, 0.0, depth).astype(np.float32)
    filled = cv2.inpaint(src, holes.astype(np.uint8), int(radius), cv2.INPAINT_NS)
    _fill_behind_edges(filled, depth, holes, int(radius))
    out = depth.copy()
    out[holes] = filled[holes]
    out[holes & ~(out > 0)] = np.nan  # inpainting never invents depth at or behind the camera
    return out


def _far_side(border: np.ndarray, ratio: float) -> float | None:
    """The nearest depth of the far side when the depths around a hole fall apart at a jump (the largest gap between
    them, sorted) above ``ratio``, else None: a border that only recedes, as on a floor, has no such gap.

    :param border: Valid depths around one hole.
    :param ratio: Depth ratio that counts as a jump.
    """
    logs = np.sort(np.log(border))
    if logs.size < 2:
        return None
    gaps = np.diff(logs)
    k = int(np.argmax(gaps))
    return float(np.exp(logs[k + 1])) if gaps[k] > math.log(ratio) else None


def _spanning(depth: np.ndarray, valid: np.ndarray, holes: np.ndarray, labels: np.ndarray, count: int,
              ratio: float, square: np.ndarray) -> np.ndarray:
    """Labels of the holes whose valid neighbours span a depth ratio above ``ratio`` (only these can hold a jump)."""
    near = _cv2().erode(np.where(valid, depth, np.inf).astype(np.float32), square)[holes]
    far = _cv2().dilate(np.where(valid, depth, 0.0).astype(np.float32), square)[holes]
    lo, hi = np.full(count, np.inf, np.float32), np.zeros(count, np.float32)
    np.minimum.at(lo, labels[holes], near)
    np.maximum.at(hi, labels[holes], far)
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(hi[1:] > lo[1:] * np.float32(ratio)) + 1


def _fill_behind_edges(filled: np.ndarray, depth: np.ndarray, holes: np.ndarray, radius: int,
                       ratio: float = EDGE_RATIO) -> None:
    """Refill, from the far side alone, each hole whose border falls apart at a depth jump.

    Such a hole is mostly the surface behind an edge that the sensor could not see (an object's shadow): inpainting
    from both sides would ramp from the object to that surface, a sheet that no tearing cuts.

    :param filled: H×W inpainted depth, changed in place at those holes.
    :param depth: H×W metres before filling.
    :param holes: H×W bool, the pixels being filled.
    :param radius: Inpainting neighbourhood in pixels.
    :param ratio: Depth ratio that counts as a jump.
    """
    cv2 = _cv2()
    valid = valid_mask(depth)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    margin, square = radius + 2, np.ones((3, 3), np.uint8)
    for k in _spanning(depth, valid, holes, labels, count, ratio, square):
        x, y, w, h = (int(v) for v in stats[k, :4])
        rows = slice(max(y - margin, 0), y + h + margin)
        cols = slice(max(x - margin, 0), x + w + margin)
        hole, crop, seen = labels[rows, cols] == k, depth[rows, cols], valid[rows, cols]
        border = cv2.dilate(hole.astype(np.uint8), square).astype(bool) & seen & ~hole
        split = _far_side(crop[border], ratio)
        if split is None:
            continue
        with np.errstate(invalid="ignore"):
            known = seen & ~hole & (crop >= split)
        patch = cv2.inpaint(np.where(known, crop, 0.0).astype(np.float32), (~known).astype(np.uint8), radius,
                            cv2.INPAINT_NS)
        filled[rows, cols][hole] = patch[hole]


def _log_filled(depth: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Log depth with invalid pixels filled, so filters do not bleed NaN."""
    filled = depth if ok.all() else fill_holes(depth)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.log(np.where(valid_mask(filled), filled, np.nanmedian(depth[ok])))
    return out.astype(np.float32)


def denoise_bilateral(depth: np.ndarray, sigma: float = 0.03, radius: int = 3) -> np.ndarray:
    """Edge-preserving bilateral filter on log depth (``sigma`` is a relative depth difference).

    :param depth: H×W metres, NaN invalid (stays invalid).
    :param sigma: Range sigma: depth differences well above ``sigma · Z`` are edges and kept.
    :param radius: Spatial radius in pixels.
    """
    cv2 = _cv2()
    ok = valid_mask(depth)
    r = int(radius)
    padded = _extended(_log_filled(depth, ok), r)
    smoothed = cv2.bilateralFilter(padded, 2 * r + 1, float(sigma), float(radius))[r:-r, r:-r]
    return np.where(ok, np.exp(smoothed), np.nan).astype(np.float32)


def _extended(values: np.ndarray, pad: int) -> np.ndarray:
    """``values`` with ``pad`` pixels on every side that continue its slope at the border (odd reflection), so a
    filter sees a sloped surface go on instead of folding back, which bent the border of smoothed planes."""
    return np.pad(values, pad, mode="reflect", reflect_type="odd").astype(np.float32)


def denoise_guided(depth: np.ndarray, guide: np.ndarray, radius: int = 4, eps: float = 1e-3) -> np.ndarray:
    """Guided filter (He et al.) of log depth with the colour image's luminance as guide.

    Depth edges that coincide with colour edges stay sharp; flat colour regions are smoothed.

    :param depth: H×W metres, NaN invalid (stays invalid).
    :param guide: H×W×3 (or H×W) colour in [0, 1], same size as ``depth``.
    :param radius: Box radius in pixels.
    :param eps: Regularisation in squared guide units: larger smooths across weaker colour edges.
    """
    cv2 = _cv2()
    if guide.shape[:2] != depth.shape:
        raise BadInput(f"guide image {guide.shape[1]}×{guide.shape[0]} does not match depth "
                       f"{depth.shape[1]}×{depth.shape[0]}")
    g = (guide @ np.array([0.2126, 0.7152, 0.0722], np.float32) if guide.ndim == 3 else guide).astype(np.float32)
    ok = valid_mask(depth)
    r = int(radius)
    p = _extended(_log_filled(depth, ok), 2 * r)  # two box passes: the second reads the first's border values
    g = np.pad(g, 2 * r, mode="reflect")
    k = (2 * r + 1,) * 2

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)

    mean_g, mean_p = box(g), box(p)
    a = (box(g * p) - mean_g * mean_p) / (box(g * g) - mean_g * mean_g + np.float32(eps))
    b = mean_p - a * mean_g
    q = (box(a) * g + box(b))[2 * r:-2 * r, 2 * r:-2 * r]
    return np.where(ok, np.exp(q), np.nan).astype(np.float32)


def downsample(depth: np.ndarray, factor: int) -> np.ndarray:
    """Median of each ``factor × factor`` block of valid pixels (the right/bottom remainder is cropped).

    :param depth: H×W metres, NaN invalid; a block without valid pixels stays invalid.
    :param factor: Integer block size (1 returns a copy).
    """
    f = int(factor)
    if f < 1:
        raise BadInput(f"downsampling factor must be at least 1, got {factor}")
    h, w = depth.shape[0] // f, depth.shape[1] // f
    if h < 2 or w < 2:
        raise BadInput(f"downsampling {depth.shape[1]}×{depth.shape[0]} by {f} leaves no mesh")
    blocks = np.where(valid_mask(depth), depth, np.nan)[: h * f, : w * f]
    blocks = blocks.reshape(h, f, w, f).transpose(0, 2, 1, 3).reshape(h, w, f * f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
        return np.nanmedian(blocks, axis=2).astype(np.float32)


def face_mask(depth: np.ndarray, tear_ratio: float | None = None) -> np.ndarray:
    """Grid faces to keep: all four corners valid and, when tearing, ``max / min`` of the corners ≤ ratio.

    :param depth: H×W metres, NaN invalid.
    :param tear_ratio: Largest depth ratio across a face (> 1); None keeps every valid face.
    :return: ``(H-1) × (W-1)`` bool; face ``(i, j)`` has corners ``(i, j)``, ``(i+1, j+1)``.
    """
    if tear_ratio is not None and not (math.isfinite(tear_ratio) and tear_ratio > 1):
        raise BadInput(f"tear ratio must be above 1, got {tear_ratio}")
    lo = np.minimum(depth[:-1], depth[1:])  # separable: rows, then columns (NaN propagates: such faces drop)
    hi = np.maximum(depth[:-1], depth[1:])
    lo = np.minimum(lo[:, :-1], lo[:, 1:])
    hi = np.maximum(hi[:, :-1], hi[:, 1:])
    with np.errstate(invalid="ignore", over="ignore"):
        keep = lo > 0
        keep &= hi < np.inf
        if tear_ratio is not None:
            lo *= np.float32(tear_ratio)
            keep &= hi <= lo
    return keep


def torn_pixels(depth: np.ndarray, tear_ratio: float) -> np.ndarray:
    """Preview of tearing: H×W bool, True at valid pixels that touch a face dropped for its depth jump."""
    valid_faces = face_mask(depth)
    torn = valid_faces & ~face_mask(depth, tear_ratio)
    out = np.zeros(depth.shape, bool)
    for di in (0, 1):
        for dj in (0, 1):
            out[di: di + torn.shape[0], dj: dj + torn.shape[1]] |= torn
    return out


@dataclass(frozen=True)
class Preprocess:
    """Which clean-up steps to run, with their parameters (everything off except tearing by default).

    :param normalise: ``(near, far)``: map valid depth linearly onto this range (metres).
    :param clip: ``(low, high)`` percentiles to clamp valid depth to.
    :param fill_holes: Inpaint invalid pixels.
    :param max_hole: Fill only holes up to this many pixels (0: all).
    :param denoise: ``none``, ``bilateral`` or ``guided`` (needs a colour image).
    :param denoise_sigma: Bilateral range sigma (relative depth); for ``guided``, ``eps = sigma²`` (guide units).
    :param denoise_radius: Filter radius in pixels.
    :param downsample: Integer block size for downsampling (1: off).
    :param tear_ratio: Drop grid faces whose corner depths differ by more than this ratio (None: off).
    """

    normalise: tuple[float, float] | None = None
    clip: tuple[float, float] | None = None
    fill_holes: bool = False
    max_hole: int = 0
    denoise: str = "none"
    denoise_sigma: float = 0.03
    denoise_radius: int = 3
    downsample: int = 1
    tear_ratio: float | None = 1.1

    def __post_init__(self) -> None:
        if self.denoise not in DENOISE:
            raise BadInput(f"unknown denoise method {self.denoise!r}; use one of {', '.join(DENOISE)}")
        if not (self.denoise_sigma > 0 and self.denoise_radius >= 1):
            raise BadInput("denoise sigma must be positive and the radius at least 1")
        if self.max_hole < 0:
            raise BadInput(f"the largest hole to fill is a number of pixels, at least 0 (all), got {self.max_hole}")
        if self.tear_ratio is not None and not self.tear_ratio > 1:
            raise BadInput(f"tear ratio must be above 1, got {self.tear_ratio}")

    def run(self, depth: np.ndarray, intrinsics: Intrinsics, color: np.ndarray | None = None,
            keep_stages: bool = False, background: np.ndarray | None = None) -> Preprocessed:
        """Apply the enabled steps.

        :param depth: H×W metres, NaN invalid.
        :param intrinsics: Intrinsics of ``depth`` (scaled along when downsampling).
        :param color: H×W×3 colour of the same size (the guide for ``guided``).
        :param keep_stages: Keep a copy of the depth after each step (previews).
        :param background: H×W bool, pixels the file marks as seeing nothing: holes to keep, not to fill.
        """
        stages: dict[str, np.ndarray] = {"input": depth} if keep_stages else {}
        out = depth

        def stage(name: str, value: np.ndarray) -> np.ndarray:
            if not valid_mask(value).any():
                raise BadInput(f"pre-processing step {name!r} left no valid depth")
            if keep_stages:
                stages[name] = value
            return value

        if self.normalise is not None:
            out = stage("normalise", normalise_range(out, *self.normalise))
        if self.clip is not None:
            out = stage("clip", clip_percentiles(out, *self.clip))
        if self.fill_holes:
            out = stage("fill", fill_holes(out, self.max_hole, background=background))
        if self.denoise == "bilateral":
            out = stage("denoise", denoise_bilateral(out, self.denoise_sigma, self.denoise_radius))
        elif self.denoise == "guided":
            if color is None:
                raise BadInput("guided denoising needs a colour image")
            out = stage("denoise", denoise_guided(out, color, self.denoise_radius, self.denoise_sigma ** 2))
        if self.downsample > 1:
            intrinsics = intrinsics.scaled(self.downsample)
            out = stage("downsample", downsample(out, self.downsample))
        keep = face_mask(out, self.tear_ratio)
        if not keep.any():
            raise BadInput("no grid face is left: every face has an invalid corner or was torn at a depth jump "
                           "(--no-tear keeps faces across depth jumps; --tear-ratio sets how large a jump tears)")
        if keep_stages and self.tear_ratio is not None:
            stages["tear"] = torn_pixels(out, self.tear_ratio).astype(np.float32)
        return Preprocessed(out, intrinsics, keep, stages)


@dataclass
class Preprocessed:
    """Result of :meth:`Preprocess.run`.

    :param depth: H×W metres after the steps, NaN invalid.
    :param intrinsics: Intrinsics of ``depth``.
    :param keep: ``(H-1) × (W-1)`` faces to build.
    :param stages: Step name → depth after that step (``tear``: 1 at pixels beside a tear).
    """

    depth: np.ndarray
    intrinsics: Intrinsics
    keep: np.ndarray
    stages: dict[str, np.ndarray] = field(default_factory=dict)
