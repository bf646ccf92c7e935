# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth map → Blender: a reconstructed (or displaced) mesh, its camera, images and material.

Everything that can fail on user input happens first, in :func:`~depth_addon.depth_import.prepare`
(no bpy). Only then are datablocks created, all inside one new collection; should Blender itself
fail half-way, every datablock made so far is removed again, so an import either completes or
leaves the file as it was.

Meshes are written through the attribute API (positions, ``.edge_verts``, ``.corner_vert``,
``.corner_edge``) with edges computed analytically, which avoids Blender's edge hashing; numpy
buffers are passed as ``memoryview`` (about twice as fast through ``foreach_set`` as the array).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Matrix

from ..depth_import import ImportOptions, PreparedImport, prepare
from ..depth_import.grid import GridMesh
from ..errors import BadInput
from .images import FAR_DEPTH, KEY_OWNED

SHADING = ("PRINCIPLED", "EMISSION")
#: Camera pose of an import: at the origin, looking along +Y with +Z up.
CAMERA_POSE = Matrix.Rotation(math.pi / 2.0, 4, "X")


@dataclass
class DepthImport:
    """What an import created.

    :param collection: The new collection holding the objects.
    :param object: The mesh object (reconstruction or displaced plane).
    :param camera: The camera object that sees the mesh as the image.
    :param depth_image: Float image of the depth in metres (invalid pixels: ``FAR_DEPTH``).
    :param color_image: The colour image, or None.
    :param material: The colour material, or None.
    :param texture: The displacement texture (``displace`` mode), or None.
    :param prepared: The prepared arrays and provenance.
    :param warnings: Messages for the user.
    :param timings: Seconds per phase, Blender phases included.
    """

    collection: bpy.types.Collection
    object: bpy.types.Object
    camera: bpy.types.Object
    depth_image: bpy.types.Image
    color_image: bpy.types.Image | None
    material: bpy.types.Material | None
    texture: bpy.types.Texture | None
    prepared: PreparedImport
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def mesh_from_grid(name: str, grid: GridMesh) -> bpy.types.Mesh:
    """A mesh with the grid's vertices, edges, quads and the ``UVMap`` UV map (attribute API).

    :param name: Mesh name (Blender makes it unique).
    :param grid: Arrays from :func:`~depth_addon.depth_import.grid.build_grid`.
    """
    me = bpy.data.meshes.new(name)
    try:
        faces = grid.face_count
        me.vertices.add(len(grid.vertices))
        me.attributes["position"].data.foreach_set("vector", memoryview(grid.vertices.reshape(-1)))
        me.edges.add(len(grid.edges))
        me.attributes[".edge_verts"].data.foreach_set("value", memoryview(grid.edges.reshape(-1)))
        me.loops.add(4 * faces)
        me.attributes[".corner_vert"].data.foreach_set("value", memoryview(grid.corner_verts))
        me.attributes[".corner_edge"].data.foreach_set("value", memoryview(grid.corner_edges))
        me.polygons.add(faces)
        me.polygons.foreach_set("loop_start", memoryview(np.arange(0, 4 * faces, 4, dtype=np.int32)))
        uv = me.attributes.new("UVMap", "FLOAT2", "CORNER")
        uv.data.foreach_set("vector", memoryview(grid.uvs.reshape(-1)))
        me.uv_layers.active = me.uv_layers["UVMap"]
        me.update()
    except BaseException:
        bpy.data.meshes.remove(me)
        raise
    return me


def _new_image(name: str, rgb: np.ndarray, float_buffer: bool, colorspace: str) -> bpy.types.Image:
    """A new generated image (never reusing one) holding H×W×3 ``rgb`` (row 0 = top), alpha 1."""
    h, w = rgb.shape[:2]
    image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=float_buffer)
    image[KEY_OWNED] = True
    image.colorspace_settings.name = colorspace
    rgba = np.empty((h, w, 4), np.float32)
    rgba[..., :3] = rgb[::-1]
    rgba[..., 3] = 1.0
    image.pixels.foreach_set(memoryview(rgba.reshape(-1)))
    image.update()
    return image


