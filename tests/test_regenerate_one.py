# SPDX-License-Identifier: GPL-3.0-or-later
"""Regenerating one object (``only_this``): a relightable projection changes its image and every map on that object's
pixels only; a multi-view or single-view bake bakes that object's textures again and leaves the others' as they were."""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest

from depth_addon import api
from depth_addon.app import regenerate
from depth_addon.app.texture import PROJECTED_MAPS
from depth_addon.blender import images
from depth_addon.blender.writeback import projection_bake
from depth_addon.blender.writeback import provenance as provenance_props
from depth_addon.errors import BadInput

PROMPT = "brick walls, wooden posts and grass"


def small_scene(size: tuple[int, int] = (96, 72)) -> bpy.types.Scene:
    """Ground, wall, post, sphere and a small cube (named so the prompt routes by name), a camera and a sun."""
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    bpy.ops.mesh.primitive_plane_add(size=10, location=(0, 0, 0))
    bpy.context.object.name = "Ground"
    bpy.ops.mesh.primitive_cube_add(size=1, location=(0, 2, 1.5))
    bpy.context.object.name, bpy.context.object.scale = "Wall", (4, 0.1, 1.5)
    bpy.ops.mesh.primitive_cylinder_add(radius=0.1, depth=2, location=(-1.5, 0.5, 1))
    bpy.context.object.name = "Post"
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(1, 0, 0.5), segments=16, ring_count=8)
    bpy.context.object.name = "Sphere"
    bpy.ops.mesh.primitive_cube_add(size=0.6, location=(0, -0.5, 0.3))
    bpy.context.object.name = "Cube.001"
    bpy.ops.object.camera_add(location=(0, -7, 3), rotation=(math.radians(75), 0, 0))
    scene.camera = bpy.context.object
    bpy.ops.object.light_add(type="SUN", location=(0, 0, 5))
    bpy.ops.object.select_all(action="DESELECT")
    return scene


def test_one_object_of_a_relightable_projection_changes_every_map_only_on_its_pixels() -> None:
    """Another object moved since: the lit image and the albedo, roughness, metallic and height maps all keep their
    pixels outside the object (the maps stay in step with the image), and change on it."""
    scene = small_scene()
    run = api.texture_scene(scene, prompt=PROMPT, seed=3, maps=True, compositor=False)
    names = {key: f"{run.image.name} {suffix}" for key, suffix in PROJECTED_MAPS.items()}
    before = {key: images.array_from_image(bpy.data.images[n]).copy() for key, n in names.items()}
    lit = images.array_from_image(run.image).copy()
    bpy.data.objects["Cube.001"].location.x += 0.4  # the user nudged another object
    bpy.context.view_layer.update()
    ids = api.render_depth(scene, ids=True)
    inside = ids.object_ids == ids.objects.index("Sphere")
    image = regenerate.regenerate(bpy.data.objects["Sphere"], scene, prompt="blue marble", only_this=True)
    assert image == run.image
    assert np.array_equal(images.array_from_image(image)[~inside], lit[~inside])
    for key, name in names.items():
        after = images.array_from_image(bpy.data.images[name])
        assert np.array_equal(after[~inside], before[key][~inside]), key  # exactly as it was
        if key in ("albedo", "roughness"):
            assert np.abs(after[inside] - before[key][inside]).max() > 0.05, key  # marble, not brick
        assert provenance_props.read(bpy.data.images[name])["options"]["object_prompts"] == {"Sphere": "blue marble"}


def baked_pixels(names: list[str]) -> dict[str, bytes]:
    """Image name → its pixels as bytes, for every image of ours whose name starts with one of ``names``."""
    out = {}
    for image in bpy.data.images:
        if image.get(images.KEY_OWNED) and any(image.name.startswith(f"{n} ") for n in names):
            px = np.empty(len(image.pixels), np.float32)
            image.pixels.foreach_get(px)
            out[image.name] = px.tobytes()
    return out


def test_one_object_of_a_multiview_bake_is_baked_again_and_the_others_stay_byte_identical() -> None:
    """The bake record is generated again with the object's new prompt, only its textures (lit and maps) are baked
    again; the other objects' images keep every byte, and they take the new record, so a later regenerate of any of
    them keeps the new prompt."""
    scene = small_scene((64, 48))
    result = api.texture_multiview(scene, prompt=PROMPT, views=1, bake_size=64, view_size=64, maps=True,
                                   shading="PBR", seed=2)
    others = [n for n in result.images if n != "Sphere"]
    assert "Sphere" in result.images and others
    kept, sphere = baked_pixels(others), baked_pixels(["Sphere"])
    assert len(kept) == 6 * len(others)  # lit image and five maps each
    again = regenerate.regenerate(bpy.data.objects["Sphere"], scene, prompt="polished gold metal", only_this=True)
    assert [o.name for o in again.objects] == ["Sphere"]
    assert baked_pixels(others) == kept
    now = baked_pixels(["Sphere"])
    assert set(now) == set(sphere) and now["Sphere Depth Bake"] != sphere["Sphere Depth Bake"]
    metallic = np.array(bpy.data.images["Sphere Depth Metallic"].pixels[:]).reshape(64, 64, 4)[..., 0]
    assert metallic.max() > 0.9  # gold metal now
    for name in ("Sphere", *others):
        record, _holder = provenance_props.find(bpy.data.objects[name])
        assert record["options"]["object_prompts"] == {"Sphere": "polished gold metal"}, name
        assert record["prompt"] == PROMPT
    with pytest.raises(BadInput, match="not one of the objects this bake textured"):
        regenerate.regenerate_record(record, scene, prompt="gold", only="Camera")


