# SPDX-License-Identifier: GPL-3.0-or-later
"""Images and materials of a depth import: the depth image, the colour material, displacement set-ups."""

from __future__ import annotations

import bpy
import numpy as np

from .. import compat
from ..images import FAR_DEPTH, KEY_OWNED


def new_image(name: str, rgb: np.ndarray, float_buffer: bool, colorspace: str) -> bpy.types.Image:
    """A new generated image (never reusing one) holding H×W×3 ``rgb`` (row 0 = top), alpha 1."""
    h, w = rgb.shape[:2]
    image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=float_buffer)
    image[KEY_OWNED] = True
    image.colorspace_settings.name = colorspace
    rgba = np.empty((h, w, 4), np.float32)
    rgba[..., :3] = rgb[::-1]
    rgba[..., 3] = 1.0
    image.pixels.foreach_set(memoryview(rgba.reshape(-1)))  # marks the display buffer stale: no update() needed
    return image


def depth_pixels(depth: np.ndarray) -> np.ndarray:
    """Bottom-up RGBA float32 pixels of a depth image: R = G = B = depth (``FAR_DEPTH`` where invalid), A = 1.

    The Displace modifier reads the intensity (mean of RGB), a Displacement node the grey value;
    alpha stays 1 so nothing is clamped.

    :param depth: H×W metres (row 0 = top); NaN, inf and non-positive values are invalid.
    """
    d = np.asarray(depth, np.float32)[::-1]
    h, w = d.shape
    rgba = np.empty((h, w, 4), np.float32)
    for k in range(3):  # column writes beat a broadcast or np.repeat
        rgba[..., k] = d
    rgba[..., 3] = 1.0
    lo, hi = float(d.min()), float(d.max())  # NaN propagates: finite positive bounds mean all are valid
    if not 0 < lo <= hi < np.inf:
        with np.errstate(invalid="ignore"):
            bad = ~(d > 0) | ~(d < np.inf)
        rgba[bad, :3] = FAR_DEPTH
    return rgba


def depth_image(name: str, depth: np.ndarray, pixels: np.ndarray | None = None) -> bpy.types.Image:
    """Float, Non-Color image of planar depth in metres; invalid pixels hold ``FAR_DEPTH``.

    :param name: Image name (Blender makes it unique).
    :param depth: H×W metres, row 0 = top.
    :param pixels: ``depth_pixels(depth)`` when already computed.
    """
    h, w = np.shape(depth)
    image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True, is_data=True)  # Non-Color
    image[KEY_OWNED] = True
    image.use_fake_user = True  # kept in the .blend even where nothing uses it (reconstruct mode)
    image.pixels.foreach_set(memoryview((depth_pixels(depth) if pixels is None else pixels).reshape(-1)))
    return image


def color_material(name: str, image: bpy.types.Image, shading: str = "PRINCIPLED") -> bpy.types.Material:
    """Material showing ``image`` through the ``UVMap`` UV map (Principled base colour or shadeless Emission)."""
    mat = bpy.data.materials.new(name)
    mat[KEY_OWNED] = True
    tree = compat.ensure_node_tree(mat)  # 4.x: a new material has no node tree yet
    nodes, links = tree.nodes, tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    uv = nodes.new("ShaderNodeUVMap")
    uv.uv_map = "UVMap"
    tex = nodes.new("ShaderNodeTexImage")
    tex.image, tex.extension, tex.interpolation = image, "EXTEND", "Linear"
    links.new(uv.outputs["UV"], tex.inputs["Vector"])
    if shading == "EMISSION":
        shader = nodes.new("ShaderNodeEmission")
        links.new(tex.outputs["Color"], shader.inputs["Color"])
    else:
        shader = nodes.new("ShaderNodeBsdfPrincipled")
        links.new(tex.outputs["Color"], shader.inputs["Base Color"])
    links.new(shader.outputs[0], out.inputs["Surface"])
    uv.location, tex.location, shader.location, out.location = (-700, 0), (-450, 0), (-100, 0), (250, 0)
    return mat


