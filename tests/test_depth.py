# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth out of a scene: exactness on an analytic scene, engine agreement, state restoration, errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import analytic
import bpy
import cv2
import numpy as np
import pytest

from depth_addon.blender import compat
from depth_addon.blender.compat import set_image_format
from depth_addon.blender.depth.render import render_depth
from depth_addon.errors import BadInput
from depth_addon.io import exr_plain

ENGINES = ("gpu", "workbench", "cycles")


@pytest.mark.parametrize("ortho", [False, True], ids=["persp", "ortho"])
@pytest.mark.parametrize("engine", ENGINES)
def test_analytic_depth_is_exact(engine: str, ortho: bool) -> None:
    scene = analytic.build(ortho=ortho)
    dof = scene.camera.data.dof  # a thin lens on: depth is still the pinhole's, and the setting stays the user's
    dof.use_dof, dof.aperture_fstop, dof.focus_distance = True, 0.5, 3.0
    result = render_depth(scene, engine=engine)
    assert dof.use_dof
    assert result.engine == engine
    assert result.depth.dtype == np.float32 and result.depth.shape == (48, 64)
    expected, interior = analytic.expected_depth(result.camera)
    on_box = np.isclose(expected, 3.0)
    assert interior.sum() > 0.8 * interior.size and 0.05 < on_box[interior].mean() < 0.6
    rel = np.abs(result.depth[interior] - expected[interior]) / expected[interior]
    assert np.all(np.isfinite(result.depth[interior]))
    assert rel.max() < 1e-4, f"{engine}: max relative error {rel.max():.2e}"


def test_background_is_inf_and_masked() -> None:
    scene = analytic.build()
    bpy.data.objects.remove(bpy.data.objects["Plane"])
    result = render_depth(scene, engine="gpu")
    assert np.isinf(result.depth[0, 0]) and not result.mask[0, 0]
    assert result.mask[24, 32] and abs(result.depth[24, 32] - 3.0) < 1e-4
    assert np.array_equal(result.mask, np.isfinite(result.depth))


def test_radial_is_distance_along_the_ray() -> None:
    scene = analytic.build()
    planar = render_depth(scene, engine="gpu")
    radial = render_depth(scene, engine="gpu", radial=True)
    x, y = planar.camera.pixel_plane_coords()
    factor = np.sqrt(1 + x[None, :] ** 2 + y[:, None] ** 2)
    ok = planar.mask
    np.testing.assert_allclose(radial.depth[ok], planar.depth[ok] * factor[ok], rtol=1e-6)
    np.testing.assert_allclose(planar.camera.radial_to_planar(radial.depth)[ok], planar.depth[ok], rtol=1e-6)
    assert radial.depth[0, 0] > planar.depth[0, 0]


def test_resolution_override_and_percentage() -> None:
    scene = analytic.build(size=(64, 48))
    scene.render.resolution_percentage = 50
    assert render_depth(scene, engine="gpu").depth.shape == (24, 32)
    assert render_depth(scene, engine="workbench", resolution=(40, 30)).depth.shape == (30, 40)
    assert scene.render.resolution_x == 64 and scene.render.resolution_percentage == 50


def _settings_snapshot(scene: bpy.types.Scene) -> dict:
    r, layer, ims = scene.render, scene.view_layers[0], scene.render.image_settings
    tree = compat.scene_compositor(scene)
    return {
        "engine": r.engine, "res": (r.resolution_x, r.resolution_y, r.resolution_percentage),
        "compositing": (r.use_compositing, tree, len(tree.nodes) if tree else 0, len(tree.links) if tree else 0),
        "pass_z": layer.use_pass_z, "multiview": r.use_multiview, "extension": r.use_file_extension,
        "override": layer.material_override, "samples": scene.cycles.samples, "aa": scene.display.render_aa,
        "light": scene.display.shading.light, "filter": scene.cycles.filter_width, "camera": scene.camera,
        "groups": sorted(g.name for g in bpy.data.node_groups), "materials": sorted(m.name for m in bpy.data.materials),
        "filepath": r.filepath, "format": (getattr(ims, "media_type", None), ims.file_format, ims.color_mode,
                                           ims.color_depth, ims.exr_codec, getattr(ims, "use_exr_interleave", None)),
    }


