# SPDX-License-Identifier: GPL-3.0-or-later
"""``render-depth`` sequences in-process: frame ranges, all cameras, one locked range, names, bits, errors."""

from __future__ import annotations

import json
from pathlib import Path

import analytic
import bpy
import numpy as np
import pytest

from depth_addon.cli import main, parse_frames
from depth_addon.errors import BadInput
from depth_addon.io.exr import read_exr
from depth_addon.io.png import read_png_text


@pytest.fixture
def animated_blend(tmp_path: Path) -> Path:
    """The analytic scene (32×24) with a camera that dollies back over frames 1–3 and a second camera."""
    scene = analytic.build(size=(32, 24))
    cam = scene.camera
    for frame, z in ((1, 0.0), (3, 2.0)):
        cam.location.z = z
        cam.keyframe_insert("location", index=2, frame=frame)
    side = bpy.data.objects.new("Side", bpy.data.cameras.new("Side"))
    side.location = (0.5, 0.0, 0.5)
    scene.collection.objects.link(side)
    scene.frame_set(1)
    path = tmp_path / "anim.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


def _events(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_frame_range_shares_one_range(animated_blend: Path, tmp_out: Path, capsys) -> None:
    code = main(["--json", "render-depth", "--blend", str(animated_blend), "--out", str(tmp_out / "d.png"),
                 "--frames", "1-3", "--engine", "gpu", "--bits", "8"])
    events = _events(capsys)
    assert code == 0, events[-1]
    files = sorted(p.name for p in tmp_out.iterdir())
    assert files == ["d_Cam_0001.png", "d_Cam_0002.png", "d_Cam_0003.png"]
    artifacts = [e for e in events if e["event"] == "artifact"]
    assert [a["frame"] for a in artifacts] == [1, 2, 3] and {a["camera"] for a in artifacts} == {"Cam"}
    mappings = {read_png_text(tmp_out / f)["mapping"] for f in files}
    assert len(mappings) == 1, "every frame of a sequence uses the same locked range"
    near = json.loads(mappings.pop())["near"]
    assert 2.9 < near < 3.1, "the nearest view (frame 1, box at 3 m) sets near"
    assert all(read_png_text(tmp_out / f)["bits"] == "8" for f in files)
    assert bpy.context.scene.frame_current == 1, "the scene's frame is restored"


def test_all_cameras_with_placeholders(animated_blend: Path, tmp_out: Path, capsys) -> None:
    code = main(["--json", "render-depth", "--blend", str(animated_blend), "--all-cameras", "--engine", "gpu",
                 "--out", str(tmp_out / "{camera}" / "z_{frame:03d}.exr"), "--range", "frustum"])
    assert code == 0, _events(capsys)[-1]
    paths = sorted(str(p.relative_to(tmp_out)) for p in tmp_out.rglob("*.exr"))
    assert paths == ["Cam/z_001.exr", "Side/z_001.exr"]
    metas = [read_exr(tmp_out / p)[1] for p in paths]
    assert metas[0]["mapping"] == metas[1]["mapping"]
    assert json.loads(metas[0]["camera"])["width"] == 32


def test_outputs_that_would_overwrite_each_other_say_which_placeholder_is_missing(animated_blend: Path,
                                                                                   tmp_out: Path, capsys) -> None:
    frames = ["render-depth", "--blend", str(animated_blend), "--out", str(tmp_out / "{camera}.exr"), "--frames", "1",
              "3", "--camera", "Cam"]
    assert main(frames) == 2
    err = capsys.readouterr().err
    assert "frames 1 and 2 of camera 'Cam' would both write" in err and "put {frame} in --out" in err
    cameras = ["render-depth", "--blend", str(animated_blend), "--out", str(tmp_out / "z_{frame}.exr"), "--all-cameras"]
    assert main(cameras) == 2
    err = capsys.readouterr().err
    assert "cameras 'Cam' and 'Side' would both write" in err and "{camera}" in err
    assert not any(tmp_out.iterdir())


def test_single_view_keeps_the_plain_name(animated_blend: Path, tmp_out: Path) -> None:
    assert main(["render-depth", "--blend", str(animated_blend), "--out", str(tmp_out / "one.npy")]) == 0
    assert sorted(p.name for p in tmp_out.iterdir()) == ["one.json", "one.npy"]


def test_nothing_in_view_is_exit_2(animated_blend: Path, tmp_out: Path, capsys) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(animated_blend))
    bpy.context.scene.camera.rotation_euler = (3.14159, 0.0, 0.0)
    blend = animated_blend.with_name("away.blend")
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    code = main(["render-depth", "--blend", str(blend), "--out", str(tmp_out / "d.exr"), "--camera", "Cam"])
    assert code == 2 and "nothing in view" in capsys.readouterr().err
    assert not any(tmp_out.iterdir())


