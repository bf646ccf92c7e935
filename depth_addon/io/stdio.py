# SPDX-License-Identifier: GPL-3.0-or-later
"""Standard output at the process level: keeping what libraries print as they load out of the command line's
JSON events, and flushing the C library's buffers (Blender's own ``printf`` lines) where Python can reach them."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


def flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (Blender's ``printf`` lines), where the platform lets Python reach it."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library by that name here (Windows): nothing to flush
        pass


@contextlib.contextmanager
def stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """While active, file descriptor 1 points at stderr: what ``import bpy`` logs (its OpenColorIO config line when
    ``$OCIO`` is set, as studio pipelines set it) goes there, and stdout keeps to the JSON events.

    :param active: Redirect (``--json`` runs); False leaves stdout as it is.
    """
    try:
        fd = sys.stdout.fileno() if active else None
    except (AttributeError, OSError, ValueError):  # a Python-level stream (a caller capturing it): nothing below it
        fd = None
    if fd is None:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    os.dup2(sys.stderr.fileno(), fd)
    try:
        yield
    finally:
        flush_c_stdio()
        os.dup2(saved, fd)
        os.close(saved)
