# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-object prompts on the command line: ``--object-prompt NAME=TEXT`` and ``texture --dry-run``.

``--dry-run`` renders the camera's depth with object ids, routes the prompt's phrases to the parts it sees
and prints which material each part got and why, without generating or writing anything.
"""

from __future__ import annotations

import argparse

import bpy

from .. import api
from ..app.scene_prompts import check_objects, run_object_prompts, run_warnings, scene_segments
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
    """``--object-prompt`` values as a mapping, read after the file is open: a name that holds ``=`` itself is
    found when an object of the open scene has it (the longest such name wins).

    :raises BadInput: For a value without ``=``, with an empty name, with no text, or for a name given twice.
    """
    names = {o.name for o in bpy.context.scene.objects} if bpy.context.scene is not None else set()
    out = {}
    for item in getattr(args, "object_prompt", None) or []:
        splits = [i for i, c in enumerate(item) if c == "="]
        if not splits or not item[:splits[0]].strip():
            raise BadInput(f"--object-prompt takes NAME=TEXT, got {item!r}")
        at = next((i for i in reversed(splits) if item[:i].strip() in names), splits[0])
        name, text = item[:at].strip(), item[at + 1:].strip()
        if not text:
            raise BadInput(f"--object-prompt {item!r} gives {name!r} no text; leave it out to let the scene prompt "
                           "paint it")
        if name in out:
            raise BadInput(f"--object-prompt names {name!r} twice ({out[name]!r} and {text!r}); give each object one "
                           "prompt")
        out[name] = text
    return out


def scene_names(text: str | None) -> list[str] | None:
    """Comma-separated object names (``--objects``, ``--cameras``), read after the file is open: a name that holds
    a comma itself is found when an object of the open scene has it (the longest such name wins). A name is tried
    only as far as the most commas a scene name holds, so thousands of names resolve in linear time.

    :param text: The option's value.
    :return: The names, or None when ``text`` is empty or None.
    :raises BadInput: For text that names nothing (only commas and spaces).
    """
    if not text:
        return None
    known = {o.name for o in bpy.context.scene.objects} if bpy.context.scene is not None else set()
    pieces, names, i = text.split(","), [], 0
    widest = max((name.count(",") for name in known), default=0)  # a known name spans at most widest + 1 pieces
    while i < len(pieces):
        last = min(len(pieces), i + 1 + widest)
        end = next((j for j in range(last, i + 1, -1) if ",".join(pieces[i:j]).strip() in known), i + 1)
        if name := ",".join(pieces[i:end]).strip():
            names.append(name)
        i = end
    if not names:
        raise BadInput(f"expected comma-separated names, got {text!r}")
    return names


def dry_run(args: argparse.Namespace, events: EventSink) -> dict:
    """``texture --dry-run``: the assignment of materials to parts, printed, nothing generated or written.

    :param args: Parsed ``texture`` arguments.
    :param events: The CLI's event writer.
    :return: The summary for the ``done`` event (``parts``).
    """
    open_blend(args.blend, events)
    scene = bpy.context.scene
    names = scene_names(getattr(args, "objects", None)) or []
    check_objects(names, [o.name for o in scene.objects], scene)  # as the run refuses them
    prompts = run_object_prompts(scene, object_prompts(args))  # as a run merges them
    depth = api.render_depth(scene, getattr(args, "camera", None), args.resolution, args.engine, ids=True)
    parts = scene_segments(depth, args.prompt, prompts).only(names)  # as the run reports the objects it textures
    parsed = parse_scene_prompt(args.prompt)
    for line in run_warnings(args.prompt, prompts, getattr(args, "generator", None), parts, scene, names):
        warn(events, line)
    for line in depth.meta.get("warnings", ()):  # as the run will say (instancers that draw nothing ...)
        warn(events, line)
    report_parts(events, args.prompt, parts.decisions)
    return {"parts": parts.decisions, "unused": parts.unused, "unknown": parsed.unknown}


def report_parts(events: EventSink, prompt: str, decisions: list[dict]) -> None:
    """One ``part`` event per part: which material it got, and why (a dry run and a real run alike).

    :param events: The CLI's event writer.
    :param prompt: The scene prompt (the one material of every object when there are no decisions).
    :param decisions: The run's routing decisions (:attr:`~depth_addon.app.scene_prompts.SceneSegments.decisions`).
    """
    if not decisions:
        events.emit("part", part="(every object)", prompt=prompt, reason="one material", detail="the whole prompt")
    for decision in decisions:
        events.emit("part", **{k: decision[k] for k in ("part", "prompt", "reason", "detail")})

