# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth operators: the model image, the locked range, sequences, the live preview update."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from types import MethodType, SimpleNamespace

import analytic
import bpy
import numpy as np
import pytest

from depth_addon.io.exr import read_exr
from depth_addon.io.png import read_png_text
from depth_addon.mapping import DepthMapping


def _image(name: str) -> np.ndarray:
    im = bpy.data.images[name]
    w, h = im.size
    px = np.empty(w * h * 4, np.float32)
    im.pixels.foreach_get(px)
    return px.reshape(h, w, 4)[::-1, :, 0]


@pytest.fixture
def scene(addon, tmp_out: Path) -> bpy.types.Scene:
    scene = analytic.build(size=(32, 24))
    scene.depth_addon.output_dir = str(tmp_out) + "/"
    scene.depth_addon.engine = "gpu"
    return scene


def test_render_depth_image_is_what_the_model_gets(scene, tmp_out: Path) -> None:
    scene.depth_addon.bits = "8"
    assert bpy.ops.depth.render_depth(engine="gpu") == {"FINISHED"}
    meta = read_png_text(tmp_out / "depth.png")
    mapping = DepthMapping.from_dict(json.loads(meta["mapping"]))
    settings = scene.depth_addon
    assert (settings.near, settings.far) == pytest.approx((mapping.near, mapping.far)), "the fitted range is kept"
    z = read_exr(tmp_out / "depth.exr")[0]["Z"]
    expected = np.rint(mapping.apply(z) * 255) / 255
    np.testing.assert_allclose(_image("Depth Map"), expected, atol=1e-6)


def test_locked_range_is_used(scene, tmp_out: Path) -> None:
    settings = scene.depth_addon
    settings.lock_range, settings.near, settings.far, settings.mapping = True, 1.0, 50.0, "linear"
    assert bpy.ops.depth.render_depth(engine="gpu") == {"FINISHED"}
    mapping = json.loads(read_png_text(tmp_out / "depth.png")["mapping"])
    assert (mapping["kind"], mapping["near"], mapping["far"]) == ("linear", 1.0, 50.0)
    assert (settings.near, settings.far) == (1.0, 50.0)


def test_nothing_in_view_is_refused(scene, tmp_out: Path) -> None:
    scene.camera.rotation_euler = (3.14159, 0.0, 0.0)
    with pytest.raises(RuntimeError, match="nothing in view"):
        bpy.ops.depth.render_depth(engine="gpu")
    assert not any(tmp_out.iterdir())


def test_an_output_folder_that_cannot_be_written_leaves_the_last_render(scene, tmp_out: Path) -> None:
    """Render Depth that cannot write its files is refused before it shows anything: the last "Depth Map" and the
    fitted Near/Far stay as they were (a cancelled operator pushes no undo step to take them back)."""
    assert bpy.ops.depth.render_depth(engine="gpu") == {"FINISHED"}
    settings, shown = scene.depth_addon, _image("Depth Map")
    fitted = (settings.near, settings.far)
    (tmp_out / "taken").write_text("a file, not a folder")
    settings.output_dir = str(tmp_out / "taken")
    scene.camera.location.z += 1.0  # another view: another range and other pixels
    with pytest.raises(RuntimeError, match="cannot create output folder"):
        bpy.ops.depth.render_depth(engine="gpu")
    np.testing.assert_array_equal(_image("Depth Map"), shown)
    assert (settings.near, settings.far) == fitted


def test_sequence_over_frames_and_cameras(scene, tmp_out: Path) -> None:
    cam = scene.camera
    for frame, z in ((1, 0.0), (2, 1.5)):
        cam.location.z = z
        cam.keyframe_insert("location", index=2, frame=frame)
    side = bpy.data.objects.new("Side", bpy.data.cameras.new("Side"))
    side.location = (0.3, 0.0, 0.2)
    scene.collection.objects.link(side)
    scene.frame_start, scene.frame_end = 1, 2
    scene.frame_set(2)
    assert bpy.ops.depth.render_depth_sequence(frames=True, all_cameras=True) == {"FINISHED"}
    names = sorted(p.name for p in tmp_out.iterdir())
    assert names == [f"depth_{c}_{f:04d}.{s}" for c in ("Cam", "Side") for f in (1, 2) for s in ("exr", "png")]
    ranges = {read_png_text(tmp_out / n)["mapping"] for n in names if n.endswith(".png")}
    assert len(ranges) == 1
    near = json.loads(ranges.pop())["near"]
    assert near == pytest.approx(scene.depth_addon.near) and near < 3.05
    assert scene.frame_current == 2


