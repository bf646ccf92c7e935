# SPDX-License-Identifier: GPL-3.0-or-later
"""Alignment of a relative estimate to metres: scene, known points, ground, range, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from estimation_scenes import HEIGHT, make_view, median_relative_error

from depth_addon.errors import BadInput
from depth_addon.estimation import Alignment, fit_ground, fit_points, fit_range, fit_scene


@pytest.fixture(scope="module")
def view():
    return make_view()


def scene_of(view, fraction: float = 0.3) -> np.ndarray:
    """The true depth on the left ``fraction`` of the columns, with a moved object in it; ``inf`` elsewhere."""
    scene = np.full_like(view.metres, np.inf)
    cols = int(round(fraction * view.metres.shape[1]))
    scene[:, :cols] = view.metres[:, :cols]
    scene[10:60, 10:40] *= 1.5  # geometry the photo does not show: the robust fit drops it
    return scene


def test_align_to_scene_recovers_metres_within_one_percent(view):
    alignment = fit_scene(view.estimate, scene_of(view), "disparity")
    assert alignment.method == "scene" and alignment.overlap >= 0.29
    assert median_relative_error(alignment.to_metres(view.estimate), view.metres) <= 0.01


def test_known_points_recover_metres_within_two_percent(view):
    points = [(x, y, float(view.metres[y, x])) for x, y in ((20, 20), (160, 60), (100, 180))]
    alignment = fit_points(view.estimate, points, "disparity")
    assert median_relative_error(alignment.to_metres(view.estimate), view.metres) <= 0.02


def test_two_points_fit_exactly_in_depth_space():
    truth = np.linspace(2.0, 6.0, 64, dtype=np.float32).reshape(8, 8)
    estimate = (truth - 1.0) / 0.5  # metric up to an affine map
    alignment = fit_points(estimate, [(0, 0, 2.0), (7, 7, 6.0)], "depth")
    np.testing.assert_allclose(alignment.to_metres(estimate), truth, rtol=1e-5)


def test_ground_plane_recovers_metres(view):
    alignment = fit_ground(view.estimate, "disparity", view.focal_px, HEIGHT)
    assert alignment.method == "ground" and alignment.samples > 1000
    assert median_relative_error(alignment.to_metres(view.estimate), view.metres) <= 0.02


def test_range_spreads_between_near_and_far(view):
    metres = fit_range(view.estimate, "disparity", 2.0, 9.0).to_metres(view.estimate)
    assert np.isclose(metres.min(), 2.0, rtol=1e-4) and np.isclose(metres.max(), 9.0, rtol=1e-4)


def test_invalid_values_become_inf():
    alignment = Alignment("disparity", 1.0, -0.5, "points")
    out = alignment.to_metres(np.array([[1.0, 0.25, np.nan]], np.float32))
    assert out[0, 0] == 2.0 and np.isinf(out[0, 1]) and np.isinf(out[0, 2]) and out.dtype == np.float32


@pytest.mark.parametrize("points, message", [
    ([(1, 1, 2.0)], "at least 2 points"),
    ([], "at least 2 points"),
    ([(1, 1, 2.0), (999, 1, 3.0)], "outside"),
    ([(1, 1, 2.0), (2, 2, -3.0)], "positive distance"),
])
def test_known_points_refusals(view, points, message):
    with pytest.raises(BadInput, match=message):
        fit_points(view.estimate, points, "disparity")


def test_points_with_equal_estimates_are_refused():
    with pytest.raises(BadInput, match="same estimated value"):
        fit_points(np.ones((4, 4), np.float32), [(0, 0, 2.0), (3, 3, 5.0)], "disparity")


def test_contradicting_points_are_refused(view):
    near, far = (160, 60), (20, 20)  # the box is nearer than the wall: swap their distances
    with pytest.raises(BadInput, match="does not fit"):
        fit_points(view.estimate, [(*near, 8.0), (*far, 3.0)], "disparity")


def test_empty_scene_depth_is_refused(view):
    with pytest.raises(BadInput, match="empty from the photo's camera"):
        fit_scene(view.estimate, np.full_like(view.metres, np.inf), "disparity")


def test_no_overlap_is_refused(view):
    scene = np.full_like(view.metres, np.inf)
    scene[:, :40] = view.metres[:, :40]
    estimate = view.estimate.copy()
    estimate[:, :40] = np.nan  # the estimator has nothing where the scene has geometry
    with pytest.raises(BadInput, match=r"too little overlap between the photo.s estimate and the scene: 0 pixels "
                                        r"where both are valid \(at least \d+ are needed\)"):
        fit_scene(estimate, scene, "disparity")


def test_a_constant_estimate_is_refused_as_such_by_the_scene_fit(view):
    """A photo whose estimate holds one value over the scene (a blank or overexposed photo) is named as such; the
    message does not send the user to known points."""
    with pytest.raises(BadInput, match="the photo's estimate holds one value where the scene is seen") as refused:
        fit_scene(np.full_like(view.estimate, 0.4), view.metres, "disparity")
    assert "points" not in str(refused.value)


def test_scene_of_another_size_is_refused(view):
    with pytest.raises(BadInput, match="render the scene at the photo's size"):
        fit_scene(view.estimate, view.metres[:, :-1], "disparity")


def test_ground_refusals(view):
    with pytest.raises(BadInput, match="positive focal length"):
        fit_ground(view.estimate, "disparity", 0.0, HEIGHT)
    with pytest.raises(BadInput, match="below the horizon"):
        fit_ground(view.estimate, "disparity", view.focal_px, HEIGHT, cy=view.metres.shape[0])


def test_known_points_report_how_many_fit_and_refuse_non_finite_pixels():
    """Three points, one 20 % off the others' fit: two of three within the inlier threshold."""
    values = np.full((10, 10), 0.5, np.float32)
    values[0, 0], values[0, 1], values[0, 2] = 0.25, 0.5, 1.0  # disparity: metres 4, 2, 1 on one line ...
    fit = fit_points(values, [(0, 0, 4.0), (1, 0, 2.0), (2, 0, 1.0 * 1.2)], "disparity")  # ... but 1.2 measured
    assert fit.inliers < 1.0 and fit.samples == 3
    exact = fit_points(values, [(0, 0, 4.0), (1, 0, 2.0), (2, 0, 1.0)], "disparity")
    assert exact.inliers == 1.0
    with pytest.raises(BadInput, match="finite pixel"):
        fit_points(values, [(float("nan"), 0, 4.0), (1, 0, 2.0)], "disparity")