def test_one_object_of_a_baked_projection_is_baked_again_alone() -> None:
    """A relightable projection baked into UV maps (a single-view ``bake`` record): regenerating all of it works and
    stays relightable, and one object is baked again alone, routed by its new prompt, while the other objects' images
    keep every byte."""
    scene = small_scene((64, 48))
    api.texture_scene(scene, prompt=PROMPT, seed=5, compositor=False, maps=True)
    projection_bake.bake_projection(scene, bake_size=64)
    whole = regenerate.regenerate(bpy.data.objects["Wall"], scene, seed=6)
    assert set(whole.images) == {"Ground", "Wall", "Post", "Sphere", "Cube.001"}
    others = ["Ground", "Wall", "Post", "Cube.001"]
    kept, before = baked_pixels(others), baked_pixels(["Sphere"])
    again = regenerate.regenerate(bpy.data.objects["Sphere"], scene, prompt="blue marble", only_this=True)
    assert set(again.images) == {"Sphere"} and baked_pixels(others) == kept
    assert set(again.maps["Sphere"]) == {"albedo", "roughness", "metallic", "normal", "height"}
    nodes = bpy.data.objects["Sphere"].material_slots[0].material.node_tree.nodes
    assert any(n.bl_idname == "ShaderNodeBsdfPrincipled" for n in nodes)  # still relightable
    now = baked_pixels(["Sphere"])
    assert set(now) == set(before) and now["Sphere Depth Albedo"] != before["Sphere Depth Albedo"]
    for name in others:
        record, _holder = provenance_props.find(bpy.data.objects[name])
        assert record["kind"] == "bake" and record["options"]["object_prompts"] == {"Sphere": "blue marble"}


def test_the_regenerate_operator_repaints_one_object_of_a_bake(addon) -> None:
    """This Object Only in the sidebar: one object of a multi-view bake, through the job queue."""
    scene = small_scene((48, 36))
    result = api.texture_multiview(scene, prompt="red brick", views=1, bake_size=32, view_size=48)
    others = [n for n in result.images if n != "Sphere"]
    kept = baked_pixels(others)
    sphere = bpy.data.objects["Sphere"]
    with bpy.context.temp_override(active_object=sphere, object=sphere):
        assert bpy.ops.depth.regenerate(prompt="gold", only_this=True) == {"FINISHED"}
    assert baked_pixels(others) == kept
    record, _holder = provenance_props.find(sphere)
    assert record["options"]["object_prompts"] == {"Sphere": "gold"}


def records_of(name: str) -> list[dict]:
    """The provenance records on object ``name``'s materials and their images."""
    out = []
    for slot in bpy.data.objects[name].material_slots:
        nodes = slot.material.node_tree.nodes
        out += [provenance_props.read(idb) for idb in (slot.material, *(n.image for n in nodes if n.bl_idname ==
                                                                        "ShaderNodeTexImage" and n.image))]
    return [r for r in out if r is not None]


@pytest.mark.parametrize("kind", ["multiview", "bake"])
def test_a_new_seed_for_one_object_stays_out_of_the_other_objects_records(kind: str) -> None:
    """Only the repainted object's material and images take the new seed and prompt; the others were not repainted,
    so they keep the seed they were painted with (and learn the object's new prompt for a later regenerate)."""
    scene = small_scene((48, 36))
    if kind == "multiview":
        api.texture_multiview(scene, prompt=PROMPT, views=1, bake_size=32, view_size=48, seed=2)
    else:
        api.texture_scene(scene, prompt=PROMPT, seed=2, compositor=False)
        projection_bake.bake_projection(scene, bake_size=32)
    regenerate.regenerate(bpy.data.objects["Sphere"], scene, seed=99, prompt="gold", only_this=True)
    for name in ("Ground", "Wall", "Post", "Cube.001", "Sphere"):
        records = records_of(name)
        assert len(records) >= 2, name  # the material and its image
        assert {r["seed"] for r in records} == {99 if name == "Sphere" else 2}, name
        assert all(r["prompt"] == PROMPT and r["options"]["object_prompts"] == {"Sphere": "gold"} for r in records)
    sphere, _holder = provenance_props.find(bpy.data.objects["Sphere"])
    wall, _holder = provenance_props.find(bpy.data.objects["Wall"])
    assert regenerate._prompt_of(sphere, "Sphere") == "gold"
    assert regenerate._prompt_of(wall, "Wall") == regenerate._prompt_of(sphere, "Wall")  # what it was painted with


