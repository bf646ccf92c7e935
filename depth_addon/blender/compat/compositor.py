# SPDX-License-Identifier: GPL-3.0-or-later
"""Compositor differences: a node group assigned to the scene (5.0+) or the scene's embedded tree (4.x), node and
socket names, and the Render Layers Depth socket that 5.2+ only shows while the Z pass is on."""

from __future__ import annotations

import bpy

from .base import TAG_NODE, is_tagged_node, tag_node, uses_compositor_groups

DEPTH_HOLDER = "depth_addon_depth_holder"  # reroute that keeps a Render Layers node's Depth socket (5.2+)


def scene_compositor(scene: bpy.types.Scene) -> bpy.types.NodeTree | None:
    """The tree that composites ``scene`` now, or None when compositing has no tree.

    :param scene: Any scene.
    """
    if uses_compositor_groups():
        return scene.compositing_node_group
    return scene.node_tree if scene.use_nodes else None


def ensure_scene_compositor(scene: bpy.types.Scene, name: str = "Compositor") -> bpy.types.NodeTree:
    """The tree compositing ``scene``, created when there is none (5.0: a new group assigned to it).

    :param scene: Any scene.
    :param name: Name of a new group (5.0 only; 4.x trees belong to the scene).
    """
    if uses_compositor_groups():
        if scene.compositing_node_group is None:
            tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
            tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            tree.nodes.new("NodeGroupOutput")
            scene.compositing_node_group = tree
        return scene.compositing_node_group
    scene.use_nodes = True
    return scene.node_tree


def compositor_output(tree: bpy.types.NodeTree) -> bpy.types.NodeSocket:
    """The socket whose input becomes the composited image (Group Output in 5.0, Composite in 4.x).

    :param tree: The scene's compositing tree.
    """
    if uses_compositor_groups():
        return group_image_output(tree, "Image")
    node = next((n for n in tree.nodes if n.bl_idname == "CompositorNodeComposite" and not n.mute), None)
    return (node or tree.nodes.new("CompositorNodeComposite")).inputs["Image"]


def is_group_active(scene: bpy.types.Scene, group: bpy.types.NodeTree) -> bool:
    """True when ``group`` produces the composited image of ``scene``.

    :param scene: Any scene.
    :param group: A compositor node group.
    """
    if uses_compositor_groups():
        return scene.compositing_node_group == group
    tree = scene.node_tree if scene.use_nodes else None
    return tree is not None and any(
        link.to_node.bl_idname == "CompositorNodeComposite" and not link.to_node.mute
        and getattr(link.from_node, "node_tree", None) == group for link in tree.links)


def new_compositor_group(name: str) -> bpy.types.NodeTree:
    """A new, empty compositor node group (a datablock in ``bpy.data.node_groups``).

    :param name: Group name.
    """
    return bpy.data.node_groups.new(name, "CompositorNodeTree")


def _new_node(tree: bpy.types.NodeTree, *idnames: str) -> bpy.types.Node:
    """Create the first node type of ``idnames`` that this Blender has for ``tree``.

    Types whose ``poll`` accepts the tree come first: a refused ``nodes.new`` prints an error line on the console
    (Blender 4.2 refuses ``ShaderNodeMix`` in a compositor tree). Types that poll refuses are still tried last:
    from Blender 5.0 the compositor takes them although their ``poll`` says no.
    """
    def accepted(idname: str) -> bool:
        cls = getattr(bpy.types, idname, None)
        return cls is not None and bool(cls.poll(tree))

    order = [i for i in idnames if accepted(i)] + [i for i in idnames if not accepted(i)
                                                  and getattr(bpy.types, i, None) is not None]
    error: Exception | None = None
    for idname in order:
        try:
            return tree.nodes.new(idname)
        except RuntimeError as exc:  # poll refused it in this tree type after all
            error = exc
    raise RuntimeError(f"none of {idnames} can be added to {tree.bl_idname}: {error}")


def group_image_output(tree: bpy.types.NodeTree, name: str = "Image") -> bpy.types.NodeSocket:
    """Input socket of the Group Output node that feeds the group's colour output ``name``.

    The interface socket and the Group Output node are created when missing (4.0+ interface API;
    3.x ``tree.outputs``).

    :param tree: A compositor node group.
    :param name: Output socket name.
    """
    if hasattr(tree, "interface"):
        items = [i for i in tree.interface.items_tree if i.item_type == "SOCKET" and i.in_out == "OUTPUT"]
        if not any(i.name == name for i in items):
            tree.interface.new_socket(name=name, in_out="OUTPUT", socket_type="NodeSocketColor")
    elif name not in tree.outputs:  # Blender 3.x
        tree.outputs.new("NodeSocketColor", name)
    node = next((n for n in tree.nodes if n.bl_idname == "NodeGroupOutput"), None)
    if node is None:
        node = tree.nodes.new("NodeGroupOutput")
    return node.inputs[name]


