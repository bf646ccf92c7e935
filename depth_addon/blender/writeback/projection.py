# SPDX-License-Identifier: GPL-3.0-or-later
"""Write-back: project a camera-space image onto the scene's objects through a frozen projector.

The projector is an Empty at the capture camera's pose holding the frame, size and ortho flag as
custom properties, so the projection stays put when the camera moves and survives reopening the
file. Each material slot gets a *new* material (a copy of the original) whose shader maps the
projector-space position to image UV (divide by ``-Z`` for perspective) and mixes the image, as
emission, over the original surface where the point is in the frame, in front of the projector
and not occluded (with a depth image). Originals stay untouched, protected by a fake user while
unused, and :func:`remove_projection` restores every slot exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Matrix

from ...camera import CameraModel
from ...errors import BadInput
from .. import compat
from ..images import KEY_OWNED, owned_collection

PROJECTOR_COLLECTION = "Depth Projectors"
MATERIAL_SUFFIX = " [Depth]"
NODE_PREFIX = "Depth Projection"

KEY_PROJECTOR = "depth_addon_projector"  # on a projector: the full camera model as JSON
KEY_STATE = "depth_addon_projection"  # on a projected object: JSON of its original slots
KEY_SOURCE = "depth_addon_source"  # on a projection material: JSON [name, library path] or null
KEY_SOURCE_FAKE = "depth_addon_source_fake_user"  # the source's fake-user flag before projection


@dataclass
class ProjectionResult:
    """What :func:`project_image` created.

    :param projector: The frozen projector Empty.
    :param materials: The new projection materials (one per original material).
    :param objects: The objects whose slots now use them.
    """

    projector: bpy.types.Object
    materials: list[bpy.types.Material] = field(default_factory=list)
    objects: list[bpy.types.Object] = field(default_factory=list)


def _projector_collection(scene: bpy.types.Scene) -> bpy.types.Collection:
    return owned_collection(scene, PROJECTOR_COLLECTION)


def create_projector(scene: bpy.types.Scene, camera_model: CameraModel, name: str = "Depth Projector"
                     ) -> bpy.types.Object:
    """Freeze a capture pose as an Empty in the ``Depth Projectors`` collection.

    :param scene: Scene to link the collection to.
    :param camera_model: Pose, frame, size and projection type of the capture camera.
    :param name: Object name (made unique by Blender).
    :return: The Empty; its custom properties hold ``frame``, ``width``, ``height``, ``ortho``.
    """
    loc, rot, _scale = Matrix(camera_model.matrix_world).decompose()  # the camera's view ignores scale
    obj = bpy.data.objects.new(name, None)
    obj.empty_display_type = "ARROWS"
    obj.matrix_world = Matrix.LocRotScale(loc, rot, None)
    for key, value in (("frame", list(camera_model.frame)), ("width", camera_model.width),
                       ("height", camera_model.height), ("ortho", bool(camera_model.ortho)),
                       (KEY_PROJECTOR, json.dumps(camera_model.to_dict())), (KEY_OWNED, True)):
        obj[key] = value
    _projector_collection(scene).objects.link(obj)
    return obj


def projector_camera_model(projector: bpy.types.Object) -> CameraModel:
    """The camera model a projector was frozen from, at the projector's current pose.

    :param projector: An Empty made by :func:`create_projector`.
    """
    if KEY_PROJECTOR not in projector:
        raise BadInput(f"{projector.name!r} is not a depth projector")
    data = json.loads(projector[KEY_PROJECTOR])
    data["matrix_world"] = [list(r) for r in projector.matrix_world]
    return CameraModel.from_dict(data)



def _math(tree, op: str, a, b=None, loc=(0, 0)):
    node = tree.nodes.new("ShaderNodeMath")
    node.operation = op
    node.name = node.label = f"{NODE_PREFIX} {op.title()}"
    node.location = loc
    for sock, val in ((node.inputs[0], a), (node.inputs[1], b)):
        if isinstance(val, bpy.types.NodeSocket):
            tree.links.new(val, sock)
        elif val is not None:
            sock.default_value = float(val)
    return node.outputs[0]


def _add_projection_nodes(tree, projector, image, depth_image, tolerance: float, interpolation: str):
    """Add the projector maths to ``tree``; return ``(factor socket, emission shader socket)``."""
    nodes, link = tree.nodes, tree.links.new
    frame_box = nodes.new("NodeFrame")
    frame_box.name = frame_box.label = NODE_PREFIX

    def node(idname: str, label: str, x: float, y: float):
        n = nodes.new(idname)
        n.name = n.label = f"{NODE_PREFIX} {label}"
        n.location = (x, y)
        return n

    left, right, bottom, top = (float(v) for v in projector["frame"])
    ortho = bool(projector["ortho"])
    coord = node("ShaderNodeTexCoord", "Coordinates", -1800, 0)
    coord.object = projector
    sep = node("ShaderNodeSeparateXYZ", "Split", -1600, 0)
    link(coord.outputs["Object"], sep.inputs[0])
    zneg = _math(tree, "MULTIPLY", sep.outputs["Z"], -1.0, (-1400, -250))
    xs, ys = sep.outputs["X"], sep.outputs["Y"]
    if not ortho:
        xs = _math(tree, "DIVIDE", xs, zneg, (-1400, 100))
        ys = _math(tree, "DIVIDE", ys, zneg, (-1400, -50))
    u = _math(tree, "MULTIPLY_ADD", xs, 1.0 / (right - left), (-1200, 100))
    u.node.inputs[2].default_value = -left / (right - left)
    v = _math(tree, "MULTIPLY_ADD", ys, 1.0 / (top - bottom), (-1200, -50))
    v.node.inputs[2].default_value = -bottom / (top - bottom)
    uv = node("ShaderNodeCombineXYZ", "UV", -1000, 0)
    link(u, uv.inputs["X"])
    link(v, uv.inputs["Y"])

    tex = node("ShaderNodeTexImage", "Image", -800, 250)
    tex.image, tex.extension, tex.interpolation = image, "CLIP", interpolation
    link(uv.outputs[0], tex.inputs["Vector"])
    emit = node("ShaderNodeEmission", "Emission", -500, 250)
    link(tex.outputs["Color"], emit.inputs["Color"])

    # inside the frame: max(|u - 0.5|, |v - 0.5|) < 0.5; in front: -Z > 0
    du = _math(tree, "ABSOLUTE", _math(tree, "SUBTRACT", u, 0.5, (-1000, -200)), None, (-850, -200))
    dv = _math(tree, "ABSOLUTE", _math(tree, "SUBTRACT", v, 0.5, (-1000, -350)), None, (-850, -350))
    inside = _math(tree, "LESS_THAN", _math(tree, "MAXIMUM", du, dv, (-700, -250)), 0.5, (-550, -250))
    front = _math(tree, "GREATER_THAN", zneg, 0.0, (-550, -400))
    factor = _math(tree, "MULTIPLY", inside, front, (-350, -300))
    if depth_image is not None:
        dtex = node("ShaderNodeTexImage", "Depth", -800, -550)
        dtex.image, dtex.extension, dtex.interpolation = depth_image, "CLIP", "Closest"
        link(uv.outputs[0], dtex.inputs["Vector"])
        split = node("ShaderNodeSeparateColor", "Depth Value", -550, -550)
        link(dtex.outputs["Color"], split.inputs[0])
        limit = _math(tree, "MULTIPLY", split.outputs["Red"], 1.0 + float(tolerance), (-400, -550))
        visible = _math(tree, "LESS_THAN", zneg, limit, (-250, -550))
        factor = _math(tree, "MULTIPLY", factor, visible, (-150, -350))
    for n in nodes:
        if n.name.startswith(NODE_PREFIX) and n != frame_box and n.parent is None:
            n.parent = frame_box
    return factor, emit.outputs[0]


def _build_material(source, projector, image, depth_image, tolerance: float, interpolation: str):
    """A new material: ``source`` (or plain grey) with the projection mixed over its surface."""
    if source is None:
        mat = bpy.data.materials.new(f"{NODE_PREFIX}{MATERIAL_SUFFIX}")
        mat.diffuse_color = (0.8, 0.8, 0.8, 1.0)
    else:
        mat = source.copy()
        mat.name = f"{source.name}{MATERIAL_SUFFIX}"
        mat.use_fake_user = False
    tree = compat.ensure_node_tree(mat)
    outputs = {tree.get_output_node(t) for t in ("ALL", "CYCLES", "EEVEE")} - {None}
    if not outputs:
        out = tree.nodes.new("ShaderNodeOutputMaterial")
        out.location = (300, 0)
        outputs = {out}
    factor, emission = _add_projection_nodes(tree, projector, image, depth_image, tolerance, interpolation)
    for out in outputs:
        surface = out.inputs["Surface"]
        original = surface.links[0].from_socket if surface.is_linked else None
        mix = tree.nodes.new("ShaderNodeMixShader")
        mix.name = mix.label = f"{NODE_PREFIX} Mix"
        mix.location = (out.location.x - 200, out.location.y + 150)
        tree.links.new(factor, mix.inputs[0])
        if original is not None:
            tree.links.new(original, mix.inputs[1])
        tree.links.new(emission, mix.inputs[2])
        tree.links.new(mix.outputs[0], surface)
    mat[KEY_SOURCE] = json.dumps(None if source is None else [source.name, _lib(source)])
    return mat



def _lib(idb) -> str | None:
    return idb.library.filepath if idb.library is not None else None


def _lookup_material(key) -> bpy.types.Material | None:
    if key is None:
        return None
    return bpy.data.materials.get(tuple(key) if key[1] else key[0])


def _projection_materials() -> list[bpy.types.Material]:
    return [m for m in bpy.data.materials if KEY_SOURCE in m]


def _source_of(mat: bpy.types.Material) -> bpy.types.Material | None:
    return _lookup_material(json.loads(mat[KEY_SOURCE]))


def _protect_source(source: bpy.types.Material | None, mat: bpy.types.Material) -> None:
    """Remember the source's fake-user flag on ``mat`` and keep the source from being purged."""
    if source is None:
        return
    previous = source.use_fake_user
    for other in _projection_materials():
        if other != mat and KEY_SOURCE_FAKE in other and _source_of(other) == source:
            previous = bool(other[KEY_SOURCE_FAKE])  # already protected by an earlier projection
            break
    mat[KEY_SOURCE_FAKE] = previous
    if source.library is None:
        source.use_fake_user = True