def depth_image(name: str, depth: np.ndarray) -> bpy.types.Image:
    """Float, Non-Color image of planar depth in metres; invalid pixels hold ``FAR_DEPTH``."""
    d = np.asarray(depth, np.float32)
    with np.errstate(invalid="ignore"):
        bad = ~(d > 0) | ~np.isfinite(d)
    if bad.any():
        d = np.where(bad, np.float32(FAR_DEPTH), d)
    h, w = d.shape
    image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True)
    image[KEY_OWNED] = True
    image.use_fake_user = True  # kept in the .blend even where nothing uses it (reconstruct mode)
    image.colorspace_settings.name = "Non-Color"
    # Displace reads the intensity (mean of RGB), so R = G = B = depth; alpha 1 so nothing is clamped
    rgba = np.repeat(d[::-1, :, None], 4, axis=2)
    rgba[..., 3] = 1.0
    image.pixels.foreach_set(memoryview(rgba.reshape(-1)))
    image.update()
    return image


def color_material(name: str, image: bpy.types.Image, shading: str = "PRINCIPLED") -> bpy.types.Material:
    """Material showing ``image`` through the ``UVMap`` UV map (Principled base colour or shadeless Emission)."""
    mat = bpy.data.materials.new(name)
    mat[KEY_OWNED] = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
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


def camera_data(name: str, prepared: PreparedImport) -> bpy.types.Camera:
    """Camera datablock whose view is exactly the depth image (perspective, or orthographic for displace)."""
    intr = prepared.intrinsics
    params = intr.blender_camera()
    cam = bpy.data.cameras.new(name)
    cam.sensor_fit, cam.sensor_width = params["sensor_fit"], params["sensor_width"]
    cam.shift_x, cam.shift_y = params["shift_x"], params["shift_y"]
    near, far = prepared.depth_range
    cam.clip_start = min(0.1, 0.5 * near)
    cam.clip_end = max(100.0, 2.0 * far)
    if prepared.mode == "displace":
        left, right, _bottom, _top = intr.frame
        cam.type, cam.ortho_scale = "ORTHO", (right - left) * prepared.displace_depth
    else:
        cam.lens = params["lens"]
    return cam


def _set_render(scene: bpy.types.Scene, prepared: PreparedImport) -> None:
    params = prepared.intrinsics.blender_camera()
    r = scene.render
    r.resolution_x, r.resolution_y = prepared.render_size
    r.resolution_percentage = 100
    r.pixel_aspect_x, r.pixel_aspect_y = params["pixel_aspect_x"], params["pixel_aspect_y"]


def _displace(ob: bpy.types.Object, name: str, image: bpy.types.Image) -> bpy.types.Texture:
    tex = bpy.data.textures.new(name, "IMAGE")
    tex[KEY_OWNED] = True
    tex.image, tex.extension = image, "EXTEND"
    tex.use_interpolation = False  # exact texel values at the pixel-centre UVs
    mod = ob.modifiers.new("Depth Displace", "DISPLACE")
    mod.texture, mod.texture_coords, mod.uv_layer = tex, "UV", "UVMap"
    mod.direction, mod.space, mod.mid_level, mod.strength = "Z", "LOCAL", 0.0, -1.0  # local z = -depth
    return tex


