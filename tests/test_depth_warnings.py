# SPDX-License-Identifier: GPL-3.0-or-later
"""What a depth render warns about reaches the user: instancers of every kind that draw nothing, named in
``meta['warnings']``, in ``render-depth`` and ``texture`` (stderr line, ``warning`` event, ``run.json``) and in
the operators' reports."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import analytic
import bpy
import depth_scenes
import pytest

from depth_addon.blender.depth.render import render_depth
from depth_addon.cli import main
from depth_addon.errors import BadInput

HIDDEN_ALL = "the instances of 'Empty' (collection 'Hidden') are all hidden from render"


def _hidden_collection(name: str) -> bpy.types.Collection:
    coll = bpy.data.collections.new(name)
    depth_scenes._cube(f"{name}Member", 0.4, (0.0, 0.0, 0.0), coll).hide_render = True
    return coll


def _vertex_instancer(name: str, location: tuple[float, float, float]) -> bpy.types.Object:
    """A mesh that instances its one child (hidden from render) on its vertices."""
    me = bpy.data.meshes.new(name)
    me.from_pydata([(0.0, 0.0, 0.0), (0.5, 0.0, 0.0)], [], [])
    parent = bpy.data.objects.new(name, me)
    parent.location, parent.instance_type = location, "VERTS"
    bpy.context.scene.collection.objects.link(parent)
    depth_scenes._cube(f"{name}Child", 0.3, (0.0, 0.0, 0.0)).parent = parent
    bpy.data.objects[f"{name}Child"].hide_render = True
    return parent


def _instancers_scene() -> bpy.types.Scene:
    """The analytic plane, and one instancer of each kind whose instances are all hidden from render."""
    scene = depth_scenes._base()
    empty = bpy.data.objects.new("Empty", None)
    empty.instance_type, empty.instance_collection = "COLLECTION", _hidden_collection("Hidden")
    scene.collection.objects.link(empty)
    _vertex_instancer("Verts", (0.0, 1.0, -5.0))
    points = bpy.data.objects.new("Scatter", bpy.data.meshes.new("Scatter"))
    points.data.from_pydata([(0.0, 0.0, -5.0)], [], [])
    scene.collection.objects.link(points)
    ng, info = depth_scenes.scatter_group("GeometryNodeCollectionInfo")
    info.inputs["Collection"].default_value = _hidden_collection("NodeSource")
    points.modifiers.new("GN", "NODES").node_group = ng
    bpy.ops.mesh.primitive_plane_add(size=1.0, location=(1.0, 0.0, -5.0))
    emitter = bpy.context.object
    emitter.name = "Emitter"
    ps = emitter.modifiers.new("Hair", "PARTICLE_SYSTEM").particle_system.settings
    ps.type, ps.count, ps.render_type = "HAIR", 3, "COLLECTION"
    ps.instance_collection = _hidden_collection("Particles")
    return scene


def test_every_kind_of_instancer_that_draws_nothing_is_named() -> None:
    scene = _instancers_scene()
    for engine in ("gpu", "cycles"):
        warnings = render_depth(scene, engine=engine).meta["warnings"]
        assert HIDDEN_ALL in warnings
        assert "the instances of 'Verts' (its children 'VertsChild') are all hidden from render" in warnings
        assert ("the instances of 'Scatter' (collection 'NodeSource' in geometry nodes 'GN') are all hidden from "
                "render") in warnings
        assert ("the instances of 'Emitter' (collection 'Particles' in particle system 'Hair') are all hidden "
                "from render") in warnings


def test_a_vertex_instancer_alone_is_named_when_nothing_renders() -> None:
    scene = depth_scenes._base()
    bpy.data.objects.remove(bpy.data.objects["Plane"])
    parent = _vertex_instancer("Verts", (0.0, 0.0, -5.0))
    parent.show_instancer_for_render = False  # the viewport still shows it: only a render tells nothing is left
    with pytest.raises(BadInput, match=r"no renderable geometry: the instances of 'Verts' \(its children"):
        render_depth(scene, engine="auto")


@pytest.fixture
def hidden_blend(tmp_path: Path) -> Path:
    """The analytic scene (32×24) and an empty instancing a collection whose one member is hidden from render."""
    scene = analytic.build(size=(32, 24))
    empty = bpy.data.objects.new("Empty", None)
    empty.instance_type, empty.instance_collection = "COLLECTION", _hidden_collection("Hidden")
    scene.collection.objects.link(empty)
    path = tmp_path / "hidden.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


def _warnings(capsys) -> tuple[list[str], str]:
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "done", events[-1]
    return [e["message"] for e in events if e["event"] == "warning"], err


def test_render_depth_command_warns_once(hidden_blend: Path, tmp_out: Path, capsys) -> None:
    code = main(["--json", "render-depth", "--blend", str(hidden_blend), "--out", str(tmp_out / "d.exr"),
                 "--frames", "1-2"])
    warnings, err = _warnings(capsys)
    assert code == 0 and warnings == [HIDDEN_ALL], "one warning for the two frames"
    assert f"warning: {HIDDEN_ALL}" in err


def test_texture_command_warns_and_records(hidden_blend: Path, tmp_out: Path, capsys) -> None:
    code = main(["--json", "texture", "--blend", str(hidden_blend), "--out-dir", str(tmp_out), "--prompt", "brick"])
    warnings, err = _warnings(capsys)
    assert code == 0 and HIDDEN_ALL in warnings and f"warning: {HIDDEN_ALL}" in err
    assert HIDDEN_ALL in json.loads((tmp_out / "run.json").read_text())["warnings"]
    code = main(["--json", "texture", "--blend", str(hidden_blend), "--prompt", "brick", "--dry-run"])
    assert code == 0 and _warnings(capsys)[0] == [HIDDEN_ALL], "a dry run says what the run will"


def test_render_depth_operator_reports_the_warnings(addon, hidden_blend: Path) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(hidden_blend))
    fake = SimpleNamespace(reports=[], engine="auto", write_files=False)
    fake.report = lambda kind, text: fake.reports.append((set(kind), text))
    assert addon.operators.depth_ops.DEPTH_OT_render_depth.execute(fake, bpy.context) == {"FINISHED"}
    assert ({"WARNING"}, HIDDEN_ALL) in fake.reports


def test_baked_texture_warns_too(hidden_blend: Path, tmp_out: Path, capsys) -> None:
    code = main(["--json", "texture", "--blend", str(hidden_blend), "--out-dir", str(tmp_out), "--prompt", "brick",
                 "--objects", "Box", "--views", "2", "--bake", "64", "--view-size", "32"])
    warnings, _err = _warnings(capsys)
    assert code == 0 and warnings.count(HIDDEN_ALL) == 1, "one warning for the two views"
    assert HIDDEN_ALL in json.loads((tmp_out / "run.json").read_text())["warnings"]


def test_a_failed_or_unbound_modifier_is_named_and_drawn_as_it_renders(tmp_path: Path, tmp_out: Path,
                                                                       capsys) -> None:
    """Cycles renders the mesh a failed modifier leaves (here: undeformed), so depth does too, with a warning."""
    scene = depth_scenes._base()
    ob = depth_scenes._cube("Cached", 1.0, (0.0, 0.0, -4.5))
    plain = render_depth(scene, engine="cycles").depth
    cache = ob.modifiers.new("Cache", "MESH_CACHE")
    cache.cache_format, cache.filepath = "PC2", str(tmp_path / "missing.pc2")
    failed = "modifier 'Cache' of 'Cached' failed to evaluate: "  # Blender's own message, where it can be read
    for engine in ("gpu", "cycles"):
        result = render_depth(scene, engine=engine)
        assert any(w.startswith(failed) for w in result.meta["warnings"]), engine
        assert abs(result.depth[15, 20] - plain[15, 20]) < 1e-4 * plain[15, 20], "the mesh as the render shows it"
    cache.show_viewport = False  # the viewport does not evaluate it: the missing file is found all the same
    warnings = render_depth(scene, engine="gpu").meta["warnings"]
    assert any("'Cache' of 'Cached' failed to evaluate: cache file" in w for w in warnings)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "cache.blend"), copy=True)
    ob.modifiers.remove(cache)
    assert "warnings" not in render_depth(scene, engine="gpu").meta
    ob.modifiers.new("Surface", "SURFACE_DEFORM").target = bpy.data.objects["Plane"]
    assert render_depth(scene, engine="gpu").meta["warnings"] == [
        "modifier 'Surface' of 'Cached' is not bound, so it leaves the mesh as it is (press Bind); the depth shows "
        "the mesh as a render does"]
    assert main(["--json", "render-depth", "--blend", str(tmp_path / "cache.blend"), "--out",
                 str(tmp_out / "d.exr")]) == 0
    assert any("'Cache' of 'Cached' failed to evaluate" in w for w in _warnings(capsys)[0])
