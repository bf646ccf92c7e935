# SPDX-License-Identifier: GPL-3.0-or-later
"""Test scenes for depth agreement: one feature each (modifiers, instances, curves, visibility …).

Every builder starts from :func:`analytic.build` (camera at the origin looking down −Z, tilted
plane behind) and puts its feature between the camera and the plane, about 3–6 m away.
"""

from __future__ import annotations

import analytic
import bmesh
import bpy
import numpy as np

from depth_addon.blender.depth import cache as depth_cache
from depth_addon.blender.depth.render import render_depth


def _cube(name: str, size: float = 1.0, location=(0.0, 0.0, -5.0), collection=None) -> bpy.types.Object:
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=size)
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    ob = bpy.data.objects.new(name, me)
    ob.location = location
    (collection or bpy.context.scene.collection).objects.link(ob)
    return ob


def _base() -> bpy.types.Scene:
    scene = analytic.build(size=(40, 30))
    bpy.data.objects.remove(bpy.data.objects["Box"])
    return scene


def modifiers() -> bpy.types.Scene:
    """A cube with Array and Subdivision Surface (same levels in viewport and render), and a mirrored cube."""
    scene = _base()
    mirrored = _cube("Mirrored", 0.8, (1.2, -1.2, -4.5))
    mirrored.scale, mirrored.rotation_euler = (-1.0, 1.0, 1.0), (0.4, 0.3, 0.0)  # negative scale flips winding
    ob = _cube("Modified", 1.0, (-1.0, 0.0, -5.0))
    arr = ob.modifiers.new("Array", "ARRAY")
    arr.count, arr.relative_offset_displace = 2, (1.5, 0.0, 0.0)
    sub = ob.modifiers.new("Subsurf", "SUBSURF")
    sub.levels = sub.render_levels = 1
    return scene


def collection_instance() -> bpy.types.Scene:
    """An excluded collection instanced twice by empties."""
    scene = _base()
    coll = bpy.data.collections.new("Source")
    scene.collection.children.link(coll)
    _cube("Member", 1.0, (0.0, 0.0, 0.0), coll)
    bpy.context.view_layer.layer_collection.children["Source"].exclude = True
    for i, x in enumerate((-1.0, 1.2)):
        empty = bpy.data.objects.new(f"Instancer{i}", None)
        empty.instance_type, empty.instance_collection = "COLLECTION", coll
        empty.location, empty.rotation_euler = (x, 0.0, -5.0 - i), (0.3, 0.5 * i, 0.2)
        scene.collection.objects.link(empty)
    return scene


def geometry_nodes() -> bpy.types.Scene:
    """Cubes instanced on the points of a three-vertex mesh by geometry nodes."""
    scene = _base()
    me = bpy.data.meshes.new("Points")
    me.from_pydata([(-1.2, 0.0, 0.0), (0.0, 0.5, -1.0), (1.2, -0.3, 0.5)], [], [])
    ob = bpy.data.objects.new("Scatter", me)
    ob.location = (0.0, 0.0, -5.0)
    scene.collection.objects.link(ob)
    ng, cube = scatter_group("GeometryNodeMeshCube")
    cube.inputs["Size"].default_value = (0.8, 0.8, 0.8)
    ob.modifiers.new("Scatter", "NODES").node_group = ng
    return scene


def scatter_group(source: str) -> tuple[bpy.types.NodeTree, bpy.types.Node]:
    """A geometry-nodes group instancing the output of a new ``source`` node on its input's points; returns the
    group and that node (to set its inputs)."""
    ng = bpy.data.node_groups.new("Scatter", "GeometryNodeTree")
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    gin, gout = ng.nodes.new("NodeGroupInput"), ng.nodes.new("NodeGroupOutput")
    node, iop = ng.nodes.new(source), ng.nodes.new("GeometryNodeInstanceOnPoints")
    ng.links.new(gin.outputs[0], iop.inputs["Points"])
    ng.links.new(node.outputs.get("Geometry") or node.outputs[0], iop.inputs["Instance"])
    ng.links.new(iop.outputs[0], gout.inputs[0])
    return ng, node


