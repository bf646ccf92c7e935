# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``restyle``: a photo painted anew on its own estimated depth ("same room in marble").

``depth_cli restyle PHOTO --prompt TEXT --out styled.png [--generator NAME] [--denoise 0..1] [--seed N]
[--model DIR] [--depth-out depth.exr] [--near M --far M]``. The photo's depth comes from a local estimator (as
``estimate-depth``); ``diffusers`` then repaints the photo itself under the depth control (image-to-image, how much
set by ``--denoise``), the other generators paint its depth alone. Missing weights exit with 3, bad input with 2;
nothing is written then.
"""

from __future__ import annotations

import argparse
import time

from ..app.estimate import restyle_photo
from ..app.scene_prompts import prompt_warnings
from ..io.atomic import check_writable_dir
from ..io.depth_files import write_depth
from ..io.png import to_uint, write_png
from .common import EventSink, check_near_far, check_not_input, check_out_file, check_range, model_folder_hint, warn

COMMAND = "restyle"


def add_parser(subparsers, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``restyle`` subcommand.

    :param subparsers: The ``add_subparsers()`` object of the main parser.
    :param common_parent: Parent parser with the options every command accepts (``--json``).
    """
    p = subparsers.add_parser(COMMAND, parents=[common_parent], help="photo → the same scene in a new style (.png)",
                              description="A photo painted anew on its own estimated depth ('same room in marble').")
    p.add_argument("photo", help="photo: .png, .jpg, .tif, .bmp or .webp")
    p.add_argument("--prompt", required=True, help="the new style, e.g. 'same room in marble'")
    p.add_argument("--out", required=True, help="output .png (8-bit sRGB)")
    p.add_argument("--generator", help="generator name (default: the embedded default; diffusers restyles the photo)")
    p.add_argument("--denoise", type=float, help="diffusers: share of the photo repainted, 0..1 (default 0.75)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--model", help="local depth estimator folder (config.json + .safetensors)")
    p.add_argument("--device", default="cpu", help="estimator device: cpu, cuda, mps or auto "
                   "(default: cpu)")
    p.add_argument("--depth-out", help="also write the photo's depth in metres (.exr or .npy)")
    p.add_argument("--near", type=float, default=1.0, help="relative estimate: nearest distance (m, "
                   "default: 1)")
    p.add_argument("--far", type=float, default=10.0, help="relative estimate: farthest distance (m, "
                   "default: 10)")
    return p


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``restyle``: estimate the photo's depth, generate on it with the photo as paint, write the image.

    :param args: Parsed arguments (see :func:`add_parser`).
    :param events: The CLI's event writer.
    :return: Summary for the ``done`` event (timings, generator, whether the photo's pixels were restyled).
    :raises BadInput: For a bad output name, photo or option.
    :raises ModelUnavailable: For missing or refused weights.
    """
    out = check_out_file(args.out, (".png",), "image")
    depth_out = check_out_file(args.depth_out, (".exr", ".npy"), "depth", "--depth-out") if args.depth_out else None
    for line in prompt_warnings(args.prompt, generator=args.generator):
        warn(events, line)
    if args.denoise is not None:
        check_range("--denoise", args.denoise, 0.01, 1.0)
    check_near_far(args.near, args.far)
    for path, option in ((out, "--out"), (depth_out, "--depth-out")):
        if path is not None:
            check_not_input(path, args.photo, option=option)
            check_writable_dir(path.parent)
    t = time.perf_counter()
    with model_folder_hint(args.model):
        done = restyle_photo(args.photo, args.prompt, args.seed, args.generator, args.model, args.device,
                             args.denoise, args.near, args.far, progress=events.progress)
    seconds = time.perf_counter() - t
    if not done.used_photo:
        warn(events, f"the {done.generator} generator paints from the photo's depth alone; "
                     "--generator diffusers also restyles the photo's pixels")
    write_png(out, to_uint(done.rgb, 8), {"prompt": args.prompt, "seed": str(args.seed), "generator": done.generator,
                                          "source": str(args.photo)})
    events.emit("artifact", kind="restyled", path=str(out))
    if depth_out is not None:
        write_depth(depth_out, done.depth.metres, None, {"estimate": done.depth.estimate.kind,
                                                         "alignment": done.depth.alignment.to_dict()})
        events.emit("artifact", kind="depth", path=str(depth_out))
    return {"timings": {"total": seconds, "estimate": done.depth.estimate.seconds}, "generator": done.generator,
            "restyled_photo": done.used_photo}
