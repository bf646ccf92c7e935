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
