# SPDX-License-Identifier: GPL-3.0-or-later
"""The records Regenerate reads for each object: an object of a projection repainted alone keeps its own seed and
prompt (the objects share one image, not one record), and a renamed object keeps its latest prompt (records find
their objects by a stable id, also in a file saved and opened again)."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from test_regenerate_one import PROMPT, small_scene

from depth_addon import api
from depth_addon.app import regenerate, writeback
from depth_addon.app.flow import run_local
from depth_addon.app.scene_prompts import assignment_summary
from depth_addon.blender import idref, images
from depth_addon.blender.writeback import projection_bake
from depth_addon.blender.writeback import provenance as provenance_props

PROMPTS = {"Sphere": "polished gold metal", "Wall": "blue marble"}


def own(name: str) -> tuple[int, str]:
    """The seed and own prompt of the record Regenerate reads for object ``name``."""
    record, _image = regenerate.find_record(bpy.data.objects[name])
    return record["seed"], regenerate._prompt_of(record, name)


def test_objects_of_a_projection_keep_their_own_seed_and_prompt_when_one_is_repainted() -> None:
    """The sphere repainted alone (seed 7), then the wall (seed 9): each shows its own seed and prompt, the others
    the seed they were painted with, and all of them every object's latest prompt. Removing the wall's result leaves
    the sphere's (the wall keeps our id while the others' result names it); the sphere regenerated alone from its
    record paints exactly what it showed; a whole regenerate gives every object the new record."""
    scene = small_scene((48, 36))
    run = api.texture_scene(scene, prompt=PROMPT, seed=2, compositor=False, object_prompts=PROMPTS)
    ids = api.render_depth(scene, ids=True)
    sphere = ids.object_ids == ids.objects.index("Sphere")
    regenerate.regenerate(bpy.data.objects["Sphere"], scene, seed=7, prompt="red velvet", only_this=True)
    painted = images.array_from_image(run.image)[sphere].copy()
    assert own("Sphere") == (7, "red velvet") and own("Wall") == (2, "blue marble") and own("Ground")[0] == 2
    regenerate.regenerate(bpy.data.objects["Wall"], scene, seed=9, prompt="green moss", only_this=True)
    assert np.array_equal(images.array_from_image(run.image)[sphere], painted)
    assert own("Sphere") == (7, "red velvet") and own("Wall") == (9, "green moss") and own("Ground")[0] == 2
    record, image = regenerate.find_record(bpy.data.objects["Ground"])
    assert image == run.image and record["options"]["object_prompts"] == {"Sphere": "red velvet", "Wall": "green moss"}
    writeback.remove_result(scene, [bpy.data.objects["Wall"]])
    assert not writeback.can_regenerate(bpy.data.objects["Wall"])
    assert idref.KEY_UID in bpy.data.objects["Wall"]  # the others' projection names it (in view, its own prompt)
    assert own("Sphere") == (7, "red velvet") and regenerate.find_record(bpy.data.objects["Sphere"])[1] == run.image
    regenerate.regenerate(bpy.data.objects["Sphere"], scene, only_this=True)  # its own seed and prompt again
    assert np.array_equal(images.array_from_image(run.image)[sphere], painted)
    whole = regenerate.regenerate(bpy.data.objects["Ground"], scene, seed=4)
    for name in ("Ground", "Post", "Sphere", "Cube.001"):
        assert provenance_props.KEY_PROVENANCE not in bpy.data.objects[name], name  # all repainted: one record
        record, image = regenerate.find_record(bpy.data.objects[name])
        assert image == whole and record["seed"] == 4 and record["options"]["object_prompts"]["Sphere"] == "red velvet"


def repaint(obj: bpy.types.Object, scene: bpy.types.Scene, only: bool) -> regenerate.RegenerateRun:
    """What Regenerate does for ``obj`` (its report is made from the run's decisions)."""
    record, target = regenerate.find_record(obj)
    return run_local(regenerate.regenerate_run_flow(record, scene, None, None, target, obj.name if only else None),
                     record.get("generator"))


def got(run: regenerate.RegenerateRun) -> dict[str, tuple[str, str]]:
    """Object → (prompt, reason) of a run's decisions."""
    return {d["object"]: (d["prompt"], d["reason"]) for d in run.decisions}


@pytest.mark.parametrize("kind", ["projection", "bake", "multiview"])
def test_a_renamed_object_keeps_its_latest_prompt(kind: str, tmp_path) -> None:
    """Objects painted with their own prompts (the wall's repainted alone since), saved, opened again and renamed:
    Regenerate repaints the renamed wall alone, and the whole result, with each object's latest prompt, and its report
    names the objects by their new names."""
    scene = small_scene((48, 36))
    if kind == "multiview":
        api.texture_multiview(scene, prompt=PROMPT, views=1, bake_size=32, view_size=48, seed=2, object_prompts=PROMPTS)
    else:
        api.texture_scene(scene, prompt=PROMPT, seed=2, compositor=False, object_prompts=PROMPTS)
    if kind == "bake":
        projection_bake.bake_projection(scene, bake_size=32)
    regenerate.regenerate(bpy.data.objects["Wall"], scene, prompt="green moss", only_this=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "renamed.blend"))
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "renamed.blend"))
    scene = bpy.context.scene
    bpy.data.objects["Sphere"].name, bpy.data.objects["Wall"].name = "Ball", "Fence"
    bpy.data.objects["Post"].name = "Sphere"  # the old name now another object's
    alone = repaint(bpy.data.objects["Fence"], scene, only=True)
    assert got(alone)["Fence"] == ("green moss", "explicit") and got(alone)["Ball"][0] == "polished gold metal"
    assert "Fence green moss (explicit)" in assignment_summary(alone.decisions)
    if kind != "projection":
        assert [o.name for o in alone.result.objects] == ["Fence"]
    whole = repaint(bpy.data.objects["Ball"], scene, only=False)
    assert got(whole)["Ball"] == ("polished gold metal", "explicit") and got(whole)["Fence"][0] == "green moss"
    assert got(whole)["Sphere"][1] != "explicit", got(whole)  # the post, not the sphere it is named after now
    assert "Ball polished gold metal (explicit)" in assignment_summary(whole.decisions)


