# SPDX-License-Identifier: GPL-3.0-or-later
"""The Depth panel's Engine is the engine its Render Depth button renders with (the button rendered through the
fastest path whatever the panel said); a script that names an engine still gets it."""

from __future__ import annotations

import analytic
import bpy
from ui_harness import draw


def _engine_said(capfd) -> str:
    captured = capfd.readouterr()
    (line,) = [x for x in (captured.out + captured.err).splitlines() if x.startswith("Info: Depth ")]
    return line.split(" via ", 1)[1].split(" ", 1)[0]


def test_render_depth_renders_with_the_panels_engine(addon, capfd) -> None:
    analytic.build(size=(32, 24))
    settings = bpy.context.scene.depth_addon
    for panel in (addon.panels.sidebar.VIEW3D_PT_depth, addon.panels.image_editor.IMAGE_PT_depth):
        for engine in ("workbench", "gpu"):
            settings.engine = engine
            log = draw(panel.draw, panel.bl_space_type)
            (button,) = [props for idname, props in log.buttons if idname == "depth.render_depth"]
            capfd.readouterr()
            assert bpy.ops.depth.render_depth("EXEC_DEFAULT", True, engine=button.engine,
                                              write_files=False) == {"FINISHED"}
            assert _engine_said(capfd) == engine
    settings.engine = "workbench"
    assert bpy.ops.depth.render_depth("EXEC_DEFAULT", True, write_files=False) == {"FINISHED"}
    assert _engine_said(capfd) == "workbench"  # as clicked from Render › Depth or F3 search
    assert bpy.ops.depth.render_depth("EXEC_DEFAULT", True, engine="gpu", write_files=False) == {"FINISHED"}
    assert _engine_said(capfd) == "gpu"
    assert bpy.ops.depth.render_depth.get_rna_type().properties["engine"].is_skip_save
