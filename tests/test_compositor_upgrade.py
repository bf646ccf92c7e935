# SPDX-License-Identifier: GPL-3.0-or-later
"""A file our compositor was set up in by Blender 4.2, opened in 5.x (where the compositor is a node group).

``data/compositor_set_up_in_4_2.blend``: the demo scene at 32², the user's compositor Render Layers → ``My Blur`` →
``My Composite``, and ours set up over it with a packed red image (``ensure_compositor_group(scene, red,
opacity=1.0, use_dof=False)``, ``activate_compositor``), saved by bpy 4.2. Opening it in 5.x, Blender turns the
scene's node tree into a group: our nodes are in it, ours output through its Group Output, and the user's muted
Composite is gone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bpy
import numpy as np
import pytest
from test_compositor import workbench_render

from depth_addon.blender import compat
from depth_addon.blender.compositor import group as comp

FILE = Path(__file__).with_name("data") / "compositor_set_up_in_4_2.blend"
pytestmark = pytest.mark.skipif(not compat.uses_compositor_groups(), reason="the upgrade is to the 5.x compositor")


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "older"])
def test_set_up_and_remove_in_5_x_keep_the_user_s_compositor(tmp_path: Path, recorded: bool) -> None:
    """Set Up composites our layer; Remove gives the user's chain back, with its output (which the upgrade took
    from it); ``older``: a file saved before the chain's end was recorded, found as the user's one loose output."""
    shutil.copy(FILE, tmp_path / "file.blend")
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "file.blend"))
    scene = bpy.context.scene
    if not recorded:
        state = json.loads(scene[comp.KEY_STATE])
        del state["fed_by"]
        scene[comp.KEY_STATE] = json.dumps(state)
    user = scene.compositing_node_group
    comp.ensure_compositor_group(scene, bpy.data.images["Red"], opacity=1.0, use_dof=False)
    comp.activate_compositor(scene)
    red = workbench_render(scene, tmp_path / "ours.exr")
    assert np.allclose(red[1:-1, 1:-1, :3], [1.0, 0.0, 0.0], atol=1e-3)  # the render source is ours, not 4.2's
    assert comp.restore_compositor(scene)
    assert scene.compositing_node_group == user and not [n for n in user.nodes if compat.TAG_NODE in n]
    links = {(lk.from_node.name, lk.to_node.bl_idname) for lk in user.links}
    assert ("My Blur", "NodeGroupOutput") in links
    assert not [g for g in bpy.data.node_groups if g.get(comp.KEY_OWNED)]


BALANCE_FILE = FILE.with_name("compositor_color_balance_set_up_in_4_2.blend")


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "older"])
def test_remove_in_5_x_gives_back_the_output_the_upgrade_made_for_the_user(tmp_path: Path, recorded: bool) -> None:
    """``data/compositor_color_balance_set_up_in_4_2.blend`` (8² render, no objects): the user's Render Layers →
    ``My Balance`` (Color Balance, Lift/Gamma/Gain, at (123, 45), the active node) → ``My Composite`` (at (400, 60)),
    ours set up over it (``ensure_compositor_group(scene, None, use_dof=False, fog_density=0.1)``,
    ``activate_compositor``) and saved by bpy 4.2. The upgrade passes the Color Balance's output through a Gamma
    node of its own: the user's output reads that one (as it does when the file is opened without ours), not the
    Color Balance itself, and the node the user was editing is active again. ``older``: a state saved before the
    user's node names were recorded."""
    shutil.copy(BALANCE_FILE, tmp_path / "file.blend")
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "file.blend"))
    scene = bpy.context.scene
    if not recorded:
        state = json.loads(scene[comp.KEY_STATE])
        for key in ("nodes", "active", "output_at"):
            del state[key]
        scene[comp.KEY_STATE] = json.dumps(state)
    user = scene.compositing_node_group
    assert comp.restore_compositor(scene) and scene.compositing_node_group == user
    output = next(n for n in user.nodes if n.bl_idname == "NodeGroupOutput")
    source = output.inputs[0].links[0].from_node
    assert source.bl_idname == "ShaderNodeGamma" and source.inputs[0].links[0].from_node.name == "My Balance"
    assert source.inputs["Gamma"].default_value == pytest.approx(2.2)  # back from the balance's linear working
    if recorded:
        assert user.nodes.active.name == "My Balance" and tuple(output.location) == (400.0, 60.0)
