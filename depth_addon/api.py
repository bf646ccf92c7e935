# SPDX-License-Identifier: GPL-3.0-or-later
"""The scripting facade: one small, stable set of functions for TDs, operators and the CLI.

Import it with the repository root on ``sys.path`` and ``bpy`` importable::

    from depth_addon import api
    result = api.render_depth()                      # the context scene's camera
    api.save_depth(result, "/tmp/depth.exr")         # float32 metres, mapping in the header
    run = api.texture_scene(prompt="red brick", seed=3, out_dir="/tmp/out")

Functions keep their names and keyword arguments across releases; new ones are added as the
capabilities grow. Errors are :class:`~depth_addon.errors.DepthAddonError` subclasses with a
message meant for the user.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from .blender.depth.render import DepthResult
from .blender.depth.render import render_depth as _render_depth
from .errors import BadInput
from .io.depth_files import write_depth
from .mapping import DepthMapping

__all__ = [
    "DepthResult",
    "TextureRun",
    "depth_mapping",
    "generate",
    "import_depth_map",
    "project",
    "render_depth",
    "save_depth",
    "texture_scene",
]

Progress = Callable[[float, str], None]


def render_depth(scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                 resolution: tuple[int, int] | None = None, engine: str = "auto", radial: bool = False,
                 normals: bool = False, ids: bool = False) -> DepthResult:
    """Render float32 metres from a camera; background is ``inf`` and ``.mask`` marks geometry.

    :param scene: Scene to render; the context scene when None.
    :param camera: Camera object or name; the scene camera when None.
    :param resolution: ``(width, height)``; the scene's resolution × percentage when None.
    :param engine: ``auto`` (fastest that works), ``gpu``, ``workbench`` or ``cycles``.
    :param radial: Distance along each pixel's ray instead of planar camera Z.
    :param normals: Also return ``.normals`` (H×W×3 camera space, from the same gpu draw).
    :param ids: Also return ``.object_ids``/``.objects`` and ``.material_ids``/``.materials``.
    """
    return _render_depth(scene, camera, resolution, engine, radial, normals=normals, ids=ids)


def depth_mapping(result: DepthResult, kind: str = "inverse", near: float | None = None, far: float | None = None,
                  invert: bool = False, range: str = "percentile", scene: bpy.types.Scene | None = None,
                  ) -> DepthMapping:
    """The mapping for ``result``; its near/far come from ``range`` unless both are given.

    :param result: A depth render.
    :param kind: ``inverse`` (disparity), ``linear`` or ``log``.
    :param near: Fixed near distance in metres (overrides the computed one).
    :param far: Fixed far distance in metres (overrides the computed one).
    :param invert: Flip the mapped values.
    :param range: ``percentile`` (robust 1st/99th of this render), ``frustum`` (geometry inside the
        camera frustum), ``manual`` (``near`` and ``far`` required) or ``locked`` (the range locked
        on the scene, shared by many views).
    :param scene: Scene for ``frustum`` and ``locked``; the context scene when None.
    :raises BadInput: Unknown range or mapping, missing near/far, nothing in view, near ≥ far.
    """
    from .blender.depth.sequence import locked_mapping, view_range
    from .mapping import RANGES

    if range not in RANGES:
        raise BadInput(f"unknown range {range!r}; use one of {', '.join(RANGES)}")
    if near is not None and far is not None:
        return DepthMapping(kind=kind, near=near, far=far, invert=invert)
    if range == "manual":
        raise BadInput("a manual range needs both near and far")
    scene = scene or bpy.context.scene
    if range == "locked":
        locked = locked_mapping(scene, kind, invert)
        lo, hi = locked.near, locked.far
    else:
        lo, hi = view_range(scene, result, range)
    return DepthMapping(kind=kind, near=lo if near is None else near, far=hi if far is None else far, invert=invert)


def save_depth(result: DepthResult, path: str | os.PathLike, mapping: DepthMapping | None = None,
               bits: int = 16) -> Path:
    """Write ``result`` to ``.exr`` / ``.npy`` (metres) or ``.png`` (mapped, 8 or 16-bit), atomically.

    The mapping, the camera model, the engine and whether depth is radial go into the metadata.

    :param result: A depth render.
    :param path: Target file; the suffix picks the format.
    :param mapping: Mapping to apply (PNG) and record; :func:`depth_mapping` of the result when None.
    :param bits: PNG bit depth, 8 or 16.
    :raises BadInput: A PNG of a depth map with nothing in view and no mapping, bad bits or suffix.
    """
    if mapping is None and result.mask.any():
        mapping = depth_mapping(result)
    if mapping is None and Path(path).suffix.lower() == ".png":
        raise BadInput("the depth map has no valid pixels (nothing in view): a PNG needs an explicit mapping "
                       "with near and far")
    extra = {"camera": result.camera.to_dict(), "engine": result.engine, "depth": "radial" if result.radial
             else "planar"}
    view = {k: v for k, v in result.meta.items() if isinstance(v, str | int | float)}
    if view:
        extra["view"] = view  # camera name and frame, for sequences
    return write_depth(path, result.depth, mapping, extra, bits=bits)


def generate(depth: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0,
             generator: str | None = None, size: tuple[int, int] | None = None, camera=None,
             progress: Progress | None = None, cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """Generate an RGB image (H×W×3 float32, sRGB values in [0, 1]) from depth in metres.

    :param depth: H×W planar depth, ``inf`` background.
    :param mask: H×W bool of valid pixels; ``isfinite(depth)`` when None.
    :param prompt: What to paint.
    :param seed: Same seed, same image.
    :param generator: Generator name; the default generator when None.
    :param size: Output ``(width, height)``; the depth's size when None.
    :param camera: :class:`~depth_addon.camera.CameraModel` of the depth (for normals).
    :param progress: Called with ``(fraction, message)``.
    :param cancel: Polled; returning True raises :class:`~depth_addon.errors.Cancelled`.
    """
    from .generation import get_generator

    gen = get_generator(generator)
    return gen.generate(depth, mask, prompt=prompt, seed=seed, size=size, progress=progress, cancel=cancel,
                        camera=camera)


def project(scene: bpy.types.Scene, result: DepthResult, image: bpy.types.Image, objects=None, occlusion: bool = True):
    """Project ``image`` from the camera ``result`` was rendered from onto the scene's meshes.

    Each material slot gets a new material (the originals are kept and restored by
    ``projection.remove_projection``); surfaces the camera did not see keep their own look.

    :param scene: Scene whose objects receive the projection.
    :param result: The depth render (camera pose, frame and occlusion depth).
    :param image: The image to project.
    :param objects: Objects to project onto; every visible mesh when None.
    :param occlusion: Test visibility against the captured depth.
    """
    from .blender.writeback import projection

    planar = result.camera.radial_to_planar(result.depth) if result.radial else result.depth
    return projection.project_image(scene, result.camera, image, objects=objects, depth=planar if occlusion else None)


@dataclass
class TextureRun:
    """What :func:`texture_scene` produced: arrays, datablocks, files and stage timings."""

    depth: DepthResult
    mapping: DepthMapping
    rgb: np.ndarray
    image: bpy.types.Image
    projection: object
    compositor: bpy.types.NodeTree | None
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def texture_scene(scene: bpy.types.Scene | None = None, camera: bpy.types.Object | str | None = None,
                  prompt: str = "", seed: int = 0, generator: str | None = None, out_dir: str | os.PathLike | None
                  = None, resolution: tuple[int, int] | None = None, engine: str = "auto", mapping: str = "inverse",
                  compositor: bool = True, progress: Progress | None = None,
                  cancel: Callable[[], bool] | None = None) -> TextureRun:
    """The whole path: depth from the camera → generated image → projection materials (+ compositor).

    :param scene: Scene to texture; the context scene when None.
    :param camera: Camera object or name; the scene camera when None.
    :param prompt: What to paint.
    :param seed: Same seed, same image.
    :param generator: Generator name; the default generator when None.
    :param out_dir: When given, ``depth.exr``, ``depth.png`` and ``generated.png`` are written there
        and the projected image is loaded from ``generated.png`` (so a saved .blend references it).
    :param resolution: ``(width, height)`` of depth and image; the scene's when None.
    :param engine: Depth engine (see :func:`render_depth`).
    :param mapping: Mapping kind recorded with the depth PNG.
    :param compositor: Also set up our compositor group with the generated image as AI layer.
    :param progress: Called with ``(fraction, message)``.
    :param cancel: Polled between stages and inside generation.
    """
    from .blender import images
    from .blender.compositor import group as comp
    from .errors import Cancelled
    from .io.png import to_uint, write_png

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)
        if cancel is not None and cancel():
            raise Cancelled("cancelled by the user")

    scene = scene or bpy.context.scene
    timings: dict[str, float] = {}
    files: dict[str, Path] = {}
    t = time.perf_counter()
    report(0.0, "rendering depth")
    depth = render_depth(scene, camera, resolution, engine)
    if not depth.mask.any():
        raise BadInput("the camera sees no geometry; nothing to texture")
    depth_map = depth_mapping(depth, kind=mapping)
    timings["depth"] = time.perf_counter() - t
    if out_dir is not None:
        files["depth_exr"] = save_depth(depth, Path(out_dir) / "depth.exr", depth_map)
        files["depth_png"] = save_depth(depth, Path(out_dir) / "depth.png", depth_map)

    from .blender.writeback import provenance as provenance_props
    from .generation import get_generator
    from .texturing import provenance as prov

    t = time.perf_counter()
    report(0.1, "generating")
    gen = get_generator(generator)  # built once: it generates and is fingerprinted for provenance
    rgb = gen.generate(depth.depth, depth.mask, prompt=prompt, seed=seed, camera=depth.camera,
                       progress=lambda f, m: report(0.1 + 0.7 * f, m), cancel=cancel)
    timings["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    report(0.8, "projecting")
    cam_name = camera if isinstance(camera, str) else (camera or scene.camera).name
    record = prov.provenance("projection", prompt, seed, gen.name, [depth.camera], depth_map,
                             weights_hash=prov.generator_fingerprint(gen), frame=scene.frame_current,
                             options={"engine": engine, "camera": cam_name})
    if out_dir is not None:
        files["generated"] = Path(out_dir) / "generated.png"
        write_png(files["generated"], to_uint(rgb, 8), prov.metadata_text(record))
        image = bpy.data.images.load(str(files["generated"].resolve()), check_existing=False)
    else:
        image = images.image_from_array("Depth Generated", rgb)
    proj = project(scene, depth, image)
    provenance_props.attach(record, image, proj.projector, *proj.materials)
    timings["project"] = time.perf_counter() - t

    group = None
    if compositor:
        t = time.perf_counter()
        group = comp.ensure_compositor_group(scene, image=image)
        comp.activate_compositor(scene)
        timings["compositor"] = time.perf_counter() - t
    report(1.0, "done")
    return TextureRun(depth=depth, mapping=depth_map, rgb=rgb, image=image, projection=proj, compositor=group,
                      files=files, timings=timings)


def import_depth_map(depth, color=None, **options):
    """Import a depth map (file path or H×W array) as camera-correct geometry with a matching camera.

    :param depth: Depth/disparity image path (PNG, EXR, TIFF, NPY/NPZ, PFM) or an H×W array.
    :param color: Optional colour image (path or H×W×3 array) used as the material.
    :param options: ``values`` (depth/inverse/disparity), ``fov``, ``focal_px``, ``baseline``,
        ``mode`` (reconstruct/displace), ``tear_ratio``, ``scene``, ``pack``, ``preview`` … — see
        :func:`depth_addon.blender.mesh.build.import_depth_map`.
    :return: What was created (objects, camera, images).
    """
    from .blender.mesh.build import import_depth_map as _import_depth_map

    return _import_depth_map(depth, color, **options)
