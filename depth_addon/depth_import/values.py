# SPDX-License-Identifier: GPL-3.0-or-later
"""What the numbers in a depth file mean, and their conversion to planar depth in metres.

* ``depth`` — metric depth: ``Z = scale · v + shift`` (e.g. ``scale = 0.001`` for millimetre PNGs).
* ``inverse`` — relative inverse depth, what monocular estimators output (affine-invariant
  disparity): ``1 / Z = scale · v + shift``. ``scale`` and ``shift`` come from a least-squares fit
  against known ``(row, col, metres)`` points, or are given, or — left relative — the valid values
  are spread between ``1/far`` and ``1/near``.
* ``disparity`` — stereo disparity in pixels: ``Z = f · B / (scale · v + shift + doffs)`` with the focal
  length ``f`` in pixels, the baseline ``B`` in metres and Middlebury's ``doffs`` (see
  :mod:`.intrinsics`).

Zero, negative and non-finite results are *invalid* pixels (``NaN``), never errors; inputs that
carry no depth at all (all NaN/inf, all zero, constant, negative metric depth) are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import BadInput

KINDS = ("depth", "inverse", "disparity")


@dataclass(frozen=True)
class ValueSpec:
    """How to turn raw values into metres.

    :param kind: ``depth``, ``inverse`` or ``disparity``.
    :param scale: Factor on the raw values (see the module docstring); None = 1, or fitted/relative
        for ``inverse``.
    :param shift: Offset added after ``scale``; None = 0, or fitted/relative for ``inverse``.
    :param normalise: Divide integer raw values by their type's maximum first (8-bit → [0, 1]).
    :param known: ``(row, col, metres)`` points for the inverse-depth fit (pixel indices, row 0 = top).
    :param near: Nearest distance of relative inverse depth (metres).
    :param far: Farthest distance of relative inverse depth (metres).
    :param baseline: Stereo baseline in metres.
    :param focal_px: Stereo focal length in pixels (the camera's ``fx`` when None).
    :param doffs: Principal-point x-offset between the stereo views, pixels.
    """

    kind: str = "depth"
    scale: float | None = None
    shift: float | None = None
    normalise: bool = False
    known: tuple[tuple[float, float, float], ...] = ()
    near: float = 1.0
    far: float = 10.0
    baseline: float | None = None
    focal_px: float | None = None
    doffs: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadInput(f"unknown value meaning {self.kind!r}; use one of {', '.join(KINDS)}")
        for name in ("scale", "shift", "baseline", "focal_px", "doffs"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise BadInput(f"{name} must be finite, got {value}")
        if not (0 < self.near < self.far and math.isfinite(self.far)):
            raise BadInput(f"need 0 < near < far, got near={self.near}, far={self.far}")


#: Depth at and beyond this many metres is no surface: what renderers write where a ray hits nothing (Blender's Z
#: pass: 1e10; this project's files: inf).
FAR_M = 1e9


def background_mask(values: np.ndarray, spec: ValueSpec) -> np.ndarray | None:
    """Pixels a file of metric depth marks as seeing nothing (``+inf``, or Blender's 1e10), or None: import keeps
    them empty where it fills holes.

    :param values: H×W raw values.
    :param spec: What the values mean; only metric depth has a value for "nothing".
    """
    if spec.kind != "depth":
        return None
    with np.errstate(invalid="ignore"):
        far = values >= FAR_M
    return far if far.any() else None


def check_raw(values: np.ndarray, where: str) -> np.ndarray | None:
    """Refuse raw values that hold no depth; return the mask of finite pixels (None when all are finite).

    :param values: H×W raw values.
    :param where: Name of the source for messages.
    :raises BadInput: Smaller than 2×2, no finite value, or all zero (a constant map is a plane facing the camera:
        metric values import; :func:`to_metres` refuses it as relative inverse depth, which it leaves no shape).
    """
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] < 2:
        raise BadInput(f"{where} is {'×'.join(map(str, values.shape[::-1]))}; a depth map needs at least 2×2 pixels")
    finite = None
    lo, hi = float(values.min()), float(values.max())  # NaN propagates: finite bounds mean every value is
    if not (math.isfinite(lo) and math.isfinite(hi)):
        finite = np.isfinite(values)
        if not finite.any():
            raise BadInput(f"{where} has no finite values (all NaN or inf)")
        lo = float(values.min(where=finite, initial=np.inf))
        hi = float(values.max(where=finite, initial=-np.inf))
    if lo == 0.0 and hi == 0.0:
        raise BadInput(f"{where} is all zero: no depth to import")
    return finite


def solve_inverse_affine(values: np.ndarray, known) -> tuple[float, float]:
    """Least-squares ``scale, shift`` with ``scale · v + shift ≈ 1 / Z`` at the known points.

    One point fixes the scale only (shift 0); two or more fit both.

    :param values: H×W raw inverse-depth values.
    :param known: ``(row, col, metres)`` triples.
    :raises BadInput: Points outside the image, on invalid pixels, non-positive distances, or a
        degenerate fit (all points with the same value, or a fit that puts them behind the camera).
    """
    h, w = values.shape
    rows, target = [], []
    for row, col, metres in known:
        r, c = int(round(row)), int(round(col))
        if not (0 <= r < h and 0 <= c < w):
            raise BadInput(f"known point ({row}, {col}) is outside the {w}×{h} image")
        if not (math.isfinite(metres) and metres > 0):
            raise BadInput(f"known distance must be positive, got {metres}")
        v = float(values[r, c])
        if not math.isfinite(v):
            raise BadInput(f"known point ({row}, {col}) is on an invalid pixel")
        rows.append(v)
        target.append(1.0 / metres)
    v, t = np.array(rows), np.array(target)
    if len(v) == 1:
        if v[0] == 0:
            raise BadInput("the known point has value 0; inverse depth cannot be scaled from it")
        scale, shift = t[0] / v[0], 0.0
    else:
        if np.ptp(v) == 0:
            raise BadInput("the known points all have the same value; scale and shift cannot be solved")
        (scale, shift), *_ = np.linalg.lstsq(np.stack([v, np.ones_like(v)], 1), t, rcond=None)
    if not np.all(scale * v + shift > 0):
        raise BadInput("the inverse-depth fit puts known points behind the camera; check the points")
    return float(scale), float(shift)


def to_metres(values: np.ndarray, spec: ValueSpec, integer_max: float = 0.0, focal_px: float | None = None,
              where: str = "depth", copy: bool = True) -> tuple[np.ndarray, dict]:
    """Convert raw values to planar depth in metres (``NaN`` where invalid).

    :param values: H×W float32 raw values (NaN/inf = missing).
    :param spec: What the values mean.
    :param integer_max: Largest value of the source integer type (for ``normalise``).
    :param focal_px: The camera's ``fx`` in pixels, used for disparity when ``spec.focal_px`` is None.
    :param where: Name of the source for messages.
    :param copy: False lets the conversion reuse (and change) ``values`` when it is float32 already.
    :return: ``(depth, info)``; ``info`` records the scale and shift actually used.
    :raises BadInput: Inputs without depth (see :func:`check_raw`), negative metric depth, disparity
        without baseline or focal length, a conversion that leaves no valid pixel, or relative inverse depth
        that is constant on its valid pixels.
    """
    finite = check_raw(values, where)
    v = values.astype(np.float32, copy=copy)
    if spec.normalise and integer_max > 0:
        v *= np.float32(1.0 / integer_max)
    info: dict = {"kind": spec.kind}
    with np.errstate(divide="ignore", invalid="ignore"):
        if spec.kind == "depth":
            scale = 1.0 if spec.scale is None else spec.scale
            shift = 0.0 if spec.shift is None else spec.shift
            if scale <= 0:
                raise BadInput(f"depth scale must be positive, got {scale}")
            z = v if (scale, shift) == (1.0, 0.0) else v * np.float32(scale) + np.float32(shift)
            negative = z < 0
            if finite is not None:
                negative &= finite
            if negative.any():
                raise BadInput(f"{where} has negative depth ({int(negative.sum())} pixels, min "
                               f"{float(z[negative].min()):g} m); is it inverse depth or disparity? (values option)")
        elif spec.kind == "inverse":
            if spec.known:
                if spec.scale is not None or spec.shift is not None:
                    raise BadInput("give known points or scale/shift for inverse depth, not both")
                scale, shift = solve_inverse_affine(v, spec.known)
                info["fit"] = "known points"
            elif spec.scale is not None or spec.shift is not None:
                scale = 1.0 if spec.scale is None else spec.scale
                shift = 0.0 if spec.shift is None else spec.shift
            else:  # left relative: spread the valid values between 1/far and 1/near
                lo = float(v.min() if finite is None else v.min(where=finite, initial=np.inf))
                hi = float(v.max() if finite is None else v.max(where=finite, initial=-np.inf))
                if not lo < hi:
                    raise BadInput(f"{where} is constant ({lo:g} on every valid pixel): as relative inverse depth it "
                                   "has no shape; give its scale and shift, known points, or import it as metres")
                scale = (1.0 / spec.near - 1.0 / spec.far) / (hi - lo)
                shift = 1.0 / spec.far - lo * scale
                info["fit"] = f"relative, spread over {spec.near:g}–{spec.far:g} m"
            z = np.float32(1.0) / (v * np.float32(scale) + np.float32(shift))
        else:
            f = spec.focal_px if spec.focal_px is not None else focal_px
            if spec.baseline is None or f is None:
                raise BadInput("stereo disparity needs the baseline (metres) and the focal length in pixels")
            if spec.baseline <= 0 or f <= 0:
                raise BadInput(f"baseline and focal length must be positive, got {spec.baseline} and {f}")
            scale = 1.0 if spec.scale is None else spec.scale
            shift = (0.0 if spec.shift is None else spec.shift) + spec.doffs
            z = np.float32(f * spec.baseline) / (v * np.float32(scale) + np.float32(shift))
            info.update(baseline=spec.baseline, focal_px=f, doffs=spec.doffs)
    info.update(scale=float(scale), shift=float(shift))
    with np.errstate(invalid="ignore"):
        ok = z > 0
        ok &= z < FAR_M  # NaN fails both comparisons; Blender's Z pass writes 1e10 where nothing was hit
    if not ok.any():
        raise BadInput(f"{where}: no pixel has a positive, finite depth after conversion ({spec.kind})")
    if not ok.all():
        z[~ok] = np.nan
    return z, info
