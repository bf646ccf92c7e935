# SPDX-License-Identifier: GPL-3.0-or-later
"""Our compositor node group: the AI layer mixed over the render, then depth of field and fog on that composite.

Order of the effects (each optional): relight the AI layer (:mod:`.fx`) → mix it over the render →
thin-lens depth of field from the rendering camera's Z pass (:mod:`.lens`) → depth fog (:mod:`.fx`).
Each scene has a group of its own (the first ``Depth AI Compositor``, others named after their scene; tagged
with custom properties, and the group and its scene point at each other: :mod:`.ownership`), so two scenes of a
file never composite each other's render or AI layer; the user's own compositor tree is never edited.
:func:`activate_compositor` switches the scene to its group and remembers what it replaced, :func:`restore_compositor`
puts that back.
Version differences live in :mod:`.compat`.
"""

from __future__ import annotations

import json

import bpy
import numpy as np

from ...errors import BadInput
from .. import compat, images
from ..camera import cropped_size
from ..evaluation import rendered_layer
from ..units import unit_scale
from . import fx as compositor_fx
from . import lens
from .nodes import NODE_PREFIX, prune, unlink_ours
from .nodes import node as _node
from .ownership import KEY_OWNED, KEY_SCENE, claim, is_ours, our_groups, release, used_elsewhere

GROUP_NAME = "Depth AI Compositor"
KEY_STATE = "depth_addon_compositor_state"  # on the scene while our group is active: JSON
KEY_PREVIOUS = "depth_addon_previous_compositor"  # on the scene: keeps the user's group referenced

N_RENDER, N_IMAGE, N_SCALE, N_MIX = (f"{NODE_PREFIX} {s}" for s in ("Render Layers", "Image", "Scale", "Mix"))
N_ALPHA, N_SET_ALPHA = f"{NODE_PREFIX} Render Alpha", f"{NODE_PREFIX} Keep Alpha"
#: Blend modes shared by the colour mix nodes of every supported Blender.
BLEND_MODES = ("MIX", "DARKEN", "MULTIPLY", "BURN", "LIGHTEN", "SCREEN", "DODGE", "ADD", "OVERLAY", "SOFT_LIGHT",
               "LINEAR_LIGHT", "DIFFERENCE", "EXCLUSION", "SUBTRACT", "DIVIDE", "HUE", "SATURATION", "COLOR", "VALUE")
KEY_PARAMS = "depth_addon_compositor_params"  # on our node group: the options it was last built with (JSON)
KEY_NOTE = "depth_addon_compositor_note"  # on our node group: why an asked-for effect was left out
N_DEFOCUS, N_COC = lens.N_DEFOCUS, lens.N_COC


def find_compositor_group(scene: bpy.types.Scene) -> bpy.types.NodeTree | None:
    """Our compositor group of ``scene``, or None before :func:`ensure_compositor_group` made it.

    A group saved by an older version belongs to no scene: a scene that composites through it, or else any
    scene when no other one does, takes it over (:func:`ensure_compositor_group` records that); any other scene
    gets a new one.

    :param scene: The scene the group composites.
    """
    groups = our_groups()
    mine = [g for g in groups if g.get(KEY_SCENE) == scene]
    if mine:
        return mine[0]
    unclaimed = [g for g in groups if g.get(KEY_SCENE) is None]
    in_use = [g for g in unclaimed if compat.is_group_active(scene, g)]
    others = [s for s in bpy.data.scenes if s != scene]
    free = [g for g in unclaimed if not any(compat.is_group_active(s, g) for s in others)]
    return next(iter(in_use), next((g for g in free if g.name == GROUP_NAME), free[0] if free else None))


def _group_in_use(scene: bpy.types.Scene) -> bpy.types.NodeTree | None:
    """The group of ours ``scene`` composites through (its own, or another scene's in a file of an older version)."""
    own = find_compositor_group(scene)
    if own is not None and compat.is_group_active(scene, own):
        return own
    return next((g for g in our_groups() if compat.is_group_active(scene, g)), own)


