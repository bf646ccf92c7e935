# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth map → Blender: a reconstructed (or displaced) mesh, its camera, images and material.

Everything that can fail on user input happens first, in :func:`~depth_addon.depth_import.prepare`
(no bpy). Only then are datablocks created, all inside one new collection; should Blender itself
fail half-way, every datablock made so far is removed again, so an import either completes or
leaves the file as it was.

Meshes are written through the attribute API (positions, ``.edge_verts``, ``.corner_vert``,
``.corner_edge``, a ``FLOAT2`` corner UV map) with edges computed analytically, which avoids
Blender's edge hashing; numpy buffers are passed as ``memoryview`` (about twice as fast through
``foreach_set`` as the array).

``displace`` mode builds a relief plane, by one of two methods:

* ``modifier`` — a flat grid with a vertex per pixel and a Displace modifier reading the depth image
  (exact at every pixel, visible in every engine and the viewport);
* ``material`` — a coarse flat grid (a vertex every ``step`` pixels, at most 128 faces along the
  longer side) with a *Simple* Subdivision modifier and a material whose Displacement output is
  the depth image ("Displacement and Bump"). Cycles displaces at render time; from Blender 5.0 the
  modifier uses adaptive subdivision (diced to about one pixel), in 4.x its render levels
  (``log2(step)``, about one vertex per pixel). The viewport shows a quarter of that resolution.
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

from ...depth_import import ImportOptions, PreparedImport, prepare
from ...depth_import.grid import GridMesh, worker
from ...errors import BadInput
from .. import compat
from ..images import FAR_DEPTH, KEY_OWNED

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
    :param material: The colour material (which also displaces with ``displace_method="material"``), or None.
    :param texture: The Displace modifier's texture (``displace`` mode, ``modifier`` method), or None.
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


def new_quad_mesh(name: str, vertices: int, edges: int, faces: int) -> bpy.types.Mesh:
    """An allocated mesh of quads (face offsets set, a ``UVMap`` UV map) waiting for :func:`fill_quad_mesh`.

    The allocation is most of Blender's cost; it needs only the sizes, so it can run while the arrays
    are still being built on worker threads.

    :param name: Mesh name (Blender makes it unique).
    :param vertices: Vertex count.
    :param edges: Edge count.
    :param faces: Quad count.
    """
    me = bpy.data.meshes.new(name)
    try:
        me.vertices.add(vertices)
        me.edges.add(edges)
        me.loops.add(4 * faces)
        me.polygons.add(faces)
        me.polygons.foreach_set("loop_start", memoryview(np.arange(0, 4 * faces, 4, dtype=np.int32)))
        me.attributes.new("UVMap", "FLOAT2", "CORNER")
        me.uv_layers.active = me.uv_layers["UVMap"]
    except BaseException:
        bpy.data.meshes.remove(me)
        raise
    return me


def fill_quad_mesh(me: bpy.types.Mesh, grid: GridMesh) -> None:
    """Write the grid's positions, edges, corners and UVs into a mesh from :func:`new_quad_mesh` (attribute API).

    :param me: The mesh, allocated for exactly this grid's sizes.
    :param grid: Arrays from :func:`~depth_addon.depth_import.grid.build_grid`.
    """
    if (len(me.vertices), len(me.edges), len(me.polygons)) != (len(grid.vertices), len(grid.edges), grid.face_count):
        raise RuntimeError("the mesh was allocated for another grid")
    data = me.attributes
    data["position"].data.foreach_set("vector", memoryview(grid.vertices.reshape(-1)))
    data[".edge_verts"].data.foreach_set("value", memoryview(grid.edges.reshape(-1)))
    data[".corner_vert"].data.foreach_set("value", memoryview(grid.corner_verts))
    data[".corner_edge"].data.foreach_set("value", memoryview(grid.corner_edges))
    data["UVMap"].data.foreach_set("vector", memoryview(grid.uvs.reshape(-1)))
    me.update()


