# SPDX-License-Identifier: GPL-3.0-or-later
"""Bakes map the surface the render shows: render subdivision levels and modifiers shown only in renders, as the
views' depth has them; the user's modifier settings are left as they were."""

from __future__ import annotations

import bmesh
import bpy
import numpy as np
from test_multiview import bake_scene, field, mesh_object, render_view, view_of
from test_projection import srgb_to_linear

from depth_addon.blender.writeback import surfaces, uv_bake
from depth_addon.texturing.views import orbit_directions


def coarse_ball() -> bpy.types.Object:
    """A coarse UV sphere with Subdivision Surface at viewport level 0, render level 2, and a Displace modifier
    (10 cm outwards) shown only in renders."""
    ball = mesh_object("Ball", lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=8, v_segments=4, radius=0.6),
                       (0.0, 0.0, 0.5))
    sub = ball.modifiers.new("Sub", "SUBSURF")
    sub.levels, sub.render_levels = 0, 2
    grow = ball.modifiers.new("Grow", "DISPLACE")
    grow.strength, grow.show_viewport = 0.2, False
    bpy.context.view_layer.update()
    return ball


def settings(obj: bpy.types.Object) -> list[tuple]:
    return [(m.name, m.show_viewport, m.show_render, getattr(m, "levels", None)) for m in obj.modifiers]


def test_the_bake_reads_the_surface_the_render_shows_and_leaves_the_modifiers(tmp_out):
    scene = bpy.context.scene
    ball = coarse_ball()
    before = settings(ball)
    uv = uv_bake.ensure_uv_maps([ball])["Ball"]
    depsgraph = bpy.context.evaluated_depsgraph_get()
    read = uv_bake.surface_triangles(ball, depsgraph, uv)
    assert settings(ball) == before
    ball.modifiers["Sub"].levels, ball.modifiers["Grow"].show_viewport = 2, True
    rendered = uv_bake.surface_triangles(ball, bpy.context.evaluated_depsgraph_get(), uv)
    ball.modifiers["Sub"].levels, ball.modifiers["Grow"].show_viewport = 0, False
    assert read[1].shape == rendered[1].shape and np.allclose(read[1], rendered[1], atol=1e-5)

    views = [view_of(scene, d, size=64, radius=1.2) for d in orbit_directions(4, elevation_deg=35.0)]
    bake_scene(scene, [ball], views, 64)
    assert settings(ball) == before
    check = view_of(scene, [0.6, -0.7, 0.6], size=48, radius=1.2, image_fn=None)
    out = render_view(scene, check.camera, tmp_out / "ball.exr")
    pts = check.camera.unproject(check.depth, world=True).reshape(-1, 3)
    good = np.isfinite(check.depth).reshape(-1) & (check.edges().reshape(-1) == 1.0)
    assert good.sum() > 150
    err = np.abs(out.reshape(-1, 4)[:, :3] - srgb_to_linear(field(pts)))[good].max(axis=1)
    assert np.median(err) < 0.01 and np.percentile(err, 95) < 0.03, (np.median(err), np.percentile(err, 95))


def test_modifiers_that_lay_copies_on_the_same_uvs_are_named():
    """A Mirror modifier puts both halves on the same UVs: one texture cannot paint them apart, and the bake says
    so, naming the modifiers."""
    scene = bpy.context.scene
    half = mesh_object("Half", lambda bm: bmesh.ops.create_cube(bm, size=1.0), (0.8, 0.0, 0.5))
    uv_bake.ensure_uv_maps([half])
    half.modifiers.new("Bevel", "BEVEL")  # lays no copies: not named
    half.modifiers.new("Mirror", "MIRROR")
    bpy.context.view_layer.update()
    result = bake_scene(scene, [half], [view_of(scene, (0.0, -1.0, 0.5), size=48)], 32)
    assert any(w.startswith("'Half': its modifiers ('Mirror') lay copies") for w in result.warnings), result.warnings


def test_reading_the_render_surface_is_no_edit_for_the_depth_cache():
    """Setting the modifiers as for the render, and back, while the triangles are read is not an edit of the scene:
    the depth path keeps its render-level geometry (it was thrown away by every bake of such an object)."""
    from depth_addon.blender.depth import cache, updates

    cache.install_handlers()  # as after any depth render
    ball = coarse_ball()
    uv = uv_bake.ensure_uv_maps([ball])["Ball"]
    depsgraph = bpy.context.evaluated_depsgraph_get()
    before = updates.render_generation()
    uv_bake.surface_triangles(ball, depsgraph, uv)
    assert updates.render_generation() == before


