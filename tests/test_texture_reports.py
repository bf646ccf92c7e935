# SPDX-License-Identifier: GPL-3.0-or-later
"""The report lines of the Texture panel's buttons count what they did in words that read right: one object, one
view, and a removal that only gave the compositor back says so (it said "Restored 1 objects", "Restored 0 objects and
the compositor"); a multi-view report gives its time once. The sidebar's list of the last run's materials goes with
the last result."""

from __future__ import annotations

import re

import bpy
from test_regenerate_one import small_scene
from ui_harness import draw


def _info(capfd) -> list[str]:
    captured = capfd.readouterr()
    return [line for line in (captured.out + captured.err).splitlines() if line.startswith("Info:")]


def _select(*names: str) -> None:
    for obj in bpy.context.scene.objects:
        obj.select_set(obj.name in names)
    bpy.context.view_layer.objects.active = bpy.data.objects[names[0]] if names else None


def test_one_object_is_one_object(addon, capfd) -> None:
    """Generate, then bake, remove and texture from one view the sphere alone; then a compositor set up alone is
    removed."""
    scene = small_scene((48, 36))
    scene.depth_addon.generator, scene.depth_addon.prompt = "analytic", "red brick"
    assert bpy.ops.depth.generate("EXEC_DEFAULT", True) == {"FINISHED"}
    _select("Sphere")
    capfd.readouterr()
    assert bpy.ops.depth.bake_textures("EXEC_DEFAULT", True, bake_size="512") == {"FINISHED"}
    assert _info(capfd) == ["Info: Baked 1 object"]
    assert bpy.ops.depth.remove_result("EXEC_DEFAULT", True) == {"FINISHED"}
    assert _info(capfd) == ["Info: Restored 1 object"]
    assert bpy.ops.depth.texture_multiview("EXEC_DEFAULT", True, views=1, scene_view=False, view_size=64,
                                           bake_size="512") == {"FINISHED"}
    (line,) = _info(capfd)
    assert line.startswith("Info: multi-view seed 0: textured 1 object from 1 view; "), line
    assert len(re.findall(r"\d s\)?$|\d s;", line)) == 1, line  # the job's time, once
    _select()
    assert bpy.ops.depth.remove_result("EXEC_DEFAULT", True) == {"FINISHED"}
    capfd.readouterr()
    assert bpy.ops.depth.setup_compositor("EXEC_DEFAULT", True) == {"FINISHED"}
    capfd.readouterr()
    assert bpy.ops.depth.remove_result("EXEC_DEFAULT", True) == {"FINISHED"}
    assert _info(capfd) == ["Info: Gave the scene its own compositor back"]


def test_the_last_runs_materials_go_with_the_last_result(addon) -> None:
    """The Texture panel lists the last run's materials while an object shows its result, not after Remove Result
    took them all away; Undo brings the list back with the result."""
    def listed() -> bool:
        return "Last run's materials" in draw(addon.panels.sidebar.VIEW3D_PT_depth_texture.draw).labels

    scene = small_scene((48, 36))
    scene.depth_addon.generator, scene.depth_addon.prompt = "analytic", "brick walls, wooden posts and grass"
    assert bpy.ops.depth.generate("EXEC_DEFAULT", True) == {"FINISHED"} and listed()
    _select("Sphere")
    assert bpy.ops.depth.remove_result("EXEC_DEFAULT", True) == {"FINISHED"} and listed()  # the others still show it
    _select()
    bpy.ops.ed.undo_push(message="before")
    assert bpy.ops.depth.remove_result("EXEC_DEFAULT", True) == {"FINISHED"} and not listed()
    area = next(a for a in bpy.context.screen.areas if a.type == "VIEW_3D")
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(window=bpy.context.window, area=area, region=region):
        assert bpy.ops.ed.undo() == {"FINISHED"}
    assert listed()
