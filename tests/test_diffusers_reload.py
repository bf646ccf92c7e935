# SPDX-License-Identifier: GPL-3.0-or-later
"""Loading the diffusers model again (a larger size, other settings) with a tiny offline pipeline: the RAM check
counts only the memory the new weights will find, not the weights it lets go of."""

from __future__ import annotations

import gc
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import weakref
from pathlib import Path

import numpy as np
import pytest
from tiny_pipelines import build_sd15

from depth_addon.generation import diffusers_load as loader
from depth_addon.generation.diffusers_backend import BackendConfig, DiffusersGenerator, estimate_memory


@pytest.fixture(scope="module")
def sd15(tmp_path_factory) -> Path:
    """The tiny SD 1.5 + depth ControlNet pipeline, saved as a safetensors diffusers folder."""
    folder = tmp_path_factory.mktemp("diffusers_reload") / "sd15"
    build_sd15().save_pretrained(folder, safe_serialization=True)
    return folder


def test_a_reload_for_a_larger_size_is_not_refused_for_the_weights_it_replaces(sd15, monkeypatch) -> None:
    """RAM for one copy of the weights, not two (forced): a larger image reloads the model, and the old pipeline is
    freed before the RAM check even when only a reference cycle still reaches it (as an error's traceback can), so
    the reload is not refused for lack of memory the old weights held."""
    cfg = BackendConfig(model=str(sd15), steps=1)
    need = estimate_memory(cfg)["load_bytes"]
    gen = DiffusersGenerator(cfg)
    old: list[weakref.ref] = []
    budget = int(need * loader.MARGIN) + need // 4  # one copy fits, two do not

    def available() -> int:  # what the system reports: the budget less the weights still in memory
        return budget - sum(need for ref in old if ref() is not None)

    monkeypatch.setattr(loader, "available_bytes", available)
    depth = np.linspace(1.0, 5.0, 40 * 60, dtype=np.float32).reshape(40, 60)
    gen.generate(depth, seed=0)
    old.append(weakref.ref(gen.pipe))
    cycle: list = []
    cycle.append((cycle, gen.pipe))  # unreachable once dropped, freed only by a garbage collection
    del cycle
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic collection that would hide the difference part-way
    try:
        image = gen.generate(depth, seed=0, size=(528, 520))  # above the 512² planned for: loaded again
    finally:
        if was_enabled:
            gc.enable()
    assert image.shape == (520, 528, 3)
    assert old[0]() is None and gen.pipe is not None and gen._planned_pixels == 528 * 520
