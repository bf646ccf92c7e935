# SPDX-License-Identifier: GPL-3.0-or-later
"""A projection regenerated (:mod:`.regenerate`): its image and maps refreshed, whole or on one object's pixels, and
the record each object shows.

Every object of a projection shows one image, and the image, its maps, the projection materials and the projector
hold one record: how the objects that were not repainted alone were painted. An object repainted alone holds its own
record (its seed and prompt), which :func:`~depth_addon.blender.writeback.provenance.find` reads before the shared
one; a whole regenerate repaints every object, so their own records go, and so does an object's when its projection
is removed.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..blender import images
from ..blender.writeback import projection
from ..blender.writeback import provenance as provenance_props
from ..errors import BadInput
from .texture import PROJECTED_MAPS


def projected_image(obj: bpy.types.Object) -> bpy.types.Image | None:
    """The image our projection material shows on ``obj`` (its projector's image node), or None.

    :param obj: Any object.
    """
    for slot in obj.material_slots:
        tree = getattr(slot.material, "node_tree", None)
        node = tree.nodes.get(f"{projection.NODE_PREFIX} Image") if tree is not None else None
        if node is not None and node.image is not None:
            return node.image
    return None


def showing(image: bpy.types.Image | None) -> list[bpy.types.Object]:
    """The projected objects of the file that show ``image``.

    :param image: A projected image, or None (no object).
    """
    if image is None:
        return []
    return [o for o in bpy.data.objects if projection.is_projected(o) and projected_image(o) == image]


def projection_holders(image: bpy.types.Image) -> list:
    """Our projection materials showing ``image``, and their projectors.

    :param image: A projected image.
    """
    holders: list = []
    for mat in bpy.data.materials:
        tree = mat.node_tree if projection.KEY_SOURCE in mat else None
        node = tree.nodes.get(f"{projection.NODE_PREFIX} Image") if tree is not None else None
        if node is not None and node.image == image:
            holders.append(mat)
            coord = tree.nodes.get(f"{projection.NODE_PREFIX} Coordinates")
            if coord is not None and coord.object is not None and coord.object not in holders:
                holders.append(coord.object)
    return holders


def local_edit(target: bpy.types.Image | None, new: np.ndarray, inside: np.ndarray | None, key: str | None = None
               ) -> np.ndarray:
    """``new`` where ``inside`` is True, ``target``'s pixels (as ``new`` holds them) everywhere else: a masked
    local edit of the lit image (``key`` None) or of material map ``key``; ``new`` itself when ``inside`` is None.

    :param target: The image edited; None when it was deleted (then only a whole image can be made).
    :param new: The regenerated pixels.
    :param inside: H×W bool, the pixels of the object repainted alone, or None (the whole image).
    :param key: The material map edited, or None for the lit image.
    :raises BadInput: When ``target`` was deleted or changed size since it was made.
    """
    if inside is None:
        return new
    if target is None:
        raise BadInput("the projected image was deleted while this object was repainted; regenerate the whole image")
    old = images.array_from_image(target, srgb=key in (None, "albedo"))
    old = old[..., :3] if np.ndim(new) == 3 else old[..., 0]
    if old.shape != np.shape(new):
        raise BadInput("the projected image changed size since it was made; regenerate the whole image")
    return np.where(inside[..., None] if old.ndim == 3 else inside, new, old).astype(np.float32)


def refresh_image(target: bpy.types.Image | None, rgb: np.ndarray, record: dict) -> bpy.types.Image:
    """Put a regenerated projection image in place of ``target`` (ours: in place; the user's, or one deleted: a new
    image that takes its place in our projection materials).

    :param target: The projected image, or None (deleted: a new image, shown where the run's image was).
    :param rgb: H×W×3 display values.
    :param record: The run's provenance record (which materials showed a deleted image:
        :func:`.projection.image_nodes`).
    """
    if target is None or not target.get(images.KEY_OWNED):
        name = target.name if target is not None else images.free_name("Depth Generated")  # never another result
        image = images.image_from_array(name, images.pixels(rgb, encode=True))  # packed: the file keeps it
        for node in projection.image_nodes(target, record):  # the user's image, or where the deleted one was
            node.image = image
        return image
    return images.image_from_array(target.name, images.pixels(rgb, encode=True))  # ours: refreshed in place, packed


def refresh_maps(image: bpy.types.Image, maps: dict, inside: np.ndarray | None) -> list[bpy.types.Image]:
    """Refresh the material maps of ours that belong to ``image`` (where ``inside``, with it).

    :param image: The refreshed projection image.
    :param maps: The generated maps (name → array).
    :param inside: The repainted pixels, or None for all.
    :return: The maps refreshed.
    """
    done = []
    for key, suffix in PROJECTED_MAPS.items():
        old = bpy.data.images.get(f"{image.name} {suffix}")
        if old is not None and old.get(images.KEY_OWNED) and key in maps:
            packed = old.packed_file is not None
            value = local_edit(old, maps[key], inside, key)
            stored = value if key in images.FLOAT_MAPS else images.pixels(value, encode=True)
            new = images.map_image(old.name, key, stored)
            if packed and new.packed_file is None:  # ours: refreshed in place; 8-bit maps come packed
                new.pack()
            done.append(new)
    return done


def give_records(image: bpy.types.Image, maps: list[bpy.types.Image], new: dict, shared: dict,
                 only: str | None) -> None:
    """The records after a regenerate: with ``only`` that object holds ``new`` and the image, ``maps``, materials and
    projector hold ``shared`` (how the others were painted); without, they all hold ``new``, and no object keeps a
    record of its own (every one was repainted).

    :param image: The refreshed projection image.
    :param maps: Its refreshed maps.
    :param new: The record of the run.
    :param shared: The record of the objects that were not repainted.
    :param only: The object repainted alone, or None.
    """
    provenance_props.attach(new if only is None else shared, image, *maps, *projection_holders(image))
    for obj in showing(image):
        if only is None:
            provenance_props.detach(obj)
        elif obj.name == only:
            provenance_props.attach(new, obj)