def test_sequence_writes_a_frame_that_looks_away_as_background(scene, tmp_out: Path) -> None:
    """A shot whose camera turns to the sky on frame 2 is rendered whole: that frame is background in the shared
    range, and a warning names it (it stopped the whole sequence)."""
    cam = scene.camera
    for frame, x in ((1, cam.rotation_euler.x), (2, cam.rotation_euler.x + 3.14159), (3, cam.rotation_euler.x)):
        cam.rotation_euler.x = x
        cam.keyframe_insert("rotation_euler", index=0, frame=frame)
    scene.frame_start, scene.frame_end = 1, 3
    scene.frame_set(1)
    assert bpy.ops.depth.render_depth_sequence(frames=True, write_png=False) == {"FINISHED"}
    assert sorted(p.name for p in tmp_out.iterdir()) == [f"depth_Cam_{f:04d}.exr" for f in (1, 2, 3)]
    assert scene.frame_current == 1


def test_sequence_needs_a_writable_output_folder(scene, tmp_path: Path) -> None:
    scene.depth_addon.output_dir = "//depth/"
    with pytest.raises(RuntimeError, match="output folder"):
        bpy.ops.depth.render_depth_sequence()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    scene.depth_addon.output_dir = str(blocker / "sub")
    with pytest.raises(RuntimeError, match="cannot create output folder"):
        bpy.ops.depth.render_depth_sequence(frames=False)
    assert scene.frame_current == 1
    scene.depth_addon.output_dir = str(tmp_path / "out")
    with pytest.raises(RuntimeError, match="nothing to write: choose PNG, EXR or both"):
        bpy.ops.depth.render_depth_sequence(frames=False, write_png=False, write_exr=False)


def test_live_preview_toggle_and_update(scene) -> None:
    from depth_addon_ext.depth_addon.blender.depth import preview as depth_preview

    assert bpy.ops.depth.toggle_live_preview() == {"FINISHED"}
    assert scene.depth_addon.live_preview and not depth_preview.enabled(), "no handler in background mode"
    scene.depth_addon.preview_size = 64
    image = depth_preview.update_preview(scene)
    assert tuple(image.size) == (64, 48) and image.name == "Depth Preview"
    values = _image("Depth Preview")
    assert values[24, 32] > values[2, 32] > 0.0, "inverse mapping: the box is brighter than the far plane"
    from depth_addon_ext.depth_addon.app.packing import pack_on_save

    pack_on_save()  # what saving the file does: the preview is redrawn on demand, never packed ...
    assert image.packed_file is None and depth_preview.update_preview(scene).name == "Depth Preview"
    assert [i.name for i in bpy.data.images if i.name.startswith("Depth Preview")] == ["Depth Preview"]  # one image
    scene.camera.location.z = -3.5  # inside the box
    assert depth_preview.update_preview(scene) is None and "inside" in depth_preview.last_error()
    assert bpy.ops.depth.toggle_live_preview() == {"FINISHED"} and not scene.depth_addon.live_preview


def test_live_preview_can_be_switched_off_without_a_camera(scene) -> None:
    """The preview needs a camera to be switched on, not off: deleting the camera does not leave it stuck on."""
    assert bpy.ops.depth.toggle_live_preview() == {"FINISHED"}
    scene.camera = None
    assert bpy.ops.depth.toggle_live_preview() == {"FINISHED"} and not scene.depth_addon.live_preview
    with pytest.raises(RuntimeError, match="no active camera"):
        bpy.ops.depth.toggle_live_preview()