def test_one_object_leaves_an_object_named_after_it_with_a_slash_alone() -> None:
    """Regenerating "Sphere" alone repaints no pixel of an object called "Sphere/2" (a part of "Sphere" used to be
    any part whose name started with "Sphere/"), and takes only Sphere's own prompt."""
    scene = small_scene()
    bpy.data.objects["Cube.001"].name = "Sphere/2"
    run = api.texture_scene(scene, prompt=PROMPT, seed=3, compositor=False,
                            object_prompts={"Sphere/2": "polished gold metal"})
    lit = images.array_from_image(run.image).copy()
    ids = api.render_depth(scene, ids=True)
    other = ids.object_ids == ids.objects.index("Sphere/2")
    assert other.any()
    record, _image = regenerate.find_record(bpy.data.objects["Sphere"])
    assert regenerate._prompt_of(record, "Sphere") == "brick"
    regenerate.regenerate(bpy.data.objects["Sphere"], scene, seed=4, only_this=True)
    assert np.array_equal(images.array_from_image(run.image)[other], lit[other])


def test_a_whole_regenerate_keeps_every_object_repainted_alone_before() -> None:
    """The sphere repainted alone, then the wall: the sphere's record never learnt the wall's new prompt, yet a
    regenerate of the whole bake from the sphere paints the wall with it (and the sphere with its own)."""
    scene = small_scene((48, 36))
    api.texture_multiview(scene, prompt=PROMPT, views=1, bake_size=32, view_size=48, seed=2)
    regenerate.regenerate(bpy.data.objects["Sphere"], scene, prompt="polished gold metal", only_this=True)
    regenerate.regenerate(bpy.data.objects["Wall"], scene, prompt="blue marble", only_this=True)
    whole = regenerate.regenerate(bpy.data.objects["Sphere"], scene)
    got = {d["object"]: (d["prompt"], d["reason"]) for d in whole.decisions}
    assert got["Wall"] == ("blue marble", "explicit") and got["Sphere"] == ("polished gold metal", "explicit"), got
    for name in ("Ground", "Wall", "Post", "Cube.001", "Sphere"):
        record, _holder = provenance_props.find(bpy.data.objects[name])
        assert record["options"]["object_prompts"] == {"Sphere": "polished gold metal", "Wall": "blue marble"}, name


def blank_sphere_prompt() -> None:
    """Rewrite every record of ours as a run made before a blank object prompt was refused wrote it, given
    'Sphere': '' (it painted the sphere with an empty prompt)."""
    for holder in (*bpy.data.objects, *bpy.data.materials, *bpy.data.images):
        record = provenance_props.read(holder)
        if record is not None:
            record["options"]["object_prompts"]["Sphere"] = ""
            for decision in record["options"]["parts"]:
                decision["prompt"] = "" if decision.get("object") == "Sphere" else decision["prompt"]
            provenance_props.attach(record, holder)


@pytest.mark.parametrize("kind", ["projection", "multiview"])
def test_a_record_holding_a_blank_object_prompt_regenerates(kind: str) -> None:
    """Regenerating a record that holds a blank object prompt, whole or the sphere alone, is not refused (the user
    could not give it a text from Regenerate): the scene prompt paints the sphere, and the other object prompts still
    win."""
    scene = small_scene((48, 36))
    prompts = {"Sphere": "polished gold metal", "Wall": "blue marble"}
    if kind == "projection":
        api.texture_scene(scene, prompt=PROMPT, seed=2, compositor=False, object_prompts=prompts)
    else:
        api.texture_multiview(scene, prompt=PROMPT, views=1, bake_size=32, view_size=48, seed=2, object_prompts=prompts)
    sphere = bpy.data.objects["Sphere"]
    blank_sphere_prompt()
    regenerate.regenerate(sphere, scene)
    record, _holder = regenerate.find_record(sphere)
    got = {d["object"]: (d["prompt"], d["reason"]) for d in record["options"]["parts"]}
    assert got["Wall"] == ("blue marble", "explicit") and got["Sphere"][1] != "explicit" and got["Sphere"][0], got
    assert record["options"]["object_prompts"] == {"Wall": "blue marble"}
    blank_sphere_prompt()
    regenerate.regenerate(sphere, scene, seed=3, only_this=True)
    record, _holder = regenerate.find_record(sphere)
    assert record["options"]["object_prompts"] == {"Wall": "blue marble", "Sphere": PROMPT}