def _shown_group(scene: bpy.types.Scene) -> bpy.types.NodeTree | None:
    """The scene's own group, or while it composites through another scene's (a copy of a scene in 4.x runs its
    original's group) that one: what the sidebar shows and edits."""
    own = find_compositor_group(scene)
    if own is None and is_compositor_active(scene):
        return _group_in_use(scene)
    return own


def _new_group(scene: bpy.types.Scene) -> bpy.types.NodeTree:
    """A new group of ours for ``scene``: ``Depth AI Compositor`` when no group has that name, else named after the
    scene."""
    taken = GROUP_NAME in bpy.data.node_groups
    group = compat.new_compositor_group(f"{GROUP_NAME} ({scene.name})" if taken else GROUP_NAME)
    group[KEY_OWNED] = True
    return group


def ensure_compositor_group(scene: bpy.types.Scene, image: bpy.types.Image | None = None, opacity: float = 0.5,
                            blend: str = "MIX", use_dof: bool = True, focus_distance: float | None = None,
                            fstop: float = 2.8, blur_max: float = 32.0, fog_density: float = 0.0,
                            fog_start: float = 0.0, fog_color: tuple[float, float, float] = (0.7, 0.75, 0.8),
                            normals: bpy.types.Image | None = None,
                            light_direction: tuple[float, float, float] = (0.0, 0.0, 1.0), relight: float = 0.0,
                            ) -> bpy.types.NodeTree:
    """Create our compositor group, or update it in place when it exists.

    The effects act on what the user sees, in this order: the AI layer (relit first when asked) is
    mixed over the render; the composite is then blurred by depth of field; fog comes last. Depth of
    field and fog read the *rendering* camera's Z pass, also where the AI layer was captured from
    another camera (only relighting uses the capture's own depth, through ``normals``). Options are
    kept on the group (:func:`refresh_compositor` rebuilds it with a few changed); an effect that
    cannot apply (depth of field through an orthographic camera) is left out and
    :func:`compositor_note` says why.

    :param scene: Scene whose render layers feed the group.
    :param image: Image mixed over the render (stretched to the render size); None mixes nothing.
    :param opacity: Mix factor of the image, 0..1.
    :param blend: Blend mode of the mix (``'MIX'``, ``'MULTIPLY'``, ``'SCREEN'``, ``'OVERLAY'`` ...).
    :param use_dof: Blur by depth (needs the Z pass; :func:`activate_compositor` enables it).
    :param focus_distance: Distance in focus (camera Z) in scene units, metres at Unit Scale 1; None uses the scene
        camera's own focus.
    :param fstop: Aperture f-number (> 0); smaller blurs more.
    :param blur_max: Largest blur radius in pixels (the search window is at most this).
    :param fog_density: Depth fog extinction per metre, whatever the scene's Unit Scale; 0 turns fog off.
    :param fog_start: Distance where the fog begins, in scene units (as the Z pass; metres at Unit Scale 1).
    :param fog_color: Linear RGB colour of the fog.
    :param normals: Camera-space normal image of the AI layer's capture
        (:func:`~depth_addon.blender.compositor.fx.normals_image`); needed for relighting.
    :param light_direction: Direction towards the light in the capture camera's space
        (:func:`~depth_addon.blender.compositor.fx.light_in_camera` converts a world direction).
    :param relight: Relighting strength of the AI layer, 0 (off) to 1.
    :raises BadInput: For an unknown blend mode, an opacity or strength outside 0..1, negative fog,
        relighting without a normal image, an f-stop ≤ 0, or a focus distance in front of the lens or
        behind every surface; nothing is changed then.
    """
    light = _validated(opacity, blend, relight, fog_density, normals, light_direction)
    lens_plan, note = _dof_plan(scene, use_dof, focus_distance, fstop, blur_max)
    cropped = cropped_size(scene)  # 4.x: the AI layer is stretched to the region of a cropped render
    group = find_compositor_group(scene) or _new_group(scene)
    claim(scene, group)
    tree = group
    unlink_ours(tree)

    wanted = {N_RENDER, N_IMAGE, N_SCALE, N_MIX}
    old = tree.nodes.get(N_RENDER)
    if old is not None and (old.bl_idname == "NodeGroupInput") == compat.uses_compositor_groups():
        tree.nodes.remove(old)  # a group made by 4.x (Group Input) opened in 5.x, or the other way: made anew
    render = _node(tree, N_RENDER, lambda t: compat.new_render_source(t), -600, 200)
    picture, depth = compat.render_source_sockets(render, scene, rendered_layer(scene).name)
    pic = _node(tree, N_IMAGE, lambda t: t.nodes.new("CompositorNodeImage"), -600, -350)
    shown, pic.image = pic.image, image
    images.keep_unshown(shown)  # the picture this replaces stays in the file, a result to pick from
    scale = _node(tree, N_SCALE, compat.new_scale_to_render, -350, -350)
    mix = _node(tree, N_MIX, compat.new_color_mix, 150, 100)
    mix.blend_type = blend
    factor, a, b, result = compat.color_mix_sockets(mix)
    factor.default_value = float(opacity) if image is not None else 0.0
    tree.links.new(pic.outputs["Image"], scale.inputs["Image"])
    tree.links.new(picture, a)
    layer = scale.outputs["Image"]
    if relight > 0.0 and image is not None:  # 1. relight the AI layer, 2. mix it over the render
        layer, used = compositor_fx.add_relight(tree, layer, normals, tuple(light / np.linalg.norm(light)), relight)
        wanted |= used
    tree.links.new(layer, b)
    if lens_plan is not None:  # 3. depth of field on the composite
        result, used = lens.add_defocus(tree, scene, result, depth, *lens_plan)
        wanted |= used
    if fog_density > 0.0:  # 4. fog
        per_unit = fog_density * unit_scale(scene)  # the Z pass is in scene units
        result, used = compositor_fx.add_fog(tree, result, depth, per_unit, fog_start, fog_color)
        wanted |= used
    result = _render_alpha(tree, picture, result)  # 5.3's colour mixes mix alpha too: the render's stays
    wanted |= {N_ALPHA, N_SET_ALPHA}
    output = compat.group_image_output(tree, "Image")
    output.node.location = (1800, 100)
    tree.links.new(result, output)

    for name in {N_SCALE, compositor_fx.N_RELIGHT[1]} & wanted:
        compat.fit_scale_to_crop(tree.nodes[name], cropped)
    prune(tree, wanted)
    group[KEY_NOTE] = note
    group[KEY_PARAMS] = json.dumps({
        "image": image.name if image is not None else None, "opacity": float(opacity), "blend": blend,
        "use_dof": bool(use_dof), "focus_distance": focus_distance, "fstop": float(fstop),
        "blur_max": float(blur_max), "fog_density": float(fog_density), "fog_start": float(fog_start),
        "fog_color": [float(c) for c in fog_color[:3]], "normals": normals.name if normals is not None else None,
        "light_direction": [float(v) for v in light_direction], "relight": float(relight)})
    return group


