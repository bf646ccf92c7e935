# SPDX-License-Identifier: GPL-3.0-or-later
"""Provenance records on datablocks: stored as JSON in the ``depth_addon_provenance`` custom property.

Images, materials and projectors we make carry the record of how they were made (see
:mod:`depth_addon.texturing.provenance`), so ``depth.regenerate`` can reproduce them from the
file alone.
"""

from __future__ import annotations

import bpy

from ...texturing.provenance import dumps, loads

KEY_PROVENANCE = "depth_addon_provenance"


def attach(record: dict, *datablocks) -> None:
    """Store ``record`` on each datablock (None entries are skipped).

    :param record: A provenance record.
    :param datablocks: Images, materials, objects ...
    """
    text = dumps(record)
    for idb in datablocks:
        if idb is not None:
            idb[KEY_PROVENANCE] = text


def detach(idb) -> None:
    """Take the provenance record off ``idb`` (nothing when it has none).

    :param idb: Any datablock.
    """
    if idb is not None and KEY_PROVENANCE in idb:
        del idb[KEY_PROVENANCE]


def read(idb) -> dict | None:
    """The provenance record on ``idb``, or None.

    :param idb: Any datablock.
    """
    text = idb.get(KEY_PROVENANCE) if idb is not None else None
    return None if text is None else loads(text)


def find(obj: bpy.types.Object) -> tuple[dict, object] | None:
    """The first provenance record reachable from an object: its materials, their images, the object.

    :param obj: Any object.
    :return: ``(record, datablock holding it)`` or None.
    """
    candidates = [obj]
    for slot in getattr(obj, "material_slots", []):
        mat = slot.material
        if mat is None:
            continue
        candidates.append(mat)
        if mat.node_tree is not None:
            candidates.extend(n.image for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeTexImage" and n.image)
    for idb in candidates:
        record = read(idb)
        if record is not None:
            return record, idb
    return None
