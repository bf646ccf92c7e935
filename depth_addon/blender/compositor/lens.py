# SPDX-License-Identifier: GPL-3.0-or-later
"""Thin-lens depth of field for our compositor group: the blur radius per pixel from the Z pass.

A lens of focal length ``f`` at f-number ``N`` focused at distance ``s`` images a point at camera-Z
depth ``z`` as a circle of confusion of diameter ``c = f² / (N (s - f)) · |s/z - 1|`` on the sensor.
In pixels the radius is ``r = c / 2 · F / f`` where ``F`` is the focal length in pixels of the render
(:class:`~depth_addon.camera.CameraModel` applies the sensor fit, shift and aspect as the renderer does).

We compute ``r`` with maths nodes and feed it to Blender's Defocus node in *scale* mode
(``use_zbuffer = False``, ``z_scale = 1``): its Z input is then the radius in pixels, clamped to
``blur_max``, and ``blur_max`` is also its search window, so the cost grows with ``blur_max²``.
Blender's own Z-buffer mode computes the same formula but reads the scene camera's focus, clamps the
search window to the circle at infinity (near objects are under-blurred) and uses the sensor height
for portrait frames with *Auto* fit; our radius needs none of that and leaves the camera untouched.
"""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Vector

from ...errors import BadInput
from .. import compat
from ..camera import camera_model, render_size
from ..evaluation import scene_depsgraph, scene_layer
from ..units import unit_scale
from .nodes import NODE_PREFIX
from .nodes import node as _node

N_DEFOCUS = f"{NODE_PREFIX} Defocus"
N_COC = tuple(f"{NODE_PREFIX} Blur Radius {i}" for i in range(4))


def thin_lens_radius(z, focus: float, fstop: float, lens_mm: float, focal_px: float):
    """Circle-of-confusion radius in pixels of points at camera-Z depth ``z`` (thin lens).

    :param z: Depth(s) in metres (scalar or array).
    :param focus: Focus distance in metres.
    :param fstop: Aperture f-number.
    :param lens_mm: Focal length in millimetres.
    :param focal_px: Focal length in pixels of the render.
    """
    return radius_factor(focus, fstop, lens_mm, focal_px) * np.abs(focus / np.asarray(z, np.float64) - 1.0)


def radius_factor(focus: float, fstop: float, lens_mm: float, focal_px: float) -> float:
    """Pixels of blur radius per unit of ``|focus/z - 1|``: ``f² / (N (s - f)) / 2 · F / f``.

    :param focus: Focus distance in metres (beyond the focal length).
    :param fstop: Aperture f-number (> 0).
    :param lens_mm: Focal length in millimetres.
    :param focal_px: Focal length in pixels.
    """
    f = lens_mm / 1000.0
    return f / (fstop * (focus - f)) / 2.0 * focal_px


def focal_pixels(scene: bpy.types.Scene, camera: bpy.types.Object) -> float:
    """Focal length of ``camera`` in pixels of ``scene``'s render (sensor fit and percentage applied).

    :param scene: The scene.
    :param camera: A perspective camera object.
    """
    w, h = render_size(scene)
    left, right, _bottom, _top = camera_model(scene, camera, w, h).frame
    return w / (right - left)


def camera_focus(camera: bpy.types.Object) -> float:
    """The camera's own focus distance along its view axis (its focus object when set), in metres.

    :param camera: A camera object.
    """
    dof = camera.data.dof
    if dof.focus_object is None:
        return float(dof.focus_distance)
    return max(1e-4, view_depths(camera, [dof.focus_object.matrix_world.translation])[0])


def view_depths(camera: bpy.types.Object, points) -> list[float]:
    """Camera-Z depths (positive in front) of world-space points.

    :param camera: A camera object.
    :param points: World positions.
    """
    m = np.array(camera.matrix_world, np.float64)
    rot = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
    p = np.asarray([list(Vector(p)) for p in points], np.float64).reshape(-1, 3)
    return [float(v) for v in -((p - m[:3, 3]) @ rot)[:, 2]]


def depth_span(scene: bpy.types.Scene, camera: bpy.types.Object) -> tuple[float, float]:
    """``(nearest, farthest)`` camera-Z of the visible meshes' bounding boxes in front of the camera.

    Bounding boxes over-reach, so the span contains every visible surface; ``(inf, 0)`` with no mesh.

    :param scene: The scene.
    :param camera: The render camera.
    """
    near, far = math.inf, 0.0
    layer = scene_layer(scene)
    for obj in scene.objects:
        if obj.type != "MESH" or not obj.visible_get(view_layer=layer):
            continue
        z = view_depths(camera, [obj.matrix_world @ Vector(c) for c in obj.bound_box])
        if max(z) > 0.0:
            near, far = min(near, max(min(z), camera.data.clip_start)), max(far, max(z))
    return near, far


