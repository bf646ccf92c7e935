# SPDX-License-Identifier: GPL-3.0-or-later
"""Named nodes of our compositor group: every node we add carries the prefix ``Depth AI`` and is found again
by name, so a later call updates the group in place and removes only what it no longer wants."""

from __future__ import annotations

import bpy

NODE_PREFIX = "Depth AI"


def node(tree: bpy.types.NodeTree, name: str, make, x: float, y: float) -> bpy.types.Node:
    """The node called ``name`` in ``tree``, made by ``make(tree)`` when missing, placed at ``(x, y)``.

    :param tree: Our node group.
    :param name: Node name (also its label).
    :param make: Callable that adds a new node to ``tree`` and returns it.
    :param x: Location x.
    :param y: Location y.
    """
    found = tree.nodes.get(name)
    if found is None:
        found = make(tree)
        found.name = found.label = name
    found.location = (x, y)
    return found


def unlink_ours(tree: bpy.types.NodeTree) -> None:
    """Remove every link to or from a node of ours in ``tree`` (a build links them again).

    :param tree: Our node group.
    """
    for link in [lk for lk in tree.links if lk.from_node.name.startswith(NODE_PREFIX)
                 or lk.to_node.name.startswith(NODE_PREFIX)]:
        tree.links.remove(link)


def prune(tree: bpy.types.NodeTree, wanted: set[str]) -> None:
    """Delete the nodes of ours in ``tree`` that a build no longer wants.

    :param tree: Our node group.
    :param wanted: Names of the nodes this build used.
    """
    for node in [n for n in tree.nodes if n.name.startswith(NODE_PREFIX) and n.name not in wanted]:
        tree.nodes.remove(node)
