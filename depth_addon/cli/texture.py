# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``texture``: depth → generate → projection (+ compositor) for a .blend, saved to ``--out-dir``.

One camera by default. ``texture --views N`` places N cameras, ``--cameras A,B`` uses named cameras,
``--bake SIZE`` sets the texture side (alone it bakes the scene camera's single view). Each object's
baked texture is written to ``<out-dir>/textures/<object>.png`` with its provenance in the PNG
metadata, and the images in the saved ``scene.blend`` point at those files by relative paths. Every
run writes ``scene.blend`` and ``run.json`` (and ``render.png`` with ``--render``).

The out-dir is owned by the run (:class:`~depth_addon.io.outdir.OutputDir`): one run at a time, never
a folder holding the input .blend, and another run's results are only replaced with ``--overwrite``.
Everything is written into a staging folder and swapped in at the end, so the folder holds the
previous run's whole set or this run's, and ``run.json`` always lists the files next to it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import bpy
import numpy as np

from .. import api
from ..app.blendfile import save_blend
from ..app.depth import ENGINES, scaled_mapping, unit_scale
from ..blender.final_render import render_still
from ..errors import BadInput
from ..generation import available_generators
from ..io.atomic import write_text_atomic
from ..io.outdir import OutputDir
from ..texturing.raster import MAX_SIZE, MIN_SIZE
from ..texturing.views import PLACEMENTS
from .common import EventSink, add_resolution, check_range, open_blend, versions, warn
from .parts import add_part_arguments, dry_run, object_prompts, report_parts, scene_names
from .texture_files import Artifact, relative, save_textures

if TYPE_CHECKING:
    pass

COMMAND = "texture"
#: What a run writes into its out-dir (top-level names), for folders written before markers existed.
ARTIFACTS = ("depth.exr", "depth.png", "generated.png", "render.png", "scene.blend", "run.json", "textures")
#: Object types that render but that projection and baking (meshes only) leave out.
SKIPPED_TYPES = frozenset({"CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME", "GREASEPENCIL"})


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
    add_part_arguments(p)
    return p


def add_generation_arguments(parser: argparse.ArgumentParser, prompt: str = "", reads_blend: bool = True) -> None:
    """Add ``--prompt``, ``--seed``, ``--generator``, ``--engine``, ``--samples`` and ``--out-dir``.

    :param parser: The ``texture`` or ``demo`` sub-parser.
    :param prompt: Default of ``--prompt``.
    :param reads_blend: The command opens a .blend (``texture``), which ``--out-dir`` must not contain.
    """
    several = "what to paint; may name several materials ('brick walls, wooden posts and grass')"
    parser.add_argument("--prompt", default=prompt, help=f"what to paint (default: {prompt!r})" if prompt else several)
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same image "
                        "(default: 0)")
    parser.add_argument("--generator", help="generator name (default: the embedded default)")
    parser.add_argument("--engine", choices=ENGINES, default="auto", help="depth engine (default: auto)")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples of the final render, 1-65536 "
                        "(default: 16)")
    where = "; it must not contain the input .blend" if reads_blend else ""
    parser.add_argument("--out-dir", help=f"output folder (needed{' unless --dry-run' if reads_blend else ''}), "
                        f"owned by one run at a time{where}")
    parser.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run in "
                        "--out-dir (the whole set, at the end of a successful run); without it such a folder is "
                        "refused")


def add_texture_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--views``, ``--cameras``, ``--bake`` and their options to the ``texture`` parser.

    :param parser: The ``texture`` sub-parser.
    """
    group = parser.add_argument_group("multi-view texturing (bakes into each object's UV map)")
    which = group.add_mutually_exclusive_group()
    which.add_argument("--views", type=int, metavar="N", help="texture from the scene camera and N placed views")
    which.add_argument("--cameras", metavar="A,B", help="texture from these cameras (comma-separated names)")
    group.add_argument("--bake", metavar="SIZE", type=_bake_size, help="texture size per object, or 'auto' (the "
                       "default): per object, the smallest power of two whose texel density reaches the views' "
                       "pixel density")
    group.add_argument("--maps", action="store_true", help="also bake albedo, roughness, metallic, normal and "
                       "height maps (textures/<object>_<map>.png, height as .exr) and show a relightable Principled "
                       "material")
    group.add_argument("--displacement", action="store_true", help="bake the maps (as --maps), and let the height map "
                       "displace the surface at render time (true displacement; the objects need a Subdivision Surface "
                       "modifier for the relief's detail)")
    group.add_argument("--new-uv", action="store_true", help="bake into a UV map made for the bake (added next "
                       "to the objects' own UV maps, which are kept) even where their active map could be used")
    group.add_argument("--no-scene-view", action="store_true", help="with --views, leave out the scene camera's "
                       "view (by default it comes first, so what the camera sees keeps its detail)")
    group.add_argument("--placement", choices=PLACEMENTS, help="how --views are placed (default: orbit)")
    group.add_argument("--view-size", type=int, help="pixels on the longer side of each view (default: 512; "
                       "--resolution W H, when given, sets it to the larger of W and H)")
    group.add_argument("--objects", metavar="A,B", help="objects to texture (default: every visible mesh); a name "
                       "with a comma is found as the scene has it")
    group.add_argument("--no-conditioning", action="store_true", help="do not condition views on earlier ones")


def _bake_size(text: str) -> int | str:
    """``--bake``: ``auto`` or a number of texels."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number of texels, got {text!r}") from None


