# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth into a scene: a prepared import (:mod:`depth_addon.depth_import`) becomes a mesh, camera and material.

:mod:`.build` creates the datablocks (all or nothing); :mod:`.materials` the images and materials.
"""