def test_a_projection_baked_after_one_object_was_repainted_keeps_that_object_s_seed_and_prompt() -> None:
    """The sphere repainted alone (seed 7, "red velvet"), then the projection baked: the sphere's bake holds its own
    seed and prompt, the others the projection's, so a regenerate of the bake paints each as it was painted."""
    scene = small_scene((48, 36))
    api.texture_scene(scene, prompt=PROMPT, seed=2, compositor=False, object_prompts=PROMPTS)
    regenerate.regenerate(bpy.data.objects["Sphere"], scene, seed=7, prompt="red velvet", only_this=True)
    baked = projection_bake.bake_projection(scene, bake_size=32)
    assert own("Sphere") == (7, "red velvet") and own("Wall") == (2, "blue marble") and own("Ground")[0] == 2
    for name in ("Sphere", "Wall"):
        record, _image = regenerate.find_record(bpy.data.objects[name])
        assert record["kind"] == "bake" and record["options"]["objects"] == [o.name for o in baked.objects], name
    assert provenance_props.read(baked.maps.get("Sphere", {}).get("albedo")) in (None, provenance_props.read(
        baked.images["Sphere"]))
    regenerate.regenerate(bpy.data.objects["Sphere"], scene, only_this=True)  # from its own record
    assert own("Sphere") == (7, "red velvet") and own("Wall") == (2, "blue marble")


@pytest.mark.parametrize("kind", ["projection", "multiview"])
def test_remove_leaves_no_id_on_objects_the_result_named_without_painting(kind: str) -> None:
    """A result of the sphere alone names every object in view (its routing) and each object prompt; once it is
    removed no object keeps our stable id (it shows in the artist's Custom Properties and goes into exports)."""
    scene = small_scene((48, 36))
    if kind == "multiview":
        api.texture_multiview(scene, prompt=PROMPT, views=1, bake_size=32, view_size=48, seed=2,
                              object_prompts=PROMPTS, objects=["Sphere"])
    else:
        api.texture_scene(scene, prompt=PROMPT, seed=2, compositor=False, object_prompts=PROMPTS, objects=["Sphere"])
    assert any(idref.KEY_UID in o for o in bpy.data.objects if o.name != "Sphere")  # named, so given an id
    writeback.remove_result(scene)
    assert [o.name for o in bpy.data.objects if idref.KEY_UID in o] == []


def test_remove_keeps_the_ids_that_results_still_shown_name() -> None:
    """Removing one result leaves the stable id on an object another result still shown names (its Regenerate finds
    it by that id after a rename); removing that one too takes it off."""
    scene = small_scene((48, 36))
    api.texture_scene(scene, prompt=PROMPT, seed=2, compositor=False, object_prompts=PROMPTS, objects=["Wall"])
    sphere = bpy.data.objects["Sphere"]
    uid = sphere.get(idref.KEY_UID)
    assert uid is not None  # named by the wall's result (its object prompt, its view)
    scene.camera.location.x += 1.0
    bpy.context.view_layer.update()
    api.texture_scene(scene, prompt="gold", seed=3, compositor=False, objects=["Sphere"])
    writeback.remove_result(scene, [sphere])
    assert sphere.get(idref.KEY_UID) == uid
    writeback.remove_result(scene)
    assert [o.name for o in bpy.data.objects if idref.KEY_UID in o] == []
