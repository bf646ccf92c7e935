# SPDX-License-Identifier: GPL-3.0-or-later
"""Layer-1 materials: Voronoi stone cells, grey mortar, and the specular reflection of glossy styles."""

from __future__ import annotations

import numpy as np
from images import same_image
from test_embedded import ground_box

from depth_addon.generation import _ops
from depth_addon.generation.analytic import gbuffer
from depth_addon.generation.embedded import EmbeddedGenerator
from depth_addon.generation.gloss import GLOSS, glossy, view_rays
from depth_addon.generation.prompt import parse_prompt


def test_voronoi_f1_is_zero_at_feature_points_and_continuous():
    pts = np.random.default_rng(0).random((3, 4000), dtype=np.float32) * 6.0 - 3.0
    f1 = _ops.voronoi_f1(pts)
    assert f1.min() >= 0.0 and f1.max() < 3**0.5  # never farther than a cell diagonal
    cells = np.floor(pts[:, :5])
    feature = cells + _ops._hash3(cells)  # the feature point of a point's own cell is at distance 0
    assert np.allclose(_ops.voronoi_f1(feature), np.zeros(5), atol=1e-5)
    step = _ops.voronoi_f1(pts + np.float32(1e-3)) - f1  # 1-Lipschitz: a distance field has no jumps
    assert np.abs(step).max() <= 2e-3
    assert f1.std() > 0.1  # cells, not a constant


def test_stone_pattern_has_cells():
    depth, cam = ground_box(128, 128, box=False)
    g = gbuffer(depth, np.isfinite(depth), cam, "stone", seed=3)
    pat = g.pattern[g.mask]
    assert pat.max() > 0.5 and pat.min() < -0.5  # bright centres and dark borders


def test_brick_and_tile_joints_are_grey_mortar():
    depth, cam = ground_box(128, 128)
    mask = np.isfinite(depth)
    for style in ("brick", "tiles"):
        g = gbuffer(depth, mask, cam, style, seed=5, report=parse_prompt(f"red {style}"))
        joints = g.mortar > 0.5
        assert 0.03 < joints[g.mask].mean() < 0.4  # thin joints between the bricks
        rgb = g.albedo[:, joints]
        assert (rgb.max(0) - rgb.min(0)).max() < 0.05  # grey, a touch warm (the old mortar: darker red)
        faces = g.albedo[:, g.mask & ~joints]
        assert (faces[0] - faces[2]).mean() > 0.05  # the bricks themselves stay red
    g = gbuffer(depth, mask, cam, "stone", seed=5)
    assert not g.mortar.any()


def _plane_facing_up(size: int = 48) -> dict:
    """A ground plane under the camera: normals (0, 1, 0), mirror rays point up at the sky."""
    depth, cam = ground_box(size, size, box=False)
    mask = np.isfinite(depth)
    points = np.moveaxis(cam.unproject(np.where(mask, depth, 1.0)), -1, 0).astype(np.float32)
    normals = np.zeros((3, size, size), np.float32)
    normals[1] = 1.0
    return {"normals": normals, "rays": view_rays(points), "mask": mask,
            "direct": np.ones((size, size), np.float32), "light": np.array([0.0, 0.6, 0.8], np.float32),
            "sky": np.broadcast_to(np.array([0.2, 0.4, 0.9], np.float32).reshape(3, 1, 1), (3, size, size))}


def test_matte_styles_are_unchanged():
    geo = _plane_facing_up()
    radiance = np.random.default_rng(0).random((3, 48, 48), dtype=np.float32)
    for style in ("plaster", "brick", "tiles", "grass"):
        assert style not in GLOSS
        assert np.array_equal(glossy(radiance, radiance, style, **geo), radiance)


def test_metal_reflects_the_sky_and_dielectrics_reflect_at_grazing_angles():
    geo = _plane_facing_up()
    m = geo["mask"]
    grey = np.full((3, 48, 48), 0.3, np.float32)
    metal = glossy(grey, np.full((3, 48, 48), 0.9, np.float32), "metal", **geo)
    blue_shift = (metal[2] - metal[0])[m]
    assert blue_shift.mean() > 0.1  # a near-white metal floor takes the blue sky's colour
    marble = glossy(grey, grey, "marble", **geo)
    added = (marble[2] - grey[2])
    rows = np.nonzero(m)[0]
    far, near = rows.min(), rows.max()  # the horizon row is seen at a grazing angle, the bottom row steeply
    assert added[far][m[far]].mean() > 3 * added[near][m[near]].mean() > 0


def test_embedded_composites_the_reflection_after_the_network(monkeypatch):
    depth, cam = ground_box(64, 64)
    gen, mask = EmbeddedGenerator(), np.isfinite(depth)
    glossy_metal = gen.generate(depth, prompt="metal", seed=1, camera=cam)
    plaster = gen.generate(depth, prompt="plaster", seed=1, camera=cam)
    monkeypatch.setitem(GLOSS, "metal", 0.0)
    matte_metal = gen.generate(depth, prompt="metal", seed=1, camera=cam)
    assert np.abs(glossy_metal - matte_metal)[mask].mean() > 0.02
    assert np.array_equal(glossy_metal[~mask], matte_metal[~mask])  # the sky is not touched
    assert same_image(gen.generate(depth, prompt="plaster", seed=1, camera=cam), plaster)
