# SPDX-License-Identifier: GPL-3.0-or-later
"""Views generated in order condition on what earlier views already painted (TEXTure-style trimap).

Before view *k* is fused, its depth pixels are lifted to 3D and looked up in views ``0..k-1``
(:func:`reproject`): that gives, in view *k*'s own pixels, the colour already painted there, how
much weight it has and the best angle it was painted from. Each pixel is then

* **keep** — painted before from an angle at least about as good: the old paint stays (this view
  does not contribute there);
* **refine** — painted before, but this view sees it much more head-on: old and new are blended;
* **generate** — never painted: the new image is used.

The new image is first harmonised (per-channel gain/offset fitted on the painted overlap), so
views do not disagree in exposure or white balance.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..camera import CameraModel
from .fusion import View, as_soa, sample_view

KEEP, REFINE, GENERATE = 0, 1, 2


def normals_from_depth(depth: np.ndarray, camera: CameraModel, world: bool = True) -> np.ndarray:
    """Unit surface normals from a depth map by central differences (H×W×3, facing the camera).

    Background pixels get zero vectors.

    :param depth: H×W planar depth, ``inf`` background.
    :param camera: The depth's camera.
    :param world: World-space normals (camera-space when False).
    """
    d = np.where(np.isfinite(depth), depth, np.nan).astype(np.float32)
    pts = camera.unproject(d)  # camera space
    pad = np.pad(pts, ((1, 1), (1, 1), (0, 0)), mode="edge")
    dx = pad[1:-1, 2:] - pad[1:-1, :-2]
    dy = pad[:-2, 1:-1] - pad[2:, 1:-1]
    # where a central difference crosses into background, use the one-sided difference
    fx, bx = pad[1:-1, 2:] - pts, pts - pad[1:-1, :-2]
    dx = np.where(np.isnan(dx), np.where(np.isnan(fx), bx, fx), dx)
    fy, by = pad[:-2, 1:-1] - pts, pts - pad[2:, 1:-1]
    dy = np.where(np.isnan(dy), np.where(np.isnan(fy), by, fy), dy)
    n = np.cross(dx, dy)
    length = np.linalg.norm(n, axis=2, keepdims=True)
    n = np.where((length > 1e-12) & np.isfinite(length), n / np.maximum(length, 1e-12), 0.0)
    toward = -pts if not camera.ortho else np.broadcast_to(np.array([0, 0, 1], np.float32), pts.shape)
    flip = np.einsum("hwc,hwc->hw", n, np.nan_to_num(toward)) < 0
    n = np.where(flip[..., None], -n, n).astype(np.float32)
    if world:
        rot = camera.matrix[:3, :3]
        rot = rot / np.linalg.norm(rot, axis=0)
        n = (n.reshape(-1, 3) @ rot.T.astype(np.float32)).reshape(n.shape)
    return np.nan_to_num(n).astype(np.float32)


@dataclass
class Prior:
    """Paint from earlier views, in the pixels of a new view.

    :param colour: H×W×3 blended earlier colour (0 where unpainted).
    :param weight: H×W summed fusion weight of the earlier views.
    :param facing: H×W best ``|n·v|`` any earlier view had there.
    :param own_facing: H×W ``|n·v|`` of the new view itself.
    :param own_weight: H×W fusion weight of the new view itself.
    """

    colour: np.ndarray
    weight: np.ndarray
    facing: np.ndarray
    own_facing: np.ndarray
    own_weight: np.ndarray


def reproject(earlier: list[View], view: View, tolerance: float = 0.005, exponent: float = 2.0) -> Prior:
    """Look up the paint of ``earlier`` views at every geometry pixel of ``view``.

    :param earlier: Views that already have images (and contributions).
    :param view: The new view (depth only is needed).
    :param tolerance: Relative depth slack of the visibility test.
    :param exponent: Power of the facing term.
    """
    cam = view.camera
    h, w = cam.height, cam.width
    valid = np.isfinite(view.depth).reshape(-1)
    idx = np.flatnonzero(valid)
    pts = as_soa(cam.unproject(view.depth, world=True).reshape(-1, 3)[idx])
    nrm = as_soa(normals_from_depth(view.depth, cam).reshape(-1, 3)[idx])
    total = np.zeros((idx.size, 3), np.float32)
    weight = np.zeros(idx.size, np.float32)
    facing = np.zeros(idx.size, np.float32)
    for other in earlier:
        s = sample_view(other, pts, nrm, tolerance, exponent)
        if s.index.size:
            colour = other.colour_at(s.col, s.row)
            total[s.index] += colour * s.weight[:, None]
            weight[s.index] += s.weight
            facing[s.index] = np.maximum(facing[s.index], s.facing)
    own = sample_view(View(cam, view.depth), pts, nrm, tolerance, exponent)

    def grid(values: np.ndarray, channels: int = 0) -> np.ndarray:
        out = np.zeros((h * w, channels) if channels else h * w, np.float32)
        out[idx] = values
        return out.reshape((h, w, channels) if channels else (h, w))

    colour = np.where(weight[:, None] > 0, total / np.maximum(weight, 1e-30)[:, None], 0.0)
    return Prior(colour=grid(colour, 3), weight=grid(weight), facing=grid(facing),
                 own_facing=grid(own.dense(own.facing)), own_weight=grid(own.dense(own.weight)))


def trimap(prior: Prior, refine_margin: float = 0.2) -> np.ndarray:
    """H×W labels :data:`KEEP`, :data:`REFINE` or :data:`GENERATE` for a new view.

    :param prior: What :func:`reproject` returned.
    :param refine_margin: How much more head-on (in ``|n·v|``) the new view must see a painted
        point for it to be refined rather than kept.
    """
    painted = prior.weight > 0
    better = prior.own_facing > prior.facing + refine_margin
    return np.where(~painted, GENERATE, np.where(better, REFINE, KEEP)).astype(np.uint8)


def condition(image: np.ndarray, prior: Prior, mask: np.ndarray, harmonise: bool = True, refine_mix: float = 0.5,
              feather: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Combine a freshly generated image with the earlier paint.

    :param image: H×W×3 generated colours of the new view.
    :param prior: Earlier paint in this view (:func:`reproject`).
    :param mask: H×W bool geometry pixels of the view.
    :param harmonise: Match the new image's per-channel gain/offset to the paint on the overlap.
    :param refine_mix: Share of the new image in refine pixels.
    :param feather: Gaussian sigma (pixels) softening the borders between regions.
    :return: ``(image, contribution, labels, gain_offset)``: the conditioned image, the H×W fusion
        factor of the new view (0 keep, ``refine_mix`` refine, 1 generate), the trimap and a (2, 3)
        array of the harmonisation gain and offset.
    """
    img = np.asarray(image, np.float32)[..., :3]
    labels = trimap(prior)
    overlap = (prior.weight > 0) & mask
    gain, offset = np.ones(3, np.float32), np.zeros(3, np.float32)
    if harmonise and overlap.sum() >= 16:
        gain, offset = fit_gain_offset(img[overlap], prior.colour[overlap], np.minimum(prior.weight[overlap],
                                                                                        prior.own_weight[overlap]))
        img = np.clip(img * gain + offset, 0.0, 1.0)
    share = np.choose(labels, [0.0, refine_mix, 1.0]).astype(np.float32)
    if feather > 0:
        share = cv2.GaussianBlur(share, (0, 0), feather)
        share = np.where(labels == GENERATE, 1.0, share)  # unpainted pixels always take the new image
    share = np.where(mask, share, 1.0).astype(np.float32)
    out = prior.colour * (1.0 - share[..., None]) + img * share[..., None]
    out = np.where(mask[..., None], out, img)
    return out.astype(np.float32), share, labels, np.stack([gain, offset])


