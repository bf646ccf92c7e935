# SPDX-License-Identifier: GPL-3.0-or-later
"""Multi-view fusion into UV textures, checked by rendering: colours, occlusion, padding, coverage, provenance."""

from __future__ import annotations

import bmesh
import bpy
import numpy as np
import pytest
from test_projection import cycles_render, srgb_to_linear

from depth_addon.app import flow as app_flow
from depth_addon.app import multiview as app_multiview
from depth_addon.app import regenerate
from depth_addon.blender.writeback import bake_apply, coverage, multiview, uv_bake, view_cameras
from depth_addon.blender.writeback import provenance as provenance_props
from depth_addon.errors import BadInput
from depth_addon.texturing import fusion, raster
from depth_addon.texturing import provenance as prov
from depth_addon.texturing.views import framing_camera, orbit_directions

ENGINE = "auto"


def mesh_object(name: str, build, location=(0.0, 0.0, 0.0)) -> bpy.types.Object:
    bm = bmesh.new()
    build(bm)
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    mat = bpy.data.materials.new(f"{name} Original")
    me.materials.append(mat)
    ob = bpy.data.objects.new(name, me)
    ob.location = location
    bpy.context.scene.collection.objects.link(ob)
    return ob


def block_scene() -> tuple[bpy.types.Object, bpy.types.Object]:
    """A 1 m cube standing on a 6 m ground plane (neither has a UV map)."""
    ground = mesh_object("Ground", lambda bm: bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=3.0))
    cube = mesh_object("Cube", lambda bm: bmesh.ops.create_cube(bm, size=1.0), (0.0, 0.0, 0.5))
    bpy.context.view_layer.update()
    return ground, cube


def field(points: np.ndarray) -> np.ndarray:
    """A smooth colour field over world space (sRGB values), the same whichever view looks."""
    p = np.where(np.isfinite(points), points, 0.0)
    return np.clip(0.5 + 0.4 * np.stack([np.sin(1.3 * p[..., 0] + 0.3), np.sin(1.1 * p[..., 1] - 0.5),
                                         np.sin(1.7 * p[..., 2] + 0.9 * p[..., 0])], -1), 0, 1).astype(np.float32)


def view_of(scene, direction, size=96, radius=3.2, image_fn=field) -> fusion.View:
    model = framing_camera(np.asarray(direction, float), np.array([0.0, 0.0, 0.5]), radius, (size, size))
    depth, rendered = view_cameras.render_view_depth(scene, model, (size, size), ENGINE)
    view = fusion.View(rendered, depth)
    view.image = image_fn(rendered.unproject(depth, world=True)) if image_fn else None
    return view


def bake_scene(scene, objects, views, size=128, **kw):
    targets = uv_bake.bake_targets(scene, objects)
    return multiview.bake_views(scene, targets, views, size, **kw)


def render_view(scene, model, path) -> np.ndarray:
    cam = view_cameras.camera_object(scene, model, "Check")
    scene.camera = cam
    scene.render.resolution_x, scene.render.resolution_y = model.width, model.height
    scene.render.resolution_percentage = 100
    return cycles_render(scene, path)


def test_two_views_fuse_into_textures_a_third_camera_sees_correctly(tmp_out):
    scene = bpy.context.scene
    ground, cube = block_scene()
    dirs = orbit_directions(2, elevation_deg=35.0)  # from -Y and from +Y
    views = [view_of(scene, d) for d in dirs]
    result = bake_scene(scene, [ground, cube], views, 128)
    assert set(result.images) == {"Ground", "Cube"} and all(bake_apply.is_baked(o) for o in (ground, cube))
    assert result.coverage["Cube"] == pytest.approx(0.5, abs=0.03)  # top, front and back: sides edge-on, bottom hidden

    third = view_of(scene, [0.7, -0.5, 0.8], size=64, image_fn=None)  # between and above: a new angle
    rendered = render_view(scene, third.camera, tmp_out / "third.exr")
    pts = third.camera.unproject(third.depth, world=True).reshape(-1, 3)
    normals = np.zeros_like(pts)
    normals[:, 2] = 1.0  # only used to pick well-seen pixels below: ground and cube top face up
    seen = np.zeros(len(pts), bool)
    for v in views:
        seen |= fusion.sample_view(v, fusion.as_soa(pts), fusion.as_soa(normals)).visible
    good = (seen & np.isfinite(third.depth).reshape(-1) & (third.edges().reshape(-1) == 1.0)
            & (views[0].edges().reshape(-1).size > 0))
    assert good.sum() > 500
    expected = srgb_to_linear(field(pts))
    err = np.abs(rendered.reshape(-1, 4)[:, :3] - expected)[good]
    assert np.median(err) < 0.02 and np.percentile(err, 95) < 0.08, (np.median(err), np.percentile(err, 95))


