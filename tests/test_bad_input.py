# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input table of ``docs/bad-input.md``: each case exits with 2, says why in one line, and writes nothing.

Run in-process through :func:`depth_addon.cli.main` (the same code as the command line, without a new
Blender per case).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import bpy
import numpy as np
import pytest

from depth_addon import cli
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.io.exr import write_exr

#: (name, arguments with {d} = the data folder and {o} = an empty output folder, expected words).
CASES = [
    ("downsample 0", ["import-depth", "{d}/ramp.npy", "--fov", "60", "--downsample", "0", "--out", "{o}/x.blend"],
     "--downsample must be at least 1"),
    ("cx outside", ["import-depth", "{d}/ramp.npy", "--fov", "60", "--cx", "1e6", "--out", "{o}/x.blend"],
     "principal point (1e+06, 12) px is far outside"),
    ("views 0", ["texture", "--blend", "{d}/demo.blend", "--views", "0", "--out-dir", "{o}/t"],
     "--views must be from 1 to 64"),
    ("bake 0", ["texture", "--blend", "{d}/demo.blend", "--bake", "0", "--out-dir", "{o}/t"],
     "--bake must be from 8 to 8192"),
    ("bake words", ["texture", "--blend", "{d}/demo.blend", "--bake", "huge", "--out-dir", "{o}/t"],
     "must be 'auto' or a number of texels"),
    ("samples 0", ["texture", "--blend", "{d}/demo.blend", "--samples", "0", "--out-dir", "{o}/t"],
     "--samples must be from 1 to 65536"),
    ("frames reversed", ["render-depth", "--blend", "{d}/demo.blend", "--frames", "5", "1", "--out", "{o}/d.exr"],
     "the end is before the start"),
    ("frames not integers", ["render-depth", "--blend", "{d}/demo.blend", "--frames", "1.5", "--out", "{o}/d.exr"],
     "whole frame numbers"),
    ("batch frames reversed", ["batch", "{d}/job.json", "--frames", "5", "1"], "the end is before the start"),
    ("frames past Blender's last", ["render-depth", "--blend", "{d}/demo.blend", "--frames", "1048570", "1048580",
                                    "--out", "{o}/d_{frame}.exr"], "Blender's frames run from -1048574 to 1048574"),
    ("all-cameras with camera", ["render-depth", "--blend", "{d}/demo.blend", "--all-cameras", "--camera", "X",
                                 "--out", "{o}/d.exr"], "--all-cameras and --camera exclude each other"),
    ("camera with views", ["texture", "--blend", "{d}/demo.blend", "--camera", "X", "--views", "2", "--out-dir",
                           "{o}/t"], "--camera cannot be combined with --views"),
    ("EXR channel missing", ["import-depth", "{d}/two.exr", "--channel", "Q", "--fov", "60", "--out",
                             "{o}/x.blend"], "has no channel 'Q'"),
    ("EXR channel ambiguous", ["import-depth", "{d}/two.exr", "--fov", "60", "--out", "{o}/x.blend"],
     "choose one with the channel option"),
    ("truncated EXR", ["import-depth", "{d}/cut.exr", "--fov", "60", "--out", "{o}/x.blend"], "cut.exr' is truncated"),
    ("bad placeholder", ["render-depth", "--blend", "{d}/demo.blend", "--out", "{o}/d_{frame:xyz}.exr"],
     "bad placeholder in --out"),
    ("unknown placeholder", ["render-depth", "--blend", "{d}/demo.blend", "--out", "{o}/d_{shot}.exr"],
     "unknown placeholder"),
    ("--out is a folder", ["render-depth", "--blend", "{d}/demo.blend", "--out", "{o}"], "is a folder"),
    ("--out is a folder (import)", ["import-depth", "{d}/ramp.npy", "--fov", "60", "--out", "{o}"], "is a folder"),
    ("--out is a folder (generate)", ["generate", "{d}/ramp.npy", "--out", "{o}"], "is a folder"),
    ("unknown generator", ["texture", "--blend", "{d}/demo.blend", "--generator", "sd15", "--out-dir", "{o}/t"],
     "unknown generator 'sd15'"),
    ("2x2 torn", ["import-depth", "{d}/torn.npy", "--fov", "60", "--out", "{o}/x.blend"], "--no-tear"),
    ("out-dir holds the input", ["texture", "--blend", "{d}/demo.blend", "--out-dir", "{d}"], "contains the input"),
    ("import over its input", ["import-depth", "{d}/ramp.npy", "--fov", "60", "--blend", "{d}/demo.blend", "--out",
                               "{d}/demo.blend"], "is the input --blend"),
    ("resolution 0", ["render-depth", "--blend", "{d}/demo.blend", "--resolution", "0", "10", "--out", "{o}/d.exr"],
     "resolution must be at least 1"),
    ("generate size 0", ["generate", "{d}/ramp.npy", "--size", "0", "4", "--out", "{o}/g.png"],
     "--size W must be from 8 to 8192"),
    ("generate over its depth", ["generate", "{d}/two.exr", "--out", "{d}/two.exr"], "is an input of this command"),
    ("objects missing", ["texture", "--blend", "{d}/demo.blend", "--objects", "Bx", "--out-dir", "{o}/t"],
     "include 'Bx', which is no object of this scene; did you mean 'Box'"),
    ("views option without views", ["texture", "--blend", "{d}/demo.blend", "--new-uv", "--out-dir", "{o}/t"],
     "--new-uv set(s) how several views"),
    ("default placement without views", ["texture", "--blend", "{d}/demo.blend", "--placement", "orbit",
                                         "--out-dir", "{o}/t"], "--placement set(s) how several views"),
    ("default view size without views", ["texture", "--blend", "{d}/demo.blend", "--view-size", "512",
                                         "--out-dir", "{o}/t"], "--view-size set(s) how several views"),
    ("texture without out-dir", ["texture", "--blend", "{d}/demo.blend"], "--out-dir is needed"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    build_demo_scene(bpy.context.scene, (32, 24))
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "demo.blend"), copy=True)
    ramp = np.linspace(2.0, 6.0, 24 * 32, dtype=np.float32).reshape(24, 32)
    np.save(folder / "ramp.npy", ramp)
    np.save(folder / "torn.npy", np.array([[1.0, 1.0], [1.0, 9.0]], np.float32))
    write_exr(folder / "two.exr", {"A": ramp, "B": ramp * 2})
    data = (folder / "two.exr").read_bytes()
    (folder / "cut.exr").write_bytes(data[: len(data) // 2])
    (folder / "job.json").write_text(json.dumps({"tasks": [{"name": "a", "blend": str(folder / "demo.blend")}]}))
    return folder


@pytest.mark.parametrize("name, argv, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_exit_2_one_line_nothing_written(data: Path, tmp_path: Path, capsys, name: str,
                                                      argv: list[str], message: str) -> None:
    out = tmp_path / "o"
    out.mkdir()
    before = sorted(p.name for p in data.iterdir())
    code = cli.main([a.replace("{d}", str(data)).replace("{o}", str(out)) for a in argv])
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("depth_cli:")]
    assert code == 2, err
    assert len(ours) == 1 and message in ours[0], err
    assert "Traceback" not in err
    assert not any(out.iterdir()), "nothing is written"
    assert sorted(p.name for p in data.iterdir()) == before


def test_missing_library_is_a_warning(data: Path, tmp_path: Path, capsys) -> None:
    lib = tmp_path / "lib.blend"
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    bpy.data.materials.new("Shared").use_fake_user = True
    bpy.ops.wm.save_as_mainfile(filepath=str(lib), copy=True)
    bpy.ops.wm.open_mainfile(filepath=str(data / "demo.blend"))
    with bpy.data.libraries.load(str(lib), link=True) as (_src, dst):
        dst.materials = ["Shared"]
    bpy.data.objects["Box"].material_slots[0].link = "OBJECT"
    bpy.data.objects["Box"].material_slots[0].material = dst.materials[0]
    shot = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(shot), copy=True)
    lib.unlink()
    code = cli.main(["--json", "render-depth", "--blend", str(shot), "--out", str(tmp_path / "d.exr")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    warnings = [json.loads(line) for line in captured.out.splitlines() if '"warning"' in line]
    assert warnings and "linked library not found" in warnings[0]["message"]
    assert "depth_cli: warning: linked library not found" in captured.err


def test_skipped_objects_are_warnings(data: Path, tmp_path: Path, capsys) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(data / "demo.blend"))
    bpy.ops.object.text_add(location=(0.0, 0.0, 1.0))
    shot = tmp_path / "text.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(shot), copy=True)
    code = cli.main(["--json", "texture", "--blend", str(shot), "--out-dir", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    warnings = [json.loads(line)["message"] for line in captured.out.splitlines() if '"warning"' in line]
    assert warnings == ["object 'Text' (font) is not a mesh: the projection leaves it untextured"]
    assert "depth_cli: warning: object 'Text' (font)" in captured.err


@pytest.mark.parametrize("call, message", [
    (lambda api: api.render_depth(camera=123), "render_depth: camera must be a camera object"),
    (lambda api: api.render_depth(resolution=[0, 3]), "resolution must be (width, height)"),
    (lambda api: api.render_depth(scene="Scene"), "scene must be a bpy.types.Scene"),
    (lambda api: api.save_depth(None, "d.exr"), "save_depth: result must be a DepthResult"),
    (lambda api: api.texture_scene(out_dir=b"/tmp"), "out_dir must be a folder path (str or os.PathLike, not bytes)"),
    (lambda api: api.texture_scene(prompt=["a"]), "prompt must be a str"),
    (lambda api: api.import_depth_map(None), "depth must be a file path"),
    (lambda api: api.import_depth_map(["a.png"]), "depth must be a file path"),
    (lambda api: api.generate("d.exr"), "generate: depth must be an H×W float array"),
    (lambda api: api.render_depth(normals="yes"), "render_depth: normals must be True or False"),
    (lambda api: api.texture_scene(compositor="no"), "texture_scene: compositor must be True or False"),
    (lambda api: api.texture_multiview(exponent="a"), "exponent must be a facing exponent: a number ≥ 0"),
    (lambda api: api.texture_multiview(tolerance=-1), "tolerance must be a relative depth slack: a number ≥ 0"),
    (lambda api: api.texture_multiview(padding=-3), "padding must be a number of texels: an int ≥ 0"),
    (lambda api: api.texture_multiview(shading=None), "shading must be a shading name (str)"),
])
def test_api_wrong_types_are_bad_input(call, message: str) -> None:
    from depth_addon import api
    from depth_addon.errors import BadInput

    with pytest.raises(BadInput, match=re.escape(message)) as info:
        call(api)
    assert info.value.exit_code == 2


def test_an_empty_camera_list_is_refused_before_anything_changes() -> None:
    """``texture_multiview(cameras=[])`` (an empty selection, most likely) is refused, not taken as "place views";
    the mesh gets no UV map."""
    import bpy

    from depth_addon import api
    from depth_addon.errors import BadInput

    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.object
    cube.data.uv_layers.remove(cube.data.uv_layers[0])
    with pytest.raises(BadInput, match="no cameras given to texture from"):
        api.texture_multiview(objects=[cube], cameras=[], views=1, bake_size=32, view_size=48)
    assert len(cube.data.uv_layers) == 0