def _render_alpha(tree: bpy.types.NodeTree, picture: bpy.types.NodeSocket, result: bpy.types.NodeSocket
                  ) -> bpy.types.NodeSocket:
    """``result`` with the render's own alpha (a transparent film stays transparent where the AI layer is mixed)."""
    split = _node(tree, N_ALPHA, lambda t: t.nodes.new("CompositorNodeSeparateColor"), 1300, -200)
    keep = _node(tree, N_SET_ALPHA, compat.new_replace_alpha, 1550, 100)
    tree.links.new(picture, split.inputs["Image"])
    tree.links.new(result, keep.inputs["Image"])
    tree.links.new(split.outputs["Alpha"], keep.inputs["Alpha"])
    return keep.outputs["Image"]


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


def _dof_plan(scene: bpy.types.Scene, use_dof: bool, focus_distance: float | None, fstop: float,
              blur_max: float) -> tuple[tuple[float, float, float] | None, str]:
    """``((focus, radius factor, search window) or None, note)`` for :func:`lens.add_defocus`.

    :raises BadInput: As :func:`ensure_compositor_group` documents.
    """
    if not use_dof:
        return None, ""
    if not fstop > 0.0 or not blur_max >= 0.0:
        raise BadInput(f"f-stop must be above 0 and the largest blur at least 0, got {fstop} and {blur_max}")
    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        return None, "no depth of field: the scene has no camera"
    if camera.data.type != "PERSP":
        return None, f"no depth of field: camera {camera.name!r} is not a perspective camera (thin lens)"
    if focus_distance is not None:
        lens.check_focus(scene, camera, float(focus_distance), fstop)
        focus = float(focus_distance)
    else:
        focus = lens.camera_focus(camera)
        if focus * unit_scale(scene) <= camera.data.lens / 1000.0:
            return None, f"no depth of field: camera {camera.name!r} focuses in front of its lens; set a distance"
    # the lens is in millimetres, the focus and the Z pass in scene units: the blur's size is in metres
    factor = lens.radius_factor(focus * unit_scale(scene), fstop, camera.data.lens, lens.focal_pixels(scene, camera))
    return (focus, factor, lens.blur_window(scene, camera, factor, focus, blur_max)), ""


