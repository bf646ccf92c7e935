# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth import into Blender: mesh, camera, round trip through a depth render, displace mode, bad input, CLI."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import analytic
import bpy
import numpy as np
import pytest

from depth_addon.blender.camera import camera_model
from depth_addon.blender.depth.render import render_depth
from depth_addon.blender.mesh.build import import_depth_map
from depth_addon.depth_import import Intrinsics, write_pfm
from depth_addon.depth_import.preprocess import face_mask
from depth_addon.errors import BadInput
from depth_addon.io.depth_files import write_depth
from depth_addon.io.png import encode_png, write_png

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "scripts" / "depth_cli.py"
RNG = np.random.default_rng(3)
COLLECTIONS = ("meshes", "objects", "images", "materials", "cameras", "collections", "textures", "node_groups")


def counts() -> dict[str, int]:
    return {name: len(getattr(bpy.data, name)) for name in COLLECTIONS}


def scene_depth(h: int = 24, w: int = 32) -> np.ndarray:
    """A floor-like ramp with a box in front of it (a clean depth jump)."""
    d = np.repeat(np.linspace(6.0, 3.0, h, dtype=np.float32)[:, None], w, 1)
    d[8:16, 10:20] = 1.5
    return d


def interior(keep: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose four surrounding faces were all kept and that are not on the image border."""
    out = np.zeros(shape, bool)
    out[1:-1, 1:-1] = keep[:-1, :-1] & keep[1:, 1:] & keep[:-1, 1:] & keep[1:, :-1]
    return out


def test_reconstruct_creates_mesh_camera_material() -> None:
    before = counts()
    d = scene_depth()
    d[0, 0] = np.nan
    result = import_depth_map(d, RNG.random((24, 32, 3)).astype(np.float32), fov=50.0)
    after = counts()
    assert {k: after[k] - before[k] for k in COLLECTIONS} == {
        "meshes": 1, "objects": 2, "images": 2, "materials": 1, "cameras": 1, "collections": 1, "textures": 0,
        "node_groups": 0}
    me = result.object.data
    keep = face_mask(result.prepared.depth, 1.1)
    assert len(me.polygons) == keep.sum() and keep.sum() < 23 * 31 and not keep[0, 0]
    assert len(me.vertices) == 24 * 32 - 1 and me.uv_layers.active.name == "UVMap"
    assert not me.validate(verbose=False), "the analytic edges must be exactly what Blender expects"
    uv = np.empty(2 * len(me.loops), np.float32)
    me.uv_layers["UVMap"].uv.foreach_get("vector", uv)
    u, v = uv[0::2], uv[1::2]
    assert np.isclose(u.min(), 0.5 / 32) and np.isclose(u.max(), 1 - 0.5 / 32) and np.isclose(v.max(), 1 - 0.5 / 24)
    assert result.object.users_collection[0] == result.collection == result.camera.users_collection[0]
    assert bpy.context.scene.camera == result.camera and result.object.data.materials[0] == result.material
    assert result.depth_image.colorspace_settings.name == "Non-Color" and tuple(result.depth_image.size) == (32, 24)
    assert json.loads(result.object["depth_addon_import"])["mode"] == "reconstruct"


@pytest.mark.parametrize("kwargs", [{"fov": 65.0}, {"focal_px": 40.0, "fy": 34.0, "cx": 13.2, "cy": 14.7},
                                    {"focal_mm": 35.0, "sensor_mm": 24.0}])
def test_camera_matches_intrinsics(kwargs: dict) -> None:
    result = import_depth_map(scene_depth(), **kwargs)
    scene = bpy.context.scene
    assert (scene.render.resolution_x, scene.render.resolution_y) == (32, 24)
    model = camera_model(scene, result.camera, 32, 24)
    np.testing.assert_allclose(model.frame, result.prepared.intrinsics.frame, rtol=1e-5, atol=1e-6)
    assert np.allclose(model.matrix, np.array(result.object.matrix_world))


@pytest.mark.parametrize("fit", ["VERTICAL", "HORIZONTAL"])
def test_a_lens_and_sensor_of_either_fit_give_the_camera_they_describe(fit: str) -> None:
    """A camera's focal length and sensor size with its Sensor Fit (a vertical fit on a landscape frame, a horizontal
    one on a portrait frame): the imported camera sees what that camera sees (the sensor was always taken along the
    larger side)."""
    size = (64, 40) if fit == "VERTICAL" else (40, 64)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = size
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.data.lens, cam.data.sensor_fit = 30.0, fit
    cam.data.sensor_height = cam.data.sensor_width = 24.0
    scene.collection.objects.link(cam)
    want = camera_model(scene, cam, *size).frame
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    depth = np.full(size[::-1], 3.0, np.float32)
    result = import_depth_map(depth, focal_mm=30.0, sensor_mm=24.0, sensor_fit=fit)
    np.testing.assert_allclose(result.prepared.intrinsics.frame, want, rtol=1e-6)
    got = camera_model(bpy.context.scene, result.camera, *size).frame
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["reconstruct", "displace"])
def test_round_trip_through_a_depth_render(tmp_path: Path, mode: str) -> None:
    scene = analytic.build(size=(64, 48))
    scene.camera.data.shift_x, scene.camera.data.shift_y = 0.05, -0.03  # off-centre principal point
    source = render_depth(scene, engine="gpu")
    assert source.mask.all()
    write_depth(tmp_path / "src.exr", source.depth)
    intr = Intrinsics.from_camera_model(source.camera)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    result = import_depth_map(tmp_path / "src.exr", focal_px=intr.fx, fy=intr.fy, cx=intr.cx, cy=intr.cy,
                              mode=mode)
    back = render_depth(bpy.context.scene, result.camera, resolution=(64, 48), engine="gpu")
    inside = interior(face_mask(source.depth, 1.1), source.depth.shape)
    assert inside.sum() > 0.8 * inside.size
    rel = np.abs(back.depth[inside] - source.depth[inside]) / source.depth[inside]
    assert rel.max() <= 1e-3, f"{mode}: max relative error {rel.max():.2e}"


def test_displace_mode() -> None:
    result = import_depth_map(scene_depth(), RNG.random((24, 32, 3)), mode="displace", fov=40.0)
    mod = result.object.modifiers["Depth Displace"]
    assert mod.type == "DISPLACE" and mod.texture == result.texture and result.texture.image == result.depth_image
    assert result.camera.data.type == "ORTHO" and result.object.data.materials[0] == result.material
    assert np.allclose([v.co.z for v in result.object.data.vertices[:5]], 0.0)
    ev = result.object.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    z = np.array([ev.vertices[i].co.z for i in range(3)])
    assert np.allclose(z, -scene_depth()[0, :3], atol=1e-5)


def test_files_colour_of_another_size_pack_preview_and_unicode(tmp_path: Path) -> None:
    folder = tmp_path / "Tiefe – 深度"
    folder.mkdir()
    mm = np.rint(scene_depth() * 1000).astype(np.uint16)
    write_png(folder / "глубина.png", mm)
    write_png(folder / "farbe.png", RNG.integers(0, 255, (48, 64, 3)).astype(np.uint8))
    result = import_depth_map(folder / "глубина.png", folder / "farbe.png", scale=0.001, pack=True, preview=True,
                              fill_holes=True, denoise="bilateral")
    assert tuple(result.color_image.size) == (64, 48)  # another size, same aspect: kept as is, without a warning
    assert not any("colour image" in w for w in result.warnings)
    assert any("no lens given: a 39.6°" in w for w in result.warnings)  # the default lens is said
    assert result.depth_image.packed_file is not None and result.color_image.packed_file is not None
    assert {"input", "fill", "denoise", "tear"} <= {i.name.split(" ")[-1] for i in bpy.data.images}
    assert np.allclose(result.prepared.depth[10:14, 12:18], 1.5, rtol=1e-3)  # millimetres → metres
    write_pfm(folder / "d.pfm", scene_depth())
    write_png(folder / "same.png", np.zeros((24, 32, 3), np.uint8))
    same = import_depth_map(folder / "d.pfm", folder / "same.png", fov=50.0)
    assert same.color_image.filepath == str(folder / "same.png") and not same.warnings  # a lens given: no warning


def _bad_inputs(tmp: Path) -> dict[str, tuple]:
    d = scene_depth()
    good = encode_png(np.rint(d * 1000).astype(np.uint16))
    (tmp / "cut.png").write_bytes(good[: len(good) // 2])
    (tmp / "garbage.exr").write_bytes(b"\x76\x2f\x31\x01" + bytes(200))
    head = b"\x89PNG\r\n\x1a\n" + bytes([0, 0, 0, 13]) + b"IHDR"
    (tmp / "bits4.png").write_bytes(head + (32).to_bytes(4, "big") + (24).to_bytes(4, "big") + b"\x04\x00\x00\x00\x00")
    (tmp / "huge.pfm").write_bytes(b"Pf\n16384 16384\n-1.0\n")
    np.save(tmp / "five.npy", np.ones((24, 32, 5), np.float32))
    (tmp / "one.pfm").write_bytes(b"Pf\n1 1\n-1.0\n" + np.float32(2).tobytes())
    holed = np.full((10, 10), 5.0)
    holed[3, 4] = np.nan  # constant on the valid pixels: no shape as relative inverse depth
    return {
        "truncated": (tmp / "cut.png",), "corrupt": (tmp / "garbage.exr",), "bit depth": (tmp / "bits4.png",),
        "channels": (tmp / "five.npy",), "16k": (tmp / "huge.pfm",), "1x1": (tmp / "one.pfm",),
        "all nan": (np.full((8, 8), np.nan),), "all inf": (np.full((8, 8), np.inf),),
        "constant": (np.full((8, 8), 3.0), None, {"values": "inverse"}), "all zero": (np.zeros((8, 8)),),
        "constant with a hole": (holed, None, {"values": "inverse"}),
        "negative": (d - 4.0,), "colour size": (d, np.zeros((10, 10, 3)), {"color_mismatch": "refuse"}),
        "disparity": (d, None, {"values": "disparity", "focal_px": 100.0}),
        "no colour file": (d, tmp / "missing.png"), "missing": (tmp / "nope.exr",),
    }


def test_bad_input_creates_nothing(tmp_path: Path) -> None:
    scene = bpy.context.scene
    camera, size = scene.camera, (scene.render.resolution_x, scene.render.resolution_y)
    before = counts()
    for name, args in _bad_inputs(tmp_path).items():
        depth, color, kwargs = (*args, None, {})[:3] if len(args) < 3 else args
        with pytest.raises(BadInput):
            import_depth_map(depth, color, **(kwargs or {}))
        assert counts() == before, name
    assert scene.camera == camera and (scene.render.resolution_x, scene.render.resolution_y) == size


def test_failure_inside_blender_removes_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    from depth_addon.blender.mesh import build as depth_mesh

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(depth_mesh.materials, "displace_modifier", boom)
    before = counts()
    with pytest.raises(RuntimeError, match="simulated"):
        import_depth_map(scene_depth(), RNG.random((24, 32, 3)), mode="displace")
    assert counts() == before


@pytest.fixture
def import_operator(addon):
    """The operator and file handler, registered by the add-on (or here, until the add-on lists them)."""
    ops = importlib.import_module(f"{addon.__name__}.operators.import_ops")
    mine = [c for c in ops.classes if not c.is_registered]
    for cls in mine:
        bpy.utils.register_class(cls)
    extras = not all(c.is_registered for c in ops.handlers)
    if extras:
        ops.register_extras()
    yield ops
    if extras:
        ops.unregister_extras()
    for cls in reversed(mine):
        bpy.utils.unregister_class(cls)


def test_operator_and_file_handler(import_operator, tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", scene_depth())
    assert bpy.ops.depth.import_depth_map(filepath=str(tmp_path / "d.npy"), camera="PIXELS", fx=30.0,
                                          tear_ratio=1.2) == {"FINISHED"}
    ob = bpy.data.objects["Depth d"]
    assert json.loads(ob["depth_addon_import"])["intrinsics"]["fx"] == 30.0
    before = counts()
    np.save(tmp_path / "flat.npy", np.ones((8, 8), np.float32))
    with pytest.raises(RuntimeError, match="constant"):
        bpy.ops.depth.import_depth_map(filepath=str(tmp_path / "flat.npy"), values="inverse")
    assert counts() == before
    assert bpy.ops.depth.import_depth_map(filepath=str(tmp_path / "flat.npy")) == {"FINISHED"}  # a wall 1 m away
    assert counts() != before
    (tmp_path / "broken.npy").write_bytes(b"not an array")
    several = counts()
    files = [{"name": n} for n in ("broken.npy", "d.npy")]  # one bad file among several: the others come in
    assert bpy.ops.depth.import_depth_map(directory=str(tmp_path), files=files) == {"FINISHED"}
    assert counts() != several and bpy.data.objects.get("Depth d.001") is not None
    handler = bpy.types.FileHandler.bl_rna_get_subclass_py("DEPTH_FH_depth_map")
    assert handler.bl_import_operator == "depth.import_depth_map" and ".pfm" in handler.bl_file_extensions


def test_operator_orthographic_camera(import_operator, tmp_path: Path) -> None:
    """The Orthographic camera takes the view's width, in scene units."""
    np.save(tmp_path / "d.npy", scene_depth())
    bpy.context.scene.unit_settings.scale_length = 0.01
    assert _op_import(tmp_path / "d.npy", camera="ORTHO", ortho_width=400.0) == {"FINISHED"}
    camera = bpy.data.objects["Depth d Camera"].data
    assert camera.type == "ORTHO" and camera.ortho_scale == pytest.approx(400.0)
    info = json.loads(bpy.data.objects["Depth d"]["depth_addon_import"])
    assert info["intrinsics"]["ortho_width"] == pytest.approx(4.0)  # metres


