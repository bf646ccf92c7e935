# SPDX-License-Identifier: GPL-3.0-or-later
"""Removing results gives back exactly what the user had: results made on top of each other (a projection over a
bake, a bake over that) and results of other scenes of the same file."""

from __future__ import annotations

import bpy

from depth_addon import api
from depth_addon.app import multiview as app_multiview
from depth_addon.app import writeback
from depth_addon.blender.demo_scene import build_demo_scene


def _user_materials(scene: bpy.types.Scene) -> dict[str, list[tuple[str, str | None]]]:
    """Every mesh's slots: the user's materials, some linked to the object and some to the mesh."""
    slots = {}
    for i, obj in enumerate(o for o in scene.objects if o.type == "MESH"):
        if not obj.material_slots:
            obj.data.materials.append(bpy.data.materials.new(f"Mine {obj.name}"))
        if i % 2:  # an object-linked slot of the user's own
            obj.material_slots[0].link = "OBJECT"
            obj.material_slots[0].material = bpy.data.materials.new(f"Object's {obj.name}")
        slots[obj.name] = [(s.link, getattr(s.material, "name", None)) for s in obj.material_slots]
    return slots


def _slots(scene: bpy.types.Scene) -> dict[str, list[tuple[str, str | None]]]:
    return {o.name: [(s.link, getattr(s.material, "name", None)) for s in o.material_slots]
            for o in scene.objects if o.type == "MESH"}


def test_a_projection_over_a_bake_and_a_bake_over_that_come_off_to_the_user_s_materials() -> None:
    scene = build_demo_scene(bpy.context.scene, (32, 32))
    before = _user_materials(scene)
    kw = {"views": 1, "bake_size": 32, "view_size": 32, "prompt": "red brick"}
    app_multiview.texture_multiview(scene, **kw)
    api.texture_scene(scene, prompt="green grass", seed=1, compositor=False)  # projected over the bake
    assert all(writeback.is_ours(o) for o in scene.objects if o.type == "MESH")
    count, _ = writeback.remove_result(scene)
    assert count == len(before) and _slots(scene) == before
    assert not any(writeback.is_ours(o) for o in scene.objects)

    app_multiview.texture_multiview(scene, **kw)
    api.texture_scene(scene, prompt="green grass", seed=1, compositor=False)
    app_multiview.texture_multiview(scene, **kw)  # a new bake replaces both
    writeback.remove_result(scene)
    assert _slots(scene) == before
    assert not [m for m in bpy.data.materials if m.users == 0 and m.name.endswith("]")]  # none of ours left over


def test_removing_one_scene_s_results_leaves_the_other_scene_s() -> None:
    a = build_demo_scene(bpy.context.scene, (32, 32))
    b = bpy.data.scenes.new("Other")
    for obj in [o for o in a.objects if o.name in ("Ground", "Sphere", "Camera")]:
        b.collection.objects.link(obj)  # shared by both scenes
    b.camera = a.camera
    api.texture_scene(a, prompt="red brick", seed=1, compositor=False)
    only_a = [o for o in a.objects if o.type == "MESH" and o.name not in b.objects]
    assert only_a and all(writeback.is_ours(o) for o in only_a)
    run = api.texture_scene(b, prompt="green grass", seed=2, compositor=False)
    assert sorted(run.projection.replaced) == ["Ground", "Sphere"] and "another scene's result" in run.notes[0]
    again = api.texture_scene(a, prompt="red brick", seed=3, compositor=False)  # takes the shared objects back
    assert sorted(again.projection.replaced) == ["Ground", "Sphere"]
    assert not api.texture_scene(a, prompt="red brick", seed=4, compositor=False).projection.replaced  # its own
    api.texture_scene(b, prompt="green grass", seed=2, compositor=False)
    count, _ = writeback.remove_result(b)
    assert count == len([o for o in b.objects if o.type == "MESH"])
    assert all(writeback.is_ours(o) for o in only_a)  # scene A's result is still there
    assert not any(writeback.is_ours(o) for o in b.objects)


def test_a_scene_no_window_shows_renders_and_textures_its_own_objects() -> None:
    """A script looping over ``bpy.data.scenes``: the other scene has never been evaluated, its view layer is named
    like the context's, and its objects are in no other scene."""
    a = build_demo_scene(bpy.context.scene, (32, 32))
    b = build_demo_scene(bpy.data.scenes.new("Other"), (32, 32))  # its own copies of the demo objects
    assert bpy.context.scene == a and b.view_layers[0].name == bpy.context.view_layer.name
    depth = api.render_depth(scene=b, engine="workbench")
    reference = api.render_depth(scene=a, engine="workbench")
    assert depth.mask.mean() == reference.mask.mean() > 0.3  # the same set, seen the same way
    assert abs(api.render_depth(scene=b).mask.mean() - depth.mask.mean()) < 0.01  # the default (GPU) path too
    run = api.texture_scene(b, prompt="red brick", seed=1, compositor=False)
    mine = {o.name for o in b.objects if o.type == "MESH"}
    assert {o.name for o in run.projection.objects} == mine and not mine & {o.name for o in a.objects}
    assert not any(writeback.is_ours(o) for o in a.objects)


