# SPDX-License-Identifier: GPL-3.0-or-later
"""Write-back: project a camera-space image onto the scene's objects through a frozen projector.

The projector is an Empty at the capture camera's pose holding the frame, size and ortho flag as
custom properties, so the projection stays put when the camera moves and survives reopening the
file. Each material slot gets a *new* material (a copy of the original) whose shader maps the
projector-space position to image UV (divide by ``-Z`` for perspective) and mixes the image, as
emission, over the original surface where the point is in the frame, in front of the projector
and not occluded (with a depth image). Slots are switched to an *Object* link, so the mesh's own material list
(which other objects may share) is never edited. Originals stay untouched: each projection material refers to its
original and each object to its slots' own materials (references count as users and follow renames: :mod:`.kept`),
and :func:`remove_projection` restores every slot exactly.
"""

from __future__ import annotations

import json
from collections.abc import Set
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Matrix

from ...camera import CameraModel
from ...errors import BadInput
from ..evaluation import scene_layer
from ..images import KEY_OWNED, owned_collection
from ..units import unit_scale
from . import kept
from . import provenance as provenance_props
from .projection_nodes import KEY_SOURCE, MATERIAL_SUFFIX, NODE_PREFIX, build_material, library_of

__all__ = ["KEY_PROJECTOR", "KEY_SOURCE", "KEY_STATE", "MATERIAL_SUFFIX", "NODE_PREFIX", "ProjectionResult",
           "create_projector", "is_projected", "project_image", "projector_camera_model", "remove_projection",
           "render_visible"]

PROJECTOR_COLLECTION = "Depth Projectors"

KEY_PROJECTOR = "depth_addon_projector"  # on a projector: the full camera model as JSON
KEY_STATE = "depth_addon_projection"  # on a projected object: JSON of its original slots
KEY_KEPT = "depth_addon_projection_kept"  # on a projected object: its slots' own materials (:mod:`.kept`)
KEY_SOURCE_MATERIAL = "depth_addon_source_material"  # on a projection material: its original, as a reference
#: On projection materials made before originals were referred to: the original's fake-user flag before it was set.
KEY_SOURCE_FAKE = "depth_addon_source_fake_user"


@dataclass
class ProjectionResult:
    """What :func:`project_image` created.

    :param projector: The frozen projector Empty.
    :param materials: The new projection materials (one per original material).
    :param objects: The objects whose slots now use them.
    :param replaced: Objects (also in other scenes) that showed another scene's projection, which this one
        replaced: an object shows one projection, in every scene it is in.
    """

    projector: bpy.types.Object
    materials: list[bpy.types.Material] = field(default_factory=list)
    objects: list[bpy.types.Object] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)


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



def _lookup_material(key) -> bpy.types.Material | None:
    if key is None:
        return None
    return bpy.data.materials.get(tuple(key) if key[1] else key[0])


def _projection_materials() -> list[bpy.types.Material]:
    return [m for m in bpy.data.materials if KEY_SOURCE in m]


def image_nodes(image: bpy.types.Image | None, record: dict) -> list[bpy.types.ShaderNodeTexImage]:
    """The image nodes of our projection materials that show ``image``; for None, the picture nodes left empty (its
    image deleted) of the materials of the run ``record`` describes (the same kind and cameras).

    :param image: An image, or None.
    :param record: The provenance record of the run.
    """
    nodes = []
    for mat in _projection_materials():
        tree = mat.node_tree
        if image is not None:
            nodes += [n for n in tree.nodes if n.bl_idname == "ShaderNodeTexImage" and n.image == image] if tree else []
            continue
        node = tree.nodes.get(f"{NODE_PREFIX} Image") if tree is not None else None
        own = provenance_props.read(mat) or {}
        if node is not None and node.image is None and all(own.get(k) == record.get(k) for k in ("kind", "cameras")):
            nodes.append(node)
    return nodes


def source_of(mat: bpy.types.Material) -> bpy.types.Material | None:
    """The material a projection material ``mat`` stands in for (what its slot showed before), or None.

    :param mat: A projection material (one with :data:`.projection_nodes.KEY_SOURCE`).
    """
    if KEY_SOURCE_MATERIAL in mat:
        return mat[KEY_SOURCE_MATERIAL]
    return _lookup_material(json.loads(mat[KEY_SOURCE]))


