# SPDX-License-Identifier: GPL-3.0-or-later
"""Render-level geometry for the fast path: evaluated once, kept between depth renders, refreshed per object.

When the viewport depsgraph does not give the render's geometry (render subdivision levels, *Is
Viewport* node groups, …; see :func:`.viewport.viewport_differs`), only a render evaluates what
Cycles sees (:func:`.gpu.run_in_render`, a whole-scene evaluation). This module keeps what that
render gave: the instances (matrices, holdouts, names) and one :class:`~.cache.MeshEntry` per
mesh, read into numpy inside the render and uploaded after it, in the caller's GPU context.

The next depth render reuses it without rendering while the update counters of :mod:`.cache` are
unchanged (camera moves, frame changes that animate nothing). After an update, one render
evaluates the scene again; only meshes whose object reported a geometry update, whose vertex or
triangle counts differ, or all of them when render-level Simplify changed, are read and uploaded
again. The internal render's own updates (it sets and restores render settings and the frame) are
ignored (:func:`.cache.quiet`). Objects hidden in the viewport report no updates, so scenes with
such objects are not cached (:func:`.viewport.viewport_hidden`): every call renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy

from ..evaluation import scene_depsgraph
from . import cache as depth_cache
from . import gpu as depth_gpu
from .meshdata import mesh_arrays
from .scene import RenderVisibility, SceneInstances, scene_instances


@dataclass
class Snapshot:
    """The render-level geometry of one view layer, as drawn by :func:`.gpu.draw`.

    :param key: Scene, layer and the update counters it was taken at.
    :param instances: The instances; keys are stable across renders (``(owner, 0)`` or ``(owner, n)``
        for the n-th generated mesh of an owner), ``meshes`` is empty (render meshes do not outlive it).
    :param entries: Key → uploaded mesh.
    :param arrays: Key → ``(co, tris)`` (the camera-inside test).
    :param stamps: Key → :func:`.cache.geometry_stamp` of its owner when it was read.
    :param settings: Owner session uid → render-only settings (:func:`.viewport.render_settings`); key 0:
        the scene's (:func:`fingerprint`), which change every mesh.
    """

    key: tuple
    instances: SceneInstances
    entries: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    stamps: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def fingerprint(scene: bpy.types.Scene) -> tuple:
    """The render settings that change every render-level mesh at once."""
    r = scene.render
    return (r.use_simplify, r.simplify_subdivision_render, r.simplify_child_particles_render)


def _stable_keys(drawn: SceneInstances) -> dict[tuple[int, int], tuple[int, int]]:
    """Walk key → a key that survives re-evaluation (generated meshes get their rank within their owner)."""
    rank: dict[int, int] = {}
    out = {}
    for key in drawn.meshes:
        if key[1] == 0:
            out[key] = key
        else:
            owner = drawn.owners[key]
            rank[owner] = rank.get(owner, 0) + 1
            out[key] = (owner, rank[owner])
    return out


def _read(depsgraph: bpy.types.Depsgraph, visibility: RenderVisibility, old: Snapshot | None, key: tuple,
          settings: dict) -> tuple[Snapshot, dict]:
    """Inside the render: walk the instances, reuse unchanged meshes of ``old``, read the others into numpy."""
    drawn = scene_instances(depsgraph, visibility)
    stable = _stable_keys(drawn)
    snap = Snapshot(key, drawn, settings=settings)
    fresh: dict = {}
    reuse = old is not None and old.settings.get(0) == settings.get(0)
    todo = []
    for walk_key, me in drawn.meshes.items():
        k, owner = stable[walk_key], drawn.owners[walk_key]
        stamp = depth_cache.geometry_stamp(owner)
        entry = old.entries.get(k) if reuse else None
        if (entry is not None and old.stamps.get(k) == stamp and old.settings.get(owner) == settings.get(owner)
                and entry.nverts == len(me.vertices)
                and entry.ntris == len(me.loop_triangle_polygons)):
            snap.entries[k], snap.arrays[k] = entry, old.arrays[k]
        else:
            todo.append((k, me))
        snap.stamps[k] = stamp
    depth_cache.check_upload(sum(len(me.vertices) for _k, me in todo),
                             sum(len(me.loop_triangle_polygons) for _k, me in todo), "the render-level geometry")
    for k, me in todo:
        fresh[k] = mesh_arrays(me)[:2]
    drawn.keys = [stable[k] for k in drawn.keys]
    drawn.owners = {stable[k]: v for k, v in drawn.owners.items()}
    drawn.folding = {stable[k] for k in drawn.folding}
    drawn.meshes = {}
    return snap, fresh


def snapshot(scene: bpy.types.Scene, layer: bpy.types.ViewLayer, visibility: RenderVisibility, settings: dict,
             cacheable: bool = True, camera: bpy.types.Object | None = None) -> Snapshot:
    """The render-level geometry of ``layer``, rendering only when something drawable changed.

    :param scene: The scene.
    :param layer: Its view layer.
    :param visibility: Render visibility of ``layer``.
    :param settings: Render-only settings per owner and of the scene (see :class:`Snapshot`).
    :param cacheable: False when the viewport cannot report every change (then this always renders).
    :param camera: The camera asked for, rendered from when the scene has none (:func:`.gpu.run_in_render`).
    :raises BadInput: Geometry too large to upload (:func:`.cache.check_upload`).
    """
    slot = (scene.session_uid, layer.name)
    key = (*slot, depth_cache.render_generation(), tuple(settings.items()))
    old = depth_cache.snapshots.get(slot) if cacheable else None
    if old is not None and old.key == key:
        return old
    result: list = []
    with depth_cache.quiet():
        depth_gpu.run_in_render(scene, layer.name, lambda dg: result.append(
            _read(dg, visibility, old, key, settings)), camera)
        scene_depsgraph(scene, layer)  # takes in the render's own updates while they are ignored
    snap, fresh = result[0]
    for k, arrays in fresh.items():
        previous = old.entries.get(k) if old is not None else None
        snap.entries[k], snap.arrays[k] = depth_cache.MeshEntry(None, arrays, previous), arrays
    for k, entry in snap.entries.items():
        entry.may_fold = k in snap.instances.folding
        entry.classify()
    if cacheable:
        if len(depth_cache.snapshots) > 4:
            depth_cache.snapshots.clear()
        depth_cache.snapshots[slot] = snap
    else:
        depth_cache.snapshots.pop(slot, None)
    return snap
