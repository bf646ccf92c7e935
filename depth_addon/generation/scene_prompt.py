# SPDX-License-Identifier: GPL-3.0-or-later
"""Prompts that name several materials: one phrase per material, each with optional target words (no bpy).

**Grammar.** A scene prompt is a list of *phrases*. Phrases are separated by ``,``, ``;``, ``/``, a line
break, or the words ``and``, ``on``, ``with``, ``plus``. A piece that names neither a style nor a target
(``black`` in ``black and white tiles``) is not a phrase of its own: it is joined to the next piece (or
to the previous one at the end), so colour lists stay together. Empty pieces (``"brick, , wood"``, a
lone comma) are kept as *empty phrases*: they are reported in :attr:`ScenePrompt.empty` and paint
nothing.

**A phrase** is a material plus the parts it is meant for, e.g. ``red brick walls``:

* its words in the vocabulary of :mod:`.prompt` (styles, colours, finishes) describe the material; when a
  phrase has several style words the *last* one wins, as the head of an English noun phrase
  (``mossy stone ground`` → stone; ``mossy`` is kept in :attr:`Phrase.modifiers`);
* its *target words* (:data:`TARGET_WORDS`, plural ``s`` dropped) say where it goes: ``wall`` (walls,
  facade, house, building), ``post`` (pillar, column, pole, beam, fence), ``ground`` (floor, terrain,
  path, road), ``roof`` (rooftop, ceiling), ``door``, ``window``, ``prop`` (object, furniture), ``box``,
  ``sphere``/``ball``, ``table``, ``stairs``. A phrase whose only style is a place (``grass``, ``lawn``,
  ``meadow``, ``turf``) and no target word targets ``ground`` as well;
* the words ``same``, ``matching``, ``uniform``, ``identical``, ``alike`` (:data:`~.prompt.SAMENESS`) ask every
  part of the phrase to share one palette entry, one colour (:attr:`Phrase.same`); without them neighbouring
  parts get different seeded entries of the material's palette;
* the words ``colourful``, ``colorful``, ``multicoloured``, ``multicolored``, ``rainbow``, ``varied``
  (:data:`~.prompt.VARIETY`) give the parts of the phrase clearly different hues (:attr:`Phrase.colourful`);
* every other word (any script: Cyrillic or CJK text never raises; emoji and other symbols count as words) is
  listed in :attr:`Phrase.unknown`.

A target word that the name of an object (or of its material or collection) holds *literally* wins over a
synonym: in ``wooden beams, metal fence`` an object called ``Fence`` takes ``metal fence``, though ``beam`` and
``fence`` are both ``post`` (:attr:`Phrase.target_words`).

:func:`parse_scene_prompt` returns the phrases; :mod:`.scene_assign` routes them to the parts of a scene.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .prompt import FILLER, SAMENESS, VARIETY, parse_prompt

#: Target word → canonical target (plural ``s`` is dropped before the lookup).
TARGET_WORDS: dict[str, str] = {
    "wall": "wall", "facade": "wall", "house": "wall", "building": "wall", "fence": "post",
    "post": "post", "pillar": "post", "column": "post", "pole": "post", "beam": "post", "trunk": "post",
    "ground": "ground", "floor": "ground", "terrain": "ground", "path": "ground", "road": "ground",
    "field": "ground", "earth": "ground", "yard": "ground", "plane": "ground",
    "roof": "roof", "rooftop": "roof", "ceiling": "roof", "tower": "roof",
    "door": "door", "window": "window", "prop": "prop", "object": "prop", "furniture": "prop",
    "box": "box", "cube": "box", "crate": "box", "sphere": "sphere", "ball": "sphere", "globe": "sphere",
    "table": "table", "stair": "stairs", "stairs": "stairs", "step": "stairs",
}
#: Style words that name a place as well as a material: a phrase with no target word goes to the ground.
PLACE_STYLES = frozenset({"grass", "lawn", "meadow", "turf"})
__all__ = ["SAMENESS", "TARGET_WORDS", "VARIETY", "Phrase", "ScenePrompt", "parse_phrase", "parse_scene_prompt",
           "target_key", "target_of", "typed_target"]
#: A word: letters and digits, or a run of symbols outside ASCII (emoji, CJK punctuation), which is an unknown word.
WORD = re.compile(r"\w+|[^\w\s\x00-\x7f]+")
_SPLIT = re.compile(r"[,;/\n]|\b(?:and|on|with|plus)\b", re.IGNORECASE)


def target_key(word: str) -> str | None:
    """The target word of :data:`TARGET_WORDS` that ``word`` is (case-insensitive, plural ``s``/``es`` dropped):
    ``Fences`` → ``fence``; None for other words.

    :param word: One word.
    """
    w = word.lower()
    for cand in (w, w[:-1] if w.endswith("s") else w, w[:-2] if w.endswith("es") else w):
        if cand in TARGET_WORDS:
            return cand
    return None


def target_of(word: str) -> str | None:
    """The canonical target of one word (case-insensitive, plural ``s``/``es`` dropped, synonyms), or None.

    :param word: One word.
    """
    key = target_key(word)
    return None if key is None else TARGET_WORDS[key]


@dataclass
class Phrase:
    """One material of a scene prompt and where it goes.

    :param text: The phrase as typed (trimmed).
    :param style: Canonical style (the last style word), or None.
    :param colours: Canonical colour words.
    :param finishes: Canonical finish words.
    :param targets: Canonical targets, in order of appearance.
    :param modifiers: Style words other than :attr:`style`.
    :param unknown: Words in no vocabulary (lower case, any script).
    :param same: The phrase asks its parts to share one palette entry.
    :param colourful: The phrase asks its parts for clearly different hues.
    :param target_words: The target words as typed (singular, lower case: ``beam``, ``fence``), in order.
    """

    text: str
    style: str | None = None
    colours: list[str] = field(default_factory=list)
    finishes: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    modifiers: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    same: bool = False
    colourful: bool = False
    target_words: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the phrase has no word at all."""
        return not WORD.search(self.text)

    @property
    def prompt(self) -> str:
        """The material as a single-material prompt for a generator (colours, finishes, the style, then ``same`` or
        ``colourful`` when asked)."""
        words = (self.colours + self.finishes + ([self.style] if self.style else []) + (["same"] if self.same else [])
                 + (["colourful"] if self.colourful else []))
        return " ".join(words) if words else self.text


