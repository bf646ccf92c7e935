# SPDX-License-Identifier: GPL-3.0-or-later
"""Effects of our compositor group: depth fog, relighting of the AI layer, focus picking.

Node builders add named nodes (prefix ``Depth AI``) to our group and return the socket carrying
the result; :func:`~depth_addon.blender.compositor.group.ensure_compositor_group` wires them in and
deletes the ones a later call no longer wants. All nodes come from :mod:`.compat`, so the same
code builds the group on every supported Blender.

* **Fog**: ``factor = 1 - exp(-density · max(0, Z - start))`` mixes the fog colour over the image;
  background (Z = 10¹⁰) is fully fogged.
* **Relight**: the AI layer is multiplied by ``(1 - s) + 2 s · max(0, n·l)`` where ``n`` comes from
  a normal image computed from the capture depth (:func:`normals_image`) and ``l`` is the light
  direction in the capture camera's space.
* **Focus**: :func:`focus_from_pixel` and :func:`focus_from_object` give the distance to pass as
  ``focus_distance``.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from ...camera import CameraModel
from ...errors import BadInput
from ...texturing.conditioning import normals_from_depth
from .. import compat, images
from .nodes import NODE_PREFIX
from .nodes import node as _node

N_FOG = tuple(f"{NODE_PREFIX} Fog {s}" for s in ("Start", "Clamp", "Density", "Exp", "Factor", "Mix"))
N_RELIGHT = tuple(f"{NODE_PREFIX} Relight {s}" for s in ("Normals", "Scale", "Split", "X", "Y", "Z", "Clamp",
                                                          "Gain", "Mix"))


def _math(tree, name: str, op: str, x: float, y: float, a=None, b=None, c=None) -> bpy.types.Node:
    node = _node(tree, name, lambda t: compat.new_math(t, op), x, y)
    node.operation = op
    for sock, value in zip(node.inputs, (a, b, c), strict=False):
        if isinstance(value, bpy.types.NodeSocket):
            tree.links.new(value, sock)
        elif value is not None:
            sock.default_value = float(value)
    return node


def add_fog(tree: bpy.types.NodeTree, picture: bpy.types.NodeSocket, depth: bpy.types.NodeSocket, density: float,
            start: float, colour: tuple[float, float, float]) -> tuple[bpy.types.NodeSocket, set[str]]:
    """Mix ``colour`` over ``picture`` by exponential depth fog.

    :param tree: Our compositor group.
    :param picture: Image socket to fog.
    :param depth: Z socket (scene units).
    :param density: Extinction per scene unit (> 0).
    :param start: Distance where the fog begins (scene units).
    :param colour: Linear RGB fog colour.
    :return: ``(fogged image socket, names of the nodes used)``.
    """
    x0, y0 = 400, -250
    shifted = _math(tree, N_FOG[0], "SUBTRACT", x0, y0, depth, float(start))
    clamped = _math(tree, N_FOG[1], "MAXIMUM", x0 + 150, y0, shifted.outputs[0], 0.0)
    optical = _math(tree, N_FOG[2], "MULTIPLY", x0 + 300, y0, clamped.outputs[0], -float(density))
    transmit = _math(tree, N_FOG[3], "EXPONENT", x0 + 450, y0, optical.outputs[0])
    factor = _math(tree, N_FOG[4], "SUBTRACT", x0 + 600, y0, 1.0, transmit.outputs[0])
    mix = _node(tree, N_FOG[5], compat.new_color_mix, x0 + 750, 100)
    mix.blend_type = "MIX"
    fac, a, b, result = compat.color_mix_sockets(mix)
    tree.links.new(factor.outputs[0], fac)
    tree.links.new(picture, a)
    b.default_value = (*[float(c) for c in colour[:3]], 1.0)
    return result, set(N_FOG)


def add_relight(tree: bpy.types.NodeTree, layer: bpy.types.NodeSocket, normals: bpy.types.Image,
                light: tuple[float, float, float], strength: float) -> tuple[bpy.types.NodeSocket, set[str]]:
    """Shade the AI layer by a directional light using the capture's depth normals.

    :param tree: Our compositor group.
    :param layer: The AI layer image socket (already at render size).
    :param normals: Float Non-Color image of camera-space normals (:func:`normals_image`).
    :param light: Unit direction towards the light, in the capture camera's space.
    :param strength: 0 (no change) to 1 (full Lambert shading).
    :return: ``(relit image socket, names of the nodes used)``.
    """
    x0, y0 = -350, -700
    src = _node(tree, N_RELIGHT[0], lambda t: t.nodes.new("CompositorNodeImage"), x0 - 250, y0)
    src.image = normals
    scale = _node(tree, N_RELIGHT[1], compat.new_scale_to_render, x0, y0)
    tree.links.new(src.outputs["Image"], scale.inputs["Image"])
    split = _node(tree, N_RELIGHT[2], lambda t: t.nodes.new("CompositorNodeSeparateColor"), x0 + 200, y0)
    tree.links.new(scale.outputs["Image"], split.inputs[0])
    lx, ly, lz = (float(v) for v in light)
    dot_x = _math(tree, N_RELIGHT[3], "MULTIPLY", x0 + 400, y0, split.outputs[0], lx)
    dot_y = _math(tree, N_RELIGHT[4], "MULTIPLY_ADD", x0 + 550, y0, split.outputs[1], ly, dot_x.outputs[0])
    dot_z = _math(tree, N_RELIGHT[5], "MULTIPLY_ADD", x0 + 700, y0, split.outputs[2], lz, dot_y.outputs[0])
    lit = _math(tree, N_RELIGHT[6], "MAXIMUM", x0 + 850, y0, dot_z.outputs[0], 0.0)
    s = float(strength)
    gain = _math(tree, N_RELIGHT[7], "MULTIPLY_ADD", x0 + 1000, y0, lit.outputs[0], 2.0 * s, 1.0 - s)
    mix = _node(tree, N_RELIGHT[8], compat.new_color_mix, x0 + 1150, y0 + 200)
    mix.blend_type = "MULTIPLY"
    fac, a, b, result = compat.color_mix_sockets(mix)
    fac.default_value = 1.0
    tree.links.new(layer, a)
    tree.links.new(gain.outputs[0], b)
    return result, set(N_RELIGHT)


def normals_image(name: str, depth: np.ndarray, camera: CameraModel) -> bpy.types.Image:
    """Our float Non-Color image of camera-space normals (x right, y up, z towards the camera).

    :param name: Image name (a user's image of that name is never overwritten).
    :param depth: H×W planar depth of the capture, ``inf`` background.
    :param camera: The capture camera.
    """
    n = normals_from_depth(np.asarray(depth, np.float32), camera, world=False)
    return images.image_from_array(name, n, colorspace="Non-Color", float_buffer=True)


def light_in_camera(camera: CameraModel, direction: tuple[float, float, float]) -> tuple[float, float, float]:
    """A world-space direction towards the light expressed in the capture camera's space (unit).

    :param camera: The capture camera.
    :param direction: World direction pointing towards the light.
    """
    d = np.asarray(direction, np.float64)
    if not np.isfinite(d).all() or np.linalg.norm(d) < 1e-9:
        raise BadInput(f"light direction must be a non-zero vector, got {direction!r}")
    rot = camera.matrix[:3, :3]
    rot = rot / np.linalg.norm(rot, axis=0)
    c = rot.T @ (d / np.linalg.norm(d))
    return float(c[0]), float(c[1]), float(c[2])


def focus_from_pixel(depth: np.ndarray, x: int, y: int, radius: int = 1) -> float:
    """Focus distance from a depth map at pixel ``(x, y)`` (row 0 = top): the median over a small window.

    :param depth: H×W planar depth in metres, ``inf`` background.
    :param x: Column.
    :param y: Row.
    :param radius: Half size of the window (pixels) the median is taken over.
    :raises BadInput: Outside the image or on background.
    """
    d = np.asarray(depth, np.float32)
    h, w = d.shape
    if not (0 <= x < w and 0 <= y < h):
        raise BadInput(f"pixel ({x}, {y}) is outside the {w}×{h} depth map")
    win = d[max(0, y - radius): y + radius + 1, max(0, x - radius): x + radius + 1]
    win = win[np.isfinite(win) & (win > 0)]
    if win.size == 0:
        raise BadInput(f"pixel ({x}, {y}) shows no geometry; pick a pixel on an object")
    return float(np.median(win))


def focus_from_object(scene: bpy.types.Scene, obj: bpy.types.Object, camera: bpy.types.Object | None = None) -> float:
    """Focus distance to an object: camera-Z distance of its bounding-box centre.

    :param scene: The scene (its camera is used when ``camera`` is None).
    :param obj: Object to focus on.
    :param camera: Camera object; the scene camera when None.
    :raises BadInput: Without a camera, or when the object is behind the camera.
    """
    cam = camera or scene.camera
    if cam is None:
        raise BadInput("the scene has no camera to focus")
    if obj == cam:
        raise BadInput(f"the object to focus on is the camera {cam.name!r} itself; make another object active")
    corners = np.array([list(obj.matrix_world @ Vector(tuple(c))) for c in obj.bound_box])
    centre = corners.mean(axis=0)
    m = np.array(cam.matrix_world, np.float64)
    rot = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
    z = -(rot.T @ (centre - m[:3, 3]))[2]
    if z <= 0:
        raise BadInput(f"{obj.name!r} is behind the camera {cam.name!r}")
    return float(z)

