# SPDX-License-Identifier: GPL-3.0-or-later
"""The multi-view and bake parts of the ``texture`` command.

``texture --views N`` places N cameras, ``--cameras A,B`` uses named cameras, ``--bake SIZE`` sets
the texture side (alone it bakes the scene camera's single view). Each object's texture is written
to ``<out-dir>/textures/<object>.png`` with its provenance in the PNG metadata, the images in the
saved ``scene.blend`` point at those files, and ``run.json`` records the run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import bpy
import numpy as np

from ..blender import images
from ..blender.writeback import multiview
from ..errors import BadInput
from ..io.atomic import write_text_atomic
from ..io.png import to_uint, write_png
from ..texturing.provenance import metadata_text
from ..texturing.views import PLACEMENTS


def add_texture_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--views``, ``--cameras``, ``--bake`` and their options to the ``texture`` parser.

    :param parser: The ``texture`` sub-parser.
    """
    group = parser.add_argument_group("multi-view texturing (bakes into each object's UV map)")
    which = group.add_mutually_exclusive_group()
    which.add_argument("--views", type=int, metavar="N", help="texture from N placed views")
    which.add_argument("--cameras", metavar="A,B", help="texture from these cameras (comma-separated names)")
    group.add_argument("--bake", type=int, metavar="SIZE", help="texture size per object (default 1024)")
    group.add_argument("--placement", choices=PLACEMENTS, default="orbit", help="how --views are placed")
    group.add_argument("--view-size", type=int, default=512, help="pixels on the longer side of each view")
    group.add_argument("--objects", metavar="A,B", help="objects to texture (default: every visible mesh)")
    group.add_argument("--no-conditioning", action="store_true", help="do not condition views on earlier ones")


def wants_multiview(args: argparse.Namespace) -> bool:
    """True when the ``texture`` command should run the multi-view / bake path.

    :param args: Parsed ``texture`` arguments.
    """
    return any(getattr(args, name, None) for name in ("views", "cameras", "bake"))


def _names(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise BadInput(f"expected comma-separated names, got {text!r}")
    return names


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "object"


def save_texture(image: bpy.types.Image, path: Path, record: dict) -> Path:
    """Write ``image`` as an 8-bit PNG with provenance metadata and point the image at the file.

    :param image: Our baked image.
    :param path: Target ``.png``.
    :param record: Provenance record for the metadata.
    """
    rgb = images.array_from_image(image)[..., :3]
    write_png(path, to_uint(rgb, 8), metadata_text(record))
    image.filepath = str(path.resolve())
    image.source = "FILE"
    image.reload()
    return path


def run_multiview(args: argparse.Namespace, events, out_dir: Path) -> dict:
    """Run ``texture`` with ``--views``/``--cameras``/``--bake`` on the open file and save the results.

    :param args: Parsed ``texture`` arguments (``prompt``, ``seed``, ``generator``, ``engine``,
        ``render``, ``samples``, ``resolution`` and the options of :func:`add_texture_arguments`).
    :param events: The CLI's event writer (``emit``, ``progress``).
    :param out_dir: Existing, writable output folder.
    :return: The summary for the ``done`` event (``timings`` ...).
    """
    from ..blender.final_render import render_still
    from . import versions

    start = time.perf_counter()
    scene = bpy.context.scene
    cameras = _names(args.cameras)
    count = args.views
    if count is None and cameras is None:  # --bake alone: the scene camera's single view
        if scene.camera is None:
            raise BadInput("--bake without --views/--cameras needs a scene camera")
        cameras = [scene.camera.name]
    if count is not None and count < 1:
        raise BadInput(f"--views must be at least 1, got {count}")
    bake = args.bake or 1024
    view_size = max(args.resolution) if getattr(args, "resolution", None) else args.view_size
    result = multiview.texture_multiview(
        scene, objects=_names(args.objects), cameras=cameras, views=count or 4, placement=args.placement,
        prompt=args.prompt, seed=args.seed, generator=args.generator, bake_size=bake, view_size=view_size,
        engine=args.engine, use_conditioning=not args.no_conditioning, progress=events.progress)
    timings = dict(result.timings)
    t = time.perf_counter()
    textures = out_dir / "textures"
    textures.mkdir(exist_ok=True)
    files: dict[str, str] = {}
    for name, image in result.images.items():
        path = save_texture(image, textures / f"{_file_name(name)}.png", result.provenance)
        files[name] = str(path)
        events.emit("artifact", kind="texture", path=str(path), object=name)
    timings["write"] = time.perf_counter() - t
    if args.render:
        t = time.perf_counter()
        path = render_still(scene, out_dir / "render.png", samples=args.samples, resolution=args.resolution)
        timings["render"] = time.perf_counter() - t
        events.emit("artifact", kind="render", path=str(path))
    t = time.perf_counter()
    blend, tmp = out_dir / "scene.blend", out_dir / ".scene.part.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp.resolve()), copy=True, relative_remap=True)
    os.replace(tmp, blend)
    timings["save"] = time.perf_counter() - t
    events.emit("artifact", kind="blend", path=str(blend))
    timings["total"] = time.perf_counter() - start
    record = {
        "command": "texture", "mode": "multiview", "prompt": args.prompt, "seed": args.seed,
        "generator": args.generator or "default", "views": len(result.views), "bake": bake,
        "coverage": {k: round(v, 4) for k, v in result.coverage.items()},
        "mapping": result.mapping.to_dict() if result.mapping else None, "provenance": result.provenance,
        "warnings": result.warnings, "timings": timings, "versions": versions(),
        "artifacts": {"textures": files, "blend": str(blend)},
    }
    write_text_atomic(out_dir / "run.json", json.dumps(record, indent=2, default=_json_default))
    events.emit("artifact", kind="run", path=str(out_dir / "run.json"))
    for warning in result.warnings:
        events.emit("progress", fraction=1.0, message=f"warning: {warning}")
    return {"timings": timings, "views": len(result.views), "objects": len(result.objects)}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