def _protect_source(source: bpy.types.Material | None, mat: bpy.types.Material) -> None:
    """Refer to the source from ``mat``: a user, so unused originals survive a purge or a save, whatever their
    name becomes meanwhile."""
    if source is not None:
        mat[KEY_SOURCE_MATERIAL] = source


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
        source = source_of(mat)
        if source is not None:
            if mat.users:
                mat.user_remap(source)
            heirs = [o for o in _projection_materials() if o.name not in doomed and source_of(o) == source]
            if KEY_SOURCE_FAKE in mat and source.library is None:  # made by an earlier version, which set the flag
                if heirs:  # put back when the last material of that source goes
                    heirs[0][KEY_SOURCE_FAKE] = mat[KEY_SOURCE_FAKE]
                else:
                    source.use_fake_user = bool(mat[KEY_SOURCE_FAKE])
        bpy.data.materials.remove(mat)
    for name in projectors - _projectors_of(_projection_materials()):
        bpy.data.objects.remove(bpy.data.objects[name])
    coll = bpy.data.collections.get(PROJECTOR_COLLECTION)
    if coll is not None and coll.get(KEY_OWNED) and not coll.all_objects and not coll.children:
        bpy.data.collections.remove(coll)


def _owned_images(mats: list[bpy.types.Material], pictures: bool = False) -> set[bpy.types.Image]:
    """Our images that the image nodes of ``mats`` show: their occlusion depth and material maps; with
    ``pictures`` also the pictures they project that are ours and no generated result (those carry their
    provenance and stay, results to pick from)."""
    return {n.image for m in mats if m.node_tree is not None for n in m.node_tree.nodes
            if n.bl_idname == "ShaderNodeTexImage" and n.image is not None and n.image.get(KEY_OWNED)
            and (n.name != f"{NODE_PREFIX} Image" or pictures and provenance_props.KEY_PROVENANCE not in n.image)}


def _drop_unused(images: set[bpy.types.Image]) -> None:
    for image in images:
        if image.users == 0:
            bpy.data.images.remove(image)


def _results(mats: list[bpy.types.Material]) -> set[bpy.types.Image]:
    """The generated results (pictures with a provenance record) that the projection materials ``mats`` show."""
    return {n.image for m in mats if m.node_tree is not None for n in m.node_tree.nodes
            if n.bl_idname == "ShaderNodeTexImage" and n.name == f"{NODE_PREFIX} Image" and n.image is not None
            and provenance_props.KEY_PROVENANCE in n.image}


def _keep_results(images: set[bpy.types.Image]) -> None:
    """Give the results of ``images`` that nothing shows any more a fake user: they stay in the file as results to
    pick from (Project Image, the compositor's AI layer), where Blender would drop them at the next save. Clearing
    the fake user (the shield in the image browser) lets them go."""
    for image in images:
        if image.users == 0 and image.library is None:
            image.use_fake_user = True


def _restore_object(obj: bpy.types.Object) -> None:
    state = json.loads(obj[KEY_STATE])
    if "links" in state:  # before the slots added for the projection go: they hold the projection too
        own = kept.materials(obj, KEY_KEPT, state["links"], lambda _link: None)
        for slot, link, material in zip(obj.material_slots, state["links"], own, strict=False):
            slot.link = "OBJECT"
            slot.material = material
            slot.link = link
    del obj[KEY_STATE]
    provenance_props.detach(obj)  # a record of its own (it was repainted alone) goes with its projection
    kept.drop_added_slots(obj, int(state.get("added", 0)))
    if "links" not in state:  # projected by an earlier version: the mesh's slots held the projection
        for slot, key in zip(obj.material_slots, state["slots"], strict=False):
            slot.material = _lookup_material(key)
    kept.forget(obj, KEY_KEPT)


def render_visible(scene: bpy.types.Scene) -> set[str]:
    """Names of objects a render of ``scene`` shows (view layer, collection and object flags)."""
    names: set[str] = set()
    view_layer = scene_layer(scene)

    def walk(layer_coll) -> None:
        if layer_coll.exclude or layer_coll.collection.hide_render:
            return
        names.update(o.name for o in layer_coll.collection.objects if not o.hide_render)
        for child in layer_coll.children:
            walk(child)

    walk(view_layer.layer_collection)
    return names


