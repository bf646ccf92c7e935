# SPDX-License-Identifier: GPL-3.0-or-later
"""The live depth preview as an artist keeps working: frames, its own renders, switching it off, its errors.

Background mode never runs the preview's handlers and timer by itself, so these tests install its handlers
(:func:`~depth_addon.blender.depth.preview._watch`) and run its timer where Blender would.
"""

from __future__ import annotations

from pathlib import Path

import analytic
import bpy
import numpy as np
import pytest
from ui_harness import draw

from depth_addon.mapping import DepthMapping


@pytest.fixture
def preview(addon):
    """The add-on's preview module, with its handlers installed as the Blender window would; removed after."""
    from depth_addon_ext.depth_addon.blender.depth import preview as depth_preview

    depth_preview._watch(True)
    yield depth_preview
    depth_preview.set_enabled(False)


@pytest.fixture
def scene(addon, tmp_out: Path) -> bpy.types.Scene:
    scene = analytic.build(size=(64, 48))
    scene.depth_addon.output_dir = str(tmp_out) + "/"
    scene.depth_addon.engine = "gpu"
    scene.depth_addon.preview_size = 64
    return scene


def _run_timer(preview) -> bool:
    """Run the preview's timer when an update scheduled it (what Blender's event loop does)."""
    scheduled = preview._state["scheduled"]
    if scheduled:
        preview._timer()
    return scheduled


def _shown(preview) -> tuple[np.ndarray, DepthMapping]:
    im = preview.preview_image(preview.PREVIEW_IMAGE)
    w, h = im.size
    px = np.empty(w * h * 4, np.float32)
    im.pixels.foreach_get(px)
    return px.reshape(h, w, 4)[::-1, :, 0], DepthMapping.from_dict(dict(im["depth_addon_mapping"]))


def _fresh(preview, scene: bpy.types.Scene, shape: tuple[int, int], mapping: DepthMapping) -> np.ndarray:
    from depth_addon_ext.depth_addon.blender.depth.render import render_depth

    depth = render_depth(scene, None, (shape[1], shape[0]), "workbench").depth  # another engine: no shared cache
    return preview.model_values(depth, mapping, int(scene.depth_addon.bits))


def test_a_frame_change_refreshes_the_preview_of_an_animated_scene(scene, preview) -> None:
    """Stepping through an animation redraws the preview (a frame change sends no depsgraph update: the preview
    kept showing the first frame's depth)."""
    box = bpy.data.objects["Box"]
    for frame, x in ((1, 0.0), (5, 2.5)):
        box.location.x = x
        box.keyframe_insert("location", index=0, frame=frame)
    scene.frame_set(1)
    scene.depth_addon.live_preview = True
    preview._state["scheduled"] = True  # what switching it on does in the window
    bpy.context.view_layer.update()
    assert _run_timer(preview)
    for frame in (5, 3, 4):
        before = _shown(preview)[0].copy()
        scene.frame_set(frame)
        assert _run_timer(preview), f"the change to frame {frame} refreshes the preview"
        values, mapping = _shown(preview)
        assert np.abs(values - before).max() > 0.1, "the box moved"
        np.testing.assert_allclose(values, _fresh(preview, scene, values.shape, mapping), atol=2e-3)


def test_the_preview_does_not_render_again_when_nothing_changed(scene, preview) -> None:
    """The preview's own render is no edit: switched on, it renders once, not twice."""
    scene.depth_addon.live_preview = True
    preview._state["scheduled"] = True
    assert _run_timer(preview)
    bpy.context.view_layer.update()
    assert not _run_timer(preview), "nothing changed since the preview rendered"
    bpy.data.objects["Box"].location.x = 0.5
    bpy.context.view_layer.update()
    assert _run_timer(preview) and not (bpy.context.view_layer.update() or _run_timer(preview))


def test_switching_the_preview_off_frees_its_caches(scene, preview) -> None:
    """Off, the preview keeps no GPU batches and no pixel buffer (they stayed until another file was opened)."""
    from depth_addon_ext.depth_addon.blender.depth import cache

    scene.depth_addon.preview_size = 256
    scene.depth_addon.live_preview = True
    preview.update_preview(scene)
    assert cache._entries and preview._state["buffer"] is not None
    scene.depth_addon.live_preview = False
    assert not cache._entries and not cache.snapshots and preview._state["buffer"] is None
    assert not preview.enabled()


def _depth_panel_labels(addon) -> list[str]:
    panel = next(c for c in addon.panels.classes if c.__name__ == "VIEW3D_PT_depth")
    return draw(panel.draw).labels


def test_the_depth_panel_shows_why_the_preview_cannot_render_until_it_is_fixed(scene, preview, addon) -> None:
    """A camera inside a mesh or no camera shows in the Depth panel while the preview is on (the panel showed the
    last good image and nothing else), and the message goes once it is fixed."""
    scene.depth_addon.live_preview = True
    cam = scene.camera
    preview.update_preview(scene)
    assert not any("inside" in t or "camera" in t for t in _depth_panel_labels(addon))
    cam.location.z = -3.5  # inside the box
    assert preview.update_preview(scene) is None
    assert "inside" in " ".join(_depth_panel_labels(addon))
    cam.location.z = 0.0
    assert preview.update_preview(scene) is not None
    assert not any("inside" in t for t in _depth_panel_labels(addon))
    scene.camera = None
    preview.update_preview(scene)
    assert "no active camera" in " ".join(_depth_panel_labels(addon))
    scene.depth_addon.live_preview = False
    assert not any("no active camera" in t for t in _depth_panel_labels(addon)), "only while the preview is on"


def test_a_file_opened_while_a_refresh_was_due_keeps_refreshing(scene, preview, tmp_path: Path) -> None:
    """Opening a file drops Blender's timers: a refresh that was due then never ran, and the preview, still waiting
    for it, ignored every later edit of the opened file until it was switched off and on again."""
    scene.depth_addon.live_preview = True
    path = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.data.objects["Box"].location.x = 1.0
    bpy.context.view_layer.update()
    assert preview._state["scheduled"] and bpy.app.timers.is_registered(preview._TIMER), "a refresh is due"
    bpy.ops.wm.open_mainfile(filepath=str(path))
    bpy.data.objects["Box"].location.x = 2.0
    bpy.context.view_layer.update()
    assert preview._state["scheduled"] and bpy.app.timers.is_registered(preview._TIMER), "the edit is refreshed"
    assert _run_timer(preview)
    values, mapping = _shown(preview)
    np.testing.assert_allclose(values, _fresh(preview, bpy.context.scene, values.shape, mapping), atol=2e-3)
