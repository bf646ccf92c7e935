# SPDX-License-Identifier: GPL-3.0-or-later
"""Undo then Redo of an operator brings its result back whole: the images it made in memory (a projection's
occlusion depth, a relightable projection's height map) keep their pixels, so the projection shows again.

Blender's undo keeps no pixels of images that live only in memory: an image the undo step took away comes back on
Redo as a blank one. The same holds for autosave, which runs no save handler.
"""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from analytic import build


@pytest.fixture
def jobs(addon):
    """The add-on's job module, with the queue emptied afterwards."""
    yield addon.jobs
    addon.jobs.QUEUE.abandon()
    addon.jobs.QUEUE.history.clear()


def _step(op: str) -> None:
    area = next(a for a in bpy.context.screen.areas if a.type == "VIEW_3D")
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(window=bpy.context.window, area=area, region=region):
        assert getattr(bpy.ops.ed, op)() == {"FINISHED"}


def _pixels() -> dict[str, np.ndarray]:
    """The pixels of every image of ours in the file."""
    out = {}
    for image in bpy.data.images:
        if image.get("depth_addon_owned"):
            px = np.empty(image.size[0] * image.size[1] * 4, np.float32)
            image.pixels.foreach_get(px)
            out[image.name] = px
    return out


@pytest.mark.parametrize("relightable", [False, True])
def test_undo_and_redo_of_generate_keep_every_image_it_made(addon, jobs, relightable) -> None:
    """After Generate, Undo and Redo, each image of the result has the pixels it had (none comes back blank)."""
    build()
    scene = bpy.context.scene
    scene.depth_addon.generator = "analytic"
    scene.depth_addon_generate.relightable = relightable
    bpy.ops.ed.undo_push(message="before")
    assert bpy.ops.depth.generate("EXEC_DEFAULT", True) == {"FINISHED"}
    made = _pixels()
    assert any(name.endswith(" Depth") for name in made), sorted(made)
    assert not relightable or any(name.endswith(" Height") for name in made), sorted(made)
    _step("undo")
    assert not _pixels()
    _step("redo")
    again = _pixels()
    assert sorted(again) == sorted(made)
    for name, px in made.items():
        assert np.array_equal(again[name], px), f"{name} came back with other pixels after Redo"


def test_undo_and_redo_of_a_relightable_bake_keep_its_maps(addon, jobs) -> None:
    """Bake Textures of a relightable projection: after Undo and Redo its baked texture and maps have their pixels."""
    build()
    scene = bpy.context.scene
    scene.depth_addon.generator = "analytic"
    scene.depth_addon_generate.relightable = True
    assert bpy.ops.depth.generate() == {"FINISHED"}
    before = set(_pixels())
    bpy.ops.ed.undo_push(message="before")
    assert bpy.ops.depth.bake_textures("EXEC_DEFAULT", True, bake_size="512") == {"FINISHED"}
    made = {k: v for k, v in _pixels().items() if k not in before}
    assert len(made) > 1, sorted(made)  # the texture and its maps
    _step("undo")
    _step("redo")
    again = _pixels()
    for name, px in made.items():
        assert np.array_equal(again[name], px), f"{name} came back with other pixels after Redo"