@pytest.mark.parametrize("engine", ["workbench", "cycles"])
def test_engine_paths_restore_the_scene(engine: str) -> None:
    scene = analytic.build()
    user_tree = compat.ensure_scene_compositor(scene, "My Comp")
    user_tree.nodes.new("CompositorNodeRLayers")
    n_nodes = len(user_tree.nodes)
    scene.render.engine = compat.eevee_engine()
    scene.render.filepath = "//renders/shot_"
    set_image_format(scene.render.image_settings, "PNG", "RGBA", "16")
    scene.render.image_settings.exr_codec = "PIZ"
    scene.cycles.samples = 77
    scene.display.render_aa = "8"
    other = bpy.data.objects.new("Other Cam", bpy.data.cameras.new("Other Cam"))
    scene.collection.objects.link(other)
    before = _settings_snapshot(scene)
    render_depth(scene, camera=other, engine=engine)
    assert _settings_snapshot(scene) == before
    assert len(user_tree.nodes) == n_nodes


@pytest.mark.parametrize("engine", ["workbench", "cycles"])
def test_engine_paths_read_the_depth_without_openexr(engine: str, monkeypatch) -> None:
    """Where the bundled OpenEXR wheel cannot load (another Python), the EXR is parsed with numpy."""
    scene = analytic.build()
    reference = render_depth(scene, engine=engine).depth
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # ``import OpenEXR`` raises ImportError
    np.testing.assert_array_equal(render_depth(scene, engine=engine).depth, reference)


def test_no_camera_is_bad_input() -> None:
    with pytest.raises(BadInput, match="no active camera"):
        render_depth(bpy.context.scene)


def test_named_camera_must_exist_and_be_a_camera() -> None:
    scene = analytic.build()
    cameras = ", ".join(repr(o.name) for o in sorted(scene.objects, key=lambda o: o.name) if o.type == "CAMERA")
    message = f"no object named 'Nope' in this file; the scene's cameras are {cameras}"
    with pytest.raises(BadInput, match=re.escape(message)):
        render_depth(scene, camera="Nope")
    with pytest.raises(BadInput, match="not a camera"):
        render_depth(scene, camera="Box")


@pytest.mark.parametrize("resolution", [(0, 10), (10, -1), (20000, 20000)])
def test_resolution_guard(resolution: tuple[int, int]) -> None:
    scene = analytic.build()
    with pytest.raises(BadInput, match="resolution"):
        render_depth(scene, resolution=resolution)


def test_unknown_engine() -> None:
    scene = analytic.build()
    with pytest.raises(BadInput, match="unknown depth engine"):
        render_depth(scene, engine="eevee-next")


@pytest.mark.parametrize("interleave", [True, False], ids=["one-part", "multi-part"])
def test_plain_exr_reader_matches_openexr(interleave: bool, tmp_path) -> None:
    """The numpy reader gives every channel of Blender's uncompressed multilayer EXRs exactly as OpenEXR does
    (one part with every channel; 5.0 can also write one part per pass)."""
    import OpenEXR

    scene = analytic.build()
    r = scene.render
    r.engine, scene.display.render_aa, r.use_compositing = "BLENDER_WORKBENCH", "OFF", False
    scene.view_layers[0].use_pass_z = True
    compat.set_multilayer_exr(r.image_settings)
    if hasattr(r.image_settings, "use_exr_interleave"):
        r.image_settings.use_exr_interleave = interleave
    r.filepath = str(tmp_path / "passes.exr")
    bpy.ops.render.render(write_still=True)
    parts = OpenEXR.File(r.filepath, separate_channels=True).parts
    channels = {name: np.asarray(ch.pixels, np.float32) for part in parts for name, ch in part.channels.items()}
    assert "ViewLayer.Depth.Z" in channels and len(channels) == 5  # and Combined R, G, B, A
    for name, expected in channels.items():
        np.testing.assert_array_equal(exr_plain.read_channel(r.filepath, name), expected, err_msg=name)
    with pytest.raises(ValueError, match="no channel"):
        exr_plain.read_channel(r.filepath, "ViewLayer.Nope.Z")


EXIT_CHILD = r"""
import sys
sys.path[:0] = sys.argv[1:3]
import bpy
bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
import analytic
from depth_addon.blender import props as properties
from depth_addon.blender.depth import preview as depth_preview
from depth_addon.blender.depth.render import render_depth
scene = analytic.build()
render_depth(scene, engine="gpu")  # installs the cache's depsgraph handlers, fills GPU batches
properties.register()  # property update callbacks: 4.2 keeps them until bpy is freed
scene.depth_addon.live_preview = True
scene.depth_addon.near = 2.0  # the update callback registers the preview timer
bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)  # drops it but keeps it referenced
properties.unregister()
bpy.app.timers.register(depth_preview._timer, first_interval=60.0)  # background mode never runs timers
bpy.app.timers.register(depth_preview._timer, first_interval=60.0)
from depth_addon.app.packing import keep_on_save
keep_on_save()  # a use case's save handler, as any API result installs it
print("rendered", flush=True)
sys.exit(0)
"""


