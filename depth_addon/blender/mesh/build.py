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
from .. import images
from ..images import KEY_OWNED
from ..units import unit_scale
from . import materials

SHADING = ("PRINCIPLED", "EMISSION")
#: Blender's smallest render resolution per side: a smaller image is set at a multiple of its size and the
#: percentage brings the render back to it (a resolution of 3 would be raised to 4, and the view with it).
MIN_RESOLUTION = 4
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


def camera_data(name: str, prepared: PreparedImport, unit: float = 1.0) -> bpy.types.Camera:
    """Camera datablock whose view is exactly the depth image (perspective; orthographic for displace, or when the
    depth's camera was).

    :param unit: Metres per scene unit (the depth is in metres, the camera's distances are in scene units).
    """
    intr = prepared.intrinsics
    params = intr.blender_camera()
    cam = bpy.data.cameras.new(name)
    cam.sensor_fit, cam.sensor_width = params["sensor_fit"], params["sensor_width"]
    cam.shift_x, cam.shift_y = params["shift_x"], params["shift_y"]
    near, far = prepared.depth_range
    cam.clip_start = min(0.1, 0.5 * near) / unit
    cam.clip_end = max(100.0, 2.0 * far) / unit
    if prepared.mode == "displace" or intr.ortho:
        left, right, _bottom, _top = intr.frame
        cam.type, cam.ortho_scale = "ORTHO", (right - left) * intr.flat_scale(prepared.displace_depth) / unit
    else:
        cam.lens = params["lens"]
    return cam


def _set_render(scene: bpy.types.Scene, prepared: PreparedImport) -> None:
    params = prepared.intrinsics.blender_camera()
    r = scene.render
    w, h = prepared.render_size
    factor = 1 if min(w, h) >= MIN_RESOLUTION else 2 if 2 * min(w, h) >= MIN_RESOLUTION else MIN_RESOLUTION
    r.resolution_x, r.resolution_y = w * factor, h * factor
    r.resolution_percentage = 100 // factor
    r.pixel_aspect_x, r.pixel_aspect_y = params["pixel_aspect_x"], params["pixel_aspect_y"]


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
    pixels = worker().submit(materials.depth_pixels, prepared.depth)
    try:
        me = None
        if prepared.grid_size is not None:
            me = _keep(created, new_quad_mesh(f"Depth {name}", *prepared.grid_size))
        coll = _keep(created, bpy.data.collections.new(f"Depth {name}"))
        coll[KEY_OWNED] = True
        cam_ob = _keep(created, bpy.data.objects.new(f"Depth {name} Camera", _keep(
            created, camera_data(f"Depth {name} Camera", prepared, unit_scale(scene)))))
        d_image = _keep(created, materials.depth_image(f"{name} Depth", prepared.depth, pixels.result()))
        c_image, material = _colour(prepared, shading, created)
        if preview:
            _stage_images(prepared, created)
        timings["datablocks"] = time.perf_counter() - t
        t = time.perf_counter()
        grid, timings["grid_wait"] = prepared.grid, time.perf_counter() - t
        t = time.perf_counter()
        if me is None:
            me = _keep(created, mesh_from_grid(f"Depth {name}", grid))
        else:
            fill_quad_mesh(me, grid)
        ob = _keep(created, bpy.data.objects.new(f"Depth {name}", me))
        _place(cam_ob, ob, _pose(prepared, unit_scale(scene)), unit_scale(scene))
        info = dict(prepared.info, warnings=prepared.warnings)
        material, texture = _displacement(prepared, ob, d_image, material, info, created)
        if material is not None:
            me.materials.append(material)
        timings["mesh"] = time.perf_counter() - t
        t = time.perf_counter()
        for image in [i for i in created if isinstance(i, bpy.types.Image) and i.packed_file is None] if pack else ():
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


def _pose(prepared: PreparedImport, unit: float) -> Matrix:
    """Where the camera goes: where the depth file records its camera was (in scene units, without the camera
    object's scale), so a depth render imported back lines up with its scene; else :data:`CAMERA_POSE`."""
    stored = prepared.info.get("stored_pose")
    return CAMERA_POSE.copy() if stored is None else _in_scene_units(stored, unit)


def _in_scene_units(matrix, unit: float) -> Matrix:
    loc, rot, _scale = Matrix(matrix).decompose()
    return Matrix.LocRotScale(loc / unit, rot, None)