def compositor_note(scene: bpy.types.Scene) -> str:
    """Why the last build of the scene's group left an asked-for effect out (empty when nothing was left out).

    :param scene: The scene.
    """
    group = _shown_group(scene)
    return str(group.get(KEY_NOTE, "")) if group is not None else ""


def compositor_params(scene: bpy.types.Scene) -> dict:
    """The options :func:`ensure_compositor_group` last built the scene's group with (images by name); empty
    without one.

    :param scene: The scene.
    """
    group = _shown_group(scene)
    return json.loads(group.get(KEY_PARAMS, "{}")) if group is not None else {}


def refresh_compositor(scene: bpy.types.Scene, **changes) -> bpy.types.NodeTree | None:
    """Rebuild our group with the options it was last built with, ``changes`` applied (live settings).

    :param scene: The scene.
    :param changes: Keyword options of :func:`ensure_compositor_group` to change.
    :return: Our group, or None when there is none yet (nothing is created).
    :raises BadInput: As :func:`ensure_compositor_group`; the group is then left as it was.
    """
    group = _shown_group(scene)
    if group is None:
        return None
    params = _params_of(group)
    params.update(changes)
    own = ensure_compositor_group(scene, **params)  # a copied scene (4.x) ran its original's: it gets its own now
    if own != group:
        compat.reselect_group(scene, own)
    return own


def _params_of(group: bpy.types.NodeTree | None) -> dict:
    """The options a group was last built with, as :func:`ensure_compositor_group` keywords (images found)."""
    if group is None:
        return {}
    params = json.loads(group.get(KEY_PARAMS, "{}"))
    for key in ("image", "normals"):
        name = params.pop(key, None)
        params[key] = bpy.data.images.get(name) if name else None
    return params


def is_compositor_active(scene: bpy.types.Scene) -> bool:
    """True while :func:`activate_compositor` is in effect on ``scene``.

    :param scene: Any scene.
    """
    return KEY_STATE in scene


