# SPDX-License-Identifier: GPL-3.0-or-later
"""Meshes a render shows that no result can be written on, and how to say so: meshes linked from a library, and
meshes shown only as instances of a collection (an Empty instancing a set, as File › Link makes): the scene holds
no object of theirs to give a material."""

from __future__ import annotations

import bpy

from ...errors import BadInput, listed
from .projection import meshes_in_view, render_visible


def instancers_in_view(scene: bpy.types.Scene) -> list[str]:
    """Objects a render of ``scene`` shows that instance a collection with meshes the scene does not hold.

    :param scene: The scene.
    """
    visible = render_visible(scene)
    held = {o.as_pointer() for o in scene.objects}
    return [o.name for o in scene.objects if o.name in visible and o.instance_type == "COLLECTION"
            and o.instance_collection is not None
            and any(m.type == "MESH" and m.as_pointer() not in held for m in o.instance_collection.all_objects)]


def linked_note(names: list[str]) -> list[str]:
    """The warning for meshes in view left untextured because they are linked from a library (none for none).

    :param names: Their names (:func:`~.projection.meshes_in_view`).
    """
    if not names:
        return []
    one = len(names) == 1
    return [f"{listed(names)} {'is' if one else 'are'} linked from a library and left as "
            f"{'it is' if one else 'they are'}; make {'it' if one else 'them'} local (Object > Relations > Make Local, "
            f"or a library override) to texture {'it' if one else 'them'}"]


def instanced_note(names: list[str]) -> list[str]:
    """The warning for meshes left untextured because the scene shows them as collection instances (none for none).

    :param names: The instancers (:func:`instancers_in_view`).
    """
    if not names:
        return []
    shown = listed(names)
    one = len(names) == 1
    return [f"the meshes that {shown} show{'s' if one else ''} as instances of a collection are left as they are; "
            "make the instances real (Object > Apply > Make Instances Real, or a library override) to texture them"]


def left_out_notes(scene: bpy.types.Scene) -> list[str]:
    """What a run that textures every mesh in view leaves as it is, and why (linked meshes, collection instances).

    :param scene: The scene.
    """
    return linked_note(meshes_in_view(scene)[1]) + instanced_note(instancers_in_view(scene))


def require_meshes_in_view(scene: bpy.types.Scene) -> None:
    """Refuse a run over every mesh in view when none can take a result, saying why, before anything is generated.

    :param scene: The scene.
    :raises BadInput: When a render of ``scene`` shows no local mesh.
    """
    if not meshes_in_view(scene)[0]:
        notes = left_out_notes(scene)
        raise BadInput("no visible mesh objects to texture" + (f": {'; '.join(notes)}" if notes else ""))