def _op_import(path: Path, **kwargs) -> set[str]:
    """The import operator on one file (options not given keep their defaults in Python calls)."""
    return bpy.ops.depth.import_depth_map(filepath=str(path), **kwargs)


def test_operator_disparity_needs_the_focal_length(import_operator, tmp_path: Path) -> None:
    """Disparity is refused unless fx is given (Intrinsics camera): a field of view would be a silent default."""
    np.save(tmp_path / "disp.npy", (1000.0 * 0.1 / scene_depth()).astype(np.float32))  # f = 1000 px, B = 0.1 m
    before = counts()
    for camera in ({}, {"camera": "FOV", "fov": 60.0}, {"camera": "LENS"}, {"camera": "PIXELS"}):
        with pytest.raises(RuntimeError, match="Stereo disparity needs the focal length in pixels"):
            _op_import(tmp_path / "disp.npy", values="disparity", baseline=0.1, **camera)
        assert counts() == before, camera
    with pytest.raises(RuntimeError, match="Intrinsics needs fx"):
        _op_import(tmp_path / "disp.npy", camera="PIXELS")
    assert counts() == before
    assert _op_import(tmp_path / "disp.npy", values="disparity", baseline=0.1, camera="PIXELS",
                      fx=1000.0) == {"FINISHED"}
    z = -np.array([v.co.z for v in bpy.data.objects["Depth disp"].data.vertices])
    assert np.isclose(z.min(), 1.5, rtol=1e-4) and np.isclose(z.max(), 6.0, rtol=1e-4)


