# SPDX-License-Identifier: GPL-3.0-or-later
"""Specular reflection for glossy styles (metal, polished marble), composited over a shaded image (numpy, no bpy).

Depth gives normals and view rays, so the mirror direction is known: it sees the sky when it points
up and the scene's own average radiance when it points down. Schlick's Fresnel weights that
environment (the albedo is the reflectance of a metal; 4 % at normal incidence for a dielectric)
and a Blinn-Phong sun highlight adds the sharp peak where the sun is not shadowed. The appearance
network was trained without this term and does not produce it (the Cycles renders' metal is tinted
by reflected sky and has highlights; the network's is matte), so it is added after the network,
as the sky is.
"""

from __future__ import annotations

import numpy as np

#: Weight of the reflection per style (styles not listed are matte). Measured on a validation split of
#: the training renders (MODEL.md): tiles are glossy in the renders too, but this two-colour
#: environment made them read as marble, so they stay matte.
GLOSS = {"metal": 0.8, "marble": 1.0}
#: Blinn-Phong exponent of the sun highlight.
SHININESS = 60.0


def view_rays(points: np.ndarray, ortho: bool = False) -> np.ndarray:
    """Unit view rays (camera → point), 3×H×W.

    :param points: 3×H×W camera-space points.
    :param ortho: Orthographic camera: every ray is ``(0, 0, -1)``.
    """
    if ortho:
        rays = np.zeros_like(points)
        rays[2] = -1.0
        return rays
    return points / np.maximum(np.sqrt((points * points).sum(0, keepdims=True)), 1e-9)


def glossy(radiance: np.ndarray, albedo: np.ndarray, style: str, normals: np.ndarray, rays: np.ndarray,
           mask: np.ndarray, direct: np.ndarray, light: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """``radiance`` with the style's specular reflection composited in (unchanged for matte styles).

    :param radiance: 3×H×W linear shaded image (geometry pixels are used).
    :param albedo: 3×H×W linear albedo (a metal's reflectance).
    :param style: Style name; see :data:`GLOSS`.
    :param normals: 3×H×W camera-space unit normals.
    :param rays: 3×H×W unit view rays (:func:`view_rays`).
    :param mask: H×W bool geometry mask.
    :param direct: H×W sun term with shadows (highlights only where it is positive).
    :param light: Camera-space unit vector towards the sun.
    :param sky: 3×H×W linear sky (its top row is the zenith colour).
    """
    weight = GLOSS.get(style, 0.0)
    if weight <= 0.0 or not mask.any():
        return radiance
    cos_v = (rays * normals).sum(0, keepdims=True)  # negative: surfaces face the camera
    mirror_up = rays[1:2] - 2.0 * cos_v * normals[1:2]
    grazing = np.clip(1.0 + cos_v, 0.0, 1.0) ** 5  # (1 - cos θ)^5 of Schlick's approximation
    m = mask[None].astype(np.float32)
    ground = (radiance * m).sum((1, 2), keepdims=True) / max(float(m.sum()), 1.0)
    up = np.clip((mirror_up + 0.1) / 0.3, 0.0, 1.0)
    env = sky[:, 0].mean(-1).reshape(3, 1, 1) * up + ground * (1.0 - up)
    half = np.asarray(light, np.float32).reshape(3, 1, 1) - rays
    half = half / np.maximum(np.sqrt((half * half).sum(0, keepdims=True)), 1e-9)
    sun = np.maximum((half * normals).sum(0, keepdims=True), 0.0) ** SHININESS * (direct > 0)[None]
    if style == "metal":
        f0 = np.clip(albedo, 0.0, 1.0)
        fresnel = f0 + (1.0 - f0) * grazing
        return (radiance * (1.0 - weight) + weight * fresnel * (env + 3.0 * sun)).astype(np.float32)
    fresnel = 0.04 + 0.96 * grazing
    return (radiance * (1.0 - weight * fresnel) + weight * (fresnel * env + 0.12 * sun)).astype(np.float32)
