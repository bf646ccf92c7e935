# SPDX-License-Identifier: GPL-3.0-or-later
"""Write-back use cases behind the sidebar: project an existing image, bake, compositor set-up, remove results.

Each function is what one operator does, minus reading its settings and reporting: the operators stay
thin and the same steps are scriptable.
"""

from __future__ import annotations

import bpy

from ..blender import images
from ..blender.compositor import fx
from ..blender.compositor import group as comp
from ..blender.writeback import bake_apply, projection
from ..blender.writeback import provenance as provenance_props
from ..blender.writeback.coverage import coverage_preview
from ..blender.writeback.projection_bake import bake_projection
from ..errors import BadInput
from ..texturing import provenance as prov
from .depth import render_depth
from .texture import LAST_IMAGE

__all__ = ["BLEND_MODES", "bake_projection", "can_regenerate", "compositor_active", "coverage_preview", "has_result",
           "image_record", "is_ours", "is_projected", "pack_generated", "project_image", "remove_result",
           "setup_compositor"]

BLEND_MODES = comp.BLEND_MODES
is_projected = projection.is_projected
pack_generated = images.pack_generated
DEFAULT_IMAGE = "Depth Generated"


def project_image(scene: bpy.types.Scene, image_name: str = "", objects=None, occlusion: bool = True,
                  bake_size: int | None = None):
    """Project an existing image from the scene camera, with a provenance record, optionally baked.

    :param scene: The scene.
    :param image_name: Image to project; the last generated image when empty.
    :param objects: Objects to project onto; every visible mesh when None.
    :param occlusion: Keep the image off surfaces the camera does not see.
    :param bake_size: Also bake into UV maps at this size, so the texture follows the objects.
    :return: ``(image, projection result)``.
    :raises BadInput: No such image, nothing to project onto.
    """
    image = bpy.data.images.get(image_name or scene.get(LAST_IMAGE, DEFAULT_IMAGE))
    if image is None:
        raise BadInput(f"no image named {image_name!r}" if image_name else "no image to project; pick one")
    h, w = images.array_from_image(image).shape[:2]
    depth = render_depth(scene, resolution=(w, h))
    planar = depth.camera.radial_to_planar(depth.depth) if depth.radial else depth.depth
    result = projection.project_image(scene, depth.camera, image, objects=objects,
                                      depth=planar if occlusion else None)
    record = provenance_props.read(image) or prov.provenance(
        "projection", "", 0, "external image", [depth.camera], frame=scene.frame_current,
        options={"image": image.name})
    provenance_props.attach(record, result.projector, *result.materials)
    if bake_size is not None:
        done = bake_projection(scene, result.objects, int(bake_size))
        images.pack_generated(*done.images.values())
    return image, result


def setup_compositor(scene: bpy.types.Scene, focus: str = "CAMERA", focus_xy: tuple[float, float] = (0.5, 0.5),
                     focus_object: bpy.types.Object | None = None, relight: float = 0.0,
                     light_direction: tuple[float, float, float] = (0.0, 0.0, 1.0), **options) -> bpy.types.NodeTree:
    """Build (or update) our compositor group around the last AI layer and make it the scene's compositor.

    :param scene: The scene.
    :param focus: ``CAMERA`` (the camera's own focus), ``PIXEL`` (depth at ``focus_xy``) or ``OBJECT``.
    :param focus_xy: Pixel as fractions of width and height, from the top left.
    :param focus_object: The object to focus on with ``OBJECT``.
    :param relight: Relighting strength; above 0 the normals come from a small depth render.
    :param light_direction: World-space light direction for relighting.
    :param options: ``opacity``, ``blend``, ``use_dof``, ``fstop``, ``fog_density``, ``fog_start`` (see
        :func:`depth_addon.blender.compositor.group.ensure_compositor_group`).
    :raises BadInput: ``OBJECT`` focus without an object, bad options.
    """
    group = comp.find_compositor_group()
    image = None
    if group is not None:
        image = next((n.image for n in group.nodes if n.bl_idname == "CompositorNodeImage"
                      and n.name == comp.N_IMAGE), None)
    distance, normals, light = None, None, (0.0, 0.0, 1.0)
    if focus == "OBJECT":
        if focus_object is None:
            raise BadInput("no active object to focus on")
        distance = fx.focus_from_object(scene, focus_object)
    if focus == "PIXEL" or relight > 0.0:
        r = scene.render
        depth = render_depth(scene, resolution=(256, max(1, round(256 * r.resolution_y / r.resolution_x))))
        if focus == "PIXEL":
            h, w = depth.depth.shape
            distance = fx.focus_from_pixel(depth.depth, min(int(focus_xy[0] * w), w - 1),
                                           min(int(focus_xy[1] * h), h - 1))
        if relight > 0.0:
            normals = fx.normals_image("Depth AI Normals", depth.depth, depth.camera)
            light = fx.light_in_camera(depth.camera, tuple(light_direction))
    tree = comp.ensure_compositor_group(scene, image=image, focus_distance=distance, normals=normals,
                                        light_direction=light, relight=relight, **options)
    comp.activate_compositor(scene)
    return tree


def is_ours(obj: bpy.types.Object) -> bool:
    """True when ``obj`` shows a projection or a bake of ours."""
    return projection.is_projected(obj) or bake_apply.is_baked(obj)


def compositor_active(scene: bpy.types.Scene) -> bool:
    """True when the scene renders through our compositor group."""
    return comp.is_compositor_active(scene)


def has_result(scene: bpy.types.Scene) -> bool:
    """True when the scene has anything of ours to remove: our compositor, projections or bakes."""
    return comp.is_compositor_active(scene) or any(is_ours(o) for o in scene.objects)


def remove_result(scene: bpy.types.Scene, objects: list | None = None) -> tuple[int, bool]:
    """Remove projections, bakes and coverage maps; with every object, also give the scene its compositor back.

    :param scene: The scene.
    :param objects: Objects to restore; every object of ours when None.
    :return: ``(objects restored, whether the compositor was restored)``.
    """
    count = bake_apply.remove_bake(objects) + projection.remove_projection(objects)
    restored = comp.restore_compositor(scene) if objects is None else False
    return count, restored


def can_regenerate(obj: bpy.types.Object | None) -> bool:
    """True when ``obj`` shows a generated result with a provenance record."""
    return obj is not None and provenance_props.find(obj) is not None


def image_record(image: bpy.types.Image) -> dict | None:
    """The provenance record of a generated image (prompt, seed, generator …), or None."""
    return provenance_props.read(image)
