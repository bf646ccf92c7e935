# SPDX-License-Identifier: GPL-3.0-or-later
"""Material maps estimated from a lit image, for generators that only paint pictures (diffusers, baseline).

The embedded generators hand out the maps they shade from (:mod:`.maps`). Others give a lit image; from it
and the depth this module estimates the same five maps:

* ``normal`` — camera-space normals from depth (the same as the embedded generators');
* ``albedo`` — the image de-lit: one sun and an ambient term are fitted to its luminance over the normals
  (``L ≈ a + b·max(0, n·s)``, the sun ``s`` searched over the hemisphere facing the camera), the sun's cast
  shadows are traced in the depth (:func:`.shadows.screen_shadows`) and the fit is redone with them; the image is
  divided by that shading, scaled so the albedo keeps the image's mean brightness. Shadows the depth does not
  explain (soft, or from objects out of view) stay in the albedo;
* ``roughness`` and ``metallic`` — constants from the prompt's material (:data:`.maps.ROUGHNESS`,
  :data:`.maps.METALLIC`);
* ``height`` — flat: no relief is estimated from a picture.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..camera import CameraModel
from . import _ops
from .base import resize_depth, validate_depth
from .baseline import DEFAULT_FOV_DEG, linear_to_srgb, srgb_to_linear
from .maps import FINISH_ROUGHNESS, MAPS, METALLIC, ROUGHNESS, Layers
from .prompt import parse_prompt
from .regional import prompt_masks
from .segments import choose_style
from .shadows import screen_shadows

#: Candidate sun directions searched (Fibonacci points on the hemisphere facing the camera).
CANDIDATES = 96
#: Pixels used for the fit (evenly strided).
SAMPLES = 20000


def _hemisphere(n: int) -> np.ndarray:
    """``n`` unit camera-space directions with ``z > 0`` (towards the camera), evenly spread."""
    i = np.arange(n) + 0.5
    z = 1.0 - i / n
    r = np.sqrt(1.0 - z * z)
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1).astype(np.float32)


def fit_sun(luminance: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The sun direction and ``(ambient, strength)`` that best explain ``luminance`` as ``a + b·max(0, n·s)``.

    :param luminance: (N,) linear luminance.
    :param normals: (3, N) unit camera-space normals.
    :return: ``(sun (3,), a, b)``; the sun straight at the camera with ``b = 0`` when nothing fits.
    """
    best = (np.array([0.0, 0.0, 1.0], np.float32), float(luminance.mean()) if luminance.size else 0.0, 0.0)
    best_err = float(((luminance - best[1]) ** 2).sum())
    for sun in _hemisphere(CANDIDATES):
        ndl = np.maximum(sun @ normals, 0.0)
        design = np.stack([np.ones_like(ndl), ndl], 1)
        (a, b), *_ = np.linalg.lstsq(design, luminance, rcond=None)
        if b <= 0:
            continue
        err = float(((design @ np.array([a, b]) - luminance) ** 2).sum())
        if err < best_err:
            best, best_err = (sun, float(a), float(b)), err
    return best


