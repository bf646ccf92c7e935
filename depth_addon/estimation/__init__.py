# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth from a photo, the part without Blender: alignment of an estimate to metres and the estimator backend.

What this package owns: :mod:`.robust` (relative-error scale/shift fits), :mod:`.align` (the
:class:`Alignment` and the known-points, scene and range fits), :mod:`.ground` (the ground-plane fit) and
:mod:`.estimator` (a Depth Anything V2 or DPT model from a local safetensors folder; torch and
transformers are imported only when a model is loaded). What it may import: numpy, ``errors``,
``depth_import`` (image headers and readers) and ``generation.diffusers_files``, ``diffusers_load`` and
``diffusers_import`` (the weight-folder checks, the device choice, quiet loading).
Importing this package is cheap: it does not import :mod:`.estimator`.
"""

from .align import METHODS, SPACES, Alignment, fit_points, fit_range, fit_scene
from .ground import fit_ground

__all__ = ["METHODS", "SPACES", "Alignment", "fit_ground", "fit_points", "fit_range", "fit_scene"]
