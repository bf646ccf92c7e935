# SPDX-License-Identifier: GPL-3.0-or-later
"""Instancers whose instances draw nothing: an empty instanced collection, or instances all hidden from render.

Every kind of instancer is looked at: an empty instancing a collection, a mesh instancing its children on its
vertices or faces, a particle system set to a collection, and the *Collection Info* nodes of a geometry-nodes
modifier. A render leaves out the members of an instanced collection that are hidden from render (or in a child
collection hidden from render), and the children hidden from render (see :mod:`.visibility`); particles and
*Collection Info* with *Separate Children* instance objects, whose own visibility does not count.
"""

from __future__ import annotations

import bpy

from .. import compat
from .visibility import RenderVisibility


def _all_hidden(objects: list[bpy.types.Object], shown: set[int]) -> bool:
    return all(o.session_uid not in shown or not o.visible_camera for o in objects)


def _collection_warning(ob: bpy.types.Object, coll: bpy.types.Collection | None, visibility: RenderVisibility,
                        via: str = "") -> str | None:
    """The warning for ``ob`` instancing ``coll`` (``via``: which part of ``ob`` does, for the message)."""
    if coll is None or not coll.all_objects:
        name = f" {coll.name!r}" if coll is not None else ""
        return f"{ob.name!r} instances an empty collection{name}{via}: " + (
            "those instances draw nothing" if via else "it draws nothing")
    if _all_hidden(list(coll.all_objects), visibility.shown_members(coll)):
        return f"the instances of {ob.name!r} (collection {coll.name!r}{via}) are all hidden from render"
    return None


def _node_collections(modifier: bpy.types.Modifier) -> list[bpy.types.Collection]:
    """The collections the *Collection Info* nodes of a geometry-nodes modifier instance whole (not *Separate
    Children*), where the node's input or the modifier's input names them."""
    inputs = {item[0]: item[1] for item in compat.node_modifier_inputs(modifier)}
    out: list = []
    todo, seen = [(modifier.node_group, True)], set()
    while todo:
        group, top = todo.pop()
        if group is None or group.session_uid in seen:
            continue
        seen.add(group.session_uid)
        for node in group.nodes:
            if getattr(node, "node_tree", None) is not None:
                todo.append((node.node_tree, False))
            if node.bl_idname != "GeometryNodeCollectionInfo":
                continue
            socket, separate = node.inputs["Collection"], node.inputs["Separate Children"]
            if separate.is_linked or separate.default_value:
                continue
            if not socket.is_linked and socket.default_value is not None:
                out.append(socket.default_value)
            elif top and socket.links[0].from_node.bl_idname == "NodeGroupInput":
                value = inputs.get(socket.links[0].from_socket.identifier)
                if isinstance(value, bpy.types.Collection):
                    out.append(value)
    return out


def instancer_warnings(ob: bpy.types.Object, visibility: RenderVisibility) -> list[str]:
    """Why some instances of ``ob`` (an object that renders) draw nothing, as messages.

    :param ob: An original object the camera sees.
    :param visibility: Render visibility of its view layer.
    """
    out = []
    if ob.instance_type == "COLLECTION":
        out.append(_collection_warning(ob, ob.instance_collection, visibility))
    elif ob.instance_type in ("VERTS", "FACES") and ob.type == "MESH":
        children = list(ob.children)
        if children and all(c.hide_render or not c.visible_camera for c in children):
            names = ", ".join(repr(c.name) for c in children[:3]) + (" …" if len(children) > 3 else "")
            out.append(f"the instances of {ob.name!r} (its children {names}) are all hidden from render")
    for m in ob.modifiers:
        if not m.show_render:
            continue
        if m.type == "PARTICLE_SYSTEM" and m.particle_system.settings.render_type == "COLLECTION":
            settings = m.particle_system.settings
            out.append(_collection_warning(ob, settings.instance_collection, visibility,
                                           f" in particle system {m.particle_system.name!r}"))
        elif m.type == "NODES" and m.node_group is not None:
            out.extend(_collection_warning(ob, coll, visibility, f" in geometry nodes {m.name!r}")
                       for coll in _node_collections(m))
    return [w for w in out if w is not None]
