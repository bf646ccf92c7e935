# SPDX-License-Identifier: GPL-3.0-or-later
"""A scene modelled in centimetres (Unit Scale 0.01): depth files hold metres, as for a scene in metres, and
metres imported into it come in at its scale."""

from __future__ import annotations

import json
from pathlib import Path

import analytic
import bpy
import numpy as np
import pytest

from depth_addon import api
from depth_addon.cli import main as cli_main
from depth_addon.io.depth_read import read_depth
from depth_addon.io.png import read_png_text


def in_centimetres(scene: bpy.types.Scene) -> None:
    """The same scene 100 times larger in scene units, with a Unit Scale of 0.01: the same size in metres."""
    for obj in scene.objects:
        obj.location = obj.location * 100.0
        if obj.type != "CAMERA":
            obj.scale = obj.scale * 100.0
    scene.camera.data.clip_start *= 100.0
    scene.camera.data.clip_end *= 100.0
    scene.unit_settings.system, scene.unit_settings.scale_length = "METRIC", 0.01
    bpy.context.view_layer.update()


def test_depth_files_hold_metres_whatever_the_unit_scale(tmp_path: Path) -> None:
    scene = analytic.build(size=(64, 48))
    metre = api.render_depth(scene)
    files = {f"m{s}": api.save_depth(metre, tmp_path / f"m{s}") for s in (".exr", ".png")}
    in_centimetres(scene)
    centi = api.render_depth(scene)
    assert centi.unit_scale == np.float32(0.01) and np.nanmedian(centi.depth[centi.mask]) > 100.0  # scene units
    files |= {f"c{s}": api.save_depth(centi, tmp_path / f"c{s}") for s in (".exr", ".png")}
    (a, cam_a, _), (b, cam_b, meta) = read_depth(files["m.exr"]), read_depth(files["c.exr"])
    both = np.isfinite(a) & np.isfinite(b)
    assert both.sum() > 1000
    np.testing.assert_allclose(b[both], a[both], rtol=1e-5)
    np.testing.assert_allclose(cam_b.matrix, cam_a.matrix, atol=1e-4)
    assert float(meta["unit_scale"]) == np.float32(0.01)
    png_a, png_b = read_png_text(files["m.png"]), read_png_text(files["c.png"])
    near_a, near_b = json.loads(png_a["mapping"])["near"], json.loads(png_b["mapping"])["near"]
    assert abs(near_b - near_a) < 1e-4 * near_a  # the mapping is in metres too, so the PNG values agree
    imported = api.import_depth_map(str(files["c.exr"]))  # metres into the centimetre scene: ×100 in its units
    np.testing.assert_allclose(imported.object.scale, 100.0, rtol=1e-5)  # the mesh in metres, the object scaled
    assert imported.camera.data.clip_end > 100.0 * imported.prepared.depth_range[1]


def test_near_and_far_are_metres_in_a_centimetre_scene(tmp_path: Path) -> None:
    """``--near``/``--far`` and a batch's ``range`` are metres whatever the scene's units; a planned job
    records its fitted range in metres."""
    scene = analytic.build(size=(32, 24))
    in_centimetres(scene)
    blend = tmp_path / "cm.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    assert cli_main(["render-depth", "--blend", str(blend), "--near", "2", "--far", "40", "--out",
                     str(tmp_path / "d.png")]) == 0
    mapping = json.loads(read_png_text(tmp_path / "d.png")["mapping"])
    assert (mapping["near"], mapping["far"]) == (2.0, 40.0)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"version": 1, "tasks": [{"name": "t", "blend": "cm.blend", "resolution": [32, 24]}]}))
    assert cli_main(["batch", str(job), "--plan"]) == 0
    near, far = json.loads((tmp_path / "job.planned.json").read_text())["tasks"][0]["range"]
    assert 2.0 < near < far < 40.0  # the analytic set lies 3–9 m from its camera


def test_height_maps_in_metres_move_surfaces_in_scene_units() -> None:
    """The height map holds metres: a displacement or bump in a centimetre scene is scaled to its units."""
    from depth_addon.blender import images
    from depth_addon.blender.camera import camera_model
    from depth_addon.blender.writeback import bake_apply
    from depth_addon.blender.writeback import projection as proj

    scene = analytic.build(size=(32, 24))
    in_centimetres(scene)
    box = bpy.data.objects["Box"]
    box.data.uv_layers.new(name="UVMap")
    def maps() -> dict:
        return {name: images.image_from_array(f"M {name}", np.full((4, 4, 3), 0.5, np.float32))
                for name in ("albedo", "roughness", "metallic", "normal", "height")}

    baked = maps()
    mat = bake_apply.apply_bake(box, baked["albedo"], "UVMap", shading="PBR_DISPLACEMENT", maps=baked)
    disp = next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeDisplacement")
    assert disp.inputs["Scale"].default_value == np.float32(100.0)
    bake_apply.remove_bake()
    maps = maps()
    result = proj.project_image(scene, camera_model(scene, scene.camera, 32, 24), maps["albedo"], objects=[box],
                                maps=maps)
    bump = next(n for m in result.materials for n in m.node_tree.nodes if n.bl_idname == "ShaderNodeBump")
    assert bump.inputs["Distance"].default_value == np.float32(100.0)


def test_a_photo_is_aligned_to_a_centimetre_scene_in_metres() -> None:
    """Scene alignment fits the estimate to the scene's depth in metres, whatever its Unit Scale."""
    from depth_addon.app.estimate import align_estimate
    from depth_addon.estimation.estimator import Estimate

    scene = analytic.build(size=(32, 24))
    metres = api.render_depth(scene, resolution=(32, 24)).depth
    in_centimetres(scene)
    estimate = Estimate(np.where(np.isfinite(metres), 3.0 / metres + 0.2, np.nan).astype(np.float32), "disparity",
                        "perfect")
    alignment, _focal = align_estimate(estimate, "scene", scene=scene)
    got = alignment.to_metres(estimate.values)
    ok = np.isfinite(metres)
    np.testing.assert_allclose(got[ok], metres[ok], rtol=1e-3)  # metres, not the scene's centimetre units


def test_depth_of_field_blurs_the_same_scene_alike_in_any_unit() -> None:
    """The lens is in millimetres, the focus and the Z pass in scene units: the blur's radius factor is the same
    for a scene in metres and the same scene in centimetres."""
    from depth_addon.blender.compositor import group

    scene = analytic.build(size=(64, 48))
    metre, _note = group._dof_plan(scene, True, 4.0, 1.4, 32.0)
    in_centimetres(scene)
    centi, _note = group._dof_plan(scene, True, 400.0, 1.4, 32.0)
    assert centi[1] == pytest.approx(metre[1], rel=1e-6) and centi[0] == pytest.approx(100.0 * metre[0])