def mesh_from_grid(name: str, grid: GridMesh) -> bpy.types.Mesh:
    """A mesh with the grid's vertices, edges, quads and the ``UVMap`` UV map (attribute API).

    :param name: Mesh name (Blender makes it unique).
    :param grid: Arrays from :func:`~depth_addon.depth_import.grid.build_grid`.
    """
    me = new_quad_mesh(name, len(grid.vertices), len(grid.edges), grid.face_count)
    try:
        fill_quad_mesh(me, grid)
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


def displacement_material(name: str, image: bpy.types.Image, material: bpy.types.Material | None = None,
                          ) -> bpy.types.Material:
    """Add depth displacement to ``material`` (or to a new one with a Principled surface): local z = -depth.

    ``UVMap`` → Image Texture (the depth image, linear, extended) → Displacement (height = depth,
    midlevel 0, scale -1, object space: the plane faces +Z) → the output's Displacement socket.

    :param name: Name of a new material.
    :param image: The depth image (:func:`depth_image`).
    :param material: Material to extend (the colour material), or None for a new one.
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
    links.new(uv.outputs["UV"], tex.inputs["Vector"])
    links.new(tex.outputs["Color"], disp.inputs["Height"])  # grey (R = G = B): the depth itself
    links.new(disp.outputs["Displacement"], out.inputs["Displacement"])
    x, y = out.location
    uv.location, tex.location, disp.location = (x - 950, y - 400), (x - 700, y - 400), (x - 250, y - 400)
    return mat


def _subdivide(ob: bpy.types.Object, step: int, material: bpy.types.Material) -> bpy.types.Modifier:
    """Simple Subdivision for material displacement: adaptive where Blender has it, else ``log2(step)`` levels."""
    levels = step.bit_length() - 1
    mod = ob.modifiers.new("Depth Subdivision", "SUBSURF")
    mod.subdivision_type, mod.uv_smooth = "SIMPLE", "NONE"  # flat faces, linear UVs
    mod.render_levels, mod.levels = levels, max(0, levels - 2)
    compat.set_true_displacement(material, mod)
    return mod


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
    # The grid is being built on worker threads and the depth image's pixels join it there (numpy drops
    # the GIL); the Blender calls below that need neither run meanwhile, the mesh allocation first.
    t = time.perf_counter()
    pixels = worker().submit(depth_pixels, prepared.depth)
    try:
        if prepared.grid_size is not None:
            me = new_quad_mesh(f"Depth {name}", *prepared.grid_size)
            created.append(me)
        coll = bpy.data.collections.new(f"Depth {name}")
        created.append(coll)
        coll[KEY_OWNED] = True
        cam = camera_data(f"Depth {name} Camera", prepared)
        created.append(cam)
        cam_ob = bpy.data.objects.new(f"Depth {name} Camera", cam)
        created.append(cam_ob)
        d_image = depth_image(f"{name} Depth", prepared.depth, pixels.result())
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
        if prepared.grid_size is None:
            me = mesh_from_grid(f"Depth {name}", grid)
            created.append(me)
        else:
            fill_quad_mesh(me, grid)
        ob = bpy.data.objects.new(f"Depth {name}", me)
        created.append(ob)
        cam_ob.matrix_world = ob.matrix_world = CAMERA_POSE
        info = dict(prepared.info, warnings=prepared.warnings)
        if prepared.mode == "displace" and prepared.displace_method == "material":
            if material is None:
                material = displacement_material(f"Depth {name}", d_image)
                created.append(material)
            else:
                displacement_material(material.name, d_image, material)
            info["subdivision_levels"] = _subdivide(ob, grid.step, material).render_levels
        elif prepared.mode == "displace":
            texture = _displace(ob, f"{name} Displace", d_image)
            created.append(texture)
        if material is not None:
            me.materials.append(material)
        timings["mesh"] = time.perf_counter() - t
        t = time.perf_counter()
        if pack:
            for image in [i for i in created if isinstance(i, bpy.types.Image)]:
                if image.packed_file is None:
                    image.pack()
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
