# SPDX-License-Identifier: GPL-3.0-or-later
"""Our compositor group reads the view layer that renders: a working layer with Use for Rendering off, shown in the
window or first in the list, would leave the final render black."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from test_compositor import scene_32, workbench_render

from depth_addon.blender.compositor import group as comp


@pytest.mark.parametrize("off", ["shown", "first"])
def test_the_group_composites_the_layer_that_renders(tmp_out, off):
    """One of two view layers does not render (the one the window shows, or the first): the composite through our
    group (no AI layer, no effects) is the plain render, not black."""
    scene = scene_32()
    first = scene.view_layers[0]
    second = scene.view_layers.new("Second")
    working, beauty = (second, first) if off == "shown" else (first, second)
    working.use = False
    bpy.context.window.view_layer = working if off == "shown" else beauty
    plain = workbench_render(scene, tmp_out / "plain.exr")
    assert plain[..., :3].max() > 0.1
    comp.ensure_compositor_group(scene, None, use_dof=False)
    comp.activate_compositor(scene)
    composited = workbench_render(scene, tmp_out / "composited.exr")
    assert np.abs(composited - plain).max() < 1e-4, f"the composite reads {working.name!r}, which does not render"
