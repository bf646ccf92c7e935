# SPDX-License-Identifier: GPL-3.0-or-later
"""Regenerating a projection whose image the user deleted: the new image is shown again where the run's image was,
and only there (another projection that lost its image too stays as it is)."""

from __future__ import annotations

import bpy
from test_regenerate_one import small_scene

from depth_addon import api
from depth_addon.blender.writeback import projection
from depth_addon.blender.writeback import provenance as provenance_props


def shown(name: str) -> list[bpy.types.Image | None]:
    """The image each projection material of object ``name`` shows."""
    return [slot.material.node_tree.nodes[f"{projection.NODE_PREFIX} Image"].image
            for slot in bpy.data.objects[name].material_slots]


def test_a_projection_whose_image_was_deleted_shows_the_regenerated_one(addon) -> None:
    scene = small_scene((48, 36))
    run = api.texture_scene(scene, prompt="red brick", seed=3, objects=["Wall", "Ground"], compositor=False)
    scene.camera.location.x += 1.0  # another projection, from elsewhere, onto the sphere
    bpy.context.view_layer.update()
    other = api.texture_scene(scene, prompt="gold", seed=4, objects=["Sphere"], compositor=False)
    bpy.data.images.remove(run.image)  # the user deleted both results' images
    bpy.data.images.remove(other.image)
    assert shown("Wall") == [None] and shown("Sphere") == [None]
    wall = bpy.data.objects["Wall"]
    with bpy.context.temp_override(active_object=wall, object=wall):
        assert bpy.ops.depth.regenerate(prompt="blue marble") == {"FINISHED"}
    (image,) = set(shown("Wall"))
    assert image is not None and shown("Ground") == [image] and image.users >= 1
    assert provenance_props.read(image)["prompt"] == "blue marble"
    assert shown("Sphere") == [None]  # not this run's


def test_regenerating_a_deleted_image_never_takes_another_result_s(addon) -> None:
    """The first run's image is called "Depth Generated": regenerating a later run whose image was deleted makes a new
    image of its own, and the first run keeps its pixels and its objects."""
    import numpy as np

    from depth_addon.blender import images

    scene = small_scene((48, 36))
    first = api.texture_scene(scene, prompt="red brick", seed=3, objects=["Wall", "Ground"], compositor=False)
    assert first.image.name == "Depth Generated"
    before = images.array_from_image(first.image).copy()
    scene.camera.location.x += 1.0
    bpy.context.view_layer.update()
    later = api.texture_scene(scene, prompt="gold", seed=4, objects=["Sphere"], compositor=False)
    bpy.data.images.remove(later.image)
    sphere = bpy.data.objects["Sphere"]
    with bpy.context.temp_override(active_object=sphere, object=sphere):
        assert bpy.ops.depth.regenerate(prompt="blue marble") == {"FINISHED"}
    (image,) = set(shown("Sphere"))
    assert image is not None and image != first.image and image.name != "Depth Generated"
    assert np.array_equal(images.array_from_image(first.image), before)
    assert set(shown("Wall")) == {first.image} and set(shown("Ground")) == {first.image}
