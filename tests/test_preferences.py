# SPDX-License-Identifier: GPL-3.0-or-later
"""Add-on preferences: registration under the add-on's own name, values reaching the worker set-up, the
PyTorch folder and state, and persistence through ``userpref.blend`` across Blender sessions."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import bpy
import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = "DEPTH_ADDON_PREFS "


# Runs in a child Blender: enable the add-on under the name the tests use, then save or load preferences.
CHILD = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import bpy, addon_utils
name, mode, mark = "depth_addon_ext", sys.argv[2], sys.argv[3]
if mode == "load":
    # bpy 4.2 reloads icon textures in read_userpref and crashes without a GPU context: render once first.
    scene = bpy.context.scene
    scene.render.engine, scene.render.resolution_x, scene.render.resolution_y = "BLENDER_WORKBENCH", 4, 4
    bpy.ops.render.render()
    bpy.ops.wm.read_userpref()
addon_utils.enable(name, default_set=True)
prefs = bpy.context.preferences.addons[name].preferences
if mode == "save":
    prefs.device, prefs.worker_python, prefs.model_dir = "cpu", "/opt/py/bin/python3", "/models"
    bpy.ops.wm.save_userpref()
print(mark + json.dumps({"device": prefs.device, "worker_python": prefs.worker_python,
                         "model_dir": prefs.model_dir}), flush=True)
"""


def test_preferences_use_the_addon_name(addon) -> None:
    """The preferences are registered under the add-on's own (root package) name."""
    cls = addon.preferences.DepthAddonPreferences
    assert cls.is_registered and cls.bl_idname == addon.__name__ == addon.preferences.ADDON_ID


def test_round_trip_through_blender(addon, prefs) -> None:
    """Values set on the preferences read back through ``context.preferences.addons``."""
    prefs.device, prefs.worker_python, prefs.model_dir = "cuda", "/usr/bin/python3", "/models"
    again = bpy.context.preferences.addons[addon.__name__].preferences
    assert (again.device, again.worker_python, again.model_dir) == ("cuda", "/usr/bin/python3", "/models")
    assert again.backend in addon.depth_addon.generation.available_generators()


def test_preferences_reach_the_worker(addon, prefs) -> None:
    """Worker Python and device go into the worker configuration (the weights folders go with each request:
    ``test_ui.py``); empty Python means Blender's."""
    p = addon.depth_addon.app.setup
    assert p.worker_config().python == ""
    prefs.device, prefs.worker_python, prefs.model_dir = "mps", "/opt/py/bin/python3", "/models"
    config = p.worker_config()
    assert config.python == "/opt/py/bin/python3" and config.executable() == "/opt/py/bin/python3"
    assert config.env == {"DEPTH_ADDON_DEVICE": "mps"}
    assert config.command()[:2] == ["/opt/py/bin/python3", "-I"]


def test_scene_generator_overrides_the_default_backend(addon, prefs) -> None:
    """The scene's Generator field wins; when empty, the preferences' backend is used."""
    p = addon.depth_addon.app.setup
    assert p.generator_name(bpy.context) == prefs.backend
    bpy.context.scene.depth_addon.generator = "other"
    assert p.generator_name(bpy.context) == "other"


def test_without_an_addon_entry_defaults_apply(addon) -> None:
    """Registered without ``addon_utils`` (scripts), the code falls back to defaults instead of failing."""
    p = addon.depth_addon.app.setup
    if bpy.context.preferences.addons.get(p.ADDON_ID) is not None:
        pytest.skip("an add-on entry exists in this session")
    assert p.addon_prefs() is None
    assert p.worker_config().env == {"DEPTH_ADDON_DEVICE": "auto"}
    assert p.generator_name(bpy.context) == addon.depth_addon.generation.DEFAULT_GENERATOR


