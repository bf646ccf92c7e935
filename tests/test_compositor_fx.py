# SPDX-License-Identifier: GPL-3.0-or-later
"""Effects on the final composite: thin-lens blur radius measured on a checker, blur at opacity 1, relight
against Lambert, and refused inputs that leave the user's compositor alone."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import bmesh
import bpy
import cv2
import numpy as np
import pytest
from test_compositor import snapshot, user_group, workbench_render
from test_projection import raycast_depth

from depth_addon.app import writeback
from depth_addon.blender import compat
from depth_addon.blender.camera import camera_model
from depth_addon.blender.compositor import fx as compositor_fx
from depth_addon.blender.compositor import group as comp
from depth_addon.blender.compositor import lens
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.blender.images import image_from_array
from depth_addon.blender.writeback import provenance as provenance_props
from depth_addon.errors import BadInput
from depth_addon.texturing import provenance as prov

ROOT = Path(__file__).resolve().parents[1]


def checker_scene(z: float, size: int = 96) -> bpy.types.Scene:
    """A 50 mm camera at the origin looking down -Z at a black/white checker plane filling the view at depth ``z``,
    and a small card far behind it (so a focus beyond the plane is still in front of a surface)."""
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = size
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.data.lens = 50.0
    scene.collection.objects.link(cam)
    scene.camera = cam
    tex = np.kron((np.indices((16, 16)).sum(0) % 2).astype(np.float32), np.ones((8, 8), np.float32))
    image = image_from_array("Checker", np.repeat(tex[..., None], 3, 2))
    mesh, bm = bpy.data.meshes.new("Checker"), bmesh.new()
    bm.loops.layers.uv.new("UVMap")
    bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=z, calc_uvs=True)
    bm.to_mesh(mesh)
    mat = bpy.data.materials.new("Checker")
    tree = compat.ensure_node_tree(mat)  # 4.x makes new materials without a node tree
    tex_node = tree.nodes.new("ShaderNodeTexImage")
    tex_node.image, tex_node.interpolation = image, "Closest"
    tree.nodes.active = tex_node
    mesh.materials.append(mat)
    for name, depth in (("Checker", z), ("Far Card", 30.0)):
        obj = bpy.data.objects.new(name, mesh)
        obj.location = (0.0, 0.0, -depth)
        scene.collection.objects.link(obj)
    bpy.data.objects["Far Card"].scale = (0.01, 0.01, 1.0)
    shading = scene.display.shading
    shading.light, shading.color_type = "FLAT", "TEXTURE"
    return scene


def disk(radius: float) -> np.ndarray:
    """A normalised disk kernel with a one-pixel soft edge."""
    r = int(np.ceil(radius)) + 1
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    k = np.clip(radius + 0.5 - np.hypot(x, y), 0.0, 1.0)
    return k / k.sum()


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` convolved with ``kernel`` (edges extended), by FFT."""
    r = kernel.shape[0] // 2
    padded = np.pad(image, r, mode="edge")
    k = np.zeros_like(padded)
    k[:kernel.shape[0], :kernel.shape[1]] = kernel
    out = np.fft.irfft2(np.fft.rfft2(padded) * np.fft.rfft2(k), s=padded.shape)
    return out[2 * r:2 * r + image.shape[0], 2 * r:2 * r + image.shape[1]]


def fitted_radius(sharp: np.ndarray, blurred: np.ndarray, guess: float) -> float:
    """The disk radius that best turns ``sharp`` into ``blurred`` (least squares away from the border)."""
    m = slice(int(guess) + 3, -int(guess) - 3)
    radii = np.arange(max(0.2, 0.5 * guess), 1.6 * guess + 1.5, 0.05)
    errors = [np.mean((convolve(sharp, disk(r))[m, m] - blurred[m, m]) ** 2) for r in radii]
    return float(radii[int(np.argmin(errors))])


