# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``batch``: run, plan or split a job file (resumable; farms run one frame chunk per task)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..app.batch_run import plan_job, run_job
from ..batch import load_job, split_units
from ..io.atomic import write_text_atomic
from .common import EventSink, warn

COMMAND = "batch"


def add_parser(subparsers, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``batch`` subcommand.

    :param subparsers: The ``add_subparsers()`` object of the main parser.
    :param common_parent: Parent parser with the options every command accepts (``--json``).
    """
    p = subparsers.add_parser(COMMAND, parents=[common_parent], help="run a job file (resumable)")
    p.add_argument("job", help="job .json (see depth_addon/batch/job.py for the format)")
    p.add_argument("--task", help="run only this task")
    p.add_argument("--frames", nargs=2, type=int, metavar=("START", "END"), help="run only this frame chunk")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--plan", action="store_true", help="write <job>.planned.json with cameras and locked ranges")
    mode.add_argument("--split", type=int, metavar="CHUNK", help="print the farm tasks (frame chunks) as JSON")
    return p


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``batch``: with ``--split`` print the frame chunks, with ``--plan`` write the planned job, else run it.

    :param args: Parsed arguments (see :func:`add_parser`); ``cancel`` is polled between units.
    :param events: The CLI's event writer.
    :return: Summary for the ``done`` event.
    """
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
    if not summary["units"]:
        warn(events, "no unit to run: " + (f"--frames {args.frames[0]} {args.frames[1]} holds none of the tasks' "
                                           "frames" if args.frames else "the job's tasks have no cameras or frames"))
    if not events.as_json:
        print(f"{summary['done']} units done, {summary['skipped']} already done, {summary['units']} in all")
    return summary
