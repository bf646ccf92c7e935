# SPDX-License-Identifier: GPL-3.0-or-later
"""Explicit depth → model-input mappings (no bpy).

Models do not want metres. Depth ControlNets and MiDaS-style estimators use *inverse depth*
(disparity: near is bright), others want linear or log depth. A :class:`DepthMapping` names the
curve and the metric range it spans, so the same mapping can be locked across views and frames,
written into file metadata and inverted exactly. The range comes from robust percentiles of one
render (:func:`robust_range`), from the geometry inside the frustum (:func:`frustum_range`), from
the user, or from a range locked on the scene and shared by many views (:func:`union_range`).

Conventions (before ``invert``): ``linear`` and ``log`` give 0 at ``near`` and 1 at ``far``;
``inverse`` gives 1 at ``near`` and 0 at ``far``. Background (``inf``) maps to the far end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .camera import CameraModel
from .errors import BadInput

KINDS = ("linear", "inverse", "log")
#: Depth engines (:func:`depth_addon.api.render_depth`): the fast rasteriser when it can (``auto``), or one by name.
ENGINES = ("auto", "gpu", "workbench", "cycles")


@dataclass(frozen=True)
class DepthMapping:
    """A named monotonic curve from metres to [0, 1].

    :param kind: One of ``linear``, ``inverse`` (disparity) or ``log``.
    :param near: Distance in metres mapped to the near end.
    :param far: Distance in metres mapped to the far end.
    :param invert: Flip the output (``1 - v``).
    """

    kind: str = "inverse"
    near: float = 0.1
    far: float = 100.0
    invert: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadInput(f"unknown depth mapping {self.kind!r}; use one of {', '.join(KINDS)}")
        if not (np.isfinite(self.near) and np.isfinite(self.far)):
            raise BadInput(f"near and far must be finite, got near={self.near}, far={self.far}")
        if self.near <= 0:
            raise BadInput(f"near must be > 0 m, got {self.near}")
        if self.near >= self.far:
            raise BadInput(f"near ({self.near}) must be smaller than far ({self.far})")

    def apply(self, depth: np.ndarray) -> np.ndarray:
        """Map metres to [0, 1] float32; values outside the range are clipped, ``inf`` → far end.

        :param depth: Depth in metres (any shape); non-finite values count as background.
        """
        d = np.asarray(depth, np.float64)
        d = np.where(np.isfinite(d), d, np.inf)
        if self.kind == "linear":
            v = (d - self.near) / (self.far - self.near)
        elif self.kind == "log":
            v = (np.log(np.maximum(d, 1e-30)) - np.log(self.near)) / (np.log(self.far) - np.log(self.near))
        else:
            v = (1.0 / d - 1.0 / self.far) / (1.0 / self.near - 1.0 / self.far)
        v = np.clip(np.nan_to_num(v, nan=1.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        return (1.0 - v if self.invert else v).astype(np.float32)

    def unapply(self, value: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`apply` for values inside the range (metres, float32)."""
        v = np.asarray(value, np.float64)
        v = 1.0 - v if self.invert else v
        if self.kind == "linear":
            d = self.near + v * (self.far - self.near)
        elif self.kind == "log":
            d = np.exp(np.log(self.near) + v * (np.log(self.far) - np.log(self.near)))
        else:
            with np.errstate(divide="ignore"):
                d = 1.0 / (1.0 / self.far + v * (1.0 / self.near - 1.0 / self.far))
        return d.astype(np.float32)

    def to_dict(self) -> dict:
        """Plain-JSON form, written into file metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DepthMapping:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=str(data["kind"]),
            near=float(data["near"]),
            far=float(data["far"]),
            invert=bool(data.get("invert", False)),
        )


def robust_range(depth: np.ndarray, mask: np.ndarray | None = None, low: float = 1.0, high: float = 99.0,
                 ) -> tuple[float, float]:
    """Near/far from percentiles of the valid depth, so a few stray pixels do not set the range.

    :param depth: Depth in metres.
    :param mask: Optional boolean mask of valid pixels (``isfinite`` is applied in any case).
    :param low: Lower percentile.
    :param high: Upper percentile.
    :raises BadInput: When no pixel is valid.
    """
    d = np.asarray(depth, np.float32)
    valid = np.isfinite(d) & (d > 0)
    if mask is not None:
        valid &= np.asarray(mask, bool)
    if not valid.any():
        raise BadInput("the depth map has no valid pixels (nothing in view?)")
    near, far = np.percentile(d[valid], [low, high])
    return _non_empty(float(near), float(far))


def fit_mapping(depth: np.ndarray, mask: np.ndarray | None = None, kind: str = "inverse", invert: bool = False,
                low: float = 1.0, high: float = 99.0) -> DepthMapping:
    """A mapping of ``kind`` whose range is the robust percentile range of ``depth``.

    :param depth: Depth in metres.
    :param mask: Optional boolean mask of valid pixels.
    :param kind: Mapping curve name.
    :param invert: Flip the output.
    :param low: Lower percentile for ``near``.
    :param high: Upper percentile for ``far``.
    """
    near, far = robust_range(depth, mask, low, high)
    return DepthMapping(kind=kind, near=near, far=far, invert=invert)


RANGES = ("percentile", "frustum", "manual", "locked")

#: A mapped image is said to be clipped when more of the depth in view than this lies outside its range (a range
#: fitted to the view leaves out about 2 %: what lies below its 1st and above its 99th percentile).
CLIPPED_SHARE = 0.05


def clipped_share(depth: np.ndarray, mask: np.ndarray, mapping: DepthMapping) -> float:
    """Share of the pixels in view whose depth lies outside ``mapping``'s range (clipped to its ends when mapped).

    :param depth: Depth in the mapping's units.
    :param mask: Boolean mask of the pixels in view.
    :param mapping: The mapping.
    """
    seen = np.asarray(depth)[np.asarray(mask, bool)]
    return float(np.mean((seen < mapping.near) | (seen > mapping.far))) if seen.size else 0.0


def _non_empty(near: float, far: float) -> tuple[float, float]:
    if far <= near * (1.0 + 1e-6):
        far = near * 1.01 + 1e-6  # flat scene: keep a non-empty range
    return near, far


def frustum_range(points: np.ndarray, camera: CameraModel) -> tuple[float, float]:
    """Near/far from the camera-Z of the points inside the camera's view frustum, within its clip range.

    Unlike percentiles of one render, this depends only on the geometry in view, so it changes
    little when the camera moves and can be computed once for many views or frames.

    :param points: N×3 camera-space points (the camera looks down −Z), e.g. mesh vertices.
    :param camera: The camera (view frame, orthographic flag, clip range).
    :raises BadInput: When no point is inside the frustum.
    """
    p = np.asarray(points, np.float64).reshape(-1, 3)
    z = -p[:, 2]
    clip_start, clip_end = camera.clip
    left, right, bottom, top = camera.frame
    inside = (z >= clip_start) & (z <= clip_end)
    if camera.ortho:
        x, y = p[:, 0], p[:, 1]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            x, y = p[:, 0] / z, p[:, 1] / z
    inside &= (x >= left) & (x <= right) & (y >= bottom) & (y <= top)
    if not inside.any():
        raise BadInput("no geometry inside the camera frustum (nothing in view?)")
    return _non_empty(max(float(z[inside].min()), clip_start), min(float(z[inside].max()), clip_end))


def union_range(ranges: list[tuple[float, float]]) -> tuple[float, float]:
    """One range covering several (views, frames): the smallest near and the largest far.

    :raises BadInput: For an empty list.
    """
    if not ranges:
        raise BadInput("no range to lock: no view had any geometry")
    return _non_empty(min(r[0] for r in ranges), max(r[1] for r in ranges))
