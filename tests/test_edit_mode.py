# SPDX-License-Identifier: GPL-3.0-or-later
"""A script run while a mesh is in Edit Mode: depth sees the mesh with its edits (as Blender's own render does) and
Edit Mode is entered again; a bake, which reads and writes the mesh's UV maps, is refused and changes nothing."""

from __future__ import annotations

import math

import bmesh
import bpy
import numpy as np
import pytest

from depth_addon import api
from depth_addon.errors import BadInput


def cube_in_view() -> bpy.types.Object:
    """A 2 m cube 8 m in front of the scene camera, its front face at camera Z = 7."""
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.object
    cube.data.materials.append(bpy.data.materials.new("Mine"))
    camera = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    camera.location, camera.rotation_euler = (0, -8, 0), (math.pi / 2, 0, 0)
    bpy.context.scene.collection.objects.link(camera)
    bpy.context.scene.camera = camera
    bpy.context.scene.render.resolution_x = bpy.context.scene.render.resolution_y = 32
    return cube


@pytest.mark.parametrize("engine", ["gpu", "workbench"])
def test_depth_sees_a_mesh_in_edit_mode_with_its_edits(engine: str) -> None:
    cube = cube_in_view()
    bpy.ops.object.mode_set(mode="EDIT")
    mesh = bmesh.from_edit_mesh(cube.data)
    for vert in mesh.verts:
        vert.co.y -= 1.0  # 1 m towards the camera, in Edit Mode only
    bmesh.update_edit_mesh(cube.data)
    result = api.render_depth(engine=engine)
    assert result.mask[16, 16] and abs(result.depth[16, 16] - 6.0) < 1e-3
    assert bpy.context.mode == "EDIT_MESH" and bpy.context.object == cube


def test_a_bake_of_a_mesh_in_edit_mode_is_refused_and_changes_nothing() -> None:
    cube = cube_in_view()
    bpy.ops.object.mode_set(mode="EDIT")
    counts = len(bpy.data.materials), len(bpy.data.images)
    with pytest.raises(BadInput, match="'Cube' is in Edit Mode.*Object Mode"):
        api.texture_multiview(objects=[cube], views=1, view_size=32, bake_size=32)
    bpy.ops.object.mode_set(mode="OBJECT")
    assert [s.material.name for s in cube.material_slots] == ["Mine"]
    assert [u.name for u in cube.data.uv_layers] == ["UVMap"]
    assert (len(bpy.data.materials), len(bpy.data.images)) == counts
    assert np.isfinite(api.render_depth().depth).any()


def test_a_sequence_range_sees_a_mesh_in_edit_mode_with_its_edits(addon) -> None:
    """The shared range of a depth sequence, taken while a mesh is in Edit Mode, holds the mesh as edited."""
    from depth_addon.app import depth

    cube = cube_in_view()
    scene = bpy.context.scene
    scene.depth_addon.lock_range, scene.depth_addon.range_mode = False, "percentile"
    bpy.ops.object.mode_set(mode="EDIT")
    mesh = bmesh.from_edit_mesh(cube.data)
    for vert in mesh.verts:
        vert.co.y -= 1.0
    bmesh.update_edit_mesh(cube.data)
    mapping = depth.sequence_mapping(scene, depth.scene_views(scene))
    assert abs(mapping.near - 6.0) < 0.05, mapping
    assert bpy.context.mode == "EDIT_MESH"
