# SPDX-License-Identifier: GPL-3.0-or-later
"""The analytic depth shader: layer 1 of the embedded model, and a generator on its own (numpy, no weights).

Steps: back-project the depth; camera-space normals; discontinuities from the disparity second
difference (silent on planes, even grazing ones) plus normal creases cut the image into segments;
each segment gets a seeded colour from the requested style's palette and the style's procedural
texture, evaluated on the back-projected 3D points (it sticks to surfaces, no screen-space
swimming); a sun (Lambert) with screen-space cast shadows and a hemispherical sky ambient light the
result, and glossy styles get a specular reflection (:mod:`.gloss`). :func:`gbuffer` returns every
intermediate, which the learned appearance network reads.

The textures follow the Blender node materials of the training renders (``make_training_data.py``):
brick and tile courses with mortar, wood rings, marble as distorted bands whose tops turn into dark
veins (Wave texture + colour ramp), stone as Voronoi cells (F1 distance), noise for the rest.
"""

from __future__ import annotations

import colorsys
import dataclasses
from dataclasses import dataclass

import numpy as np

from ..camera import CameraModel
from . import _ops, anchor
from .base import CancelFn, ProgressFn, Steps, resize_depth, validate_depth, validate_seed, validate_size
from .baseline import DEFAULT_FOV_DEG, fract, linear_to_srgb, random_rotation
from .gloss import glossy, view_rays
from .maps import MAPS, Layers, surface_maps
from .palette import spread_hues
from .prompt import COLOURS, FINISHES, STYLE_HSV, PromptReport, parse_prompt
from .segments import Region, build_regions, check_segments, resize_segments, style_masks
from .shadows import screen_shadows

# per style: texture contrast and coarsest-cell multiplier
_CONTRAST = {"brick": 0.55, "wood": 0.45, "stone": 0.5, "marble": 0.6, "tiles": 0.5, "metal": 0.15,
             "plaster": 0.12, "grass": 0.6}
#: Brightness variation from brick to brick (the renders mix two colours per brick; tiles have one).
_BRICK_VARIATION = {"brick": 0.5, "tiles": 0.1}
#: Range of the mortar's grey (sRGB) in the renders: mortar is grey, not a darker brick colour.
_MORTAR_GREY = {"brick": (0.3, 0.6), "tiles": (0.5, 0.9)}


@dataclass
class GBuffer:
    """Everything the analytic layer computes for one image (numpy, float32, channel-first).

    :param mask: H×W bool geometry mask.
    :param disparity: H×W disparity normalised by its median (0 on background).
    :param normals: 3×H×W camera-space unit normals.
    :param edges: H×W bool depth discontinuities.
    :param labels: H×W int64 segment labels (-1 on background).
    :param albedo: 3×H×W linear albedo (palette colour × texture).
    :param pattern: H×W texture modulation in about [-1, 1].
    :param direct: H×W sun term ``max(0, n·L) × shadow``.
    :param ambient: H×W hemispherical sky term in [0, 1].
    :param sky: 3×H×W linear sky colour (the background).
    :param light: Camera-space unit vector towards the sun.
    :param image: 3×H×W linear shaded result (with the style's specular reflection, see :mod:`.gloss`).
    :param rays: 3×H×W unit view rays.
    :param mortar: H×W mortar weight of brick and tiles (0 elsewhere).
    :param mortar_colour: Linear colour of the mortar (3; zero for styles without mortar) of the first region.
    :param regions: The painted regions (:mod:`.segments`), each with its style and mortar colour.
    :param table: Palette entries drawn (:data:`.anchor.TABLE` when world-anchored; 0: one per label).
    """

    mask: np.ndarray
    disparity: np.ndarray
    normals: np.ndarray
    edges: np.ndarray
    labels: np.ndarray
    albedo: np.ndarray
    pattern: np.ndarray
    direct: np.ndarray
    ambient: np.ndarray
    sky: np.ndarray
    light: np.ndarray
    image: np.ndarray
    rays: np.ndarray
    mortar: np.ndarray
    mortar_colour: np.ndarray
    regions: list[Region] = dataclasses.field(default_factory=list)
    table: int = 0


def seeded_light(seed: int) -> np.ndarray:
    """A camera-space unit sun direction (above the horizon, in front or to the side) from a seed.

    :param seed: Random seed.
    """
    rng = np.random.default_rng([seed, 7])
    az, el = rng.uniform(-2.2, 2.2), rng.uniform(0.45, 1.2)
    v = np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    return (v / np.linalg.norm(v)).astype(np.float32)