def test_occluded_texels_are_not_painted_with_the_occluder():
    """A card in front of a wall: the wall behind it must not receive the card's red."""
    scene = bpy.context.scene
    wall = mesh_object("Wall", lambda bm: bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=2.0),
                       (0.0, 0.0, 0.5))
    wall.rotation_euler.x = np.pi / 2  # facing -Y, at y = 0
    card = mesh_object("Card", lambda bm: bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=0.4),
                       (0.0, -1.5, 0.5))
    card.rotation_euler.x = np.pi / 2
    bpy.context.view_layer.update()

    def paint(points):
        out = np.zeros(points.shape, np.float32)
        out[..., 1] = 1.0  # green wall
        out[points[..., 1] < -1.0] = (1.0, 0.0, 0.0)  # red card
        return out

    view = view_of(scene, [0.0, -1.0, 0.0], size=96, radius=1.6, image_fn=paint)
    result = bake_scene(scene, [wall], [view], 64)
    uv = uv_bake.ensure_uv_maps([wall])["Wall"]
    geom = raster.rasterize_uv(*uv_bake.surface_triangles(wall, bpy.context.evaluated_depsgraph_get(), uv), 64)
    eye = view.camera.matrix[:3, 3]
    p = geom.position.T
    t = (-1.5 - eye[1]) / (p[:, 1] - eye[1])  # where the ray to each wall texel crosses the card plane
    hit = eye + t[:, None] * (p - eye)
    behind = (np.abs(hit[:, 0]) < 0.17) & (np.abs(hit[:, 2] - 0.5) < 0.17)
    assert behind.sum() > 20
    tex = bake_apply.images.array_from_image(result.images["Wall"])[::-1].reshape(-1, 4)[geom.index]
    assert tex[behind, 0].max() < 0.3 and tex[behind, 1].min() > 0.6  # inpainted green, never red
    assert tex[~behind, 1].min() > 0.6


def test_padding_leaves_no_background_at_island_borders(tmp_out):
    """Smart-UV sphere, one uniform view: every texel (padding included) and every rendered pixel is orange."""
    scene = bpy.context.scene
    sphere = mesh_object("Ball", lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=0.8),
                         (0.0, 0.0, 0.5))
    bpy.context.view_layer.update()
    orange = (1.0, 0.5, 0.1)
    view = view_of(scene, [0.0, -1.0, 0.3], size=64, radius=1.0,
                   image_fn=lambda p: np.broadcast_to(np.array(orange, np.float32), p.shape).copy())
    result = bake_scene(scene, [sphere], [view], 64)
    tex = bake_apply.images.array_from_image(result.images["Ball"])[..., :3]
    assert np.abs(tex - np.round(np.array(orange) * 255) / 255).max() < 2 / 255  # islands, gaps, unseen back
    assert len(sphere.data.uv_layers) == 1 and uv_bake.KEY_UV_ADDED in sphere.data
    assert result.images["Ball"].node_users if hasattr(result.images["Ball"], "node_users") else True
    mat = sphere.material_slots[0].material
    assert next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeTexImage").interpolation == "Linear"
    out = render_view(scene, framing_camera(np.array([0.3, 0.9, 0.4]), np.array([0, 0, 0.5]), 1.0, (48, 48)),
                      tmp_out / "ball.exr")
    hit = out[..., 3] > 0.999
    assert hit.sum() > 300
    assert np.abs(out[..., :3][hit] - srgb_to_linear(np.array(orange))).max() < 0.01


