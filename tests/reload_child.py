# SPDX-License-Identifier: GPL-3.0-or-later
"""Register, unregister and reload the extension over and over (run by ``tests/test_register.py`` in its own
process: the reloads must not touch the test process's modules).

Each cycle registers the extension, installs the depth handlers (as a first depth render does) and schedules a
live-preview refresh (a timer), then takes it down another way: unregister and register; unregister, reload
every module and register; unregister, import every module afresh and register; reload the modules that own
handlers and timers while registered, then unregister; import those afresh while registered, then unregister.
Prints one JSON line (after ``MARK``): per cycle our handlers while registered; at the end what is left after the
last unregister, and which exit hooks of ours ran how often when the exit functions are run (``atexit`` cannot
list them).

Usage: ``python reload_child.py ROOT MARK``
"""

import atexit
import importlib
import importlib.util
import json
import sys

import bpy

root, mark = sys.argv[1], sys.argv[2]
NAME = "depth_addon_reload"
HOOKED = ("blender.depth.cache", "blender.depth.gpu", "blender.depth.preview", "app.jobs", "app.packing")


def load():
    spec = importlib.util.spec_from_file_location(NAME, f"{root}/__init__.py", submodule_search_locations=[root])
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    spec.loader.exec_module(module)
    return module


def ours() -> list[str]:
    """Our entries of every ``bpy.app.handlers`` list, as ``list: module.name``."""
    found = []
    for name in dir(bpy.app.handlers):
        handlers = getattr(bpy.app.handlers, name)
        if isinstance(handlers, list):
            found += [f"{name}: {h.__module__}.{h.__qualname__}" for h in handlers
                      if getattr(h, "__module__", "").startswith(NAME + ".")]
    return sorted(found)


def sub(name: str):
    return sys.modules[f"{NAME}.depth_addon.{name}"]


timers = []  # every preview timer object seen: none may stay registered


def use(module) -> None:
    """What a session does: a depth render installs the cache handlers, a setting schedules the preview."""
    sub("blender.depth.cache").install_handlers()
    preview = sub("blender.depth.preview")
    bpy.context.scene.depth_addon.live_preview = True
    preview._state["scheduled"] = False
    preview.request_update(bpy.context.scene)
    timers.append(preview._TIMER)


ext = load()
cycles = []
for way in ("unregister", "reload", "fresh import", "reload while registered", "fresh import while registered",
            "unregister"):
    ext.register()
    use(ext)
    cycles.append({"way": way, "handlers": ours()})
    if way == "reload while registered":
        for name in HOOKED:
            importlib.reload(sub(name))
        use(ext)
    elif way == "fresh import while registered":
        for name in HOOKED:
            del sys.modules[f"{NAME}.depth_addon.{name}"]
            importlib.import_module(f"{NAME}.depth_addon.{name}")
        use(ext)
    ext.unregister()
    if way == "reload":
        for name in [n for n in list(sys.modules) if n.startswith(NAME + ".")]:
            importlib.reload(sys.modules[name])
        ext.__spec__.loader.exec_module(ext)  # importlib.reload, which finds no spec for a name not on sys.path
    elif way == "fresh import":
        for name in [n for n in list(sys.modules) if n == NAME or n.startswith(NAME + ".")]:
            del sys.modules[name]
        ext = load()
left = {"handlers": ours(), "timers": sum(bpy.app.timers.is_registered(t) for t in timers)}
ran: dict[str, int] = {}


def count_calls(frame, event, _arg):
    module = frame.f_globals.get("__name__", "")
    if event == "call" and module.startswith(NAME + ".") and frame.f_code.co_name in ("_at_exit", "release"):
        name = f"{module}.{frame.f_code.co_name}"
        ran[name] = ran.get(name, 0) + 1


sys.setprofile(count_calls)
atexit._run_exitfuncs()  # what the exit runs (then cleared)
sys.setprofile(None)
left["exit hooks run"] = ran
print(mark + json.dumps({"cycles": cycles, "left": left}), flush=True)
