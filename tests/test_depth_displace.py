# SPDX-License-Identifier: GPL-3.0-or-later
"""Displace mode by material displacement: node graph, subdivision, a tiny Cycles render, CLI and operator."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import tempfile
from pathlib import Path

import bpy
import numpy as np
import OpenEXR
import pytest

from depth_addon.blender.images import FAR_DEPTH
from depth_addon.blender.mesh.build import import_depth_map
from depth_addon.cli import import_depth as cli_import
from depth_addon.depth_import import pipeline

RNG = np.random.default_rng(5)


def smooth_depth(h: int = 64, w: int = 64) -> np.ndarray:
    """A tilted, gently waved surface 3–5.5 m away (no jumps: a relief plane can show it exactly)."""
    i, j = np.mgrid[0:h, 0:w].astype(np.float32)
    return 3.0 + 2.0 * i / (h - 1) + 0.5 * np.sin(j / 10.0)


def displacement_method(material: bpy.types.Material) -> str:
    """The material's displacement method wherever this Blender keeps it."""
    return getattr(material, "displacement_method", None) or material.cycles.displacement_method


def linked_from(socket: bpy.types.NodeSocket) -> bpy.types.Node:
    assert socket.is_linked, socket.name
    return socket.links[0].from_node


def test_material_displacement_graph_and_plane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "plane_step", lambda w, h: 8)
    depth = smooth_depth()
    depth[40:, 50:] = np.nan  # a hole: the coarse faces over it are dropped
    result = import_depth_map(depth, RNG.random((64, 64, 3)), mode="displace", displace_method="material",
                              fov=40.0)
    ob, mat = result.object, result.material
    assert result.texture is None and [m.type for m in ob.modifiers] == ["SUBSURF"]
    mod = ob.modifiers["Depth Subdivision"]
    assert mod.subdivision_type == "SIMPLE" and mod.render_levels == 3 and mod.levels == 1
    assert getattr(mod, "use_adaptive_subdivision", True)  # 5.0: adaptive; 4.x has no such option here
    assert displacement_method(mat) == "BOTH" and ob.data.materials[0] == mat
    out = next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    disp = linked_from(out.inputs["Displacement"])
    assert disp.bl_idname == "ShaderNodeDisplacement" and disp.space == "OBJECT"
    assert disp.inputs["Midlevel"].default_value == 0.0 and disp.inputs["Scale"].default_value == -1.0
    tex = linked_from(disp.inputs["Height"])
    assert tex.bl_idname == "ShaderNodeTexImage" and tex.image == result.depth_image
    mapping = linked_from(tex.inputs["Vector"])  # identity: nothing was cropped
    assert tuple(mapping.inputs["Scale"].default_value) == (1, 1, 1)
    assert not any(mapping.inputs["Location"].default_value)
    assert linked_from(mapping.inputs["Vector"]).uv_map == "UVMap"
    colour = linked_from(linked_from(out.inputs["Surface"]).inputs["Base Color"])
    assert colour.image == result.color_image  # the photo still colours the surface
    me = ob.data
    co = np.empty(3 * len(me.vertices), np.float32)
    me.vertices.foreach_get("co", co)
    assert np.all(co[2::3] == 0.0) and len(me.polygons) < 8 * 8  # flat, coarse, the hole's faces gone
    assert not me.validate(verbose=False)
    uv = np.empty(2 * len(me.loops), np.float32)
    me.uv_layers["UVMap"].uv.foreach_get("vector", uv)
    assert np.isclose(uv.min(), 0.5 / 64) and np.isclose(uv.max(), 1 - 0.5 / 64)
    px = np.empty(64 * 64 * 4, np.float32)
    result.depth_image.pixels.foreach_get(px)
    px = px.reshape(64, 64, 4)[::-1]  # row 0 = top again
    assert np.all(px[40:, 50:, :3] == FAR_DEPTH) and np.allclose(px[:40, :, 0], depth[:40], rtol=1e-6)
    info = json.loads(ob["depth_addon_import"])
    assert info["displace_method"] == "material" and info["subdivision_levels"] == 3


def render_z(scene: bpy.types.Scene, size: int) -> np.ndarray:
    """Cycles Z pass (1 sample, box filter) of the scene camera at ``size``², metres; background is 1e10."""
    scene.render.engine = "CYCLES"
    c = scene.cycles
    c.samples, c.use_denoising, c.device, c.pixel_filter_type, c.filter_width = 1, False, "CPU", "BOX", 0.01
    scene.render.resolution_x = scene.render.resolution_y = size
    bpy.context.view_layer.use_pass_z = True
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # 5.0: multilayer EXR only under this media type
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format, settings.color_depth, settings.exr_codec = "OPEN_EXR_MULTILAYER", "32", "NONE"
    with tempfile.TemporaryDirectory() as tmp:
        scene.render.filepath = os.path.join(tmp, "z.exr")
        bpy.ops.render.render(write_still=True)
        parts = OpenEXR.File(scene.render.filepath).parts
        return next(np.array(ch.pixels) for p in parts for k, ch in p.channels.items() if k.endswith("Depth.Z"))


def test_material_displacement_renders_the_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "plane_step", lambda w, h: 16)  # 4×4 faces, subdivided at render time
    result = import_depth_map(smooth_depth(), mode="displace", displace_method="material", fov=40.0,
                              tear_ratio=None)
    assert len(result.object.data.polygons) == 16
    z = render_z(bpy.context.scene, 16)
    u = (np.arange(16) + 0.5) * (64 / 16) - 0.5  # render pixel centres in depth-pixel coordinates
    expected = 3.0 + 2.0 * u[:, None] / 63 + 0.5 * np.sin(u[None, :] / 10.0)
    assert np.max(np.abs(z - expected) / expected) < 0.01  # the orthographic camera sees Z = depth
    tree = result.material.node_tree
    out = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    tree.links.remove(out.inputs["Displacement"].links[0])
    assert np.all(render_z(bpy.context.scene, 16) >= 1e9)  # undisplaced, the plane lies at the camera


def test_cli_and_options_take_the_method() -> None:
    parser = argparse.ArgumentParser()
    cli_import.add_parser(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    args = parser.parse_args(["import-depth", "d.exr", "--out", "x.blend", "--mode", "displace",
                              "--displace-method", "material"])
    assert cli_import.options_from_args(args).displace_method == "material"
    default = parser.parse_args(["import-depth", "d.exr", "--out", "x.blend"])
    assert cli_import.options_from_args(default).displace_method == "modifier"
    with pytest.raises(SystemExit):
        parser.parse_args(["import-depth", "d.exr", "--out", "x.blend", "--displace-method", "bump"])
    with pytest.raises(Exception, match="displace method"):
        pipeline.ImportOptions(displace_method="bump")


def test_operator_material_method(addon, tmp_path: Path) -> None:
    ops = importlib.import_module(f"{addon.__name__}.operators.import_ops")
    mine = [c for c in ops.classes if not c.is_registered]
    for cls in mine:
        bpy.utils.register_class(cls)
    try:
        np.save(tmp_path / "d.npy", smooth_depth(24, 32))
        assert bpy.ops.depth.import_depth_map(filepath=str(tmp_path / "d.npy"), mode="displace",
                                              displace_method="material") == {"FINISHED"}
        ob = bpy.data.objects["Depth d"]
        assert ob.modifiers[0].type == "SUBSURF" and displacement_method(ob.active_material) == "BOTH"
    finally:
        for cls in reversed(mine):
            bpy.utils.unregister_class(cls)
