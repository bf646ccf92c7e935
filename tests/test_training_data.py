# SPDX-License-Identifier: GPL-3.0-or-later
"""The training-data script renders valid, deterministic samples (tiny: 2 samples at 32², 4 spp)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _render(out: Path, *extra: str) -> list[dict]:
    cmd = [sys.executable, str(ROOT / "scripts" / "make_training_data.py"), "--out", str(out), "--count", "2",
           "--size", "32", "--samples", "4", "--seed", "7", "--threads", "1", *extra]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return [dict(np.load(p)) for p in sorted(out.glob("*.npz"))]


def test_training_data_valid_and_deterministic(tmp_path):
    first = _render(tmp_path / "a")
    second = _render(tmp_path / "b")
    assert len(first) == len(second) == 2
    for a, b in zip(first, second, strict=True):
        assert set(a) == {"depth", "normal", "label", "object", "rgb", "style", "light", "frame"}
        for key in a:
            assert np.array_equal(a[key], b[key]), key
        depth = a["depth"]
        assert depth.shape == (32, 32) and depth.dtype == np.float32
        finite = np.isfinite(depth)
        assert finite.any() and (depth[finite] > 0).all()
        assert a["rgb"].shape == (32, 32, 3) and a["rgb"].dtype == np.uint8
        assert 0 <= int(a["style"]) < 8
        assert (a["label"][~finite] == 0).all() and (a["label"][finite] > 0).all()
        n = a["normal"].astype(np.float32)[:, finite]
        assert abs(np.median(np.linalg.norm(n, axis=0)) - 1.0) < 0.05  # pass is filtered at silhouettes
        assert abs(np.linalg.norm(a["light"]) - 1.0) < 1e-4
    assert not np.array_equal(first[0]["rgb"], first[1]["rgb"])


def test_metric_patterns_keep_the_geometry(tmp_path):
    """``--metric`` sizes walls and boxes in their meshes: the same scenes (depth, labels, objects), other paint."""
    plain, metric = _render(tmp_path / "a"), _render(tmp_path / "b", "--metric")
    for a, b in zip(plain, metric, strict=True):
        finite = np.isfinite(a["depth"])
        assert np.array_equal(finite, np.isfinite(b["depth"]))
        assert np.allclose(a["depth"][finite], b["depth"][finite], rtol=1e-5)
        for key in ("label", "object", "style", "light", "frame"):
            assert np.array_equal(a[key], b[key]), key
    assert any(not np.array_equal(a["rgb"], b["rgb"]) for a, b in zip(plain, metric, strict=True))
