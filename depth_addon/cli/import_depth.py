# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``import-depth``: a depth map (and colour image) into a .blend as mesh + camera.

``depth_cli import-depth IMAGE [--color IMG] [--values depth|inverse|disparity] [--baseline M]
[--focal-px F | --fov DEG | --focal-mm MM | --ortho-width M] [--cx PX --cy PX] [--doffs PX]
[--mode reconstruct|displace] [--displace-method modifier|material] --out FILE.blend``. Bad input exits with 2
and writes nothing; the .blend is written under a temporary name and renamed, and generated images are packed
into it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import bpy

from .. import api
from ..app.blendfile import save_blend
from ..blender.mesh.build import SHADING
from ..depth_import import DISPLACE_METHODS, KINDS, MODES, ImportOptions
from ..depth_import.preprocess import DENOISE
from ..errors import BadInput
from ..io.atomic import check_writable_dir
from .common import EventSink, check_out_file, check_range, open_blend, warn

COMMAND = "import-depth"


def add_parser(subparsers, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``import-depth`` subcommand.

    :param subparsers: The ``add_subparsers()`` object of the main parser.
    :param common_parent: Parent parser with the options every command accepts (``--json``).
    """
    p = subparsers.add_parser(COMMAND, parents=[common_parent], help="depth map → mesh + camera in a .blend",
                              description="A depth map (and colour image) into a .blend as mesh + camera.")
    p.add_argument("image", help="depth file: .png (8/16-bit), .tif, .exr, .npy, .npz or .pfm")
    p.add_argument("--out", required=True, help="output .blend")
    p.add_argument("--blend", help="import into this .blend (default: an empty file)")
    p.add_argument("--color", help="colour image for the material, at its own resolution (any size)")
    p.add_argument("--channel", help="EXR channel, image channel (R/G/B/A), NPZ array or NPY index")
    v = p.add_argument_group("values")
    v.add_argument("--values", choices=KINDS, default="depth",
                   help="metric depth, relative inverse depth (monocular estimators) or stereo disparity")
    v.add_argument("--scale", type=float, help="factor on the raw values (e.g. 0.001 for millimetres)")
    v.add_argument("--shift", type=float, help="offset after --scale")
    v.add_argument("--normalise-values", action="store_true", help="divide integer values by their maximum first")
    v.add_argument("--known", nargs=3, type=float, action="append", metavar=("ROW", "COL", "METRES"),
                   help="a known distance for the inverse-depth fit (repeat)")
    v.add_argument("--near", type=float, default=1.0, help="relative inverse depth: nearest distance (m)")
    v.add_argument("--far", type=float, default=10.0, help="relative inverse depth: farthest distance (m)")
    v.add_argument("--baseline", type=float, help="stereo baseline in metres")
    v.add_argument("--doffs", type=float, default=0.0, help="stereo principal-point x-offset (px, Middlebury)")
    c = p.add_argument_group("camera (pixel coordinates: 0 = left/top edge of the first pixel)")
    lens = c.add_mutually_exclusive_group()
    lens.add_argument("--focal-px", type=float, help="focal length fx in pixels")
    lens.add_argument("--fov", type=float, help="horizontal field of view in degrees")
    lens.add_argument("--focal-mm", type=float, help="focal length in mm (with --sensor-mm)")
    lens.add_argument("--ortho-width", type=float, metavar="METRES",
                      help="orthographic camera: the view's width in metres (parallel rays, no lens)")
    c.add_argument("--fy", type=float, help="vertical focal length in pixels (default fx)")
    c.add_argument("--sensor-mm", type=float, default=36.0, help="sensor size in mm, along the side --sensor-fit says")
    c.add_argument("--sensor-fit", choices=("auto", "horizontal", "vertical"), default="auto",
                   help="which image side the sensor spans, as a Blender camera's Sensor Fit (auto: the larger)")
    c.add_argument("--cx", type=float, help="principal point x in pixels (default: centre)")
    c.add_argument("--cy", type=float, help="principal point y in pixels (default: centre)")
    g = p.add_argument_group("pre-processing and geometry")
    g.add_argument("--mode", choices=MODES, default="reconstruct",
                   help="reconstruct: a mesh through the camera's rays (default); displace: a plane displaced by depth")
    g.add_argument("--displace-method", choices=DISPLACE_METHODS, default="modifier",
                   help="displace mode: Displace modifier on a plane with a vertex per pixel, or material "
                        "displacement on a coarse plane with a Subdivision modifier (render-time relief)")
    g.add_argument("--normalise-range", nargs=2, type=float, metavar=("NEAR", "FAR"),
                   help="map valid depth linearly onto NEAR..FAR metres")
    g.add_argument("--clip", nargs=2, type=float, metavar=("LOW", "HIGH"), help="clamp to these percentiles")
    g.add_argument("--fill-holes", action="store_true",
                   help="inpaint invalid pixels (not the background a file marks: inf, Blender's 1e10)")
    g.add_argument("--max-hole", type=int, default=0, help="fill only holes up to this many pixels")
    g.add_argument("--denoise", choices=DENOISE, default="none",
                   help="edge-aware denoise (default: none; guided reads --color)")
    g.add_argument("--denoise-sigma", type=float, default=0.03, help="depth jump kept as an edge, relative to the "
                   "depth (bilateral; guided: colour contrast kept), default: 0.03")
    g.add_argument("--denoise-radius", type=int, default=3, help="denoise radius in pixels (default: 3)")
    g.add_argument("--downsample", type=int, default=1, help="integer block size")
    g.add_argument("--tear-ratio", type=float, default=1.1, help="drop faces across depth ratios above this")
    g.add_argument("--no-tear", action="store_true", help="keep faces across depth jumps")
    g.add_argument("--color-mismatch", choices=("resize", "refuse"), default="resize",
                   help="a colour image of another size: use it at its own resolution (resize: guided denoising "
                   "reads a copy at the depth's size) or refuse it")
    g.add_argument("--shading", choices=[s.lower() for s in SHADING], default="principled",
                   help="the colour material: principled (lit by the scene, default) or emission (as the image)")
    g.add_argument("--pack", action="store_true", help="also pack the colour file into the .blend")
    return p


def options_from_args(args: argparse.Namespace) -> ImportOptions:
    """The :class:`ImportOptions` the parsed arguments describe.

    :param args: Parsed ``import-depth`` arguments.
    """
    return ImportOptions.from_flat(
        values=args.values, scale=args.scale, shift=args.shift, normalise=args.normalise_values,
        known=args.known or (), near=args.near, far=args.far, baseline=args.baseline, doffs=args.doffs,
        channel=args.channel, fov=args.fov, focal_px=args.focal_px, fy=args.fy, focal_mm=args.focal_mm,
        sensor_mm=args.sensor_mm, sensor_fit=args.sensor_fit.upper(), cx=args.cx, cy=args.cy,
        ortho_width=args.ortho_width, mode=args.mode,
        displace_method=args.displace_method, color_mismatch=args.color_mismatch,
        normalise_range=args.normalise_range, clip=args.clip, fill_holes=args.fill_holes, max_hole=args.max_hole,
        denoise=args.denoise, denoise_sigma=args.denoise_sigma, denoise_radius=args.denoise_radius,
        downsample=args.downsample, tear_ratio=None if args.no_tear else args.tear_ratio)


def _open(path: str | None, events: EventSink) -> None:
    """Open ``path``; without one keep the file Blender opened, or start from an empty one.

    :param path: ``--blend`` or None.
    :param events: Reports missing linked libraries as warnings.
    """
    if path is None:
        if not bpy.data.filepath:  # nothing opened (module or `blender -b` without a file): start empty
            bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        return
    open_blend(path, events)


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``import-depth``: read, convert, build mesh + camera (+ material), save the .blend.

    :param args: Parsed arguments (see :func:`add_parser`).
    :param events: The CLI's event writer.
    :return: Summary for the ``done`` event (timings, counts, warnings).
    :raises BadInput: For every input problem (exit code 2); nothing is written then.
    """
    start = time.perf_counter()
    out = check_out_file(args.out, (".blend",), ".blend")
    check_range("--downsample", args.downsample, 1)
    check_range("--max-hole", args.max_hole, 0)
    if args.blend and Path(args.blend).resolve() == out.resolve():
        raise BadInput(f"--out {args.out} is the input --blend; write the result to another file")
    check_writable_dir(out.parent)
    options = options_from_args(args)
    _open(args.blend, events)
    result = api.import_depth_map(args.image, args.color, options=options, shading=args.shading.upper())
    for message in result.warnings:
        warn(events, message)
    t = time.perf_counter()
    for image in (result.depth_image, result.color_image):
        if image is not None and image.packed_file is None and (image.source == "GENERATED" or args.pack):
            image.pack()
    timings = dict(result.timings, pack=time.perf_counter() - t)
    t = time.perf_counter()
    save_blend(out)
    timings["save"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start
    events.emit("artifact", kind="blend", path=str(out))
    mesh = result.object.data
    return {"timings": timings, "warnings": result.warnings, "object": result.object.name,
            "camera": result.camera.name, "vertices": len(mesh.vertices), "faces": len(mesh.polygons),
            "intrinsics": result.prepared.intrinsics.to_dict(), "mode": result.prepared.mode,
            "displace_method": result.prepared.displace_method if result.prepared.mode == "displace" else None}
