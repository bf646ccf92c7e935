# SPDX-License-Identifier: GPL-3.0-or-later
"""The real-Blender tier: the built zip in a Python that has only what Blender ships (``bpy`` and numpy).

The test venv has PyTorch; users' Blender does not. ``make test`` builds, once, a second environment with
only ``bpy`` and numpy at the versions of the test venv and names its Python in ``DEPTH_ADDON_BARE_PYTHON``.
There the zip is installed and the artist's flow runs headless on the factory scene and the demo scene
(``artist_flow_child.py``): Render Depth → Generate (in the worker) → Compositor → save → Regenerate →
Remove. Once more with the worker pointed at a Python that has PyTorch, as a ``diffusers``-ready set-up is.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("artist_flow_child.py")
MARK = "DEPTH_ADDON_ARTIST_FLOW "
BARE = os.environ.get("DEPTH_ADDON_BARE_PYTHON", "")


@pytest.fixture(scope="module")
def host_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This machine's extension zip, built once for the module."""
    spec = importlib.util.spec_from_file_location("depth_addon_build_for_flow", ROOT / "scripts" / "build_extension.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(platform.machine().lower())
    (path,) = build.build(out_dir=tmp_path_factory.mktemp("dist"), source_dir=ROOT,
                          platforms=[f"{platform.system().lower().replace('darwin', 'macos')}-{machine}"])
    return path


def _bare_python() -> str:
    if not BARE:
        pytest.skip("DEPTH_ADDON_BARE_PYTHON is not set: run through `make test`, which builds the bare environment")
    probe = subprocess.run([BARE, "-c", "import bpy, numpy, importlib.util as u; print(u.find_spec('torch') is None)"],
                           capture_output=True, text=True, timeout=120, env=_child_env())
    last = (probe.stdout.strip().splitlines() or [""])[-1]
    assert last == "True", f"the bare Python must have bpy and numpy but no torch: {probe.stdout}{probe.stderr}"
    return BARE


def _child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child Blender, less what ``bpy`` set in it here (``OCIO``: bpy 5.2+ then
    announces the colour config on stdout) and Python's own variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "OCIO"}
    return env | extra


def _flow(python: str, zip_path: Path, tmp_path: Path, *extra: str) -> dict:
    env = _child_env(BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    (tmp_path / "out").mkdir()
    proc = subprocess.run([python, "-I", str(CHILD), str(zip_path), str(tmp_path / "out"), MARK, *extra],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    assert lines, f"no result (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1][len(MARK):])
    assert "error" not in result, f"failed at {result['steps'][-1]!r}: {result['error']}\n{result.get('traceback')}"
    return result


def _check_scene(r: dict, objects: set[str]) -> None:
    assert r["render_depth"] == r["generate"] == r["compositor"] == r["save"] == ["FINISHED"], r
    assert set(r["projected"]) == objects and len(r["images"]) == 1, r
    assert r["packed"] and r["packed_before_save"], "generated pixels arrive packed (autosave keeps them) and stay so"
    assert r["saved_bytes"] > 10_000
    assert r["regenerate"] == r["remove"] == ["FINISHED"] and r["left_after_remove"] == [], r


def test_artist_flow_without_torch(host_zip: Path, tmp_path: Path) -> None:
    """Nothing to install: the zip alone renders, generates (worker in Blender's own Python), composites,
    saves, regenerates and removes, on the factory scene and on the demo scene; torch is never imported."""
    python = _bare_python()
    r = _flow(python, host_zip, tmp_path)
    assert r["install"] == ["FINISHED"] and not r["torch_in_blender"] and not r["torch_in_blender_after"]
    _check_scene(r["factory"], {"Cube"})
    _check_scene(r["demo"], {"Box", "Column", "Ground", "Sphere", "Wall"})
    assert Path(r["worker_python"]).resolve() == Path(python).resolve()
    assert Path(r["worker_versions"]["package"]).resolve().is_relative_to((tmp_path / "user").resolve())


def test_artist_flow_with_a_torch_worker(host_zip: Path, tmp_path: Path) -> None:
    """The same flow with the worker pointed at a Python that has PyTorch (a diffusers-ready set-up)."""
    pytest.importorskip("torch")
    r = _flow(_bare_python(), host_zip, tmp_path, sys.executable)
    assert not r["torch_in_blender_after"]
    _check_scene(r["factory"], {"Cube"})
    assert Path(r["worker_versions"]["executable"]).resolve() == Path(sys.executable).resolve()


def test_the_cli_in_a_blender_without_the_extension_says_what_is_missing(tmp_path: Path) -> None:
    """``blender -b --python scripts/depth_cli.py`` in a Blender whose Python lacks what the extension bundles: one
    line naming the module and how to get it, exit 3; no traceback."""
    proc = subprocess.run([_bare_python(), str(ROOT / "scripts" / "depth_cli.py"), "info"], capture_output=True,
                          text=True, timeout=300, env=_child_env(BLENDER_USER_RESOURCES=str(tmp_path / "user")))
    lines = [line for line in proc.stderr.splitlines() if line.startswith("depth_cli")]
    assert proc.returncode == 3 and len(lines) == 1 and "Install from Disk" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
