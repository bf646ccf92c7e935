# SPDX-License-Identifier: GPL-3.0-or-later
"""The embedded model: analytic layer, appearance network, checkpoint safety, prompt vocabulary."""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput, ModelUnavailable
from depth_addon.generation import get_generator
from depth_addon.generation.analytic import AnalyticGenerator, gbuffer
from depth_addon.generation.embedded import EmbeddedGenerator, run_tiled
from depth_addon.generation.model import DEFAULT_WEIGHTS, AppearanceNet, load_checkpoint, predict, sha256_file
from depth_addon.generation.netnp import load_numpy, predict_numpy
from depth_addon.generation.prompt import parse_prompt

ROOT = Path(__file__).resolve().parents[1]


def ground_box(width: int = 96, height: int = 96, box: bool = True) -> tuple[np.ndarray, CameraModel]:
    """A grazing ground plane (y = -1.5) and optionally a box face at depth 4 (50° camera)."""
    cam = CameraModel.from_fov(width, height, 50.0)
    x, y = cam.pixel_plane_coords()
    xs, ys = np.meshgrid(x, y)
    with np.errstate(divide="ignore"):
        t = np.where(ys < 0, -1.5 / ys, np.inf)
    t = np.where(t <= 80.0, t, np.inf)
    on_box = (np.abs(4 * xs) <= 1.0) & (4 * ys >= -1.5) & (4 * ys <= 0.5) & box
    return np.where(on_box, 4.0, t).astype(np.float32), cam


def test_analytic_edges_at_discontinuities_not_on_grazing_plane():
    depth, cam = ground_box()
    g = gbuffer(depth, np.isfinite(depth), cam, "stone", 0)
    edges = g.edges
    cols = np.where(np.isfinite(depth[60]) & (depth[60] == 4.0))[0]
    assert edges[:, cols[0] - 1: cols[0] + 2].any()  # box silhouette against the ground
    plane, cam = ground_box(box=False)
    gp = gbuffer(plane, np.isfinite(plane), cam, "stone", 0)
    assert not gp.edges[60:].any()  # no false edges on the grazing plane


def test_analytic_deterministic_and_seeded():
    depth, cam = ground_box()
    gen = AnalyticGenerator()
    a = gen.generate(depth, prompt="brick", seed=1, camera=cam)
    b = gen.generate(depth, prompt="brick", seed=1, camera=cam)
    c = gen.generate(depth, prompt="brick", seed=2, camera=cam)
    assert a.shape == (96, 96, 3) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 0.01