def test_torch_folder_and_state(addon, monkeypatch) -> None:
    """PyTorch goes into a folder under Blender's user extensions resources, handed to the worker once it
    exists; the PyTorch state finds it there first, else on ``sys.path``."""
    p = addon.depth_addon.app.setup
    site = Path(p.site_packages_dir(create=True))
    try:
        assert site.is_dir() and site.name == "site-packages"
        assert site.resolve().is_relative_to(Path(os.environ["BLENDER_USER_RESOURCES"]).resolve())
        assert str(site) in p.worker_config().paths
        state = p.torch_status(refresh=True)
        assert state["found"] and Path(state["where"]).resolve() != site.resolve()  # the venv's torch
        (site / "torch").mkdir()
        assert Path(p.torch_status(refresh=True)["where"]) == site
    finally:
        if (site / "torch").exists():
            (site / "torch").rmdir()
        site.rmdir()
        p.torch_status(refresh=True)


def _child(tmp_path: Path, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["BLENDER_USER_RESOURCES"] = str(tmp_path / "user")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "path"), mode, MARK], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    assert lines, f"{mode}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(lines[-1][len(MARK):])


def test_preferences_persist_across_sessions(tmp_path: Path) -> None:
    """Saved preferences come back in a new Blender session (saved to and read from ``userpref.blend``)."""
    (tmp_path / "path").mkdir()
    try:
        (tmp_path / "path" / "depth_addon_ext").symlink_to(ROOT, target_is_directory=True)
    except OSError as exc:
        pytest.skip(f"cannot make the add-on importable under a test name: {exc}")
    saved = _child(tmp_path, "save")
    assert (tmp_path / "user" / "config" / "userpref.blend").is_file()
    assert _child(tmp_path, "load") == saved == {"device": "cpu", "worker_python": "/opt/py/bin/python3",
                                                 "model_dir": "/models"}


def _wheel(folder: Path, name: str, version: str, source: str) -> Path:
    """A minimal pure-Python wheel (the install path is what is tested; a real PyTorch wheel is GBs)."""
    files = {f"{name}/__init__.py": source, f"{name}-{version}.dist-info/METADATA":
             f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
             "Tag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()}"
              f",{len(text.encode())}" for path, text in files.items()]
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join([*record, f"{name}-{version}.dist-info/RECORD,,"]) + "\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, text in files.items():
            zf.writestr(rel, text)
    return path


def test_install_from_local_wheels(addon, prefs, tmp_path: Path) -> None:
    """Install PyTorch from a folder of wheels (``--no-index --find-links``): no network, online access not
    needed; it lands in the extension's user folder, the state finds it there and the worker gets it."""
    p = addon.depth_addon.app.setup
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "torch", "0.0.1", "__version__ = '0.0.1'\n")
    prefs.wheel_dir = str(wheels)
    site = Path(p.site_packages_dir())
    try:
        assert bpy.ops.depth.install_torch() == {"FINISHED"}
        assert (site / "torch" / "__init__.py").is_file() and not (site / "torch-0.0.1.dist-info").is_symlink()
        state = p.torch_status()
        assert state["found"] and Path(state["where"]) == site
        assert str(site) in p.worker_config().paths
    finally:
        prefs.wheel_dir = ""
        shutil.rmtree(site, ignore_errors=True)
        p.torch_status(refresh=True)


def test_the_preferences_weights_folders_reach_every_request(addon, prefs, tmp_path) -> None:
    """Model Folder and Depth ControlNet (a base model without a controlnet component needs one) go with every
    request to the worker, which hands them to a generator that takes them (the diffusers backend)."""
    from depth_addon.generation.diffusers_backend import DiffusersGenerator
    from depth_addon.worker.params import GenerateParams
    from depth_addon.worker.server import _generate_kwargs

    prefs.model_dir, prefs.controlnet_dir = str(tmp_path / "sd15"), str(tmp_path / "depth cn" / "cn.safetensors")
    params = addon.operators.job_ops.job_params(bpy.context)
    assert params["model_dir"] == str(tmp_path / "sd15")
    assert params["controlnet_dir"] == str(tmp_path / "depth cn" / "cn.safetensors")
    request = GenerateParams.from_dict({"depth": "d.npy", "out_dir": str(tmp_path), **params})
    kwargs = _generate_kwargs(DiffusersGenerator(), request)
    assert kwargs["model_dir"] == params["model_dir"] and kwargs["controlnet_dir"] == params["controlnet_dir"]