def test_live_preview_reacts_only_to_relevant_updates(scene) -> None:
    from depth_addon_ext.depth_addon.blender.depth import preview as depth_preview

    scene.depth_addon.live_preview = True
    scene.depth_addon.preview_size = 64
    seen: list[bool] = []

    def spy(sc: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> None:
        depth_preview._state["scheduled"] = False
        depth_preview._on_update(sc, depsgraph)
        seen.append(depth_preview._state["scheduled"])

    def step(change) -> bool:
        seen.clear()
        change()
        bpy.context.evaluated_depsgraph_get()
        return any(seen)

    bpy.app.handlers.depsgraph_update_post.append(spy)
    try:
        depth_preview.update_preview(scene)
        assert step(lambda: setattr(scene.camera, "location", (0.1, 0.0, 0.0))), "camera moves refresh"
        assert step(lambda: setattr(bpy.data.objects["Box"], "hide_render", True)), "visibility refreshes"
        assert not step(lambda: bpy.data.images["Depth Preview"].update_tag()), "our own image does not"
        assert not step(lambda: setattr(scene.render, "fps", 30)), "unrelated scene settings do not"
        depth_preview._state["scheduled"] = False
        scene.depth_addon.far = 77.0  # add-on settings do not tag the depsgraph: their update callback asks
        assert depth_preview._state["scheduled"], "preview settings refresh"
    finally:
        bpy.app.handlers.depsgraph_update_post.remove(spy)
        depth_preview.set_enabled(False)


def dolly(scene: bpy.types.Scene, heights: tuple[float, ...]) -> None:
    """Key the scene camera's height on frames 1, 2, … and make them the scene's frame range."""
    for frame, z in enumerate(heights, start=1):
        scene.camera.location.z = z
        scene.camera.keyframe_insert("location", index=2, frame=frame)
    scene.frame_start, scene.frame_end = 1, len(heights)


def test_a_frame_that_cannot_be_written_stops_the_sequence_and_gives_the_range_back(scene, tmp_out: Path) -> None:
    """A later frame whose file cannot be written (a folder stands where it goes) fails the sequence: Near/Far and
    the current frame are as before (a cancelled operator pushes no undo step to take them back), the "Depth Map"
    is not replaced, and the error names the frames already written, which are kept."""
    dolly(scene, (0.0, 1.5, 3.0))
    scene.frame_set(3)
    settings = scene.depth_addon
    settings.near, settings.far = 0.5, 80.0
    before = {p.identifier: getattr(settings, p.identifier) for p in settings.bl_rna.properties
              if p.identifier != "rna_type" and p.type not in {"POINTER", "COLLECTION"}}
    (tmp_out / "depth_Cam_0002.png").mkdir()
    (tmp_out / "depth_Cam_0003.exr").write_bytes(b"an earlier run's")
    with pytest.raises(RuntimeError) as failed:
        bpy.ops.depth.render_depth_sequence(frames=True)
    after = {name: getattr(settings, name) for name in before}
    assert after == before and scene.frame_current == 3
    assert "Depth Map" not in bpy.data.images
    kept = sorted(p.name for p in tmp_out.iterdir() if p.is_file())
    assert kept == ["depth_Cam_0001.exr", "depth_Cam_0001.png", "depth_Cam_0002.exr", "depth_Cam_0003.exr"]
    message = str(failed.value)
    assert "depth_Cam_0002.png" in message and "frame 2" in message and "3 files" in message, message
    assert "1 file of the frames after it there is from an earlier run" in message, message


def test_esc_keeps_the_frames_written_and_gives_the_range_back(addon, scene, tmp_out: Path) -> None:
    """Esc after the first frame keeps its files, says so, and puts Near/Far and the current frame back."""
    op_cls = addon.operators.depth_ops.DEPTH_OT_render_depth_sequence
    scene.frame_start, scene.frame_end = 1, 3
    scene.frame_set(2)
    settings = scene.depth_addon
    settings.near, settings.far = 0.5, 80.0
    op = SimpleNamespace(frames=True, all_cameras=False, write_png=True, write_exr=True, reports=[])
    op.report = lambda kind, text: op.reports.append((set(kind), text))
    for name, function in vars(op_cls).items():  # the operator's own methods, on a stand-in for its instance
        if inspect.isfunction(function):
            setattr(op, name, MethodType(function, op))
    op._prepare(bpy.context)
    op.timer = None
    assert op.modal(bpy.context, SimpleNamespace(type="TIMER", value="NOTHING")) == {"RUNNING_MODAL"}
    assert op.modal(bpy.context, SimpleNamespace(type="ESC", value="PRESS")) == {"CANCELLED"}
    assert (settings.near, settings.far, scene.frame_current) == (0.5, 80.0, 2)
    assert sorted(p.name for p in tmp_out.iterdir()) == ["depth_Cam_0001.exr", "depth_Cam_0001.png"]
    assert any("cancelled after 2 files" in text and "Near/Far are as before" in text for _k, text in op.reports)


def _stand_in(op_cls, **props) -> SimpleNamespace:
    """A stand-in for an operator instance with ``props``, its own methods, and a record of its reports."""
    op = SimpleNamespace(reports=[], timer=None, **props)
    op.report = lambda kind, text: op.reports.append((set(kind), text))
    for name, function in vars(op_cls).items():
        if inspect.isfunction(function):
            setattr(op, name, MethodType(function, op))
    return op


def _warnings(op: SimpleNamespace) -> list[str]:
    return [text for kind, text in op.reports if kind == {"WARNING"}]


def test_a_locked_range_the_view_has_left_is_said(addon, scene) -> None:
    """Render Depth with a locked range that the camera has dollied out of says how much of the Depth Map and PNG is
    clipped to the ends of the range, and the depth in view to widen it to; a view inside the range says nothing."""
    settings = scene.depth_addon
    settings.lock_range, settings.near, settings.far = True, 2.9, 9.0
    op = _stand_in(addon.operators.depth_ops.DEPTH_OT_render_depth, engine="gpu", write_files=True)
    assert op.execute(bpy.context) == {"FINISHED"} and _warnings(op) == []
    scene.camera.location.z = 2.0  # everything 2 m farther: a third of the view beyond 9 m
    assert op.execute(bpy.context) == {"FINISHED"}
    assert len(_warnings(op)) == 1, op.reports
    message = _warnings(op)[0]
    assert "33% of the depth in view lies outside near 2.9 – far 9 m (5–11.4 m in view)" in message, message
    assert "clipped" in message and "Near/Far" in message, message


def test_a_sequence_says_once_which_frames_leave_the_locked_range(addon, scene, tmp_out: Path) -> None:
    """A shot whose camera dollies out of the locked range on frames 2 and 3 is written whole, and one warning names
    those frames and how much of them is clipped (frame 1 is inside the range)."""
    dolly(scene, (0.0, 2.0, 3.0))
    scene.frame_set(1)
    settings = scene.depth_addon
    settings.lock_range, settings.near, settings.far = True, 2.9, 9.0
    op = _stand_in(addon.operators.depth_ops.DEPTH_OT_render_depth_sequence, frames=True, all_cameras=False,
                   write_png=True, write_exr=True)
    assert op.execute(bpy.context) == {"FINISHED"}
    assert len(list(tmp_out.iterdir())) == 6
    clipped = [text for text in _warnings(op) if "clipped" in text]
    assert len(clipped) == 1, op.reports
    assert "2 of 3 views (camera 'Cam' frame 2, camera 'Cam' frame 3)" in clipped[0], clipped[0]
    assert "up to 46% of the depth in view lies outside near 2.9 – far 9 m (5–12.8 m in view)" in clipped[0]


def test_a_sequence_of_an_object_a_few_pixels_wide_fits_its_range(scene, tmp_out: Path) -> None:
    """An object that covers four pixels of the 1024×768 frames (and none of the smaller pass that fits the range)
    still gives the sequence its range, as Render Depth does; it was refused as having no geometry."""
    bpy.data.objects.remove(bpy.data.objects["Plane"])
    bpy.data.objects["Box"].scale = (0.0035,) * 3  # 7 mm at 4 m
    scene.render.resolution_x, scene.render.resolution_y = 1024, 768
    assert bpy.ops.depth.render_depth_sequence(frames=False) == {"FINISHED"}
    mapping = json.loads(read_png_text(tmp_out / "depth_Cam_0001.png")["mapping"])
    assert mapping["near"] == pytest.approx(4.0 - 0.0035, rel=1e-4)
    assert (read_exr(tmp_out / "depth_Cam_0001.exr")[0]["Z"] < 5.0).sum() == 4