@dataclass
class ScenePrompt:
    """A parsed scene prompt.

    :param text: The prompt as typed.
    :param phrases: Non-empty phrases, in order.
    :param empty: Positions (in the split pieces) of empty phrases.
    """

    text: str
    phrases: list[Phrase] = field(default_factory=list)
    empty: list[int] = field(default_factory=list)

    @property
    def unknown(self) -> list[str]:
        """Unknown words of every phrase, without repeats."""
        return list(dict.fromkeys(w for p in self.phrases for w in p.unknown))

    @property
    def default(self) -> int | None:
        """Index of the phrase for parts no target matches: the first without targets, else the first; None
        without phrases."""
        if not self.phrases:
            return None
        return next((i for i, p in enumerate(self.phrases) if not p.targets), 0)

    @property
    def message(self) -> str:
        """One line per phrase for the UI, then the empty and unknown words."""
        lines = [f"{i + 1}: {p.prompt or '-'}" + (f" -> {', '.join(p.targets)}" if p.targets else " (default)"
                                                     if i == self.default else "") for i, p in enumerate(self.phrases)]
        if self.empty:
            lines.append(empty_message(self))
        if self.unknown:
            lines.append(f"unknown words (no effect): {', '.join(self.unknown)}")
        return "\n".join(lines)


def parse_phrase(text: str) -> Phrase:
    """Parse one phrase: material words through :func:`~.prompt.parse_prompt`, target words, unknown words.

    :param text: One phrase.
    """
    phrase = Phrase(text.strip())
    words = [w.lower() for w in WORD.findall(text) if not w.isdigit()]
    material = []
    for w in words:
        key = target_key(w)
        if key is not None:
            if TARGET_WORDS[key] not in phrase.targets:
                phrase.targets.append(TARGET_WORDS[key])
            if key not in phrase.target_words:
                phrase.target_words.append(key)
        elif w in SAMENESS:
            phrase.same = True
        elif w in VARIETY:
            phrase.colourful = True
        elif w.isascii() and w.isalpha():
            material.append(w)
        elif w not in phrase.unknown:
            phrase.unknown.append(w)
    report = parse_prompt(" ".join(material), router=False)
    if report.styles:
        phrase.style, phrase.modifiers = report.styles[-1], report.styles[:-1]
    phrase.colours, phrase.finishes = report.colours, report.finishes
    phrase.unknown += [w for w in report.unknown if w not in phrase.unknown]
    if not phrase.targets and any(w in PLACE_STYLES or w.rstrip("s") in PLACE_STYLES for w in material):
        phrase.targets.append("ground")
    return phrase


def typed_target(text: str, target: str) -> str:
    """The word the phrase ``text`` names ``target`` with, as typed (singular): ``ball`` for ``sphere`` in ``red
    ball``; ``target`` itself when no word of the phrase names it (``ground`` of ``grass``).

    :param text: The phrase.
    :param target: One of its canonical targets (:attr:`Phrase.targets`).
    """
    return next((w for w in parse_phrase(text).target_words if TARGET_WORDS[w] == target), target)


def _meaningful(phrase: Phrase) -> bool:
    return bool(phrase.style or phrase.targets)


def parse_scene_prompt(text: str | None) -> ScenePrompt:
    """Split a prompt into material phrases (see the module docstring for the grammar).

    :param text: Free text; None or empty gives no phrases.
    :return: The parsed prompt; never raises on any text.
    """
    text = text or ""
    pieces = [p for p in _SPLIT.split(text) if p is not None]
    result = ScenePrompt(text)
    if not WORD.search(text):  # nothing but separators ("," or ", ,"): one empty phrase, not one per comma
        result.empty = [0] if re.search(r"[,;/\n]", text) else []
        return result
    pending = ""
    for pos, piece in enumerate(pieces):
        if not WORD.search(piece) or all(w.lower() in FILLER for w in WORD.findall(piece)):
            if re.search(r"[,;/\n]", text) and not WORD.search(piece):
                result.empty.append(pos)
            continue
        joined = f"{pending} {piece}".strip()
        phrase = parse_phrase(joined)
        if _meaningful(phrase):
            result.phrases.append(phrase)
            pending = ""
        else:
            pending = joined
    if pending:
        if result.phrases:
            last = result.phrases.pop()
            result.phrases.append(parse_phrase(f"{last.text} {pending}"))
        else:
            result.phrases.append(parse_phrase(pending))
    return result


def empty_message(scene: ScenePrompt, whose: str = "the prompt") -> str:
    """One line on the empty phrases of ``scene`` (a lone comma, or nothing between commas).

    :param scene: A parsed prompt with :attr:`ScenePrompt.empty` phrases.
    :param whose: What the prompt is, for the message (``the prompt``, ``the prompt of 'Wall'``).
    """
    if not scene.phrases:
        return f"{whose} {scene.text.strip()!r} has no words (an empty phrase): it names no material"
    count = len(scene.empty)
    return (f"{count} empty phrase{'s' if count > 1 else ''} in {whose} (a lone comma, or nothing between commas): "
            "ignored")
