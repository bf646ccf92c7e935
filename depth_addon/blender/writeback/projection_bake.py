# SPDX-License-Identifier: GPL-3.0-or-later
"""Bake a projection into the objects' UV maps so the texture follows them when they move.

A projection material holds everything a single view needs: the frozen projector (camera model),
the projected image and, with occlusion, the depth image. :func:`bake_projection` turns that into
a :class:`~depth_addon.texturing.fusion.View` and fuses it into each object's texture exactly as
a multi-view run does; the projection is replaced by the baked material (restorable).
"""

from __future__ import annotations

import bpy
import numpy as np

from ...errors import BadInput
from ...texturing import map_fusion
from ...texturing import provenance as prov
from ...texturing.fusion import View
from .. import images
from . import bake_apply, multiview, projection, uv_bake
from . import provenance as provenance_props

N_IMAGE = f"{projection.NODE_PREFIX} Image"
N_DEPTH = f"{projection.NODE_PREFIX} Depth"


def projection_parts(obj: bpy.types.Object) -> tuple[bpy.types.Object, bpy.types.Image, bpy.types.Image | None]:
    """``(projector, image, depth image or None)`` of the projection shown on ``obj``.

    :param obj: A projected object.
    :raises BadInput: When the object shows no projection.
    """
    if not projection.is_projected(obj):
        raise BadInput(f"{obj.name!r} shows no projection to bake")
    for slot in obj.material_slots:
        mat = slot.material
        if mat is None or mat.node_tree is None:
            continue
        nodes = mat.node_tree.nodes
        coord = next((n for n in nodes if n.bl_idname == "ShaderNodeTexCoord" and n.object is not None
                      and projection.KEY_PROJECTOR in n.object), None)
        image = nodes.get(N_IMAGE)
        if coord is not None and image is not None and image.image is not None:
            depth = nodes.get(N_DEPTH)
            return coord.object, image.image, depth.image if depth is not None else None
    raise BadInput(f"{obj.name!r} has a projection material without projector or image")


def projection_maps(obj: bpy.types.Object) -> dict[str, bpy.types.Image]:
    """The material maps a relightable projection on ``obj`` shows (``albedo``, ``roughness``, ``metallic``,
    ``height``); empty for a lit one.

    :param obj: A projected object.
    """
    for slot in obj.material_slots:
        tree = slot.material.node_tree if slot.material is not None else None
        if tree is None:
            continue
        found = {name: tree.nodes.get(f"{projection.NODE_PREFIX} {name.title()}") for name, _c in map_fusion.FUSED}
        if all(n is not None and n.image is not None for n in found.values()):
            return {name: node.image for name, node in found.items()}
    return {}


def projection_view(projector: bpy.types.Object, image: bpy.types.Image, depth_image: bpy.types.Image | None,
                    maps: dict[str, bpy.types.Image] | None = None) -> View:
    """The single view a projection represents (depth ``inf`` everywhere without occlusion).

    :param projector: The frozen projector.
    :param image: The projected image.
    :param depth_image: The occlusion depth image or None.
    :param maps: The projection's material maps (:func:`projection_maps`), carried by the view when given.
    """
    camera = projection.projector_camera_model(projector)
    if depth_image is not None and tuple(depth_image.size) == (camera.width, camera.height):
        depth = images.grey_from_image(depth_image)
        depth = np.where(depth >= images.FAR_DEPTH * 0.5, np.inf, depth)
    else:
        depth = np.full((camera.height, camera.width), np.inf, np.float32)
    view = View(camera, depth)
    view.image = images.array_from_image(image)[..., :3]
    if maps:  # as the generator handed them out: albedo as display values, the others as stored
        arrays = {name: images.array_from_image(img, srgb=name == "albedo") for name, img in maps.items()}
        view.maps = {name: a[..., :3] if name == "albedo" else a[..., 0] for name, a in arrays.items()}
    return view


def _bake_record(source: dict | None, objs: list, bake_size: int, how: str, view, image: bpy.types.Image) -> dict:
    """The record of a projection's bake: the projection's own (``source``) with kind ``bake``, or one for an external
    image.

    :param source: The record the projection (or one object repainted alone) holds, or None.
    :param objs: The objects baked from the view.
    :param bake_size: Texture side.
    :param how: The bake's shading.
    :param view: The projector's view.
    :param image: The projected image.
    """
    names = [o.name for o in objs]
    if source is None:
        return prov.provenance("bake", "", 0, "external image", [view.camera],
                               options={"objects": names, "bake_size": int(bake_size), "image": image.name})
    return dict(source, kind="bake", options=dict(source.get("options", {}), objects=names, bake_size=int(bake_size),
                                                  shading=how))


