# SPDX-License-Identifier: GPL-3.0-or-later
"""Baked textures on objects: one image-texture material per object, restorable exactly.

The baked material goes into every material slot of the object with the slot's link switched to
*Object*, so the mesh's own material list (which other objects may share) is never edited. The
object remembers each slot's link and object-level material (a reference: :mod:`.kept`), whether a
slot was added and whether its mesh got a UV map from us; :func:`remove_bake` puts all of it back
and deletes our material, and our image when nothing else uses it. The same mechanism shows coverage heat-maps.
"""

from __future__ import annotations

import json
from collections.abc import Set

import bpy
import numpy as np

from ...errors import BadInput
from .. import compat, images
from ..units import unit_scale
from . import kept, projection
from .uv_bake import KEY_UV_ADDED, remove_added_uv

KEY_BAKE_STATE = "depth_addon_bake"  # on an object: JSON of what to restore
KEY_BAKE_KEPT = "depth_addon_bake_kept"  # on an object: its slots' own materials (:mod:`.kept`)
KEY_BAKE_MATERIAL = "depth_addon_bake_material"  # on our bake / coverage materials: the kind
KINDS = {"bake": ("Depth Bake", "[Depth Bake]"), "coverage": ("Depth Coverage", "[Depth Coverage]")}
SHADINGS = ("EMISSION", "PRINCIPLED", "PBR", "PBR_DISPLACEMENT")
#: Shadings fed by the material maps; ``PBR_DISPLACEMENT`` also lets the height map move the surface at render time.
RELIGHTABLE = ("PBR", "PBR_DISPLACEMENT")
#: Image name suffix per material map (:mod:`depth_addon.texturing.map_fusion`).
MAP_SUFFIX = {"albedo": "Albedo", "roughness": "Roughness", "metallic": "Metallic", "normal": "Normal",
              "height": "Height"}


def image_name(obj: bpy.types.Object, kind: str = "bake") -> str:
    """Name of the image a bake (or coverage preview) of ``obj`` writes to.

    :param obj: The object.
    :param kind: ``bake`` or ``coverage``.
    """
    return f"{obj.name} {KINDS[kind][0]}"


def check_images_free(objects: list[bpy.types.Object], kind: str = "bake", names: dict[str, str] | None = None
                      ) -> dict[str, str]:
    """Refuse when an image a bake would write already exists and belongs to the user.

    Our own images (tagged when created) are reused, the user's never overwritten silently.

    :param objects: Bake targets.
    :param kind: ``bake`` or ``coverage``.
    :param names: Object name → wanted image name; :func:`image_name` when None.
    :return: Object name → image name.
    :raises BadInput: Naming the first image that is the user's.
    """
    wanted = {o.name: (names or {}).get(o.name) or image_name(o, kind) for o in objects}
    for obj_name, name in wanted.items():
        existing = bpy.data.images.get(name)
        if existing is not None and not existing.get(images.KEY_OWNED):
            raise BadInput(f"an image named {name!r} already exists and is not one of ours; rename or remove it "
                           f"(or choose another image name) before baking {obj_name!r}")
    return wanted


def check_maps_free(objects: list[bpy.types.Object], maps: tuple[str, ...]) -> None:
    """Refuse when an image a bake's material maps would write already exists and belongs to the user.

    :param objects: Bake targets.
    :param maps: Map names (keys of :data:`MAP_SUFFIX`).
    :raises BadInput: Naming the first image that is the user's.
    """
    for name in maps:
        check_images_free(objects, "bake", {o.name: map_image_name(o.name, name) for o in objects})


def store_texture(name: str, texture: np.ndarray | images.Pixels) -> bpy.types.Image:
    """Our image ``name`` holding a ``size×size×3`` texture whose row 0 is ``v = 0`` (bottom).

    :param name: Image name (checked with :func:`check_images_free` beforehand).
    :param texture: Colours, sRGB display values in [0, 1], or the same already prepared by
        :func:`images.pixels <depth_addon.blender.images.pixels>` with ``bottom_up=True``.
    """
    return images.image_from_array(name, texture, bottom_up=True)