def fit_gain_offset(source: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
                    gain_range: tuple[float, float] = (0.6, 1.6), offset_limit: float = 0.2
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``gain, offset`` so that ``source · gain + offset ≈ target`` (weighted least squares).

    Used to harmonise a new view with what earlier views painted where they overlap. Too few
    samples give the identity; results are clamped so one bad overlap cannot wreck a view.

    :param source: (N, 3) colours of the new view.
    :param target: (N, 3) colours already painted at the same points.
    :param weight: (N,) sample weights; equal when None.
    :param gain_range: Allowed gain interval.
    :param offset_limit: Largest allowed absolute offset.
    """
    src = np.asarray(source, np.float64).reshape(-1, 3)
    dst = np.asarray(target, np.float64).reshape(-1, 3)
    w = np.ones(len(src)) if weight is None else np.asarray(weight, np.float64).reshape(-1)
    gain, offset = np.ones(3), np.zeros(3)
    if len(src) < 16 or w.sum() <= 0:
        return gain.astype(np.float32), offset.astype(np.float32)
    w = w / w.sum()
    for c in range(3):
        ms, md = (w * src[:, c]).sum(), (w * dst[:, c]).sum()
        var = (w * (src[:, c] - ms) ** 2).sum()
        cov = (w * (src[:, c] - ms) * (dst[:, c] - md)).sum()
        g = cov / var if var > 1e-6 else 1.0
        g = float(np.clip(g, *gain_range))
        gain[c] = g
        offset[c] = float(np.clip(md - g * ms, -offset_limit, offset_limit))
    return gain.astype(np.float32), offset.astype(np.float32)
