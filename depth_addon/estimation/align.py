# SPDX-License-Identifier: GPL-3.0-or-later
"""Alignment of a depth estimate to metres, in the estimate's own space (no bpy).

An estimate is either *relative disparity* (Depth Anything V2's relative models, DPT: larger is nearer,
right up to an unknown scale and shift) or *metric depth* (metric models). Each alignment fits
``scale`` and ``shift`` in that space, so the fitted model is exactly the one the estimator's output obeys:

* ``disparity`` — ``1 / z ≈ scale · d + shift``;
* ``depth`` — ``z ≈ scale · d + shift``.

The options, each a function returning an :class:`Alignment`:

* :func:`fit_points` — known points: two or more pixels with known distances (least squares in relative
  error; two points fit exactly).
* :func:`fit_ground` — ground plane: a level camera of known focal length (pixels) and height (metres)
  sees the ground at ``z = f · height / (y − cy)`` below the horizon; pixels of the lowest band whose
  normals point up are fitted robustly.
* :func:`fit_scene` — align to the scene: the scene's own depth rendered from the matching camera
  (``app.depth.render_depth``), fitted robustly (RANSAC then reweighted least squares) over the overlap
  where both are valid.
* :func:`fit_range` — no reference: the valid values are spread between ``near`` and ``far`` metres.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import BadInput
from .robust import INLIER_THRESHOLD, fit_affine, robust_affine

SPACES = ("disparity", "depth")
#: Alignment methods, as the command line and the operator name them.
METHODS = ("none", "points", "ground", "scene")
#: Fewest pixels where the photo and the scene must both be valid.
MIN_OVERLAP = 64
#: Most overlap pixels a scene fit uses (an even stride over the overlap).
MAX_SAMPLES = 65536


@dataclass(frozen=True)
class Alignment:
    """A fitted map from estimate values to metres.

    :param space: ``disparity`` (``1/z = scale·v + shift``) or ``depth`` (``z = scale·v + shift``).
    :param scale: Fitted factor.
    :param shift: Fitted offset.
    :param method: ``points``, ``ground``, ``scene``, ``range`` or ``metric`` (taken as given).
    :param samples: Pixels the fit used.
    :param inliers: Fraction of those within 5 % of the fit.
    :param overlap: Fraction of the image where the reference was valid (scene and ground fits).
    """

    space: str
    scale: float
    shift: float
    method: str
    samples: int = 0
    inliers: float = 1.0
    overlap: float = 0.0

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise BadInput(f"unknown estimate space {self.space!r}; use one of {', '.join(SPACES)}")
        if not (math.isfinite(self.scale) and math.isfinite(self.shift)) or self.scale <= 0:
            raise BadInput(f"the {self.method} alignment does not fit the estimate (scale {self.scale:.4g}): "
                           "nearer references must have larger disparity or smaller depth")

    def to_metres(self, values: np.ndarray) -> np.ndarray:
        """Planar depth in metres (float32); ``inf`` where the value is invalid or maps behind the camera.

        :param values: H×W estimate values.
        """
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            mapped = self.scale * np.asarray(values, np.float32) + np.float32(self.shift)
            if self.space == "disparity":
                mapped = np.float32(1.0) / mapped
        return np.where(np.isfinite(mapped) & (mapped > 0), mapped, np.float32(np.inf)).astype(np.float32)

    def to_dict(self) -> dict:
        """Plain JSON form (for metadata and the command line's summary)."""
        return asdict(self)


def target_of(metres: np.ndarray, space: str) -> np.ndarray:
    """What the fit compares with in ``space``: ``1/z`` for disparity, ``z`` for depth.

    :param metres: Distances in metres (positive).
    :param space: ``disparity`` or ``depth``.
    """
    metres = np.asarray(metres, np.float64)
    return 1.0 / metres if space == "disparity" else metres


def check_points(points: Iterable[tuple[float, float, float]], size: tuple[int, int] | None
                 ) -> list[tuple[int, int, float]]:
    """Known points as pixels of an image of ``size``, checked (before an estimate is made, too).

    :param points: ``(x, y, metres)`` each: pixel column and row (fractions round to the nearest pixel) and the
        planar distance there.
    :param size: ``(width, height)`` of the upright photo, or None before it is read (a photo's file may store it
        turned: its EXIF Orientation), when only what the size does not decide is checked.
    :return: ``(column, row, metres)`` of each point.
    :raises BadInput: Fewer than 2 points, a point outside the image, or at a non-positive distance.
    """
    points = [tuple(float(c) for c in p) for p in points]
    if len(points) < 2:
        raise BadInput(f"alignment by known points needs at least 2 points (x y metres), got {len(points)}")
    out = []
    for x, y, z in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise BadInput(f"known point ({x:g}, {y:g}) needs a finite pixel column and row")
        col, row = int(round(x)), int(round(y))
        if size is not None and not (0 <= col < size[0] and 0 <= row < size[1]):
            raise BadInput(f"known point ({x:g}, {y:g}) is outside the {size[0]}×{size[1]} image")
        if not (math.isfinite(z) and z > 0):
            raise BadInput(f"known point ({x:g}, {y:g}) needs a positive distance in metres, got {z:g}")
        out.append((col, row, z))
    return out


def fit_points(values: np.ndarray, points: Iterable[tuple[float, float, float]], space: str) -> Alignment:
    """Known points: fit scale and shift to two or more pixels of known distance.

    :param values: H×W estimate.
    :param points: ``(x, y, metres)`` each: pixel column and row (0 = left/top pixel; fractions round to the
        nearest pixel) and the planar distance there.
    :param space: The estimate's space (``disparity`` or ``depth``).
    :raises BadInput: As :func:`check_points`, a point on an invalid pixel, points with equal estimates, or a fit
        that contradicts the estimate.
    """
    points = list(points)
    raw, metres = [], []
    for (col, row, z), (x, y, _z) in zip(check_points(points, values.shape[::-1]), points, strict=True):
        if not math.isfinite(float(values[row, col])):
            raise BadInput(f"the estimate has no value at known point ({float(x):g}, {float(y):g})")
        raw.append(float(values[row, col]))
        metres.append(z)
    raw, target = np.array(raw), target_of(np.array(metres), space)
    scale, shift = fit_affine(raw, target)
    residual = np.abs((scale * raw + shift) / target - 1.0)  # as the scene fit counts them
    return Alignment(space, scale, shift, "points", samples=len(points),
                     inliers=float(np.mean(residual < INLIER_THRESHOLD)))


def fit_scene(values: np.ndarray, scene_depth: np.ndarray, space: str) -> Alignment:
    """Align to the scene: robust scale and shift over the pixels where both the estimate and the scene are valid.

    :param values: H×W estimate.
    :param scene_depth: H×W planar metres rendered from the photo's camera (``inf`` where nothing is hit).
    :param space: The estimate's space.
    :raises BadInput: Different sizes, an empty scene depth, too little overlap, a constant estimate, or a
        contradicting fit.
    """
    if values.shape != scene_depth.shape:
        raise BadInput(f"the scene depth is {scene_depth.shape[1]}×{scene_depth.shape[0]} but the estimate is "
                       f"{values.shape[1]}×{values.shape[0]}; render the scene at the photo's size")
    with np.errstate(invalid="ignore"):
        scene_ok = np.isfinite(scene_depth) & (scene_depth > 0)
    if not scene_ok.any():
        raise BadInput("the scene's depth is empty from the photo's camera (nothing in view): aim the camera at "
                       "the geometry the photo shows, or align by points or ground")
    both = np.flatnonzero(scene_ok & np.isfinite(values))
    if both.size < MIN_OVERLAP:
        raise BadInput(f"too little overlap between the photo's estimate and the scene: {both.size} pixels where "
                       f"both are valid (at least {MIN_OVERLAP} are needed); aim the camera at the geometry the photo "
                       "shows, or align by points or ground")
    picked = both[:: max(1, both.size // MAX_SAMPLES)]
    raw = values.reshape(-1)[picked]
    if float(raw.min()) == float(raw.max()):
        raise BadInput("the photo's estimate holds one value where the scene is seen (a blank or overexposed photo?), "
                       "so its scale and shift cannot be fitted")
    scale, shift, inliers = robust_affine(raw, target_of(scene_depth.reshape(-1)[picked], space))
    return Alignment(space, scale, shift, "scene", samples=int(picked.size), inliers=inliers,
                     overlap=both.size / values.size)


def check_range(near: float, far: float) -> None:
    """The metres a relative estimate is spread over must satisfy ``0 < near < far``.

    :param near: Nearest distance (metres).
    :param far: Farthest distance (metres).
    :raises BadInput: Naming both.
    """
    if not (0 < near < far and math.isfinite(far)):
        raise BadInput(f"near and far need 0 < near < far (metres), got near {near:g}, far {far:g}")


def fit_range(values: np.ndarray, space: str, near: float = 1.0, far: float = 10.0) -> Alignment:
    """No reference: spread the valid values between ``near`` and ``far`` metres (a relative result).

    :param values: H×W estimate.
    :param space: The estimate's space.
    :param near: Distance of the nearest value (metres).
    :param far: Distance of the farthest value (metres).
    :raises BadInput: For a bad range or an estimate without varying values.
    """
    check_range(near, far)
    finite = values[np.isfinite(values)]
    if finite.size < 2 or float(finite.min()) == float(finite.max()):
        raise BadInput("the estimate holds no varying values")
    lo, hi = float(finite.min()), float(finite.max())
    a, b = (1.0 / far, 1.0 / near) if space == "disparity" else (near, far)
    scale = (b - a) / (hi - lo)
    return Alignment(space, scale, a - scale * lo, "range", samples=int(finite.size))