def meshes_in_view(scene: bpy.types.Scene) -> tuple[list[bpy.types.Object], list[str]]:
    """The mesh objects a render of ``scene`` shows: the local ones, and the names of those linked from a library
    (they are left as they are: a result cannot be written into a library's data).

    :param scene: The scene.
    """
    visible = render_visible(scene)
    shown = [o for o in scene.objects if o.type == "MESH" and o.name in visible]
    local = [o for o in shown if o.library is None and o.data.library is None]
    return local, [o.name for o in shown if o.library is not None or o.data.library is not None]


def _targets(scene: bpy.types.Scene, objects) -> list[bpy.types.Object]:
    if objects is None:
        return meshes_in_view(scene)[0]
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
                  maps: dict | None = None) -> ProjectionResult:
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
    :param maps: Map name → projected image (``albedo``, ``roughness``, ``metallic``, ``height``): the material
        is then relightable, a Principled BSDF fed by them (the lit image stays in it, unconnected).
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
    elsewhere = [o.name for o in previous if json.loads(o[KEY_STATE]).get("scene", scene.name) != scene.name]
    for obj in previous:
        _restore_object(obj)
    if previous:
        replaced = [m for m in _projection_materials() if m.users == 0]
        stale = _owned_images(replaced, pictures=True) - {image, depth_image, *(maps or {}).values()}
        results = _results(replaced) - {image}
        _discard_materials(replaced)
        _drop_unused(stale)  # the replaced result's occlusion images and maps: nothing shows them any more
        _keep_results(results)  # its picture stays, a result to pick from, also once the file is saved
    projector = create_projector(scene, camera_model, name)
    result = ProjectionResult(projector, replaced=elsewhere)
    made: dict[tuple | None, bpy.types.Material] = {}

    def projection_for(source: bpy.types.Material | None) -> bpy.types.Material:
        key = None if source is None else (source.name, library_of(source))
        if key not in made:
            made[key] = build_material(source, projector, image, depth_image, tolerance, interpolation, maps,
                                       unit_scale(scene))
            _protect_source(source, made[key])
            result.materials.append(made[key])
        return made[key]

    for obj in targets:
        added = 0
        if not obj.material_slots:
            obj.data.materials.append(None)
            added = 1
        originals, links, own = [], [], []
        for slot in obj.material_slots:
            current = slot.material
            source = source_of(current) if current is not None and KEY_SOURCE in current else current
            originals.append(None if source is None else [source.name, library_of(source)])
            links.append(slot.link)
            slot.link = "OBJECT"  # the object's own slot: a mesh other objects share stays as it is
            own.append(slot.material)
            slot.material = projection_for(source)
        kept.keep(obj, KEY_KEPT, own)
        obj[KEY_STATE] = json.dumps({"projector": projector.name, "slots": originals, "links": links,
                                     "added": added, "scene": scene.name})
        result.objects.append(obj)
    return result


def remove_projection(objects=None, replaced: bool = False, keep_ids: Set[str] = frozenset()) -> int:
    """Undo :func:`project_image`: restore every slot, delete the projection materials and projectors, and their
    occlusion images and maps; the generated images they showed stay, with a fake user (:func:`_keep_results`).

    :param objects: Objects to restore; default: every projected object in the file.
    :param replaced: A new result replaces the projection: the objects keep their stable ids (:func:`.kept.release`).
    :param keep_ids: Stable ids that results still shown name: the objects holding them keep them.
    :return: Number of objects restored.
    """
    targets = [o for o in (bpy.data.objects if objects is None else objects) if KEY_STATE in o]
    for obj in targets:
        _restore_object(obj)
        if not replaced:
            kept.release(obj, keep_ids)
    mats = _projection_materials()
    doomed = mats if objects is None else [m for m in mats if m.users == 0]
    leftovers, results = _owned_images(doomed), _results(doomed)
    _discard_materials(doomed)
    _drop_unused(leftovers)  # occlusion images and maps
    _keep_results(results)  # the generated images stay, results to pick from, also once the file is saved
    return len(targets)


def is_projected(obj: bpy.types.Object) -> bool:
    """True when ``obj`` currently shows a projection made by :func:`project_image`.

    :param obj: Any object.
    """
    return KEY_STATE in obj