def _projectors_of(mats) -> set[str]:
    return {n.object.name for m in mats for n in m.node_tree.nodes
            if n.bl_idname == "ShaderNodeTexCoord" and n.object is not None and KEY_PROJECTOR in n.object}


def _discard_materials(mats: list[bpy.types.Material]) -> None:
    """Delete projection materials, handing remaining users back to the source material.

    Projectors that no remaining projection material uses are deleted too.
    """
    doomed = {m.name for m in mats}
    projectors = _projectors_of(mats)
    for mat in mats:
        source = _source_of(mat)
        if source is not None:
            if mat.users:
                mat.user_remap(source)
            still_used = any(o.name not in doomed and _source_of(o) == source for o in _projection_materials())
            if not still_used and source.library is None:
                source.use_fake_user = bool(mat.get(KEY_SOURCE_FAKE, source.use_fake_user))
        bpy.data.materials.remove(mat)
    for name in projectors - _projectors_of(_projection_materials()):
        bpy.data.objects.remove(bpy.data.objects[name])
    coll = bpy.data.collections.get(PROJECTOR_COLLECTION)
    if coll is not None and coll.get(KEY_OWNED) and not coll.all_objects and not coll.children:
        bpy.data.collections.remove(coll)


def _restore_object(obj: bpy.types.Object) -> None:
    state = json.loads(obj[KEY_STATE])
    added = int(state.get("added", 0))
    if added and len(obj.data.materials) <= added:
        obj.data.materials.clear()  # pop() of the last slot leaves the object's slot count stale
    else:
        for _ in range(added):
            obj.data.materials.pop()
    for slot, key in zip(obj.material_slots, state["slots"], strict=False):
        slot.material = _lookup_material(key)
    del obj[KEY_STATE]