def palette_colours(report: PromptReport, style: str, n: int, rng: np.random.Generator,
                    rows: np.ndarray | None = None, hues: np.ndarray | None = None) -> np.ndarray:
    """``n`` seeded linear albedo colours for ``style``, tinted by the prompt's colours and finishes.

    :param report: Parsed prompt.
    :param style: Style name.
    :param n: Number of colours.
    :param rng: Seeded generator (consumed as for all ``n`` rows, whichever are drawn).
    :param rows: The rows to draw (the labels a region shows), or None for all; the others stay black. A row's
        colour does not depend on which others are drawn: the generator jumps over the rest.
    :param hues: Hue (0-1) per row for a colourful prompt (:func:`~.palette.spread_hues`); the style's otherwise.
    """
    (h0, h1), (s0, s1), (v0, v1) = STYLE_HSV[style]
    out = np.zeros((n, 3), np.float32)
    vs, ss = 1.0, 1.0
    for f in report.finishes:
        vs, ss = vs * FINISHES[f][0], ss * FINISHES[f][1]
    per, at = 3 + bool(report.colours), 0  # 64-bit draws per row: one per uniform
    for k in range(n) if rows is None else np.unique(rows).tolist():
        rng.bit_generator.advance((k - at) * per)
        at = k + 1
        hsv = [rng.uniform(h0, h1), min(1.0, rng.uniform(s0, s1) * ss), min(1.0, rng.uniform(v0, v1) * vs)]
        if hues is not None:
            hsv = [float(hues[k]), max(hsv[1], 0.55), float(np.clip(hsv[2], 0.45, 0.9))]
        rgb = np.array(colorsys.hsv_to_rgb(*hsv))
        if report.colours:
            tint = np.array(COLOURS[report.colours[k % len(report.colours)]])
            rgb = 0.35 * rgb + 0.65 * tint * rng.uniform(0.8, 1.1)
        out[k] = np.clip(rgb, 0.0, 1.0) ** 2.2
    rng.bit_generator.advance((n - at) * per)
    return out


