# SPDX-License-Identifier: GPL-3.0-or-later
"""Test set-up: real Blender (the ``bpy`` module), the add-on registered once, a fresh file per test.

There is one Blender per process, so isolation comes from resetting to an empty file before each
test (``read_homefile(use_empty=True)``, about 15 ms), not from new processes.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Keep the user's Blender config untouched: Blender reads this before it starts.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth_addon_user_"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402
import ui_harness  # noqa: E402

EXT_NAME = "depth_addon_ext"


def load_extension_module():
    """Import the repository root as a package (as Blender does for an installed extension)."""
    if EXT_NAME in sys.modules:
        return sys.modules[EXT_NAME]
    spec = importlib.util.spec_from_file_location(
        EXT_NAME, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[EXT_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(EXT_NAME, None)
        raise
    return module


@pytest.fixture(scope="session")
def addon():
    """The add-on module, registered for the whole session."""
    module = load_extension_module()
    module.register()
    yield module
    module.unregister()


@pytest.fixture(autouse=True)
def fresh_file():
    """Start every test from an empty Blender file."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    yield


@pytest.fixture
def prefs(addon):
    """The add-on's preferences, through a temporary add-on entry (:func:`ui_harness.prefs_entry`).

    Shared fixtures are defined here, not by wrapping ``ui_harness`` functions in test modules: pytest
    keeps such a wrapped function past interpreter teardown, and with it its module's ``bpy``, which
    makes bpy 4.x crash (4.2) or hang (4.5) at exit.
    """
    yield from ui_harness.prefs_entry(addon)


@pytest.fixture
def worker_plugins(addon, monkeypatch):
    """The add-on's worker also loads the numpy-only test generators (:func:`ui_harness.with_test_generators`)."""
    yield from ui_harness.with_test_generators(addon, monkeypatch)


@pytest.fixture
def tmp_out(tmp_path):
    """A fresh output folder per test."""
    out = tmp_path / "out"
    out.mkdir()
    return out
