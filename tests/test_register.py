# SPDX-License-Identifier: GPL-3.0-or-later
"""Registration: the add-on registers and unregisters cleanly, twice in a row, leaving nothing behind.

The session ``addon`` fixture may already have registered the add-on in this process, so the test
first notes the state it finds and puts it back at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import bpy
from conftest import load_extension_module

SCENE_SETTINGS = "depth_addon"
#: Pointer properties the add-on adds: (type, attribute).
POINTERS = (("Scene", "depth_addon"), ("Scene", "depth_addon_generate"), ("WindowManager", "depth_addon_jobs"))


def operator_registered(bl_idname: str) -> bool:
    """Whether ``bpy.ops.<prefix>.<name>`` exists.

    ``hasattr(bpy.ops.prefix, name)`` is always true (the attribute is created on access), so this
    looks the name up in ``dir()``, which only lists registered operators.

    :param bl_idname: Operator id such as ``"depth.render_depth"``.
    """
    prefix, name = bl_idname.split(".")
    return name in dir(getattr(bpy.ops, prefix))


def _classes(module: ModuleType) -> tuple[type, ...]:
    return (*module.operators.classes, *module.panels.classes, *module.preferences.classes,
            *module.depth_addon.blender.props.classes)


def registration_state(module: ModuleType) -> dict[str, bool]:
    """Map each piece the add-on registers to whether it is registered now.

    :param module: The add-on module.
    """
    state = {f"{owner}.{attr}": attr in getattr(bpy.types, owner).bl_rna.properties for owner, attr in POINTERS}
    state["load_pre handler"] = module.jobs._on_load_pre in bpy.app.handlers.load_pre
    for cls in _classes(module):
        state[f"class {cls.__name__}"] = bool(cls.is_registered)
    for cls in module.operators.classes:
        state[f"bpy.ops.{cls.bl_idname}"] = operator_registered(cls.bl_idname)
    return state


def _assert_all(module: ModuleType, registered: bool) -> None:
    wrong = sorted(k for k, v in registration_state(module).items() if v is not registered)
    assert not wrong, f"expected {'registered' if registered else 'unregistered'}: {wrong}"


def test_operator_check_is_meaningful() -> None:
    """The operator check tells a missing operator from a present one."""
    assert operator_registered("wm.read_homefile")
    assert not operator_registered("depth.no_such_operator")


def test_addon_defines_operators() -> None:
    """The add-on has operators, all under ``depth.``, including the depth render."""
    module = load_extension_module()
    ids = [cls.bl_idname for cls in module.operators.classes]
    assert "depth.render_depth" in ids
    assert all(i.startswith("depth.") for i in ids), ids


def test_register_unregister_twice() -> None:
    """Register then unregister twice in a row without errors; everything appears and disappears each time."""
    module = load_extension_module()
    was_registered = SCENE_SETTINGS in bpy.types.Scene.bl_rna.properties
    if was_registered:
        module.unregister()
    try:
        _assert_all(module, registered=False)
        for _ in range(2):
            module.register()
            _assert_all(module, registered=True)
            settings = getattr(bpy.context.scene, SCENE_SETTINGS)
            assert isinstance(settings, bpy.types.PropertyGroup)
            texture_module = sys.modules[module.__name__ + ".depth_addon.app.texture"]
            pool = texture_module._pool()
            pool.submit(int).result()  # the helper thread of a texture run
            module.unregister()
            _assert_all(module, registered=False)
            assert not texture_module._THREAD and not any(t.is_alive() for t in pool._threads)  # stopped
    finally:
        if was_registered and SCENE_SETTINGS not in bpy.types.Scene.bl_rna.properties:
            module.register()


def test_reloading_leaves_one_of_each_hook_and_unregister_none(tmp_path) -> None:
    """Unregister/register, ``importlib.reload``, a fresh import, and a reload and a fresh import while registered
    (in a child process): each time exactly one of each app handler and exit hook of ours, and none left after
    unregister (handlers and exit hooks used to pile up: an earlier import's copy was not recognised as ours; a
    fresh import while registered made a second preview timer, which unregistering left)."""
    mark = "RELOAD-RESULT "
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "OCIO"}
    env["BLENDER_USER_RESOURCES"] = str(tmp_path / "user")
    child = Path(__file__).with_name("reload_child.py")
    proc = subprocess.run([sys.executable, "-I", str(child), str(Path(__file__).resolve().parents[1]), mark],
                          capture_output=True, text=True, timeout=300, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(mark)]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len(mark):])
    first = result["cycles"][0]
    assert len(first["handlers"]) == len(set(first["handlers"])) >= 7, first
    for cycle in result["cycles"]:
        assert cycle["handlers"] == first["handlers"], cycle
    depth = "depth_addon_reload.depth_addon.blender.depth."
    assert result["left"] == {"handlers": [], "timers": 0,
                              "exit hooks run": {depth + "cache._at_exit": 1, depth + "gpu.release": 1}}