def new_color_mix(tree: bpy.types.NodeTree) -> bpy.types.Node:
    """A colour mix node: ``ShaderNodeMix`` (RGBA) in 5.0, ``CompositorNodeMixRGB`` in 4.x.

    :param tree: A compositor node tree.
    """
    node = _new_node(tree, "ShaderNodeMix", "CompositorNodeMixRGB")
    if node.bl_idname == "ShaderNodeMix":
        node.data_type = "RGBA"
    return node


def color_mix_sockets(node: bpy.types.Node) -> tuple:
    """``(factor, a, b, result)`` sockets of a node from :func:`new_color_mix`.

    :param node: The mix node.
    """
    if node.bl_idname == "ShaderNodeMix":
        return (node.inputs["Factor"], node.inputs["A"], node.inputs["B"], node.outputs["Result"])
    return node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0]  # Fac, Image, Image → Image


def new_math(tree: bpy.types.NodeTree, operation: str) -> bpy.types.Node:
    """A float maths node (``ShaderNodeMath`` in 5.0, ``CompositorNodeMath`` in 4.x).

    :param tree: A compositor node tree.
    :param operation: Math operation identifier (``'DIVIDE'``, ``'ABSOLUTE'``, ...).
    """
    node = _new_node(tree, "ShaderNodeMath", "CompositorNodeMath")
    node.operation = operation
    return node


def new_replace_alpha(tree: bpy.types.NodeTree) -> bpy.types.Node:
    """A Set Alpha node that replaces its image's alpha (5.x: a menu socket; 4.x: ``mode``).

    :param tree: A compositor node tree.
    """
    node = tree.nodes.new("CompositorNodeSetAlpha")
    if "Type" in node.inputs:
        node.inputs["Type"].default_value = "Replace Alpha"
    else:
        node.mode = "REPLACE_ALPHA"
    return node


def new_scale_to_render(tree: bpy.types.NodeTree) -> bpy.types.Node:
    """A Scale node that stretches its input to the render size.

    :param tree: A compositor node tree.
    """
    node = tree.nodes.new("CompositorNodeScale")
    if "Type" in node.inputs:  # 5.0: the options are menu sockets
        node.inputs["Type"].default_value = "Render Size"
        node.inputs["Frame Type"].default_value = "Stretch"
        for axis in ("Extension X", "Extension Y"):  # 'Clip' would fade the border pixels
            if axis in node.inputs:
                node.inputs[axis].default_value = "Extend"
    else:
        node.space = "RENDER_SIZE"
        node.frame_method = "STRETCH"
    return node


def fit_scale_to_crop(node: bpy.types.Node, size: tuple[int, int] | None) -> None:
    """Make a node of :func:`new_scale_to_render` fill a render cropped to its render region.

    4.x's Render Size is the whole frame's, not the cropped render's: a picture of the region came out zoomed and
    centred, so it gets the region's size in pixels there. 5.x's is the region's (5.0, 5.3 measured): Render Size.

    :param node: The Scale node.
    :param size: ``(width, height)`` of the cropped render; None when the render is not cropped.
    """
    if "Type" in node.inputs:  # 5.x
        node.inputs["Type"].default_value = "Render Size"
        return
    node.space = "RENDER_SIZE" if size is None else "ABSOLUTE"
    if size is not None:
        node.inputs["X"].default_value, node.inputs["Y"].default_value = (float(v) for v in size)

def new_render_source(tree: bpy.types.NodeTree) -> bpy.types.Node:
    """The node our compositor group reads the render from.

    5.0: a Render Layers node inside the group (the group *is* the scene's compositor). 4.x:
    Render Layers cannot live in a group, so the group gets ``Image`` and ``Depth`` inputs and a
    Group Input node; :func:`activate_group` feeds them from a Render Layers node in the scene tree.

    :param tree: Our compositor node group.
    """
    if uses_compositor_groups():
        return tree.nodes.new("CompositorNodeRLayers")
    if hasattr(tree, "interface"):
        names = {i.name for i in tree.interface.items_tree if i.item_type == "SOCKET" and i.in_out == "INPUT"}
        if "Image" not in names:
            tree.interface.new_socket(name="Image", in_out="INPUT", socket_type="NodeSocketColor")
        if "Depth" not in names:
            tree.interface.new_socket(name="Depth", in_out="INPUT", socket_type="NodeSocketFloat")
    return tree.nodes.new("NodeGroupInput")


