# SPDX-License-Identifier: GPL-3.0-or-later
"""Route the phrases of a scene prompt to the parts of a scene (no bpy).

A *part* (:class:`Part`) is an object, or one material slot of an object, described by its names
(object, material, collections) and simple geometry: world bounding box, the area shares of its faces
that point up, sideways or up at a slope. The Blender side builds parts from the scene
(:mod:`depth_addon.blender.scene_parts`); everything here is plain Python.

:func:`assign` decides, for every part, in this order (the first rule that applies wins; the reason is
recorded in :attr:`Decision.reason`):

1. ``explicit``: the part's object has an entry in ``object_prompts`` (name → text);
2. ``name``: a word of the object's name is a target word of a phrase (:func:`~.scene_prompt.target_of`:
   case-insensitive, plurals and the synonym table, e.g. ``Column`` → ``post``); a word the phrase holds
   literally wins over a synonym of another phrase's (``Fence`` takes ``metal fence`` before ``wooden beams``);
3. ``material``: the same for the material's name. A material slot whose material names another phrase's target
   than its object's name takes that phrase before the object's: it names that part alone (an imported
   ``Building`` whose slots are ``Roof``, ``Door`` … is a wall only where no slot says otherwise);
4. ``collection``: the same for a collection's name;
5. ``role``: the part's geometric role (:data:`ROLE_RULES`) is a target of a phrase;
6. ``default``: the phrase without targets, else the first phrase (:attr:`~.scene_prompt.ScenePrompt.default`).

Geometric roles (:func:`role_of`), checked in this order; ``span`` is the largest horizontal extent of the
whole scene, ``height`` its vertical extent, ``floor``/``top`` its lowest and highest z:
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from .scene_prompt import TARGET_WORDS, ScenePrompt, target_key

#: (role, rule) in the order they are checked; the docstring of :func:`role_of` holds the thresholds.
ROLE_RULES: tuple[tuple[str, str], ...] = (
    ("ground", "large (horizontal extent ≥ 40 % of the scene's), faces up (≥ 50 % of the area), lowest "
               "(bottom within 10 % of the scene height of the scene's floor), flat (z extent ≤ 20 % of it)"),
    ("post", "tall and thin: z extent ≥ 2.5 × its largest horizontal extent"),
    ("wall", "large (largest extent ≥ 15 % of the scene's span), planar (thinnest extent ≤ 25 % of the largest), "
             "near-vertical (≥ 50 % of the area faces sideways)"),
    ("roof", "inclined (≥ 30 % of the area slopes up) and on top (its top within 25 % of the scene height of "
             "the scene's top)"),
    ("prop", "everything else"),
)
__doc__ += "\n".join(f"\n* ``{role}``: {rule}" for role, rule in ROLE_RULES)

REASONS = ("explicit", "name", "material", "collection", "role", "default")


@dataclass(frozen=True)
class Part:
    """An object, or one material slot of it, as the router sees it.

    :param object: Object name.
    :param material: Material name ("" for the whole object).
    :param collections: Names of the collections holding the object.
    :param lo: World bounding box minimum (x, y, z).
    :param hi: World bounding box maximum (x, y, z).
    :param up: Share of the area whose normal points up (z > 0.9).
    :param side: Share of the area facing sideways (|z| < 0.3).
    :param slope: Share of the area sloping up (0.3 ≤ z ≤ 0.9).
    """

    object: str
    material: str = ""
    collections: tuple[str, ...] = ()
    lo: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hi: tuple[float, float, float] = (0.0, 0.0, 0.0)
    up: float = 0.0
    side: float = 0.0
    slope: float = 0.0

    @property
    def key(self) -> str:
        """``object`` or ``object/material``."""
        return f"{self.object}/{self.material}" if self.material else self.object

    @property
    def size(self) -> tuple[float, float, float]:
        """Bounding box extents."""
        return tuple(h - lo for lo, h in zip(self.lo, self.hi, strict=True))


@dataclass
class Decision:
    """Which phrase a part gets, and why.

    :param part: :attr:`Part.key`.
    :param phrase: Index of the phrase, or -1 for an explicit prompt (or when there are no phrases).
    :param prompt: The single-material prompt the part is painted with.
    :param reason: One of :data:`REASONS`.
    :param detail: The word, name or role that decided.
    :param target: The phrase's target that the part matched (by name or role); "" for default. For an explicit
        prompt, the target its name or role would have matched without it ("" for none).
    :param routed: For an explicit prompt, the phrase its name or role would have given the part without it (with
        ``target``), else -1: a target only such parts match paints nothing (:func:`shadowed`).
    """

    part: str
    phrase: int
    prompt: str
    reason: str
    detail: str = ""
    target: str = ""
    routed: int = -1


@dataclass
class Assignment:
    """Every part's decision, in the order of the parts.

    :param decisions: One per part.
    :param unused: Indices of phrases no part received.
    :param unmatched: ``(phrase index, target)`` of the targets no part matched by name or role.
    :param shadowed: ``(phrase index, target)`` → the objects with their own prompt that alone match it
        (:func:`shadowed`).
    """

    decisions: list[Decision] = field(default_factory=list)
    unused: list[int] = field(default_factory=list)
    unmatched: list[tuple[int, str]] = field(default_factory=list)
    shadowed: dict[tuple[int, str], list[str]] = field(default_factory=dict)

    def prompts(self) -> dict[str, str]:
        """Part key → prompt."""
        return {d.part: d.prompt for d in self.decisions}

    def as_records(self) -> list[dict]:
        """JSON-friendly list for provenance and ``--dry-run``."""
        return [vars(d).copy() for d in self.decisions]


def name_words(name: str) -> list[str]:
    """The target words of :data:`~.scene_prompt.TARGET_WORDS` in ``name`` (``Wall.001``, ``fence_post``,
    ``StonePillar``), singular and lower case, as written (``Fences`` → ``fence``).

    :param name: An object, material or collection name.
    """
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[^\W\d_]+", name)
    return [k for k in (target_key(w) for w in words) if k]


def name_targets(name: str) -> list[str]:
    """Canonical targets named by the words of ``name`` (``Wall.001``, ``fence_post``, ``StonePillar``).

    :param name: An object, material or collection name.
    """
    return [TARGET_WORDS[k] for k in name_words(name)]


@dataclass(frozen=True)
class SceneBox:
    """The extent of the whole scene the roles are measured against.

    :param span: Largest horizontal extent.
    :param height: Vertical extent.
    :param floor: Lowest z.
    :param top: Highest z.
    """

    span: float
    height: float
    floor: float
    top: float

    @classmethod
    def of(cls, parts: list[Part]) -> SceneBox:
        """The box around ``parts``."""
        if not parts:
            return cls(1.0, 1.0, 0.0, 1.0)
        lo = [min(p.lo[i] for p in parts) for i in range(3)]
        hi = [max(p.hi[i] for p in parts) for i in range(3)]
        return cls(max(hi[0] - lo[0], hi[1] - lo[1], 1e-6), max(hi[2] - lo[2], 1e-6), lo[2], hi[2])


def role_of(part: Part, box: SceneBox) -> str:
    """The geometric role of ``part`` by :data:`ROLE_RULES` (``ground``, ``post``, ``wall``, ``roof``, ``prop``).

    :param part: The part.
    :param box: The scene's extent (:meth:`SceneBox.of`).
    """
    sx, sy, sz = part.size
    horizontal = max(sx, sy)
    if (horizontal >= 0.4 * box.span and part.up >= 0.5 and part.lo[2] <= box.floor + 0.1 * box.height
            and sz <= 0.2 * horizontal):
        return "ground"
    if sz >= 2.5 * max(horizontal, 1e-9):
        return "post"
    largest, thinnest = max(sx, sy, sz), min(sx, sy, sz)
    if largest >= 0.15 * box.span and thinnest <= 0.25 * largest and part.side >= 0.5:
        return "wall"
    if part.slope >= 0.3 and part.hi[2] >= box.top - 0.25 * box.height:
        return "roof"
    return "prop"


def _by_target(scene: ScenePrompt) -> tuple[dict[str, int], dict[str, int]]:
    """``(literal target word → phrase, canonical target → phrase)``; the first phrase naming one wins."""
    words: dict[str, int] = {}
    targets: dict[str, int] = {}
    for i, phrase in enumerate(scene.phrases):
        for word in phrase.target_words:
            words.setdefault(word, i)
        for target in phrase.targets:
            targets.setdefault(target, i)
    return words, targets


def _by_name(value: str, words: dict[str, int], targets: dict[str, int]) -> tuple[int, str, str] | None:
    """``(phrase, word, target)`` a name routes to: a phrase holding one of its words literally first, then a
    phrase holding a synonym; None when no word of the name is a target."""
    keys = name_words(value)
    for key in keys:
        if key in words:
            return words[key], key, TARGET_WORDS[key]
    for key in keys:
        if TARGET_WORDS[key] in targets:
            return targets[TARGET_WORDS[key]], key, TARGET_WORDS[key]
    return None


def _route(part: Part, scene: ScenePrompt, lookup: tuple[dict[str, int], dict[str, int]], box: SceneBox
           ) -> tuple[int, str, str, str]:
    """``(phrase, reason, detail, target)`` for a part without an explicit prompt."""
    names = (("name", (part.object,)), ("material", (part.material,)), ("collection", part.collections))
    slot = _by_name(part.material, *lookup) if part.material else None
    own = _by_name(part.object, *lookup)
    if slot is not None and own is not None and slot[0] != own[0]:  # the slot's own name tells that part alone
        return slot[0], "material", f"{part.material} -> {slot[2]}", slot[2]
    for reason, values in names:
        for value in values:
            hit = _by_name(value, *lookup)
            if hit is not None:
                return hit[0], reason, f"{value} -> {hit[2]}", hit[2]
    role = role_of(part, box)
    if role in lookup[1]:
        return lookup[1][role], "role", role, role
    default = scene.default
    return (-1 if default is None else default), "default", role, ""


def assign(scene: ScenePrompt, parts: list[Part], object_prompts: dict[str, str] | None = None) -> Assignment:
    """Give every part a phrase (see the module docstring for the order of the rules).

    :param scene: The parsed scene prompt (:func:`~.scene_prompt.parse_scene_prompt`).
    :param parts: The scene's parts.
    :param object_prompts: Object name → prompt; these objects keep their prompt whatever the routing says.
    :return: One decision per part, and the phrases nobody got.
    """
    object_prompts = object_prompts or {}
    lookup, box = _by_target(scene), SceneBox.of(parts)
    out = Assignment()
    for part in parts:
        index, reason, detail, target = _route(part, scene, lookup, box)
        if part.object in object_prompts:  # its prompt wins; what it would have matched is kept for the warnings
            out.decisions.append(Decision(part.key, -1, object_prompts[part.object], "explicit", part.object,
                                          target, index if target else -1))
            continue
        prompt = scene.phrases[index].prompt if index >= 0 else scene.text
        out.decisions.append(Decision(part.key, index, prompt, reason, detail, target))
    out.unused, out.unmatched = unreached(scene, out.decisions)
    out.shadowed = shadowed(out.decisions, out.unmatched)
    return out


def unreached(scene: ScenePrompt, decisions: list[Decision] | list[dict]) -> tuple[list[int], list[tuple[int, str]]]:
    """The phrases no decision gave out, and the ``(phrase, target)`` pairs no decision matched by name or role.

    :param scene: The parsed prompt.
    :param decisions: Decisions, or their records (:meth:`Assignment.as_records`): of the parts a view shows, say.
    """
    records = [d if isinstance(d, dict) else vars(d) for d in decisions]
    taken = [(_taken_phrase(scene, r), r.get("target", "")) for r in records]
    used = {phrase for phrase, _target in taken}
    matched = set(taken)
    unused = [i for i in range(len(scene.phrases)) if i not in used]
    unmatched = [(i, t) for i, p in enumerate(scene.phrases) for t in p.targets if (i, t) not in matched]
    return unused, unmatched


def _taken_phrase(scene: ScenePrompt, record: dict) -> int:
    """The phrase a decision paints with: its own, or for an explicit prompt that is the very material of the phrase
    its name or role routes it to (This Object Only keeps the material its phrase gave it), that phrase.

    :param scene: The parsed prompt.
    :param record: A decision's record.
    """
    routed = record.get("routed", -1)
    if record["phrase"] >= 0 or not 0 <= routed < len(scene.phrases):
        return record["phrase"]
    def words(text: str) -> list[str]:
        return str(text or "").lower().split()

    return routed if words(record.get("prompt", "")) == words(scene.phrases[routed].prompt) else record["phrase"]


def shadowed(decisions: list[Decision] | list[dict], unmatched: list[tuple[int, str]]
             ) -> dict[tuple[int, str], list[str]]:
    """The unmatched targets that objects with their own prompt match (by name or role): their prompts win, so
    the phrase paints none of them; ``(phrase, target)`` → those objects' names, in the order of ``decisions``.

    :param decisions: Decisions, or their records (:meth:`Assignment.as_records`).
    :param unmatched: ``(phrase, target)`` pairs no decision matched (:func:`unreached`).
    """
    wanted, out = set(unmatched), {}
    for record in (d if isinstance(d, dict) else vars(d) for d in decisions):
        key = (record.get("routed", -1), record.get("target", ""))
        if record["reason"] == "explicit" and key in wanted:
            names = out.setdefault(key, [])
            if record["detail"] not in names:
                names.append(record["detail"])
    return out


def bench_assign(n: int = 1000, repeat: int = 5) -> float:
    """Best time in milliseconds to assign ``n`` synthetic parts (a benchmark; nothing is asserted).

    :param n: Number of parts.
    :param repeat: Runs; the fastest counts.
    """
    from .scene_prompt import parse_scene_prompt

    scene = parse_scene_prompt("a red brick house on mossy stone ground, copper roof, wooden posts and marble")
    names = ("Wall.{:03d}", "Prop{}", "Pillar_{}", "Cube.{:03d}", "Thing{}")
    parts = [Part(names[i % 5].format(i), f"Mat{i % 7}", ("Set",), (i % 30, i % 17, 0.0),
                  (i % 30 + 1 + (i % 3), i % 17 + 0.2, 1.0 + (i % 5)), up=(i % 4) / 4, side=(i % 3) / 3)
             for i in range(n)]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        assign(scene, parts, {"Thing4": "gold metal"})
        best = min(best, time.perf_counter() - t)
    return best * 1000.0
