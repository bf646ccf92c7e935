# SPDX-License-Identifier: GPL-3.0-or-later
"""The zero-install runtime of the embedded model: numpy agrees with the torch reference, torch stays unloaded."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from depth_addon.camera import CameraModel
from depth_addon.errors import BadInput, ModelUnavailable
from depth_addon.generation.checkpoint import DEFAULT_WEIGHTS, sha256_file
from depth_addon.generation.embedded import EmbeddedGenerator
from depth_addon.generation.netnp import load_numpy
from depth_addon.generation.prompt import STYLES

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


def test_numpy_runtime_matches_torch_reference():
    pytest.importorskip("torch")
    np_gen, torch_gen = EmbeddedGenerator(), EmbeddedGenerator(runtime="torch")
    worst = 0.0
    for seed, (depth, cam, style) in enumerate(real_scenes()):
        a = np_gen.linear(depth, prompt=style, seed=seed, camera=cam)
        b = torch_gen.linear(depth, prompt=style, seed=seed, camera=cam)
        assert a.shape == b.shape and np.isfinite(a).all()
        worst = max(worst, float(np.abs(a - b).max()))
    assert worst <= TOLERANCE, f"numpy and torch runtimes differ by {worst:.2e}"


def test_default_path_never_imports_torch(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"  # any `import torch` now raises ImportError
        "import numpy as np\n"
        "from depth_addon.generation import get_generator\n"
        "depth = np.full((64, 80), 6.0, np.float32)\n"
        "depth[20:44, 20:50] = 3.0\n"
        "for name in ('embedded', 'analytic', 'baseline'):\n"
        "    img = get_generator(name).generate(depth, prompt='brick', seed=3)\n"
        "    assert img.shape == (64, 80, 3) and np.isfinite(img).all(), name\n"
        "assert sys.modules['torch'] is None\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


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