def check_focus(scene: bpy.types.Scene, camera: bpy.types.Object, focus: float, fstop: float) -> None:
    """Refuse a focus distance in front of the lens or behind every surface, and an f-stop ≤ 0.

    :param scene: The scene.
    :param camera: The render camera.
    :param focus: Focus distance in scene units (metres unless the scene's Unit Scale is set).
    :param fstop: Aperture f-number.
    :raises BadInput: With the reason and the valid range.
    """
    if not fstop > 0.0:
        raise BadInput(f"f-stop must be above 0, got {fstop}")
    unit = unit_scale(scene)  # metres per scene unit: messages speak metres
    lens = camera.data.lens / 1000.0 / unit  # in scene units, as the focus is
    if not focus > lens:
        raise BadInput(f"focus distance {focus * unit:.3g} m is in front of the camera's lens (focal length "
                       f"{lens * unit:.3g} m); focus on something in view")
    _near, far = depth_span(scene, camera)
    if far > 0.0 and focus > far:
        raise BadInput(f"focus distance {focus * unit:.3g} m is behind every surface (the farthest is "
                       f"{far * unit:.3g} m away); focus on something in view")


def visible_near(scene: bpy.types.Scene, camera: bpy.types.Object, grid: int = 24) -> tuple[float, bool]:
    """``(nearest camera-Z hit, whether some ray sees the sky)`` over a ``grid``² fan of rays through the frame.

    A coarse sample (about 1 ms): it sizes the Defocus search window, where a missed thin object only
    gets its blur clamped.

    :param scene: The scene.
    :param camera: The render camera.
    :param grid: Rays per side.
    """
    w, h = render_size(scene)
    model = camera_model(scene, camera, w, h)
    left, right, bottom, top = model.frame
    m = np.array(camera.matrix_world, np.float64)
    rot = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
    origin = Vector(m[:3, 3])
    depsgraph = scene_depsgraph(scene)
    near, sky = math.inf, False
    for u in np.linspace(left, right, grid):
        for v in np.linspace(bottom, top, grid):
            direction = rot @ np.array([u, v, -1.0])
            hit, location, *_ = scene.ray_cast(depsgraph, origin, Vector(direction / np.linalg.norm(direction)))
            if hit:
                near = min(near, -float((np.array(location) - m[:3, 3]) @ rot[:, 2]))
            else:
                sky = True
    return near, sky


def blur_window(scene: bpy.types.Scene, camera: bpy.types.Object, factor: float, focus: float,
                blur_max: float) -> float:
    """The Defocus search radius: the largest radius the visible depths (or the sky) need, at most ``blur_max``.

    :param scene: The scene.
    :param camera: The render camera.
    :param factor: :func:`radius_factor` for the current settings.
    :param focus: Focus distance in metres.
    :param blur_max: The user's cap in pixels.
    """
    near, _sky = visible_near(scene, camera)
    worst = max(1.0, focus / max(near, camera.data.clip_start) - 1.0) if math.isfinite(near) else 1.0
    return float(min(blur_max, math.ceil(factor * worst) + 1.0))


def add_defocus(tree: bpy.types.NodeTree, scene: bpy.types.Scene, picture: bpy.types.NodeSocket,
                depth: bpy.types.NodeSocket, focus: float, factor: float, window: float,
                ) -> tuple[bpy.types.NodeSocket, set[str]]:
    """Blur ``picture`` by the thin-lens radius ``factor · |focus/Z - 1|`` (pixels), at most ``window``.

    :param tree: Our compositor group.
    :param scene: The scene (the Defocus node's scene, for its fallbacks only).
    :param picture: Image socket to blur (the final composite).
    :param depth: Z socket of the rendering camera (metres).
    :param focus: Focus distance in metres.
    :param factor: :func:`radius_factor`.
    :param window: Largest radius and search window in pixels (:func:`blur_window`).
    :return: The blurred picture socket and the names of the nodes used.
    """
    dof = _node(tree, N_DEFOCUS, lambda t: t.nodes.new("CompositorNodeDefocus"), 750, 250)
    dof.scene, dof.bokeh, dof.use_zbuffer, dof.z_scale, dof.blur_max = scene, "CIRCLE", False, 1.0, float(window)
    tree.links.new(picture, dof.inputs["Image"])
    ops = (("DIVIDE", float(focus), None), ("SUBTRACT", None, 1.0), ("ABSOLUTE", None, None),
           ("MULTIPLY", None, float(factor)))
    source = depth
    for i, (op, a, b) in enumerate(ops):
        node = _node(tree, N_COC[i], lambda t, op=op: compat.new_math(t, op), 350 + 90 * i, -100 - 40 * i)
        node.operation = op
        if a is not None:
            node.inputs[0].default_value = a
        if b is not None:
            node.inputs[1].default_value = b
        tree.links.new(source, node.inputs[1 if i == 0 else 0])
        source = node.outputs[0]
    tree.links.new(source, dof.inputs["Z"])
    return dof.outputs["Image"], {N_DEFOCUS, *N_COC}