def test_the_bake_subdivides_as_far_as_the_render_does_under_simplify(tmp_out):
    """With Simplify limiting the viewport to level 0 and renders to level 2, the bake maps the level-2 surface the
    render shows, and the scene's Simplify setting is as it was afterwards."""
    scene = bpy.context.scene
    r = scene.render
    ball = coarse_ball()
    ball.modifiers["Sub"].levels = 2
    ball.modifiers["Grow"].show_viewport = True
    uv = uv_bake.ensure_uv_maps([ball])["Ball"]
    rendered = uv_bake.surface_triangles(ball, bpy.context.evaluated_depsgraph_get(), uv)
    r.use_simplify, r.simplify_subdivision, r.simplify_subdivision_render = True, 0, 2
    depsgraph = bpy.context.evaluated_depsgraph_get()
    assert len(uv_bake.surface_triangles(ball, depsgraph, uv)[1]) < len(rendered[1])  # what the viewport shows
    read = surfaces.surfaces([ball], depsgraph, {"Ball": uv})["Ball"]
    assert (r.simplify_subdivision, r.simplify_subdivision_render) == (0, 2)
    assert read[1].shape == rendered[1].shape and np.allclose(read[1], rendered[1], atol=1e-5)

    views = [view_of(scene, d, size=64, radius=1.2) for d in orbit_directions(4, elevation_deg=35.0)]
    bake_scene(scene, [ball], views, 64)
    assert r.simplify_subdivision == 0
    check = view_of(scene, [0.6, -0.7, 0.6], size=48, radius=1.2, image_fn=None)
    out = render_view(scene, check.camera, tmp_out / "ball.exr")
    pts = check.camera.unproject(check.depth, world=True).reshape(-1, 3)
    good = np.isfinite(check.depth).reshape(-1) & (check.edges().reshape(-1) == 1.0)
    err = np.abs(out.reshape(-1, 4)[:, :3] - srgb_to_linear(field(pts)))[good].max(axis=1)
    assert np.median(err) < 0.01 and np.percentile(err, 95) < 0.03, (np.median(err), np.percentile(err, 95))


def lifted_in_renders(obj: bpy.types.Object, lift: float = 0.25) -> None:
    """Geometry nodes on ``obj`` that move it up by ``lift`` in renders only (an *Is Viewport* switch)."""
    group = bpy.data.node_groups.new("Lift In Renders", "GeometryNodeTree")
    group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = group.nodes, group.links
    put, get = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    switch, move = nodes.new("GeometryNodeSwitch"), nodes.new("GeometryNodeSetPosition")
    switch.input_type = "VECTOR"
    switch.inputs["False"].default_value = (0.0, 0.0, lift)
    links.new(nodes.new("GeometryNodeIsViewport").outputs[0], switch.inputs["Switch"])
    links.new(put.outputs[0], move.inputs["Geometry"])
    links.new(switch.outputs[0], move.inputs["Offset"])
    links.new(move.outputs[0], get.inputs[0])
    obj.modifiers.new("Lift", "NODES").node_group = group


def test_geometry_nodes_that_branch_on_is_viewport_are_baked_as_rendered():
    """Geometry nodes that lift a cube 25 cm in renders only: the bake reads the lifted cube the render (and the
    views' depth) shows, inside a render of its own whose settings are all put back."""
    from depth_addon.blender.writeback import view_cameras

    scene = bpy.context.scene
    cube = mesh_object("Crate", lambda bm: bmesh.ops.create_cube(bm, size=1.0), (0.0, 0.0, 0.5))
    uv = uv_bake.ensure_uv_maps([cube])["Crate"]
    shown = uv_bake.surface_triangles(cube, bpy.context.evaluated_depsgraph_get(), uv)
    lifted_in_renders(cube)
    view = view_of(scene, (0.0, -1.0, 0.0), size=48, radius=2.0, image_fn=None)
    low = np.nanmin(view.camera.unproject(view.depth, world=True)[..., 2])
    assert abs(low - 0.25) < 0.05  # the views' depth shows it lifted: its bottom at 25 cm
    scene.camera = view_cameras.camera_object(scene, view.camera, "Check")
    r = scene.render
    before = (r.engine, r.resolution_x, r.resolution_y, r.use_border, r.use_compositing)
    read = surfaces.surfaces([cube], bpy.context.evaluated_depsgraph_get(), {"Crate": uv})["Crate"]
    assert (r.engine, r.resolution_x, r.resolution_y, r.use_border, r.use_compositing) == before
    assert np.allclose(read[1], shown[1] + np.float32([0.0, 0.0, 0.25]), atol=1e-5)
