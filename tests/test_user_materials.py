# SPDX-License-Identifier: GPL-3.0-or-later
"""The user's materials under a projection or a bake: never lost on save, found again after a rename, and a
mesh shared with another object left as it is."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from depth_addon.blender import images
from depth_addon.blender.camera import camera_model
from depth_addon.blender.writeback import bake_apply
from depth_addon.blender.writeback import projection as proj


def user_scene() -> tuple[bpy.types.Object, bpy.types.Object]:
    """A cube whose first slot links the mesh's material and whose second links the object's own (its only
    user), and a linked duplicate of it (same mesh, its own object-level material), seen by a camera."""
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.object
    cube.name = "Cube"
    cube.data.materials.append(bpy.data.materials.new("Red"))
    cube.data.materials.append(None)
    cube.material_slots[1].link = "OBJECT"
    cube.material_slots[1].material = bpy.data.materials.new("Green")
    twin = cube.copy()
    twin.name = "Twin"
    twin.location.x = 3.0
    bpy.context.scene.collection.objects.link(twin)
    twin.material_slots[1].material = bpy.data.materials.new("Blue")
    bpy.ops.object.camera_add(location=(1.5, -12.0, 2.0), rotation=(1.45, 0.0, 0.0))
    bpy.context.scene.camera = bpy.context.object
    return cube, twin


def slots(obj: bpy.types.Object) -> list[tuple[str, str | None]]:
    return [(s.link, s.material.name if s.material else None) for s in obj.material_slots]


def mesh_materials(obj: bpy.types.Object) -> list[str | None]:
    return [m.name if m else None for m in obj.data.materials]


def save_and_reopen(path) -> None:
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))


@pytest.mark.parametrize("kind", ["projection", "bake"])
def test_user_materials_survive_a_save_a_rename_and_a_shared_mesh(kind, tmp_out):
    cube, twin = user_scene()
    scene = bpy.context.scene
    image = images.image_from_array("Result", np.full((8, 8, 3), 0.5, np.float32))
    before = {"Cube": slots(cube), "Twin": slots(twin)}
    shared = mesh_materials(cube)
    if kind == "projection":
        proj.project_image(scene, camera_model(scene, scene.camera, 16, 12), image, objects=[cube, twin])
    else:
        for obj in (cube, twin):
            bake_apply.apply_bake(obj, image, obj.data.uv_layers[0].name)
    assert mesh_materials(cube) == shared  # the shared mesh's own list is never edited
    shown = slots(twin)
    assert all(link == "OBJECT" and name not in (None, "Red", "Green", "Blue") for link, name in shown)

    bpy.data.materials["Red"].name = "Brick Red"  # renamed while the result is shown
    bpy.data.materials["Green"].name = "Leaf Green"
    save_and_reopen(tmp_out / "kept.blend")  # Green and Blue have no slot user now: they must not be dropped
    assert {"Brick Red", "Leaf Green", "Blue"} <= set(bpy.data.materials.keys())
    cube, twin = bpy.data.objects["Cube"], bpy.data.objects["Twin"]
    assert not any(bpy.data.materials[n].use_fake_user for n in ("Brick Red", "Leaf Green", "Blue"))

    remove = proj.remove_projection if kind == "projection" else bake_apply.remove_bake
    assert remove([cube]) == 1
    renamed = {"Red": "Brick Red", "Green": "Leaf Green"}
    assert slots(cube) == [(link, renamed.get(name, name)) for link, name in before["Cube"]]
    assert slots(twin) == shown  # the twin still shows the whole result
    assert remove() == 1
    assert slots(twin) == [(link, renamed.get(name, name)) for link, name in before["Twin"]]
    assert mesh_materials(twin) == ["Brick Red", None]
    assert not any(k.startswith("depth_addon") for o in bpy.data.objects for k in o.keys())
    assert not any(bpy.data.materials[n].use_fake_user for n in ("Brick Red", "Leaf Green", "Blue"))
    bpy.data.orphans_purge(do_recursive=True)  # nothing of ours holds a user any more, nothing of theirs is lost
    assert {"Brick Red", "Leaf Green", "Blue"} <= set(bpy.data.materials.keys())
    assert not any(proj.KEY_SOURCE in m or m.get(bake_apply.KEY_BAKE_MATERIAL) for m in bpy.data.materials)


@pytest.mark.parametrize("kind", ["projection", "bake"])
def test_linked_duplicates_without_slots_are_restored_whole(kind):
    """Two objects share a mesh with no material slot: the slot a result adds is taken off by whichever result
    goes last, so nothing of ours is left in a slot the mesh no longer has."""
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.object
    twin = cube.copy()
    bpy.context.scene.collection.objects.link(twin)
    bpy.ops.object.camera_add(location=(0.0, -8.0, 1.0), rotation=(1.45, 0.0, 0.0))
    scene = bpy.context.scene
    scene.camera = bpy.context.object
    image = images.image_from_array("Result", np.full((8, 8, 3), 0.5, np.float32))
    if kind == "projection":
        proj.project_image(scene, camera_model(scene, scene.camera, 16, 12), image, objects=[cube, twin])
        remove = proj.remove_projection
    else:
        for obj in (cube, twin):
            bake_apply.apply_bake(obj, image, obj.data.uv_layers[0].name)
        remove = bake_apply.remove_bake
    assert len(cube.data.materials) == 1
    remove([cube])
    assert len(twin.material_slots) == 1 and twin.material_slots[0].material is not None  # still shown whole
    remove()
    assert len(cube.data.materials) == 0 and not any(k.startswith("depth_addon") for k in twin.keys())
    ours = [m.name for m in bpy.data.materials if proj.KEY_SOURCE in m or m.get(bake_apply.KEY_BAKE_MATERIAL)]
    assert ours == [], ours


def test_a_replaced_projection_leaves_no_image_of_ours_behind():
    """Projecting again replaces the result: the images of the one replaced (the picture, its occlusion depth)
    go with it when nothing else shows them; a user's image is never removed, nor one still in use."""
    cube, twin = user_scene()
    scene = bpy.context.scene
    camera = camera_model(scene, scene.camera, 16, 12)
    mine = bpy.data.images.new("Mine", 8, 8)  # the user's own picture, projected first
    proj.project_image(scene, camera, mine, depth=np.full((12, 16), 10.0, np.float32))
    first = images.image_from_array("First", np.full((12, 16, 3), 0.5, np.float32))
    proj.project_image(scene, camera, first, depth=np.full((12, 16), 10.0, np.float32))
    assert "Mine" in bpy.data.images and bpy.data.images["Mine"].users == 0  # the user's: never removed
    second = images.image_from_array("Second", np.full((12, 16, 3), 0.2, np.float32))
    proj.project_image(scene, camera, second, depth=np.full((12, 16), 10.0, np.float32))
    left = sorted(i.name for i in bpy.data.images if i.get(images.KEY_OWNED))
    assert "First" not in left and "Second" in left and len(left) == 2, left  # Second and its occlusion depth
    proj.project_image(scene, camera, second, depth=np.full((12, 16), 10.0, np.float32))  # the same picture again
    assert "Second" in bpy.data.images
