# SPDX-License-Identifier: GPL-3.0-or-later
"""Render a still through the scene's compositor to a PNG, restoring every setting afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from ..io.atomic import atomic_path
from .render_state import Overrides, render_held


def render_still(scene: bpy.types.Scene, path: str | os.PathLike, engine: str = "CYCLES", samples: int = 16,
                 resolution: tuple[int, int] | None = None) -> Path:
    """Render ``scene`` to an 8-bit RGB PNG at ``path`` (written atomically).

    Engine, samples, output path and file format are changed only for this render.

    :param scene: Scene to render (its camera, compositor and view transform are used as they are).
    :param path: Target ``.png`` path.
    :param engine: Render engine identifier.
    :param samples: Cycles samples.
    :param resolution: ``(width, height)`` at 100 %; the scene's own when None.
    """
    path = Path(path)
    with atomic_path(path) as tmp, Overrides() as ov:
        r = scene.render
        ov.set(r, "engine", engine)
        if engine == "CYCLES":
            ov.set(scene.cycles, "samples", samples)
            ov.set(scene.cycles, "device", "CPU")
        if resolution is not None:
            ov.set(r, "resolution_x", resolution[0])
            ov.set(r, "resolution_y", resolution[1])
            ov.set(r, "resolution_percentage", 100)
        ov.set(r, "filepath", str(tmp))
        ov.set(r, "use_file_extension", False)
        ov.image_format(r.image_settings, "PNG", "RGB", "8")
        render_held(write_still=True, scene=scene.name)
    return path