def map_image_name(obj_name: str, name: str) -> str:
    """Name of the image a bake writes the material map ``name`` of object ``obj_name`` to.

    :param obj_name: Object name.
    :param name: Map name (a key of :data:`MAP_SUFFIX`).
    """
    return f"{obj_name} Depth {MAP_SUFFIX[name]}"


def store_maps(obj_name: str, maps: dict) -> dict:
    """Our images holding an object's baked material maps (row 0 = ``v = 0``).

    Stored as :func:`~depth_addon.blender.images.map_image` says; names are checked with
    :func:`check_images_free` beforehand.

    :param obj_name: The object's name.
    :param maps: Map name → size×size(×3) array, or the same prepared by
        :func:`images.pixels <depth_addon.blender.images.pixels>` with ``bottom_up=True``.
    :return: Map name → image.
    """
    out = {}
    for name, texture in maps.items():
        out[name] = images.map_image(map_image_name(obj_name, name), name, texture, bottom_up=True)
    return out


def texture_extension(obj: bpy.types.Object, uv_name: str) -> str:
    """How the bake's textures extend beyond the 0–1 square for ``obj``: ``REPEAT`` when its UV map reaches out of
    it (UDIM tiles, negative UVs: the bake drew those faces where the repeating texture shows them), else
    ``EXTEND`` (no texel of the square's other side bleeds into the faces along its edges).

    :param obj: A mesh object.
    :param uv_name: The UV map baked into.
    """
    layer = obj.data.uv_layers.get(uv_name)
    if layer is None or not len(layer.uv):
        return "EXTEND"
    uv = np.empty(2 * len(layer.uv), np.float32)
    layer.uv.foreach_get("vector", uv)
    return "REPEAT" if float(uv.min()) < 0.0 or float(uv.max()) > 1.0 else "EXTEND"


def _pbr(tree: bpy.types.NodeTree, uv: bpy.types.Node, lit: bpy.types.Node, maps: dict) -> bpy.types.Node:
    """A Principled BSDF fed by the maps; the lit image stays in the tree, unconnected, for the user to switch."""
    shader = tree.nodes.new("ShaderNodeBsdfPrincipled")
    lit.label = "Lit (as generated)"
    sockets = {"albedo": "Base Color", "roughness": "Roughness", "metallic": "Metallic"}
    for i, name in enumerate(("albedo", "roughness", "metallic", "normal", "height")):
        if name not in maps:
            continue
        tex = tree.nodes.new("ShaderNodeTexImage")
        tex.image, tex.interpolation, tex.extension = maps[name], "Linear", lit.extension
        tex.label, tex.location = MAP_SUFFIX[name], (-450, -300 * (i + 1))
        tree.links.new(uv.outputs["UV"], tex.inputs["Vector"])
        if name in sockets:
            tree.links.new(tex.outputs["Color"], shader.inputs[sockets[name]])
        elif name == "normal":
            nmap = tree.nodes.new("ShaderNodeNormalMap")
            nmap.space, nmap.uv_map, nmap.location = "TANGENT", uv.uv_map, (-200, -1200)
            tree.links.new(tex.outputs["Color"], nmap.inputs["Color"])
            tree.links.new(nmap.outputs["Normal"], shader.inputs["Normal"])
    return shader