def render_source_sockets(node: bpy.types.Node, scene: bpy.types.Scene, layer: str) -> tuple:
    """``(image, depth)`` output sockets of a node made by :func:`new_render_source`.

    :param node: The source node.
    :param scene: Scene whose render feeds the group.
    :param layer: View layer name.
    """
    if node.bl_idname == "CompositorNodeRLayers":
        node.scene, node.layer = scene, layer
        return node.outputs["Image"], depth_output(node)
    return node.outputs["Image"], node.outputs["Depth"]


def depth_output(render_layers: bpy.types.Node) -> bpy.types.NodeSocket:
    """The Z-pass output of a Render Layers node (``Depth``; ``Z`` in old versions).

    Up to 5.0 the node has a (disabled) socket for every pass. From 5.1 on (checked: 5.1, 5.2, 5.3) it has sockets only
    for the passes its view layer renders, and keeps a *linked* socket (disabled) when the pass is switched off.
    Detected by the missing socket, not by version. When it is missing, the Z pass is switched on just long enough
    to link the socket to a reroute node kept next to it (:data:`DEPTH_HOLDER`), then back off: the caller can link
    it, and the user's pass settings stay as they were (our compositor activation switches the pass on, and
    restores it, itself).

    :param render_layers: A ``CompositorNodeRLayers`` node.
    """
    # Iterate: name lookup skips the socket while the view layer's Z pass is off (5.0).
    def outputs():
        return {o.identifier: o for o in render_layers.outputs}

    by_name = outputs()
    if "Depth" not in by_name and "Z" not in by_name:
        scene = render_layers.scene or bpy.context.scene
        layer = scene.view_layers.get(render_layers.layer) or scene.view_layers[0]
        was_on = layer.use_pass_z
        layer.use_pass_z = True
        tree = render_layers.id_data
        holder = tree.nodes.get(DEPTH_HOLDER)
        if holder is None:
            holder = tree.nodes.new("NodeReroute")
            holder.name = holder.label = DEPTH_HOLDER
            tag_node(holder)
        holder.location = render_layers.location.x + 200, render_layers.location.y - 200
        tree.links.new(outputs()["Depth"], holder.inputs[0])
        layer.use_pass_z = was_on
        by_name = outputs()
    return by_name["Depth"] if "Depth" in by_name else by_name["Z"]


def activate_group(scene: bpy.types.Scene, group: bpy.types.NodeTree, layer: str) -> dict:
    """Make ``group`` composite ``scene``; return what is needed to undo it (JSON-safe).

    :param scene: Scene to composite.
    :param group: Our compositor node group (its output socket ``Image``).
    :param layer: The view layer whose render feeds the group (4.x; in 5.x the group's own Render Layers node reads
        it).
    """
    if uses_compositor_groups():
        previous = scene.compositing_node_group
        scene.compositing_node_group = group
        return {"group": None if previous is None else previous.name}
    state = {"use_nodes": bool(scene.use_nodes), "muted": [], "fed_by": {}}
    scene.use_nodes = True
    tree = scene.node_tree
    state["nodes"] = [n.name for n in tree.nodes]  # the user's (5.x's upgrade adds nodes; :func:`migrate_4x_state`)
    state["active"] = getattr(tree.nodes.active, "name", None)  # the node the user was editing
    for node in tree.nodes:
        if node.bl_idname == "CompositorNodeComposite" and not node.mute and not is_tagged_node(node):
            node.mute = True
            state["muted"].append(node.name)
            links = node.inputs["Image"].links  # what feeds it: a file opened in 5.x has no Composite node
            if links:  # (Blender makes ours a Group Output there, drops the muted one), so it is linked again
                state["fed_by"][node.name] = [links[0].from_node.name, links[0].from_socket.identifier]
                state["output_at"] = list(node.location)
    layers = tree.nodes.new("CompositorNodeRLayers")
    layers.scene, layers.layer = scene, layer
    runner = tree.nodes.new("CompositorNodeGroup")
    runner.node_tree = group
    output = tree.nodes.new("CompositorNodeComposite")
    for node in (layers, runner, output):
        tag_node(node)
        node.label = "Depth AI"
    layers.location, runner.location, output.location = (-300, -400), (0, -400), (300, -400)
    scene.view_layers[layers.layer].use_pass_z = True  # the Depth socket exists only with the pass
    tree.links.new(layers.outputs["Image"], runner.inputs["Image"])
    tree.links.new(depth_output(layers), runner.inputs["Depth"])
    tree.links.new(runner.outputs["Image"], output.inputs["Image"])
    tree.nodes.active = output
    return state


