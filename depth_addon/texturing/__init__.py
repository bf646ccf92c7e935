# SPDX-License-Identifier: GPL-3.0-or-later
"""Texturing maths without Blender: UV rasterisation, multi-view fusion, hole filling, view placement.

Everything here works on numpy arrays and :class:`~depth_addon.camera.CameraModel` objects, so it
is tested without ``bpy`` and reused by the Blender layer (:mod:`depth_addon.blender.writeback.multiview`).
Conventions: texture arrays are ``size×size`` with row 0 = ``v`` near 0 (Blender's bottom-up image
rows); view images and depth maps have row 0 = top, like every other image in the project.
"""