def test_operator_reports_unexpected_errors(import_operator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capfd) -> None:
    """A failure that is not bad input is an error report (traceback on the console), and nothing is left."""
    package = import_operator.__name__.rsplit(".", 2)[0]
    depth_mesh = importlib.import_module(f"{package}.depth_addon.blender.mesh.build")

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(depth_mesh.materials, "displace_modifier", boom)  # after the mesh, camera and images exist
    np.save(tmp_path / "d.npy", scene_depth())
    before = counts()
    with pytest.raises(RuntimeError, match="d.npy failed: RuntimeError: simulated failure"):
        _op_import(tmp_path / "d.npy", mode="displace", displace_method="modifier")
    assert counts() == before
    assert "Traceback" in capfd.readouterr().err


def test_operator_import_is_undone(import_operator, tmp_path: Path) -> None:
    """One undo removes everything an import made: collection, objects, images, material."""
    from test_ui import _undo_restores

    np.save(tmp_path / "d.npy", scene_depth())
    write_png(tmp_path / "c.png", RNG.integers(0, 255, (24, 32, 3)).astype(np.uint8))
    collections = sorted(c.name for c in bpy.data.collections)
    after = _undo_restores("import_depth_map", filepath=str(tmp_path / "d.npy"), color_path=str(tmp_path / "c.png"))
    assert {"Depth d", "Depth d Camera"} <= set(after["objects"]) and len(after["images"]) >= 2, after
    assert sorted(c.name for c in bpy.data.collections) == collections
    assert not any(name.startswith("Depth d") for name in bpy.data.meshes.keys() + bpy.data.cameras.keys())


