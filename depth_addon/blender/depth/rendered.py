# SPDX-License-Identifier: GPL-3.0-or-later
"""Render-level geometry for the fast path: evaluated once, kept between depth renders, refreshed per object.

When the viewport depsgraph does not give the render's geometry (render subdivision levels, *Is
Viewport* node groups, …; see :func:`.viewport.viewport_differs`), only a render evaluates what
Cycles sees (:func:`.gpu.run_in_render`). This module keeps what that
render gave: the instances (matrices, holdouts, names) and one :class:`~.cache.MeshEntry` per
mesh, read into numpy inside the render and uploaded after it, in the caller's GPU context.

The next depth render reuses it without rendering while the update counters of :mod:`.cache` are
unchanged (camera moves, frame changes that animate nothing). Updates that only moved objects (a
transform, also an animated one) do not count: the matrices of the moved objects are read from the
viewport depsgraph into the kept instances (:func:`.scene.moved`), unless a moved object instances or
is instanced (only a render places those instances). After any other update, one render walks the
scene again, but reads only the meshes whose object reported a geometry update or changed a render-only
setting (all of them when render-level Simplify changed), and generated meshes whose vertex or triangle
counts differ; the others are reused without being looked at. A render depsgraph evaluates every
modifier stack, but subdivides with a last Subdivision Surface modifier only the meshes that are read,
and that is most of its cost: after an edit of one object, only that object is subdivided.
The internal render's own updates (it sets and restores render settings and the frame) are ignored
(:func:`.cache.quiet`).

Objects hidden in the viewport with the eye icon are still evaluated there and report their edits.
Objects disabled in viewports (or in a collection that is) are not (:func:`.viewport.untracked`): what
an update would report about them is read on every call instead (:func:`.viewport.untracked_settings`,
part of the key), any move renders again (such an object may follow the moved one), and every render
reads their meshes again (their modifiers may depend on objects that changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import bpy

from ..evaluation import scene_depsgraph
from . import cache as depth_cache
from . import gpu as depth_gpu
from .meshdata import mesh_arrays
from .scene import RenderVisibility, SceneInstances, moved, scene_instances


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
    :param untracked: Session uids of the objects the viewport does not evaluate (:func:`.viewport.untracked`):
        their meshes are read again by every render, and any move renders again.
    :param moves: :func:`.cache.move_stamp` when its matrices were read.
    """

    key: tuple
    instances: SceneInstances
    entries: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    stamps: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    untracked: frozenset[int] = frozenset()
    moves: int = 0


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


def _unchanged(old: Snapshot | None, settings: dict, untracked: frozenset[int]) -> frozenset[int]:
    """Session uids of the owners of meshes of ``old`` whose geometry nothing changed since: no geometry update,
    the same render-only settings, not :func:`.viewport.untracked`."""
    if old is None or old.settings.get(0) != settings.get(0):
        return frozenset()
    return frozenset(k[0] for k, stamp in old.stamps.items() if k[0] not in untracked
                     and stamp == depth_cache.geometry_stamp(k[0]) and old.settings.get(k[0]) == settings.get(k[0]))


def _read(depsgraph: bpy.types.Depsgraph, visibility: RenderVisibility, old: Snapshot | None, key: tuple,
          settings: dict, untracked: frozenset[int]) -> tuple[Snapshot, dict]:
    """Inside the render: walk the instances, reuse unchanged meshes of ``old``, read the others into numpy.

    The meshes of unchanged objects are not even looked at: a render evaluates subdivision surfaces only when their
    mesh is asked for, so a render after one object's edit evaluates that object, not the scene."""
    unchanged = _unchanged(old, settings, untracked)
    drawn = scene_instances(depsgraph, visibility, unread=frozenset(u for u in unchanged if (u, 0) in old.entries))
    stable = _stable_keys(drawn)
    snap = Snapshot(key, drawn, settings=settings, untracked=untracked, moves=depth_cache.move_stamp())
    fresh: dict = {}
    todo = []
    for walk_key, me in drawn.meshes.items():
        k, owner = stable[walk_key], drawn.owners[walk_key]
        stamp = depth_cache.geometry_stamp(owner)
        entry = old.entries.get(k) if old is not None and owner in unchanged else None
        if entry is not None and (me is None or (old.stamps.get(k) == stamp and entry.nverts == len(me.vertices)
                                                 and entry.ntris == len(me.loop_triangle_polygons))):
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
             untracked: frozenset[int] = frozenset(), camera: bpy.types.Object | None = None) -> Snapshot:
    """The render-level geometry of ``layer``, rendering only when something drawable changed.

    :param scene: The scene.
    :param layer: Its view layer.
    :param visibility: Render visibility of ``layer``.
    :param settings: Render-only settings per owner and of the scene (see :class:`Snapshot`); those of ``untracked``
        objects also hold what the viewport would report (:func:`.viewport.untracked_settings`).
    :param untracked: Session uids of the objects that render but that the viewport does not evaluate.
    :param camera: The camera asked for, rendered from when the scene has none (:func:`.gpu.run_in_render`).
    :raises BadInput: Geometry too large to upload (:func:`.cache.check_upload`).
    """
    slot = (scene.session_uid, layer.name)
    key = (*slot, depth_cache.render_generation(), tuple(settings.items()))
    old = depth_cache.snapshots.get(slot)
    if old is not None and old.key == key:
        kept = _moved(old, layer, scene)
        if kept is not None:
            return kept
    depth_cache.evaluations[0] += 1
    result: list = []
    with depth_cache.quiet():
        depth_gpu.run_in_render(scene, layer.name, lambda dg: result.append(
            _read(dg, visibility, old, key, settings, untracked)), camera)
        scene_depsgraph(scene, layer)  # takes in the render's own updates while they are ignored
    snap, fresh = result[0]
    for k, arrays in fresh.items():
        previous = old.entries.get(k) if old is not None else None
        snap.entries[k], snap.arrays[k] = depth_cache.MeshEntry(None, arrays, previous), arrays
    for k, entry in snap.entries.items():
        entry.may_fold = k in snap.instances.folding
        entry.classify()
    _keep(slot, snap)
    return snap


def _keep(slot: tuple, snap: Snapshot) -> None:
    """Keep ``snap`` as the render-level geometry of ``slot`` (scene, layer); a few slots at most."""
    if slot not in depth_cache.snapshots and len(depth_cache.snapshots) > 4:
        depth_cache.snapshots.clear()
    depth_cache.snapshots[slot] = snap


def _moved(old: Snapshot, layer: bpy.types.ViewLayer, scene: bpy.types.Scene) -> Snapshot | None:
    """``old`` after the objects moved since it was read, without a render; None when only a render places them
    (they instance or are instanced, or an object the viewport does not evaluate may follow them)."""
    uids = depth_cache.moved_since(old.moves)
    if not uids:
        return old
    if old.untracked:
        return None
    instances = moved(old.instances, uids, layer, scene_depsgraph(scene, layer))
    if instances is None:
        return None
    snap = replace(old, instances=instances, moves=depth_cache.move_stamp())
    _keep((old.key[0], old.key[1]), snap)
    return snap
