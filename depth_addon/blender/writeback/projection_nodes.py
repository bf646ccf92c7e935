# SPDX-License-Identifier: GPL-3.0-or-later
"""The projection material's nodes: projector space → image UV, the frame and occlusion tests, and the shader
(the image as emission, or a Principled BSDF fed by projected material maps), mixed over the original surface."""

from __future__ import annotations

import json

import bpy

from .. import compat

MATERIAL_SUFFIX = " [Depth]"
NODE_PREFIX = "Depth Projection"
KEY_SOURCE = "depth_addon_source"  # on a projection material: JSON [name, library path] or null


def library_of(idb) -> str | None:
    """The library path of a datablock, or None when it is local.

    :param idb: Any ID.
    """
    return idb.library.filepath if idb.library is not None else None


def math_node(tree, op: str, a, b=None, loc=(0, 0)):
    node = tree.nodes.new("ShaderNodeMath")
    node.operation = op
    node.name = node.label = f"{NODE_PREFIX} {op.title()}"
    node.location = loc
    for sock, val in ((node.inputs[0], a), (node.inputs[1], b)):
        if isinstance(val, bpy.types.NodeSocket):
            tree.links.new(val, sock)
        elif val is not None:
            sock.default_value = float(val)
    return node.outputs[0]


def add_projection_nodes(tree, projector, image, depth_image, tolerance: float, interpolation: str,
                         maps: dict | None = None, unit: float = 1.0):
    """Add the projector maths to ``tree``; return ``(factor socket, shader socket)``: the image as emission
    (lit, as generated), or with ``maps`` a Principled BSDF fed by the projected maps (relightable)."""
    nodes, link = tree.nodes, tree.links.new
    frame_box = nodes.new("NodeFrame")
    frame_box.name = frame_box.label = NODE_PREFIX

    def node(idname: str, label: str, x: float, y: float):
        n = nodes.new(idname)
        n.name = n.label = f"{NODE_PREFIX} {label}"
        n.location = (x, y)
        return n

    left, right, bottom, top = (float(v) for v in projector["frame"])
    ortho = bool(projector["ortho"])
    coord = node("ShaderNodeTexCoord", "Coordinates", -1800, 0)
    coord.object = projector
    sep = node("ShaderNodeSeparateXYZ", "Split", -1600, 0)
    link(coord.outputs["Object"], sep.inputs[0])
    zneg = math_node(tree, "MULTIPLY", sep.outputs["Z"], -1.0, (-1400, -250))
    xs, ys = sep.outputs["X"], sep.outputs["Y"]
    if not ortho:
        xs = math_node(tree, "DIVIDE", xs, zneg, (-1400, 100))
        ys = math_node(tree, "DIVIDE", ys, zneg, (-1400, -50))
    u = math_node(tree, "MULTIPLY_ADD", xs, 1.0 / (right - left), (-1200, 100))
    u.node.inputs[2].default_value = -left / (right - left)
    v = math_node(tree, "MULTIPLY_ADD", ys, 1.0 / (top - bottom), (-1200, -50))
    v.node.inputs[2].default_value = -bottom / (top - bottom)
    uv = node("ShaderNodeCombineXYZ", "UV", -1000, 0)
    link(u, uv.inputs["X"])
    link(v, uv.inputs["Y"])

    tex = node("ShaderNodeTexImage", "Image", -800, 250)
    tex.image, tex.extension, tex.interpolation = image, "CLIP", interpolation
    link(uv.outputs[0], tex.inputs["Vector"])
    emit = node("ShaderNodeEmission", "Emission", -500, 250)
    link(tex.outputs["Color"], emit.inputs["Color"])
    shader = emit.outputs[0] if not maps else _pbr(node, link, uv.outputs[0], maps, interpolation, unit)

    # inside the frame: max(|u - 0.5|, |v - 0.5|) < 0.5; in front: -Z > 0
    du = math_node(tree, "ABSOLUTE", math_node(tree, "SUBTRACT", u, 0.5, (-1000, -200)), None, (-850, -200))
    dv = math_node(tree, "ABSOLUTE", math_node(tree, "SUBTRACT", v, 0.5, (-1000, -350)), None, (-850, -350))
    inside = math_node(tree, "LESS_THAN", math_node(tree, "MAXIMUM", du, dv, (-700, -250)), 0.5, (-550, -250))
    front = math_node(tree, "GREATER_THAN", zneg, 0.0, (-550, -400))
    factor = math_node(tree, "MULTIPLY", inside, front, (-350, -300))
    if depth_image is not None:
        dtex = node("ShaderNodeTexImage", "Depth", -800, -550)
        dtex.image, dtex.extension, dtex.interpolation = depth_image, "CLIP", "Closest"
        link(uv.outputs[0], dtex.inputs["Vector"])
        split = node("ShaderNodeSeparateColor", "Depth Value", -550, -550)
        link(dtex.outputs["Color"], split.inputs[0])
        limit = math_node(tree, "MULTIPLY", split.outputs["Red"], 1.0 + float(tolerance), (-400, -550))
        visible = math_node(tree, "LESS_THAN", zneg, limit, (-250, -550))
        factor = math_node(tree, "MULTIPLY", factor, visible, (-150, -350))
    for n in nodes:
        if n.name.startswith(NODE_PREFIX) and n != frame_box and n.parent is None:
            n.parent = frame_box
    return factor, shader