def wants_multiview(args: argparse.Namespace) -> bool:
    """True when the ``texture`` command should run the multi-view / bake path.

    :param args: Parsed ``texture`` arguments.
    """
    return any(getattr(args, name, None) is not None for name in ("views", "cameras", "bake"))


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse values that would otherwise be clamped or fail late, before anything is opened or written.

    :param args: Parsed ``texture`` or ``demo`` arguments.
    :raises BadInput: Naming the option.
    """
    check_range("--samples", args.samples, 1, 65536)
    if args.generator is not None and (args.generator.strip().lower() or "default") not in (
            *available_generators(), "default"):
        raise BadInput(f"unknown generator {args.generator!r}; known generators: {', '.join(available_generators())}")
    if getattr(args, "views", None) is not None:
        check_range("--views", args.views, 1, 64)
    if isinstance(getattr(args, "bake", None), int):
        check_range("--bake", args.bake, MIN_SIZE, MAX_SIZE)
    check_range("--view-size", getattr(args, "view_size", None), 16, MAX_SIZE)
    if getattr(args, "camera", None) and (args.views is not None or args.cameras):
        raise BadInput("--camera cannot be combined with --views or --cameras (use --cameras A,B for named cameras)")
    if getattr(args, "displacement", False) and not wants_multiview(args):
        raise BadInput("--displacement moves baked surfaces: use it with --bake, --views or --cameras (a single "
                       "projection shows its height map as bump relief with --maps)")
    single = [flag for flag, used in (("--new-uv", getattr(args, "new_uv", False)),
                                      ("--no-scene-view", getattr(args, "no_scene_view", False)),
                                      ("--no-conditioning", getattr(args, "no_conditioning", False)),
                                      ("--placement", getattr(args, "placement", None) is not None),
                                      ("--view-size", getattr(args, "view_size", None) is not None)) if used]
    if single and not wants_multiview(args):
        raise BadInput(f"{', '.join(single)} set(s) how several views are placed and baked: use it with --views, "
                       "--cameras or --bake")


def claim(args: argparse.Namespace, inputs: list[str | None]) -> OutputDir:
    """Take ``--out-dir`` for this run (see :class:`~depth_addon.io.outdir.OutputDir`).

    :param args: Parsed arguments (``command``, ``out_dir``, ``overwrite``).
    :param inputs: Files the run reads, which must lie outside the folder.
    """
    if not args.out_dir:
        raise BadInput(f"--out-dir is needed: the folder the results go to (see depth_cli {args.command} --help)")
    return OutputDir(args.out_dir, args.command, inputs=inputs, overwrite=getattr(args, "overwrite", False),
                     artifacts=ARTIFACTS).claim()


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``texture``: open ``--blend``, texture it from one camera or several views, save the results.

    :param args: Parsed arguments (see :func:`add_parser`).
    :param events: The CLI's event writer.
    :return: Summary for the ``done`` event (``timings`` ...).
    """
    check_arguments(args)
    if getattr(args, "dry_run", False):
        return dry_run(args, events)
    with claim(args, [args.blend or bpy.data.filepath or None]) as out:
        open_blend(args.blend, events)
        if wants_multiview(args):
            return run_multiview(args, events, out)
        return texture_and_save(args, events, out)