def test_coverage_heat_map_marks_the_hidden_face():
    scene = bpy.context.scene
    _ground, cube = block_scene()
    result = coverage.coverage_preview(scene, [cube], views=3, placement="orbit", view_size=96, size=64,
                                       engine=ENGINE, min_facing=0.1)
    assert result.unseen["Cube"] == pytest.approx(1 / 6, abs=0.04)  # the face resting on the ground
    assert bake_apply.is_baked(cube) and cube.material_slots[0].material.get(bake_apply.KEY_BAKE_MATERIAL) == "coverage"
    uv = uv_bake.ensure_uv_maps([cube])["Cube"]
    geom = raster.rasterize_uv(*uv_bake.surface_triangles(cube, bpy.context.evaluated_depsgraph_get(), uv), 64)
    heat = bake_apply.images.array_from_image(result.images["Cube"])[::-1].reshape(-1, 4)[geom.index, :3]
    bottom, top = geom.normal[2] < -0.9, geom.normal[2] > 0.9
    assert np.allclose(heat[bottom].mean(0), [0.9, 0.05, 0.05], atol=0.05)  # red: no view
    assert np.allclose(np.median(heat[top], 0), [0.1, 0.75, 0.25], atol=0.02)  # green: every view sees the top
    assert bake_apply.remove_bake() == 1 and not bake_apply.is_baked(cube) and len(cube.data.uv_layers) == 0


def snapshot() -> dict:
    objs = {o.name: ([(s.link, s.material.name if s.material else None) for s in o.material_slots],
                     [m.name if m else None for m in o.data.materials], list(o.data.uv_layers.keys()),
                     sorted(k for k in o.keys()), sorted(k for k in o.data.keys()))
            for o in bpy.data.objects if o.type == "MESH"}
    return {"objects": objs, "materials": sorted(m.name for m in bpy.data.materials),
            "images": sorted(i.name for i in bpy.data.images if i.type == "IMAGE"),  # not Render Result
            "collections": sorted(c.name for c in bpy.data.collections),
            "cameras": sorted(c.name for c in bpy.data.cameras)}


def test_texture_multiview_end_to_end_restore_and_regenerate(tmp_out):
    scene = bpy.context.scene
    block_scene()
    before = snapshot()
    kw = dict(views=2, placement="orbit", prompt="red brick", seed=3, bake_size=64, view_size=64, engine=ENGINE)
    first = app_multiview.texture_multiview(scene, **kw)
    pixels = {k: bake_apply.images.array_from_image(v) for k, v in first.images.items()}
    assert len(first.views) == 2 and first.mapping.near < first.mapping.far
    assert first.views[1].contribution is not None and first.views[1].contribution.min() < 0.5  # kept paint
    record, holder = provenance_props.find(bpy.data.objects["Cube"])
    assert record["kind"] == "multiview" and record["seed"] == 3 and record["prompt"] == "red brick"
    assert len(prov.cameras_of(record)) == 2 and record["depth_range"] == [first.mapping.near, first.mapping.far]
    assert record["weights_hash"].startswith("sha256:") and holder.name == "Cube [Depth Bake]"  # shipped weights
    counts = (len(bpy.data.images), len(bpy.data.materials), len(bpy.data.node_groups))

    again = regenerate.regenerate(bpy.data.objects["Cube"], scene)  # same record: the same textures
    assert (len(bpy.data.images), len(bpy.data.materials), len(bpy.data.node_groups)) == counts  # reused
    for name, image in again.images.items():
        assert np.array_equal(bake_apply.images.array_from_image(image), pixels[name])  # bit-identical
    other = regenerate.regenerate(bpy.data.objects["Cube"], scene, seed=4)
    assert np.abs(bake_apply.images.array_from_image(other.images["Cube"]) - pixels["Cube"]).max() > 0.05
    assert provenance_props.find(bpy.data.objects["Cube"])[0]["seed"] == 4
    bpy.data.objects["Cube"].name = "Brick Pillar"  # renamed since: the objects showing the result are the run's
    renamed = regenerate.regenerate(bpy.data.objects["Brick Pillar"], scene, seed=5)
    assert set(renamed.images) == {"Brick Pillar", "Ground"}
    assert sorted(provenance_props.find(bpy.data.objects["Brick Pillar"])[0]["options"]["objects"]) == [
        "Brick Pillar", "Ground"]
    bpy.data.objects["Brick Pillar"].name = "Cube"

    assert bake_apply.remove_bake() == 2
    assert snapshot() == before  # every object exactly as before; our images and materials are gone