def curve_text_metaball() -> bpy.types.Scene:
    """A bevelled curve, extruded text and a metaball (its render resolution differs by default)."""
    scene = _base()
    cu = bpy.data.curves.new("Ring", "CURVE")
    cu.dimensions, cu.bevel_depth = "3D", 0.2
    spline = cu.splines.new("POLY")
    spline.points.add(3)
    for p, co in zip(spline.points, ((-1, -1, 0, 1), (1, -1, 0, 1), (1, 1, 0, 1), (-1, 1, 0, 1)), strict=True):
        p.co = co
    spline.use_cyclic_u = True
    ring = bpy.data.objects.new("Ring", cu)
    ring.location = (-1.2, 0.6, -5.0)
    text = bpy.data.objects.new("Text", bpy.data.curves.new("Text", "FONT"))
    text.data.body, text.data.extrude, text.data.size = "T", 0.2, 2.0
    text.location = (0.6, -1.5, -4.5)
    meta = bpy.data.objects.new("Meta", bpy.data.metaballs.new("Meta"))
    meta.data.elements.new().radius = 1.2
    meta.location = (-0.8, -1.0, -6.0)
    for ob in (ring, text, meta):
        scene.collection.objects.link(ob)
    return scene


def visibility() -> bpy.types.Scene:
    """Camera-invisible, holdout, shadow-catcher, render-hidden and viewport-hidden objects."""
    scene = _base()
    _cube("Invisible", 1.0, (-1.2, 0.5, -4.0)).visible_camera = False
    _cube("Holdout", 1.0, (1.2, 0.5, -4.0)).is_holdout = True
    _cube("Catcher", 1.0, (0.0, -1.0, -4.5)).is_shadow_catcher = True
    _cube("NoRender", 1.0, (0.0, 0.8, -4.0)).hide_render = True
    _cube("ViewportHidden", 1.0, (-1.2, -1.0, -4.0)).hide_viewport = True
    return scene


def camera_settings() -> bpy.types.Scene:
    """Lens shift, vertical sensor fit, a non-square pixel aspect and a clip end that cuts the plane."""
    scene = _base()
    _cube("Feature", 1.2, (0.5, 0.3, -4.5))
    cam = scene.camera.data
    cam.shift_x, cam.shift_y, cam.sensor_fit, cam.clip_end = 0.1, -0.05, "VERTICAL", 7.5
    scene.render.pixel_aspect_x = 1.25
    return scene


def folded() -> bpy.types.Scene:
    """A closed cube whose shape key folds half its front face back through its rear face: the rear face, seen
    from behind, is then the first surface there (no back face may be culled)."""
    scene = _base()
    ob = _cube("Folded", 1.2, (-0.4, 0.2, -4.5))
    ob.rotation_euler = (0.3, 0.4, 0.0)
    ob.shape_key_add(name="Basis")
    fold = ob.shape_key_add(name="Fold")
    for point in fold.data:
        if point.co.z > 0 and point.co.x < 0:
            point.co.z = -1.2
    fold.value = 1.0
    return scene


BUILDERS = {f.__name__: f for f in (modifiers, collection_instance, geometry_nodes, curve_text_metaball,
                                    visibility, camera_settings, folded)}


def interior(reference: np.ndarray) -> np.ndarray:
    """Pixels away from depth edges and coverage edges of ``reference`` (3×3 window; background counts)."""
    fin = np.isfinite(reference)
    d = np.where(fin, reference, 0.0)
    pad, pad_fin = np.pad(d, 1, mode="edge"), np.pad(fin, 1, mode="edge")
    h, w = reference.shape
    inner = np.ones_like(fin)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            n = pad[1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]
            n_fin = pad_fin[1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]
            inner &= (n_fin == fin) & (~fin | (np.abs(n - d) <= 0.05 * np.maximum(d, 1e-6)))
    return inner


def assert_matches_cycles(scene: bpy.types.Scene, label: str, engine: str = "gpu") -> np.ndarray:
    """Render with the fast path (``engine``) and with Cycles; they agree to 1e-4 relative away from edges."""
    fast = render_depth(scene, engine=engine).depth
    ref = render_depth(scene, engine="cycles").depth
    inner = interior(ref)
    assert (inner & (ref < 5.5)).sum() > 20, f"{label}: the feature is barely visible"
    assert np.array_equal(np.isfinite(fast)[inner], np.isfinite(ref)[inner]), f"{label}: coverage"
    ok = inner & np.isfinite(ref)
    rel = np.abs(fast[ok] - ref[ok]) / ref[ok]
    assert rel.max() < 1e-4, f"{label}: max relative difference {rel.max():.2e}"
    return fast


def fresh_depth(scene: bpy.types.Scene) -> np.ndarray:
    """The fast-path depth of ``scene`` with every cached batch and walk dropped first."""
    depth_cache.clear()
    return render_depth(scene, engine="gpu").depth