def activate_compositor(scene: bpy.types.Scene) -> bpy.types.NodeTree:
    """Composite ``scene`` through our group, remembering what to restore.

    Stores the previous compositor (by name, and referenced so it cannot be purged), the previous
    ``render.use_compositing`` and each view layer's ``use_pass_z`` in a scene property, then turns the Z
    pass on (depth of field and fog need it; :func:`restore_compositor` turns it back). Calling it
    again while active keeps the first saved state.

    :param scene: Scene to switch.
    :return: Our group (created with defaults when missing).
    """
    group = find_compositor_group(scene)
    if group is None or group.get(KEY_SCENE) != scene:
        group = ensure_compositor_group(scene, **_params_of(group))
    _migrate(scene)
    if KEY_STATE not in scene:
        previous = compat.scene_compositor(scene)
        state = {
            "use_compositing": bool(scene.render.use_compositing),
            "use_pass_z": {vl.name: bool(vl.use_pass_z) for vl in scene.view_layers},
        }
        state.update(compat.activate_group(scene, group, rendered_layer(scene).name))
        if compat.uses_compositor_groups() and previous is not None and not is_ours(previous):
            scene[KEY_PREVIOUS] = previous
        scene[KEY_STATE] = json.dumps(state)
    else:
        compat.reselect_group(scene, group)
    scene.render.use_compositing = True
    for layer in scene.view_layers:
        layer.use_pass_z = True
    for link in [lk for lk in group.links if not lk.is_valid]:  # made while the Z pass was off: link again
        source, target = link.from_socket, link.to_socket
        group.links.remove(link)
        group.links.new(source, target)
    return group


def _migrate(scene: bpy.types.Scene) -> None:
    """Bring a state that 4.x saved to what 5.x keeps (:func:`~depth_addon.blender.compat.migrate_4x_state`)."""
    if KEY_STATE not in scene or not compat.uses_compositor_groups():
        return
    state = json.loads(scene[KEY_STATE])
    if "muted" not in state:
        return
    state, previous = compat.migrate_4x_state(scene, state)
    if previous is not None:
        scene[KEY_PREVIOUS] = previous
    scene[KEY_STATE] = json.dumps(state)


def _drop_if_unused(group: bpy.types.NodeTree) -> None:
    """Delete a group of ours once no scene composites through it (it points at its scene, which would stay
    referenced), with the normal image of its relighting when nothing else uses that; Set Up Compositor builds
    the group again from the sidebar's settings. A group the user put into a compositor of their own (a group
    node) stays: deleting it would empty their node."""
    if any(compat.is_group_active(s, group) for s in bpy.data.scenes):
        return
    if used_elsewhere(group):
        return
    normals = group.nodes.get(compositor_fx.N_RELIGHT[0])
    image = getattr(normals, "image", None)
    shown = getattr(group.nodes.get(N_IMAGE), "image", None)
    release(group)
    bpy.data.node_groups.remove(group)
    images.keep_unshown(shown)  # the AI layer's picture stays in the file, a result to pick from
    if image is not None and image.users == 0 and image.get(images.KEY_OWNED):
        bpy.data.images.remove(image)


def restore_compositor(scene: bpy.types.Scene) -> bool:
    """Undo :func:`activate_compositor`: previous compositor, ``use_compositing`` and Z-pass flags.

    :param scene: Scene to restore.
    :return: False when there was nothing to restore.
    """
    if KEY_STATE not in scene:
        return False
    _migrate(scene)
    state = json.loads(scene[KEY_STATE])
    previous = scene.get(KEY_PREVIOUS)
    if previous is None and state.get("group"):
        previous = bpy.data.node_groups.get(state["group"])
    if previous is not None and is_ours(previous):  # another scene's group of ours: never given back
        previous = None
    group = _group_in_use(scene)
    compat.deactivate_group(scene, group, state, previous)  # also when the user deleted our group
    if group is not None:
        _drop_if_unused(group)
    scene.render.use_compositing = bool(state.get("use_compositing", False))
    for name, value in state.get("use_pass_z", {}).items():
        if name in scene.view_layers:
            scene.view_layers[name].use_pass_z = bool(value)
    for key in (KEY_STATE, KEY_PREVIOUS):
        if key in scene:
            del scene[key]
    return True
