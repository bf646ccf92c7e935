# SPDX-License-Identifier: GPL-3.0-or-later
"""Relightable results: generators hand out material maps, bakes store them and wire a Principled BSDF,
the user's material stays restorable, and the baked object exports to glTF with its textures."""

from __future__ import annotations

import json
import subprocess
import sys

import bpy
import cv2
import numpy as np
import pytest
from images import same_image
from test_multiview import block_scene, snapshot

from depth_addon.app import flow as app_flow
from depth_addon.app import multiview as app_multiview
from depth_addon.app.jobs import Job, JobQueue
from depth_addon.blender.writeback import bake_apply
from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput
from depth_addon.generation import delight, get_generator
from depth_addon.generation import maps as gen_maps
from depth_addon.generation.analytic import gbuffer, prepare
from depth_addon.io.png import to_byte
from depth_addon.worker.config import WorkerConfig

ENGINE = "auto"


def block_depth(size: int = 96) -> tuple[np.ndarray, CameraModel]:
    """A box standing on a ground plane, seen from the front and above (strong cast shadows)."""
    cam = CameraModel.from_fov(size, size, 50.0)
    rows = np.arange(size, dtype=np.float32)[:, None]
    ground = np.where(rows > size * 0.35, 3.0 + 9.0 * (size - rows) / size, np.inf)
    depth = np.broadcast_to(ground, (size, size)).astype(np.float32).copy()
    depth[size // 4:size * 3 // 4, size // 3:size * 2 // 3] = 5.0
    return depth, cam


@pytest.mark.parametrize("name", ["embedded", "analytic"])
def test_generators_hand_out_maps_and_the_albedo_carries_no_shadow(name):
    depth, cam = block_depth()
    gen = get_generator(name)
    layers = gen.generate_maps(depth, None, "red brick", 7, camera=cam)
    assert same_image(layers.rgb, gen.generate(depth, None, "red brick", 7, camera=cam))  # same lit image
    assert set(layers.maps) == set(gen_maps.MAPS) == set(gen.maps)
    h, w = depth.shape
    assert layers.maps["albedo"].shape == (h, w, 3) and layers.maps["normal"].shape == (h, w, 3)
    for key in ("roughness", "metallic", "height"):
        assert layers.maps[key].shape == (h, w)
    mask = np.isfinite(depth)
    assert 0.5 < layers.maps["roughness"][mask].mean() < 1.0 and layers.maps["metallic"].max() == 0.0
    d, m, seed, camera = prepare(depth, None, None, 7, cam)
    g = gbuffer(d, m, camera, "brick", seed)  # the generator's own sun × shadow, and its surfaces
    lit = gen_maps.shadow_correlation(layers.rgb, g.direct, mask, g.labels)
    flat = gen_maps.shadow_correlation(layers.maps["albedo"], g.direct, mask, g.labels)
    assert flat <= 0.1 < lit, (flat, lit)
    metal = gen.generate_maps(depth, None, "polished metal", 7, camera=cam).maps
    assert metal["metallic"][mask].mean() > 0.9 and metal["roughness"][mask].mean() < 0.3
    for prompt, seed in (("gold", 1), ("polished silver", 1), ("silver", 11)):  # metals named by their colour alone
        assert gen.generate_maps(depth, None, prompt, seed, camera=cam).maps["metallic"][mask].mean() > 0.9, prompt
    assert gen.generate_maps(depth, None, "golden grass", 7, camera=cam).maps["metallic"].max() == 0.0


def test_normal_from_height_tilts_against_the_slope():
    ramp = np.tile(np.linspace(0.0, 0.1, 11, dtype=np.float32), (11, 1))  # rises along +U by 1 cm per texel
    n = gen_maps.normal_from_height(ramp, texel_metres=0.01) * 2.0 - 1.0
    assert n[5, 5] == pytest.approx(np.array([-1.0, 0.0, 1.0]) / np.sqrt(2.0), abs=1e-4)
    for edge in (0, -1):  # the edge columns and rows: one-sided differences, the same slope
        assert n[5, edge] == pytest.approx(n[5, 5], abs=1e-4) and n[edge, 5] == pytest.approx(n[5, 5], abs=1e-4)
        plain = gen_maps.normal_from_height(ramp, 0.01, use_cv2=False) * 2.0 - 1.0
        assert plain[5, edge] == pytest.approx(n[5, 5], abs=1e-4)
    bumps = np.random.default_rng(0).random((40, 30)).astype(np.float32) * 0.02
    fast, plain = gen_maps.normal_from_height(bumps, 0.005), gen_maps.normal_from_height(bumps, 0.005, use_cv2=False)
    assert fast.shape == plain.shape == (40, 30, 3) and fast.dtype == np.float32
    assert np.abs(fast - plain).max() < 1e-5  # OpenCV and numpy make the same map


def test_normal_bytes_are_the_rounded_normal_map():
    """The bakes' in-place normal map gives the bytes of :func:`normal_from_height` rounded as Blender rounds."""
    rng = np.random.default_rng(5)
    for height in (rng.random((40, 30)).astype(np.float32) * 0.02, rng.standard_normal((17, 64)).astype(np.float32),
                   np.zeros((8, 8), np.float32), np.ones((1, 1), np.float32), rng.random((1, 9)).astype(np.float32)):
        for texel in (0.005, 0.01, 1e-9, 3.0):
            fast = gen_maps.normal_bytes(height, texel)
            assert fast.dtype == np.uint8 and fast.shape == height.shape + (3,)
            assert np.array_equal(fast, to_byte(gen_maps.normal_from_height(height, texel))), (height.shape, texel)


def test_to_byte_writes_into_a_channel_and_may_reuse_its_input():
    values = np.array([[-1.0, 0.0, 0.5 / 255, 0.5, 1.0, 7.0, np.nan]], np.float32)
    expected = to_byte(values)
    assert expected.tolist() == [[0, 0, 1, 128, 255, 255, 0]]
    image = np.zeros((1, 7, 3), np.uint8)
    scratch = values.copy()
    assert to_byte(scratch, out=image[..., 1], scratch=True) is not None
    assert np.array_equal(image[..., 1], expected) and not image[..., ::2].any()
    assert not np.array_equal(scratch, values, equal_nan=True)  # worked on in place
    assert np.array_equal(to_byte(values, out=np.empty((1, 7), np.uint8)), expected)


def test_generators_without_maps_get_estimated_ones():
    """Generators that only paint (baseline, diffusers) get maps estimated from their image and the depth."""
    depth, cam = block_depth(64)
    request = app_flow.GenerateRequest(depth, np.isfinite(depth), cam, "polished metal", 1, maps=True)
    generated = app_flow.LocalGenerator("baseline")(request, None, None)
    assert set(generated.maps) == set(gen_maps.MAPS) and not generated.maps["height"].any()  # no relief guessed
    mask = np.isfinite(depth)
    assert generated.maps["metallic"][mask].min() == 1.0 and generated.maps["roughness"][mask].max() < 0.3
    seg = np.zeros(depth.shape, np.int32)
    seg[:, 32:] = 1  # per-object materials: each region's maps follow its own prompt
    parts = app_flow.GenerateRequest(depth, mask, cam, "stone", 1, maps=True, segments=seg,
                                     segment_prompts=["polished metal", "wood"])
    split = app_flow.LocalGenerator("baseline")(parts, None, None).maps
    assert split["metallic"][mask & (seg == 0)].min() == 1.0 and split["metallic"][mask & (seg == 1)].max() == 0.0
    assert split["roughness"][mask & (seg == 1)].min() == pytest.approx(gen_maps.ROUGHNESS["wood"])
    # de-lighting an image shaded by a sun: the albedo keeps much less of the shading than the image
    d, m, seed, camera = prepare(depth, None, None, 5, cam)
    g = gbuffer(d, m, camera, "stone", seed)
    lit = np.moveaxis(g.image, 0, -1) ** (1 / 2.2)
    albedo = delight.estimate_maps(lit, depth, None, cam, "stone")["albedo"]
    shading = np.maximum(np.tensordot(g.light, g.normals, 1), 0.0)  # the sun term without cast shadows
    before = gen_maps.shadow_correlation(lit, shading, mask)
    after = gen_maps.shadow_correlation(albedo, shading, mask)
    assert after < 0.5 * before, (after, before)


GLTF_SCRIPT = """
import json, sys
import bpy
import addon_utils
blend, name, glb = sys.argv[1:4]
bpy.ops.wm.open_mainfile(filepath=blend)
addon_utils.enable("io_scene_gltf2", default_set=False)
bpy.ops.object.select_all(action="DESELECT")
bpy.data.objects[name].select_set(True)
bpy.ops.export_scene.gltf(filepath=glb, use_selection=True, export_format="GLB")
bpy.ops.wm.read_factory_settings(use_empty=True)
addon_utils.enable("io_scene_gltf2", default_set=False)
bpy.ops.import_scene.gltf(filepath=glb)
linked = any(s.is_linked for m in bpy.data.materials if m.node_tree for n in m.node_tree.nodes
             if n.bl_idname == "ShaderNodeNormalMap" for s in n.inputs)
print("RESULT " + json.dumps({"images": len(bpy.data.images), "normal_map_linked": linked}))
"""


def gltf_round_trip(blend, name: str, glb) -> dict:
    """Export ``name`` from ``blend`` to glTF and import it into an empty file, with Blender's glTF add-on, in a
    separate process (the add-on stays registered in this one otherwise, and bpy 4.5 then hangs at exit)."""
    proc = subprocess.run([sys.executable, "-c", GLTF_SCRIPT, str(blend), name, str(glb)], capture_output=True,
                          text=True, timeout=300)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(line[7:])


def test_multiview_bake_with_maps_wires_a_principled_bsdf_and_restores_everything(tmp_path):
    scene = bpy.context.scene
    block_scene()
    before = snapshot()
    kw = dict(views=2, placement="orbit", prompt="red brick", seed=3, bake_size=64, view_size=64, engine=ENGINE)
    with pytest.raises(BadInput, match="PBR shading needs"):
        app_multiview.texture_multiview(scene, shading="PBR", **kw)
    result = app_multiview.texture_multiview(scene, maps=True, shading="PBR", **kw)
    maps = result.maps["Cube"]
    assert set(maps) == {"albedo", "roughness", "metallic", "normal", "height"}
    assert maps["albedo"].colorspace_settings.name == "sRGB"
    assert all(maps[k].colorspace_settings.name == "Non-Color" for k in ("roughness", "metallic", "normal"))
    assert maps["height"].is_float and maps["height"].packed_file is None  # float: packed when saved
    assert all(maps[k].packed_file is not None for k in ("albedo", "roughness", "metallic", "normal"))  # 8-bit: PNG
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "maps.blend"), copy=True)
    assert all(m.packed_file is not None for m in maps.values())
    tree = result.materials["Cube"].node_tree
    bsdf = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    linked = {s.name: s.links[0].from_node for s in bsdf.inputs if s.is_linked}
    assert linked["Base Color"].image == maps["albedo"] and linked["Roughness"].image == maps["roughness"]
    assert linked["Metallic"].image == maps["metallic"]
    assert linked["Normal"].bl_idname == "ShaderNodeNormalMap" and linked["Normal"].uv_map == result.uv_maps["Cube"]
    assert any(n.bl_idname == "ShaderNodeTexImage" and n.image == result.images["Cube"] for n in tree.nodes)  # lit
    assert result.provenance["options"]["maps"] is True

    blend = tmp_path / "baked.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    found = gltf_round_trip(blend, "Cube", tmp_path / "cube.glb")
    assert found["images"] >= 3, found  # base colour, metallic-roughness, normal
    assert found["normal_map_linked"], found

    assert bake_apply.remove_bake() == 2
    assert not [i for i in bpy.data.images if " Depth " in i.name]  # maps are gone with the bake
    assert snapshot() == before


