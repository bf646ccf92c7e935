# SPDX-License-Identifier: GPL-3.0-or-later
"""When the viewport depsgraph gives the render's geometry, and when it does not.

The fast depth path draws the viewport depsgraph: it is evaluated anyway, stays evaluated between
renders and reports every change, so uploaded meshes can be reused. A render evaluates its own
depsgraph with render settings. The two give the same geometry unless something that renders is
hidden in the viewport, or a modifier, curve, metaball, particle or Simplify setting differs
between viewport and render; :func:`viewport_differs` finds those cases (then the depth path
asks a render for its depsgraph instead). Geometry nodes that branch on *Is Viewport* are found
by scanning the node groups the modifiers use. Edits of render-only settings, and of objects the
viewport does not evaluate at all (:func:`untracked`), send no update: they are read on every call
(:func:`render_settings`, :func:`untracked_settings`).
"""

from __future__ import annotations

import bpy

from .. import compat
from ..evaluation import branches_on_viewport, modifier_changes
from .instancers import instancer_warnings
from .scene import RenderVisibility


def _object_differs(ob: bpy.types.Object) -> str | None:
    for m, prop, _viewport, _render in modifier_changes(ob):
        if prop == "show_viewport":
            return f"modifier {m.name!r} of {ob.name!r} is not shown the same in viewport and render"
        return f"modifier {m.name!r} of {ob.name!r} has other render levels"
    if branches_on_viewport(ob):
        return f"geometry nodes of {ob.name!r} use Is Viewport"
    for m in ob.modifiers:
        if not m.show_render:
            continue
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


def _drawn_members(view_layer: bpy.types.ViewLayer, visibility: RenderVisibility,
                   ) -> tuple[list[bpy.types.Object], list[bpy.types.Object]]:
    """Objects that render and can draw, and the members of the collections they instance."""
    drawn, members = [], []
    for ob in view_layer.objects:
        if visibility.object_state(ob) is None or not _can_draw(ob):
            continue
        drawn.append(ob)
        if ob.instance_type == "COLLECTION" and ob.instance_collection is not None:
            members.extend(ob.instance_collection.all_objects)
    return drawn, members


def viewport_hidden(view_layer: bpy.types.ViewLayer, visibility: RenderVisibility) -> str | None:
    """Why something that renders is missing from the viewport depsgraph (so its edits are not reported), or None.

    :param view_layer: The view layer being drawn.
    :param visibility: Render visibility of that view layer.
    """
    drawn, members = _drawn_members(view_layer, visibility)
    for ob in drawn:
        if not ob.visible_get(view_layer=view_layer):
            return f"{ob.name!r} renders but is hidden in the viewport"
        coll = ob.instance_collection if ob.instance_type == "COLLECTION" else None
        for c in [coll, *coll.children_recursive] if coll is not None else []:
            if c.hide_viewport and not c.hide_render:
                return f"collection {c.name!r} renders but is disabled in the viewport"
    for ob in members:
        if ob.hide_viewport and not ob.hide_render:
            return f"{ob.name!r} renders but is disabled in the viewport"
    return None


def viewport_differs(scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, visibility: RenderVisibility,
                     ) -> str | None:
    """Why the viewport depsgraph would not give the render's geometry, or None when it does.

    The fast path draws the viewport depsgraph (evaluated once, cached). It only equals what a
    render evaluates when nothing that renders is hidden in the viewport (:func:`viewport_hidden`)
    and no modifier, curve, metaball, particle or Simplify setting differs between viewport and render.

    :param scene: The scene.
    :param view_layer: Its view layer being drawn.
    :param visibility: Render visibility of that view layer.
    """
    r = scene.render
    if r.use_simplify and (r.simplify_subdivision != r.simplify_subdivision_render
                           or r.simplify_child_particles != r.simplify_child_particles_render):
        return "Simplify differs between viewport and render"
    hidden = viewport_hidden(view_layer, visibility)
    if hidden:
        return hidden
    drawn, members = _drawn_members(view_layer, visibility)
    for ob in [*drawn, *members]:
        reason = _object_differs(ob)
        if reason:
            return reason
    return None


