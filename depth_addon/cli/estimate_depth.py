# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``estimate-depth``: a photo's depth from a local estimator, aligned to metres, as float32 EXR.

``depth_cli estimate-depth PHOTO --out depth.exr [--model DIR] [--align none|points|ground|scene]
[--point X Y METRES]… [--focal-px F --height M] [--blend FILE --camera NAME] [--near M --far M]``.
Weights come from a local folder only (``config.json`` and ``.safetensors``); without ``--model`` the
folder is ``$DEPTH_ADDON_DEPTH_MODEL`` or ``~/depth_addon_models/Depth-Anything-V2-Small-hf``.
Missing or refused weights exit with 3, bad input with 2; nothing is written then.
"""

from __future__ import annotations

import argparse
import time

import bpy

from ..app.estimate import estimate_depth
from ..errors import BadInput
from ..estimation import METHODS
from ..io.atomic import check_writable_dir
from ..io.depth_files import write_depth
from .common import EventSink, check_near_far, check_out_file, model_folder_hint, open_blend

COMMAND = "estimate-depth"


def add_parser(subparsers, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``estimate-depth`` subcommand.

    :param subparsers: The ``add_subparsers()`` object of the main parser.
    :param common_parent: Parent parser with the options every command accepts (``--json``).
    """
    p = subparsers.add_parser(COMMAND, parents=[common_parent], help="photo → depth in metres (.exr)",
                              description="A photo's depth from a local estimator, aligned to metres, as float32 EXR.")
    p.add_argument("photo", help="photo: .png, .jpg, .tif, .bmp or .webp")
    p.add_argument("--out", required=True, help="output .exr (float32 metres in Z) or .npy")
    p.add_argument("--model", help="local weights folder (config.json + .safetensors)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, mps or auto (default: cpu)")
    p.add_argument("--align", choices=METHODS, default="none",
                   help="none (default): a metric model's metres as given, a relative one spread from --near to --far; "
                   "points: fitted to --point; ground: to a level camera's ground plane (--focal-px, --height); "
                   "scene: to the scene's own depth (--blend, --camera)")
    p.add_argument("--point", nargs=3, type=float, action="append", default=[], metavar=("X", "Y", "METRES"),
                   help="a pixel (column, row from the top left) at a known planar distance (repeat, ≥ 2)")
    p.add_argument("--focal-px", type=float, help="focal length in pixels (ground)")
    p.add_argument("--height", type=float, help="camera height above the ground in metres (ground)")
    p.add_argument("--blend", help="the .blend to align to (scene; default: the open file)")
    p.add_argument("--camera", help="the photo's camera in the scene (scene; default: the scene camera)")
    p.add_argument("--near", type=float, default=1.0, help="relative estimate without alignment: "
                   "nearest (m, default: 1)")
    p.add_argument("--far", type=float, default=10.0, help="relative estimate without alignment: "
                   "farthest (m, default: 10)")
    return p


def _check_alignment_options(args: argparse.Namespace) -> None:
    """Refuse alignment options the chosen alignment would ignore, and a scene alignment with no scene.

    :raises BadInput: ``--point`` without ``--align points``, ``--height`` without ``--align ground``, ``--align
        scene`` with no ``--blend`` where no file is open.
    """
    if args.point and args.align != "points":
        raise BadInput(f"--point is for --align points (the alignment is {args.align!r}); add --align points")
    if args.height is not None and args.align != "ground":
        raise BadInput(f"--height is for --align ground (the alignment is {args.align!r}); add --align ground")
    if args.align == "scene" and not args.blend and not bpy.data.filepath:
        raise BadInput("--align scene needs the scene: give --blend FILE (no file is open)")


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``estimate-depth``: estimate, align, write metres.

    :param args: Parsed arguments (see :func:`add_parser`).
    :param events: The CLI's event writer.
    :return: Summary for the ``done`` event (timings, what the estimate was, the alignment).
    :raises BadInput: For a bad output name, photo or alignment.
    :raises ModelUnavailable: For missing or refused weights.
    """
    out = check_out_file(args.out, (".exr", ".npy"), "depth")  # all checked before the estimator loads
    check_writable_dir(out.parent)
    _check_alignment_options(args)
    check_near_far(args.near, args.far)
    scene = None
    if args.align == "scene":
        open_blend(args.blend)
        scene = bpy.context.scene
    t = time.perf_counter()
    with model_folder_hint(args.model):
        depth = estimate_depth(args.photo, args.model, args.align, args.device, points=[tuple(p) for p in args.point],
                               focal_px=args.focal_px, height=args.height, scene=scene, camera=args.camera,
                               near=args.near, far=args.far)
    extra = {"estimate": depth.estimate.kind, "model": depth.estimate.model, "alignment": depth.alignment.to_dict()}
    if depth.focal_px:
        extra["focal_px"] = depth.focal_px
    if depth.camera is not None:  # aligned to a scene: its camera, so import-depth puts the mesh on its surfaces
        extra["camera"] = depth.camera.to_dict()
    write_depth(out, depth.metres, None, extra)
    events.emit("artifact", kind="depth", path=str(out), alignment=depth.alignment.to_dict())
    return {"timings": {"estimate": depth.estimate.seconds, "total": time.perf_counter() - t},
            "estimate": depth.estimate.kind, "alignment": depth.alignment.to_dict()}
