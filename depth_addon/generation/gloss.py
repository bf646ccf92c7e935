# SPDX-License-Identifier: GPL-3.0-or-later
"""Specular reflection for glossy styles (metal, polished marble), composited over a shaded image (torch, no bpy).

Depth gives normals and view rays, so the mirror direction is known: it sees the sky when it points
up and the scene's own average radiance when it points down. Schlick's Fresnel weights that
environment (the albedo is the reflectance of a metal; 4 % at normal incidence for a dielectric)
and a Blinn-Phong sun highlight adds the sharp peak where the sun is not shadowed. The appearance
network was trained without this term and does not produce it (the Cycles renders' metal is tinted
by reflected sky and has highlights; the network's is matte), so it is added after the network,
as the sky is.
"""

from __future__ import annotations

import torch

#: Weight of the reflection per style (styles not listed are matte). Measured on a validation split of
#: the training renders (MODEL.md): tiles are glossy in the renders too, but this two-colour
#: environment made them read as marble, so they stay matte.
GLOSS = {"metal": 0.8, "marble": 1.0}
#: Blinn-Phong exponent of the sun highlight.
SHININESS = 60.0


def view_rays(points: torch.Tensor, ortho: bool = False) -> torch.Tensor:
    """Unit view rays (camera → point), 3×H×W.

    :param points: 3×H×W camera-space points.
    :param ortho: Orthographic camera: every ray is ``(0, 0, -1)``.
    """
    if ortho:
        rays = torch.zeros_like(points)
        rays[2] = -1.0
        return rays
    return points / points.norm(dim=0, keepdim=True).clamp_min(1e-9)


def glossy(radiance: torch.Tensor, albedo: torch.Tensor, style: str, normals: torch.Tensor, rays: torch.Tensor,
           mask: torch.Tensor, direct: torch.Tensor, light: torch.Tensor, sky: torch.Tensor) -> torch.Tensor:
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
    if weight <= 0.0 or not bool(mask.any()):
        return radiance
    cos_v = (rays * normals).sum(0, keepdim=True)  # negative: surfaces face the camera
    mirror_up = rays[1:2] - 2.0 * cos_v * normals[1:2]
    grazing = (1.0 + cos_v).clamp(0.0, 1.0) ** 5  # (1 - cos θ)^5 of Schlick's approximation
    m = mask.unsqueeze(0).float()
    ground = (radiance * m).sum((1, 2), keepdim=True) / m.sum().clamp_min(1.0)
    up = ((mirror_up + 0.1) / 0.3).clamp(0.0, 1.0)
    env = sky[:, 0].mean(-1).view(3, 1, 1) * up + ground * (1.0 - up)
    half = light.view(3, 1, 1) - rays
    half = half / half.norm(dim=0, keepdim=True).clamp_min(1e-9)
    sun = (half * normals).sum(0, keepdim=True).clamp_min(0.0) ** SHININESS * (direct > 0).unsqueeze(0)
    if style == "metal":
        f0 = albedo.clamp(0.0, 1.0)
        fresnel = f0 + (1.0 - f0) * grazing
        return radiance * (1.0 - weight) + weight * fresnel * (env + 3.0 * sun)
    fresnel = 0.04 + 0.96 * grazing
    return radiance * (1.0 - weight * fresnel) + weight * (fresnel * env + 0.12 * sun)
