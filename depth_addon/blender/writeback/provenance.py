# SPDX-License-Identifier: GPL-3.0-or-later
"""Provenance records on datablocks: stored as JSON in the ``depth_addon_provenance`` custom property.

Images, materials and projectors we make carry the record of how they were made (see
:mod:`depth_addon.texturing.provenance`), so ``depth.regenerate`` can reproduce them from the
file alone.

Records name the objects they concern (a run's objects, its object prompts, what each part was painted with); each
record also keeps those objects' stable ids (``options["object_ids"]``, :func:`~depth_addon.blender.idref.stable_id`),
so :func:`current` finds them again under the names they have now, after the user renamed them.
"""

from __future__ import annotations

import bpy

from ...texturing.provenance import dumps, loads
from .. import idref

KEY_PROVENANCE = "depth_addon_provenance"


def attach(record: dict, *datablocks) -> None:
    """Store ``record`` on each datablock (None entries are skipped).

    :param record: A provenance record.
    :param datablocks: Images, materials, objects ...
    """
    text = dumps(_with_ids(record))
    for idb in datablocks:
        if idb is not None:
            idb[KEY_PROVENANCE] = text


def detach(idb) -> None:
    """Take the provenance record off ``idb`` (nothing when it has none).

    :param idb: Any datablock.
    """
    if idb is not None and KEY_PROVENANCE in idb:
        del idb[KEY_PROVENANCE]


def _named(options: dict) -> list[str]:
    """The object names a record's options hold: its objects, object prompts and parts' objects."""
    parts = [d.get("object") for d in options.get("parts") or () if isinstance(d, dict)]
    return [n for n in (*(options.get("objects") or ()), *(options.get("object_prompts") or {}), *parts)
            if isinstance(n, str)]


def _with_ids(record: dict) -> dict:
    """``record`` with the stable id of every object it names (ids it holds already stay: the name may be another
    object's now)."""
    options = record.get("options")
    if not isinstance(options, dict):
        return record
    ids = dict(options.get("object_ids") or {})
    for name in dict.fromkeys(_named(options)):
        obj = bpy.data.objects.get(name) if name not in ids else None
        uid = idref.stable_id(obj) if obj is not None else None
        if uid is not None:
            ids[name] = uid
    return dict(record, options=dict(options, object_ids=ids)) if ids != options.get("object_ids", {}) else record


def current(record: dict, index: idref.Index | None = None) -> dict:
    """``record`` with each object it names called as it is now: found by its stable id when it was renamed since
    (by its name when the record holds no id for it, or it is gone).

    :param record: A provenance record.
    :param index: :func:`~depth_addon.blender.idref.stable_index` of the file's objects, when many records are read
        (made here otherwise: one pass over the objects, not one per name).
    """
    options = record.get("options") if isinstance(record.get("options"), dict) else {}
    ids = options.get("object_ids") or {}
    if ids and index is None:
        index = idref.stable_index(bpy.data.objects)
    renamed = {}
    for name, uid in ids.items():
        obj = index.by_name.get(name)
        if obj is None or obj.get(idref.KEY_UID) != uid:
            found = idref.find_stable(bpy.data.objects, name, uid, index)
            if found is not None and found.name != name:
                renamed[name] = found.name
    if not renamed:
        return record

    def now(name):
        return renamed.get(name, name) if isinstance(name, str) else name

    options = dict(options)
    for key in ("objects", "object_prompts", "object_ids"):
        if isinstance(options.get(key), list):
            options[key] = [now(n) for n in options[key]]
        elif isinstance(options.get(key), dict):
            options[key] = {now(n): v for n, v in options[key].items()}
    if isinstance(options.get("parts"), list):
        options["parts"] = [_part_now(d, renamed) for d in options["parts"]]
    return dict(record, options=options)


def _part_now(decision: dict, renamed: dict[str, str]) -> dict:
    """A part's decision with its object (and the object's name in its part's name) called as it is now."""
    old = decision.get("object") if isinstance(decision, dict) else None
    if old not in renamed:
        return decision
    new, part = renamed[old], str(decision.get("part", ""))
    now = {**decision, "object": new, "part": new + part[len(old):] if part == old or part.startswith(f"{old}/")
           else part}
    if decision.get("reason") == "explicit" and decision.get("detail") == old:  # named by its own prompt
        now["detail"] = new
    return now


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


def named_ids(objects) -> set[str]:
    """The stable ids the records that ``objects`` show name (their objects, parts and object prompts).

    :param objects: Objects.
    """
    ids: set[str] = set()
    for obj in objects:
        found = find(obj)
        options = found[0].get("options") if found is not None else None
        if isinstance(options, dict) and isinstance(options.get("object_ids"), dict):
            ids.update(v for v in options["object_ids"].values() if isinstance(v, str))
    return ids
