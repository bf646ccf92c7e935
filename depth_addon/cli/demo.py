# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``demo``: the built-in scene through the whole path, with a final composited render.

Same outputs as ``texture --render`` (``depth.exr``, ``depth.png``, ``generated.png``, ``render.png``,
``scene.blend``, ``run.json``); the same seed gives the same files.
"""

from __future__ import annotations

import argparse

import bpy

from ..blender.demo_scene import build_demo_scene
from .common import EventSink, add_resolution
from .texture import add_generation_arguments, check_arguments, claim, texture_and_save

COMMAND = "demo"
PROMPT = "brick walls, wooden posts and grass"


def add_parser(subparsers, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand.

    :param subparsers: The ``add_subparsers()`` object of the main parser.
    :param common_parent: Parent parser with the options every command accepts (``--json``).
    """
    p = subparsers.add_parser(COMMAND, parents=[common_parent], help="run the built-in demo")
    add_resolution(p, [512, 512])
    add_generation_arguments(p, prompt=PROMPT, reads_blend=False)
    return p


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``demo``: build the demo scene in an empty file, texture it, render it and save everything.

    :param args: Parsed arguments (see :func:`add_parser`).
    :param events: The CLI's event writer.
    :return: Summary for the ``done`` event (``timings``).
    """
    check_arguments(args)
    with claim(args, []) as out:
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        scene = build_demo_scene(bpy.context.scene, tuple(args.resolution))
        scene.view_settings.view_transform = "Standard"  # our own scene: show generated colours as they are
        args.render = True
        return texture_and_save(args, events, out)
