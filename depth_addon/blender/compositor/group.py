# SPDX-License-Identifier: GPL-3.0-or-later
"""Our compositor node group: depth-of-field from the Z pass and the generated image mixed over the render.

The group is ours alone (``Depth AI Compositor``, tagged with a custom property); the user's own
compositor tree is never edited. :func:`activate_compositor` switches the scene to our group and
remembers what it replaced, :func:`restore_compositor` puts that back. Version differences live
in :mod:`.compat`.
"""

from __future__ import annotations

import json

import bpy
import numpy as np

from ...errors import BadInput
from .. import compat
from . import fx as compositor_fx
from .nodes import NODE_PREFIX
from .nodes import node as _node

GROUP_NAME = "Depth AI Compositor"
KEY_OWNED = "depth_addon_compositor"  # on our node group
KEY_STATE = "depth_addon_compositor_state"  # on the scene while our group is active: JSON
KEY_PREVIOUS = "depth_addon_previous_compositor"  # on the scene: keeps the user's group referenced

N_RENDER, N_DEFOCUS, N_IMAGE, N_SCALE, N_MIX = (f"{NODE_PREFIX} {s}" for s in
                                                ("Render Layers", "Defocus", "Image", "Scale", "Mix"))
#: Blend modes shared by the colour mix nodes of every supported Blender.
BLEND_MODES = ("MIX", "DARKEN", "MULTIPLY", "BURN", "LIGHTEN", "SCREEN", "DODGE", "ADD", "OVERLAY", "SOFT_LIGHT",
               "LINEAR_LIGHT", "DIFFERENCE", "EXCLUSION", "SUBTRACT", "DIVIDE", "HUE", "SATURATION", "COLOR", "VALUE")
N_COC = tuple(f"{NODE_PREFIX} Blur Radius {i}" for i in range(4))


def find_compositor_group() -> bpy.types.NodeTree | None:
    """Our compositor group, or None before :func:`ensure_compositor_group` made it."""
    groups = [g for g in bpy.data.node_groups if g.get(KEY_OWNED) and g.library is None
              and g.bl_idname == "CompositorNodeTree"]
    return next((g for g in groups if g.name == GROUP_NAME), groups[0] if groups else None)