@pytest.mark.parametrize("focus", [2.0, 8.0])  # the plane behind, then in front of the focus
def test_blur_radius_follows_the_thin_lens(tmp_out, focus):
    z = 4.0
    errors = []
    for want in (1.0, 2.0, 4.0, 8.0, 14.0, 20.0):
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        scene = checker_scene(z)
        fpx = lens.focal_pixels(scene, scene.camera)
        fstop = lens.radius_factor(focus, 1.0, 50.0, fpx) * abs(focus / z - 1.0) / want
        expected = float(lens.thin_lens_radius(z, focus, fstop, 50.0, fpx))
        assert expected == pytest.approx(want, rel=1e-3)
        sharp = workbench_render(scene, tmp_out / "sharp.exr")[..., 0]
        comp.ensure_compositor_group(scene, None, use_dof=True, focus_distance=focus, fstop=fstop, blur_max=40)
        comp.activate_compositor(scene)
        blurred = workbench_render(scene, tmp_out / "blurred.exr")[..., 0]
        fit = fitted_radius(sharp, blurred, expected)
        errors.append((expected, fit))
        assert abs(fit - expected) <= max(1.0, 0.2 * expected), errors
    print("thin lens (expected, fitted):", errors)


def laplacian(img: np.ndarray) -> np.ndarray:
    g = img.mean(axis=2)
    out = np.zeros_like(g)
    out[1:-1, 1:-1] = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
    return out


def test_depth_of_field_blurs_the_ai_layer_at_full_opacity(tmp_out):
    scene = build_demo_scene(bpy.context.scene, (96, 96))
    rng = np.random.default_rng(0)
    layer = image_from_array("AI", rng.random((96, 96, 3)).astype(np.float32))  # detail everywhere
    comp.ensure_compositor_group(scene, layer, opacity=1.0, use_dof=False)
    comp.activate_compositor(scene)
    sharp = workbench_render(scene, tmp_out / "sharp.exr")[..., :3]
    depth = raycast_depth(scene, camera_model(scene, scene.camera, 96, 96))
    focus = compositor_fx.focus_from_object(scene, bpy.data.objects["Box"])
    comp.ensure_compositor_group(scene, layer, opacity=1.0, use_dof=True, focus_distance=focus, fstop=0.02)
    dof = workbench_render(scene, tmp_out / "dof.exr")[..., :3]
    fpx = lens.focal_pixels(scene, scene.camera)
    coc = lens.thin_lens_radius(np.where(np.isfinite(depth), depth, 1e10), focus, 0.02, scene.camera.data.lens, fpx)
    far, near = coc >= 4.0, coc < 1.0
    inner = np.zeros_like(far)
    inner[2:-2, 2:-2] = True
    near &= inner & (np.abs(np.gradient(coc)[0]) + np.abs(np.gradient(coc)[1]) < 0.5)  # away from depth edges
    assert far.sum() > 100 and near.sum() > 30
    lap_sharp, lap_dof = laplacian(sharp), laplacian(dof)
    drop = 1.0 - lap_dof[far & inner].mean() / lap_sharp[far & inner].mean()
    change = abs(lap_dof[near].mean() / lap_sharp[near].mean() - 1.0)
    print(f"out of focus |Laplacian| drop {drop:.1%}, in focus change {change:.1%}")
    assert drop >= 0.5 and change <= 0.05


def test_relight_matches_lambert_on_a_sphere(tmp_out):
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = 64
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, location=(0.0, 0.0, -4.0), segments=96, ring_count=48)
    bpy.ops.object.shade_smooth()
    model = camera_model(scene, cam, 64, 64)
    depth = raycast_depth(scene, model)
    normals = compositor_fx.normals_image("Sphere Normals", depth, model)
    white = image_from_array("White", np.ones((64, 64, 3), np.float32))
    light = np.array([-0.5, 0.4, 0.77])
    light /= np.linalg.norm(light)
    comp.ensure_compositor_group(scene, white, opacity=1.0, use_dof=False, normals=normals,
                                 light_direction=tuple(light), relight=1.0)
    comp.activate_compositor(scene)
    lit = workbench_render(scene, tmp_out / "lit.exr")[..., 0]
    # exact sphere normals from the ray through each pixel
    x, y = np.meshgrid(*model.pixel_plane_coords())
    rays = np.stack([x, y, -np.ones_like(x)], -1)
    points = rays * np.where(np.isfinite(depth), depth, 0.0)[..., None]  # the background: left out below
    n = (points - np.array([0.0, 0.0, -4.0])) / 1.0
    lambert = 2.0 * np.clip(n @ light, 0.0, None)  # relight gain at strength 1 on a white layer
    inside = np.isfinite(depth) & (np.linalg.norm(n, axis=-1) > 0.98)
    mask = np.zeros_like(inside)
    mask[2:-2, 2:-2] = True
    inside &= mask
    residual = lit[inside] - lambert[inside]
    r2 = 1.0 - (residual ** 2).sum() / ((lambert[inside] - lambert[inside].mean()) ** 2).sum()
    print(f"relight R² against Lambert: {r2:.4f}")
    assert inside.sum() > 300 and r2 >= 0.95


