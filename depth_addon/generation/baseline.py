# SPDX-License-Identifier: GPL-3.0-or-later
"""The procedural baseline generator: depth-aware shading and texturing in numpy (no torch, no bpy).

This is deliberately *not* a learned model. It is the reference that learned generators have to
beat: it uses nothing but the depth map, the camera, the seed and a handful of prompt keywords,
runs in a fraction of a second and is fully deterministic.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..camera import CameraModel
from ..errors import BadInput
from . import _ops
from ._ops import box3
from .base import CancelFn, ProgressFn, Steps, resize_depth, validate_depth, validate_seed, validate_size
from .palette import STYLES, build_palette, sky_colours, spread_hues, with_hues
from .prompt import parse_prompt
from .regional import masked_passes, prompt_masks
from .segments import resize_segments

DEFAULT_FOV_DEG = 50.0
NOISE_TABLE = 32
OCTAVES = 5


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """Display sRGB → linear (elementwise).

    :param c: Values in [0, 1].
    """
    c = np.asarray(c, np.float32)
    return np.where(c <= 0.04045, c / np.float32(12.92), ((c + np.float32(0.055)) / np.float32(1.055)) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear → display sRGB (elementwise, clipped to [0, 1]), float32.

    :param c: Linear values.
    """
    c = np.clip(np.asarray(c, np.float32), 0.0, 1.0)
    curve = np.float32(1.055) * np.maximum(c, np.float32(1e-12)) ** np.float32(1.0 / 2.4) - np.float32(0.055)
    return np.clip(np.where(c <= 0.0031308, c * np.float32(12.92), curve), 0.0, 1.0).astype(np.float32)