def render_visible(scene: bpy.types.Scene) -> set[str]:
    """Names of objects a render of ``scene`` shows (view layer, collection and object flags)."""
    names: set[str] = set()
    view_layer = bpy.context.view_layer
    if view_layer is None or view_layer.name not in scene.view_layers:
        view_layer = scene.view_layers[0]

    def walk(layer_coll) -> None:
        if layer_coll.exclude or layer_coll.collection.hide_render:
            return
        names.update(o.name for o in layer_coll.collection.objects if not o.hide_render)
        for child in layer_coll.children:
            walk(child)

    walk(view_layer.layer_collection)
    return names


def _targets(scene: bpy.types.Scene, objects) -> list[bpy.types.Object]:
    if objects is None:
        visible = render_visible(scene)
        return [o for o in scene.objects if o.type == "MESH" and o.name in visible
                and o.library is None and o.data.library is None]
    result = []
    for obj in objects:
        if obj.type != "MESH":
            raise BadInput(f"{obj.name!r} is a {obj.type.lower()} object; only meshes take a projection")
        if obj.library is not None or obj.data.library is not None:
            raise BadInput(f"{obj.name!r} is linked from a library; make it local before projecting onto it")
        result.append(obj)
    return result



def project_image(scene: bpy.types.Scene, camera_model: CameraModel, image: bpy.types.Image, objects=None,
                  depth_image: bpy.types.Image | None = None, tolerance: float = 0.02,
                  name: str = "Depth Projection", interpolation: str = "Linear", depth: np.ndarray | None = None,
                  ) -> ProjectionResult:
    """Project ``image`` from a frozen copy of the capture camera onto mesh objects.

    Objects already carrying a projection are restored first, so the new one replaces it.

    :param scene: Scene holding the objects; the projector is linked to it.
    :param camera_model: The capture camera (pose, frame, size).
    :param image: Colour image to project, as seen by that camera.
    :param objects: Mesh objects to project onto; default: every mesh the render shows.
    :param depth_image: Camera-Z depth of the capture view (Non-Color float); enables occlusion.
    :param tolerance: Relative depth slack of the occlusion test (0.02 = 2 %).
    :param name: Name of the projector object.
    :param interpolation: Image interpolation: ``'Linear'``, ``'Closest'``, ``'Cubic'`` or ``'Smart'``.
    :param depth: H×W planar depth of the capture (metres, ``inf`` background) instead of
        ``depth_image``: stored with its per-pixel slack (:func:`.images.occlusion_image`), so
        grazing surfaces show no occlusion acne.
    :raises BadInput: For a non-mesh or library-linked object in ``objects``, or bad options.
    """
    if interpolation not in ("Linear", "Closest", "Cubic", "Smart") or not tolerance >= 0.0:
        raise BadInput(f"bad interpolation {interpolation!r} or negative tolerance {tolerance}")
    targets = list({o.name_full: o for o in _targets(scene, objects)}.values())  # each object once
    if not targets:
        raise BadInput("no visible mesh objects to project onto")
    if depth is not None and depth_image is None:
        from ..images import occlusion_image

        depth_image = occlusion_image(f"{image.name} Depth", depth)
    previous = [o for o in targets if KEY_STATE in o]
    for obj in previous:
        _restore_object(obj)
    if previous:
        _discard_materials([m for m in _projection_materials() if m.users == 0])
    projector = create_projector(scene, camera_model, name)
    result = ProjectionResult(projector)
    made: dict[tuple | None, bpy.types.Material] = {}

    def projection_for(source: bpy.types.Material | None) -> bpy.types.Material:
        key = None if source is None else (source.name, _lib(source))
        if key not in made:
            made[key] = _build_material(source, projector, image, depth_image, tolerance, interpolation)
            _protect_source(source, made[key])
            result.materials.append(made[key])
        return made[key]

    for obj in targets:
        added = 0
        if not obj.material_slots:
            obj.data.materials.append(None)
            added = 1
        originals = []
        for slot in obj.material_slots:
            current = slot.material
            source = _source_of(current) if current is not None and KEY_SOURCE in current else current
            originals.append(None if source is None else [source.name, _lib(source)])
            slot.material = projection_for(source)
        obj[KEY_STATE] = json.dumps({"projector": projector.name, "slots": originals, "added": added})
        result.objects.append(obj)
    return result


def remove_projection(objects=None) -> int:
    """Undo :func:`project_image`: restore every slot, delete the projection materials and projectors.

    :param objects: Objects to restore; default: every projected object in the file.
    :return: Number of objects restored.
    """
    targets = [o for o in (bpy.data.objects if objects is None else objects) if KEY_STATE in o]
    for obj in targets:
        _restore_object(obj)
    mats = _projection_materials()
    _discard_materials(mats if objects is None else [m for m in mats if m.users == 0])
    return len(targets)


def is_projected(obj: bpy.types.Object) -> bool:
    """True when ``obj`` currently shows a projection made by :func:`project_image`.

    :param obj: Any object.
    """
    return KEY_STATE in obj
