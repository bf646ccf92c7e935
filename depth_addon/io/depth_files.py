# SPDX-License-Identifier: GPL-3.0-or-later
"""Write a depth map in the form a user or a model asks for, with its mapping recorded.

* ``.exr`` — float32 metres in channel ``Z`` (``inf`` background kept), mapping in the header.
* ``.npy`` — float32 metres, written atomically (the mapping goes to a ``.json`` beside it).
* ``.png`` — the *mapped* values (what a model gets), 16-bit grey by default, mapping in ``iTXt``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..mapping import DepthMapping
from .atomic import write_bytes_atomic, write_text_atomic
from .exr import write_exr
from .png import to_uint, write_png

FORMATS = (".exr", ".png", ".npy")


def depth_metadata(mapping: DepthMapping | None, extra: dict | None = None) -> dict[str, str]:
    """String metadata describing a depth file: units, background, mapping and any extras."""
    meta = {"units": "metres", "background": "inf", "software": "depth_addon"}
    if mapping is not None:
        meta["mapping"] = json.dumps(mapping.to_dict())
    for key, value in (extra or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    return meta


def write_depth(path: str | os.PathLike, depth: np.ndarray, mapping: DepthMapping | None = None,
                extra: dict | None = None, bits: int = 16) -> Path:
    """Write ``depth`` (H×W float32 metres) to ``path``; the suffix picks the format.

    :param path: Target file (``.exr``, ``.png`` or ``.npy``).
    :param depth: Planar or radial depth in metres, ``inf`` where nothing was hit.
    :param mapping: Mapping for PNG output (required there) and recorded as metadata everywhere.
    :param extra: More metadata (camera, engine, …), JSON-encoded when not a string.
    :param bits: PNG bit depth, 8 or 16.
    :raises BadInput: For an unknown suffix or a PNG without a mapping.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BadInput(f"unsupported depth output {path.name!r}; use one of {', '.join(FORMATS)}")
    depth = np.asarray(depth, np.float32)
    meta = depth_metadata(mapping, extra)
    if suffix == ".exr":
        write_exr(path, {"Z": depth}, meta)
    elif suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, depth)
        write_bytes_atomic(path, buf.getvalue())
        write_text_atomic(path.with_suffix(".json"), json.dumps(meta, indent=2))
    else:
        if mapping is None:
            raise BadInput("a PNG depth map needs a mapping (linear, inverse or log)")
        meta["bits"] = str(bits)
        write_png(path, to_uint(mapping.apply(depth), bits), meta)
    return path
