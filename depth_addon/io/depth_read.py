# SPDX-License-Identifier: GPL-3.0-or-later
"""Read back the depth files this project writes (EXR, NPY, PNG with mapping) without Blender.

Used by the ``generate`` command: depth in, image out, no scene. EXR channel ``Z`` (ours), ``V``
(Blender's single-channel output) or ``*.Depth.Z`` (Blender's multilayer) are metres; NPY is
metres; a PNG is turned back into metres with the mapping recorded in its metadata. The camera
model recorded in the metadata comes back too, when present.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..camera import CameraModel
from ..errors import BadInput
from ..mapping import DepthMapping
from .exr import read_exr, read_exr_meta
from .png import read_png_text


def _pick_channel(channels: dict[str, np.ndarray], path: Path) -> np.ndarray:
    for name in ("Z", "V", "Y", "R"):
        if name in channels:
            return channels[name]
    depth = [n for n in channels if n.endswith("Depth.Z") or n.endswith(".Z")]
    if depth:
        return channels[depth[0]]
    raise BadInput(f"{path.name}: no depth channel (looked for Z, V, *.Depth.Z; found {sorted(channels)})")


def read_depth(path: str | os.PathLike) -> tuple[np.ndarray, CameraModel | None, dict]:
    """Depth in metres (H×W float32, ``inf`` background), the camera model if recorded, the metadata.

    :param path: ``.exr``, ``.npy`` or ``.png`` written by this project (PNG needs its mapping).
    :raises BadInput: Missing file, unknown format, PNG without mapping, unreadable content.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"depth file not found: {path}")
    suffix = path.suffix.lower()
    meta: dict = {}
    if suffix == ".exr":
        channels, meta = read_exr(path)
        depth = _pick_channel(channels, path)
    elif suffix == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise BadInput(f"cannot read {path.name}: {exc}") from None
        side = path.with_suffix(".json")
        if side.is_file():
            meta = json.loads(side.read_text(encoding="utf-8"))
    elif suffix == ".png":
        import cv2

        meta = read_png_text(path)
        if "mapping" not in meta:
            raise BadInput(f"{path.name} has no depth mapping in its metadata; import estimated depth with "
                           "import-depth instead")
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 2:
            raise BadInput(f"{path.name} is not a single-channel PNG")
        scale = 65535.0 if raw.dtype == np.uint16 else 255.0
        depth = DepthMapping.from_dict(json.loads(meta["mapping"])).unapply(raw.astype(np.float32) / scale)
    else:
        raise BadInput(f"unsupported depth file {path.name!r}; use .exr, .npy or .png")
    depth = np.asarray(depth, np.float32)
    if depth.ndim != 2 or min(depth.shape) < 1:
        raise BadInput(f"{path.name}: expected an H×W depth map, got shape {depth.shape}")
    depth = np.where(np.isfinite(depth) & (depth > 0) & (depth < 1e9), depth, np.inf).astype(np.float32)
    return depth, _camera_of(meta), meta


def _camera_of(meta: dict) -> CameraModel | None:
    """The camera model recorded in a depth file's metadata (JSON text, or a dict in an NPY sidecar), or None."""
    try:
        value = meta["camera"]
        return CameraModel.from_dict(json.loads(value) if isinstance(value, str) else value)
    except (KeyError, TypeError, ValueError, BadInput):
        return None


def stored_info(path: str | os.PathLike) -> tuple[CameraModel | None, DepthMapping | None, float | None, bool]:
    """What this project stores with the depth files it writes, read without their pixels: the camera (PNG text,
    EXR header, NPY sidecar), for a PNG the mapping of its values, the focal length in pixels an estimate from a
    photo records (``estimate-depth``), and whether the values are radial distances (``render-depth --radial``);
    None (False) for what a file does not carry.

    :param path: A depth file.
    """
    path = Path(path)
    suffix, meta = path.suffix.lower(), {}
    try:
        if suffix == ".png":
            meta = read_png_text(path)
        elif suffix == ".exr":
            meta = read_exr_meta(path)
        elif suffix == ".npy" and path.with_suffix(".json").is_file():
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError, BadInput):
        return None, None, None, False
    camera, mapping, focal = _camera_of(meta), None, None
    try:
        if suffix == ".png" and "mapping" in meta:
            mapping = DepthMapping.from_dict(json.loads(meta["mapping"]))
        if "focal_px" in meta and float(meta["focal_px"]) > 0:
            focal = float(meta["focal_px"])
    except (KeyError, TypeError, ValueError, BadInput):
        pass
    return camera, mapping, focal, meta.get("depth") == "radial"