def _view_layer(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    layer = bpy.context.view_layer
    return layer if layer is not None and layer.name in scene.view_layers else scene.view_layers[0]


def _radius_factor(scene: bpy.types.Scene, focus_distance: float, fstop: float) -> float:
    """Pixels of blur radius per unit of ``|focus/z - 1|`` for the scene camera (thin lens).

    A point at depth ``z`` seen by a lens of focal length ``f`` focused at ``s`` has a circle of
    confusion of diameter ``f² / (N (s - f)) · |s/z - 1|`` on the sensor, as Blender's Defocus uses.
    """
    pct = scene.render.resolution_percentage / 100.0
    w, h = scene.render.resolution_x * pct, scene.render.resolution_y * pct
    cam = scene.camera.data if scene.camera is not None and scene.camera.type == "CAMERA" else None
    lens = (cam.lens if cam is not None else 50.0) / 1000.0
    if cam is None or cam.sensor_fit == "HORIZONTAL" or (cam.sensor_fit == "AUTO" and w > h):
        ppm = w / ((cam.sensor_width if cam is not None else 36.0) / 1000.0)
    else:
        ppm = h / (cam.sensor_height / 1000.0)
    s = max(float(focus_distance), lens * 1.001)
    return lens * lens / (max(fstop, 1e-3) * (s - lens)) / 2.0 * ppm


def ensure_compositor_group(scene: bpy.types.Scene, image: bpy.types.Image | None = None, opacity: float = 0.5,
                            blend: str = "MIX", use_dof: bool = True, focus_distance: float | None = None,
                            fstop: float = 2.8, blur_max: float = 16.0, fog_density: float = 0.0,
                            fog_start: float = 0.0, fog_color: tuple[float, float, float] = (0.7, 0.75, 0.8),
                            normals: bpy.types.Image | None = None,
                            light_direction: tuple[float, float, float] = (0.0, 0.0, 1.0), relight: float = 0.0,
                            ) -> bpy.types.NodeTree:
    """Create our compositor group, or update it in place when it exists.

    Render Layers → (Defocus from the Z pass) → colour mix with ``image`` (optionally relit) →
    (depth fog) → Group Output ``Image``.

    :param scene: Scene whose render layers feed the group.
    :param image: Image mixed over the render (stretched to the render size); None mixes nothing.
    :param opacity: Mix factor of the image, 0..1.
    :param blend: Blend mode of the mix (``'MIX'``, ``'MULTIPLY'``, ``'SCREEN'``, ``'OVERLAY'`` ...).
    :param use_dof: Blur by depth with a Defocus node (needs the Z pass; activation enables it).
    :param focus_distance: Distance in focus in metres; None uses the scene camera's focus.
    :param fstop: Aperture f-number; smaller blurs more.
    :param blur_max: Largest blur radius in pixels.
    :param fog_density: Depth fog extinction per metre; 0 turns fog off.
    :param fog_start: Distance in metres where the fog begins.
    :param fog_color: Linear RGB colour of the fog.
    :param normals: Camera-space normal image of the AI layer's capture
        (:func:`~depth_addon.blender.compositor.fx.normals_image`); needed for relighting.
    :param light_direction: Direction towards the light in the capture camera's space
        (:func:`~depth_addon.blender.compositor.fx.light_in_camera` converts a world direction).
    :param relight: Relighting strength of the AI layer, 0 (off) to 1.
    :raises BadInput: For an unknown blend mode, an opacity or strength outside 0..1, negative fog,
        or relighting without a normal image.
    """
    light = _validated(opacity, blend, relight, fog_density, normals, light_direction)
    group = find_compositor_group()
    if group is None:
        group = compat.new_compositor_group(GROUP_NAME)
        group[KEY_OWNED] = True
    tree = group
    for link in [lk for lk in tree.links if lk.from_node.name.startswith(NODE_PREFIX)
                 or lk.to_node.name.startswith(NODE_PREFIX)]:
        tree.links.remove(link)

    wanted = {N_RENDER, N_IMAGE, N_SCALE, N_MIX}
    render = _node(tree, N_RENDER, lambda t: compat.new_render_source(t), -600, 200)
    picture, depth = compat.render_source_sockets(render, scene, _view_layer(scene).name)
    if use_dof:
        picture, used = _add_defocus(tree, scene, picture, depth, focus_distance, fstop, blur_max)
        wanted |= used

    pic = _node(tree, N_IMAGE, lambda t: t.nodes.new("CompositorNodeImage"), -600, -350)
    pic.image = image
    scale = _node(tree, N_SCALE, compat.new_scale_to_render, -350, -350)
    mix = _node(tree, N_MIX, compat.new_color_mix, 150, 100)
    mix.blend_type = blend
    factor, a, b, result = compat.color_mix_sockets(mix)
    factor.default_value = float(opacity) if image is not None else 0.0
    tree.links.new(pic.outputs["Image"], scale.inputs["Image"])
    tree.links.new(picture, a)
    layer = scale.outputs["Image"]
    if relight > 0.0 and image is not None:
        layer, used = compositor_fx.add_relight(tree, layer, normals, tuple(light / np.linalg.norm(light)), relight)
        wanted |= used
    tree.links.new(layer, b)
    if fog_density > 0.0:
        result, used = compositor_fx.add_fog(tree, result, depth, fog_density, fog_start, fog_color)
        wanted |= used
    output = compat.group_image_output(tree, "Image")
    output.node.location = (1300, 100)
    tree.links.new(result, output)

    for node in [n for n in tree.nodes if n.name.startswith(NODE_PREFIX) and n.name not in wanted]:
        tree.nodes.remove(node)
    return group


def _validated(opacity: float, blend: str, relight: float, fog_density: float, normals: bpy.types.Image | None,
               light_direction: tuple[float, float, float]) -> np.ndarray:
    """Check the options of :func:`ensure_compositor_group`; return the light direction as an array.

    :raises BadInput: As :func:`ensure_compositor_group` documents.
    """
    if not 0.0 <= opacity <= 1.0:
        raise BadInput(f"opacity must be between 0 and 1, got {opacity}")
    if blend not in BLEND_MODES:
        raise BadInput(f"unknown blend mode {blend!r}; use one of {', '.join(BLEND_MODES)}")
    if not (0.0 <= relight <= 1.0) or not fog_density >= 0.0:
        raise BadInput(f"relight must be 0..1 and fog density ≥ 0, got {relight} and {fog_density}")
    if relight > 0.0 and normals is None:
        raise BadInput("relighting needs the normal image of the capture (compositor_fx.normals_image)")
    light = np.asarray(light_direction, np.float64)
    if relight > 0.0 and not (np.isfinite(light).all() and np.linalg.norm(light) > 1e-9):
        raise BadInput(f"light direction must be a non-zero vector, got {light_direction!r}")
    return light


def _add_defocus(tree: bpy.types.NodeTree, scene: bpy.types.Scene, picture: bpy.types.NodeSocket,
                 depth: bpy.types.NodeSocket, focus_distance: float | None, fstop: float, blur_max: float,
                 ) -> tuple[bpy.types.NodeSocket, set[str]]:
    """Blur ``picture`` by depth: the camera's own focus (Z buffer), or a thin-lens radius for ``focus_distance``.

    :return: The blurred picture socket and the names of the nodes used.
    """
    wanted = {N_DEFOCUS}
    dof = _node(tree, N_DEFOCUS, lambda t: t.nodes.new("CompositorNodeDefocus"), -150, 250)
    dof.scene, dof.f_stop, dof.blur_max = scene, max(float(fstop), 1e-3), float(blur_max)
    tree.links.new(picture, dof.inputs["Image"])
    if focus_distance is None:
        dof.use_zbuffer = True  # radius from the scene camera's lens and focus distance
        tree.links.new(depth, dof.inputs["Z"])
        return dof.outputs["Image"], wanted
    # radius = k · |s/z - 1| computed here, so the user's camera stays untouched
    wanted.update(N_COC)
    ops = (("DIVIDE", float(focus_distance), None), ("SUBTRACT", None, 1.0), ("ABSOLUTE", None, None),
           ("MULTIPLY", None, _radius_factor(scene, focus_distance, fstop)))
    source = depth
    for i, (op, a, b) in enumerate(ops):
        node = _node(tree, N_COC[i], lambda t, op=op: compat.new_math(t, op), -400 + 80 * i, -150 - 40 * i)
        node.operation = op
        if a is not None:
            node.inputs[0].default_value = a
        if b is not None:
            node.inputs[1].default_value = b
        tree.links.new(source, node.inputs[1 if i == 0 else 0])
        source = node.outputs[0]
    dof.use_zbuffer, dof.z_scale = False, 1.0
    tree.links.new(source, dof.inputs["Z"])
    return dof.outputs["Image"], wanted


def is_compositor_active(scene: bpy.types.Scene) -> bool:
    """True while :func:`activate_compositor` is in effect on ``scene``.

    :param scene: Any scene.
    """
    return KEY_STATE in scene


def activate_compositor(scene: bpy.types.Scene) -> bpy.types.NodeTree:
    """Composite ``scene`` through our group, remembering what to restore.

    Stores the previous compositor (by name, and referenced so it cannot be purged), the previous
    ``render.use_compositing`` and each view layer's ``use_pass_z`` in a scene property. Calling it
    again while active keeps the first saved state.

    :param scene: Scene to switch.
    :return: Our group (created with defaults when missing).
    """
    group = find_compositor_group() or ensure_compositor_group(scene)
    if KEY_STATE not in scene:
        previous = compat.scene_compositor(scene)
        state = {
            "use_compositing": bool(scene.render.use_compositing),
            "use_pass_z": {vl.name: bool(vl.use_pass_z) for vl in scene.view_layers},
        }
        state.update(compat.activate_group(scene, group))
        if compat.uses_compositor_groups() and previous is not None and previous != group:
            scene[KEY_PREVIOUS] = previous
        scene[KEY_STATE] = json.dumps(state)
    else:
        compat.reselect_group(scene, group)
    scene.render.use_compositing = True
    for layer in scene.view_layers:
        layer.use_pass_z = True
    return group


def restore_compositor(scene: bpy.types.Scene) -> bool:
    """Undo :func:`activate_compositor`: previous compositor, ``use_compositing`` and Z-pass flags.

    :param scene: Scene to restore.
    :return: False when there was nothing to restore.
    """
    if KEY_STATE not in scene:
        return False
    state = json.loads(scene[KEY_STATE])
    previous = scene.get(KEY_PREVIOUS)
    if previous is None and state.get("group"):
        previous = bpy.data.node_groups.get(state["group"])
    group = find_compositor_group()
    if group is not None:
        compat.deactivate_group(scene, group, state, previous)
    scene.render.use_compositing = bool(state.get("use_compositing", False))
    for name, value in state.get("use_pass_z", {}).items():
        if name in scene.view_layers:
            scene.view_layers[name].use_pass_z = bool(value)
    for key in (KEY_STATE, KEY_PREVIOUS):
        if key in scene:
            del scene[key]
    return True
