# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender's glTF exporter and our results: a projection has no place in glTF, so a projected object exports without
it, with a warning that says to bake it; a baked object exports its textures as before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bpy
import pytest

from depth_addon import api
from depth_addon.app import writeback
from depth_addon.blender.demo_scene import build_demo_scene

ROOT = Path(__file__).resolve().parents[1]

#: Export ``names`` of a .blend to .gltf with Blender's glTF add-on and the add-on enabled as Blender has an installed
#: one (its root module in ``sys.modules``, an entry in the preferences), in a separate process (the glTF add-on stays
#: registered in this one otherwise, and bpy 4.5 then hangs at exit; bpy 4.2 may crash at exit after an export, so the
#: script says when it is done).
EXPORT_SCRIPT = """
import importlib.util, sys
import bpy
import addon_utils
root, blend, names, out = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("depth_addon_ext", root + "/__init__.py",
                                              submodule_search_locations=[root])
module = importlib.util.module_from_spec(spec)
sys.modules["depth_addon_ext"] = module
spec.loader.exec_module(module)
bpy.ops.wm.open_mainfile(filepath=blend)
entry = bpy.context.preferences.addons.new()
entry.module = "depth_addon_ext"
addon_utils.enable("io_scene_gltf2", default_set=False)
bpy.ops.object.select_all(action="DESELECT")
for name in names.split(","):
    bpy.data.objects[name].select_set(True)
bpy.ops.export_scene.gltf(filepath=out, use_selection=True, export_format="GLTF_SEPARATE")
bpy.context.preferences.addons.remove(entry)
print("EXPORTED", flush=True)
"""


def export_gltf(blend: Path, names: list[str], out: Path) -> tuple[dict, str]:
    """The exported glTF's JSON and what the export printed."""
    proc = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, str(ROOT), str(blend), ",".join(names), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert "EXPORTED" in proc.stdout and out.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text(encoding="utf-8")), proc.stdout + proc.stderr


TEXTURES = ("emissiveTexture", "normalTexture", "occlusionTexture")


def textures_of(material: dict) -> set[str]:
    pbr = material.get("pbrMetallicRoughness", {})
    return {k for k in TEXTURES if k in material} | {k for k in ("baseColorTexture", "metallicRoughnessTexture")
                                                     if k in pbr}


@pytest.mark.parametrize("maps", [False, True])
def test_a_projected_object_exports_without_its_projection_and_says_so(tmp_path, maps):
    """The exporter would write the projected image (or the projected maps, the height as the normal map) as
    textures read through UVs the projection never used, on a mesh that may have none: garbage, silently."""
    scene = build_demo_scene(bpy.context.scene, (64, 64))
    api.texture_scene(scene, prompt="red brick", seed=2, compositor=False, maps=maps)
    writeback.bake_projection(scene, [bpy.data.objects["Column"]], 32)  # baked: UV textures, exported as they are
    blend = tmp_path / "projected.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    gltf, printed = export_gltf(blend, ["Box", "Column"], tmp_path / "out.gltf")
    materials = {m["name"]: m for m in gltf["materials"]}
    box = materials["Box Material [Depth]"]
    assert not textures_of(box) and "emissiveFactor" not in box, box
    assert "material 'Box Material [Depth]' shows a camera projection" in printed
    assert "Bake it first" in printed
    baked = materials["Column [Depth Bake]"]
    assert textures_of(baked) == ({"baseColorTexture", "metallicRoughnessTexture", "normalTexture"} if maps
                                  else {"emissiveTexture"}), baked
    assert "'Column [Depth Bake]'" not in printed
    names = {i["name"] for i in gltf["images"]}
    assert all(n.startswith("Column") for n in names), names  # no projected image written beside the file
