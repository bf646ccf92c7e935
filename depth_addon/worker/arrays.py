# SPDX-License-Identifier: GPL-3.0-or-later
"""Arrays between Blender and the worker: ``.npy`` files in a request's folder, written atomically, read
without pickles (no bpy)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..io.atomic import atomic_path


def write_array(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save ``array`` as ``.npy`` under a temporary name and rename it to ``path``.

    :param path: Target file (should end in ``.npy``).
    :param array: Any non-object numpy array.
    """
    arr = np.ascontiguousarray(array)
    if arr.dtype == object:
        raise BadInput("object arrays cannot be sent to the worker")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)
    return Path(path)


def read_array(path: str | os.PathLike) -> np.ndarray:
    """Load an ``.npy`` written by :func:`write_array` (pickles are refused).

    :param path: The file.
    :raises BadInput: When it is missing or not a plain array file.
    """
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read array {path}: {exc}") from exc


def write_request_arrays(folder: Path, depth: np.ndarray, mask: np.ndarray | None, params: dict) -> dict:
    """Write a ``generate`` request's arrays into ``folder``; returns ``params`` with their paths.

    :param folder: The request's folder.
    :param depth: H×W depth in metres.
    :param mask: H×W bool mask, or None.
    :param params: Request fields; ``init_image`` (float32), ``init_mask`` (bool) and ``segments`` (int32) may
        be arrays.
    """
    full = {**params, "depth": str(write_array(folder / "depth.npy", np.asarray(depth, np.float32))),
            "out_dir": str(folder)}
    if mask is not None:
        full["mask"] = str(write_array(folder / "mask.npy", np.asarray(mask, bool)))
    for key, dtype in (("init_image", np.float32), ("init_mask", bool), ("segments", np.int32)):
        if isinstance(full.get(key), np.ndarray):
            full[key] = str(write_array(folder / f"{key}.npy", full[key].astype(dtype)))
        elif full.get(key) is None:
            full.pop(key, None)
    return full