def test_a_frame_that_looks_away_is_background_in_a_sequence(animated_blend: Path, tmp_out: Path, capsys) -> None:
    """A shot whose camera turns away on one frame writes that frame as background, in the range the frames
    share, with a warning naming it; the frame alone (no range to map it in) is still refused."""
    bpy.ops.wm.open_mainfile(filepath=str(animated_blend))
    cam = bpy.context.scene.camera
    for frame, x in ((1, 0.0), (2, 3.14159), (3, 0.0)):
        cam.rotation_euler.x = x
        cam.keyframe_insert("rotation_euler", index=0, frame=frame)  # frame 2: turned to the sky
    blend = animated_blend.with_name("away2.blend")
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    for suffix in (".png", ".exr"):
        code = main(["--json", "render-depth", "--blend", str(blend), "--out", str(tmp_out / f"d{suffix}"),
                     "--camera", "Cam", "--frames", "1-3", "--engine", "gpu"])
        events = _events(capsys)
        assert code == 0, events[-1]
        warnings = [e["message"] for e in events if e["event"] == "warning"]
        assert "camera 'Cam' sees no geometry at frame 2: written as background" in warnings, warnings
    names = sorted(p.name for p in tmp_out.iterdir())
    assert names == sorted(f"d_Cam_000{f}{s}" for s in (".exr", ".png") for f in (1, 2, 3)), names
    channels, meta = read_exr(tmp_out / "d_Cam_0002.exr")
    assert channels and not any(np.isfinite(c).any() for c in channels.values())
    assert json.loads(meta["mapping"]) == json.loads(read_exr(tmp_out / "d_Cam_0001.exr")[1]["mapping"])
    assert main(["render-depth", "--blend", str(blend), "--out", str(tmp_out / "alone.exr"), "--camera", "Cam",
                 "--frames", "2"]) == 2
    assert "nothing in view" in capsys.readouterr().err


def test_frames_outside_the_scene_range_are_rendered_with_a_warning(animated_blend: Path, tmp_out: Path,
                                                                    capsys) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(animated_blend))
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, 3
    blend = animated_blend.with_name("range.blend")
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    for frames, warned in ((["2", "3"], False), (["3", "5"], True)):
        code = main(["--json", "render-depth", "--blend", str(blend), "--out", str(tmp_out / "d.exr"),
                     "--camera", "Cam", "--frames", *frames])
        warnings = [e["message"] for e in _events(capsys) if e["event"] == "warning"]
        assert code == 0
        assert ("frames 3–5 reach outside the scene's frame range 1–3" in warnings) == warned, warnings


@pytest.mark.parametrize("args", [["--frames", "5-2"], ["--frames", "x"], ["--out-pattern"], ["--bits", "12"]])
def test_bad_sequence_arguments(animated_blend: Path, tmp_out: Path, args: list[str]) -> None:
    base = ["render-depth", "--blend", str(animated_blend), "--out", str(tmp_out / "d.png")]
    assert main(base + args) == 2
    assert not any(tmp_out.iterdir())


def test_unknown_placeholder(animated_blend: Path, tmp_out: Path, capsys) -> None:
    assert main(["render-depth", "--blend", str(animated_blend), "--out", str(tmp_out / "{scene}.exr")]) == 2
    assert "placeholder" in capsys.readouterr().err


def test_parse_frames() -> None:
    assert parse_frames(["1", "10"]) == (1, 10)
    assert parse_frames(["1-10"]) == (1, 10)
    assert parse_frames(["7"]) == (7, 7)
    assert parse_frames(None) is None
    with pytest.raises(BadInput):
        parse_frames(["a-b"])


@pytest.mark.parametrize("args, expected", [
    (["import-depth", "x.png", "--fov", "abc", "--out", "o.blend"], "argument --fov: invalid float value: 'abc'"),
    (["import-depth", "x.png", "--fov", "60", "--focal-px", "30", "--out", "o.blend"], "not allowed with"),
    (["import-depth", "x.png"], "required: --out"),
    (["import-depth", "x.png", "--out", "o.blend", "--values", "metres"], "invalid choice: 'metres'"),
    (["render-depth", "--out", "d.exr", "--engine", "nope"], "argument --engine: invalid choice"),
    (["texture", "--seed", "x", "--out-dir", "o"], "argument --seed: invalid int value"),
    (["demo"], "--out-dir is needed"),
    (["generate", "d.exr", "--out", "g.png", "--unknown"], "unrecognized arguments: --unknown"),
    (["generate"], "required: depth, --out"),
    (["batch"], "required: job"),
    (["nope"], "invalid choice: 'nope'"),
    ([], "required: command"),
])
def test_argument_errors_are_one_line(args: list[str], expected: str, capsys) -> None:
    """Every subcommand's argparse errors: exit code 2 and one line on stderr, not the usage."""
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    line = captured.err.strip()
    assert line.startswith("depth_cli: error: ") and expected in line and line.endswith("--help)"), line
    assert "usage:" not in captured.err and not captured.out