def watched_objects(view_layer: bpy.types.ViewLayer, visibility: RenderVisibility) -> list[bpy.types.Object]:
    """Drawn objects (and instanced collection members) with render-only settings: modifiers, curves, metaballs."""
    drawn, members = _drawn_members(view_layer, visibility)
    seen: set[int] = set()
    out = []
    for ob in [*drawn, *members]:
        if ob.session_uid not in seen and (len(ob.modifiers) or ob.type in ("CURVE", "SURFACE", "FONT", "META")):
            seen.add(ob.session_uid)
            out.append(ob)
    return out


def untracked(view_layer: bpy.types.ViewLayer, visibility: RenderVisibility, depsgraph: bpy.types.Depsgraph,
              ) -> list[bpy.types.Object]:
    """Objects that render (and instanced collection members) that the viewport depsgraph does not evaluate
    (disabled in viewports, or in a collection that is), so that it reports none of their edits. Objects only
    hidden in the viewport (the eye icon) are still evaluated there and report their edits.

    :param view_layer: The view layer being drawn.
    :param visibility: Render visibility of that view layer.
    :param depsgraph: Its evaluated viewport depsgraph.
    """
    drawn, members = _drawn_members(view_layer, visibility)
    out = {ob.session_uid: ob for ob in [*drawn, *members] if not ob.evaluated_get(depsgraph).is_evaluated}
    return list(out.values())


def untracked_settings(objects: list[bpy.types.Object], frame: int) -> dict[int, tuple]:
    """Per object (session uid): what a viewport update would report about an :func:`untracked` object, read
    instead: the frame (it may be animated), its transform and parent, every modifier and constraint setting, its
    data, the size of its mesh and its shape key values. In-place edits of its vertices that keep their count are
    not seen (the viewport does not evaluate the object, and Blender keeps no edit counter). An object whose edits
    cannot be read so (curve, text or metaball data; a modifier using a texture, node group or other datablock)
    gets a value that never compares equal: it is read again on every call.

    :param objects: From :func:`untracked`.
    :param frame: The scene's current frame.
    """
    out = {}
    for ob in objects:
        data = ob.data
        if _unreadable(ob):
            out[ob.session_uid] = (object(),)
            continue
        keys = getattr(data, "shape_keys", None)
        size = (len(data.vertices), len(data.polygons), len(data.loops)) if isinstance(data, bpy.types.Mesh) else ()
        out[ob.session_uid] = (
            frame, tuple(map(tuple, ob.matrix_basis)), tuple(map(tuple, ob.matrix_parent_inverse)),
            _value(ob.parent), ob.parent_type, ob.parent_bone, _value(data), size,
            tuple(_all_settings(m) for m in ob.modifiers), tuple(_all_settings(c) for c in ob.constraints),
            tuple((k.value, k.mute, k.slider_min, k.slider_max) for k in keys.key_blocks) if keys else ())
    return out


def _unreadable(ob: bpy.types.Object) -> bool:
    """Whether edits of the object cannot be told from its settings: data other than a mesh, or a modifier that
    uses another datablock than an object or a collection (a texture, a node group …)."""
    if not isinstance(ob.data, bpy.types.Mesh):
        return True
    return any(isinstance(v, bpy.types.ID) and not isinstance(v, (bpy.types.Object, bpy.types.Collection))
               for m in ob.modifiers for v in (getattr(m, p.identifier) for p in m.bl_rna.properties
                                               if p.type == "POINTER"))


_PLAIN = frozenset((float, int, bool, str))
_NAN = ("NaN",)  # what a NaN reads as: NaN != NaN, so a setting holding one would look edited on every call


def _value(v: object) -> object:
    if type(v) in _PLAIN:  # most inputs: a number or a name, as they are
        return v if v == v else _NAN
    if isinstance(v, (set, frozenset)):
        return tuple(sorted(v))
    if isinstance(v, bpy.types.ID):
        return v.session_uid
    if isinstance(v, bpy.types.bpy_struct) or isinstance(v, str) or not hasattr(v, "__len__"):
        return v if not isinstance(v, bpy.types.bpy_struct) else None
    out = tuple(v)
    return out if all(x == x for x in out) else tuple(x if x == x else _NAN for x in out)


def _all_settings(m: bpy.types.Modifier | bpy.types.Constraint) -> tuple:
    rna = tuple(_value(getattr(m, p.identifier)) for p in m.bl_rna.properties
                if p.identifier != "rna_type" and p.type != "COLLECTION")
    if not isinstance(m, bpy.types.NodesModifier):
        return rna
    return rna + tuple(tuple(_value(v) for v in item) for item in compat.node_modifier_inputs(m))