def _material(obj: bpy.types.Object, image: bpy.types.Image, uv_name: str, kind: str, shading: str,
              maps: dict | None = None) -> bpy.types.Material:
    name = f"{obj.name} {KINDS[kind][1]}"
    mat = bpy.data.materials.get(name)
    if mat is None or mat.get(KEY_BAKE_MATERIAL) != kind or mat.library is not None:
        mat = bpy.data.materials.new(name)
        mat[KEY_BAKE_MATERIAL] = kind
    tree = compat.ensure_node_tree(mat)
    tree.nodes.clear()
    uv = tree.nodes.new("ShaderNodeUVMap")
    uv.uv_map, uv.location = uv_name, (-700, 0)
    tex = tree.nodes.new("ShaderNodeTexImage")
    tex.image, tex.interpolation, tex.location = image, "Linear", (-450, 0)
    tex.extension = texture_extension(obj, uv_name)
    tree.links.new(uv.outputs["UV"], tex.inputs["Vector"])
    if shading == "EMISSION":
        shader = tree.nodes.new("ShaderNodeEmission")
        tree.links.new(tex.outputs["Color"], shader.inputs["Color"])
    elif shading in RELIGHTABLE:
        shader = _pbr(tree, uv, tex, maps or {})
    else:
        shader = tree.nodes.new("ShaderNodeBsdfPrincipled")
        tree.links.new(tex.outputs["Color"], shader.inputs["Base Color"])
    shader.location = (-150, 0)
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    out.location = (150, 0)
    tree.links.new(shader.outputs[0], out.inputs["Surface"])
    if shading == "PBR_DISPLACEMENT" and maps and "height" in maps:
        _displace(mat, tree, out, unit_scale(obj.users_scene[0] if obj.users_scene else bpy.context.scene))
    return mat


def _displace(mat: bpy.types.Material, tree: bpy.types.NodeTree, out: bpy.types.Node, unit: float = 1.0) -> None:
    """The height map (metres along the normal) moves the surface: true displacement, no bump on top of it (the
    normal map already carries the relief's slopes). How finely depends on the object's subdivision."""
    height = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeTexImage" and n.label == MAP_SUFFIX["height"])
    disp = tree.nodes.new("ShaderNodeDisplacement")
    disp.space, disp.location = "WORLD", (-150, -600)  # metres, whatever the object's scale
    disp.inputs["Midlevel"].default_value = 0.0
    disp.inputs["Scale"].default_value = 1.0 / unit  # the height map is in metres, world space in scene units
    tree.links.new(height.outputs["Color"], disp.inputs["Height"])
    tree.links.new(disp.outputs["Displacement"], out.inputs["Displacement"])
    compat.set_displacement_method(mat, "DISPLACEMENT")


def is_baked(obj: bpy.types.Object) -> bool:
    """True when ``obj`` shows a bake or coverage material made by :func:`apply_bake`.

    :param obj: Any object.
    """
    return KEY_BAKE_STATE in obj


def apply_bake(obj: bpy.types.Object, image: bpy.types.Image, uv_name: str, kind: str = "bake",
               shading: str = "EMISSION", maps: dict | None = None) -> bpy.types.Material:
    """Show ``image`` (mapped through ``uv_name``) on every slot of ``obj``; originals are kept.

    An earlier bake, coverage preview or projection on the object is removed first.

    :param obj: A validated bake target.
    :param image: The texture.
    :param uv_name: UV map of the object's mesh the texture was baked into.
    :param kind: ``bake`` or ``coverage``.
    :param shading: ``EMISSION`` (shows the texture as it is), ``PRINCIPLED`` (texture as base colour),
        ``PBR`` (relightable: the maps feed a Principled BSDF; the lit texture stays in the material, unconnected)
        or ``PBR_DISPLACEMENT`` (the same, and the height map displaces the surface at render time).
    :param maps: Map name → image (:func:`store_maps`); needed for :data:`RELIGHTABLE` shadings, kept with the bake
        for the others.
    :return: The material.
    """
    if kind not in KINDS or shading not in SHADINGS:
        raise BadInput(f"unknown bake kind {kind!r} or shading {shading!r}; shading is one of {', '.join(SHADINGS)}")
    if shading in RELIGHTABLE and not maps:
        raise BadInput(f"{shading} shading needs material maps; bake with maps (a generator that gives them) or use "
                       "EMISSION / PRINCIPLED")
    replaced = None
    if projection.is_projected(obj):  # first: a projection made over a bake keeps the bake as its slots' own
        projection.remove_projection([obj], replaced=True)
    if is_baked(obj):
        state = json.loads(obj[KEY_BAKE_STATE])
        replaced = (state.get("material"), state.get("image"), list(state.get("maps", {}).values()))
        remove_bake([obj], keep_uv=True, purge=False)  # our material and image may be reused below
    mat = _material(obj, image, uv_name, kind, shading, maps)
    added = 0
    if not obj.material_slots:
        obj.data.materials.append(None)
        added = 1
    slots, own = [], []
    for slot in obj.material_slots:
        link = slot.link
        slot.link = "OBJECT"
        previous = slot.material
        slots.append([link, None if previous is None else previous.name])
        own.append(previous)
        slot.material = mat
    kept.keep(obj, KEY_BAKE_KEPT, own)  # a material only this slot used would be dropped at the next save
    obj[KEY_BAKE_STATE] = json.dumps({"kind": kind, "slots": slots, "added": added, "material": mat.name,
                                      "image": image.name, "uv": uv_name,
                                      "maps": {k: v.name for k, v in (maps or {}).items()}})
    if replaced is not None:  # e.g. a coverage preview replaced by the bake: drop its unused leftovers
        in_use = {image.name, *(m.name for m in (maps or {}).values())}
        _purge(*((("material", replaced[0]),) if replaced[0] != mat.name else ()),
               *(("image", name) for name in (replaced[1], *replaced[2]) if name not in in_use))
    return mat


