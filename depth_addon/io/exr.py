# SPDX-License-Identifier: GPL-3.0-or-later
"""Float EXR read/write through the OpenEXR bindings (no bpy).

OpenEXR reads Blender's own EXRs (single-layer ``V``, multilayer ``ViewLayer.Depth.Z``), which
OpenCV and imageio cannot; it also lets us store our metadata as header attributes.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import BadInput, ModelUnavailable
from .atomic import atomic_path


def _openexr():
    try:
        import OpenEXR
    except ImportError:  # pragma: no cover - depends on the installation
        raise ModelUnavailable("writing EXR needs the OpenEXR package (pip install OpenEXR)") from None
    return OpenEXR


def write_exr(path: str | os.PathLike, channels: dict[str, np.ndarray], meta: dict[str, str] | None = None) -> None:
    """Write float32 channels (H×W each, row 0 = top) to a ZIP-compressed scanline EXR atomically.

    :param path: Target ``.exr`` path.
    :param channels: Channel name → H×W array; all the same shape.
    :param meta: String header attributes (keys are prefixed with ``depth_addon.``).
    """
    exr = _openexr()
    shapes = {np.asarray(a).shape for a in channels.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise BadInput(f"EXR channels must be H×W arrays of one shape, got {sorted(shapes)}")
    header = {"compression": exr.ZIP_COMPRESSION, "type": exr.scanlineimage}
    for key, value in (meta or {}).items():
        header[f"depth_addon.{key}"] = str(value)
    data = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in channels.items()}
    with atomic_path(path) as tmp:
        exr.File(header, data).write(str(tmp))


def read_exr(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read every channel of every part and the ``depth_addon.*`` header attributes.

    :return: ``(channels, meta)``; channel names are as stored (multilayer names keep their layer
        prefix), ``meta`` keys have the ``depth_addon.`` prefix removed.
    """
    exr = _openexr()
    try:
        f = exr.File(str(path))
    except Exception as exc:  # the bindings raise plain exceptions for unreadable files
        raise BadInput(f"cannot read EXR {os.fspath(path)!r}: {exc}") from None
    channels: dict[str, np.ndarray] = {}
    meta: dict[str, str] = {}
    for part in f.parts:
        for name, ch in part.channels.items():
            channels[name] = np.asarray(ch.pixels)
        for key, value in part.header.items():
            if isinstance(key, str) and key.startswith("depth_addon."):
                meta[key[len("depth_addon.") :]] = value if isinstance(value, str) else str(value)
    return channels, meta