def node_inputs(objects: list[bpy.types.Object]) -> dict[int, tuple]:
    """Per object with geometry nodes (session uid): the input values of its geometry-nodes modifiers. Up to Blender
    5.2 a script that sets one (``modifier[identifier] = value`` up to 5.1, ``properties.inputs`` in 5.2) sends no
    update: the viewport keeps the old geometry, and so would the cached render-level geometry, where a render would
    not.

    From Blender 5.3 such a write sends an update like any other edit, and nothing is read (reading them costs
    about 10 µs an object: 20 ms a call for 2,000 scattered objects with geometry nodes).

    :param objects: From :func:`watched_objects`.
    """
    out: dict[int, tuple] = {}
    if compat.node_inputs_notify():
        return out
    for ob in objects:
        row = _node_row(ob)
        if row:
            out[ob.session_uid] = row
    return out


def _node_row(ob: bpy.types.Object) -> tuple:
    """The input values of the geometry-nodes modifiers of ``ob`` (original or evaluated), comparable."""
    return tuple(tuple(tuple(_value(v) for v in item) for item in compat.node_modifier_inputs(m))
                 for m in ob.modifiers if m.type == "NODES")


def inputs_not_evaluated(ob: bpy.types.Object, depsgraph: bpy.types.Depsgraph) -> bool:
    """Whether the viewport evaluated ``ob`` with other geometry-nodes input values than it has now: a script set
    one since (it sends no update up to Blender 5.1). An animated or driven input is written back to the original
    when its frame is evaluated, and the evaluated copy then has the same values. An object the viewport does not
    evaluate counts as not evaluated.

    :param ob: An original object, one of :func:`node_inputs`.
    :param depsgraph: The evaluated viewport depsgraph.
    """
    evaluated = ob.evaluated_get(depsgraph)
    return not evaluated.is_evaluated or _node_row(evaluated) != _node_row(ob)


def render_settings(objects: list[bpy.types.Object]) -> dict[int, tuple]:
    """Per object (session uid): the settings a render uses that the viewport ignores, so editing them sends
    no viewport update: every setting of a modifier hidden in the viewport, render levels, particle and curve
    render settings.

    :param objects: From :func:`watched_objects`.
    """
    out = {}
    for ob in objects:
        row: list = []
        for m in ob.modifiers:
            if not m.show_viewport:
                row.append(_all_settings(m) if m.show_render else (m.name, False))
                continue
            row.append((m.name, m.show_render, getattr(m, "render_levels", None)))
            if m.type == "PARTICLE_SYSTEM":
                ps = m.particle_system.settings
                row.append((ps.rendered_child_count, ps.render_type, ps.display_percentage))
        data = ob.data
        if ob.type in ("CURVE", "SURFACE", "FONT"):
            row.append((data.render_resolution_u, getattr(data, "render_resolution_v", 0)))
        elif ob.type == "META":
            row.append(data.render_resolution)
        out[ob.session_uid] = tuple(row)
    return out


def input_problems(view_layer: bpy.types.ViewLayer, visibility: RenderVisibility,
                   watched: list[bpy.types.Object]) -> tuple[list[str], list[str]]:
    """Errors (geometry nodes that failed to evaluate) and warnings (instancers that give nothing to draw, other
    modifiers that failed or are not bound).

    :param view_layer: The view layer being drawn.
    :param visibility: Render visibility of that view layer.
    :param watched: From :func:`watched_objects`.
    :return: ``(errors, warnings)`` as messages.
    """
    errors = [f"geometry nodes modifier {m.name!r} of {ob.name!r} failed to evaluate: {message}"
              for ob in watched for m in ob.modifiers if m.type == "NODES" and m.show_render
              for message in compat.geometry_node_errors(m)]
    warnings = [w for ob in _drawn_members(view_layer, visibility)[0] for w in instancer_warnings(ob, visibility)]
    for ob in watched:  # a failed modifier gives a render the same mesh: warned about, drawn as it renders
        for m in ob.modifiers:
            message = compat.modifier_error(m) if m.show_render and m.type != "NODES" else None
            if message:
                warnings.append(f"modifier {m.name!r} of {ob.name!r} {message}; the depth shows the mesh as a "
                                "render does")
    return errors, warnings