def fract(x: np.ndarray) -> np.ndarray:
    """Fractional part in [0, 1), also for negative values.

    :param x: Values.
    """
    return x - np.floor(x)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A random 3×3 rotation matrix (float64) drawn from ``rng``.

    :param rng: Seeded generator (consumed).
    """
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.sign(np.linalg.det(q))


def _variety(prompt: str, palette: list, swatch: np.ndarray, seed: int, offset: int, parts: np.ndarray | None
             ) -> tuple[list, np.ndarray]:
    """The palette and each pixel's swatch (N) as the parts and the prompt ask: every part (``parts``: its index
    per pixel, N) one swatch further on, so touching parts of one material differ; ``same`` paints them all with
    one swatch, ``colourful`` turns the swatches to hues a golden step apart (:mod:`.palette`)."""
    report = parse_prompt(prompt, router=False)
    if parts is not None:
        swatch = (swatch + np.maximum(parts, 0)) % len(palette)
    if report.colourful:
        hues = with_hues(np.array([s.rgb for s in palette]), spread_hues(len(palette), seed))
        palette = [dataclasses.replace(s, rgb=tuple(float(c) for c in rgb)) for s, rgb in zip(palette, hues,
                                                                                              strict=True)]
    if report.same:
        swatch = np.full_like(swatch, offset % len(palette))
    return palette, swatch


class ProceduralBaseline:
    """Baseline generator: procedural, depth-aware, deterministic. The bar learned models must beat.

    Not a learned model. Steps: back-project the depth with the camera (a centred 50° horizontal
    field of view when none is given); camera-space normals from finite differences, facing the
    camera; discontinuities from the relative disparity second difference (silent on planes, even
    grazing ones) plus normal creases, which cut the geometry into segments; each segment gets a
    swatch from a palette chosen by the seed and the prompt's colour/material words; albedo is
    modulated by value-noise fBm evaluated on the 3D points (it sticks to surfaces; its scale is in
    metres); Lambert sun from a seeded direction, hemispherical sky ambient, a small specular term
    and light aerial perspective; darkened lines at depth discontinuities; the background is a sky
    gradient over the view-ray elevation.

    :param texture_scale: Size in metres of the coarsest noise cell; None picks a power of two
        near a quarter of the median depth.
    :param edge_threshold: Relative disparity second difference that counts as a discontinuity.
    :param line_strength: How much lines at discontinuities darken (0 = no lines).
    """

    name = "baseline"

    def __init__(self, texture_scale: float | None = None, edge_threshold: float = 0.05,
                 line_strength: float = 0.45) -> None:
        if texture_scale is not None and not (np.isfinite(texture_scale) and texture_scale > 0):
            raise BadInput(f"texture_scale must be a positive number of metres, got {texture_scale!r}")
        self.texture_scale = texture_scale
        self.edge_threshold = float(edge_threshold)
        self.line_strength = float(line_strength)

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
        segments: np.ndarray | None = None,
        segment_prompts: list[str] | None = None,
    ) -> np.ndarray:
        """Generate an sRGB image for ``depth`` (see :class:`~.base.Generator` for the contract).

        :param depth: H×W planar camera-Z depth in metres; ``inf``/``NaN`` mark background.
        :param mask: H×W bool, True where there is geometry; defaults to ``isfinite(depth)``.
        :param prompt: Colour and material words steer the palette; other words are ignored.
        :param seed: Random seed.
        :param size: Output ``(width, height)``; defaults to the depth map's size.
        :param progress: ``progress(fraction, message)`` callback.
        :param cancel: Cancellation poll.
        :param camera: Camera the depth was taken with.
        :param segments: H×W integer segment map; with ``segment_prompts``, each segment follows its own
            prompt (one pass per distinct prompt, see :mod:`.regional`).
        :param segment_prompts: One prompt per segment id.
        :return: H×W×3 float32 sRGB in [0, 1], row 0 = top.
        """
        steps = Steps(progress, cancel)
        steps(0.0, "checking input")
        d_np, m_np = validate_depth(depth, mask)
        width, height = validate_size(size, d_np.shape)
        seed = validate_seed(seed)
        prompt = "" if prompt is None else str(prompt)
        groups = prompt_masks(segments, segment_prompts, prompt, d_np.shape, (width, height))
        d_np, m_np = resize_depth(d_np, m_np, (width, height))
        if camera is None:
            camera = CameraModel.from_fov(width, height, DEFAULT_FOV_DEG)
        elif (camera.width, camera.height) != (width, height):
            camera = dataclasses.replace(camera, width=width, height=height)

        steps(0.1, "geometry")
        if len(groups) == 1:
            return self._run(d_np, m_np, camera, groups[0][0], seed, steps)
        parts = resize_segments(np.asarray(segments, np.int64), (width, height))  # checked by prompt_masks
        return masked_passes(lambda text, sub: self._run(d_np, m_np, camera, text, seed, sub, parts), groups, steps,
                             0.1)

    def _run(self, d_np: np.ndarray, m_np: np.ndarray, camera: CameraModel, prompt: str, seed: int,
             steps: Steps, part_map: np.ndarray | None = None) -> np.ndarray:
        h, w = d_np.shape
        filled = np.where(m_np, d_np, 1.0).astype(np.float32)
        depth, mask = filled, m_np
        points = np.ascontiguousarray(np.moveaxis(camera.unproject(filled), -1, 0), dtype=np.float32)
        pose = camera.matrix
        posed = not np.allclose(pose, np.eye(4))
        rot = pose[:3, :3] / np.maximum(np.linalg.norm(pose[:3, :3], axis=0, keepdims=True), 1e-12)
        # "Up" is world +Z for a posed camera, camera +Y when the pose is unknown (identity).
        up_cam = rot.T @ np.array([0.0, 0.0, 1.0]) if posed else np.array([0.0, 1.0, 0.0])
        normals = _ops.camera_normals(points, mask, camera.ortho)
        edges = _ops.depth_edges(depth, mask, camera.ortho, self.edge_threshold)

        steps(0.3, "segments")
        region = mask & ~edges & ~_ops.creases(normals, mask)
        labels = _ops.fill_labels(_ops.connected_components(region), depth, mask)

        steps(0.45, "texture")
        rngs = [np.random.default_rng([seed, k]) for k in range(4)]
        palette = build_palette(prompt, rngs[0])
        sky = [srgb_to_linear(np.array(c, np.float32)) for c in sky_colours(rngs[1])]
        idx = np.flatnonzero(mask)
        z = depth.reshape(-1)[idx]
        valid = d_np[m_np]
        median = float(np.median(valid[:: max(1, valid.size // 65536)]))
        cell = self.texture_scale or 2.0 ** round(np.log2(max(0.25 * median, 1e-6)))
        tex = camera.unproject(filled, world=True) if posed else np.moveaxis(points, 0, -1)
        tex = np.ascontiguousarray(tex.reshape(-1, 3)[idx].T, dtype=np.float32) / np.float32(cell)
        offset = int(rngs[2].integers(len(palette)))
        swatch = (labels.reshape(-1)[idx] + offset) % len(palette)
        parts = None if part_map is None else part_map.reshape(-1)[idx]
        palette, swatch = _variety(prompt, palette, swatch, seed, offset, parts)
        n_flat = normals.reshape(3, -1)[:, idx]
        n_tex = rot.astype(np.float32) @ n_flat if posed else n_flat
        pattern = self._pattern(tex, n_tex, z, camera, cell, palette, swatch, rngs[2], 2 if posed else 1)
        table = np.array([[*s.rgb, s.contrast, s.specular, s.shininess] for s in palette], np.float32)
        table[:, :3] = srgb_to_linear(table[:, :3])
        props = table[swatch].T  # 6×N: linear albedo, contrast, specular, shininess
        albedo = props[:3] * np.clip(1.0 + props[3] * pattern, 0.05, 2.0)

        steps(0.75, "shading")
        view = points.reshape(3, -1)[:, idx]
        view = np.broadcast_to(np.array([[0.0], [0.0], [-1.0]], np.float32), view.shape) if camera.ortho else view
        radiance = self._shade(albedo, n_flat, view, props[4], props[5], rngs[3], up_cam, sky)
        line = box3(edges.astype(np.float32))
        radiance *= 1.0 - self.line_strength * np.minimum(1.5 * line.reshape(-1)[idx], 1.0)
        fog = 1.0 - np.exp(-z / np.float32(12.0 * median))
        radiance += (sky[1].reshape(3, 1) - radiance) * fog

        image = np.ascontiguousarray(self._sky(camera, up_cam, sky), dtype=np.float32).reshape(3, -1)
        image[:, idx] = radiance
        out = linear_to_srgb(np.nan_to_num(image, nan=0.0)).reshape(3, h, w).transpose(1, 2, 0)
        result = np.ascontiguousarray(out, dtype=np.float32)
        steps.done()
        return result

    @staticmethod
    def _pattern(pts: np.ndarray, normals: np.ndarray, z: np.ndarray, camera: CameraModel, cell: float,
                 palette: list, swatch: np.ndarray, rng: np.random.Generator, up_axis: int) -> np.ndarray:
        """Texture modulation in about [-1, 1] per pixel (N), by each swatch's style.

        :param pts: 3×N texture-space points in units of the coarsest noise cell.
        :param normals: 3×N texture-space unit normals.
        :param up_axis: Index of the texture-space up axis.
        """
        table = rng.random((NOISE_TABLE,) * 3, dtype=np.float32)
        rotations = np.stack([random_rotation(rng) for _ in range(OCTAVES)]).astype(np.float32)
        offsets = rng.uniform(0, NOISE_TABLE, (OCTAVES, 3)).astype(np.float32)
        frame = random_rotation(rng).astype(np.float32)  # rows: vein direction, trunk cross-section
        noise = _ops.value_noise(pts, table, rotations, offsets)
        # Fade out octaves finer than a few pixels (pixel footprint in cells at this depth).
        left, right = camera.frame[0], camera.frame[1]
        footprint = np.float32((right - left) / camera.width / cell) * (np.ones_like(z) if camera.ortho else z)
        octave_cell = (0.5 ** np.arange(OCTAVES, dtype=np.float32))[:, None]
        weight = np.clip(octave_cell / (3.0 * footprint) - 1.0, 0.0, 1.0)
        amp = (0.7 ** np.arange(OCTAVES, dtype=np.float32))[:, None]
        fbm = ((noise - 0.5) * weight * amp).sum(0) * np.float32(5.0 / float(amp.sum()))
        out = np.clip(fbm, -1.0, 1.0)
        styles = np.array([STYLES.index(s.style) for s in palette])[swatch]
        present = {s.style for s in palette}
        if "veins" in present:
            v = np.sin(np.float32(6.2832) * (1.5 * (frame[0] @ pts) + 0.7 * fbm))
            out = np.where(styles == 1, 0.3 - 1.2 * (1.0 - np.abs(v)) ** 6 + 0.2 * fbm, out)
        if "rings" in present:
            # Growth rings around parallel trunks set every 1.5 cells.
            across = (frame[1:] @ pts) / np.float32(1.5)
            across = (across - np.floor(across) - 0.5) * np.float32(1.5)
            t = fract(np.sqrt((across * across).sum(0)) * 8.0 + 0.5 * fbm)
            out = np.where(styles == 2, 0.7 * (2.0 * t - 1.0) * weight[3] + 0.3 * fbm, out)
        if "bricks" in present:
            # Triplanar layout: lay bricks in the plane facing the normal's dominant axis, with rows
            # along the up axis on walls.
            dominant = np.abs(normals).argmax(0)
            coords = [pts[i] for i in range(3)]
            side_axis = [i for i in range(3) if i != up_axis]
            v = np.where(dominant == up_axis, coords[side_axis[1]], coords[up_axis])
            u = np.where(dominant == side_axis[0], coords[side_axis[1]], coords[side_axis[0]])
            rows = v * 8.0
            mortar = (fract(rows) < 0.12) | (fract(u * 4.0 + 0.5 * np.floor(rows)) < 0.06)
            out = np.where(styles == 3, np.where(mortar, -0.9 * weight[3], np.float32(0.25)) + 0.3 * fbm, out)
        return out.astype(np.float32)

    @staticmethod
    def _shade(albedo: np.ndarray, n: np.ndarray, p: np.ndarray, ks: np.ndarray, shininess: np.ndarray,
               rng: np.random.Generator, up: np.ndarray, sky: list[np.ndarray]) -> np.ndarray:
        """Linear radiance (3×N): seeded sun (Lambert + Blinn-Phong) plus hemispherical sky light.

        :param albedo: 3×N linear albedo.
        :param n: 3×N unit normals.
        :param p: 3×N view rays (camera-space points, or ``(0, 0, -1)`` for orthographic cameras).
        """
        # Sun frame: "toward" is the horizontal direction pointing back at the camera.
        toward = np.array([0.0, 0.0, 1.0]) - up * up[2]
        if np.linalg.norm(toward) < 1e-6:  # looking straight up or down
            toward = np.array([0.0, 1.0, 0.0]) - up * up[1]
        toward = toward / np.linalg.norm(toward)
        right = np.cross(up, toward)
        az, el = rng.uniform(-1.2, 1.2), rng.uniform(0.45, 1.2)
        sun = np.sin(el) * up + np.cos(el) * (np.cos(az) * toward + np.sin(az) * right)
        sun_t = sun.astype(np.float32)
        sun_colour = np.array([1.0, rng.uniform(0.9, 1.0), rng.uniform(0.78, 0.95)], np.float32)
        up_t = up.astype(np.float32)
        zenith, horizon, below = sky
        ndl = np.maximum(sun_t @ n, 0.0)
        hemi = 0.5 + 0.5 * (up_t @ n)
        ambient = below.reshape(3, 1) + (0.5 * (zenith + horizon) - below).reshape(3, 1) * hemi
        view = -p / np.maximum(np.sqrt((p * p).sum(0)), 1e-12)
        half = sun_t.reshape(3, 1) + view
        cos_h = (n * half).sum(0) / np.maximum(np.sqrt((half * half).sum(0)), 1e-12)
        spec = ks * np.clip(cos_h, 0.0, 1.0) ** shininess * (ndl > 0)
        sun_rgb = sun_colour.reshape(3, 1)
        return (albedo * (0.95 * sun_rgb * ndl + 0.45 * ambient) + spec * sun_rgb).astype(np.float32)

    @staticmethod
    def _sky(camera: CameraModel, up: np.ndarray, sky: list[np.ndarray]) -> np.ndarray:
        """Linear sky colour for every pixel (3×H×W) from the elevation of its view ray."""
        x, y = camera.pixel_plane_coords()
        if camera.ortho:  # parallel rays: spread the gradient over the frame instead
            span = max(abs(camera.frame[3] - camera.frame[2]), 1e-9)
            x, y = 0.5 * x / span, 0.5 * y / span
        xs = x.astype(np.float32).reshape(1, -1)
        ys = y.astype(np.float32).reshape(-1, 1)
        elev = (xs * float(up[0]) + ys * float(up[1]) - float(up[2])) / np.sqrt(xs * xs + ys * ys + 1.0)
        zenith, horizon, below = (c.reshape(3, 1, 1) for c in sky)
        above = horizon + (zenith - horizon) * np.minimum(np.clip(elev, 0.0, 1.0) * 2.0, 1.0) ** 0.7
        under = horizon + (below - horizon) * np.minimum(np.clip(-elev, 0.0, 1.0) * 4.0, 1.0)
        return np.where(elev >= 0, above, under)
