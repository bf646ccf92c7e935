# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``generate``: a depth file in, a generated image out (no scene needed)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .. import api
from ..app.scene_prompts import prompt_warnings
from ..errors import BadInput
from ..io.atomic import check_writable_dir
from ..io.depth_read import read_depth
from ..io.exr import write_exr
from ..io.png import to_uint, write_png
from .common import EventSink, check_not_input, check_out_file, check_range, warn

COMMAND = "generate"


def add_parser(subparsers, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``generate`` subcommand.

    :param subparsers: The ``add_subparsers()`` object of the main parser.
    :param common_parent: Parent parser with the options every command accepts (``--json``).
    """
    p = subparsers.add_parser(COMMAND, parents=[common_parent], help="depth file in, image out (no scene needed)")
    p.add_argument("depth", help=".exr/.npy (metres) or .png with its depth mapping")
    p.add_argument("--out", required=True, help="output .png (8-bit sRGB) or .exr (float)")
    p.add_argument("--prompt", default="", help="what to paint, e.g. 'mossy stone'")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--generator", help="generator name (default: the embedded default)")
    p.add_argument("--size", nargs=2, type=int, metavar=("W", "H"), help="output size (default: the depth's)")
    return p


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``generate``: read depth, run the generator, write the image atomically.

    :param args: Parsed arguments (see :func:`add_parser`).
    :param events: The CLI's event writer.
    :return: Summary for the ``done`` event (``timings``).
    :raises BadInput: For an unsupported output or a depth map without valid pixels.
    """
    out = check_out_file(args.out, (".png", ".exr"), "image")
    check_not_input(out, args.depth)
    if args.size:
        check_range("--size W", args.size[0], 8, 8192)
        check_range("--size H", args.size[1], 8, 8192)
    check_writable_dir(out.parent)
    for line in prompt_warnings(args.prompt, generator=args.generator):
        warn(events, line)
    depth, camera, _meta = read_depth(args.depth)
    mask = np.isfinite(depth)
    if not mask.any():
        raise BadInput(f"{args.depth}: the depth map has no valid pixels")
    t = time.perf_counter()
    rgb = api.generate(depth, mask, prompt=args.prompt, seed=args.seed, generator=args.generator,
                       size=tuple(args.size) if args.size else None, camera=camera, progress=events.progress)
    seconds = time.perf_counter() - t
    meta = {"prompt": args.prompt, "seed": str(args.seed), "generator": args.generator or "default",
            "source": str(Path(args.depth).resolve())}
    if out.suffix.lower() == ".png":
        write_png(out, to_uint(rgb, 8), meta)
    else:
        write_exr(out, {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2]}, meta)
    events.emit("artifact", kind="generated", path=str(out))
    return {"timings": {"generate": seconds}}
