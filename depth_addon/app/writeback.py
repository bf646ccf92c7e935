# SPDX-License-Identifier: GPL-3.0-or-later
"""Write-back use cases behind the sidebar: project an existing image, bake, compositor set-up, remove results.

Each function is what one operator does, minus reading its settings and reporting: the operators stay
thin and the same steps are scriptable.
"""

from __future__ import annotations

import bpy

from ..blender import compat, images
from ..blender.compositor import fx
from ..blender.compositor import group as comp
from ..blender.compositor.ownership import file_outputs, layers_read
from ..blender.depth.render import render_depth as render_view_depth
from ..blender.evaluation import rendered_layer
from ..blender.writeback import bake_apply, kept, projection
from ..blender.writeback import provenance as provenance_props
from ..blender.writeback.coverage import coverage_preview
from ..blender.writeback.projection_bake import bake_projection
from ..errors import BadInput, listed
from ..texturing import provenance as prov
from .depth import render_depth
from .scene_prompts import ASSIGNMENT
from .texture import LAST_IMAGE

__all__ = ["BLEND_MODES", "bake_projection", "can_regenerate", "compositor_active", "coverage_preview", "has_result",
           "compositor_note", "compositor_settings", "image_record", "is_ours", "is_projected", "pack_generated",
           "project_image", "remove_result", "setup_compositor"]

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
    :raises BadInput: No such image, nothing to project onto, nothing in the camera's view.
    """
    image = bpy.data.images.get(image_name or scene.get(LAST_IMAGE, DEFAULT_IMAGE))
    if image is None:
        raise BadInput(f"no image named {image_name!r}" if image_name else "no image to project; pick one")
    w, h = images.image_size(image)
    depth = render_depth(scene, resolution=(w, h))
    if not depth.mask.any():
        raise BadInput("the camera sees no geometry; nothing to project onto")
    planar = depth.camera.radial_to_planar(depth.depth) if depth.radial else depth.depth
    result = projection.project_image(scene, depth.camera, image, objects=objects,
                                      depth=planar if occlusion else None)
    record = provenance_props.read(image) or prov.provenance(
        "projection", "", 0, "external image", [depth.camera], frame=scene.frame_current,
        options={"image": image.name})
    provenance_props.attach(record, result.projector, *result.materials)
    if bake_size is not None:
        done = bake_projection(scene, result.objects, int(bake_size))
        images.pack_generated(*done.made_images())
    return image, result


def setup_compositor(scene: bpy.types.Scene, focus: str = "CAMERA", focus_xy: tuple[float, float] = (0.5, 0.5),
                     focus_object: bpy.types.Object | None = None, focus_distance: float | None = None,
                     relight: float = 0.0, light_direction: tuple[float, float, float] = (0.0, 0.0, 1.0),
                     allow_other_camera: bool = False, **options) -> bpy.types.NodeTree:
    """Build (or update) our compositor group around the last AI layer and make it the scene's compositor.

    The AI layer (relit first when asked) is mixed over the render, then depth of field and fog act
    on that composite. Depth of field and fog use the Z pass of the camera that renders; relighting
    uses the depth of the camera the AI layer was captured from. Every check runs before anything
    changes, so a refused call leaves the scene's compositor as it was.

    :param scene: The scene.
    :param focus: ``CAMERA`` (the camera's own focus), ``DISTANCE`` (``focus_distance``), ``PIXEL``
        (depth at ``focus_xy``) or ``OBJECT`` (``focus_object``).
    :param focus_xy: Pixel as fractions of width and height, from the top left.
    :param focus_object: The object to focus on with ``OBJECT``.
    :param focus_distance: Focus distance (camera Z) in scene units with ``DISTANCE``: metres at Unit Scale 1.
    :param relight: Relighting strength; above 0 the normals come from a small depth render of the capture camera.
    :param light_direction: World-space light direction for relighting.
    :param allow_other_camera: Go on when the scene renders through another camera than the AI layer's capture
        camera (the layer will not line up; depth of field and fog then follow the rendering camera).
    :param options: ``opacity``, ``blend``, ``use_dof``, ``fstop``, ``blur_max``, ``fog_density``, ``fog_start``,
        ``fog_color`` (see :func:`depth_addon.blender.compositor.group.ensure_compositor_group`).
    :return: Our group; :func:`compositor_note` says when an effect was left out (orthographic camera).
    :raises BadInput: No camera, a scene linked from a library, a panoramic render camera, ``OBJECT`` focus without an
        object, a focus in front of the lens or behind every surface, an f-stop ≤ 0, another render camera than the
        capture camera, bad options.
    """
    if scene.camera is None:
        raise BadInput("the scene has no camera to composite from")
    if scene.library is not None:  # its compositor would be the library's again once the file is reopened
        raise BadInput(f"scene {scene.name!r} is linked from the library {scene.library.filepath}: a compositor set "
                       "up on it would not be saved; make the scene local (or set it up in the library's file)")
    image = _ai_layer(scene)
    if image is not None and getattr(scene.camera.data, "type", "PERSP") == "PANO":
        raise BadInput(f"the scene renders through the panoramic camera {scene.camera.name!r}: the AI layer, a picture "
                       "of a perspective view, would not line up; render through a perspective or orthographic camera")
    capture = _capture_camera(scene, image, allow_other_camera)
    distance = _focus_distance(scene, focus, focus_xy, focus_object, focus_distance)
    normals, light = None, (0.0, 0.0, 1.0)
    if relight > 0.0:
        r = scene.render
        size = (256, max(1, round(256 * r.resolution_y / r.resolution_x)))
        depth = render_view_depth(scene, capture, resolution=size, crop=True)  # the pixels a cropped render keeps
        normals = fx.normals_image(f"Depth AI Normals {scene.name}", depth.depth, depth.camera)  # a scene's own
        light = fx.light_in_camera(depth.camera, tuple(light_direction))
    tree = comp.ensure_compositor_group(scene, image=image, focus_distance=distance, normals=normals,
                                        light_direction=light, relight=relight, **options)
    comp.activate_compositor(scene)
    return tree


def _ai_layer(scene: bpy.types.Scene) -> bpy.types.Image | None:
    """The image to layer over the render: the scene's last result when it is seen from the scene camera (also one
    generated with the compositor left off), else the layer the scene's group has, else that last result (which
    :func:`_capture_camera` then refuses or allows)."""
    group = comp.find_compositor_group(scene)
    layer = group.nodes[comp.N_IMAGE].image if group is not None and comp.N_IMAGE in group.nodes else None
    last = bpy.data.images.get(scene.get(LAST_IMAGE, ""))
    if last is not None and (layer is None or _seen_from(last) in (None, getattr(scene.camera, "name", None))):
        return last
    return layer or last


def _seen_from(image: bpy.types.Image) -> str | None:
    """The camera an image of ours was generated from (its provenance record), or None when unknown."""
    record = provenance_props.read(image)
    return ((record or {}).get("options") or {}).get("camera")


def _capture_camera(scene: bpy.types.Scene, image: bpy.types.Image | None, allow_other: bool) -> bpy.types.Object:
    """The camera the AI layer was captured from (its provenance record); the scene camera when unknown.

    :raises BadInput: When that is not the scene camera and ``allow_other`` is False.
    """
    name = _seen_from(image) if image is not None else None
    capture = bpy.data.objects.get(name) if name else None
    if capture is None or capture.type != "CAMERA" or capture == scene.camera:
        return scene.camera
    if not allow_other:
        raise BadInput(f"the AI layer was captured from camera {capture.name!r} but the scene renders through "
                       f"{scene.camera.name!r}, so the layer would not line up; make {capture.name!r} the scene "
                       "camera, generate again from this one, or allow another camera")
    return capture


def _focus_distance(scene: bpy.types.Scene, focus: str, focus_xy: tuple[float, float],
                    focus_object: bpy.types.Object | None, focus_distance: float | None) -> float | None:
    """The focus distance in scene units the options ask for; None for the camera's own focus.

    :raises BadInput: For an unknown mode, ``OBJECT`` without an object, ``DISTANCE`` without a distance.
    """
    if focus == "CAMERA":
        return None
    if focus == "DISTANCE":
        if focus_distance is None:
            raise BadInput("DISTANCE focus needs a focus distance")
        return float(focus_distance)
    if focus == "OBJECT":
        if focus_object is None:
            raise BadInput("no active object to focus on")
        return fx.focus_from_object(scene, focus_object)
    if focus == "PIXEL":
        r = scene.render
        depth = render_depth(scene, resolution=(256, max(1, round(256 * r.resolution_y / r.resolution_x))))
        h, w = depth.depth.shape
        return fx.focus_from_pixel(depth.depth, min(int(focus_xy[0] * w), w - 1), min(int(focus_xy[1] * h), h - 1))
    raise BadInput(f"unknown focus {focus!r}; use CAMERA, DISTANCE, PIXEL or OBJECT")


def compositor_note(scene: bpy.types.Scene) -> str:
    """Why our compositor left an asked-for effect out (e.g. depth of field through an orthographic camera), and the
    File Output nodes of the user's compositor that do not write while ours composites the scene (Blender 5.x, where
    a scene composites one node group: theirs is set aside until Remove Result gives it back)."""
    if not comp.is_compositor_active(scene):
        return ""
    notes = [comp.compositor_note(scene)]
    aside = scene.get(comp.KEY_PREVIOUS)
    aside = aside if isinstance(aside, bpy.types.NodeTree) else None
    outputs = file_outputs(aside)  # 4.x runs the user's tree around ours: their File Outputs still write
    if outputs:
        notes.append(f"your compositor's File Output node{'s' if len(outputs) > 1 else ''} ({listed(outputs, 3)}) "
                     "write nothing while ours composites the scene; Remove Result gives yours back")
    layers = layers_read(aside if compat.uses_compositor_groups() else getattr(scene, "node_tree", None), scene)
    if len(layers) > 1:
        notes.append(f"your compositor combines the view layers {listed(layers, 3)}; ours composites only "
                     f"{rendered_layer(scene).name!r} until Remove Result gives yours back")
    return "; ".join(n for n in notes if n)



def compositor_settings(scene: bpy.types.Scene) -> dict:
    """The options our compositor group was last built with (focus distance, f-stop ...); empty without one."""
    return comp.compositor_params(scene) if comp.is_compositor_active(scene) else {}


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
    """Remove projections, bakes and coverage maps; with every object, also give the scene its compositor back. Once
    no object of the scene shows a result, the sidebar no longer lists the last run's materials.

    A projection made over a bake goes first (its slots keep the bake), then the bake: the user's own materials
    come back whatever the order the results were made in. The generated images the projections showed stay, with
    a fake user, so the saved file keeps them (results to pick from); the baked textures go.

    :param scene: The scene.
    :param objects: Objects to restore; every object of the scene's (not of other scenes) when None.
    :return: ``(objects restored, whether the compositor was restored)``.
    """
    targets = [o for o in (scene.objects if objects is None else objects) if is_ours(o)]
    named = provenance_props.named_ids(targets)
    chosen = set(targets)
    still = provenance_props.named_ids(o for o in bpy.data.objects if kept.shows_result(o) and o not in chosen)
    projection.remove_projection(targets, keep_ids=still)
    bake_apply.remove_bake(targets, keep_ids=still)
    kept.release_unnamed(named, still)  # objects a removed result named without painting them: as they were too
    restored = comp.restore_compositor(scene) if objects is None else False
    if ASSIGNMENT in scene and not any(is_ours(o) for o in scene.objects):  # the sidebar's list of what it painted
        del scene[ASSIGNMENT]
    return len(targets), restored


def restore_compositor(scene: bpy.types.Scene) -> bool:
    """Give the scene its own compositor back (the results on objects stay); True when ours was active."""
    return comp.restore_compositor(scene)


def can_regenerate(obj: bpy.types.Object | None) -> bool:
    """True when ``obj`` shows a generated result with a provenance record."""
    return obj is not None and provenance_props.find(obj) is not None


def image_record(image: bpy.types.Image) -> dict | None:
    """The provenance record of a generated image (prompt, seed, generator …), or None."""
    return provenance_props.read(image)