def cycles_depth(scene: bpy.types.Scene, path) -> np.ndarray:
    """Cycles' Z pass of a 1-sample render with the scene's own materials (H×W, row 0 = top)."""
    from depth_addon.blender.compat import set_multilayer_exr
    from depth_addon.blender.depth.engine import read_depth_pass

    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.use_denoising, scene.cycles.max_bounces = 1, False, 0
    scene.cycles.pixel_filter_type, scene.cycles.filter_width = "BOX", 0.01
    scene.view_layers[0].use_pass_z = True
    set_multilayer_exr(scene.render.image_settings)
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return read_depth_pass(str(path), scene.view_layers[0].name)


def test_displacement_shading_lets_the_height_map_move_the_surface_in_cycles(tmp_path):
    scene = bpy.context.scene
    _ground, cube = block_scene()
    sub = cube.modifiers.new("Subdivision", "SUBSURF")
    sub.subdivision_type, sub.levels, sub.render_levels = "SIMPLE", 2, 5
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler, scene.camera = (0.0, -3.0, 1.6), (1.2, 0.0, 0.0), cam
    scene.render.resolution_x = scene.render.resolution_y = 48
    before = snapshot()
    kw = dict(views=2, placement="orbit", prompt="red brick", seed=3, bake_size=128, view_size=96, engine=ENGINE)
    result = app_multiview.texture_multiview(scene, maps=True, shading="PBR_DISPLACEMENT", **kw)
    assert any(w.startswith("'Ground' has no Subdivision") for w in result.warnings)
    assert not any(w.startswith("'Cube' has no Subdivision") for w in result.warnings)
    mat = result.materials["Cube"]
    out = next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    disp = out.inputs["Displacement"].links[0].from_node
    assert disp.bl_idname == "ShaderNodeDisplacement" and disp.space == "WORLD"
    assert disp.inputs["Height"].links[0].from_node.image == result.maps["Cube"]["height"]
    method = "displacement_method" if "displacement_method" in mat.bl_rna.properties else None
    assert (getattr(mat, method) if method else mat.cycles.displacement_method) == "DISPLACEMENT"
    height = np.array(result.maps["Cube"]["height"].pixels[:]).reshape(128, 128, 4)[..., 0]
    relief = float(np.abs(height).max())
    assert 1e-3 < relief < 0.05  # millimetres of brick relief
    moved = cycles_depth(scene, tmp_path / "displaced.exr")
    from depth_addon.blender.compat import set_displacement_method
    set_displacement_method(mat, "BUMP")  # the same material, the surface left in place
    still = cycles_depth(scene, tmp_path / "bump.exr")
    shift = np.abs(moved - still)[(moved < 1e9) & (still < 1e9)]
    shift = shift[shift < 0.05]  # the same surface in both renders (silhouettes move onto what lies behind)
    moved_by = shift[shift > 2e-4]
    assert moved_by.size > 0.05 * shift.size  # moved: by about the relief, more where it is seen at a grazing angle
    assert np.median(moved_by) < relief and np.percentile(moved_by, 90) < 3.0 * relief
    assert bake_apply.remove_bake() == 2 and snapshot() == before
    flat = app_multiview.texture_multiview(scene, maps=True, shading="PBR_DISPLACEMENT", generator="baseline", **kw)
    assert any("'baseline' generator gives no relief" in w for w in flat.warnings)  # its maps are estimated
    assert not any("Subdivision" in w for w in flat.warnings)
    assert bake_apply.remove_bake() == 2 and snapshot() == before
    with pytest.raises(BadInput, match="PBR_DISPLACEMENT shading needs"):
        app_multiview.texture_multiview(scene, shading="PBR_DISPLACEMENT", **kw)