def migrate_4x_state(scene: bpy.types.Scene, state: dict) -> tuple[dict, bpy.types.NodeTree | None]:
    """A file our compositor was set up in by 4.x, opened in 5.x: Blender made the scene's node tree a compositor
    group with our nodes in it, ours output through its Group Output and the user's muted Composite gone. Take our
    nodes out, give the user's chain its output back, and return the state as 5.x keeps it with the user's tree
    (None when the scene did not use the compositor).

    :param scene: The scene (5.x).
    :param state: The 4.x state (``use_nodes``, ``muted``, ``fed_by``).
    :return: ``(5.x state, the user's compositor to give back)``.
    """
    tree = scene.compositing_node_group
    kept = {k: v for k, v in state.items() if k not in ("use_nodes", "muted", "fed_by", "nodes",
                                                         "active", "output_at")}
    if tree is None or TAG_NODE in tree:
        return kept | {"group": None}, None
    for node in [n for n in tree.nodes if is_tagged_node(n)]:
        tree.nodes.remove(node)
    output = next((n for n in tree.nodes if n.bl_idname == "NodeGroupOutput"), None)
    sources = [tuple(v) for v in state.get("fed_by", {}).values()]
    if not sources:  # saved before this was recorded: the user's one image output that feeds nothing
        sinks = [n for n in tree.nodes if n.bl_idname != "NodeGroupOutput" and "Image" in n.outputs
                 and not any(s.links for s in n.outputs)]
        sources = [(sinks[0].name, sinks[0].outputs["Image"].identifier)] if len(sinks) == 1 else []
    if output is not None and sources and sources[0][0] in tree.nodes and output.inputs and not output.inputs[0].links:
        source = next((s for s in tree.nodes[sources[0][0]].outputs if s.identifier == sources[0][1]), None)
        if source is not None:
            tree.links.new(_past_upgrade_nodes(source, state.get("nodes")), output.inputs[0])
            output.location = state.get("output_at", output.location)
    tree.nodes.active = tree.nodes.get(state.get("active") or "")
    if not state.get("use_nodes", False):
        return kept | {"group": None}, None
    return kept | {"group": tree.name}, tree


def _past_upgrade_nodes(socket: bpy.types.NodeSocket, user_nodes: list[str] | None) -> bpy.types.NodeSocket:
    """``socket``, or the output of the node(s) 5.x's upgrade put after it: the upgrade passes a node's whole output
    through nodes of its own (a Lift/Gamma/Gain Color Balance gets a Gamma node that takes all its links), and the
    user's output must read what the user's other nodes read.

    :param socket: The output that fed the user's Composite in 4.x.
    :param user_nodes: Names of the user's nodes in 4.x (None in files saved before they were recorded: a Gamma
        node placed exactly on the node it follows, as the upgrade places its own, is then taken as the upgrade's).
    """
    def added(node: bpy.types.Node, after: bpy.types.Node) -> bool:
        if user_nodes is not None:
            return node.name not in user_nodes
        return node.bl_idname == "ShaderNodeGamma" and tuple(node.location) == tuple(after.location)

    for _ in range(8):
        targets = {link.to_node for link in socket.links}
        if len(targets) != 1 or not added(node := targets.pop(), socket.node) or not node.outputs:
            break
        socket = node.outputs[0]
    return socket


def reselect_group(scene: bpy.types.Scene, group: bpy.types.NodeTree) -> None:
    """Point an already activated scene at ``group`` again (5.0: the user may have picked another group;
    4.x: the group node wired by :func:`activate_group` stays in place and runs ``group``; a scene copied with
    its compositor ran the original scene's).

    :param scene: The scene.
    :param group: Our group.
    """
    if uses_compositor_groups():
        scene.compositing_node_group = group
    elif scene.node_tree is not None:
        for node in scene.node_tree.nodes:
            if is_tagged_node(node) and node.bl_idname == "CompositorNodeGroup" and node.node_tree != group:
                node.node_tree = group


def deactivate_group(scene: bpy.types.Scene, group: bpy.types.NodeTree | None, state: dict,
                     previous: bpy.types.NodeTree | None) -> None:
    """Undo :func:`activate_group` with the state it returned.

    :param scene: The scene.
    :param group: Our group; None when the user deleted it (5.x: the scene then composites through nothing, and
        gets ``previous`` back).
    :param state: What :func:`activate_group` returned.
    :param previous: The tree that composited before (5.0: the user's group or None).
    """
    if uses_compositor_groups():
        if scene.compositing_node_group == group:
            scene.compositing_node_group = previous
        return
    tree = scene.node_tree
    if tree is not None:
        for node in [n for n in tree.nodes if is_tagged_node(n)]:
            tree.nodes.remove(node)
        for name in state.get("muted", []):
            if name in tree.nodes:
                tree.nodes[name].mute = False
        tree.nodes.active = tree.nodes.get(state.get("active") or "")
    scene.use_nodes = bool(state.get("use_nodes", False))