def test_operator_options_match_the_cli(import_operator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Known points, range normalisation, denoise radius and the colour size policy reach the pipeline."""
    from depth_addon.depth_import import ImportOptions

    np.save(tmp_path / "inv.npy", (1.0 / scene_depth()).astype(np.float32))
    seen: list[dict] = []
    real = import_operator.import_depth_map

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    def options_of_last() -> ImportOptions:  # what the last call asked of the pipeline
        scene_args = ("scene", "set_scene_camera", "set_resolution", "shading", "pack", "preview")
        return ImportOptions.from_flat(**{k: v for k, v in seen[-1].items() if k not in scene_args})

    monkeypatch.setattr(import_operator, "import_depth_map", spy)
    assert _op_import(tmp_path / "inv.npy", values="inverse", known="0 0 6; 10, 12, 1.5", denoise="bilateral",
                      denoise_radius=5) == {"FINISHED"}
    options = options_of_last()
    assert options.values.known == ((0.0, 0.0, 6.0), (10.0, 12.0, 1.5)) and options.preprocess.denoise_radius == 5
    info = json.loads(bpy.data.objects["Depth inv"]["depth_addon_import"])
    assert info["conversion"]["fit"] == "known points"
    assert _op_import(tmp_path / "inv.npy", values="inverse", use_normalise_range=True, range_near=2.0,
                      range_far=5.0) == {"FINISHED"}
    assert options_of_last().preprocess.normalise == (2.0, 5.0)
    z = -np.array([v.co.z for v in bpy.data.objects["Depth inv.001"].data.vertices])
    assert np.isclose(z.min(), 2.0, rtol=1e-4) and np.isclose(z.max(), 5.0, rtol=1e-4)
    with pytest.raises(RuntimeError, match="not 'row col metres'"):
        _op_import(tmp_path / "inv.npy", values="inverse", known="1 2")
    write_png(tmp_path / "small.png", np.zeros((10, 10, 3), np.uint8))
    before = counts()
    with pytest.raises(RuntimeError, match="is 10×10 but the depth is 32×24"):
        _op_import(tmp_path / "inv.npy", values="inverse", color_path=str(tmp_path / "small.png"),
                   color_mismatch="refuse")
    assert counts() == before and seen[-1]["color_mismatch"] == "refuse"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_cli_import_depth(tmp_path: Path) -> None:
    disp = (1000.0 * 0.1 / scene_depth()).astype(np.float32)  # f = 1000 px, B = 0.1 m
    write_pfm(tmp_path / "disp.pfm", disp)
    write_png(tmp_path / "c.png", RNG.integers(0, 255, (24, 32, 3)).astype(np.uint8))
    out = tmp_path / "out" / "scene.blend"
    proc = run_cli("import-depth", str(tmp_path / "disp.pfm"), "--color", str(tmp_path / "c.png"), "--values",
                   "disparity", "--baseline", "0.1", "--focal-px", "1000", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert {"event": "artifact", "kind": "blend", "path": str(out)} in events
    done = next(e for e in events if e["event"] == "done")
    assert done["faces"] > 0 and done["intrinsics"]["fx"] == 1000.0
    bpy.ops.wm.open_mainfile(filepath=str(out))
    ob = bpy.data.objects[done["object"]]
    assert bpy.context.scene.camera.name == done["camera"] and ob.data.materials[0] is not None
    assert bpy.data.images["disp Depth"].packed_file is not None
    z = -np.array([v.co.z for v in ob.data.vertices])
    assert np.isclose(z.min(), 1.5, rtol=1e-4) and np.isclose(z.max(), 6.0, rtol=1e-4)

    bad = tmp_path / "bad.blend"
    proc = run_cli("import-depth", str(tmp_path / "disp.pfm"), "--values", "disparity", "--out", str(bad))
    assert proc.returncode == 2 and "baseline" in proc.stderr and not bad.exists()
    assert not list(bad.parent.glob(".*part*"))


def test_mesh_allocated_before_its_arrays() -> None:
    from depth_addon.blender.mesh import build as depth_mesh
    from depth_addon.depth_import.grid import build_grid, plan_grid

    d = scene_depth()
    keep = face_mask(d, 1.1)
    plan = plan_grid(keep)
    me = depth_mesh.new_quad_mesh("Early", plan.vertex_count, plan.edge_count, plan.face_count)
    depth_mesh.fill_quad_mesh(me, build_grid(d, Intrinsics.from_fov(32, 24, 50.0).frame, keep, plan=plan))
    assert not me.validate(verbose=False) and len(me.polygons) == keep.sum()
    wrong = depth_mesh.new_quad_mesh("Wrong", plan.vertex_count, plan.edge_count, plan.face_count - 1)
    with pytest.raises(RuntimeError, match="another grid"):
        depth_mesh.fill_quad_mesh(wrong, build_grid(d, (-1, 1, -1, 1), keep, plan=plan))
