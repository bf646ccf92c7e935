# SPDX-License-Identifier: GPL-3.0-or-later
"""The view layer and evaluated depsgraph of any scene of the file, not only of the context's scene, and what a
render evaluates differently from the viewport.

A script may work on a scene no window shows (a pipeline looping over ``bpy.data.scenes``). The context's view
layer is then another scene's, and that scene's own layers have no depsgraph until one is asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import bpy

from ..errors import BadInput


def scene_layer(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    """The view layer ``scene`` is seen through: the context's when ``scene`` is the context scene, else its first
    that renders (Use for Rendering), or its first.

    :param scene: Any scene of the file.
    """
    layer = getattr(bpy.context, "view_layer", None)
    if bpy.context.scene == scene and layer is not None:
        return layer
    layer = next((v for v in scene.view_layers if v.use), scene.view_layers[0])  # the first that renders
    if layer.layer_collection is None or not len(layer.objects):  # never synced (5.3: no layer collection yet)
        layer.update()
    return layer


def rendered_layer(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    """The view layer whose render a compositor of ``scene`` reads: :func:`scene_layer` when it renders (Use for
    Rendering), else the first that does (a working layer shown in the window renders nothing), else
    :func:`scene_layer`.

    :param scene: Any scene of the file.
    """
    layer = scene_layer(scene)
    return layer if layer.use else next((v for v in scene.view_layers if v.use), layer)


def show_rendered_layer() -> None:
    """After a file is opened without its UI (headless), the window shows its scene's first view layer, even one that
    does not render (Use for Rendering off): show the first that does, so that depth is taken of what renders.

    Nothing changes when the shown layer renders, when none does, or without a window.
    """
    window = bpy.context.window
    if window is None or window.view_layer.use:
        return
    rendered = next((v for v in window.scene.view_layers if v.use), None)
    if rendered is not None:
        window.view_layer = rendered


def edited_meshes(scene: bpy.types.Scene) -> list[bpy.types.Object]:
    """The mesh objects of ``scene`` in Edit Mode: their evaluated meshes hold no geometry (Edit Mode keeps it apart
    until it is left), so a depth render or a bake would not see them.

    :param scene: Any scene of the file.
    """
    if bpy.context.mode != "EDIT_MESH":
        return []
    return [o for o in getattr(bpy.context, "objects_in_mode", ()) if o.type == "MESH" and o.name in scene.objects]


def refuse_edit_mode(objects: list[bpy.types.Object], what: str) -> None:
    """Refuse ``what`` while one of ``objects`` is a mesh in Edit Mode.

    :param objects: The objects ``what`` reads or writes.
    :param what: The job, as the message names it (``a bake``).
    :raises BadInput: Naming the objects in Edit Mode.
    """
    chosen = {o.name for o in objects}
    edited = [o.name for o in edited_meshes(bpy.context.scene) if o.name in chosen]
    if edited:
        names = ", ".join(map(repr, edited))
        raise BadInput(f"{names} {'is' if len(edited) == 1 else 'are'} in Edit Mode, which keeps its geometry and UV "
                       f"maps apart from {what}; switch to Object Mode first")


@contextlib.contextmanager
def edits_flushed(scene: bpy.types.Scene) -> Iterator[None]:
    """Leave Edit Mode while the body runs, when a mesh of ``scene`` is being edited, and enter it again after: the
    geometry then holds the edits, as Blender's own render takes them.

    :param scene: The scene about to be rendered.
    :raises BadInput: When Edit Mode cannot be left here (the context has no active object to leave it with).
    """
    edited = edited_meshes(scene)
    if not edited:
        yield
        return
    try:
        bpy.ops.object.mode_set(mode="OBJECT")
    except RuntimeError:
        names = ", ".join(repr(o.name) for o in edited)
        raise BadInput(f"{names} {'is' if len(edited) == 1 else 'are'} in Edit Mode, whose geometry a render does "
                       "not see; switch to Object Mode first") from None
    try:
        yield
    finally:
        bpy.ops.object.mode_set(mode="EDIT")


def scene_depsgraph(scene: bpy.types.Scene, layer: bpy.types.ViewLayer | None = None) -> bpy.types.Depsgraph:
    """The evaluated viewport depsgraph of ``scene`` (of ``layer``, or of :func:`scene_layer`).

    The context's own when that is the context's layer; another scene's is made and evaluated through a context
    that names that scene and layer.

    :param scene: Any scene of the file.
    :param layer: One of its view layers; :func:`scene_layer` when None.
    """
    layer = layer or scene_layer(scene)
    if bpy.context.scene == scene and getattr(bpy.context, "view_layer", None) == layer:
        return bpy.context.evaluated_depsgraph_get()
    with bpy.context.temp_override(scene=scene, view_layer=layer):
        return bpy.context.evaluated_depsgraph_get()


def modifier_changes(ob: bpy.types.Object) -> list[tuple[bpy.types.Modifier, str, object, object]]:
    """What differs between the object's modifiers in the viewport and in a render, as settings that can be set:
    ``(modifier, property, viewport value, render value)`` for visibility and, of those that render, subdivision
    levels (the depth path renders such objects; bakes set them as for the render while they read the surface).

    :param ob: Any object.
    """
    changes = []
    for m in ob.modifiers:
        if m.show_viewport != m.show_render:
            changes.append((m, "show_viewport", m.show_viewport, m.show_render))
        if m.show_render and m.type in ("SUBSURF", "MULTIRES") and m.levels != m.render_levels:
            changes.append((m, "levels", m.levels, m.render_levels))
    return changes


def uses_is_viewport(group: bpy.types.NodeTree, seen: set[int] | None = None) -> bool:
    """True when ``group`` or a group nested in it has an *Is Viewport* node (its result differs in renders).

    :param group: A geometry node group.
    :param seen: Session ids of the groups looked at already.
    """
    seen = set() if seen is None else seen
    if group.session_uid in seen:
        return False
    seen.add(group.session_uid)
    for node in group.nodes:
        if node.bl_idname == "GeometryNodeIsViewport":
            return True
        sub = getattr(node, "node_tree", None)
        if sub is not None and uses_is_viewport(sub, seen):
            return True
    return False


def branches_on_viewport(ob: bpy.types.Object) -> bool:
    """True when geometry nodes of ``ob`` that render branch on *Is Viewport*: no viewport setting gives the surface
    it renders (only a render evaluates it).

    :param ob: Any object.
    """
    return any(m.type == "NODES" and m.show_render and m.node_group is not None and uses_is_viewport(m.node_group)
               for m in ob.modifiers)
