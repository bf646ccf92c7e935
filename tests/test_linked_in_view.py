# SPDX-License-Identifier: GPL-3.0-or-later
"""A mesh linked from a library that the camera sees is left as it is by a texturing run that picks every mesh in
view, and the run says so (it was left out without a word)."""

from __future__ import annotations

import bpy
import pytest
from test_regenerate_one import small_scene

from depth_addon import api
from depth_addon.errors import BadInput


def _link_statue(folder) -> bpy.types.Object:
    """A triangle in front of the camera, written to a library and linked back into the scene."""
    source = bpy.data.objects.new("Statue", bpy.data.meshes.new("Statue"))
    source.data.from_pydata([(-0.5, -2.0, 0.2), (0.5, -2.0, 0.2), (0.0, -2.0, 1.2)], [], [(0, 1, 2)])
    lib = str(folder / "lib.blend")
    bpy.data.libraries.write(lib, {source})
    bpy.data.objects.remove(source)
    with bpy.data.libraries.load(lib, link=True) as (_src, dst):
        dst.objects = ["Statue"]
    bpy.context.scene.collection.objects.link(dst.objects[0])
    return dst.objects[0]


def test_a_linked_mesh_in_view_is_named_by_the_projection_and_the_bake(tmp_path) -> None:
    scene = small_scene((48, 36))
    statue = _link_statue(tmp_path)
    slots = [s.material for s in statue.material_slots]
    run = api.texture_scene(scene, prompt="red brick", seed=1, compositor=False)
    note = ("'Statue' is linked from a library and left as it is; make it local (Object > Relations > Make Local, "
            "or a library override) to texture it")
    assert note in run.notes, run.notes
    assert [s.material for s in statue.material_slots] == slots
    baked = api.texture_multiview(scene, prompt="red brick", views=1, bake_size=32, view_size=48, seed=1)
    assert note in baked.warnings, baked.warnings
    assert "Statue" not in baked.images and [s.material for s in statue.material_slots] == slots
    chosen = api.texture_scene(scene, prompt="red brick", seed=1, compositor=False, objects=["Ground"])
    assert not any("linked from a library" in n for n in chosen.notes)  # objects named: nothing left out unsaid


def _linked_set(folder, scene: bpy.types.Scene) -> bpy.types.Object:
    """The scene's meshes moved into a collection of a library, linked back as File › Link does: an Empty that
    instances the collection."""
    meshes = [o for o in scene.objects if o.type == "MESH"]
    lib = str(folder / "set.blend")
    collection = bpy.data.collections.new("Set")
    for obj in meshes:
        collection.objects.link(obj)
    bpy.data.libraries.write(lib, {collection})
    for obj in meshes:
        bpy.data.objects.remove(obj)
    bpy.data.collections.remove(collection)
    with bpy.data.libraries.load(lib, link=True) as (_src, dst):
        dst.collections = ["Set"]
    instancer = bpy.data.objects.new("Set", None)
    instancer.instance_type, instancer.instance_collection = "COLLECTION", dst.collections[0]
    scene.collection.objects.link(instancer)
    return instancer


def test_a_linked_set_shown_as_collection_instances_is_named_before_anything_is_generated(tmp_path) -> None:
    """Meshes a render shows only as instances of a linked collection take no projection: alone in view, the run
    stops before generating, naming the instancer and what to do (it said "no visible mesh objects" after the
    image was made); beside local meshes, it says it left them as they are."""
    scene = small_scene((48, 36))
    _linked_set(tmp_path, scene)
    images = {i.name for i in bpy.data.images}
    with pytest.raises(BadInput, match=r"'Set'.*instances.*Make Instances Real"):
        api.texture_scene(scene, prompt="red brick", seed=1, compositor=False)
    assert {i.name for i in bpy.data.images} == images, "an image was generated for nothing"
    bpy.ops.mesh.primitive_plane_add(size=20, location=(0, 0, -0.01))
    run = api.texture_scene(scene, prompt="red brick", seed=1, compositor=False)
    assert any("'Set'" in n and "Make Instances Real" in n for n in run.notes), run.notes