def render_and_save(args: argparse.Namespace, scene: bpy.types.Scene, folder: Path, timings: dict[str, float],
                    artifacts: list[Artifact]) -> Path:
    """With ``--render`` write ``render.png`` through the compositor, then save a copy as ``scene.blend``.

    :param args: Parsed arguments (``render``, ``samples``, ``resolution``).
    :param scene: The textured scene.
    :param folder: The staging folder.
    :param timings: Receives ``render`` and ``save`` seconds.
    :param artifacts: Receives the written files.
    :return: The saved ``.blend``.
    """
    if args.render:
        t = time.perf_counter()
        path = render_still(scene, folder / "render.png", samples=args.samples, resolution=args.resolution)
        timings["render"] = time.perf_counter() - t
        artifacts.append(("render", Path(path), {}))
    t = time.perf_counter()
    blend = folder / "scene.blend"
    save_blend(blend)
    timings["save"] = time.perf_counter() - t
    artifacts.append(("blend", blend, {}))
    return blend


def _rendered(artifacts: list[Artifact], out: OutputDir) -> dict[str, str]:
    """``{"render": path}`` when ``--render`` wrote one, for ``run.json``'s artifacts; else empty."""
    return {kind: relative(path, out.staging) for kind, path, _extra in artifacts if kind == "render"}


def skipped_objects(scene: bpy.types.Scene, textured: list[bpy.types.Object]) -> list[str]:
    """Visible renderable objects that a projection or bake left out (curves, text, volumes ... are not meshes).

    :param scene: The scene.
    :param textured: The objects that were textured.
    """
    done = {o.name for o in textured}
    layer = scene.view_layers[0] if scene.view_layers else None
    return sorted(f"{o.name!r} ({o.type.lower()})" for o in scene.objects if o.type in SKIPPED_TYPES
                  and o.name not in done and (layer is None or o.visible_get(view_layer=layer)))


def finish(out: OutputDir, events: EventSink, record: dict, artifacts: list[Artifact],
           default: Callable[[object], object] | None = None) -> None:
    """Write ``run.json`` into the staging folder, swap the whole set in, then announce every file.

    :param out: The claimed output folder.
    :param events: Event writer; one ``artifact`` per file, at its final path, after the swap.
    :param record: What the run did and with which versions (artifacts relative to the folder).
    :param default: ``json.dumps`` fallback for values JSON does not know.
    """
    write_text_atomic(out.staging / "run.json", json.dumps(record, indent=2, default=default))
    artifacts.append(("run", out.staging / "run.json", {}))
    out.commit({"artifacts": [relative(path, out.staging) for _kind, path, _extra in artifacts]})
    for kind, path, extra in artifacts:
        events.emit("artifact", kind=kind, path=str(out.final(path)), **extra)


def texture_and_save(args: argparse.Namespace, events: EventSink, out: OutputDir) -> dict:
    """Texture the context scene from one camera, optionally render it, and save ``scene.blend`` and ``run.json``.

    :param args: Parsed ``texture`` or ``demo`` arguments.
    :param events: Event writer.
    :param out: The claimed output folder; files go to its staging folder and are committed at the end.
    :return: The summary for the ``done`` event (``timings``).
    """
    start = time.perf_counter()
    prompts, objects = object_prompts(args), scene_names(getattr(args, "objects", None)) or ()
    run = api.texture_scene(camera=getattr(args, "camera", None), prompt=args.prompt, seed=args.seed,
                            generator=args.generator, out_dir=out.staging, resolution=args.resolution,
                            engine=args.engine, progress=events.progress, object_prompts=prompts,
                            maps=getattr(args, "maps", False), objects=objects)
    report_parts(events, args.prompt, run.parts.decisions)
    warnings = list(run.warnings) + list(run.notes)
    if not getattr(args, "objects", None):  # every object was asked for: say which ones cannot take it
        warnings += [f"object {name} is not a mesh: the projection leaves it untextured"
                     for name in skipped_objects(bpy.context.scene, getattr(run.projection, "objects", []))]
    for warning in warnings:
        warn(events, warning)
    artifacts: list[Artifact] = [(kind, Path(path), {}) for kind, path in run.files.items()]
    timings = dict(run.timings)
    render_and_save(args, bpy.context.scene, out.staging, timings, artifacts)
    timings["total"] = time.perf_counter() - start
    record = {
        "command": args.command, "prompt": args.prompt, "seed": args.seed, "generator": args.generator or "default",
        "engine": run.depth.engine, "resolution": [run.depth.camera.width, run.depth.camera.height],
        "parts": run.parts.decisions,
        "mapping": scaled_mapping(run.mapping, run.depth.unit_scale).to_dict(),  # metres, as depth.png records it
        "camera": run.depth.metric()[1].to_dict(), "warnings": warnings,
        "timings": timings, "versions": versions(),
        "artifacts": {k: relative(v, out.staging) for k, v in run.files.items()} | _rendered(artifacts, out)
        | {"blend": "scene.blend"},
    }
    finish(out, events, record, artifacts)
    return {"timings": timings}


