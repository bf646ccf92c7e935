# SPDX-License-Identifier: GPL-3.0-or-later
"""CLI commands for pipelines: ``generate`` (depth file → image), ``batch`` (job files) and ``info``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..errors import BadInput, ModelUnavailable
from ..io.atomic import check_writable_dir, write_text_atomic


def add_parsers(sub, common: argparse.ArgumentParser) -> None:
    """Add ``generate``, ``batch`` and ``info`` to the CLI's subparsers.

    :param sub: The ``add_subparsers`` object of the main parser.
    :param common: Parent parser with the shared options (``--json``).
    """
    gen = sub.add_parser("generate", parents=[common], help="depth file in, image out (no scene needed)")
    gen.add_argument("depth", help=".exr/.npy (metres) or .png with its depth mapping")
    gen.add_argument("--out", required=True, help="output .png (8-bit sRGB) or .exr (float)")
    gen.add_argument("--prompt", default="")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--generator", help="generator name (default: the embedded default)")
    gen.add_argument("--size", nargs=2, type=int, metavar=("W", "H"), help="output size (default: the depth's)")

    batch = sub.add_parser("batch", parents=[common], help="run a job file (resumable)")
    batch.add_argument("job", help="job .json (see depth_addon/batch/job.py for the format)")
    batch.add_argument("--task", help="run only this task")
    batch.add_argument("--frames", nargs=2, type=int, metavar=("START", "END"), help="run only this frame chunk")
    mode = batch.add_mutually_exclusive_group()
    mode.add_argument("--plan", action="store_true", help="write <job>.planned.json with cameras and locked ranges")
    mode.add_argument("--split", type=int, metavar="CHUNK", help="print the farm tasks (frame chunks) as JSON")

    sub.add_parser("info", parents=[common], help="versions, device and generators")


def cmd_generate(args: argparse.Namespace, events) -> dict:
    """``generate``: read depth, run the generator, write the image atomically."""
    from .. import api
    from ..io.depth_read import read_depth
    from ..io.exr import write_exr
    from ..io.png import to_uint, write_png

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".exr"):
        raise BadInput(f"unsupported image output {out.name!r}; use .png or .exr")
    check_writable_dir(out.parent)
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


def cmd_batch(args: argparse.Namespace, events) -> dict:
    """``batch``: run, plan or split a job file."""
    from ..app.batch_run import plan_job, run_job
    from ..batch import load_job, split_units

    job = load_job(args.job)
    if args.split is not None:
        chunks = split_units(job, chunk_size=args.split)
        events.emit("plan", chunks=chunks)
        if not events.as_json:
            print(json.dumps(chunks, indent=2))
        return {"chunks": len(chunks)}
    if args.plan:
        raw = json.loads(Path(args.job).read_text(encoding="utf-8"))
        planned = plan_job(job, raw, events.emit)
        out = Path(args.job).with_suffix(".planned.json")
        write_text_atomic(out, json.dumps(planned, indent=2))
        events.emit("artifact", kind="job", path=str(out))
        return {"tasks": len(planned["tasks"])}
    summary = run_job(job, events.emit, only_task=args.task, frames=tuple(args.frames) if args.frames else None,
                      cancel=getattr(args, "cancel", None))
    if not events.as_json:
        print(f"{summary['done']} units done, {summary['skipped']} already done, {summary['units']} in all")
    return summary


def cmd_info(args: argparse.Namespace, events) -> dict:
    """``info``: versions, torch device and the generators that can run here."""
    from ..generation import available_generators, get_generator
    from . import versions

    generators = {}
    for name in available_generators():
        try:
            get_generator(name)
            generators[name] = "ok"
        except ModelUnavailable as exc:
            generators[name] = f"unavailable: {exc}"
    device = "cpu"
    try:
        import torch

        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    except ImportError:
        device = "none (PyTorch not installed)"
    info = {"versions": versions(), "device": device, "generators": generators}
    if not events.as_json:
        for key, value in info["versions"].items():
            print(f"{key:>12}: {value}")
        print(f"{'device':>12}: {device}")
        for name, state in generators.items():
            print(f"{'generator':>12}: {name} ({state})")
    return info


COMMANDS = {"generate": cmd_generate, "batch": cmd_batch, "info": cmd_info}