def displace_modifier(ob: bpy.types.Object, name: str, image: bpy.types.Image,
                      crop: tuple[float, float] = (1.0, 0.0)) -> bpy.types.Texture:
    """A Displace modifier on ``ob`` moving each vertex to local z = -depth, read at its UV from ``image``.

    :param crop: ``(right, bottom)`` of the image at UV ``(1, 0)`` (``PreparedImport.depth_crop``).
    """
    tex = bpy.data.textures.new(name, "IMAGE")
    tex[KEY_OWNED] = True
    tex.image, tex.extension = image, "EXTEND"
    tex.crop_max_x, tex.crop_min_y = crop  # UVs that span more than the image (a downsampling's cropped remainder)
    tex.use_interpolation = False  # exact texel values at the pixel-centre UVs
    mod = ob.modifiers.new("Depth Displace", "DISPLACE")
    mod.texture, mod.texture_coords, mod.uv_layer = tex, "UV", "UVMap"
    mod.direction, mod.space, mod.mid_level, mod.strength = "Z", "LOCAL", 0.0, -1.0  # local z = -depth
    return tex


def displacement_material(name: str, image: bpy.types.Image, material: bpy.types.Material | None = None,
                          crop: tuple[float, float] = (1.0, 0.0)) -> bpy.types.Material:
    """Add depth displacement to ``material`` (or to a new one with a Principled surface): local z = -depth.

    ``UVMap`` → Image Texture (the depth image, linear, extended) → Displacement (height = depth,
    midlevel 0, scale -1, object space: the plane faces +Z) → the output's Displacement socket.

    :param name: Name of a new material.
    :param image: The depth image (:func:`depth_image`).
    :param material: Material to extend (the colour material), or None for a new one.
    :param crop: ``(right, bottom)`` of the image at UV ``(1, 0)`` (``PreparedImport.depth_crop``).
    """
    mat = material
    if mat is None:
        mat = bpy.data.materials.new(name)
        mat[KEY_OWNED] = True
    nodes, links = compat.ensure_node_tree(mat).nodes, mat.node_tree.links
    out = next((n for n in nodes if n.bl_idname == "ShaderNodeOutputMaterial"), None)
    if out is None:
        out = nodes.new("ShaderNodeOutputMaterial")
        links.new(nodes.new("ShaderNodeBsdfPrincipled").outputs[0], out.inputs["Surface"])
    uv = nodes.new("ShaderNodeUVMap")
    uv.uv_map = "UVMap"
    tex = nodes.new("ShaderNodeTexImage")
    tex.name = tex.label = "Depth"
    tex.image, tex.extension, tex.interpolation = image, "EXTEND", "Linear"
    disp = nodes.new("ShaderNodeDisplacement")
    disp.space = "OBJECT"
    disp.inputs["Midlevel"].default_value, disp.inputs["Scale"].default_value = 0.0, -1.0
    mapping = nodes.new("ShaderNodeMapping")  # UVs that span more than the image: its cropped remainder
    mapping.inputs["Scale"].default_value = (crop[0], 1.0 - crop[1], 1.0)
    mapping.inputs["Location"].default_value = (0.0, crop[1], 0.0)
    links.new(uv.outputs["UV"], mapping.inputs["Vector"])
    links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
    links.new(tex.outputs["Color"], disp.inputs["Height"])  # grey (R = G = B): the depth itself
    links.new(disp.outputs["Displacement"], out.inputs["Displacement"])
    x, y = out.location
    uv.location, tex.location, disp.location = (x - 950, y - 400), (x - 700, y - 400), (x - 250, y - 400)
    return mat


def subdivide_for_displacement(ob: bpy.types.Object, step: int, material: bpy.types.Material) -> bpy.types.Modifier:
    """Simple Subdivision for material displacement: adaptive where Blender has it, else ``log2(step)`` levels."""
    levels = step.bit_length() - 1
    mod = ob.modifiers.new("Depth Subdivision", "SUBSURF")
    mod.subdivision_type, mod.uv_smooth = "SIMPLE", "NONE"  # flat faces, linear UVs
    mod.render_levels, mod.levels = levels, max(0, levels - 2)
    compat.set_true_displacement(material, mod)
    return mod


def stage_display(values: np.ndarray) -> np.ndarray:
    """A [0, 1] preview of a stage: normalised inverse depth (near = bright), 0 where invalid."""
    ok = np.isfinite(values) & (values > 0)
    out = np.zeros(values.shape, np.float32)
    if ok.any():
        inv = 1.0 / values[ok]
        lo, hi = float(inv.min()), float(inv.max())
        out[ok] = (inv - lo) / (hi - lo) if hi > lo else 1.0
    return out