def bake_projection(scene: bpy.types.Scene | None = None, objects=None, bake_size: int = 1024, padding: int = 2,
                    shading: str = "AUTO") -> multiview.MultiviewResult:
    """Bake the projection shown on ``objects`` (every projected object when None) into their UV maps.

    Objects sharing one projector are baked from one view. The provenance of the projected image
    (if any) is carried over, with kind ``bake``.

    :param scene: The scene; the context scene when None.
    :param objects: Projected objects.
    :param bake_size: Texture side.
    :param padding: Island padding in texels.
    :param shading: ``EMISSION`` or ``PRINCIPLED``; ``AUTO``: ``PBR`` for a relightable projection (its maps are
        baked too, and stay relightable), else ``EMISSION``; ``PBR`` or ``PBR_DISPLACEMENT`` need every chosen
        projection to be relightable.
    :return: Every group's result in one: each object's image, material, maps and size.
    :raises BadInput: When an object shows no projection, a lit one is asked to bake relightable, or for the usual
        bake refusals; the checks that concern every group run before any is baked.
    """
    scene = scene or bpy.context.scene
    chosen = [o for o in scene.objects if projection.is_projected(o)] if objects is None else list(objects)
    if not chosen:
        raise BadInput("no projected objects to bake")
    groups, parts = _groups(uv_bake.bake_targets(scene, chosen))
    found = {key: projection_maps(objs[0]) for key, objs in groups.items()}
    _check_groups(groups, found, shading)
    result = None
    for key, objs in groups.items():
        projector, image, depth_image = parts[key]
        maps = found[key]
        view = projection_view(projector, image, depth_image, maps)
        how = ("PBR" if maps else "EMISSION") if shading == "AUTO" else shading
        own = {o.name: provenance_props.read(o) for o in objs if provenance_props.KEY_PROVENANCE in o}
        record = _bake_record(provenance_props.read(image), objs, bake_size, how, view, image)
        done = multiview.bake_views(scene, objs, [view], bake_size, tolerance=0.02, padding=padding, shading=how,
                                    record=record)
        for name, repainted in own.items():  # repainted alone: its pixels came from its own seed and prompt
            provenance_props.attach(_bake_record(repainted, objs, bake_size, how, view, image), done.images.get(name),
                                    done.materials.get(name), *done.maps.get(name, {}).values())
        if result is None:
            result = done
        else:
            for attr in ("images", "materials", "uv_maps", "coverage", "maps", "sizes", "density"):
                getattr(result, attr).update(getattr(done, attr))
            result.objects += done.objects
            result.views += done.views
            result.warnings += done.warnings
    return result


def _groups(targets: list) -> tuple[dict[tuple[str, str], list], dict[tuple[str, str], tuple]]:
    """The targets grouped by the projection they show (projector and image), and each group's parts
    (:func:`projection_parts`)."""
    groups: dict[tuple[str, str], list] = {}
    parts = {}
    for obj in targets:
        projector, image, depth_image = projection_parts(obj)
        key = (projector.name, image.name)
        groups.setdefault(key, []).append(obj)
        parts[key] = (projector, image, depth_image)
    return groups, parts


def _check_groups(groups: dict[tuple[str, str], list], found: dict[tuple[str, str], dict], shading: str) -> None:
    """Refuse the whole bake before any group is baked: a lit projection asked to bake relightable, or an image
    a group would write that is the user's (a refusal half-way would leave some objects baked).

    :raises BadInput: Naming the objects.
    """
    if shading in bake_apply.RELIGHTABLE:
        lit = [o.name for key, objs in groups.items() if not found[key] for o in objs]
        if lit:
            many = len(lit) > 1
            raise BadInput(f"{', '.join(map(repr, lit))} show{'' if many else 's'} a lit projection (no material "
                           f"maps): {shading} shading bakes relightable projections only; project "
                           f"{'them' if many else 'it'} again with Relightable (PBR) on, or bake As Projected")
    for key, objs in groups.items():
        bake_apply.check_images_free(objs, "bake")
        bake_apply.check_maps_free(objs, map_fusion.BAKED if found[key] else ())
