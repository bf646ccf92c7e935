# SPDX-License-Identifier: GPL-3.0-or-later
"""The built-in demo scene: a few meshes at different distances, a ground, a camera and a light.

Built through the data API and ``bmesh`` (no operators), so it works headless and needs no
context; everything it creates is linked into one collection named ``Depth Demo``.
"""

from __future__ import annotations

import math

import bmesh
import bpy
from mathutils import Euler, Matrix, Vector

from .compat import ensure_node_tree

DEMO_COLLECTION = "Depth Demo"


def _mesh_object(name: str, build, collection: bpy.types.Collection, location, rotation=(0.0, 0.0, 0.0),
                 color=(0.8, 0.8, 0.8, 1.0)) -> bpy.types.Object:
    bm = bmesh.new()
    build(bm)
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    mat = bpy.data.materials.new(f"{name} Material")
    mat.diffuse_color = color
    bsdf = ensure_node_tree(mat).nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = color
    me.materials.append(mat)
    ob = bpy.data.objects.new(name, me)
    ob.location = location
    ob.rotation_euler = Euler(rotation)
    collection.objects.link(ob)
    return ob


def build_demo_scene(scene: bpy.types.Scene | None = None, resolution: tuple[int, int] = (512, 512)) -> bpy.types.Scene:
    """Populate ``scene`` (a new scene when None) with the demo set and make its camera active.

    :param scene: Scene to fill; a new scene named ``Depth Demo`` when None.
    :param resolution: Render resolution to set on the scene.
    :return: The scene.
    """
    if scene is None:
        scene = bpy.data.scenes.new(DEMO_COLLECTION)
    coll = bpy.data.collections.new(DEMO_COLLECTION)
    scene.collection.children.link(coll)

    _mesh_object("Ground", lambda bm: bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=20.0),
                 coll, (0.0, 0.0, 0.0), color=(0.35, 0.4, 0.3, 1.0))
    _mesh_object("Box", lambda bm: bmesh.ops.create_cube(bm, size=2.0), coll, (-1.5, 1.0, 1.0),
                 rotation=(0.0, 0.0, math.radians(25)), color=(0.8, 0.3, 0.2, 1.0))
    _mesh_object("Sphere", lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=1.2),
                 coll, (2.2, 4.0, 1.2), color=(0.2, 0.4, 0.8, 1.0))
    _mesh_object("Column", lambda bm: bmesh.ops.create_cone(bm, cap_ends=True, segments=24, radius1=0.6,
                                                              radius2=0.6, depth=5.0),
                 coll, (-3.5, 9.0, 2.5), color=(0.85, 0.8, 0.6, 1.0))
    _mesh_object("Wall", lambda bm: bmesh.ops.create_cube(bm, size=1.0), coll, (1.0, 14.0, 2.0),
                 color=(0.6, 0.6, 0.65, 1.0)).scale = (8.0, 0.5, 4.0)

    cam = bpy.data.objects.new("Demo Camera", bpy.data.cameras.new("Demo Camera"))
    cam.data.lens = 35.0
    cam.data.clip_end = 200.0
    cam.location = (0.0, -9.0, 3.0)
    direction = Vector((0.0, 6.0, 1.0)) - cam.location
    cam.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    coll.objects.link(cam)
    scene.camera = cam

    light = bpy.data.objects.new("Demo Sun", bpy.data.lights.new("Demo Sun", "SUN"))
    light.data.energy = 3.0
    light.matrix_world = Matrix.Rotation(math.radians(45), 4, "X") @ Matrix.Rotation(math.radians(30), 4, "Z")
    coll.objects.link(light)

    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    return scene
