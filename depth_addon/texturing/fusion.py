# SPDX-License-Identifier: GPL-3.0-or-later
"""Multi-view fusion: project surface points into each view, test visibility, weight and blend.

A surface point ``p`` with normal ``n`` seen by a view counts when it is inside the frame, in front of the camera
and not occluded: its camera Z is at most the view's depth there times ``1 + tol`` plus a per-pixel *slack* (the
depth step to the neighbouring pixels on continuous surfaces), so grazing planes are not speckled with false
occlusion while silhouettes stay sharp. Its weight is ``|n·v|^k / d^p`` (two-sided: flipped normals work) times a
small factor near depth discontinuities, where a view's colours are least reliable; colours are sampled bicubically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..camera import CameraModel
from ..errors import BadInput
from .depth_edges import edge_factor, occlusion_slack, settled_mask
from .sampling import bilinear, planes

#: How :func:`accumulate` fuses views: weighted mean, or the best view per point.
SELECTIONS = ("blend", "best")


@dataclass
class View:
    """One capture: a camera, its planar depth and (after generation) its image.

    :param camera: Camera model of the view.
    :param depth: H×W planar camera-Z depth in metres, ``inf`` where nothing was hit.
    :param image: H×W×3 float colours (sRGB display values) or None before generation.
    :param contribution: H×W factor in [0, 1] on this view's fusion weight (1 everywhere when None);
        conditioning sets it to 0 where earlier views' paint is kept.
    :param origin: The camera model the view was asked for, when the depth renderer returned a slightly different
        one (recorded so the same view can be requested again).
    :param maps: Material maps of the image (:mod:`depth_addon.generation.maps`), or None.
    :param labels: H×W int part index per pixel (-1: none) from the view's id pass, or None (see ``owner``).
    """

    camera: CameraModel
    depth: np.ndarray
    image: np.ndarray | None = None
    contribution: np.ndarray | None = None
    origin: CameraModel | None = None
    maps: dict | None = None
    labels: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        d = np.asarray(self.depth, np.float32)
        if d.shape != (self.camera.height, self.camera.width):
            raise BadInput(f"depth {d.shape} does not match the camera's {self.camera.width}×{self.camera.height}")
        self.depth = np.where(np.isfinite(d) & (d > 0), d, np.inf).astype(np.float32)

    def threshold(self, tolerance: float) -> np.ndarray:
        """Largest camera Z still visible at each pixel (``inf`` on background)."""
        key = ("threshold", float(tolerance))
        if key not in self._cache:
            self._cache[key] = self.depth * (1.0 + tolerance) + occlusion_slack(self.depth)
        return self._cache[key]

    def settled(self, owner: np.ndarray) -> np.ndarray:
        """H×W bool: ``owner``'s pixels away from other objects' (:func:`.depth_edges.settled_mask`)."""
        key = ("settled", tuple(int(p) for p in owner))
        if key not in self._cache:
            self._cache[key] = settled_mask(np.isin(np.asarray(self.labels), owner), 5)
        return self._cache[key]

    def colour_at(self, col: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Colours (M, 3) of the image at camera pixel coordinates (any image size), bicubic.

        Bicubic, not bilinear: a view's pixels are resampled into texels and the texels again when the result is
        rendered, and two bilinear steps lose about a third of the fine detail (``scripts/bench_multiview.py``);
        values are clipped to each channel's range in the image.

        :param col: Continuous column in camera pixels.
        :param row: Continuous row in camera pixels.
        """
        pieces, (h, w), lo, hi = self.sampled()
        sx, sy = w / self.camera.width, h / self.camera.height
        if sx != 1.0 or sy != 1.0:
            col, row = col * np.float32(sx), row * np.float32(sy)
        out = bilinear(pieces, col, row, cubic=True)
        return np.minimum(np.maximum(out, lo, out=out), hi, out=out)  # np.clip, 4× faster

    def sampled(self) -> tuple[list[np.ndarray], tuple[int, int], np.ndarray, np.ndarray]:
        """The image as :func:`.sampling.planes` (alpha dropped), its size and value range, made once per image.

        :return: ``(pieces, (height, width), lowest values, highest values)``: each channel's range and [0, 1].
        :raises BadInput: When the view has no image yet.
        """
        if self.image is None:
            raise BadInput("the view has no image yet")
        cached = self._cache.get("image")
        if cached is None or cached[0] is not self.image:  # a new image was assigned since
            img = np.asarray(self.image, np.float32)
            img = img[..., :3] if img.ndim == 3 and img.shape[2] == 4 else img  # alpha is not a colour
            axes = (0, 1) if img.ndim == 3 else None  # per channel: maps stacked on a lit image leave its colours
            cached = self._cache["image"] = (self.image, planes(img), img.shape[:2], img.min(axes, initial=0.0),
                                             img.max(axes, initial=1.0))
        return cached[1:]

    def edges(self) -> np.ndarray:
        """H×W weight factor: :data:`~.depth_edges.EDGE_WEIGHT` next to depth discontinuities, 1 elsewhere."""
        if "edges" not in self._cache:
            self._cache["edges"] = edge_factor(self.depth)
        return self._cache["edges"]


