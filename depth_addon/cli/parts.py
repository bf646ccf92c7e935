# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-object prompts on the command line: ``--object-prompt NAME=TEXT`` and ``texture --dry-run``.

``--dry-run`` renders the camera's depth with object ids, routes the prompt's phrases to the parts it sees
and prints which material each part got and why, without generating or writing anything.
"""

from __future__ import annotations

import argparse

import bpy

from .. import api
from ..app.scene_prompts import check_object_prompts, prompt_warnings, scene_segments
from ..errors import BadInput
from ..generation.scene_prompt import parse_scene_prompt
from .common import EventSink, open_blend, warn


def add_part_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--object-prompt`` and ``--dry-run`` to the ``texture`` parser.

    :param parser: The ``texture`` sub-parser.
    """
    parser.add_argument("--object-prompt", action="append", default=[], metavar="NAME=TEXT",
                        help="paint object NAME as TEXT says, whatever the prompt routes to it (repeatable)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print which material each object gets and why, then stop (nothing is written)")


def object_prompts(args: argparse.Namespace) -> dict[str, str]:
    """``--object-prompt`` values as a mapping.

    :raises BadInput: For a value without ``=`` or with an empty name.
    """
    out = {}
    for item in getattr(args, "object_prompt", None) or []:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--object-prompt takes NAME=TEXT, got {item!r}")
        out[name.strip()] = text.strip()
    return out


def dry_run(args: argparse.Namespace, events: EventSink) -> dict:
    """``texture --dry-run``: the assignment of materials to parts, printed, nothing generated or written.

    :param args: Parsed ``texture`` arguments.
    :param events: The CLI's event writer.
    :return: The summary for the ``done`` event (``parts``).
    """
    open_blend(args.blend, events)
    scene = bpy.context.scene
    prompts = check_object_prompts(object_prompts(args), [o.name for o in scene.objects])
    depth = api.render_depth(scene, getattr(args, "camera", None), args.resolution, args.engine, ids=True)
    parts = scene_segments(depth, args.prompt, prompts)
    parsed = parse_scene_prompt(args.prompt)
    for line in prompt_warnings(args.prompt, prompts):
        warn(events, line)
    for text in parts.unused:
        warn(events, f"no object matches the phrase {text!r}")
    if not parts.decisions:
        events.emit("part", part="(every object)", prompt=args.prompt, reason="one material", detail="")
    for decision in parts.decisions:
        events.emit("part", **{k: decision[k] for k in ("part", "prompt", "reason", "detail")})
    return {"parts": parts.decisions, "unused": parts.unused, "unknown": parsed.unknown}

