# SPDX-License-Identifier: GPL-3.0-or-later
"""The UV maps a bake unwraps: objects hidden in the viewport, and a user's map that has our map's name."""

from __future__ import annotations

import bpy
import numpy as np
from test_multiview import block_scene

from depth_addon.app import multiview as app_multiview
from depth_addon.blender.writeback import bake_apply, uv_bake


def test_an_object_hidden_in_the_viewport_is_unwrapped_and_baked():
    """The eye icon hides an object from the viewport, not from the render: a UV-less one is unwrapped all the
    same (edit mode skips hidden objects), baked, and hidden again."""
    scene = bpy.context.scene
    _ground, cube = block_scene()
    cube.hide_set(True)
    result = app_multiview.texture_multiview(scene, objects=[cube], views=1, bake_size=32, view_size=48,
                                             prompt="red brick", scene_view=False)
    assert result.coverage["Cube"] > 0.1 and set(result.images) == {"Cube"}
    uv = np.empty(len(cube.data.loops) * 2, np.float32)
    cube.data.uv_layers[uv_bake.UV_NAME].data.foreach_get("uv", uv)
    assert np.ptp(uv) > 0.5  # unwrapped, not left at the origin
    assert cube.hide_get() and not cube.hide_viewport


def test_a_users_uv_map_named_like_ours_is_never_unwrapped():
    """A user's own map called ``Depth UV`` (useless for a bake: every face on one point) stays as it is; the bake
    unwraps the map it adds (``Depth UV.001``), and Remove takes only that one off."""
    scene = bpy.context.scene
    _ground, cube = block_scene()
    mine = cube.data.uv_layers.new(name=uv_bake.UV_NAME)
    before = np.zeros(len(cube.data.loops) * 2, np.float32)
    mine.data.foreach_get("uv", before)
    result = app_multiview.texture_multiview(scene, objects=[cube], views=1, bake_size=32, view_size=48,
                                             prompt="red brick", scene_view=False)
    assert result.coverage["Cube"] > 0.1 and result.uv_maps["Cube"] == f"{uv_bake.UV_NAME}.001"
    after = np.zeros_like(before)
    cube.data.uv_layers[uv_bake.UV_NAME].data.foreach_get("uv", after)
    assert np.array_equal(after, before)
    bake_apply.remove_bake()
    assert list(cube.data.uv_layers.keys()) == [uv_bake.UV_NAME]