def test_an_image_from_another_camera_leaves_the_compositor_alone() -> None:
    """Generated from a camera the scene does not render through, the image would not line up with the render:
    the compositor stays as it was and the run says why (Set Up Compositor refuses the same)."""
    scene = build_demo_scene(bpy.context.scene, (32, 32))
    other = scene.camera.copy()
    other.name = "Side Camera"
    other.location.x += 1.0
    scene.collection.objects.link(other)
    run = api.texture_scene(scene, camera=other, prompt="red brick", seed=1)
    assert run.compositor is None and not writeback.compositor_active(scene)
    assert "'Side Camera'" in run.notes[0] and "would not line up" in run.notes[0]
    assert api.texture_scene(scene, prompt="red brick", seed=1).compositor is not None  # the scene camera: set up


def test_a_scene_no_window_shows_gets_its_multiview_bake() -> None:
    """Its meshes need a new UV map: the unwrap runs in that scene's view layer, not the window's."""
    a = build_demo_scene(bpy.context.scene, (32, 32))
    b = build_demo_scene(bpy.data.scenes.new("Other"), (32, 32))
    result = app_multiview.texture_multiview(b, views=2, bake_size=32, view_size=32, prompt="red brick")
    assert {o.name for o in result.objects} == {o.name for o in b.objects if o.type == "MESH"}
    assert min(result.coverage.values()) > 0.5 and not any(writeback.is_ours(o) for o in a.objects)


def test_removing_a_relightable_projection_leaves_only_the_generated_image() -> None:
    """Its maps and occlusion image go with it; the generated image stays (a result to pick from)."""
    scene = build_demo_scene(bpy.context.scene, (32, 32))
    before = {i.name for i in bpy.data.images}
    run = api.texture_scene(scene, prompt="red brick", seed=2, compositor=False, maps=True)
    writeback.remove_result(scene)
    assert {i.name for i in bpy.data.images} - before - {"Render Result"} == {run.image.name}


def test_a_generated_image_a_result_no_longer_shows_survives_save_and_reopen(tmp_path) -> None:
    """Remove Result, a new result over a projection and a bake made from one keep the generated image (a result
    to pick from): it keeps a fake user, so the saved file still has it, with its pixels and provenance, and
    Project Image projects it again after reopening; the occlusion image goes."""
    scene = build_demo_scene(bpy.context.scene, (32, 32))
    first = api.texture_scene(scene, prompt="red brick", seed=1, compositor=False).image.name
    writeback.remove_result(scene)
    second = api.texture_scene(scene, prompt="green grass", seed=2, compositor=False).image.name
    third = api.texture_scene(scene, prompt="blue tiles", seed=3, compositor=False).image.name  # replaces it
    writeback.bake_projection(scene, None, 32)  # the bake replaces the projection on every object
    path = tmp_path / "kept.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    scene = bpy.context.scene
    for name, prompt in ((first, "red brick"), (second, "green grass"), (third, "blue tiles")):
        image = bpy.data.images.get(name)
        assert image is not None and image.use_fake_user and image.users == 1, name
        assert tuple(image.size) == (32, 32) and writeback.image_record(image)["prompt"] == prompt
    assert f"{first} Depth" not in bpy.data.images
    image, projected = writeback.project_image(scene, first)
    assert image.name == first and projected.objects


def test_remove_result_with_only_the_camera_selected_removes_every_result(addon) -> None:
    """A selected camera or light counts as nothing selected, as it does for texturing and baking: Remove Result
    then takes off every result instead of saying that no selected object shows one."""
    from analytic import build

    from depth_addon.blender.images import image_from_array

    scene = build()
    image = image_from_array("Photo", [[[0.2, 0.4, 0.8]] * 8] * 8)
    assert bpy.ops.depth.project_image(image=image.name) == {"FINISHED"}
    for obj in scene.objects:
        obj.select_set(obj.type == "CAMERA")
    assert bpy.ops.depth.remove_result() == {"FINISHED"}
    assert not writeback.has_result(scene) and not any(writeback.is_ours(o) for o in scene.objects)


def test_generated_images_the_compositor_showed_survive_a_new_result_remove_save_and_reopen(tmp_path) -> None:
    """With the compositor on (the Generate operator's default), the image a new result replaces in the AI layer,
    and the one Remove Result takes off it, keep a fake user: the saved file still has both, results to pick from."""
    scene = build_demo_scene(bpy.context.scene, (32, 32))
    first = api.texture_scene(scene, prompt="red brick", seed=1).image.name
    second = api.texture_scene(scene, prompt="green grass", seed=2).image.name
    assert writeback.compositor_active(scene)
    writeback.remove_result(scene)
    path = tmp_path / "kept.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    for name, prompt in ((first, "red brick"), (second, "green grass")):
        image = bpy.data.images.get(name)
        assert image is not None and image.use_fake_user, name
        assert writeback.image_record(image)["prompt"] == prompt