def test_the_worker_returns_the_same_maps_as_in_process():
    """The sidebar route: the multi-view flow with maps through the job queue and the worker process."""
    scene = bpy.context.scene
    block_scene()
    settings = app_multiview.MultiviewSettings(views=1, bake_size=32, view_size=48, engine=ENGINE, maps=True,
                                               shading="PBR")
    local = app_flow.run_local(app_multiview.multiview_flow(scene, None, None, "oak wood", 2, settings=settings))
    pixels = {k: np.array(v.pixels[:]) for k, v in local.maps["Cube"].items()}
    bake_apply.remove_bake()
    queue = JobQueue()
    queue.configure(WorkerConfig())
    try:
        job = queue.submit(Job(scene.name, app_multiview.multiview_flow(scene, None, None, "oak wood", 2,
                                                                         settings=settings), {}, "maps"))
        queue.wait(timeout=300)
    finally:
        queue.shutdown()
    assert job.state == "done", job.error
    for name, image in job.result.maps["Cube"].items():
        assert np.abs(np.array(image.pixels[:]) - pixels[name]).max() < 1e-4, name
    bake_apply.remove_bake()


def test_cli_texture_maps_writes_every_map(tmp_path):
    from depth_addon.cli import main as cli_main
    from depth_addon.io.exr import read_exr
    from depth_addon.io.png import read_png_text

    block_scene()
    blend = tmp_path / "block.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    out = tmp_path / "out"
    assert cli_main(["texture", "--blend", str(blend), "--views", "1", "--bake", "32", "--view-size", "48",
                     "--maps", "--prompt", "slate tiles", "--out-dir", str(out)]) == 0
    textures = out / "textures"
    for suffix in ("", "_albedo", "_roughness", "_metallic", "_normal"):
        assert (textures / f"Cube{suffix}.png").is_file(), suffix
        assert read_png_text(textures / f"Cube{suffix}.png")  # provenance in every PNG
    normal = cv2.imread(str(textures / "Cube_normal.png"), cv2.IMREAD_UNCHANGED)
    assert normal.dtype == np.uint8 and normal.shape == (32, 32, 3)  # the baked bytes, not widened to 16 bits
    assert normal[..., 0].mean() > 200  # tangent space: mostly along the surface normal (blue; OpenCV reads BGR)
    channels, meta = read_exr(textures / "Cube_height.exr")
    assert channels["Y"].shape == (32, 32) and meta.get("units") == "metres"
    assert np.abs(channels["Y"]).max() < 0.05  # millimetres of relief, not colours
    assert cli_main(["texture", "--blend", str(blend), "--displacement", "--out-dir", str(tmp_path / "x")]) == 2
    assert cli_main(["texture", "--blend", str(blend), "--views", "1", "--bake", "32", "--view-size", "48",
                     "--displacement", "--prompt", "slate tiles", "--out-dir", str(tmp_path / "displaced")]) == 0
    assert (tmp_path / "displaced" / "textures" / "Cube_height.exr").is_file()  # the maps come with it
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "displaced" / "scene.blend"))
    out = next(n for n in bpy.data.materials["Cube [Depth Bake]"].node_tree.nodes
               if n.bl_idname == "ShaderNodeOutputMaterial")
    assert out.inputs["Displacement"].links[0].from_node.bl_idname == "ShaderNodeDisplacement"