def _pbr(node, link, vector, maps: dict, interpolation: str, unit: float = 1.0):
    """A Principled BSDF fed by projected maps (height through a Bump node); returns its shader socket.

    ``unit`` is metres per scene unit: the height map is in metres, the bump's distance in scene units.
    """
    bsdf = node("ShaderNodeBsdfPrincipled", "Relightable", -500, 800)
    for i, (name, socket) in enumerate((("albedo", "Base Color"), ("roughness", "Roughness"),
                                        ("metallic", "Metallic"), ("height", None))):
        if name not in maps:
            continue
        tex = node("ShaderNodeTexImage", name.title(), -800, 1400 - 220 * i)
        tex.image, tex.extension, tex.interpolation = maps[name], "CLIP", interpolation
        link(vector, tex.inputs["Vector"])
        if socket is not None:
            link(tex.outputs["Color"], bsdf.inputs[socket])
        else:
            bump = node("ShaderNodeBump", "Relief", -650, 500)
            bump.inputs["Distance"].default_value = 1.0 / unit  # the height map is in metres
            link(tex.outputs["Color"], bump.inputs["Height"])
            link(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return bsdf.outputs[0]


def build_material(source, projector, image, depth_image, tolerance: float, interpolation: str,
                   maps: dict | None = None, unit: float = 1.0):
    """A new material: ``source`` (or plain grey) with the projection mixed over its surface (``unit``: metres per
    scene unit, for the height map)."""
    if source is None:
        mat = bpy.data.materials.new(f"{NODE_PREFIX}{MATERIAL_SUFFIX}")
        mat.diffuse_color = (0.8, 0.8, 0.8, 1.0)
    else:
        mat = source.copy()
        mat.name = f"{source.name}{MATERIAL_SUFFIX}"
        mat.use_fake_user = False
    tree = compat.ensure_node_tree(mat)
    outputs = {tree.get_output_node(t) for t in ("ALL", "CYCLES", "EEVEE")} - {None}
    if not outputs:
        out = tree.nodes.new("ShaderNodeOutputMaterial")
        out.location = (300, 0)
        outputs = {out}
    factor, emission = add_projection_nodes(tree, projector, image, depth_image, tolerance, interpolation, maps,
                                            unit)
    for out in outputs:
        surface = out.inputs["Surface"]
        original = surface.links[0].from_socket if surface.is_linked else None
        mix = tree.nodes.new("ShaderNodeMixShader")
        mix.name = mix.label = f"{NODE_PREFIX} Mix"
        mix.location = (out.location.x - 200, out.location.y + 150)
        tree.links.new(factor, mix.inputs[0])
        if original is not None:
            tree.links.new(original, mix.inputs[1])
        tree.links.new(emission, mix.inputs[2])
        tree.links.new(mix.outputs[0], surface)
    mat[KEY_SOURCE] = json.dumps(None if source is None else [source.name, library_of(source)])
    return mat
