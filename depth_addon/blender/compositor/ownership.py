# SPDX-License-Identifier: GPL-3.0-or-later
"""Which compositor groups are ours, and whose: each group of ours points at its scene, and the scene points back.

A copy the user makes of one of our groups (the group selector's copy, ``Duplicate`` in the Outliner, a script's
``copy()``) carries our custom properties, its scene pointer included; the scene does not point back at it, so the
copy is the user's: never updated, switched or deleted by us. Groups saved before scenes pointed back belong to the
scene they point at, as before.
"""

from __future__ import annotations

import bpy

from ..compat.base import is_tagged_node

KEY_OWNED = "depth_addon_compositor"  # on our node group
KEY_SCENE = "depth_addon_compositor_scene"  # on our node group: the scene it composites (an ID pointer)
KEY_GROUP = "depth_addon_compositor_group"  # on the scene: its group of ours (an ID pointer)


def is_copy(group: bpy.types.NodeTree) -> bool:
    """True for a copy of a group of ours: its scene points at another group of ours.

    :param group: A node group carrying :data:`KEY_OWNED`.
    """
    scene = group.get(KEY_SCENE)
    own = scene.get(KEY_GROUP) if isinstance(scene, bpy.types.Scene) else None
    return own is not None and own != group


def is_ours(tree: bpy.types.NodeTree) -> bool:
    """True for a group of ours, not for a user's copy of one or any other tree.

    :param tree: Any node tree.
    """
    return bool(tree.get(KEY_OWNED)) and not is_copy(tree)


def our_groups() -> list[bpy.types.NodeTree]:
    """Our compositor groups of this file (not linked from a library, not a user's copy of one)."""
    return [g for g in bpy.data.node_groups if is_ours(g) and g.library is None
            and g.bl_idname == "CompositorNodeTree"]


def disown_copies(group: bpy.types.NodeTree) -> None:
    """Take our properties off the user's copies of ``group`` (those pointing at its scene), so they stay the
    user's plain groups once the scene no longer points back at ``group`` (it is removed, or another group is
    claimed): a copy would otherwise be taken for ours and set up, switched or deleted.

    :param group: Our group.
    """
    scene = group.get(KEY_SCENE)
    if scene is None:  # its scene is gone: other groups pointing at no scene are not its copies
        return
    for other in bpy.data.node_groups:
        if other != group and other.library is None and other.get(KEY_OWNED) and other.get(KEY_SCENE) == scene:
            for key in (KEY_OWNED, KEY_SCENE):
                other.pop(key, None)


def claim(scene: bpy.types.Scene, group: bpy.types.NodeTree) -> None:
    """Make ``group`` the group of ``scene``: it points at the scene, the scene back at it (the user's copies of the
    group the scene pointed at before are theirs: :func:`disown_copies`).

    :param scene: The scene the group composites.
    :param group: Our group.
    """
    before = scene.get(KEY_GROUP)
    if isinstance(before, bpy.types.NodeTree) and before != group:
        disown_copies(before)
    group[KEY_SCENE] = scene
    scene[KEY_GROUP] = group
    disown_copies(group)


def used_elsewhere(group: bpy.types.NodeTree) -> bool:
    """True when anything but our own pointers uses ``group`` (a group node in a tree of the user's).

    The scenes' pointers back at it are left out of the count; they stay as they were.

    :param group: Our group.
    """
    holders = [s for s in bpy.data.scenes if s.get(KEY_GROUP) == group]
    for scene in holders:
        del scene[KEY_GROUP]
    try:
        return bool(bpy.data.user_map(subset=[group])[group] - {group})
    finally:
        for scene in holders:
            scene[KEY_GROUP] = group


def release(group: bpy.types.NodeTree) -> None:
    """Take the scenes' pointers back at ``group`` away, before it is deleted; the user's copies of it become their
    plain groups (:func:`disown_copies`).

    :param group: Our group.
    """
    disown_copies(group)
    for scene in bpy.data.scenes:
        if scene.get(KEY_GROUP) == group:
            del scene[KEY_GROUP]


def user_nodes(tree: bpy.types.NodeTree | None) -> list[bpy.types.Node]:
    """The nodes of a user's compositor ``tree`` and of the groups nested in it, without ours (the nodes we add to a
    4.x tree, and our groups).

    :param tree: A compositor node tree, or None.
    """
    found: list[bpy.types.Node] = []
    seen: set[int] = set()

    def walk(t: bpy.types.NodeTree) -> None:
        if t.session_uid in seen or is_ours(t):
            return
        seen.add(t.session_uid)
        for node in t.nodes:
            if is_tagged_node(node):
                continue
            found.append(node)
            if getattr(node, "node_tree", None) is not None:
                walk(node.node_tree)

    if tree is not None:
        walk(tree)
    return found


def file_outputs(tree: bpy.types.NodeTree | None) -> list[str]:
    """The File Output nodes of a user's compositor (:func:`user_nodes`): their labels or names.

    :param tree: A compositor node tree, or None.
    """
    return [n.label or n.name for n in user_nodes(tree) if n.bl_idname == "CompositorNodeOutputFile"]


def layers_read(tree: bpy.types.NodeTree | None, scene: bpy.types.Scene) -> list[str]:
    """The view layers of ``scene`` that a user's compositor reads through Render Layers nodes, each once.

    :param tree: A compositor node tree, or None.
    :param scene: The scene it composites (a Render Layers node without a scene of its own reads it).
    """
    names: list[str] = []
    for node in user_nodes(tree):
        if node.bl_idname == "CompositorNodeRLayers" and (node.scene is None or node.scene == scene):
            if node.layer and node.layer not in names:
                names.append(node.layer)
    return names