def test_cli_multiview_writes_textures_with_provenance(tmp_out):
    import argparse
    import json

    from depth_addon.cli import texture as cli_texture
    from depth_addon.io.outdir import OutputDir
    from depth_addon.io.png import read_png_text

    block_scene()
    parser = argparse.ArgumentParser()
    for name, default in (("--prompt", ""), ("--seed", 0), ("--generator", None), ("--engine", ENGINE),
                          ("--samples", 1), ("--resolution", None)):
        parser.add_argument(name, default=default, type=type(default) if default is not None else None)
    parser.add_argument("--render", action="store_true")
    cli_texture.add_texture_arguments(parser)
    args = parser.parse_args(["--views", "2", "--bake", "32", "--view-size", "48", "--prompt", "moss", "--seed", "5"])
    assert cli_texture.wants_multiview(args) and not cli_texture.wants_multiview(parser.parse_args([]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--views", "2", "--cameras", "A"])  # one or the other

    class Events:
        def __init__(self):
            self.events = []

        def emit(self, event, **data):
            self.events.append((event, data))

        def progress(self, fraction, message):
            self.events.append(("progress", {"fraction": fraction}))

    events = Events()
    summary = cli_texture.run_multiview(args, events, OutputDir(tmp_out, "texture").claim())
    assert summary["views"] == 2 and summary["objects"] == 2 and summary["timings"]["total"] > 0
    kinds = [d["kind"] for e, d in events.events if e == "artifact"]
    assert kinds.count("texture") == 2 and "blend" in kinds and "run" in kinds
    meta = read_png_text(tmp_out / "textures" / "Cube.png")
    record = prov.loads(meta[prov.META_KEY])
    assert record["prompt"] == "moss" and record["seed"] == 5 and len(record["cameras"]) == 2
    run = json.loads((tmp_out / "run.json").read_text())
    assert run["bake"] == 32 and set(run["coverage"]) == {"Cube", "Ground"}
    assert bpy.data.images["Cube Depth Bake"].filepath.endswith("Cube.png")
    with pytest.raises(BadInput, match="at least 1"), OutputDir(tmp_out, "texture", overwrite=True) as again:
        cli_texture.run_multiview(parser.parse_args(["--views", "0"]), events, again)
    assert run == json.loads((tmp_out / "run.json").read_text()), "a failed run leaves the previous set"


def test_regenerate_a_projection_from_its_record():
    from depth_addon.blender import images
    from depth_addon.blender.writeback import projection
    from depth_addon.generation import get_generator

    scene = bpy.context.scene
    _ground, cube = block_scene()
    model = framing_camera(np.array([0.3, -1.0, 0.6]), np.array([0.0, 0.0, 0.5]), 2.0, (48, 48))
    depth, rendered = view_cameras.render_view_depth(scene, model, (48, 48), ENGINE)
    gen = get_generator(None)
    rgb = gen.generate(depth, np.isfinite(depth), prompt="sand", seed=2, camera=rendered)
    image = images.image_from_array("Depth Generated", rgb)
    result = projection.project_image(scene, rendered, image, objects=[cube], depth=depth)
    record = prov.provenance("projection", "sand", 2, gen.name, [rendered],
                             weights_hash=prov.generator_fingerprint(gen))
    provenance_props.attach(record, image, result.projector, *result.materials)
    before = images.array_from_image(image)
    same = regenerate.regenerate(cube, scene)
    after = images.array_from_image(image)
    # In place and the same image: the temporary capture camera is rebuilt from the recorded float32 pose, so
    # depth may move by ~1e-6 m, which can flip a pixel across an 8-bit rounding step, never more.
    assert same == image and np.abs(after - before).max() <= 1 / 255 + 1e-6 and (after != before).mean() < 0.01
    regenerate.regenerate(cube, scene, seed=3)
    assert np.abs(images.array_from_image(image) - before).max() > 0.05
    assert provenance_props.read(image)["seed"] == 3 and projection.is_projected(cube)


def test_inpainting_generators_receive_the_earlier_paint(monkeypatch):

    calls = []

    class Inpainter:
        name = "inpainter"

        def generate(self, depth, mask, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None,
                     init_image=None, init_mask=None):
            calls.append((init_image, init_mask))
            return np.full(depth.shape + (3,), 0.2 * len(calls), np.float32)

    monkeypatch.setattr(app_flow, "get_generator", lambda name=None: Inpainter())
    scene = bpy.context.scene
    block_scene()
    views = [view_of(scene, d, size=48, image_fn=None) for d in ([0, -1, 0.8], [0.2, -1, 0.9])]
    app_multiview.generate_views(views, "x", 0, "inpainter", harmonise=False)
    assert calls[0] == (None, None)
    paint, may_paint = calls[1]
    seen = np.isfinite(views[1].depth)
    assert np.allclose(paint[seen & ~may_paint], 0.2, atol=1e-3)  # the first view's colour where it is kept
    assert (~may_paint[seen]).mean() > 0.5 and np.median(views[1].contribution[seen & ~may_paint]) < 0.1


def test_scene_view_comes_first_and_auto_sizes_follow_texel_density():
    scene = bpy.context.scene
    ground, cube = block_scene()
    cam = bpy.data.objects.new("Shot", bpy.data.cameras.new("Shot"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = (0.0, -4.0, 2.0), (1.1, 0.0, 0.0)
    scene.camera = cam
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    kw = dict(views=2, placement="orbit", prompt="red brick", seed=3, view_size=64, engine=ENGINE)
    result = app_multiview.texture_multiview(scene, **kw)
    shot = view_cameras.user_views(scene, [cam], 64)[0][1]
    assert len(result.views) == 3 and (result.views[0].camera.width, result.views[0].camera.height) == (64, 48)
    assert np.allclose(result.views[0].camera.matrix, shot.matrix, atol=1e-5)  # the scene camera paints first
    assert set(result.sizes) == {"Ground", "Cube"} and all(256 <= s <= 2048 for s in result.sizes.values())
    choice = result.density["Cube"]
    assert choice.view_density > 0 and (choice.capped or choice.texel_density >= 1.5 * choice.view_density)
    assert choice.size == 256 or choice.texel_density / 2 < 1.5 * choice.view_density  # the smallest that does
    assert result.provenance["options"]["bake_size"] == "auto" and result.provenance["options"]["scene_view"]
    bake_apply.remove_bake()
    fixed = app_multiview.texture_multiview(scene, bake_size=128, scene_view=False, **kw)
    assert len(fixed.views) == 2 and set(fixed.sizes.values()) == {128} and not fixed.density
    bake_apply.remove_bake()
    with pytest.raises(BadInput, match="'auto' or a number"):
        app_multiview.texture_multiview(scene, bake_size="huge", **kw)


def test_new_uv_bakes_into_our_own_map_and_keeps_the_users():
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0.0, 0.0, 0.5))
    cube = bpy.context.active_object
    assert [uv.name for uv in cube.data.uv_layers] == ["UVMap"]
    kw = dict(views=1, placement="orbit", prompt="red brick", seed=3, bake_size=32, view_size=48, engine=ENGINE,
              objects=[cube])
    kept = app_multiview.texture_multiview(scene, **kw)
    assert kept.uv_maps[cube.name] == "UVMap"  # the user's map is used when it can be
    bake_apply.remove_bake()
    own = app_multiview.texture_multiview(scene, new_uv=True, **kw)
    assert own.uv_maps[cube.name] == uv_bake.UV_NAME and own.provenance["options"]["new_uv"] is True
    assert cube.data.uv_layers.active.name == "UVMap" and "UVMap" in cube.data.uv_layers  # theirs stays active
    bake_apply.remove_bake()
    assert [uv.name for uv in cube.data.uv_layers] == ["UVMap"]  # ours is gone with the bake


def test_diffusers_views_are_inpainted_around_the_earlier_paint(tmp_path, monkeypatch):
    """With diffusers, every view after the first is generated as an inpainting of the earlier views' paint
    reprojected into it: the paint it must keep comes back unchanged."""
    import functools
    import json

    from tiny_pipelines import build_sd15

    from depth_addon.generation import diffusers_backend

    folder = tmp_path / "sd15"
    build_sd15().save_pretrained(folder, safe_serialization=True)
    monkeypatch.setenv("DEPTH_ADDON_DIFFUSERS", json.dumps({"model": str(folder), "steps": 2}))
    calls = []
    original = diffusers_backend.DiffusersGenerator.generate

    @functools.wraps(original)  # the flow passes the keywords the real signature takes
    def spy(self, depth, *args, **kwargs):
        out = original(self, depth, *args, **kwargs)
        calls.append((kwargs.get("init_image"), kwargs.get("init_mask"), out))
        return out

    monkeypatch.setattr(diffusers_backend.DiffusersGenerator, "generate", spy)
    block_scene()
    app_multiview.texture_multiview(bpy.context.scene, views=2, prompt="red brick", seed=3, bake_size=64,
                                    view_size=64, engine=ENGINE, generator="diffusers", scene_view=False)
    assert len(calls) == 2 and calls[0][0] is None
    paint, may_paint, out = calls[1]
    assert paint.shape == out.shape and (~may_paint).any() and may_paint.any()
    assert np.array_equal(out[~may_paint], np.clip(paint, 0, 1)[~may_paint])