def test_single_projection_can_be_relightable(tmp_path):
    """``texture_scene(maps=True)``: a Principled material fed by the projected maps, files next to the image."""
    from depth_addon import api
    from depth_addon.blender.demo_scene import build_demo_scene
    from depth_addon.blender.writeback import projection

    scene = build_demo_scene(bpy.context.scene, (64, 64))
    run = api.texture_scene(scene, prompt="red brick", seed=2, out_dir=tmp_path, compositor=False, maps=True)
    assert {"albedo", "roughness", "metallic", "height"} <= set(run.files)
    assert (tmp_path / "albedo.png").is_file() and (tmp_path / "height.exr").is_file()
    mat = run.projection.materials[0]
    bsdf = next(n for n in mat.node_tree.nodes if n.name.endswith("Relightable"))
    linked = {s.name: s.links[0].from_node for s in bsdf.inputs if s.is_linked}
    assert linked["Base Color"].image.name.endswith("Albedo") and linked["Normal"].bl_idname == "ShaderNodeBump"
    assert linked["Base Color"].image.colorspace_settings.name == "sRGB"
    assert linked["Roughness"].image.colorspace_settings.name == "Non-Color"
    assert projection.remove_projection() > 0


def test_regenerating_a_relightable_projection_refreshes_its_maps():
    from depth_addon import api
    from depth_addon.app import regenerate
    from depth_addon.blender.demo_scene import build_demo_scene

    scene = build_demo_scene(bpy.context.scene, (48, 48))
    run = api.texture_scene(scene, prompt="red brick", seed=2, compositor=False, maps=True)
    albedo = bpy.data.images[f"{run.image.name} Albedo"]
    before = np.array(albedo.pixels[:])
    count = len(bpy.data.images)
    regenerate.regenerate(run.projection.objects[0], scene, seed=9)
    assert len(bpy.data.images) == count  # refreshed in place, nothing added
    assert np.abs(np.array(albedo.pixels[:]) - before).max() > 0.05


