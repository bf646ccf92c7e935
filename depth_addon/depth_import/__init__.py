# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth maps into a scene, the part without Blender: readers, value conversion, intrinsics,
pre-processing and the pixel-grid mesh arrays.

Typical use (the Blender side is ``depth_addon.blender.mesh.build``)::

    from depth_addon.depth_import import ImportOptions, prepare
    prepared = prepare("depth.png", "photo.jpg", ImportOptions.from_flat(values="inverse", fov=60))
"""

from .formats import MAX_PIXELS, probe
from .intrinsics import Intrinsics
from .pfm import read_pfm, write_pfm
from .pipeline import DISPLACE_METHODS, MODES, ImportOptions, PreparedImport, prepare
from .preprocess import Preprocess
from .readers import read_color, read_depth
from .values import KINDS, ValueSpec, to_metres

__all__ = [
    "DISPLACE_METHODS",
    "KINDS",
    "MAX_PIXELS",
    "MODES",
    "ImportOptions",
    "Intrinsics",
    "PreparedImport",
    "Preprocess",
    "ValueSpec",
    "prepare",
    "probe",
    "read_color",
    "read_depth",
    "read_pfm",
    "to_metres",
    "write_pfm",
]
