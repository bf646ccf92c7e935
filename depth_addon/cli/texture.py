# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``texture``: depth → generate → projection (+ compositor) for a .blend, saved to ``--out-dir``.

One camera by default. ``texture --views N`` places N cameras, ``--cameras A,B`` uses named cameras,
``--bake SIZE`` sets the texture side (alone it bakes the scene camera's single view). Each object's
baked texture is written to ``<out-dir>/textures/<object>.png`` with its provenance in the PNG
metadata, and the images in the saved ``scene.blend`` point at those files. Every run writes
``scene.blend`` and ``run.json`` (and ``render.png`` with ``--render``).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import bpy
import numpy as np

from .. import api
from ..app.depth import ENGINES
from ..blender import images
from ..blender.final_render import render_still
from ..errors import BadInput
from ..io.atomic import check_writable_dir, write_text_atomic
from ..io.png import to_uint, write_png
from ..texturing.provenance import metadata_text
from ..texturing.views import PLACEMENTS
from .common import EventSink, add_resolution, open_blend, save_blend, versions

if TYPE_CHECKING:
    from ..blender.writeback.multiview import MultiviewResult

COMMAND = "texture"


def add_parser(subparsers, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``texture`` subcommand.

    :param subparsers: The ``add_subparsers()`` object of the main parser.
    :param common_parent: Parent parser with the options every command accepts (``--json``).
    """
    p = subparsers.add_parser(COMMAND, parents=[common_parent], help="generate and project onto a .blend")
    p.add_argument("--blend", help="file to open (omit when Blender already opened one)")
    p.add_argument("--camera", help="camera object name (default: the scene camera)")
    p.add_argument("--render", action="store_true", help="also write render.png through the compositor")
    add_resolution(p)
    add_texture_arguments(p)
    add_generation_arguments(p)
    return p


def add_generation_arguments(parser: argparse.ArgumentParser, prompt: str = "") -> None:
    """Add ``--prompt``, ``--seed``, ``--generator``, ``--engine``, ``--samples`` and ``--out-dir``.

    :param parser: The ``texture`` or ``demo`` sub-parser.
    :param prompt: Default of ``--prompt``.
    """
    parser.add_argument("--prompt", default=prompt)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generator", help="generator name (default: the embedded default)")
    parser.add_argument("--engine", choices=ENGINES, default="auto", help="depth engine")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples of the final render")
    parser.add_argument("--out-dir", required=True)


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


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``texture``: open ``--blend``, texture it from one camera or several views, save the results.

    :param args: Parsed arguments (see :func:`add_parser`).
    :param events: The CLI's event writer.
    :return: Summary for the ``done`` event (``timings`` ...).
    """
    out_dir = check_writable_dir(args.out_dir)
    open_blend(args.blend)
    if wants_multiview(args):
        return run_multiview(args, events, out_dir)
    return texture_and_save(args, events, out_dir)


def render_and_save(args: argparse.Namespace, events: EventSink, scene: bpy.types.Scene, out_dir: Path,
                    timings: dict[str, float]) -> Path:
    """With ``--render`` write ``render.png`` through the compositor, then save a copy as ``scene.blend``.

    :param args: Parsed arguments (``render``, ``samples``, ``resolution``).
    :param events: Event writer; one ``artifact`` per file.
    :param scene: The textured scene.
    :param out_dir: Output folder.
    :param timings: Receives ``render`` and ``save`` seconds.
    :return: The saved ``.blend``.
    """
    if args.render:
        t = time.perf_counter()
        path = render_still(scene, out_dir / "render.png", samples=args.samples, resolution=args.resolution)
        timings["render"] = time.perf_counter() - t
        events.emit("artifact", kind="render", path=str(path))
    t = time.perf_counter()
    blend = out_dir / "scene.blend"
    save_blend(blend)
    timings["save"] = time.perf_counter() - t
    events.emit("artifact", kind="blend", path=str(blend))
    return blend


def write_record(out_dir: Path, record: dict, events: EventSink,
                 default: Callable[[object], object] | None = None) -> None:
    """Write ``run.json`` atomically and announce it.

    :param out_dir: Output folder.
    :param record: What the run did and with which versions.
    :param events: Event writer.
    :param default: ``json.dumps`` fallback for values JSON does not know.
    """
    write_text_atomic(out_dir / "run.json", json.dumps(record, indent=2, default=default))
    events.emit("artifact", kind="run", path=str(out_dir / "run.json"))


def texture_and_save(args: argparse.Namespace, events: EventSink, out_dir: Path) -> dict:
    """Texture the context scene from one camera, optionally render it, and save ``scene.blend`` and ``run.json``.

    :param args: Parsed ``texture`` or ``demo`` arguments.
    :param events: Event writer.
    :param out_dir: Existing, writable output folder.
    :return: The summary for the ``done`` event (``timings``).
    """
    start = time.perf_counter()
    run = api.texture_scene(camera=getattr(args, "camera", None), prompt=args.prompt, seed=args.seed,
                            generator=args.generator, out_dir=out_dir, resolution=args.resolution,
                            engine=args.engine, progress=events.progress)
    for kind, path in run.files.items():
        events.emit("artifact", kind=kind, path=str(path))
    timings = dict(run.timings)
    blend = render_and_save(args, events, bpy.context.scene, out_dir, timings)
    timings["total"] = time.perf_counter() - start
    record = {
        "command": args.command, "prompt": args.prompt, "seed": args.seed, "generator": args.generator or "default",
        "engine": run.depth.engine, "resolution": [run.depth.camera.width, run.depth.camera.height],
        "mapping": run.mapping.to_dict(), "camera": run.depth.camera.to_dict(), "timings": timings,
        "versions": versions(), "artifacts": {k: str(v) for k, v in run.files.items()} | {"blend": str(blend)},
    }
    write_record(out_dir, record, events)
    return {"timings": timings}


# --- multi-view and bake -------------------------------------------------------------------------------


def _names(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise BadInput(f"expected comma-separated names, got {text!r}")
    return names


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "object"


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


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


def _views(args: argparse.Namespace, scene: bpy.types.Scene) -> tuple[list[str] | None, int | None]:
    """The named cameras and the number of placed views the arguments ask for.

    :param args: Parsed ``texture`` arguments (``cameras``, ``views``).
    :param scene: The open scene; ``--bake`` alone uses its camera.
    :return: ``(cameras, count)``; one of them is None unless both were left out.
    :raises BadInput: For ``--views`` below 1, or ``--bake`` alone without a scene camera.
    """
    cameras = _names(args.cameras)
    count = args.views
    if count is None and cameras is None:  # --bake alone: the scene camera's single view
        if scene.camera is None:
            raise BadInput("--bake without --views/--cameras needs a scene camera")
        cameras = [scene.camera.name]
    if count is not None and count < 1:
        raise BadInput(f"--views must be at least 1, got {count}")
    return cameras, count


def _save_textures(result: MultiviewResult, events: EventSink, out_dir: Path) -> dict[str, str]:
    """Write every baked image to ``<out_dir>/textures/<object>.png``.

    :param result: The multi-view run.
    :param events: Event writer; one ``texture`` artifact per object.
    :param out_dir: Output folder.
    :return: Object name → written path.
    """
    textures = out_dir / "textures"
    textures.mkdir(exist_ok=True)
    files: dict[str, str] = {}
    for name, image in result.images.items():
        path = save_texture(image, textures / f"{_file_name(name)}.png", result.provenance)
        files[name] = str(path)
        events.emit("artifact", kind="texture", path=str(path), object=name)
    return files


def run_multiview(args: argparse.Namespace, events: EventSink, out_dir: Path) -> dict:
    """Run ``texture`` with ``--views``/``--cameras``/``--bake`` on the open file and save the results.

    :param args: Parsed ``texture`` arguments (``prompt``, ``seed``, ``generator``, ``engine``,
        ``render``, ``samples``, ``resolution`` and the options of :func:`add_texture_arguments`).
    :param events: The CLI's event writer (``emit``, ``progress``).
    :param out_dir: Existing, writable output folder.
    :return: The summary for the ``done`` event (``timings`` ...).
    """
    start = time.perf_counter()
    scene = bpy.context.scene
    cameras, count = _views(args, scene)
    bake = args.bake or 1024
    view_size = max(args.resolution) if getattr(args, "resolution", None) else args.view_size
    result = api.texture_multiview(
        scene, objects=_names(args.objects), cameras=cameras, views=count or 4, placement=args.placement,
        prompt=args.prompt, seed=args.seed, generator=args.generator, bake_size=bake, view_size=view_size,
        engine=args.engine, use_conditioning=not args.no_conditioning, progress=events.progress)
    timings = dict(result.timings)
    t = time.perf_counter()
    files = _save_textures(result, events, out_dir)
    timings["write"] = time.perf_counter() - t
    blend = render_and_save(args, events, scene, out_dir, timings)
    timings["total"] = time.perf_counter() - start
    record = {
        "command": "texture", "mode": "multiview", "prompt": args.prompt, "seed": args.seed,
        "generator": args.generator or "default", "views": len(result.views), "bake": bake,
        "coverage": {k: round(v, 4) for k, v in result.coverage.items()},
        "mapping": result.mapping.to_dict() if result.mapping else None, "provenance": result.provenance,
        "warnings": result.warnings, "timings": timings, "versions": versions(),
        "artifacts": {"textures": files, "blend": str(blend)},
    }
    write_record(out_dir, record, events, default=_json_default)
    for warning in result.warnings:
        events.emit("progress", fraction=1.0, message=f"warning: {warning}")
    return {"timings": timings, "views": len(result.views), "objects": len(result.objects)}