def test_a_relightable_projection_bakes_relightable_and_exports_its_maps(tmp_path):
    """Bake Projection of a relightable projection ("As Projected") bakes its maps too: the object stays
    relightable after the bake, and its glTF export carries them."""
    from depth_addon import api
    from depth_addon.app import writeback
    from depth_addon.blender.demo_scene import build_demo_scene

    scene = build_demo_scene(bpy.context.scene, (64, 64))
    api.texture_scene(scene, prompt="polished metal", seed=2, compositor=False, maps=True)
    box = bpy.data.objects["Box"]
    result = writeback.bake_projection(scene, [box], 64)
    maps = result.maps["Box"]
    assert set(maps) == {"albedo", "roughness", "metallic", "normal", "height"}
    metallic = np.array(maps["metallic"].pixels[:], np.float32).reshape(64, 64, 4)[..., 0]
    assert np.median(metallic) > 0.9  # the projected maps, not a default
    bsdf = next(n for n in result.materials["Box"].node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    assert bsdf.inputs["Metallic"].links[0].from_node.image == maps["metallic"]
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "baked.blend"), copy=True)
    found = gltf_round_trip(tmp_path / "baked.blend", "Box", tmp_path / "box.glb")
    assert found["images"] >= 3 and found["normal_map_linked"], found
