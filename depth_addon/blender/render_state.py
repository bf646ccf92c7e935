# SPDX-License-Identifier: GPL-3.0-or-later
"""Temporarily change Blender data and always put it back.

Rendering depth through an engine needs a different engine, passes, compositor and samples. The
user's settings must come back exactly, even when the render fails or is cancelled, so every
change goes through :class:`Overrides`, which records the old value first and restores in reverse
order in ``finally``.
"""

from __future__ import annotations

from typing import Any

import bpy

from ..io.atomic import interrupts_held
from .compat import set_image_format, set_multilayer_exr

_FORMAT = ("media_type", "file_format", "color_mode", "color_depth", "exr_codec", "use_exr_interleave")  # in order


class Overrides:
    """Record-and-restore for RNA attributes; use as a context manager.

    >>> with Overrides() as ov:
    ...     ov.set(scene.render, "engine", "CYCLES")
    """

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def _record_format(self, settings: Any) -> None:
        """Remember ``settings``' format as one unit, restored in dependency order.

        In Blender 5.0 setting ``media_type`` resets ``file_format`` and ``color_depth``, and a
        format is only valid under its media type; the codec list depends on the depth. So the old
        values come back in order (media type, format, mode, depth, codec), not attribute by attribute.
        """
        old = {n: getattr(settings, n) for n in _FORMAT if hasattr(settings, n)}

        def restore() -> None:
            for name in _FORMAT:
                if name in old and getattr(settings, name) != old[name]:
                    setattr(settings, name, old[name])

        self._undo.append((restore, "", None))

    def image_format(self, settings: Any, file_format: str, color_mode: str, color_depth: str) -> None:
        """Switch ``ImageFormatSettings`` to a single-layer image format, restorable as one unit.

        :param settings: The scene's ``render.image_settings`` (or a node's ``format``).
        :param file_format: New file format, e.g. ``PNG``.
        :param color_mode: ``BW``, ``RGB`` or ``RGBA``.
        :param color_depth: ``8``, ``16`` or ``32``.
        """
        self._record_format(settings)
        set_image_format(settings, file_format, color_mode, color_depth)

    def multilayer_exr(self, settings: Any) -> None:
        """Switch ``ImageFormatSettings`` to an uncompressed 32-bit multilayer EXR, restorable as one unit.

        :param settings: The scene's ``render.image_settings``.
        """
        self._record_format(settings)
        set_multilayer_exr(settings)

    def set(self, owner: Any, attr: str, value: Any) -> None:
        """Set ``owner.attr = value``, remembering the previous value (skipped when equal).

        :param owner: Any RNA struct (scene, render settings, view layer, …).
        :param attr: Attribute name.
        :param value: New value.
        """
        old = getattr(owner, attr)
        if old == value:
            return
        self._undo.append((owner, attr, old))
        setattr(owner, attr, value)

    def restore(self) -> None:
        """Undo every recorded change, newest first. Errors do not stop the remaining restores."""
        errors = []
        while self._undo:
            owner, attr, old = self._undo.pop()
            try:
                if attr:
                    setattr(owner, attr, old)
                else:
                    owner()
            except (AttributeError, TypeError, ValueError) as exc:  # pragma: no cover - defensive
                errors.append(f"{attr}: {exc}")
        if errors:  # pragma: no cover - defensive
            raise RuntimeError("could not restore: " + "; ".join(errors))

    def __enter__(self) -> Overrides:
        return self

    def __exit__(self, *exc) -> None:
        self.restore()


def render_held(**kwargs: Any) -> None:
    """``bpy.ops.render.render(**kwargs)`` with Ctrl+C held until it returns, then raised.

    Blender calls Python during a render; a KeyboardInterrupt raised there would print a traceback inside
    Blender instead of ending the command cleanly.

    :param kwargs: The render operator's arguments.
    """
    with interrupts_held():
        bpy.ops.render.render(**kwargs)
