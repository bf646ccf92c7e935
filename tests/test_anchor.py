# SPDX-License-Identifier: GPL-3.0-or-later
"""World-anchored painting: two views of one surface paint the same pattern there (no Blender scene needed)."""

from __future__ import annotations

import numpy as np

from depth_addon.camera import CameraModel
from depth_addon.generation import anchor, get_generator
from depth_addon.texturing import fusion, sampling
from depth_addon.texturing.views import look_at


def wall_view(eye: tuple[float, float, float], size: int = 96) -> tuple[CameraModel, np.ndarray]:
    """A camera at ``eye`` looking at the wall plane y = 0 (facing -Y), and its exact planar depth."""
    m = look_at(np.array(eye), np.array([0.0, 0.0, 1.5]))
    cam = CameraModel.from_fov(size, size, 40.0, matrix_world=tuple(map(tuple, m)))
    xs, ys = cam.pixel_plane_coords()
    dirs = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], -np.ones((size, size))), -1) @ m[:3, :3].T
    t = -m[1, 3] / dirs[..., 1]  # ray to the plane y = 0; camera Z = t for rays with z = -1
    return cam, np.where(t > 0, t, np.inf).astype(np.float32)


def disagreement(name: str, world_cell: float | None) -> dict[str, float]:
    """Median |difference| of the lit image and of the albedo where the second view sees the first's pixels."""
    gen = get_generator(name)
    (cam_a, depth_a), (cam_b, depth_b) = wall_view((-1.0, -6.0, 1.8)), wall_view((1.5, -5.0, 1.2))
    a = gen.generate_maps(depth_a, None, "red brick", 3, camera=cam_a, world_cell=world_cell)
    b = gen.generate_maps(depth_b, None, "red brick", 3, camera=cam_b, world_cell=world_cell)
    valid = np.isfinite(depth_a)
    pts = fusion.as_soa(cam_a.unproject(depth_a, world=True)[valid])
    col, row, _z = fusion.project_points(cam_b, pts)
    inside = (col >= 2) & (col < cam_b.width - 2) & (row >= 2) & (row < cam_b.height - 2)
    out = {}
    for key, mine, theirs in (("rgb", a.rgb, b.rgb), ("albedo", a.maps["albedo"], b.maps["albedo"])):
        other = sampling.bilinear(theirs, col[inside], row[inside])
        out[key] = float(np.median(np.abs(mine[valid][inside] - other).sum(1)))
    return out


def test_world_anchored_views_agree_where_camera_anchored_ones_do_not():
    cell = 4.0 * anchor.world_cell([wall_view((-1.0, -6.0, 1.8))[1]])  # bricks of several pixels: no aliasing
    analytic, analytic_free = disagreement("analytic", cell), disagreement("analytic", None)
    assert analytic["rgb"] < 0.02 < 0.1 < analytic_free["rgb"], (analytic, analytic_free)
    embedded, embedded_free = disagreement("embedded", cell), disagreement("embedded", None)
    assert embedded["albedo"] < 0.01 < 0.05 < embedded_free["albedo"], (embedded, embedded_free)
    # the network shades from world-frame normals and sun, but glossy highlights and screen-space inputs (disparity,
    # shadows) still differ between views
    assert embedded["rgb"] < 0.9 * embedded_free["rgb"], (embedded, embedded_free)


def test_stable_labels_follow_planes_not_scan_order():
    pts = np.zeros((3, 2, 4), np.float32)
    nrm = np.zeros((3, 2, 4), np.float32)
    nrm[2] = 1.0  # one plane facing +Z (Y-up frame) ...
    pts[2] = 0.3
    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])  # ... cut in two segments by scan order
    out = anchor.stable_labels(labels, pts, nrm, cell=0.5)
    assert len(np.unique(out)) == 1 and 0 <= out.min() < anchor.TABLE
    swapped = anchor.stable_labels(1 - labels, pts, nrm, cell=0.5)
    assert np.array_equal(out, swapped)  # numbering does not matter, the plane does


def test_a_segment_spanning_several_planes_takes_the_largest_ones_number():
    pts = np.zeros((3, 1, 10), np.float32)
    nrm = np.zeros((3, 1, 10), np.float32)
    nrm[2, 0, :4], pts[2, 0, :4] = 1.0, 0.3  # four pixels of a wall facing +Z ...
    nrm[1, 0, 4:7] = 1.0  # ... three of the floor and three of a side wall, all in one segment (a far view
    nrm[0, 0, 7:] = 1.0  # merged them): an average normal belongs to none of them
    merged = anchor.stable_labels(np.zeros((1, 10), int), pts, nrm, cell=0.5)
    wall_only = anchor.stable_labels(np.zeros((1, 4), int), pts[:, :, :4], nrm[:, :, :4], cell=0.5)
    floor_only = anchor.stable_labels(np.zeros((1, 3), int), pts[:, :, 4:7], nrm[:, :, 4:7], cell=0.5)
    assert len(np.unique(merged)) == 1 and merged[0, 0] == wall_only[0, 0]
    assert wall_only[0, 0] != floor_only[0, 0]  # the planes do have different numbers
    background = anchor.stable_labels(np.full((1, 10), -1), pts, nrm, cell=0.5)
    assert (background == -1).all()
