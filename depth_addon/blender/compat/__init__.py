# SPDX-License-Identifier: GPL-3.0-or-later
"""Differences between Blender versions, each behind one small function.

Supported and tested: 4.2 LTS, 4.5 LTS, 5.0, 5.1, 5.2 LTS and 5.3 (``make test BLENDER=4.2|4.5|5.0|5.1|5.2|5.3``).

Blender 5.0 renders through a compositor *node group* assigned to ``scene.compositing_node_group``
with a Group Output node, and compositor trees use the shared ``ShaderNodeMix`` and
``ShaderNodeMath`` nodes. Blender 4.x keeps one tree embedded in the scene (``scene.node_tree``,
switched on with ``scene.use_nodes``), writes through a Composite node and has the compositor-only
``CompositorNodeMixRGB`` and ``CompositorNodeMath`` nodes. Since the embedded tree cannot be
swapped, 4.x activation adds tagged nodes to it (Render Layers, a group node running our group and
a Composite node), mutes the user's Composite nodes, and deactivation undoes exactly that.

Smaller differences: image formats (5.0's ``media_type``, multilayer EXR), render pass names (``IndexOB`` →
``Object Index``), the EEVEE engine identifier, new materials and worlds without a node tree (4.x), the
``PATH_SUPPORTS_BLEND_RELATIVE`` property flag (4.5+), and how long 4.x keeps Python callbacks
(:func:`detached_callback`); :mod:`.modifiers` reads the modifier errors Python does not expose. Features are detected
where Blender exposes them, and nothing outside this package checks the version: :mod:`.base` holds the general
differences, :mod:`.compositor` the compositor's.
"""

from .base import (
    TAG_NODE,
    detached_callback,
    eevee_engine,
    ensure_node_tree,
    geometry_node_errors,
    node_inputs_notify,
    node_modifier_inputs,
    path_property_options,
    render_pass_name,
    set_displacement_method,
    set_image_format,
    set_multilayer_exr,
    set_node_modifier_input,
    set_true_displacement,
    uses_compositor_groups,
)
from .compositor import (
    DEPTH_HOLDER,
    activate_group,
    color_mix_sockets,
    compositor_output,
    deactivate_group,
    depth_output,
    ensure_scene_compositor,
    fit_scale_to_crop,
    group_image_output,
    is_group_active,
    migrate_4x_state,
    new_color_mix,
    new_compositor_group,
    new_math,
    new_render_source,
    new_replace_alpha,
    new_scale_to_render,
    render_source_sockets,
    reselect_group,
    scene_compositor,
)
from .modifiers import modifier_error

__all__ = [
    "DEPTH_HOLDER",
    "TAG_NODE",
    "activate_group",
    "color_mix_sockets",
    "compositor_output",
    "deactivate_group",
    "depth_output",
    "detached_callback",
    "eevee_engine",
    "ensure_node_tree",
    "geometry_node_errors",
    "modifier_error",
    "node_inputs_notify",
    "node_modifier_inputs",
    "set_node_modifier_input",
    "ensure_scene_compositor",
    "fit_scale_to_crop",
    "group_image_output",
    "is_group_active",
    "new_color_mix",
    "new_compositor_group",
    "new_math",
    "new_render_source",
    "new_replace_alpha",
    "new_scale_to_render",
    "path_property_options",
    "render_pass_name",
    "render_source_sockets",
    "migrate_4x_state",
    "reselect_group",
    "scene_compositor",
    "set_image_format",
    "set_multilayer_exr",
    "set_displacement_method",
    "set_true_displacement",
    "uses_compositor_groups",
]
