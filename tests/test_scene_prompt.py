# SPDX-License-Identifier: GPL-3.0-or-later
"""Scene prompts: phrases per material with targets, and their routing to the parts of a scene (no bpy)."""

from __future__ import annotations

from depth_addon.generation.scene_assign import ROLE_RULES, Part, SceneBox, assign, bench_assign, name_targets, role_of
from depth_addon.generation.scene_prompt import parse_scene_prompt, target_of


def _summary(text: str) -> list[tuple]:
    return [(p.style, p.colours, p.targets) for p in parse_scene_prompt(text).phrases]


def test_demo_prompt_splits_into_three_materials():
    assert _summary("brick walls, wooden posts and grass") == [
        ("brick", [], ["wall"]), ("wood", [], ["post"]), ("grass", [], ["ground"])]


def test_head_noun_wins_and_prepositions_split():
    scene = parse_scene_prompt("a red brick house on mossy stone ground, copper roof")
    assert _summary(scene.text) == [("brick", ["red"], ["wall"]), ("stone", [], ["ground"]),
                                    ("metal", ["copper"], ["roof"])]  # copper: the metal, and its colour
    assert scene.phrases[1].modifiers == ["grass"] and scene.unknown == []


def test_colour_lists_stay_together_and_sameness():
    assert _summary("black and white tiles") == [("tiles", ["black", "white"], [])]
    phrase = parse_scene_prompt("same shiny metal posts").phrases[0]
    assert phrase.same and phrase.finishes == ["glossy"] and phrase.prompt == "glossy metal same"


def test_empty_phrases_and_lone_comma_are_reported():
    assert parse_scene_prompt(",").phrases == [] and parse_scene_prompt(",").empty
    scene = parse_scene_prompt("brick, , wood")
    assert [p.style for p in scene.phrases] == ["brick", "wood"] and scene.empty == [1]
    assert parse_scene_prompt(None).phrases == [] and parse_scene_prompt("").default is None


def test_other_scripts_never_crash_and_are_reported():
    scene = parse_scene_prompt("кирпичные стены, 木の柱 and grass; zzzq")
    assert "стены" in scene.unknown and "木の柱" in scene.unknown and "zzzq" in scene.unknown
    assert scene.phrases[0].style == "grass"
    assert "unknown words" in scene.message


def test_target_words_plurals_synonyms_and_names():
    assert [target_of(w) for w in ("Walls", "pillars", "COLUMN", "floor", "roofs", "vase")] == [
        "wall", "post", "post", "ground", "roof", None]
    assert name_targets("Wall.001") == ["wall"] and name_targets("StonePillar") == ["post"]
    assert name_targets("fence_post") == ["post", "post"] and name_targets("Mesh.004") == []


def _demo_parts() -> list[Part]:
    return [Part("Ground", lo=(-10, -10, 0), hi=(10, 10, 0), up=1.0),
            Part("Box", lo=(-2.5, 0, 0), hi=(-0.5, 2, 2), up=0.17, side=0.66),
            Part("Column", lo=(-4.1, 8.4, 0), hi=(-2.9, 9.6, 5), side=0.9),
            Part("Wall", lo=(-3, 13.75, 0), hi=(5, 14.25, 4), up=0.1, side=0.8)]


def test_demo_assignment_by_names():
    out = assign(parse_scene_prompt("brick walls, wooden posts and grass"), _demo_parts())
    assert [(d.part, d.prompt, d.reason) for d in out.decisions] == [
        ("Ground", "grass", "name"), ("Box", "brick", "default"), ("Column", "wood", "name"),
        ("Wall", "brick", "name")]


def test_roles_from_geometry_when_names_say_nothing():
    parts = [Part(f"Mesh.{i}", lo=p.lo, hi=p.hi, up=p.up, side=p.side) for i, p in enumerate(_demo_parts())]
    parts.append(Part("Mesh.9", lo=(0, 0, 4), hi=(4, 4, 6), slope=0.8))
    box = SceneBox.of(parts)
    assert [role_of(p, box) for p in parts] == ["ground", "prop", "post", "wall", "roof"]
    out = assign(parse_scene_prompt("grass ground, pillars of oak, stone walls, tiled roof, marble"), parts)
    assert [(d.prompt, d.reason, d.detail) for d in out.decisions] == [
        ("grass", "role", "ground"), ("marble", "default", "prop"), ("wood", "role", "post"),
        ("stone", "role", "wall"), ("tiles", "role", "roof")]
    assert [r for r, _ in ROLE_RULES] == ["ground", "post", "wall", "roof", "prop"]