def _pattern(style: str, pts: np.ndarray, normals: np.ndarray, fbm: np.ndarray, frame: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """Texture modulation in about [-1, 1] for N points of one style, and the mortar mask (brick, tiles)."""
    if style in ("brick", "tiles"):
        dominant = np.abs(normals).argmax(0)
        v = np.where(dominant == 1, pts[2], pts[1])
        u = np.where(dominant == 0, pts[2], pts[0])
        rows = v * np.float32(8.0 if style == "brick" else 5.0)
        shift = 0.5 * np.floor(rows) if style == "brick" else 0.0
        cols = u * np.float32(4.0 if style == "brick" else 5.0) + shift
        mortar = (fract(rows) < 0.1) | (fract(cols) < 0.06)
        brick_var = np.sin(np.floor(rows) * np.float32(12.9898) + np.floor(cols) * np.float32(78.233))
        brick_var = brick_var * np.float32(_BRICK_VARIATION[style])
        return np.where(mortar, np.float32(-1.0), 0.3 + brick_var) + 0.25 * fbm, mortar.astype(np.float32)
    if style == "wood":
        across = (frame[1:] @ pts) / np.float32(1.5)
        across = (across - np.floor(across) - 0.5) * np.float32(1.5)
        t = fract(np.sqrt((across * across).sum(0)) * 6.0 + 0.6 * fbm)
        return 0.8 * (2.0 * t - 1.0) + 0.2 * fbm, None
    if style == "marble":  # as Blender's Wave bands + colour ramp: dark veins where the band value tops 0.8
        band = 0.5 + 0.5 * np.sin(np.float32(6.2832) * ((frame[0] @ pts) + 1.2 * fbm))
        return 0.3 - 2.5 * np.clip((band - 0.8) / 0.2, 0.0, 1.0) + 0.1 * fbm, None
    if style == "stone":  # as Blender's Voronoi F1 distance: bright cell centres darkening to the borders
        return 1.2 - 2.4 * _ops.voronoi_f1(1.5 * pts + 0.1 * fbm) + 0.15 * fbm, None
    if style == "grass":
        return fbm * 1.5, None
    return fbm, None


def _segments(filled: np.ndarray, mask: np.ndarray, camera: CameraModel, edge_threshold: float,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points (3×H×W), normals (3×H×W), discontinuities and segment labels (-1 on background)."""
    points = np.ascontiguousarray(np.moveaxis(camera.unproject(filled), -1, 0), dtype=np.float32)
    normals = _ops.camera_normals(points, mask, camera.ortho)
    edges = _ops.depth_edges(filled, mask, camera.ortho, edge_threshold)
    region = mask & ~edges & ~_ops.creases(normals, mask)
    labels = _ops.fill_labels(_ops.connected_components(region), filled, mask)
    return points, normals, edges, np.where(mask, labels, -1)


def _texture(points: np.ndarray, normals: np.ndarray, mask: np.ndarray, labels: np.ndarray, median: float,
             style: str, seed: int, report: PromptReport, colours: np.ndarray | None, variant: int | None = None,
             cell: float | None = None, table: int = 0
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pixels of ``mask`` (flat indices), their albedo (3×N), pattern (N) and mortar weight (N), and the
    mortar colour (3) (``cell`` and ``table``: see :mod:`.anchor`)."""
    rng = np.random.default_rng([seed, 11] if variant is None else [seed, 11, variant])
    n_labels = max(int(labels.max()) + 1, table, 1)
    idx = np.flatnonzero(mask)
    lab = np.zeros(idx.size, np.int64) if report.same else np.maximum(labels.reshape(-1)[idx], 0)  # same: one entry
    if colours is None:  # only the labels the region shows: one draw per region, not one per label of the image
        hues = spread_hues(n_labels, seed, variant) if report.colourful else None
        table = palette_colours(report, style, n_labels, rng, lab, hues)
    else:
        table = np.asarray(colours, np.float32)
        rng.random()
    lab = np.clip(lab, 0, table.shape[0] - 1)
    cell = np.float32(cell if cell else 2.0 ** round(np.log2(max(0.1 * median, 1e-6))))
    pts = points.reshape(3, -1)[:, idx] / cell
    nt = rng.random((32, 32, 32), dtype=np.float32)
    rot = np.stack([random_rotation(rng) for _ in range(4)]).astype(np.float32)
    off = rng.uniform(0, 32, (4, 3)).astype(np.float32)
    frame = random_rotation(rng).astype(np.float32)
    scale = np.float32({"grass": 4.0, "plaster": 2.0, "metal": 1.5}.get(style, 1.0))
    noise = _ops.value_noise(pts * scale, nt, rot, off)
    amp = np.array([1.0, 0.6, 0.36, 0.22], np.float32)[:, None]
    fbm = ((noise - 0.5) * amp).sum(0) * np.float32(4.0 / float(amp.sum()))
    pat, joints = _pattern(style, pts, normals.reshape(3, -1)[:, idx], fbm, frame)
    pattern = np.clip(pat, -1.0, 1.0).astype(np.float32, copy=False)
    mortar = np.zeros(idx.size, np.float32) if joints is None else np.asarray(joints, np.float32)
    mortar_colour = np.zeros(3, np.float32)
    if style in _MORTAR_GREY:
        key = [seed, 19] if variant is None else [seed, 19, variant]
        grey = np.random.default_rng(key).uniform(*_MORTAR_GREY[style])
        mortar_colour = (np.array([grey, grey, 0.95 * grey]) ** 2.2).astype(np.float32)
    albedo = surface_albedo(table[lab].T[:, None, :], pattern[None], mortar[None], mortar_colour, style)[:, 0]
    return idx, albedo, pattern, mortar, mortar_colour


def gbuffer(depth: np.ndarray, mask: np.ndarray, camera: CameraModel, style: str, seed: int,
            report: PromptReport | None = None, light: np.ndarray | None = None,
            colours: np.ndarray | None = None, edge_threshold: float = 0.05,
            regions: list[Region] | None = None, world_cell: float | None = None) -> GBuffer:
    """Run the analytic layer on a validated depth map.

    :param depth: H×W float32 depth (``inf`` on background), as from :func:`~.base.validate_depth`.
    :param mask: H×W bool geometry mask.
    :param camera: Camera of the depth map (same size).
    :param style: One of :data:`~.prompt.STYLES`.
    :param seed: Seed for palette, texture phase and (when ``light`` is None) the sun.
    :param report: Parsed prompt (colours and finishes tint the palette).
    :param light: Camera-space direction towards the sun; seeded when None.
    :param colours: Optional K×3 linear colours indexed by segment label (training hints); the
        seeded palette otherwise.
    :param edge_threshold: Relative disparity second difference that counts as a discontinuity.
    :param regions: Regions painted with their own style and palette variant (:func:`~.segments.build_regions`);
        ``style`` and ``report`` everywhere when None.
    :param world_cell: Paint in world space with this pattern cell (metres), so several views of a scene agree
        (:mod:`.anchor`); the camera's own space and a cell from the median depth when None.
    """
    report = report or PromptReport()
    regions = regions or [Region(style, report)]
    h, w = depth.shape
    m = np.asarray(mask, bool)
    z = np.where(m, depth, 1.0).astype(np.float32)
    points, normals, edges, labels = _segments(z, m, camera, edge_threshold)
    pat_points, pat_normals, table = points, normals, 0
    if world_cell:
        pat_points, pat_normals = anchor.to_world_yup(points, normals, camera)
        labels, table = anchor.stable_labels(labels, pat_points, pat_normals, world_cell), anchor.TABLE
    valid = depth[m]
    median = float(np.median(valid[:: max(1, valid.size // 65536)]))
    disparity = np.where(m, np.float32(median) / z, np.float32(0.0))
    albedo, pattern, mortar = np.zeros((3, h, w), np.float32), np.zeros((h, w), np.float32), np.zeros_like(z)
    for r in regions:  # regions do not overlap: each writes its own pixels
        where = m if r.where is None else m & r.where
        idx, a, p, mo, r.mortar_colour = _texture(pat_points, pat_normals, where, labels, median, r.style, seed,
                                                  r.report, colours, r.variant, world_cell, table)
        albedo.reshape(3, -1)[:, idx], pattern.reshape(-1)[idx], mortar.reshape(-1)[idx] = a, p, mo
    sun = seeded_light(seed) if light is None else np.asarray(light, np.float32)
    if light is None and world_cell:
        sun = anchor.world_sun(seed, camera, sun)
    sun = (sun / max(float(np.linalg.norm(sun)), 1e-9)).astype(np.float32)
    ndl = np.maximum(np.tensordot(sun, normals, 1), 0.0)
    direct = ndl * screen_shadows(z, m, points, sun, camera, median)
    ambient = 0.5 + 0.5 * pat_normals[1]  # sky light from above: the world's up when painting world-anchored
    # Sky: a seeded linear colour in the range of the training renders' world colours, slightly
    # brighter towards the zenith.
    sky_rng = np.random.default_rng([seed, 17])
    base = (sky_rng.uniform([0.35, 0.5, 0.75], [0.6, 0.7, 1.0]) * sky_rng.uniform(0.5, 1.0)).astype(np.float32)
    _, ys = camera.pixel_plane_coords()
    elev = np.broadcast_to(np.asarray(ys, np.float32).reshape(h, 1), (h, w))
    sky = base.reshape(3, 1, 1) * (0.9 + 0.2 * np.clip(elev, 0, 1))
    rays = view_rays(points, camera.ortho)
    radiance = albedo * (1.1 * direct + 0.3 * ambient)
    shaded = radiance
    for style, where in style_masks(regions):  # one gloss pass per style, not per region
        lit = glossy(radiance, albedo, style, normals, rays, m, direct, sun, sky)
        shaded = lit if where is None else np.where(where, lit, shaded)
    image = np.where(m, shaded, sky).astype(np.float32)
    return GBuffer(m, disparity, normals, edges, labels, albedo, pattern, direct, ambient * m, sky, sun, image, rays,
                   mortar, regions[0].mortar_colour, regions, table)


def surface_albedo(colours: np.ndarray, pattern: np.ndarray, mortar: np.ndarray, mortar_colour: np.ndarray,
                   style: str) -> np.ndarray:
    """Albedo from per-pixel base colours: the style's texture modulation, grey mortar in the joints.

    :param colours: 3×H×W linear base colour (the segment's palette colour or hint).
    :param pattern: H×W texture modulation (:attr:`GBuffer.pattern`).
    :param mortar: H×W mortar weight in [0, 1] (:attr:`GBuffer.mortar`).
    :param mortar_colour: Linear mortar colour (3).
    :param style: Style name.
    """
    albedo = colours * np.clip(1.0 + np.float32(_CONTRAST[style]) * pattern, 0.05, 2.0)
    if style in _MORTAR_GREY:
        albedo = albedo + (np.asarray(mortar_colour, np.float32).reshape(3, 1, 1) - albedo) * mortar
    return albedo.astype(np.float32)


def prepare(depth: np.ndarray, mask: np.ndarray | None, size: tuple[int, int] | None, seed: int,
            camera: CameraModel | None) -> tuple[np.ndarray, np.ndarray, int, CameraModel]:
    """Validate and resize the inputs shared by the embedded generators.

    :return: ``(depth, mask, seed, camera)`` at the output size.
    """
    d_np, m_np = validate_depth(depth, mask)
    width, height = validate_size(size, d_np.shape)
    seed = validate_seed(seed)
    d_np, m_np = resize_depth(d_np, m_np, (width, height))
    if camera is None:
        camera = CameraModel.from_fov(width, height, DEFAULT_FOV_DEG)
    elif (camera.width, camera.height) != (width, height):
        camera = dataclasses.replace(camera, width=width, height=height)
    return d_np, m_np, seed, camera


def to_image(linear: np.ndarray) -> np.ndarray:
    """3×H×W linear → H×W×3 float32 sRGB in [0, 1].

    :param linear: Linear radiance.
    """
    out = linear_to_srgb(np.nan_to_num(linear, nan=0.0)).transpose(1, 2, 0)
    return np.ascontiguousarray(out, dtype=np.float32)


class AnalyticGenerator:
    """The analytic layer alone: procedural materials, sun, shadows and sky from depth; no weights.

    ``last_report`` holds the :class:`~.prompt.PromptReport` of the latest call (unknown words are
    listed there and in its ``message``).
    """

    name = "analytic"
    #: The material maps :meth:`generate_maps` gives.
    maps = MAPS

    def __init__(self) -> None:
        self.last_report: PromptReport | None = None

    def describe_prompt(self, prompt: str) -> PromptReport:
        """Parse ``prompt`` without generating anything.

        :param prompt: Free text.
        """
        return parse_prompt(prompt)

    def generate(self, depth: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0,
                 size: tuple[int, int] | None = None, progress: ProgressFn | None = None,
                 cancel: CancelFn | None = None, camera: CameraModel | None = None,
                 segments: np.ndarray | None = None, segment_prompts: list[str] | None = None,
                 world_cell: float | None = None) -> np.ndarray:
        """Generate an sRGB image for ``depth`` (see :class:`~.base.Generator` for the contract).

        :param depth: H×W planar camera-Z depth in metres; ``inf``/``NaN`` mark background.
        :param mask: H×W bool, True where there is geometry.
        :param prompt: Style, colour and finish words; unknown words are reported in ``last_report``.
        :param seed: Random seed.
        :param size: Output ``(width, height)``.
        :param progress: ``progress(fraction, message)`` callback.
        :param cancel: Cancellation poll.
        :param camera: Camera the depth was taken with.
        :param segments: H×W integer segment map at the depth's size (:mod:`.segments`), or None.
        :param segment_prompts: One prompt per segment id; each segment gets its own style and palette.
        :param world_cell: Paint in world space with this pattern cell (metres) so views agree (:mod:`.anchor`).
        :return: H×W×3 float32 sRGB in [0, 1].
        """
        return self.generate_maps(depth, mask, prompt, seed, size, progress, cancel, camera, segments,
                                  segment_prompts, maps=False, world_cell=world_cell).rgb

    def generate_maps(self, depth: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0,
                      size: tuple[int, int] | None = None, progress: ProgressFn | None = None,
                      cancel: CancelFn | None = None, camera: CameraModel | None = None,
                      segments: np.ndarray | None = None, segment_prompts: list[str] | None = None,
                      maps: bool = True, world_cell: float | None = None) -> Layers:
        """The lit image and its material maps (:mod:`.maps`); the parameters are :meth:`generate`'s.

        :param maps: Compute the maps (False: the lit image only, as :meth:`generate`).
        """
        steps = Steps(progress, cancel)
        steps(0.0, "checking input")
        seg = None if segments is None else check_segments(segments, segment_prompts, np.shape(depth))[0]
        d_np, m_np, seed, camera = prepare(depth, mask, size, seed, camera)
        self.last_report = report = parse_prompt(prompt)
        seg = None if seg is None else resize_segments(seg, (camera.width, camera.height))
        regions = build_regions(seg, segment_prompts, report, seed, m_np)
        steps(0.2, "analytic shading")
        g = gbuffer(d_np, m_np, camera, regions[0].style, seed, report, regions=regions, world_cell=world_cell)
        out = to_image(g.image)
        layers = surface_maps(g.albedo, g.pattern, g.mortar, g.normals, g.mask, g.regions) if maps else {}
        steps.done()
        return Layers(out, layers)
