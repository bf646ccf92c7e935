# SPDX-License-Identifier: GPL-3.0-or-later
"""Differences between Blender versions outside the compositor: engines, image formats, pass names, node trees of
new materials, property flags and how long Python callbacks are kept (see the package docstring)."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable

import bpy

TAG_NODE = "depth_addon_node"  # marks nodes this add-on put into a user's tree (4.x), or into its own group


def tag_node(node: bpy.types.Node) -> None:
    """Mark ``node`` as ours: :data:`TAG_NODE` records the node's own name.

    The node editor's Duplicate and copy-paste copy custom properties, so a copy the user makes of our node carries
    the tag too; its name differs (names are unique in a tree), which tells it from ours (:func:`is_tagged_node`).

    :param node: A node this add-on added.
    """
    node[TAG_NODE] = node.name


def is_tagged_node(node: bpy.types.Node) -> bool:
    """True for a node :func:`tag_node` marked, not for a user's copy of one.

    A tag that is not a name (``True``, saved by earlier versions) cannot tell a copy apart and counts as ours.

    :param node: Any node.
    """
    tag = node.get(TAG_NODE)
    return tag is not None and (not isinstance(tag, str) or tag == node.name)


def uses_compositor_groups() -> bool:
    """True when scenes composite through an assignable node group (Blender 5.0 and later)."""
    return "compositing_node_group" in bpy.types.Scene.bl_rna.properties


def detached_callback(module: str, name: str, arguments: int = 2) -> Callable:
    """A callback for Blender to keep (property ``update``, ``bpy.app.timers``) that calls ``module.name``.

    The target is looked up when the callback runs; the callback's globals hold only ``sys`` and the name.
    bpy 4.2 keeps property callbacks until the ``bpy`` module object is freed (even after their class
    is unregistered), and a timer stays referenced after a file load even though it is no longer
    registered (background mode never runs timers, which is when Blender frees them). A plain
    function holds its module's globals, which hold ``bpy``: the module is never freed, bpy's exit
    code never runs and the process crashes (4.2) or hangs (4.5) at exit.

    :param module: Module name (``__name__`` of the caller).
    :param name: Function in that module.
    :param arguments: 2 for ``fn(self, context)`` (property callbacks: Blender checks the count), 0 for
        ``fn()`` (timers).
    """
    def call2(self, context):
        return getattr(sys.modules[module], name)(self, context)

    def call0():
        return getattr(sys.modules[module], name)()

    code = {2: call2, 0: call0}[arguments]
    fn = types.FunctionType(code.__code__, {"sys": sys, "__name__": module}, name, None, code.__closure__)
    fn.__qualname__ = f"detached_callback.{name}"
    return fn


def eevee_engine() -> str:
    """EEVEE's ``render.engine`` identifier: ``BLENDER_EEVEE_NEXT`` in 4.2–4.5, ``BLENDER_EEVEE`` in 5.0."""
    items = {i.identifier for i in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


def path_property_options() -> set[str]:
    """``options`` for a file-path ``StringProperty`` that accepts ``//`` (blend-relative) paths.

    4.5 added ``PATH_SUPPORTS_BLEND_RELATIVE`` and warns about ``//`` paths without it; 4.2 lacks the flag.
    """
    supported = "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties
    return {"PATH_SUPPORTS_BLEND_RELATIVE"} if supported else set()


def ensure_node_tree(material: bpy.types.Material | bpy.types.World) -> bpy.types.NodeTree:
    """The material's (or world's) shader node tree, switching nodes on where Blender 4.x starts without them.

    New materials and worlds in 5.0 always have a node tree (``use_nodes`` is deprecated there); in
    4.x the tree is None until ``use_nodes`` is set, and setting it adds the default Principled BSDF
    (a world: the Background node).

    :param material: Any local material or world.
    """
    if material.node_tree is None or (bpy.app.version < (5, 0, 0) and not material.use_nodes):
        material.use_nodes = True
    return material.node_tree


def set_image_format(settings, file_format: str, color_mode: str, color_depth: str) -> None:
    """Switch ``ImageFormatSettings`` to a single-layer image file format.

    Blender 5.0 adds ``media_type`` (set first: it resets the format); 4.x has only the format.

    :param settings: ``scene.render.image_settings`` or a File Output node's ``format``.
    :param file_format: e.g. ``PNG`` or ``OPEN_EXR``.
    :param color_mode: ``BW``, ``RGB`` or ``RGBA``.
    :param color_depth: ``8``, ``16`` or ``32``.
    """
    if hasattr(settings, "media_type"):
        settings.media_type = "IMAGE"
    settings.file_format = file_format
    settings.color_mode = color_mode
    settings.color_depth = color_depth


def set_multilayer_exr(settings) -> None:
    """Switch ``ImageFormatSettings`` to an uncompressed 32-bit multilayer EXR (every pass in one file).

    Blender 5.0 reaches ``OPEN_EXR_MULTILAYER`` only under ``media_type='MULTI_LAYER_IMAGE'`` (set
    first; under ``IMAGE`` the format raises TypeError); 4.x has only the format. 5.0 writes one
    part per pass unless ``use_exr_interleave`` is on, and fails to write those parts when the
    pixel aspect is not 1 ("conflicting attributes … pixelAspectRatio"), so interleaved storage is
    switched on: every version writes one part with every channel, the Z pass as ``<layer>.Depth.Z``.

    :param settings: ``scene.render.image_settings``.
    """
    if hasattr(settings, "media_type"):
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    settings.exr_codec = "NONE"
    if hasattr(settings, "use_exr_interleave"):
        settings.use_exr_interleave = True


def render_pass_name(name: str) -> str:
    """The name a render pass has in this Blender's EXR files and Render Layers sockets.

    5.0 renamed ``IndexOB``/``IndexMA`` to ``Object Index``/``Material Index`` (no RNA says which,
    so this one goes by version).

    :param name: The 5.0 name, e.g. ``Material Index``.
    """
    if bpy.app.version >= (5, 0, 0):
        return name
    return {"Object Index": "IndexOB", "Material Index": "IndexMA"}.get(name, name)


def set_true_displacement(material: bpy.types.Material, subdivision: bpy.types.Modifier | None = None) -> bool:
    """Let ``material``'s Displacement output move the surface ("Displacement and Bump"), and dice finely.

    The method lives in ``material.cycles.displacement_method`` in 4.2 and in
    ``material.displacement_method`` from 4.5 on. Adaptive subdivision is an option of the Subdivision
    modifier from 5.0 on (``use_adaptive_subdivision``, diced to about one pixel); in 4.x it needs
    Cycles' experimental feature set, which is left alone, so there the modifier's render levels apply.

    :param material: The displacing material.
    :param subdivision: The object's Subdivision modifier (the last in its stack), or None.
    :return: True when adaptive subdivision was switched on.
    """
    set_displacement_method(material, "BOTH")
    if subdivision is None or "use_adaptive_subdivision" not in subdivision.bl_rna.properties:
        return False
    subdivision.use_adaptive_subdivision = True
    subdivision.adaptive_space = "PIXEL"
    subdivision.adaptive_pixel_size = 1.0
    return True


def set_displacement_method(material: bpy.types.Material, method: str) -> None:
    """Set how ``material``'s Displacement output is used: ``BUMP``, ``DISPLACEMENT`` or ``BOTH``.

    :param material: The material.
    :param method: The method (``material.cycles.displacement_method`` in 4.2, ``material.displacement_method``
        from 4.5 on).
    """
    if "displacement_method" in material.bl_rna.properties:
        material.displacement_method = method
    else:
        material.cycles.displacement_method = method


def node_inputs_notify() -> bool:
    """Whether setting a geometry-nodes modifier's input from a script sends a depsgraph update (from 5.3; up to 5.1
    the inputs are ID properties, whose writes send none, and 5.2's RNA inputs send none either)."""
    return bpy.app.version >= (5, 3, 0)


def node_modifier_inputs(modifier: bpy.types.Modifier) -> tuple:
    """``(identifier, value)`` of every input of a geometry-nodes modifier, for change detection.

    Up to 5.1 the inputs are ID properties on the modifier (``modifier[identifier]``); from 5.2 they are
    RNA structs under ``modifier.properties.inputs`` with ``value``, ``type`` and ``attribute_name`` (a geometry
    input has none of them).

    :param modifier: A ``NODES`` modifier.
    """
    holder = getattr(getattr(modifier, "properties", None), "inputs", None)
    if holder is None:
        return tuple(modifier.items())
    out = []
    for prop in holder.bl_rna.properties:
        if prop.identifier in ("rna_type", "name"):
            continue
        item = getattr(holder, prop.identifier)
        out.append((prop.identifier, *(getattr(item, k, None) for k in ("value", "type", "attribute_name"))))
    return tuple(out)


def set_node_modifier_input(modifier: bpy.types.Modifier, identifier: str, value: object) -> None:
    """Set one input of a geometry-nodes modifier (ID property up to 5.1, ``properties.inputs`` from 5.2).

    :param modifier: A ``NODES`` modifier.
    :param identifier: The interface socket's identifier (``Socket_1`` ...).
    :param value: The new value.
    """
    holder = getattr(getattr(modifier, "properties", None), "inputs", None)
    if holder is None:
        modifier[identifier] = value
    else:
        getattr(holder, identifier).value = value


def geometry_node_errors(modifier: bpy.types.Modifier) -> list[str]:
    """Error messages a geometry-nodes modifier reported on its last evaluation (``node_warnings``, 4.3+; 4.2
    reports none to Python, so nothing is found there).

    :param modifier: A ``NODES`` modifier.
    """
    return [w.message for w in getattr(modifier, "node_warnings", ()) if w.type == "ERROR"]