def test_embedded_shape_dtype_determinism_and_odd_sizes():
    depth, cam = ground_box()
    gen = EmbeddedGenerator()
    a = gen.generate(depth, prompt="wood", seed=5, camera=cam)
    b = gen.generate(depth, prompt="wood", seed=5, camera=cam)
    c = gen.generate(depth, prompt="wood", seed=6, camera=cam)
    assert a.shape == (96, 96, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 0.005
    odd = gen.generate(depth, prompt="wood", seed=5, size=(61, 97))
    assert odd.shape == (97, 61, 3) and np.isfinite(odd).all()


def test_preview_is_the_analytic_image_before_the_network():
    depth, cam = ground_box(64, 48)
    seen = []
    final = EmbeddedGenerator().generate(depth, prompt="brick", seed=2, camera=cam,
                                         preview=lambda rgb, fraction: seen.append((rgb, fraction)))
    assert len(seen) == 1 and seen[0][1] == 0.5
    rgb = seen[0][0]
    assert rgb.shape == final.shape and rgb.dtype == np.float32 and 0 <= rgb.min() and rgb.max() <= 1
    assert not np.array_equal(rgb, final)  # the network changes the analytic image


def test_predict_pads_to_stride_and_crops():
    feats = torch.rand(13, 97, 61)
    assert predict(load_checkpoint(), feats, torch.zeros(1, 11)).shape == (3, 97, 61)
    out = predict_numpy(load_numpy(), feats.numpy(), np.zeros(11, np.float32))
    assert out.shape == (3, 97, 61) and out.dtype == np.float32


def test_tiles_blend_without_seams():
    net = load_numpy()
    feats = np.random.default_rng(0).random((13, 160, 256), dtype=np.float32) * 0.5
    cond = np.zeros(11, np.float32)
    whole = predict_numpy(net, feats, cond)
    tiled = run_tiled(lambda f: predict_numpy(net, f, cond), feats, tile=128, overlap=32)
    assert tiled.shape == whole.shape
    step = np.abs(tiled[:, :, 95:97] - tiled[:, :, 94:96]).mean()
    inner = np.abs(tiled[:, :, 40:42] - tiled[:, :, 39:41]).mean()
    assert step < 3 * inner + 1e-3  # no jump where tiles meet
    assert np.abs(tiled - whole).mean() < 0.05


def _copy_weights(tmp_path: Path) -> Path:
    dst = tmp_path / DEFAULT_WEIGHTS.name
    shutil.copy(DEFAULT_WEIGHTS, dst)
    shutil.copy(DEFAULT_WEIGHTS.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_shipped_weights_verify():
    record = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert sha256_file(DEFAULT_WEIGHTS) == record["sha256"]
    assert DEFAULT_WEIGHTS.stat().st_size <= 25 * 1024 * 1024
    assert isinstance(load_checkpoint(), AppearanceNet)
    model_md = ROOT / "MODEL.md"
    if model_md.exists():
        assert record["sha256"] in model_md.read_text()


def test_load_refuses_missing(tmp_path):
    with pytest.raises(ModelUnavailable, match="not found"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    path = _copy_weights(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelUnavailable, match="hash record"):
        load_checkpoint(path)


def test_load_refuses_wrong_hash_and_truncated(tmp_path):
    path = _copy_weights(tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="sha256"):
        load_checkpoint(path)
    path.write_bytes(DEFAULT_WEIGHTS.read_bytes()[:5000])
    with pytest.raises(BadInput, match="sha256"):
        load_checkpoint(path)
    record = json.loads(path.with_suffix(".json").read_text())
    record["sha256"] = sha256_file(path)  # a truncated file whose record was rewritten to match
    path.with_suffix(".json").write_text(json.dumps(record))
    with pytest.raises(BadInput, match="truncated"):
        load_checkpoint(path)


def test_load_refuses_pickle(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    path.with_suffix(".json").write_text(json.dumps({"sha256": sha256_file(path)}))
    with pytest.raises(BadInput, match="pickle"):
        load_checkpoint(path)
    pt = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, pt)
    with pytest.raises(BadInput, match="only .safetensors"):
        load_checkpoint(pt)


def test_prompt_reports_unknown_and_maps_synonyms():
    report = parse_prompt("Wooden planks with a glossy crimson finish, zorblax", router=False)
    assert report.styles == ["wood"] and report.colours == ["red"] and report.finishes == ["glossy"]
    assert report.unknown == ["finish", "zorblax"]
    assert "zorblax" in report.message
    assert parse_prompt("granite grey", router=False).styles == ["stone"]


def test_only_unknown_words_still_generates_and_reports():
    depth, cam = ground_box(64, 64)
    gen = EmbeddedGenerator()
    img = gen.generate(depth, prompt="qwxz vlorp", seed=0, camera=cam)
    assert img.shape == (64, 64, 3)
    assert gen.last_report.unknown == ["qwxz", "vlorp"]


def test_all_inf_depth_refused():
    with pytest.raises(BadInput, match="background"):
        EmbeddedGenerator().generate(np.full((16, 16), np.inf, np.float32))


def test_registry_names_and_torch_missing(monkeypatch):
    assert isinstance(get_generator("analytic"), AnalyticGenerator)
    default = get_generator("embedded")
    assert default.runtime == "auto" and default.active_runtime in ("opencv", "numpy")  # never torch by default
    assert get_generator("embedded", runtime="numpy").active_runtime == "numpy"
    assert get_generator("embedded", runtime="torch").runtime == "torch"
    monkeypatch.setitem(sys.modules, "torch", None)
    assert isinstance(get_generator("embedded"), EmbeddedGenerator)
    with pytest.raises(ModelUnavailable, match="pip install torch"):
        get_generator("embedded", runtime="torch")
    with pytest.raises(BadInput, match="runtime"):
        get_generator("embedded", runtime="onnx")
