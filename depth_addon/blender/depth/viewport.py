# SPDX-License-Identifier: GPL-3.0-or-later
"""When the viewport depsgraph gives the render's geometry, and when it does not.

The fast depth path draws the viewport depsgraph: it is evaluated anyway, stays evaluated between
renders and reports every change, so uploaded meshes can be reused. A render evaluates its own
depsgraph with render settings. The two give the same geometry unless something that renders is
hidden in the viewport, or a modifier, curve, metaball, particle or Simplify setting differs
between viewport and render; :func:`viewport_differs` finds those cases (then the depth path
asks a render for its depsgraph instead). Geometry nodes that branch on *Is Viewport* are found
by scanning the node groups the modifiers use.
"""

from __future__ import annotations

import bpy

from .scene import RenderVisibility


def _uses_is_viewport(group: bpy.types.NodeTree, seen: set[int]) -> bool:
    if group.session_uid in seen:
        return False
    seen.add(group.session_uid)
    for node in group.nodes:
        if node.bl_idname == "GeometryNodeIsViewport":
            return True
        sub = getattr(node, "node_tree", None)
        if sub is not None and _uses_is_viewport(sub, seen):
            return True
    return False


def _object_differs(ob: bpy.types.Object) -> str | None:
    for m in ob.modifiers:
        if m.show_render != m.show_viewport:
            return f"modifier {m.name!r} of {ob.name!r} is not shown the same in viewport and render"
        if not m.show_render:
            continue
        if m.type in ("SUBSURF", "MULTIRES") and m.levels != m.render_levels:
            return f"modifier {m.name!r} of {ob.name!r} has other render levels"
        if m.type == "NODES" and m.node_group is not None and _uses_is_viewport(m.node_group, set()):
            return f"geometry nodes of {ob.name!r} use Is Viewport"
        if m.type == "PARTICLE_SYSTEM":
            ps = m.particle_system.settings
            children_differ = ps.child_type != "NONE" and ps.child_percent != ps.rendered_child_count
            if ps.display_percentage != 100 or children_differ:
                return f"particles of {ob.name!r} show fewer in the viewport"
    if ob.show_instancer_for_render != ob.show_instancer_for_viewport:
        return f"{ob.name!r} shows its instancer differently in viewport and render"
    data = ob.data
    if ob.type in ("CURVE", "SURFACE", "FONT"):
        if data.render_resolution_u not in (0, data.resolution_u) or (
                ob.type == "SURFACE" and data.render_resolution_v not in (0, data.resolution_v)):
            return f"curve {ob.name!r} has another render resolution"
    elif ob.type == "META" and data.render_resolution != data.resolution:
        return f"metaball {ob.name!r} has another render resolution"
    return None


def _can_draw(ob: bpy.types.Object) -> bool:
    return ob.type in ("MESH", "CURVE", "SURFACE", "FONT", "META") or ob.instance_type != "NONE" or any(
        m.type in ("NODES", "PARTICLE_SYSTEM") for m in ob.modifiers)


def viewport_differs(scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, visibility: RenderVisibility,
                     ) -> str | None:
    """Why the viewport depsgraph would not give the render's geometry, or None when it does.

    The fast path draws the viewport depsgraph (evaluated once, cached). It only equals what a
    render evaluates when nothing that renders is hidden in the viewport and no modifier, curve,
    metaball, particle or Simplify setting differs between viewport and render.

    :param scene: The scene.
    :param view_layer: Its view layer being drawn.
    :param visibility: Render visibility of that view layer.
    """
    r = scene.render
    if r.use_simplify and (r.simplify_subdivision != r.simplify_subdivision_render
                           or r.simplify_child_particles != r.simplify_child_particles_render):
        return "Simplify differs between viewport and render"
    members: list[bpy.types.Object] = []
    for ob in view_layer.objects:
        if visibility.object_state(ob) is None or not _can_draw(ob):
            continue
        if not ob.visible_get(view_layer=view_layer):
            return f"{ob.name!r} renders but is hidden in the viewport"
        coll = ob.instance_collection if ob.instance_type == "COLLECTION" else None
        if coll is not None:
            for c in [coll, *coll.children_recursive]:
                if c.hide_viewport and not c.hide_render:
                    return f"collection {c.name!r} renders but is disabled in the viewport"
            members.extend(coll.all_objects)
        reason = _object_differs(ob)
        if reason:
            return reason
    for ob in members:
        if ob.hide_viewport and not ob.hide_render:
            return f"{ob.name!r} renders but is disabled in the viewport"
        reason = _object_differs(ob)
        if reason:
            return reason
    return None