def test_material_collection_and_explicit_prompts():
    parts = [Part("Cube", "Roof Tiles"), Part("Cube", "Trim"), Part("Obj", collections=("Pillars",)),
             Part("Wall")]
    out = assign(parse_scene_prompt("copper roof, stone columns, plaster"), parts, {"Wall": "blue tiles"})
    assert [(d.part, d.prompt, d.reason) for d in out.decisions] == [
        ("Cube/Roof Tiles", "copper metal", "material"), ("Cube/Trim", "plaster", "default"),
        ("Obj", "stone", "collection"), ("Wall", "blue tiles", "explicit")]
    assert out.unused == [] and out.as_records()[0]["reason"] == "material"


def test_no_phrases_falls_back_to_the_whole_text():
    out = assign(parse_scene_prompt(","), [Part("A")])
    assert out.decisions[0].phrase == -1 and out.decisions[0].reason == "default"


def test_bench_assign_runs():
    assert bench_assign(50, repeat=1) >= 0.0


def test_a_literal_target_word_wins_over_a_synonym_of_another_phrase():
    """'beam' and 'fence' are both ``post``: the object called Fence takes 'metal fence', Beam 'wooden beams'."""
    scene = parse_scene_prompt("wooden beams, metal fence, grass")
    parts = [Part("Ground", lo=(-5, -5, 0), hi=(5, 5, 0), up=1.0), Part("Fence", lo=(-2, 0, 0), hi=(0, 0.1, 1)),
             Part("Beam", lo=(1, 0, 1.4), hi=(2, 0.2, 1.6)), Part("Pillar", lo=(3, 0, 0), hi=(3.2, 0.2, 2))]
    got = {d.part: (scene.phrases[d.phrase].text, d.reason) for d in assign(scene, parts).decisions}
    assert got["Fence"] == ("metal fence", "name") and got["Beam"] == ("wooden beams", "name")
    assert got["Pillar"][0] == "wooden beams"  # a synonym only: the first phrase holding the target
    assert assign(scene, parts).unused == [] and assign(scene, parts).unmatched == []


def test_targets_that_match_nothing_are_listed_even_for_a_single_phrase():
    parts = _demo_parts()
    single = assign(parse_scene_prompt("red brick roof"), parts)
    assert single.unused == [] and single.unmatched == [(0, "roof")]  # it paints everything, by default
    two = assign(parse_scene_prompt("brick walls, marble roof"), parts)
    assert two.unused == [1] and two.unmatched == [(1, "roof")]


def test_a_lone_comma_is_one_empty_phrase_and_symbols_are_unknown_words():
    from depth_addon.generation.scene_prompt import empty_message

    for text in (",", " , ,", ";"):
        scene = parse_scene_prompt(text)
        assert scene.phrases == [] and scene.empty == [0], text
        assert "no words" in empty_message(scene) and "phrases" not in scene.message
    scene = parse_scene_prompt("brick walls, 🌳🌳")
    assert scene.empty == [] and "🌳🌳" in scene.unknown and scene.phrases[0].style == "brick"
    assert parse_scene_prompt("🙂").unknown == ["🙂"] and parse_scene_prompt("🙂").empty == []


def test_colourful_and_sameness_are_words_of_the_grammar():
    from depth_addon.generation.prompt import parse_prompt

    for word in ("colourful", "colorful", "multicoloured"):
        phrase = parse_scene_prompt(f"{word} plaster boxes").phrases[0]
        assert phrase.colourful and not phrase.unknown and phrase.prompt == "plaster colourful", word
        assert parse_prompt(phrase.prompt).colourful and not parse_prompt(phrase.prompt).unknown
    same = parse_scene_prompt("identical plaster boxes").phrases[0]
    assert same.same and parse_prompt(same.prompt).same and not parse_prompt(same.prompt).unknown


def test_a_target_only_explicit_objects_match_is_told_apart() -> None:
    """A target whose only matches have their own prompt is unmatched (the phrase paints none of them), and
    :attr:`Assignment.shadowed` names those objects; a target nothing matches is not in it."""
    scene = parse_scene_prompt("brick walls, marble roof")
    parts = [Part("Wall"), Part("Wall.001", "Brick"), Part("Cube")]
    out = assign(scene, parts, {"Wall": "gold", "Wall.001": "tiles"})
    assert out.unmatched == [(0, "wall"), (1, "roof")]
    assert out.shadowed == {(0, "wall"): ["Wall", "Wall.001"]}
    assert [d["routed"] for d in out.as_records()] == [0, 0, -1]
