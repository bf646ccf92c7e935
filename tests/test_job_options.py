# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of operators that run as jobs live in the sidebar, not in Adjust Last Operation.

Blender's *Adjust Last Operation* runs an operator again synchronously: for a multi-view texturing or a depth
sequence, Blender froze for the whole run, without progress or Esc. These operators are not offered to it; their
options are scene settings drawn in the sidebar, and its buttons run with them.
"""

from __future__ import annotations

import bpy
import pytest
from analytic import build
from test_regenerate_one import small_scene
from ui_harness import draw

from depth_addon.blender.writeback import bake_apply

JOB_OPERATORS = ("generate", "texture_multiview", "regenerate", "import_photo_as_mesh", "render_depth_sequence")


def buttons(addon, panel: str) -> dict[str, list]:
    """Operator idname → the properties of each of its buttons in the sidebar panel ``panel``."""
    log = draw(getattr(addon.panels.sidebar, panel).draw)
    assert not log.problems, log.problems
    out: dict[str, list] = {}
    for idname, props in log.buttons:
        out.setdefault(idname, []).append(props)
    return out


@pytest.mark.parametrize("name", JOB_OPERATORS)
def test_job_operators_are_not_offered_to_adjust_last_operation(addon, name: str) -> None:
    """Adjust Last Operation would run the job again with Blender frozen: such operators are not registered for it
    (still undoable)."""
    cls = getattr(bpy.types, f"DEPTH_OT_{name}")
    assert "REGISTER" not in cls.bl_options and "UNDO" in cls.bl_options


def test_the_texture_panel_runs_multi_view_with_the_scenes_options(addon, worker_plugins) -> None:
    """The Texture panel draws the scene's multi-view options; its button runs with them (here relightable, one
    view, small textures: the objects get Principled materials with maps), the coverage button with them too."""
    scene = small_scene((48, 36))
    scene.depth_addon.generator, scene.depth_addon.prompt = "analytic", "red brick"
    options = scene.depth_addon_texture
    options.views, options.bake_size, options.view_size, options.shading = 1, "512", 64, "PBR"
    drawn = buttons(addon, "VIEW3D_PT_depth_texture")
    run, coverage = drawn["depth.texture_multiview"]
    assert (coverage.preview_only, run.preview_only) == (True, False)
    wanted = {"views": 1, "bake_size": "512", "view_size": 64, "shading": "PBR", "placement": "ORBIT"}
    assert {k: getattr(run, k) for k in wanted} == wanted and {k: getattr(coverage, k) for k in wanted} == wanted
    for obj in scene.objects:
        obj.select_set(obj.name == "Sphere")
    assert bpy.ops.depth.texture_multiview(**{k: getattr(run, k) for k in run.bl_rna.properties.keys()
                                              if k != "rna_type"}) == {"FINISHED"}
    sphere = bpy.data.objects["Sphere"]
    assert bake_apply.is_baked(sphere)
    nodes = sphere.material_slots[0].material.node_tree.nodes
    assert any(n.bl_idname == "ShaderNodeBsdfPrincipled" for n in nodes)
    assert any(n.bl_idname == "ShaderNodeNormalMap" for n in nodes)
    options.placement = "CAMERAS"  # the count of placed views means nothing then
    assert "DepthAddonTextureSettings.views" not in draw(addon.panels.sidebar.VIEW3D_PT_depth_texture.draw).props


def test_the_depth_panel_runs_a_sequence_with_the_scenes_options(addon) -> None:
    """The Depth panel draws the sequence options; its Sequence button carries them."""
    build()
    sequence = bpy.context.scene.depth_addon_sequence
    sequence.frames, sequence.all_cameras, sequence.write_png = False, True, False
    (button,) = buttons(addon, "VIEW3D_PT_depth")["depth.render_depth_sequence"]
    assert (button.frames, button.all_cameras, button.write_png, button.write_exr) == (False, True, False, True)


def test_the_scenes_options_are_the_operators_own(addon) -> None:
    """One definition: every option of the scene's settings exists on the operator, with the same default and
    choices, so a script gets what the sidebar gets."""
    scene = bpy.context.scene
    for group, name in ((scene.depth_addon_texture, "texture_multiview"),
                        (scene.depth_addon_sequence, "render_depth_sequence")):
        mine = group.bl_rna.properties
        theirs = getattr(bpy.ops.depth, name).get_rna_type().properties
        names = [k for k in mine.keys() if k not in ("rna_type", "name")]
        assert len(names) >= 4
        for key in names:
            a, b = mine[key], theirs[key]
            assert (a.type, a.name, a.description) == (b.type, b.name, b.description), key
            if a.type == "ENUM":
                assert [i.identifier for i in a.enum_items] == [i.identifier for i in b.enum_items], key
                assert a.default == b.default, key
            else:
                assert getattr(a, "default", None) == getattr(b, "default", None), key


def test_this_object_only_is_a_button_of_its_own(addon) -> None:
    """Regenerate This Object Only is a sidebar button (it was reachable only by running Regenerate first)."""
    build()
    drawn = buttons(addon, "VIEW3D_PT_depth_texture")["depth.regenerate"]
    assert sorted(b.only_this for b in drawn) == [False, True]


def test_the_depth_menu_runs_with_the_sidebars_options(addon) -> None:
    """Render › Depth (and F3 search, which finds its items) runs the job operators with the sidebar's options."""
    build()
    bpy.context.scene.depth_addon_texture.views = 9
    bpy.context.scene.depth_addon_sequence.all_cameras = True
    log = draw(addon.panels.menus.TOPBAR_MT_depth.draw)
    drawn = dict(log.buttons)
    assert drawn["depth.texture_multiview"].views == 9 and drawn["depth.render_depth_sequence"].all_cameras
