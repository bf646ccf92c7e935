# SPDX-License-Identifier: GPL-3.0-or-later
"""Asking for material maps: unknown map names are refused naming the maps, maps named that the generator cannot give
are refused naming the ones it gives, and ``maps=True`` with a generator that gives no relief warns which maps it gives
(its flat height map is never written without saying so)."""

from __future__ import annotations

import json

import bpy
import pytest
from test_multiview import block_scene

from depth_addon import api
from depth_addon.app import multiview as app_multiview
from depth_addon.blender.demo_scene import build_demo_scene
from depth_addon.errors import BadInput
from depth_addon.generation import generator_maps
from depth_addon.generation.maps import ESTIMATED, MAPS, check_maps

ALL = "albedo, roughness, metallic, normal, height"


def test_a_maps_request_is_checked() -> None:
    assert check_maps(True) == MAPS and check_maps(False) == () and check_maps(None) == ()
    assert check_maps("Height") == ("height",) and check_maps(["normal", "albedo"]) == ("albedo", "normal")
    with pytest.raises(BadInput, match=f"unknown maps 'sheen', 'displacement'; the maps are {ALL}"):
        check_maps(["sheen", "displacement"])
    with pytest.raises(BadInput, match="maps must be True, False or a list of map names"):
        check_maps([3])
    assert generator_maps("embedded") == MAPS and generator_maps("analytic") == MAPS
    assert generator_maps("baseline") == ESTIMATED and generator_maps("someone's plug-in") is None


def test_unknown_maps_and_maps_a_generator_cannot_give_are_refused_before_anything_is_made() -> None:
    scene = build_demo_scene(bpy.context.scene, (48, 48))
    images = len(bpy.data.images)
    with pytest.raises(BadInput, match=f"unknown maps 'sheen', 'displacement'; the maps are {ALL}"):
        api.texture_scene(scene, prompt="brick", maps=["sheen", "displacement"])
    with pytest.raises(BadInput, match="'baseline' generator cannot give the height map; it gives albedo, roughness, "
                                       "metallic; the embedded and analytic generators give every map"):
        api.texture_scene(scene, prompt="brick", maps="height", generator="baseline")
    with pytest.raises(BadInput, match="cannot give the normal or height maps"):
        api.texture_multiview(scene, prompt="brick", views=1, bake_size=32, view_size=48, maps=["normal", "height"],
                              generator="baseline")
    with pytest.raises(BadInput, match="unknown map 'sheen'"):
        api.texture_multiview(scene, prompt="brick", views=1, bake_size=32, view_size=48, maps=["sheen"])
    with pytest.raises(BadInput, match="maps must be True, False or a list of map names, got 3"):
        api.texture_scene(scene, prompt="brick", maps=3)
    assert len(bpy.data.images) == images  # refused before anything was generated
    run = api.texture_scene(scene, prompt="brick", maps=["albedo", "roughness"], generator="baseline",
                            compositor=False)
    assert bpy.data.images.get(f"{run.image.name} Albedo")  # maps it gives: made (every map, as the material needs)
    assert any("height map is flat" in n for n in run.notes)  # and the flat height it holds is said


def test_a_generator_without_relief_is_named_with_the_maps_it_gives() -> None:
    """``maps=True`` with the baseline generator: made (the relightable material needs every map), with a warning
    naming the maps it gives and saying its height map is flat; none for the embedded generator."""
    scene = build_demo_scene(bpy.context.scene, (48, 48))
    run = api.texture_scene(scene, prompt="brick", maps=True, generator="baseline", compositor=False)
    assert any("'baseline' generator gives no relief: it gives the albedo, roughness, metallic maps" in n
               and "height map is flat (all zero)" in n for n in run.notes), run.notes
    assert not api.texture_scene(scene, prompt="brick", maps=True, compositor=False).notes
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    block_scene()
    result = app_multiview.texture_multiview(bpy.context.scene, views=1, bake_size=32, view_size=48, maps=True,
                                             generator="baseline")
    assert any("the normal map baked from it" in w for w in result.warnings), result.warnings


def test_cli_bake_maps_with_baseline_warns_with_the_maps_it_gives(tmp_path, capsys) -> None:
    from depth_addon.cli import main as cli_main

    block_scene()
    blend = tmp_path / "block.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    out = tmp_path / "out"
    assert cli_main(["texture", "--blend", str(blend), "--views", "1", "--bake", "32", "--view-size", "48", "--maps",
                     "--generator", "baseline", "--prompt", "red brick", "--out-dir", str(out), "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    warned = [e["message"] for e in events if e["event"] == "warning"]
    assert any("it gives the albedo, roughness, metallic maps" in w for w in warned), warned
    assert any("it gives the albedo, roughness, metallic maps" in w for w in json.loads(
        (out / "run.json").read_text())["warnings"])


def test_no_relief_is_told_by_what_the_generator_gives_not_by_a_flat_result() -> None:
    """A generator that gives a height map is not said to give no relief when one result is flat (a flat material);
    one that gives none is, and one not known here is judged by its maps (a missing map is no crash)."""
    import numpy as np

    from depth_addon.app.flow import relief_notes

    flat, raised = np.zeros((4, 4), np.float32), np.full((4, 4), 0.01, np.float32)
    assert relief_notes("embedded", [flat], bake=False) == []
    assert "'baseline' generator gives no relief" in relief_notes("baseline", [raised], bake=True)[0]
    assert relief_notes("a-worker-plugin", [flat, None], bake=False)
    assert relief_notes("a-worker-plugin", [None, raised], bake=False) == []