def test_process_exits_after_the_gpu_path() -> None:
    """Nothing of ours may keep ``bpy`` alive past interpreter teardown, or bpy 4.5 hangs and 4.2 crashes in a
    C++ static destructor after ``sys.exit``: handlers and timers are removed at exit (depth_cache), property
    and timer callbacks hold no module globals (compat.detached_callback)."""
    root = Path(__file__).resolve().parents[1]
    try:
        proc = subprocess.run([sys.executable, "-c", EXIT_CHILD, str(root), str(root / "tests")],
                              capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the process did not exit after rendering: {(exc.stdout or b'')[-300:]!r}")
    assert proc.returncode == 0 and "rendered" in proc.stdout, proc.stderr[-2000:]
    from depth_addon.app.packing import pack_on_save
    from depth_addon.blender.depth import cache

    assert pack_on_save.__module__.startswith(cache.package_prefix())  # removed at exit like the bridge's


@pytest.mark.parametrize("engine", ENGINES)
def test_a_render_cropped_to_its_region_gets_the_depth_of_that_region(engine: str, tmp_path) -> None:
    """A scene that renders cropped to its render region gets depth of exactly the pixels its render keeps (Blender
    crops each edge at int(fraction × side), rows from the bottom: 34×27 of 64×48 here, as a Workbench render of
    it measures), with a camera that sees just them; stereo views are said (depth is the centre view's)."""
    scene = analytic.build()
    r = scene.render
    plain = render_depth(scene, engine=engine)
    assert "warnings" not in plain.meta
    r.use_border = r.use_crop_to_border = True
    r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y = 0.1, 0.63, 0.2, 0.77
    result = render_depth(scene, engine=engine)
    assert result.depth.shape == (27, 34) and "warnings" not in result.meta
    if engine == "gpu":  # the size Blender's own render of the region has
        engine_was, r.engine, r.filepath = r.engine, "BLENDER_WORKBENCH", str(tmp_path / "region.png")
        bpy.ops.render.render(write_still=True)
        r.engine = engine_was
        assert cv2.imread(str(tmp_path / "region.png")).shape[:2] == (27, 34)
    np.testing.assert_allclose(result.depth, plain.depth[12:39, 6:40], rtol=1e-5)
    x, y = result.camera.pixel_plane_coords()
    fx, fy = plain.camera.pixel_plane_coords()
    np.testing.assert_allclose(x, fx[6:40], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(y, fy[12:39], rtol=1e-6, atol=1e-9)
    r.use_multiview, r.views_format = True, "STEREO_3D"
    assert render_depth(scene, engine=engine).meta["warnings"] == [
        "the scene renders several views (Stereoscopy); depth is the scene camera's own (centre) view"]
    r.use_crop_to_border = r.use_multiview = False  # the region rendered in the whole frame; one view
    whole = render_depth(scene, engine=engine)
    assert "warnings" not in whole.meta and whole.depth.shape == (48, 64)
    assert render_depth(scene, engine=engine, resolution=(32, 24)).depth.shape == (24, 32)  # a size asked for: whole
    r.use_crop_to_border, r.border_max_x = True, r.border_min_x
    with pytest.raises(BadInput, match=r"the render region is 0×27 pixels of the 64×48 frame"):
        render_depth(scene, engine=engine)


def test_a_sequence_of_a_cropped_render_takes_its_range_from_the_region() -> None:
    """The shared range of a sequence is the range of the files it writes: those of a render cropped to its region
    hold only the region, so nearer or farther surfaces outside it widen nothing (the range pass renders smaller,
    and the region at 10× the size too)."""
    from depth_addon.blender.depth.sequence import scene_views, sequence_range
    from depth_addon.mapping import robust_range

    scene = analytic.build()
    r = scene.render
    whole = render_depth(scene)
    r.use_border = r.use_crop_to_border = True
    r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y = 0.6, 1.0, 0.0, 0.5
    for percent in (100, 1000):
        r.resolution_percentage = percent
        region = render_depth(scene)
        near, far = robust_range(region.depth, region.mask)
        assert far < 0.8 * robust_range(whole.depth, whole.mask)[1]  # the region holds less than the frame
        got = sequence_range(scene, scene_views(scene), "percentile")
        assert got[0] == pytest.approx(near, rel=0.02) and got[1] == pytest.approx(far, rel=0.02), (percent, got)
    r.border_min_x, r.border_max_x = 0.6019, 0.6033  # no pixel of the 512-wide range pass, one of the files
    region = render_depth(scene)
    got = sequence_range(scene, scene_views(scene), "percentile")
    assert got[1] == pytest.approx(robust_range(region.depth, region.mask)[1], rel=0.02)