def test_bad_input_leaves_the_user_compositor_alone(tmp_out):
    scene = build_demo_scene(bpy.context.scene, (32, 32))
    mine = user_group(scene)
    before = snapshot(mine)
    scene.view_layers[0].use_pass_z = False
    with pytest.raises(BadInput, match="f-stop"):
        writeback.setup_compositor(scene, fstop=0.0)
    with pytest.raises(BadInput, match="behind every surface"):
        writeback.setup_compositor(scene, focus="DISTANCE", focus_distance=500.0)
    with pytest.raises(BadInput, match="in front of the camera"):
        writeback.setup_compositor(scene, focus="DISTANCE", focus_distance=0.01)
    scene.unit_settings.scale_length = 0.01  # distances are given in scene units, messages speak metres
    with pytest.raises(BadInput, match=r"focus distance 5 m is behind every surface \(the farthest is 0\.\d+ m"):
        writeback.setup_compositor(scene, focus="DISTANCE", focus_distance=500.0)
    scene.unit_settings.scale_length = 1.0
    other = bpy.data.objects.new("Other Camera", bpy.data.cameras.new("Other Camera"))
    scene.collection.objects.link(other)
    layer = image_from_array("AI", np.ones((8, 8, 3), np.float32))
    provenance_props.attach(prov.provenance("projection", "", 0, "test", [camera_model(scene, other, 8, 8)],
                                            options={"camera": other.name}), layer)
    comp.ensure_compositor_group(scene, layer, use_dof=False)
    with pytest.raises(BadInput, match="would not line up"):
        writeback.setup_compositor(scene)
    scene.camera.data.type = "PANO"  # a perspective picture over an equirectangular render
    with pytest.raises(BadInput, match="panoramic camera 'Demo Camera': the AI layer, a picture of a perspective view"):
        writeback.setup_compositor(scene, allow_other_camera=True)
    scene.camera.data.type = "PERSP"
    assert compat.scene_compositor(scene) == mine and snapshot(mine) == before
    assert not comp.is_compositor_active(scene) and scene.view_layers[0].use_pass_z is False

    # DoF with the Z pass off: turned on while ours is active, back off afterwards
    writeback.setup_compositor(scene, allow_other_camera=True, focus="DISTANCE", focus_distance=8.0, fstop=0.5)
    assert scene.view_layers[0].use_pass_z and all(lk.is_valid for lk in comp.find_compositor_group(scene).links)
    assert writeback.compositor_settings(scene)["focus_distance"] == 8.0
    scene.camera.data.type = "ORTHO"
    writeback.setup_compositor(scene, allow_other_camera=True, fstop=0.5)
    assert "not a perspective camera" in writeback.compositor_note(scene)
    assert comp.N_DEFOCUS not in comp.find_compositor_group(scene).nodes
    writeback.remove_result(scene)
    assert compat.scene_compositor(scene) == mine and snapshot(mine) == before
    assert scene.view_layers[0].use_pass_z is False