def build(prepared: PreparedImport, scene: bpy.types.Scene | None = None, set_scene_camera: bool = True,
          set_resolution: bool = True, shading: str = "PRINCIPLED", pack: bool = False,
          preview: bool = False) -> DepthImport:
    """Create the datablocks of a prepared import in a new collection of ``scene``.

    :param prepared: Result of :func:`~depth_addon.depth_import.prepare`.
    :param scene: Target scene; the context scene when None.
    :param set_scene_camera: Make the new camera the scene camera.
    :param set_resolution: Set the render resolution (and pixel aspect) so the camera frames the image.
    :param shading: ``PRINCIPLED`` or ``EMISSION`` (shadeless) colour material.
    :param pack: Pack the images into the .blend (slow for large images; needed to save generated ones).
    :param preview: Also store each pre-processing stage as an image (``prepare(..., keep_stages=True)``).
    """
    if shading not in SHADING:
        raise BadInput(f"unknown shading {shading!r}; use one of {', '.join(SHADING)}")
    scene = scene or bpy.context.scene
    name, timings, created = prepared.name, {}, []
    t = time.perf_counter()
    try:  # datablocks that do not need the grid first: the grid is still being built on a worker thread
        coll = bpy.data.collections.new(f"Depth {name}")
        created.append(coll)
        coll[KEY_OWNED] = True
        cam = camera_data(f"Depth {name} Camera", prepared)
        created.append(cam)
        cam_ob = bpy.data.objects.new(f"Depth {name} Camera", cam)
        created.append(cam_ob)
        d_image = depth_image(f"{name} Depth", prepared.depth)
        created.append(d_image)
        c_image = material = texture = None
        if prepared.color_path is not None:
            c_image = bpy.data.images.load(os.path.abspath(prepared.color_path), check_existing=False)
            created.append(c_image)
            c_image.name = f"{name} Colour"
        elif prepared.color is not None:
            c_image = _new_image(f"{name} Colour", prepared.color, prepared.color_linear,
                                 "Linear Rec.709" if prepared.color_linear else "sRGB")
            created.append(c_image)
        if c_image is not None:
            c_image[KEY_OWNED] = True
            material = color_material(f"Depth {name}", c_image, shading)
            created.append(material)
        for stage, values in prepared.stages.items() if preview else ():
            created.append(_new_image(f"{name} {stage}", np.repeat(_display(values)[..., None], 3, 2), False,
                                      "Non-Color"))
            created[-1].use_fake_user = True
        timings["datablocks"] = time.perf_counter() - t
        t = time.perf_counter()
        grid = prepared.grid
        timings["grid_wait"] = time.perf_counter() - t
        t = time.perf_counter()
        me = mesh_from_grid(f"Depth {name}", grid)
        created.append(me)
        ob = bpy.data.objects.new(f"Depth {name}", me)
        created.append(ob)
        cam_ob.matrix_world = ob.matrix_world = CAMERA_POSE
        if material is not None:
            me.materials.append(material)
        if prepared.mode == "displace":
            texture = _displace(ob, f"{name} Displace", d_image)
            created.append(texture)
        timings["mesh"] = time.perf_counter() - t
        t = time.perf_counter()
        if pack:
            for image in [i for i in created if isinstance(i, bpy.types.Image)]:
                if image.packed_file is None:
                    image.pack()
        info = dict(prepared.info, warnings=prepared.warnings)
        ob["depth_addon_import"] = cam_ob["depth_addon_import"] = json.dumps(info, default=str)
        scene.collection.children.link(coll)
        coll.objects.link(ob)
        coll.objects.link(cam_ob)
    except BaseException:
        bpy.data.batch_remove([i for i in created if i is not None])
        raise
    if set_resolution:
        _set_render(scene, prepared)
    if set_scene_camera:
        scene.camera = cam_ob
    timings["link"] = time.perf_counter() - t
    timings = dict(prepared.timings, **timings)
    return DepthImport(collection=coll, object=ob, camera=cam_ob, depth_image=d_image, color_image=c_image,
                       material=material, texture=texture, prepared=prepared, warnings=list(prepared.warnings),
                       timings=timings)


def _display(values: np.ndarray) -> np.ndarray:
    """A [0, 1] preview of a stage: normalised inverse depth (near = bright), 0 where invalid."""
    ok = np.isfinite(values) & (values > 0)
    out = np.zeros(values.shape, np.float32)
    if ok.any():
        inv = 1.0 / values[ok]
        lo, hi = float(inv.min()), float(inv.max())
        out[ok] = (inv - lo) / (hi - lo) if hi > lo else 1.0
    return out


def import_depth_map(depth, color=None, options: ImportOptions | None = None, *,
                     scene: bpy.types.Scene | None = None, set_scene_camera: bool = True, set_resolution: bool = True,
                     shading: str = "PRINCIPLED", pack: bool = False, preview: bool = False,
                     **flat_options) -> DepthImport:
    """Import a depth map as a mesh with a matching camera (the facade behind ``api.import_depth_map``).

    :param depth: Depth file (``.png``, ``.tif``, ``.exr``, ``.npy``, ``.npz``, ``.pfm``) or an H×W array.
    :param color: Colour image path or H×W×3 array in [0, 1], or None.
    :param options: Import options; or give them as flat keywords (``values="inverse"``, ``fov=60``,
        ``baseline=0.1``, ``tear_ratio=1.05``, ``mode="displace"``…, see ``ImportOptions.from_flat``).
    :param scene: Target scene; the context scene when None.
    :param set_scene_camera: Make the new camera the scene camera.
    :param set_resolution: Set the render resolution and pixel aspect to the image's.
    :param shading: ``PRINCIPLED`` or ``EMISSION`` colour material.
    :param pack: Pack the images into the .blend.
    :param preview: Keep each pre-processing stage as an image.
    :raises BadInput: For any input problem; nothing is created then.
    """
    if flat_options:
        if options is not None:
            raise BadInput("give either options or flat keyword options, not both")
        options = ImportOptions.from_flat(**flat_options)
    prepared = prepare(depth, color, options, keep_stages=preview)
    return build(prepared, scene, set_scene_camera, set_resolution, shading, pack, preview)