def test_argument_error_with_json_is_an_event(capsys) -> None:
    assert main(["import-depth", "x.png", "--json", "--fov", "abc", "--out", "o.blend"]) == 2
    captured = capsys.readouterr()
    event = json.loads(captured.out)
    assert event["event"] == "error" and event["code"] == 2 and "--fov" in event["message"]
    assert captured.err.count("\n") == 1


def test_placeholders_in_folders_make_no_literal_folder(animated_blend: Path, tmp_out: Path, capsys) -> None:
    """``--out DIR/{camera}/d_{frame}.exr`` makes the cameras' folders, never one named ``{camera}``."""
    code = main(["render-depth", "--blend", str(animated_blend), "--all-cameras", "--engine", "gpu",
                 "--out", str(tmp_out / "shot" / "{camera}" / "d_{frame:04d}.exr")])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_out / "shot").iterdir()) == ["Cam", "Side"]


@pytest.mark.parametrize("percent", [29, 115, 200])
def test_resolution_percentage_gives_blenders_size(tmp_out: Path, percent: int) -> None:
    """The depth map has the size a render of the scene has: Blender's whole-pixel rounding of size × percentage
    (100 px at 29 % is 29 px, where 100 × 0.29 in floating point is 28.999…)."""
    scene = analytic.build(size=(100, 57))
    scene.render.resolution_percentage = percent
    blend = tmp_out.parent / "pct.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    assert main(["render-depth", "--blend", str(blend), "--engine", "gpu", "--out", str(tmp_out / "d.exr")]) == 0
    depth = read_exr(tmp_out / "d.exr")[0]["Z"]
    assert depth.shape == (57 * percent // 100, 100 * percent // 100)


def test_resolution_percentage_too_small_names_the_scene_setting(tmp_out: Path, capsys) -> None:
    scene = analytic.build(size=(64, 48))
    scene.render.resolution_percentage = 1
    blend = tmp_out.parent / "pct.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    assert main(["render-depth", "--blend", str(blend), "--out", str(tmp_out / "d.exr")]) == 2
    assert "64×48 at 1 % is 0×0 pixels" in capsys.readouterr().err


def test_camera_of_a_missing_library_says_so(tmp_path: Path, tmp_out: Path, capsys) -> None:
    """A scene camera linked from a .blend that is gone is named as such, not as 'a empty object'."""
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("LibCam", bpy.data.cameras.new("LibCam")))
    library = tmp_path / "cams.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(library))
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = analytic.build(size=(32, 24))
    with bpy.data.libraries.load(str(library), link=True) as (_src, dst):
        dst.objects = ["LibCam"]
    scene.collection.objects.link(dst.objects[0])
    scene.camera = dst.objects[0]
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    library.unlink()
    assert main(["render-depth", "--blend", str(blend), "--out", str(tmp_out / "d.exr")]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == f"depth_cli: error: camera 'LibCam' is linked from {library}, which is missing", err


def test_scene_picks_a_scene_other_than_the_one_shown(tmp_path: Path, tmp_out: Path, capsys) -> None:
    """A file saved showing another scene: ``--scene`` renders the one named, and a wrong name lists the scenes."""
    analytic.build(size=(32, 24))
    other = bpy.data.scenes.new("Layout")
    other.collection.objects.link(bpy.data.objects.new("LayoutCam", bpy.data.cameras.new("LayoutCam")))
    other.camera = other.collection.objects["LayoutCam"]
    bpy.context.window.scene = other
    blend = tmp_path / "two scenes.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    out = tmp_out / "d_{frame}.exr"
    base = ["render-depth", "--blend", str(blend), "--out", str(out)]
    assert main([*base, "--scene", "Scene", "--frames", "1", "2"]) == 0
    assert sorted(p.name for p in tmp_out.iterdir()) == ["d_1.exr", "d_2.exr"]
    assert json.loads(read_exr(tmp_out / "d_1.exr")[1]["view"])["camera_name"] == "Cam"
    assert main([*base, "--scene", "Shot"]) == 2
    assert "no scene named 'Shot' in this file; its scenes are 'Layout', 'Scene'" in capsys.readouterr().err


def test_a_png_whose_near_far_clip_a_quarter_of_the_view_says_so(animated_blend: Path, tmp_out: Path, capsys) -> None:
    """--near/--far that leave a quarter of what the camera sees outside: the PNG is written, and a warning says how
    much is clipped to its ends and the depth in view; an EXR holds metres, nothing clipped, nothing said."""
    args = ["--json", "render-depth", "--blend", str(animated_blend), "--engine", "gpu", "--near", "2.9", "--far", "7"]
    assert main([*args, "--out", str(tmp_out / "d.png")]) == 0
    warnings = [e["message"] for e in _events(capsys) if e["event"] == "warning"]
    assert len(warnings) == 1 and "camera 'Cam' frame 1: 26% of the depth in view lies outside near 2.9 – far 7 m" \
        in warnings[0] and "clipped" in warnings[0], warnings
    assert main([*args, "--out", str(tmp_out / "d.exr")]) == 0
    assert [e for e in _events(capsys) if e["event"] == "warning"] == []
