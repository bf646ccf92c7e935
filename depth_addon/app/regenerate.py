# SPDX-License-Identifier: GPL-3.0-or-later
"""Reproduce a generated result from its provenance record (``depth.regenerate``).

The record names the capture cameras, prompt, seed, generator and run options, so the depth can
be rendered again from the same poses (through temporary cameras) and the same image generated.
With the same seed and an unchanged scene the result is identical; a new seed or prompt gives a
variation made the same way.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..blender import images
from ..blender.camera import camera_model
from ..blender.writeback import multiview, projection, view_cameras
from ..blender.writeback import provenance as provenance_props
from ..errors import BadInput
from ..generation import get_generator
from ..texturing import provenance as prov
from .multiview import texture_multiview


def _objects(names: list[str]) -> list[bpy.types.Object]:
    found = [bpy.data.objects.get(n) for n in names]
    missing = [n for n, o in zip(names, found, strict=True) if o is None]
    if missing:
        raise BadInput(f"objects of the original run are gone: {', '.join(missing)}")
    return found


def _source(scene: bpy.types.Scene, model, name: str | None):
    """The recorded camera object when it still sees exactly ``model``, else ``model`` itself.

    Rendering through the original camera avoids the tiny float differences of a camera rebuilt
    from the model, so an unchanged scene regenerates bit-identical pixels.
    """
    obj = bpy.data.objects.get(name) if name else None
    if obj is None or obj.type != "CAMERA":
        return model
    current = camera_model(scene, obj, model.width, model.height)
    same = np.allclose(current.matrix, model.matrix, atol=1e-6) and np.allclose(current.frame, model.frame, atol=1e-9)
    return obj if same and current.ortho == model.ortho else model


def regenerate_record(record: dict, scene: bpy.types.Scene | None = None, seed: int | None = None,
                      prompt: str | None = None, target=None) -> object:
    """Run the generation a provenance record describes again.

    :param record: A provenance record (:mod:`depth_addon.texturing.provenance`).
    :param scene: The scene; the context scene when None.
    :param seed: New seed; the record's when None.
    :param prompt: New prompt; the record's when None.
    :param target: For ``projection`` records, the image whose projection is refreshed.
    :return: A :class:`multiview.MultiviewResult` (multiview, bake) or the new image (projection).
    :raises BadInput: For records that cannot be reproduced here.
    """
    scene = scene or bpy.context.scene
    seed = record["seed"] if seed is None else int(seed)
    prompt = record["prompt"] if prompt is None else prompt
    generator = record.get("generator") or None
    cameras = prov.cameras_of(record)
    options = record.get("options", {})
    if record["kind"] == "multiview":
        return texture_multiview(
            scene, objects=_objects(options.get("objects", [])), models=cameras, prompt=prompt, seed=seed,
            generator=generator, negative_prompt=record.get("negative_prompt", ""),
            bake_size=int(options.get("bake_size", 1024)), engine=options.get("engine", "auto"),
            use_conditioning=bool(options.get("conditioning", True)), harmonise=bool(options.get("harmonise", True)),
            tolerance=float(options.get("tolerance", 0.005)), exponent=float(options.get("exponent", 2.0)),
            padding=int(options.get("padding", 2)), shading=options.get("shading", "EMISSION"))
    if generator == "external image":
        raise BadInput("this texture was baked from an image that was not generated here; nothing to regenerate")
    camera = cameras[0]
    depth, rendered = view_cameras.render_view_depth(scene, _source(scene, camera, options.get("camera")),
                                                     (camera.width, camera.height), options.get("engine", "auto"))
    if not np.isfinite(depth).any():
        raise BadInput("the capture camera of this result sees no geometry any more")
    rgb = get_generator(generator).generate(depth, np.isfinite(depth), prompt=prompt, seed=seed, camera=rendered)
    new_record = dict(record, seed=seed, prompt=prompt)
    if record["kind"] == "bake":
        view = multiview.View(rendered, depth, origin=camera)
        view.image = np.asarray(rgb, np.float32)[..., :3]
        return multiview.bake_views(scene, _objects(options.get("objects", [])), [view],
                                    int(options.get("bake_size", 1024)), tolerance=0.02, record=new_record)
    if target is None or not target.get(images.KEY_OWNED):
        name = target.name if target is not None else "Depth Generated"
        image = images.image_from_array(name, rgb)
        if target is not None:
            for mat in bpy.data.materials:
                if projection.KEY_SOURCE in mat and mat.node_tree is not None:
                    for node in mat.node_tree.nodes:
                        if node.bl_idname == "ShaderNodeTexImage" and node.image == target:
                            node.image = image
    else:
        image = images.image_from_array(target.name, rgb)  # ours: refreshed in place
    provenance_props.attach(new_record, image)
    return image


def regenerate(obj: bpy.types.Object, scene: bpy.types.Scene | None = None, seed: int | None = None,
               prompt: str | None = None) -> object:
    """Regenerate the result shown on ``obj`` from the provenance found on it.

    :param obj: An object showing a projection, bake or multi-view texture of ours.
    :param scene: The scene; the context scene when None.
    :param seed: New seed; the recorded one when None.
    :param prompt: New prompt; the recorded one when None.
    :raises BadInput: When the object carries no provenance.
    """
    found = provenance_props.find(obj)
    if found is None:
        raise BadInput(f"{obj.name!r} shows nothing with a provenance record to regenerate")
    record, holder = found
    target = holder if isinstance(holder, bpy.types.Image) else None
    return regenerate_record(record, scene, seed, prompt, target)
