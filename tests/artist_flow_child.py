# SPDX-License-Identifier: GPL-3.0-or-later
"""The artist's flow in a Blender as it ships (run by ``tests/test_artist_flow.py`` in its own process).

Installs the extension zip the way Preferences › Get Extensions › Install from Disk does, then on the
factory start-up scene and on the demo scene: Render Depth → Generate (in the worker) → Set Up Compositor
→ save → Regenerate → Remove Result. Optionally points the worker at another Python first. Prints one
JSON line (after ``MARK``) with what happened; every step records its name, so a failure says where.

Usage: ``python artist_flow_child.py ZIP OUT_DIR MARK [WORKER_PYTHON]``
"""

import importlib
import json
import sys
import time
import traceback
from pathlib import Path

zip_path, out_dir, mark = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
worker_python = sys.argv[4] if len(sys.argv) > 4 else ""
result: dict = {"steps": []}
MOD = "bl_ext.user_default.depth_addon"


def step(name: str) -> None:
    result["steps"].append(name)


def ours(bpy) -> list[str]:
    """Objects showing a projection or bake of ours."""
    wb = sys.modules[MOD + ".depth_addon.app.writeback"]
    return sorted(o.name for o in bpy.context.scene.objects if wb.is_ours(o))


def run_scene(bpy, name: str) -> dict:
    """The flow on one scene; returns what each step gave."""
    r: dict = {}
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 72, 100
    step(f"{name}: render depth")
    r["render_depth"] = sorted(bpy.ops.depth.render_depth(write_files=False))
    step(f"{name}: generate")
    t = time.perf_counter()
    r["generate"] = sorted(bpy.ops.depth.generate())
    r["generate_s"] = round(time.perf_counter() - t, 3)
    r["projected"] = ours(bpy)
    images = [i for i in bpy.data.images if i.name.startswith("Depth ") and i.get("depth_addon_provenance")]
    r["images"] = sorted(i.name for i in images)
    r["packed_before_save"] = all(i.packed_file is not None for i in images)
    step(f"{name}: compositor")
    r["compositor"] = sorted(bpy.ops.depth.setup_compositor())
    step(f"{name}: save")
    path = out_dir / f"{name}.blend"
    r["save"] = sorted(bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True))
    r["saved_bytes"] = path.stat().st_size
    r["packed"] = all(i.packed_file is not None for i in images)
    step(f"{name}: regenerate")
    target = bpy.data.objects[r["projected"][0]]
    bpy.context.view_layer.objects.active = target
    r["regenerate"] = sorted(bpy.ops.depth.regenerate(seed=7))
    step(f"{name}: remove")
    for obj in bpy.context.scene.objects:
        obj.select_set(False)
    r["remove"] = sorted(bpy.ops.depth.remove_result())
    r["left_after_remove"] = ours(bpy)
    return r


def main() -> None:
    import bpy

    step("install")
    result["install"] = sorted(bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True))
    result["torch_in_blender"] = "torch" in sys.modules
    if worker_python:
        bpy.context.preferences.addons[MOD].preferences.worker_python = worker_python
    step("factory scene")
    bpy.ops.wm.read_homefile(use_factory_startup=True)
    result["factory"] = run_scene(bpy, "factory")
    step("demo scene")
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    importlib.import_module(MOD + ".depth_addon.blender.demo_scene").build_demo_scene(bpy.context.scene)
    result["demo"] = run_scene(bpy, "demo")
    queue = sys.modules[MOD + ".depth_addon.app.jobs"].QUEUE
    result["worker_python"] = queue.client.config.python or sys.executable
    result["worker_versions"] = queue.client.ready.versions
    result["torch_in_blender_after"] = "torch" in sys.modules


try:
    main()
except BaseException as exc:  # report, never hang: the parent reads one line
    result["error"] = f"{type(exc).__name__}: {exc}"
    result["traceback"] = traceback.format_exc()[-3000:]
print(mark + json.dumps(result), flush=True)
