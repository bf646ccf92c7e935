# SPDX-License-Identifier: GPL-3.0-or-later
"""The records Regenerate reads for each object: an object of a projection repainted alone keeps its own seed and
prompt (the objects share one image, not one record)."""

from __future__ import annotations

import bpy
import numpy as np
from test_regenerate_one import PROMPT, small_scene

from depth_addon import api
from depth_addon.app import regenerate, writeback
from depth_addon.blender import images
from depth_addon.blender.writeback import provenance as provenance_props

PROMPTS = {"Sphere": "polished gold metal", "Wall": "blue marble"}


def own(name: str) -> tuple[int, str]:
    """The seed and own prompt of the record Regenerate reads for object ``name``."""
    record, _image = regenerate.find_record(bpy.data.objects[name])
    return record["seed"], regenerate._prompt_of(record, name)


def test_objects_of_a_projection_keep_their_own_seed_and_prompt_when_one_is_repainted() -> None:
    """The sphere repainted alone (seed 7), then the wall (seed 9): each shows its own seed and prompt, the others
    the seed they were painted with, and all of them every object's latest prompt. Removing the wall's result leaves
    the sphere's; the sphere regenerated alone from its record paints exactly what it showed; a whole regenerate
    gives every object the new record."""
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
    assert own("Sphere") == (7, "red velvet") and regenerate.find_record(bpy.data.objects["Sphere"])[1] == run.image
    regenerate.regenerate(bpy.data.objects["Sphere"], scene, only_this=True)  # its own seed and prompt again
    assert np.array_equal(images.array_from_image(run.image)[sphere], painted)
    whole = regenerate.regenerate(bpy.data.objects["Ground"], scene, seed=4)
    for name in ("Ground", "Post", "Sphere", "Cube.001"):
        assert provenance_props.KEY_PROVENANCE not in bpy.data.objects[name], name  # all repainted: one record
        record, image = regenerate.find_record(bpy.data.objects[name])
        assert image == whole and record["seed"] == 4 and record["options"]["object_prompts"]["Sphere"] == "red velvet"

