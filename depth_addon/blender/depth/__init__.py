# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth out of a scene: camera Z or radial metres from the fast GPU path or Workbench/Cycles, ranges, previews.

:mod:`.render` picks the engine and returns a :class:`~depth_addon.depthmap.DepthResult`; :mod:`.gpu`,
:mod:`.engine` and :mod:`.cache` are the paths and their caches (:mod:`.rendered` keeps render-level
geometry between calls, :mod:`.merged` draws many small meshes at once, :mod:`.culling` skips what is
unseen), :mod:`.viewport` says when the viewport is not what renders, :mod:`.scene` reads what is renderable
(:mod:`.visibility`: which objects and instances render),
:mod:`.ranges` turns settings into mappings, :mod:`.sequence` walks cameras and frames, :mod:`.preview`
keeps the live preview image. Imports the core and the bridge's shared modules only.
"""
