# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker's ``estimate`` request: a photo's depth from local estimator weights (no bpy).

Blender's own Python has no torch; the worker's has (Preferences › Install PyTorch, or a worker Python of the
user's), so "Import Photo as Mesh" estimates here, like generation, and Blender stays responsive. The loaded
estimator is kept with the worker's generators until ``release``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..errors import BadInput, Cancelled
from ..estimation.estimator import Estimator, check_photo, default_folder, estimate_photo
from .protocol import Estimated, Request, write_array


def serve_estimate(request: Request, models: dict, progress: Callable[[float, str], None],
                   cancelled: Callable[[], bool]) -> Estimated:
    """Estimate the photo of an ``estimate`` request and write its values next to the request.

    :param request: The request; params ``photo``, ``model`` (folder, empty for the default), ``device``
        (``auto``, ``cpu``, ``cuda`` …) and ``out_dir``.
    :param models: The worker's model cache (the estimator is kept under its folder and device).
    :param progress: ``progress(fraction, message)``.
    :param cancelled: True once the request was cancelled.
    :raises BadInput: For a missing or unusable photo.
    :raises ModelUnavailable: For missing or refused weights.
    :raises Cancelled: When cancelled before or after the network ran.
    """
    start = time.perf_counter()
    params = request.params
    photo, folder = params.get("photo"), str(params.get("model") or "") or str(default_folder())
    if not isinstance(photo, str) or not photo or not params.get("out_dir"):
        raise BadInput("an estimate request needs a photo path and an output folder")
    check_photo(photo)  # the memory guard, before any model is loaded
    key = f"estimator:{folder}:{params.get('device') or 'cpu'}"
    if key not in models:
        progress(0.1, "loading the depth estimator")
        estimator = Estimator(folder, str(params.get("device") or "cpu"))
        estimator.load()
        models[key] = estimator
    if cancelled():
        raise Cancelled("depth estimation cancelled")
    progress(0.5, "estimating depth")
    estimate = estimate_photo(photo, estimator=models[key])
    if cancelled():
        raise Cancelled("depth estimation cancelled")
    path = write_array(Path(params["out_dir"]) / "result.npy", estimate.values)
    progress(1.0, "done")
    focal = estimate.intrinsics.fx if estimate.intrinsics is not None else None
    return Estimated(request.id, str(path), estimate.kind, estimate.model, round(time.perf_counter() - start, 4), focal)