# --- multi-view and bake -------------------------------------------------------------------------------



def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)



def _views(args: argparse.Namespace, scene: bpy.types.Scene) -> tuple[list[str] | None, int | None]:
    """The named cameras and the number of placed views the arguments ask for.

    :param args: Parsed ``texture`` arguments (``cameras``, ``views``).
    :param scene: The open scene; ``--bake`` alone uses its camera.
    :return: ``(cameras, count)``; one of them is None unless both were left out.
    :raises BadInput: For ``--views`` below 1, or ``--bake`` alone without a scene camera.
    """
    cameras = scene_names(args.cameras)
    count = args.views
    if count is None and cameras is None:  # --bake alone: the scene camera's single view
        if scene.camera is None:
            raise BadInput("--bake without --views/--cameras needs a scene camera")
        cameras = [scene.camera.name]
    if count is not None and count < 1:
        raise BadInput(f"--views must be at least 1, got {count}")
    return cameras, count




def _shading(args: argparse.Namespace) -> str:
    """The bake's shading: relightable with ``--maps``, displaced too with ``--displacement`` (which implies maps)."""
    if getattr(args, "displacement", False):
        return "PBR_DISPLACEMENT"
    return "PBR" if getattr(args, "maps", False) else "EMISSION"


def run_multiview(args: argparse.Namespace, events: EventSink, out: OutputDir) -> dict:
    """Run ``texture`` with ``--views``/``--cameras``/``--bake`` on the open file and save the results.

    :param args: Parsed ``texture`` arguments (``prompt``, ``seed``, ``generator``, ``engine``,
        ``render``, ``samples``, ``resolution`` and the options of :func:`add_texture_arguments`).
    :param events: The CLI's event writer (``emit``, ``progress``, ``warning``).
    :param out: The claimed output folder; files go to its staging folder and are committed at the end.
    :return: The summary for the ``done`` event (``timings`` ...).
    """
    start = time.perf_counter()
    scene = bpy.context.scene
    cameras, count = _views(args, scene)
    bake = "auto" if args.bake is None else args.bake
    view_size = max(args.resolution) if getattr(args, "resolution", None) else args.view_size or 512
    prompts = object_prompts(args)
    result = api.texture_multiview(
        scene, objects=scene_names(args.objects), cameras=cameras, views=count or 4,
        placement=args.placement or "orbit", prompt=args.prompt, seed=args.seed, generator=args.generator,
        bake_size=bake, view_size=view_size,
        engine=args.engine, use_conditioning=not args.no_conditioning, progress=events.progress,
        scene_view=not getattr(args, "no_scene_view", False), maps=_shading(args) != "EMISSION",
        object_prompts=prompts, new_uv=getattr(args, "new_uv", False),
        shading=_shading(args))
    report_parts(events, args.prompt, result.decisions)
    if not getattr(args, "objects", None):  # every object was asked for: say which ones cannot be baked
        result.warnings += [f"object {name} is not a mesh: the bake leaves it untextured"
                            for name in skipped_objects(scene, result.objects)]
    for warning in result.warnings:
        warn(events, warning)
    timings = dict(result.timings)
    t = time.perf_counter()
    artifacts: list[Artifact] = []
    files = save_textures(result, out.staging, artifacts)
    timings["write"] = time.perf_counter() - t
    blend = render_and_save(args, scene, out.staging, timings, artifacts)
    timings["total"] = time.perf_counter() - start
    record = {
        "command": "texture", "mode": "multiview", "prompt": args.prompt, "seed": args.seed,
        "generator": args.generator or "default", "views": len(result.views), "bake": bake,
        "sizes": dict(result.sizes), "parts": result.decisions,
        "coverage": {k: round(v, 4) for k, v in result.coverage.items()},
        "mapping": scaled_mapping(result.mapping, unit_scale(scene)).to_dict() if result.mapping else None,
        "provenance": result.provenance,
        "warnings": result.warnings, "timings": timings, "versions": versions(),
        "artifacts": {"textures": files, **_rendered(artifacts, out), "blend": relative(blend, out.staging)},
    }
    finish(out, events, record, artifacts, default=_json_default)
    return {"timings": timings, "views": len(result.views), "objects": len(result.objects)}
