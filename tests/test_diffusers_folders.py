# SPDX-License-Identifier: GPL-3.0-or-later
"""Weights a user points the diffusers backend at by mistake: a single checkpoint file, a pickle, a file that is no
model, a ControlNet given as the base model and a base model given as the ControlNet. Each is refused before
anything is loaded, with one message naming the path, what it is and what is expected (a tiny offline pipeline)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
import shutil
from pathlib import Path

import pytest
from tiny_pipelines import build_sd15

from depth_addon.cli import main
from depth_addon.errors import ModelUnavailable
from depth_addon.generation.diffusers_backend import BackendConfig, DiffusersGenerator

PICKLE = b"\x80\x04K\x01."


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A base SD 1.5 folder without ControlNet, under a name with spaces and non-ASCII letters, and its ControlNet
    saved as a folder of its own, as a user's downloads look."""
    root = tmp_path_factory.mktemp("diffusers_folders")
    full = root / "full"
    build_sd15().save_pretrained(full, safe_serialization=True)
    base = shutil.copytree(full, root / "SD 1.5 modèle")
    shutil.rmtree(base / "controlnet")
    index = json.loads((base / "model_index.json").read_text(encoding="utf-8"))
    del index["controlnet"]
    (base / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    return {"full": full, "base": base, "controlnet": shutil.copytree(full / "controlnet", root / "depth cn")}


def _refused(match: str, **config: str) -> str:
    with pytest.raises(ModelUnavailable, match=match) as info:
        DiffusersGenerator(BackendConfig(steps=1, **config)).load()
    return str(info.value)


def test_a_file_given_as_the_model_folder_says_what_it_is(models, tmp_path) -> None:
    """A single-file checkpoint, a pickle and a file that is no model are named as what they are, with the folder
    that is expected (not "folder not found": the path is there)."""
    single = tmp_path / "v1-5 ü.safetensors"
    shutil.copy(models["full"] / "unet" / "diffusion_pytorch_model.safetensors", single)
    message = _refused("single-file checkpoint", model=str(single))
    assert str(single) in message and "model_index.json" in message and "not found" not in message
    (tmp_path / "v1-5-pruned.ckpt").write_bytes(PICKLE)
    message = _refused("pickle-based weights", model=str(tmp_path / "v1-5-pruned.ckpt"))
    assert str(tmp_path / "v1-5-pruned.ckpt") in message and "not found" not in message
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    message = _refused("is a file, not a diffusers model folder", model=str(tmp_path / "notes.txt"))
    assert "model_index.json" in message


def test_a_controlnet_and_a_base_model_swapped_are_named(models) -> None:
    """A ControlNet folder given as the base model, and a pipeline folder given as the ControlNet, say which is
    which instead of calling them no diffusers folder."""
    message = _refused("holds a ControlNet", model=str(models["controlnet"]))
    assert "model_index.json" in message and str(models["controlnet"]) in message
    message = _refused("is a pipeline folder", model=str(models["base"]), controlnet=str(models["full"]))
    assert "config.json" in message and str(models["full"]) in message


@pytest.mark.parametrize("name", ["control_v11f1p_sd15_depth.pth", "diffusion_pytorch_model.bin", "depth.ckpt"])
def test_a_pickle_controlnet_file_is_refused_as_a_pickle(models, tmp_path, name: str) -> None:
    """A ControlNet given as a pickle file is refused as one (it was "not a valid safetensors file" from the memory
    estimate, before the pickle check was reached), and never loaded."""
    net = tmp_path / name
    net.write_bytes(PICKLE)
    message = _refused("pickle-based weights", model=str(models["base"]), controlnet=str(net))
    assert str(net) in message and ".safetensors" in message


def test_a_file_that_is_no_controlnet_is_refused(models, tmp_path) -> None:
    (tmp_path / "readme.txt").write_text("hello", encoding="utf-8")
    _refused(r"refusing .*readme\.txt: only \.safetensors ControlNet files", model=str(models["base"]),
             controlnet=str(tmp_path / "readme.txt"))


def test_cli_names_the_checkpoint_file_in_one_line(models, tmp_path, monkeypatch, capsys) -> None:
    """Headless: exit 3 (model unavailable) and one line on stderr; the missing-model line says how to set one."""
    import numpy as np

    depth = np.full((16, 24), 3.0, np.float32)
    np.save(tmp_path / "depth.npy", depth)
    args = ["generate", str(tmp_path / "depth.npy"), "--out", str(tmp_path / "out.png"), "--generator", "diffusers"]
    (tmp_path / "model.ckpt").write_bytes(PICKLE)
    monkeypatch.setenv("DEPTH_ADDON_DIFFUSERS", json.dumps({"model": str(tmp_path / "model.ckpt")}))
    assert main(args) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pickle-based weights" in err and str(tmp_path / "model.ckpt") in err
    monkeypatch.delenv("DEPTH_ADDON_DIFFUSERS")
    assert main(args) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DEPTH_ADDON_DIFFUSERS" in err
    assert not (tmp_path / "out.png").exists()


def test_cli_loading_draws_no_progress_bar_on_stderr(models, tmp_path, monkeypatch, capfd) -> None:
    """Loading the weights draws no progress bar (diffusers and transformers drew theirs on stderr on every run), so
    stderr is kept for the one line of an error; the bars are back on for other code afterwards."""
    import diffusers
    import numpy as np
    import transformers

    np.save(tmp_path / "depth.npy", np.full((16, 24), 3.0, np.float32))
    monkeypatch.setenv("DEPTH_ADDON_DIFFUSERS", json.dumps({"model": str(models["base"]), "steps": 1,
                                                            "controlnet": str(models["controlnet"])}))
    capfd.readouterr()
    assert main(["generate", str(tmp_path / "depth.npy"), "--out", str(tmp_path / "out.png"), "--generator",
                 "diffusers"]) == 0
    err = capfd.readouterr().err
    assert "Loading" not in err and "it/s]" not in err, err
    assert diffusers.utils.logging.is_progress_bar_enabled() and transformers.utils.logging.is_progress_bar_enabled()


def test_a_fresh_run_writes_nothing_to_stderr(models, tmp_path) -> None:
    """A whole ``generate`` run with the diffusers backend, in a fresh process as a pipeline TD starts it, leaves
    stderr empty: no progress bars and no warnings of the libraries it loads (transformers warned once per process
    that its image processors want torchvision), so an error would be the one line there."""
    import subprocess
    import sys

    import numpy as np

    np.save(tmp_path / "depth.npy", np.full((16, 24), 3.0, np.float32))
    env = {**os.environ, "DEPTH_ADDON_DIFFUSERS": json.dumps({"model": str(models["full"]), "steps": 1})}
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, str(root / "scripts" / "depth_cli.py"), "generate", str(tmp_path / "depth.npy"),
               "--out", str(tmp_path / "out.png"), "--generator", "diffusers"]
    proc = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.png").is_file() and proc.stderr == "", proc.stderr


@pytest.mark.parametrize("setting, state", [
    ("", "unavailable: no diffusers model configured"),
    ("not json", "unavailable: DEPTH_ADDON_DIFFUSERS is not valid JSON"),
    ('{"model": "/nowhere/sd15"}', "unavailable: model folder not found: /nowhere/sd15"),
    ("full", "ok"),
])
def test_info_says_diffusers_can_run_only_with_its_model_in_place(models, monkeypatch, capsys, setting: str,
                                                                  state: str) -> None:
    """``info`` lists the generators that can run here: the diffusers backend needs a model as well as its packages,
    and a bad DEPTH_ADDON_DIFFUSERS is reported on its line, with the other generators still listed."""
    if setting == "full":
        setting = json.dumps({"model": str(models["full"])})
    monkeypatch.setenv("DEPTH_ADDON_DIFFUSERS", setting)
    assert main(["--json", "info"]) == 0
    done = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")][-1]
    assert done["generators"]["diffusers"].startswith(state), done["generators"]
    assert done["generators"]["embedded"] == "ok"