def _purge(*items: tuple[str, str | None]) -> None:
    """Delete our materials, then our images, named in ``items`` when nothing uses them."""
    for kind, name in sorted(items):
        if kind == "material" and name:
            mat = bpy.data.materials.get(name)
            if mat is not None and mat.get(KEY_BAKE_MATERIAL) and mat.users == 0:
                bpy.data.materials.remove(mat)
    for kind, name in sorted(items):
        if kind == "image" and name:
            img = bpy.data.images.get(name)
            if img is not None and img.get(images.KEY_OWNED) and img.users == 0:
                bpy.data.images.remove(img)


def _restore(obj: bpy.types.Object) -> tuple[str | None, str | None, list[str]]:
    state = json.loads(obj[KEY_BAKE_STATE])
    own = kept.materials(obj, KEY_BAKE_KEPT, [name for _link, name in state["slots"]], bpy.data.materials.get)
    for slot, (link, _name), material in zip(obj.material_slots, state["slots"], own, strict=False):
        slot.link = "OBJECT"
        slot.material = material
        slot.link = link
    del obj[KEY_BAKE_STATE]
    kept.drop_added_slots(obj, int(state.get("added", 0)))
    kept.forget(obj, KEY_BAKE_KEPT)
    return state.get("material"), state.get("image"), list(state.get("maps", {}).values())


def remove_bake(objects=None, keep_uv: bool = False, purge: bool = True, keep_ids: Set[str] = frozenset()) -> int:
    """Undo :func:`apply_bake` on ``objects`` (every baked object when None).

    Our materials and images that nothing uses any more are deleted, and a UV map we added is
    removed once no baked object uses its mesh.

    :param objects: Objects to restore.
    :param keep_uv: Keep UV maps we added (used when a bake is replaced right away).
    :param purge: Delete our materials and images nothing uses any more (False: a new result replaces the bake, so
        the objects also keep their stable ids, :func:`.kept.release`).
    :param keep_ids: Stable ids that results still shown name: the objects holding them keep them.
    :return: Number of objects restored.
    """
    targets = [o for o in (bpy.data.objects if objects is None else objects) if is_baked(o)]
    leftovers: set[tuple[str, str]] = set()
    meshes = set()
    for obj in targets:
        mat_name, image_name_, map_names = _restore(obj)
        if purge:
            kept.release(obj, keep_ids)
        leftovers.update(("image", name) for name in map_names)
        meshes.add(obj.data.name)
        if mat_name:
            leftovers.add(("material", mat_name))
        if image_name_:
            leftovers.add(("image", image_name_))
    if purge:
        _purge(*leftovers)
    if not keep_uv:
        still = {o.data.name for o in bpy.data.objects if o.type == "MESH" and is_baked(o)}
        for name in meshes - still:
            mesh = bpy.data.meshes.get(name)
            if mesh is not None and KEY_UV_ADDED in mesh:
                remove_added_uv(mesh)
    return len(targets)
