# SPDX-License-Identifier: GPL-3.0-or-later
"""glTF export of projected objects: a camera projection has no place in glTF, so it is left out, with a warning.

Blender's glTF exporter calls the ``gather_material_hook`` of the ``glTF2ExportUserExtension`` class it finds on an
enabled add-on's module; the root package re-exports :class:`glTF2ExportUserExtension`. A projection material
(:mod:`.projection`) reads its images through the projector, not through UVs; left alone the exporter writes them
as an emissive texture (or base colour, metallic-roughness and normal textures, a relightable projection's height as
the normal map) read through whatever UV map the mesh has, often none. Every texture made from one of the
projection's images is dropped, and the exporter shows one warning per material: bake the projection first. Baked
materials (:mod:`.bake_apply`) are UV textures and export as they are.
"""

from __future__ import annotations

import os

import bpy

from .projection_nodes import KEY_SOURCE, NODE_PREFIX

#: Texture slots of a glTF material (``pbr_metallic_roughness`` holds the first two).
PBR_SLOTS = ("base_color_texture", "metallic_roughness_texture")
MATERIAL_SLOTS = ("normal_texture", "occlusion_texture", "emissive_texture")


def projected_image_names(mat: bpy.types.Material) -> set[str]:
    """Names the exporter may give the images a projection material reads through its projector: each image's name,
    with and without what looks like an extension, and its file's name without extension (the exporter uses these,
    and joins the names of the images it packs into one texture with ``-``).

    :param mat: A projection material.
    """
    names = set()
    for node in mat.node_tree.nodes if mat.node_tree is not None else ():
        if node.bl_idname == "ShaderNodeTexImage" and node.name.startswith(NODE_PREFIX) and node.image is not None:
            image = node.image
            names.update((image.name, os.path.splitext(image.name)[0]))
            if image.filepath:
                names.add(os.path.splitext(os.path.basename(image.filepath))[0])
    return names


def _projected(info: object, names: set[str]) -> bool:
    """True when the glTF texture ``info`` was made from the projection's images (its name, or one of the names
    the exporter joined into it, is one of ``names``)."""
    name = getattr(getattr(getattr(info, "index", None), "source", None), "name", None) or ""
    return name in names or any(part in names for part in name.split("-"))


def strip_projection(gltf_material: object, names: set[str]) -> list[str]:
    """Drop the textures of ``gltf_material`` made from the projection's images (an emissive one with its factor
    and strength).

    :param gltf_material: The exporter's material (``io_scene_gltf2.io.com.gltf2_io.Material``).
    :param names: :func:`projected_image_names` of its Blender material.
    :return: The slots emptied.
    """
    dropped = []
    pbr = getattr(gltf_material, "pbr_metallic_roughness", None)
    for holder, slots in ((pbr, PBR_SLOTS), (gltf_material, MATERIAL_SLOTS)):
        for slot in slots if holder is not None else ():
            if _projected(getattr(holder, slot, None), names):
                setattr(holder, slot, None)
                dropped.append(slot)
    if "emissive_texture" in dropped:
        gltf_material.emissive_factor = None
        if isinstance(getattr(gltf_material, "extensions", None), dict):
            gltf_material.extensions.pop("KHR_materials_emissive_strength", None)
    return dropped


def warning(mat: bpy.types.Material) -> str:
    """The exporter's warning for a projection material.

    :param mat: A projection material.
    """
    return (f"glTF export: material {mat.name!r} shows a camera projection, which glTF cannot carry; exported "
            "without the projected image and maps. Bake it first (Bake Projection in the sidebar) to export them "
            "as textures")


class glTF2ExportUserExtension:  # the name Blender's glTF exporter looks for
    """Hooks Blender's glTF exporter calls while it exports (found on the add-on's root module)."""

    def gather_material_hook(self, gltf_material: object, blender_material: bpy.types.Material | None,
                             export_settings: dict) -> None:
        """Leave a projection material's projected textures out of the file and say so.

        :param gltf_material: The material the exporter gathered.
        :param blender_material: The Blender material it was gathered from.
        :param export_settings: The exporter's settings (its ``log`` shows warnings after the export).
        """
        if blender_material is None or KEY_SOURCE not in blender_material:
            return
        strip_projection(gltf_material, projected_image_names(blender_material))
        log = export_settings.get("log")
        if log is not None:
            log.warning(warning(blender_material), popup=True)
        else:
            print(f"Warning: {warning(blender_material)}")
