# SPDX-License-Identifier: GPL-3.0-or-later
"""Fusion with the views' part labels (an object takes only its own pixels, all of its parts included), and the
clipping of sampled colours."""

from __future__ import annotations

import numpy as np

from depth_addon.camera import CameraModel
from depth_addon.texturing.fusion import View, accumulate

W = H = 64


def _plane_view(labels: np.ndarray, image: np.ndarray) -> View:
    """An orthographic view looking down on the plane z = 0 from 5 m."""
    cam = CameraModel(W, H, (-1.0, 1.0, -1.0, 1.0), ortho=True,
                      matrix_world=((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 5.0), (0, 0, 0, 1)))
    return View(cam, np.full((H, W), 5.0, np.float32), image=image, labels=labels)


def _points(cols: list[float], row: float = 32.5) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(cols, np.float64)
    xyz = np.stack([-1 + c / W * 2, np.full(len(c), 1 - row / H * 2), np.zeros(len(c))]).astype(np.float32)
    return xyz, np.tile(np.array([[0.0], [0.0], [1.0]], np.float32), (1, len(c)))


def test_an_object_s_thin_part_paints_itself_and_another_object_s_pixels_paint_nothing():
    labels = np.zeros((H, W), np.int32)  # part 0: the wall of object A
    labels[:, 30:32] = 1  # part 1: a 2-px gold trim of the same object
    labels[:, 48:] = 2  # part 2: object B beside it
    image = np.zeros((H, W, 3), np.float32)
    image[..., 0] = 1.0
    image[:, 30:32] = (1.0, 0.85, 0.0)
    image[:, 48:] = (0.0, 0.0, 1.0)
    xyz, normal = _points([30.5, 31.5, 10.5, 46.5, 49.5])  # trim, trim, wall, wall at B's edge, B
    colour, weight = accumulate([_plane_view(labels, image)], xyz, normal, owner=np.array([0, 1]))
    assert np.all(weight[:3] > 0) and np.allclose(colour[:2], (1.0, 0.85, 0.0))  # the trim, as painted
    assert weight[3] == 0 and weight[4] == 0  # near B (its colour mixes in) and on B: not A's paint
    colour, weight = accumulate([_plane_view(labels, image)], xyz, normal)
    assert np.all(weight > 0)  # without labels every visible point is painted


def test_stacked_maps_leave_the_colours_as_the_image_alone_gives_them():
    """Each channel is clipped to its own range after the bicubic overshoot: a lit image stacked with maps whose
    values reach far outside [0, 1] (a height in metres) gives exactly the colours the image alone gives."""
    cam = CameraModel.from_fov(32, 32, 60.0)
    rng = np.random.default_rng(5)
    rgb = (rng.random((32, 32, 3)) > 0.5).astype(np.float32)  # hard edges: bicubic overshoots both ends
    height = rng.uniform(-3.0, 4.0, (32, 32, 2)).astype(np.float32)
    alone = View(cam, np.full((32, 32), 5.0, np.float32), image=rgb)
    stacked = View(cam, np.full((32, 32), 5.0, np.float32), image=np.concatenate([rgb, height], -1))
    col, row = rng.uniform(0, 32, 500).astype(np.float32), rng.uniform(0, 32, 500).astype(np.float32)
    colours, both = alone.colour_at(col, row), stacked.colour_at(col, row)
    assert colours.min() == 0.0 and colours.max() == 1.0  # the overshoot was clipped
    assert np.array_equal(both[:, :3], colours)
    assert both[:, 3:].min() < -1.0 and both[:, 3:].max() > 2.0  # the maps keep their own range