def _pose(camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """``(rotation with unit columns, location)`` of a camera as float32."""
    m = camera.matrix
    rot = m[:3, :3]
    scale = np.linalg.norm(rot, axis=0)
    return (rot / np.where(scale > 0, scale, 1.0)).astype(np.float32), m[:3, 3].astype(np.float32)


def as_soa(points: np.ndarray) -> np.ndarray:
    """(3, N) contiguous float32 from (N, 3) points (component arrays are much faster in numpy).

    :param points: (N, 3) array.
    """
    return np.ascontiguousarray(np.asarray(points, np.float32).reshape(-1, 3).T)


def _camera_space(camera: CameraModel, xyz: np.ndarray) -> list[np.ndarray]:
    rot, loc = _pose(camera)
    d = [xyz[k] - loc[k] for k in range(3)]
    return [d[0] * rot[0, k] + d[1] * rot[1, k] + d[2] * rot[2, k] for k in range(3)]


def project_points(camera: CameraModel, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image coordinates of world points: ``(col, row, z)``.

    ``col``/``row`` are continuous pixel coordinates (pixel ``(r, c)`` spans ``[c, c+1)×[r, r+1)``,
    row 0 = top); ``z`` is the planar camera depth (positive in front of the camera).

    :param camera: The view.
    :param xyz: (3, N) world points (see :func:`as_soa`).
    """
    cx, cy, cz = _camera_space(camera, np.asarray(xyz, np.float32))
    z = -cz
    left, right, bottom, top = camera.frame
    if not camera.ortho:
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / z
        cx *= inv
        cy *= inv
    cx -= np.float32(left)
    cx *= np.float32(camera.width / (right - left))
    cy -= np.float32(top)
    cy *= np.float32(-camera.height / (top - bottom))
    return cx, cy, z


def view_directions(camera: CameraModel, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (3, N) from the points towards the camera, and the distances (N,).

    :param camera: The view (orthographic views have one direction and distance = camera Z).
    :param xyz: (3, N) world points.
    """
    rot, loc = _pose(camera)
    n = xyz.shape[1]
    if camera.ortho:
        axis = rot[:, 2]
        dist = np.abs(sum((xyz[k] - loc[k]) * -axis[k] for k in range(3)))
        return np.repeat(axis[:, None], n, axis=1), dist
    v = [loc[k] - xyz[k] for k in range(3)]
    dist = np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    inv = 1.0 / np.maximum(dist, 1e-9)
    return np.stack([c * inv for c in v]), dist


def facing_distance(camera: CameraModel, xyz: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``n·v`` towards the camera and the distance to it, per point (both (N,)).

    :param camera: The view (orthographic views: one direction, distance = camera Z).
    :param xyz: (3, N) world points.
    :param normal: (3, N) unit normals.
    """
    rot, loc = _pose(camera)
    if camera.ortho:
        axis = rot[:, 2]
        dist = np.abs(sum((xyz[k] - loc[k]) * -axis[k] for k in range(3)))
        return normal[0] * axis[0] + normal[1] * axis[1] + normal[2] * axis[2], dist
    v = [loc[k] - xyz[k] for k in range(3)]
    dist = np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    with np.errstate(invalid="ignore"):  # degenerate triangles' NaN normals face nowhere
        facing = normal[0] * v[0] + normal[1] * v[1] + normal[2] * v[2]
        facing /= np.maximum(dist, np.float32(1e-9))
    return facing, dist


@dataclass
class Samples:
    """What one view says about a set of N surface points, for the M points it sees.

    :param count: N, the number of points asked about.
    :param index: (M,) indices of the visible points.
    :param weight: (M,) fusion weight.
    :param facing: (M,) ``n·v`` (``|n·v|`` when two-sided).
    :param col: (M,) continuous pixel column in the view.
    :param row: (M,) continuous pixel row.
    """

    count: int
    index: np.ndarray
    weight: np.ndarray
    facing: np.ndarray
    col: np.ndarray
    row: np.ndarray

    @property
    def visible(self) -> np.ndarray:
        """(N,) bool: the view sees the point."""
        out = np.zeros(self.count, bool)
        out[self.index] = True
        return out

    def dense(self, values: np.ndarray) -> np.ndarray:
        """Scatter (M,) ``values`` into an (N,) float32 array of zeros.

        :param values: One value per visible point.
        """
        out = np.zeros(self.count, np.float32)
        out[self.index] = values
        return out


def sample_view(view: View, xyz: np.ndarray, normal: np.ndarray, tolerance: float = 0.005, exponent: float = 2.0,
                distance_power: float = 2.0, two_sided: bool = False, owner: np.ndarray | None = None) -> Samples:
    """Visibility and weight of surface points in one view.

    :param view: The view (camera and depth).
    :param xyz: (3, N) world points (:func:`as_soa`).
    :param normal: (3, N) unit world normals (zero vectors get zero weight).
    :param tolerance: Relative depth slack of the visibility test.
    :param exponent: Power of the facing term ``n·v``.
    :param distance_power: Power of the distance fall-off ``1/d^p``.
    :param two_sided: Count back faces too (``|n·v|``); otherwise points facing away are hidden.
    :param owner: The points' object's part indices: with :attr:`View.labels`, no other object's pixel paints it.
    """
    cam = view.camera
    col, row, z = project_points(cam, xyz)
    with np.errstate(invalid="ignore"):
        inside = (col >= 0) & (col < cam.width) & (row >= 0) & (row < cam.height) & (z > 0)
        # full-length arrays, masked, and one gather at the end: most points of an object are usually in view
        flat = np.where(inside, row.astype(np.int32) * np.int32(cam.width) + col.astype(np.int32), 0)
    visible = inside & (z <= np.take(view.threshold(tolerance).reshape(-1), flat))
    facing, dist = facing_distance(cam, xyz, normal)
    if two_sided:
        np.abs(facing, out=facing)
    idx = np.flatnonzero(visible & (facing > 0))
    if owner is not None and view.labels is not None:  # another object's pixel: not seen, as if hidden
        labels = np.take(np.asarray(view.labels).reshape(-1), flat[idx])
        settled = np.take(view.settled(owner).reshape(-1), flat[idx])
        thin = np.setdiff1d(np.intersect1d(labels, owner), labels[settled])  # a few pixels wide: rim and all
        idx = idx[settled | np.isin(labels, thin)]
    flat, facing, dist, col, row = flat[idx], facing[idx], dist[idx], col[idx], row[idx]
    weight = facing ** exponent if exponent != 1 else facing.copy()
    if distance_power:
        weight /= np.maximum(dist, 1e-3) ** distance_power
    weight *= np.take(view.edges().reshape(-1), flat)
    if view.contribution is not None:
        weight *= np.take(np.asarray(view.contribution, np.float32).reshape(-1), flat)
    return Samples(count=xyz.shape[1], index=idx, weight=weight.astype(np.float32),
                   facing=facing.astype(np.float32), col=col, row=row)


def facing_votes(views: list[View], xyz: np.ndarray, normal: np.ndarray, tolerance: float = 0.005,
                 limit: int = 50000) -> float:
    """Share of the (two-sided) visible points whose normal faces the view, over all views (0..1).

    A closed or single-sided object with consistent normals scores near 1; one whose normals all
    point inwards (flipped) scores near 0, so its normals should be reversed before fusion.

    :param views: Views with depth.
    :param xyz: (3, N) world points.
    :param normal: (3, N) unit world normals.
    :param tolerance: Relative depth slack of the visibility test.
    :param limit: At most this many points (evenly strided) are tested.
    """
    step = max(1, xyz.shape[1] // limit)
    xyz, normal = np.ascontiguousarray(xyz[:, ::step]), np.ascontiguousarray(normal[:, ::step])
    front = seen = 0
    for view in views:
        s = sample_view(view, xyz, normal, tolerance, two_sided=True, distance_power=0.0)
        if s.index.size:
            pts, nrm = np.take(xyz, s.index, axis=1), np.take(normal, s.index, axis=1)
            front += int((facing_distance(view.camera, pts, nrm)[0] > 0).sum())
            seen += s.index.size
    return front / seen if seen else 1.0


def accumulate(views: list[View], xyz: np.ndarray, normal: np.ndarray, tolerance: float = 0.005,
               exponent: float = 2.0, distance_power: float = 2.0, select: str = "blend",
               smooth: Callable[[np.ndarray], np.ndarray] | None = None, owner: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Fuse every view's colour at the points: a weighted blend, or the best view per point.

    Normals are reversed first when most visible points face away from the views
    (:func:`facing_votes` below 0.5: a mesh with flipped normals), then back faces are ignored.

    ``select="best"`` keeps, per point, the colour of the one view with the highest weight. Views
    whose patterns do not line up to the pixel then never average into a blur; ``smooth`` (a
    function from a (N,) share to a smoothed (N,) share, e.g. a small blur in the texture's grid)
    softens the hand-over between views into a narrow seam.

    :param views: Views with images.
    :param xyz: (3, N) world points.
    :param normal: (3, N) unit world normals.
    :param tolerance: See :func:`sample_view`.
    :param exponent: See :func:`sample_view`.
    :param distance_power: See :func:`sample_view`.
    :param select: :data:`SELECTIONS`: ``blend`` (weighted mean) or ``best`` (winning view, seam hand-over).
    :param smooth: Hand-over filter for ``best``, linear (a blur: zeros stay zeros); a hard switch between
        views when None.
    :param owner: See :func:`sample_view`.
    :return: ``(colour (N, C), weight (N,))`` (C: the images' channels); colour is 0 where the weight is 0.
        The weight is the summed fusion weight of the views that see the point (also for ``best``).
    """
    if select not in SELECTIONS:
        raise BadInput(f"unknown view selection {select!r}; use one of {', '.join(SELECTIONS)}")
    n = xyz.shape[1]
    if facing_votes(views, xyz, normal, tolerance) < 0.5:
        normal = -np.asarray(normal, np.float32)
    found: list[tuple[View, Samples]] = []
    for view in views:
        if view.image is None:
            raise BadInput("every view needs an image before fusion")
        s = sample_view(view, xyz, normal, tolerance, exponent, distance_power, owner=owner)
        if s.index.size:
            found.append((view, s))
    weight = np.zeros(n, np.float32)
    for _view, s in found:
        weight[s.index] += s.weight
    if len(found) == 1:  # one view paints every point it sees with some weight, as it is: no shares to weigh
        positive = found[0][1].weight > 0
        shares = [(slice(None) if positive.all() else np.flatnonzero(positive), None)]
    elif select == "best" and found:
        shares = _best_shares([s for _v, s in found], n, smooth)
    else:  # a blend: every view that sees a point with some weight
        shares = [(where, s.weight[where]) for s, where in ((s, np.flatnonzero(s.weight > 0)) for _v, s in found)]
    total = np.zeros((n, _channels(views)), np.float32)  # point-major rows: one gather per point, not per channel
    painters = np.zeros(n, np.int32)
    for (_view, s), (where, _share) in zip(found, shares, strict=True):
        painters[s.index[where]] += 1  # unique within a view: fancy-indexed += adds each point once
    norm = np.zeros(n, np.float32)
    for (view, s), (where, share) in zip(found, shares, strict=True):
        index = s.index[where]
        colour = view.colour_at(s.col[where], s.row[where])
        alone = painters[index] == 1  # the only view with a share here: its colours as they are (share / share)
        if alone.all():
            total[index] = colour
            continue
        total[index[alone]] = colour[alone]
        mixed = ~alone
        index, share = index[mixed], share[mixed]
        total[index] += colour[mixed] * share[:, None]
        norm[index] += share
    mixed = np.flatnonzero(norm > 0)
    total[mixed] *= (1.0 / norm[mixed])[:, None]
    return total, weight


def _channels(views: list[View]) -> int:
    """Channels :meth:`View.colour_at` returns for these views' images (alpha dropped; 3 without views)."""
    shape = np.shape(views[0].image) if views else (0, 0, 3)
    channels = shape[2] if len(shape) == 3 else 1
    return 3 if channels == 4 else channels


def _best_shares(found: list[Samples], n: int, smooth: Callable[[np.ndarray], np.ndarray] | None
                 ) -> list[tuple[np.ndarray | slice, np.ndarray]]:
    """Per view, the points whose colour counts and their share: 1 for the winning view, hand-over near seams.

    A view's colour is sampled only where its share is at least a thousandth of the largest share at that
    point (elsewhere it would change the colour by less than that fraction): away from seams one view per
    point, not all of them.
    """
    best = np.zeros(n, np.float32)
    for s in found:
        best[s.index] = np.maximum(best[s.index], s.weight)
    raw = []
    for s in found:
        wins = s.weight >= best[s.index]
        if smooth is None or not wins.any():  # a view that wins nowhere hands over nowhere: no blur needed
            raw.append(wins.astype(np.float32) + np.float32(1e-6))
            continue
        raw.append(smooth(s.dense(wins.astype(np.float32)))[s.index] + np.float32(1e-6))
    top = np.zeros(n, np.float32)
    for s, share in zip(found, raw, strict=True):
        top[s.index] = np.maximum(top[s.index], share)
    out = []
    for s, share in zip(found, raw, strict=True):
        where = np.flatnonzero(share >= np.float32(1e-3) * top[s.index])
        out.append((where, share[where]))
    return out
