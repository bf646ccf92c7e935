# SPDX-License-Identifier: GPL-3.0-or-later
"""The surface a render shows, for bakes: modifiers set as for the render while an object's triangles are read.

The views' depth is rendered at render settings (render subdivision levels, modifiers shown only in renders), so a
bake whose texels came from the viewport's surface would map each UV to another point than the render shows
(a Subdivision Surface at viewport level 1 and render level 2 moves a coarse sphere's texels by about a centimetre;
at level 0 by ten). :func:`as_rendered` sets each modifier's viewport levels and visibility to its render ones and
puts them back afterwards; :func:`simplified_as_rendered` does the same for the scene's Simplify limit on subdivision,
once for all the objects read (it re-evaluates every subdivided object of the scene). What no setting gives is read
inside a render (:mod:`.surfaces`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import bpy

from ..depth import cache as depth_cache
from ..evaluation import modifier_changes


@contextmanager
def as_rendered(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph) -> Iterator[None]:
    """Within the block, ``depsgraph`` evaluates ``obj`` with its modifiers as the render sets them; afterwards they
    are as they were (also after an error) and the depsgraph is evaluated again.

    :param obj: A mesh object.
    :param depsgraph: The depsgraph its triangles are read from.
    """
    changes = modifier_changes(obj)
    if not changes:
        yield
        return
    done: list = []  # what was set, put back (a setting that could not be set is not)
    try:
        with depth_cache.quiet():  # not an edit: the depth path's render-level geometry stays as it was
            for change in changes:
                setattr(change[0], change[1], change[3])
                done.append(change)
            depsgraph.update()
        yield
    finally:
        with depth_cache.quiet():
            for m, prop, viewport, _render in reversed(done):
                setattr(m, prop, viewport)
            depsgraph.update()


@contextmanager
def simplified_as_rendered(scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> Iterator[None]:
    """Within the block, ``depsgraph`` subdivides at most as far as the scene's render does with Simplify on (its
    viewport limit set to the render's, and back afterwards, also after an error); nothing happens when Simplify is off
    or both limits agree.

    :param scene: The scene whose render settings say how far a render subdivides.
    :param depsgraph: The depsgraph triangles are read from.
    """
    r = scene.render
    if not r.use_simplify or r.simplify_subdivision == r.simplify_subdivision_render:
        yield
        return
    viewport = r.simplify_subdivision
    try:
        with depth_cache.quiet():
            r.simplify_subdivision = r.simplify_subdivision_render
            depsgraph.update()
        yield
    finally:
        with depth_cache.quiet():
            r.simplify_subdivision = viewport
            depsgraph.update()

