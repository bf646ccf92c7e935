# SPDX-License-Identifier: GPL-3.0-or-later
"""Render visibility of objects and instances in one view layer, as Cycles writes them into its Z pass.

Hidden from render (object or collection), excluded or *indirect only* collections and camera ray visibility off
hide an object; for an instance the instancer's and the instanced object's camera visibility both count. The child
of a mesh that instances on its vertices or faces renders only as those instances, not where it is itself (the
viewport depsgraph shows it there too).

Whether an instanced object that is itself hidden from render is drawn depends on how it is instanced (measured
with Blender 5.0): a render drops it from collection instances (empties, particles set to a collection, geometry
nodes *Collection Info*), and from the children a mesh instances on its vertices or faces, but keeps it when it is
instanced as an object (particles set to an object, geometry nodes *Object Info* or *Collection Info* with
*Separate Children*): hiding the source of those is the usual way to show only its copies. A render depsgraph has
already made that choice; the viewport depsgraph keeps every such instance, and for instances whose kind it cannot
tell (geometry nodes, a particle collection whose random picks would change) :meth:`RenderVisibility.instance_state`
names the instancer, so that the caller can ask a render depsgraph instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy

HIDDEN = None  # object_state / instance_state result for something the camera does not see


@dataclass
class _CollectionState:
    visible: bool
    holdout: bool
    indirect: bool


class RenderVisibility:
    """Render-time visibility and holdout of objects in one view layer (cached per object)."""

    def __init__(self, view_layer: bpy.types.ViewLayer) -> None:
        self._collections: dict[int, _CollectionState] = {}
        self._objects: dict[int, bool | None] = {}
        self._members: dict[int, tuple[set[int], set[int]]] = {}
        self._hidden: dict[int, bool] = {}
        self._walk(view_layer.layer_collection, _CollectionState(True, False, False))

    def _walk(self, lc: bpy.types.LayerCollection, parent: _CollectionState) -> None:
        if lc.exclude:
            return
        state = _CollectionState(parent.visible and not lc.collection.hide_render, parent.holdout or lc.holdout,
                                 parent.indirect or lc.indirect_only)
        self._collections[lc.collection.session_uid] = state
        for child in lc.children:
            self._walk(child, state)

    def object_state(self, ob: bpy.types.Object) -> bool | None:
        """``None`` when the camera does not see ``ob`` (an original object), else whether it is a holdout."""
        uid = ob.session_uid
        if uid in self._objects:
            return self._objects[uid]
        state: bool | None = HIDDEN
        if not ob.hide_render and ob.visible_camera:
            paths = [self._collections[c.session_uid] for c in ob.users_collection
                     if c.session_uid in self._collections]
            seen = [p for p in paths if p.visible and not p.indirect]
            if seen:
                state = ob.is_holdout or any(p.holdout for p in seen)
        self._objects[uid] = state
        return state

    def instance_state(self, inst: bpy.types.DepsgraphObjectInstance, render: bool = False,
                       unsure: list[str] | None = None) -> bool | None:
        """Like :meth:`object_state` for a depsgraph instance (instancer and instanced object both count).

        :param inst: An instance of the depsgraph being walked.
        :param render: The depsgraph is a render's: it holds only the instances a render draws.
        :param unsure: Receives the instancer's name when a viewport instance of an object hidden from render may
            or may not render (it is then kept).
        """
        ob = inst.object.original
        if not inst.is_instance or inst.parent is None or inst.parent.original == ob:  # itself, or its own geometry
            if not render and ob.parent is not None and ob.parent.instance_type in ("VERTS", "FACES"):
                return HIDDEN  # drawn only as its parent's instances: a render leaves out the object itself
            return self.object_state(ob)
        parent = inst.parent.original
        state = self.object_state(parent)
        if state is HIDDEN:
            return state
        if not ob.visible_camera:
            return HIDDEN
        if not render:
            coll = parent.instance_collection if parent.instance_type == "COLLECTION" else None
            if coll is not None and coll.hide_render and inst.particle_system is None:
                return HIDDEN
            if self._render_hidden(ob):
                dropped = self._render_drops(inst, ob, parent)
                if dropped:
                    return HIDDEN
                if dropped is None and unsure is not None and parent.name not in unsure:
                    unsure.append(parent.name)
        return state or ob.is_holdout

    def _render_hidden(self, ob: bpy.types.Object) -> bool:
        """True when ``ob`` or one of its collections is hidden from render (cached per object)."""
        uid = ob.session_uid
        if uid not in self._hidden:
            self._hidden[uid] = ob.hide_render or any(c.hide_render for c in ob.users_collection)
        return self._hidden[uid]

    def _render_drops(self, inst: bpy.types.DepsgraphObjectInstance, ob: bpy.types.Object,
                      parent: bpy.types.Object) -> bool | None:
        """Whether a render leaves out this viewport instance of an object hidden from render; None: cannot tell."""
        if inst.particle_system is not None:
            return False if inst.particle_system.settings.render_type == "OBJECT" else None
        if parent.instance_type == "COLLECTION" and parent.instance_collection is not None:
            members, shown = self._collection_members(parent.instance_collection)
            return ob.session_uid not in shown if ob.session_uid in members else None
        if parent.instance_type in ("VERTS", "FACES") and ob.parent == parent and ob.hide_render:
            return True
        return None  # geometry nodes: Object Info keeps it, Collection Info leaves it out

    def shown_members(self, coll: bpy.types.Collection) -> set[int]:
        """Session uids of the objects of ``coll`` that a render instances (see :meth:`_collection_members`).

        :param coll: An instanced collection.
        """
        return self._collection_members(coll)[1]

    def _collection_members(self, coll: bpy.types.Collection) -> tuple[set[int], set[int]]:
        """Session uids of every object of ``coll`` and of those a render instances (not hidden from render, nor
        in a child collection hidden from render)."""
        if coll.session_uid not in self._members:
            shown: set[int] = set()
            todo = [] if coll.hide_render else [coll]
            while todo:
                c = todo.pop()
                shown.update(o.session_uid for o in c.objects if not o.hide_render)
                todo.extend(child for child in c.children if not child.hide_render)
            self._members[coll.session_uid] = ({o.session_uid for o in coll.all_objects}, shown)
        return self._members[coll.session_uid]