def estimate_maps(rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray | None, camera: CameraModel,
                  prompt: str = "", seed: int = 0) -> dict:
    """The five maps of :mod:`.maps`, estimated from a lit sRGB image and its depth.

    :param rgb: H×W×3 sRGB image in [0, 1].
    :param depth: H×W planar depth (``inf`` background), the size of ``rgb``.
    :param mask: H×W bool geometry (finite depth when None).
    :param camera: The depth's camera (same size).
    :param prompt: The prompt (its material gives roughness and metallic).
    :param seed: Seed (the style picked for a prompt without a style word).
    """
    d = np.asarray(depth, np.float32)
    m = np.isfinite(d) & (d > 0) if mask is None else np.asarray(mask, bool) & np.isfinite(d)
    points = np.ascontiguousarray(np.moveaxis(camera.unproject(np.where(m, d, 1.0)), -1, 0), dtype=np.float32)
    normals = _ops.camera_normals(points, m, camera.ortho)
    lin = srgb_to_linear(np.asarray(rgb, np.float32)[..., :3])
    lum = lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    idx = np.flatnonzero(m)[:: max(1, int(m.sum()) // SAMPLES)]
    sun, a, b = fit_sun(lum.reshape(-1)[idx], normals.reshape(3, -1)[:, idx])
    direct = np.maximum(np.tensordot(sun, normals, 1), 0.0)
    if b > 0 and m.any():  # the fitted sun's cast shadows, from the depth; then a and b again with them
        z = np.where(m, d, 1.0).astype(np.float32)
        direct = direct * screen_shadows(z, m, points, sun, camera, float(np.median(d[m])))
        design = np.stack([np.ones(idx.size, np.float32), direct.reshape(-1)[idx]], 1)
        (a2, b2), *_ = np.linalg.lstsq(design, lum.reshape(-1)[idx], rcond=None)
        if b2 > 0:
            a, b = float(a2), float(b2)
    shading = a + b * direct
    floor = 0.1 * max(float(shading[m].max()) if m.any() else 1.0, 1e-6)
    shading = np.maximum(shading, floor)
    scale = float(shading[m].mean()) if m.any() else 1.0
    albedo = np.where(m[..., None], lin / (shading / scale)[..., None], 0.0)
    rough, metal = material_values(prompt, seed)
    encoded = np.where(m[..., None], 0.5 + 0.5 * np.moveaxis(normals, 0, -1), np.array([0.5, 0.5, 1.0]))
    return {"albedo": linear_to_srgb(albedo),
            "roughness": np.where(m, rough, 0.0).astype(np.float32),
            "metallic": np.where(m, metal, 0.0).astype(np.float32),
            "normal": encoded.astype(np.float32), "height": np.zeros(m.shape, np.float32)}


def material_values(prompt: str, seed: int = 0) -> tuple[float, float]:
    """``(roughness, metallic)`` of a prompt's material: its style's values, roughness shifted by its finishes.

    :param prompt: Prompt.
    :param seed: Seed (the style picked for a prompt without a style word).
    """
    report = parse_prompt(prompt)
    style = choose_style(report, seed)
    rough = ROUGHNESS.get(style, 0.7) + sum(FINISH_ROUGHNESS.get(f, 0.0) for f in report.finishes)
    return float(np.clip(rough, 0.02, 1.0)), float(METALLIC.get(style, 0.0))


def generate_layers(gen, depth: np.ndarray, mask: np.ndarray | None, prompt: str, seed: int,
                    camera: CameraModel | None, **kwargs) -> Layers:
    """The lit image and its maps from any generator: its own (``generate_maps``) or estimated from its image.

    Every map of :data:`~.maps.MAPS` is returned: those a generator's ``generate_maps`` leaves out (a plug-in that
    gives only some) are estimated from its image, its own kept as they are.

    :param gen: A generator.
    :param depth: H×W planar depth (``inf`` background).
    :param mask: H×W bool geometry, or None.
    :param prompt: Prompt.
    :param seed: Seed.
    :param camera: The depth's camera (a default one when None).
    :param kwargs: Further ``generate`` keywords (``progress``, ``cancel``, ``size`` …).
    """
    own: dict = {}
    if callable(getattr(gen, "generate_maps", None)):
        layers = gen.generate_maps(depth, mask, prompt=prompt, seed=seed, camera=camera, **kwargs)
        if all(name in layers.maps for name in MAPS):
            return layers
        rgb, own = layers.rgb, dict(layers.maps)
    else:
        rgb = gen.generate(depth, mask, prompt=prompt, seed=seed, camera=camera, **kwargs)
    rgb = np.asarray(rgb, np.float32)[..., :3]
    d, m = validate_depth(depth, mask)
    h, w = rgb.shape[:2]
    if d.shape != (h, w):
        d, m = resize_depth(d, m, (w, h))
    cam = camera or CameraModel.from_fov(w, h, DEFAULT_FOV_DEG)
    if (cam.width, cam.height) != (w, h):
        cam = dataclasses.replace(cam, width=w, height=h)
    maps = estimate_maps(rgb, d, m, cam, prompt, seed)
    groups = prompt_masks(kwargs.get("segments"), kwargs.get("segment_prompts"), prompt, np.shape(depth), (w, h))
    for text, where in groups:  # each region's material gives its own values (one group: the whole frame, done)
        if where is not None:
            rough, metal = material_values(text, seed)
            maps["roughness"][where & m], maps["metallic"][where & m] = rough, metal
    maps.update(own)
    return Layers(rgb, maps)