def place_import(result: DepthImport, matrix, unit: float) -> None:
    """Move an import's camera to ``matrix`` and its mesh along (the depth's camera pose when it is known).

    :param result: What :func:`import_depth_map` made.
    :param matrix: 4×4 camera-to-world matrix in metres.
    :param unit: Metres per scene unit.
    """
    _place(result.camera, result.object, _in_scene_units([list(row) for row in matrix], unit), unit)


def _place(camera: bpy.types.Object, mesh: bpy.types.Object, pose: Matrix, unit: float) -> None:
    """Put the camera at ``pose`` and the mesh (in metres, camera space) along, scaled into scene units."""
    camera.matrix_world = pose
    mesh.matrix_world = pose @ Matrix.Scale(1.0 / unit, 4)


def _stage_images(prepared: PreparedImport, created: list) -> None:
    """One image per pre-processing stage (kept with a fake user: nothing shows them)."""
    for stage, values in prepared.stages.items():
        image = _keep(created, materials.new_image(f"{prepared.name} {stage}", np.repeat(
            materials.stage_display(values)[..., None], 3, 2), False, "Non-Color"))
        image.use_fake_user = True


def _keep(created: list, datablock):
    """Record ``datablock`` as made by this import (removed again if the import fails) and return it."""
    created.append(datablock)
    return datablock


def _colour(prepared: PreparedImport, shading: str, created: list
            ) -> tuple[bpy.types.Image | None, bpy.types.Material | None]:
    """The colour image (loaded from its file, or made from the array) and its material, or ``(None, None)``."""
    name = prepared.name
    if prepared.color_path is not None:
        image = _keep(created, bpy.data.images.load(os.path.abspath(prepared.color_path), check_existing=False))
        image.name = f"{name} Colour"
    elif prepared.color_file is not None:  # a photo turned upright: packed as encoded, nothing to encode at a save
        image = _keep(created, images.image_from_file_bytes(f"{name} Colour", prepared.color_file, "sRGB"))
    elif prepared.color is not None:
        image = _keep(created, materials.new_image(f"{name} Colour", prepared.color, prepared.color_linear,
                                                   "Linear Rec.709" if prepared.color_linear else "sRGB"))
    else:
        return None, None
    image[KEY_OWNED] = True
    return image, _keep(created, materials.color_material(f"Depth {name}", image, shading))


def _displacement(prepared: PreparedImport, ob: bpy.types.Object, d_image: bpy.types.Image,
                  material: bpy.types.Material | None, info: dict, created: list
                  ) -> tuple[bpy.types.Material | None, bpy.types.Texture | None]:
    """Set up ``displace`` mode on ``ob``: a displacing material, or a Displace modifier and its texture.

    :return: The (possibly new) material and the modifier's texture (or None).
    """
    if prepared.mode != "displace":
        return material, None
    name = prepared.name
    if prepared.displace_method != "material":
        return material, _keep(created, materials.displace_modifier(ob, f"{name} Displace", d_image,
                                                                    prepared.depth_crop()))
    if material is None:
        material = _keep(created, materials.displacement_material(f"Depth {name}", d_image,
                                                                  crop=prepared.depth_crop()))
    else:
        materials.displacement_material(material.name, d_image, material, prepared.depth_crop())
    info["subdivision_levels"] = materials.subdivide_for_displacement(ob, prepared.grid.step, material).render_levels
    return material, None


def import_depth_map(depth, color=None, options: ImportOptions | None = None, *,
                     scene: bpy.types.Scene | None = None, set_scene_camera: bool = True, set_resolution: bool = True,
                     shading: str = "PRINCIPLED", pack: bool = False, preview: bool = False,
                     name: str | None = None, **flat_options) -> DepthImport:
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
    :param name: Base name of what is made (``Depth <name>``); the file's stem, or ``Depth`` for an array, when None.
    :raises BadInput: For any input problem; nothing is created then.
    """
    if flat_options:
        if options is not None:
            raise BadInput("give either options or flat keyword options, not both")
        options = ImportOptions.from_flat(**flat_options)
    prepared = prepare(depth, color, options, keep_stages=preview)
    if name:
        prepared.name = name
    return build(prepared, scene, set_scene_camera, set_resolution, shading, pack, preview)
