# SPDX-License-Identifier: GPL-3.0-or-later
"""Buttons that cannot run with the current selection are disabled, and their tooltip says why
(``poll_message_set``), instead of being enabled and failing when clicked."""

from __future__ import annotations

import bpy
import pytest
from analytic import build


def _select(*names: str) -> None:
    for obj in bpy.context.scene.objects:
        obj.select_set(obj.name in names)


def test_generate_for_selected_only_needs_a_selected_mesh(addon) -> None:
    """With Selected Only on, Generate & Project is disabled until a mesh is selected."""
    scene = build()
    scene.depth_addon.generator = "analytic"
    scene.depth_addon_generate.only_selected = True
    _select("Cam")
    assert not bpy.ops.depth.generate.poll()
    with pytest.raises(RuntimeError, match="Selected Only is on, but no mesh is selected"):
        bpy.ops.depth.generate()
    _select("Box")
    assert bpy.ops.depth.generate.poll()
    scene.depth_addon_generate.only_selected = False
    _select()
    assert bpy.ops.depth.generate.poll()


@pytest.mark.parametrize("op", ["project_image", "texture_multiview"])
def test_texturing_is_disabled_when_only_other_objects_are_selected(addon, op: str) -> None:
    """Project Image and Texture from Views paint the selected meshes, or every visible mesh when nothing but cameras
    and lights is selected: with only a curve selected they are disabled, saying that only meshes can be textured."""
    scene = build()
    scene.depth_addon.generator = "analytic"
    bpy.data.images.new("Photo", 4, 4)
    curve = bpy.data.objects.new("Path", bpy.data.curves.new("Path", "CURVE"))
    scene.collection.objects.link(curve)
    poll = getattr(bpy.ops.depth, op).poll
    _select("Path", "Cam")
    assert not poll()
    with pytest.raises(RuntimeError, match="'Path' \\(curve\\): only meshes can be textured"):
        getattr(bpy.ops.depth, op)()
    for selection in (("Path", "Box"), ("Cam",), ()):
        _select(*selection)
        assert poll(), selection
