# SPDX-License-Identifier: GPL-3.0-or-later
"""The zero-install runtimes of the embedded model: OpenCV and numpy agree with the torch reference; no torch import."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput, ModelUnavailable
from depth_addon.generation import checkpoint
from depth_addon.generation.checkpoint import DEFAULT_WEIGHTS, sha256_file
from depth_addon.generation.embedded import EmbeddedGenerator, run_tiled
from depth_addon.generation.netnp import condition, load_numpy
from depth_addon.generation.prompt import STYLES
from depth_addon.generation.runtime import load_runtime, predictor

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = ROOT / "data" / "test"
TOLERANCE = 1e-3  # max abs difference, linear RGB


def real_scenes(count: int = 6) -> list[tuple[np.ndarray, CameraModel, str]]:
    """Depth, camera and style of held-out renders (``data/test``), else of Blender scenes rendered here."""
    files = sorted(HELD_OUT.glob("*.npz"))[:count]
    if files:
        out = []
        for f in files:
            d = np.load(f)
            h, w = d["depth"].shape
            out.append((d["depth"], CameraModel(w, h, tuple(float(v) for v in d["frame"])), STYLES[int(d["style"])]))
        return out
    bpy = pytest.importorskip("bpy")
    import analytic
    import depth_scenes

    from depth_addon import api

    out = []
    builders = (lambda: analytic.build(size=(96, 72)), depth_scenes.modifiers, depth_scenes.collection_instance,
                depth_scenes.curve_text_metaball)
    for k, build in enumerate(builders):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        result = api.render_depth(build(), resolution=(96, 72))
        out.append((result.depth, result.camera, STYLES[k % len(STYLES)]))
    return out


@pytest.mark.parametrize("runtime", ["opencv", "numpy"])
def test_runtime_matches_torch_reference(runtime):
    pytest.importorskip("torch")
    if runtime == "opencv":
        pytest.importorskip("cv2")
    gen, torch_gen = EmbeddedGenerator(runtime=runtime), EmbeddedGenerator(runtime="torch")
    assert gen.active_runtime == runtime
    worst = 0.0
    for seed, (depth, cam, style) in enumerate(real_scenes()):
        a = gen.linear(depth, prompt=style, seed=seed, camera=cam)
        b = torch_gen.linear(depth, prompt=style, seed=seed, camera=cam)
        assert a.shape == b.shape and np.isfinite(a).all()
        worst = max(worst, float(np.abs(a - b).max()))
    assert worst <= TOLERANCE, f"{runtime} and torch runtimes differ by {worst:.2e}"


def test_painted_regions_agree_across_runtimes():
    """Per-pixel conditioning (a material per region, as scene prompts paint) gives the torch reference's image in
    the OpenCV runtime, whose FiLM maps are laid out channel first."""
    pytest.importorskip("torch")
    pytest.importorskip("cv2")
    depth, cam, _style = real_scenes()[0]
    segments = np.where(np.arange(depth.shape[1])[None, :] < depth.shape[1] // 2, 0, 1).astype(np.int32)
    segments = np.broadcast_to(segments, depth.shape).copy()
    regions = {"segments": segments, "segment_prompts": ["red brick", "oak wood"]}
    a = EmbeddedGenerator(runtime="opencv").linear(depth, prompt="brick", seed=3, camera=cam, **regions)
    b = EmbeddedGenerator(runtime="torch").linear(depth, prompt="brick", seed=3, camera=cam, **regions)
    assert np.abs(a - b).max() <= TOLERANCE


def test_tiles_and_odd_sizes_agree_across_runtimes():
    pytest.importorskip("cv2")
    net = load_numpy()
    feats = np.random.default_rng(4).random((13, 97, 150), dtype=np.float32)
    cond = condition(3, np.array([0.2, 0.9, 0.4]))
    cv_model, active, _ = load_runtime(net, "opencv")
    assert active == "opencv"
    a = run_tiled(predictor(cv_model, cond), feats, tile=64, overlap=16)
    b = run_tiled(predictor(net, cond), feats, tile=64, overlap=16)
    assert a.shape == (3, 97, 150) and float(np.abs(a - b).max()) <= TOLERANCE


def _run_blocked(blocked: tuple[str, ...], extra: str = "") -> str:
    """Run the three default generators in a fresh process where importing ``blocked`` fails; return its output."""
    code = (
        "import sys\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None\n"  # any `import name` now raises ImportError
        "import numpy as np\n"
        "from depth_addon.generation import get_generator\n"
        "depth = np.full((64, 80), 6.0, np.float32)\n"
        "depth[20:44, 20:50] = 3.0\n"
        "for name in ('embedded', 'analytic', 'baseline'):\n"
        "    img = get_generator(name).generate(depth, prompt='brick', seed=3)\n"
        "    assert img.shape == (64, 80, 3) and np.isfinite(img).all(), name\n"
        "assert all(sys.modules[name] is None for name in " + repr(blocked) + ")\n"
        "print(get_generator('embedded').describe())\n" + extra
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_default_path_never_imports_torch():
    out = _run_blocked(("torch",))
    expected = "opencv" if importlib.util.find_spec("cv2") else "numpy"
    assert out.strip().startswith(f"embedded model on the {expected} runtime")


def test_numpy_fallback_without_opencv():
    extra = (
        "from depth_addon.errors import ModelUnavailable\n"
        "try:\n"
        "    get_generator('embedded', runtime='opencv').model\n"
        "except ModelUnavailable as exc:\n"
        "    print('refused:', exc)\n"
    )
    out = _run_blocked(("torch", "cv2"), extra).splitlines()
    assert out[0].startswith("embedded model on the numpy runtime (OpenCV not available")
    assert out[1].startswith("refused: the opencv runtime cannot run the embedded model")


def _copy_weights(tmp_path: Path) -> Path:
    dst = tmp_path / DEFAULT_WEIGHTS.name
    shutil.copy(DEFAULT_WEIGHTS, dst)
    shutil.copy(DEFAULT_WEIGHTS.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_missing_weights_are_model_unavailable(tmp_path):
    with pytest.raises(ModelUnavailable, match="not found"):
        load_numpy(tmp_path / "nothing.safetensors")
    path = _copy_weights(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelUnavailable, match="hash record"):
        load_numpy(path)
    depth = np.full((32, 32), 4.0, np.float32)
    with pytest.raises(ModelUnavailable, match="not found"):
        EmbeddedGenerator(weights=tmp_path / "gone.safetensors").generate(depth)


def test_corrupt_and_truncated_weights_are_refused(tmp_path):
    path = _copy_weights(tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="sha256"):
        load_numpy(path)
    with pytest.raises(BadInput, match="sha256"):
        EmbeddedGenerator(weights=path).generate(np.full((32, 32), 4.0, np.float32))
    path.write_bytes(DEFAULT_WEIGHTS.read_bytes()[:5000])
    record = json.loads(path.with_suffix(".json").read_text())
    record["sha256"] = sha256_file(path)  # a truncated file whose record was rewritten to match
    path.with_suffix(".json").write_text(json.dumps(record))
    with pytest.raises(BadInput, match="truncated"):
        load_numpy(path)


def _retrained(path, _tmp_path, metadata_extra: dict | None = None, config: dict | None = None):
    """Rewrite ``path`` with random weights (and optional metadata), its record updated to match."""
    with safe_open(str(path), framework="np") as fh:
        meta = dict(fh.metadata() or {})
        tensors = {k: np.random.default_rng(0).standard_normal(fh.get_slice(k).get_shape()).astype(np.float16)
                   for k in fh.keys()}
    if config is not None:
        meta["config"] = json.dumps(config)
    save_file(tensors, str(path), metadata=meta | (metadata_extra or {}))
    record = json.loads(path.with_suffix(".json").read_text())
    record["sha256"] = sha256_file(path)
    path.with_suffix(".json").write_text(json.dumps(record))
    return path


def test_tampered_shipped_weights_are_refused_even_with_a_matching_record(tmp_path, monkeypatch):
    """The shipped file's hash is pinned in code: random weights with a rewritten record do not load."""
    path = _retrained(_copy_weights(tmp_path), tmp_path)
    monkeypatch.setattr(checkpoint, "DEFAULT_WEIGHTS", path)
    with pytest.raises(BadInput, match="shipped weights .* this release"):
        load_numpy(path)


def test_format_is_recognised_by_content(tmp_path):
    """A valid safetensors file loads whatever its header length's first byte is (0x80 included); a pickle or a
    zip named .safetensors is refused as what it is; a config declaring huge shapes is refused before reading."""
    for pad in range(0, 400, 7):  # header lengths with every low byte, 0x80 among them
        path = _retrained(_copy_weights(tmp_path), tmp_path, {"note": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    assert load_numpy(path).config.channels == (32, 48, 64, 96)
    fake = tmp_path / "pickled.safetensors"
    fake.write_bytes(b"\x80\x04\x95" + b"\0" * 64)
    with pytest.raises(BadInput, match="it is a pickle"):
        load_numpy(fake)
    fake.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(BadInput, match="zip archive"):
        load_numpy(fake)
    huge = _retrained(_copy_weights(tmp_path), tmp_path, config={"channels": [4096] * 4, "n_styles": 8,
                                                                  "bank_size": 256})
    with pytest.raises(BadInput, match="config out of range"):
        load_numpy(huge)