def test_set_up_compositor_layers_the_scene_s_last_result(tmp_out):
    """A result generated without the compositor is what Set Up Compositor layers over the render afterwards,
    also when an earlier result is in the scene's group already."""
    from depth_addon import api

    scene = build_demo_scene(bpy.context.scene, (32, 32))
    first = api.texture_scene(scene, prompt="red brick", seed=1, compositor=True).image
    assert comp.find_compositor_group(scene).nodes[comp.N_IMAGE].image == first
    second = api.texture_scene(scene, prompt="green grass", seed=2, compositor=False).image
    writeback.setup_compositor(scene, use_dof=False, opacity=1.0)
    assert comp.find_compositor_group(scene).nodes[comp.N_IMAGE].image == second != first


def test_set_up_compositor_keeps_the_layer_when_the_last_result_is_another_camera_s(tmp_out):
    """A result from a camera the scene does not render through leaves the compositor alone; a later Set Up (for
    fog, say) keeps the layer it has instead of refusing the other camera's."""
    from depth_addon import api

    scene = build_demo_scene(bpy.context.scene, (32, 32))
    side = scene.camera.copy()
    side.name = "Side Camera"
    side.location.x += 1.0
    scene.collection.objects.link(side)
    main = api.texture_scene(scene, prompt="red brick", seed=1).image
    api.texture_scene(scene, camera=side, prompt="green grass", seed=2)
    writeback.setup_compositor(scene, fog_density=0.1)
    assert comp.find_compositor_group(scene).nodes[comp.N_IMAGE].image == main


def test_relighting_normals_are_each_scene_s_own(tmp_out):
    from depth_addon import api

    a = build_demo_scene(bpy.context.scene, (32, 32))
    b = build_demo_scene(bpy.data.scenes.new("Other"), (32, 32))
    b.camera.rotation_euler.z += 0.6  # another view: other normals
    for scene in (a, b):
        api.texture_scene(scene, prompt="red brick", seed=1, compositor=False)
    writeback.setup_compositor(a, relight=0.5, use_dof=False)
    normals = comp.find_compositor_group(a).nodes[compositor_fx.N_RELIGHT[0]].image
    before = np.array(normals.pixels[:])
    writeback.setup_compositor(b, relight=0.5, use_dof=False)
    assert comp.find_compositor_group(b).nodes[compositor_fx.N_RELIGHT[0]].image != normals
    assert np.array_equal(np.array(normals.pixels[:]), before)


def test_sidebar_settings_update_the_group_live(addon):
    scene = build_demo_scene(bpy.context.scene, (32, 32))
    settings = scene.depth_addon
    settings.comp_fstop = 0.5  # nothing of ours yet: nothing is made
    assert comp.find_compositor_group(scene) is None
    writeback.setup_compositor(scene, fstop=settings.comp_fstop)
    radius = lambda: comp.find_compositor_group(scene).nodes[comp.N_COC[3]].inputs[1].default_value  # noqa: E731
    first = radius()
    settings.comp_fstop = 0.25
    assert radius() == pytest.approx(2.0 * first, rel=0.02)
    settings.comp_focus, settings.comp_focus_distance = "DISTANCE", 6.0
    assert comp.find_compositor_group(scene).nodes[comp.N_COC[0]].inputs[0].default_value == pytest.approx(6.0)
    settings.comp_focus_distance = 900.0  # behind everything: refused, the group keeps 6 m
    assert "behind every surface" in settings.comp_message
    assert comp.find_compositor_group(scene).nodes[comp.N_COC[0]].inputs[0].default_value == pytest.approx(6.0)


def test_gallery_script(tmp_path) -> None:
    """``scripts/gallery.py`` renders one image per effect and a contact sheet with a labelled tile for each."""
    spec = importlib.util.spec_from_file_location("depth_addon_gallery", ROOT / "scripts" / "gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    assert gallery.main(["--out-dir", str(tmp_path), "--size", "64", "48"]) == 0
    renders = {name: cv2.imread(str(tmp_path / f"{name}.png")) for name in gallery.EFFECTS}
    assert all(im is not None and im.shape[:2] == (48, 64) for im in renders.values())
    assert np.abs(renders["fog"].astype(int) - renders["none"]).mean() > 5  # each effect changes the picture
    sheet = cv2.imread(str(tmp_path / "contact_sheet.png"))
    assert sheet.shape[1] == 64 * len(gallery.EFFECTS) and sheet.shape[0] > 48
