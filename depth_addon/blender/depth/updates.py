# SPDX-License-Identifier: GPL-3.0-or-later
"""What changed since the last depth render: counters fed by the depsgraph handlers of :mod:`.cache`.

Blender's updates mark the objects whose geometry changed (``is_updated_geometry``: :data:`dirty`, whose batches
:func:`.cache.entries` uploads again, and :func:`geometry_stamp`). Any update other than a pure transform bumps
:func:`settings_generation` (cached visibility decisions) and :func:`scene_generation` (the cached instance walk), and
the user's bump :func:`render_generation` (render-level geometry, :mod:`.rendered`). The objects that only moved are
listed by :func:`moved_since` instead. Updates that change only shading (an animated material: a frame that changes
no geometry) bump :func:`shading_generation` alone, which only the material slots of a walk follow; camera ray
visibility sends such an update too, so an object's is compared with what :func:`note_camera_visibility` saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import bpy

dirty: set[int] = set()
_stamps: dict[int, int] = {}  # original object session uid → update count when its geometry last changed
_moves: dict[int, int] = {}  # original object session uid → update count when it was last moved (and only that)
_counter = [0]
_render_generation = [0]  # bumped like _generation, but not by the depth path's own renders (see quiet())
_epoch = [0]  # bumped by clear(): stamps start over
_quiet = [0]  # > 0 while our own renders run: their updates are not the user's
_generation = [0]  # bumped by anything but a transform: visibility and viewport/render verdicts
_walk_generation = [0]  # bumped by anything that can add or remove a drawn instance, or move it other than _moves
_shading_generation = [0]  # bumped by shading-only updates (animated materials): material slots of the walks
_camera_visible: dict[int, bool] = {}  # original object session uid → visible_camera when last looked at
_NOT_GEOMETRY = (bpy.types.Action, bpy.types.Image, bpy.types.Material, bpy.types.World, bpy.types.Text,
                 bpy.types.Camera, bpy.types.Light, bpy.types.ShaderNodeTree)


def settings_generation() -> int:
    """A counter that changes whenever something other than a transform was updated."""
    return _generation[0]


def scene_generation() -> int:
    """A counter that changes whenever a drawable object, its data or the scene was updated, other than by only
    moving objects (see :func:`moved_since`; camera and light updates do not count: they cannot change what is
    drawn)."""
    return _walk_generation[0]


def shading_generation() -> int:
    """A counter that changes whenever a shading-only update (a material, also an animated one) may have changed the
    materials objects show, which no other counter follows."""
    return _shading_generation[0]


def note_camera_visibility(objects) -> None:
    """Remember the camera ray visibility of ``objects`` (original objects), so that a later shading-only update of
    one of them counts as an edit only when it changed that (see :func:`note`).

    :param objects: The objects of a view layer, read when its visibility is worked out.
    """
    _camera_visible.update((ob.session_uid, ob.visible_camera) for ob in objects)


def render_generation() -> int:
    """A counter that changes whenever the user updated something drawable or a setting, other than by only moving
    objects (see :func:`moved_since`), and not by our own renders."""
    return _render_generation[0]


def move_stamp() -> int:
    """A value to pass to :func:`moved_since` later (it grows with every move and every edit of the user)."""
    return _counter[0]


def moved_since(stamp: int) -> set[int]:
    """Session uids of the original objects moved (a transform-only update) after :func:`move_stamp` gave
    ``stamp``.

    :param stamp: From :func:`move_stamp`.
    """
    return {uid for uid, at in _moves.items() if at > stamp}


def geometry_stamp(uid: int) -> tuple[int, int]:
    """A value that changes whenever the geometry of the original object ``uid`` was updated (or the cache cleared)."""
    return _epoch[0], _stamps.get(uid, 0)


@contextmanager
def quiet() -> Iterator[None]:
    """Inside the block (the depth path's own renders and their restores), updates still reach the viewport
    caches (re-evaluated meshes must not be drawn stale) but not :func:`render_generation` and the stamps."""
    _quiet[0] += 1
    try:
        yield
    finally:
        _quiet[0] -= 1


def reset() -> None:
    """Forget every update (with :func:`.cache.clear`): everything counts as changed."""
    dirty.clear()
    _counter[0] += 1
    _stamps.clear()
    _moves.clear()
    _camera_visible.clear()
    _epoch[0] += 1
    _render_generation[0] += 1
    _generation[0] += 1
    _walk_generation[0] += 1
    _shading_generation[0] += 1


def _shading_only(update: bpy.types.DepsgraphUpdate, ob: bpy.types.Object) -> bool:
    """Whether an object's update changed only its shading (an animated material), not what is drawn: camera ray
    visibility also sends a shading update, so it is compared with what :func:`note_camera_visibility` saw."""
    if update.is_updated_geometry or update.is_updated_transform or not update.is_updated_shading:
        return False
    uid, visible = ob.original.session_uid, ob.original.visible_camera
    if _camera_visible.get(uid) == visible:
        return True
    _camera_visible[uid] = visible
    return False


def note(depsgraph: bpy.types.Depsgraph) -> None:
    """Take in the updates of a viewport depsgraph (the handlers of :mod:`.cache` call it).

    :param depsgraph: The depsgraph just evaluated.
    """
    settings = walk = shading = False
    user = not _quiet[0]  # the viewport caches count every update; render-level geometry only the user's
    moved = []
    for update in depsgraph.updates:
        uid = update.id
        if isinstance(uid, bpy.types.Object):
            if uid.type in ("CAMERA", "LIGHT"):
                continue
            if _shading_only(update, uid):
                shading = True
                continue
            if update.is_updated_geometry:
                dirty.add(uid.original.session_uid)
                if user:
                    _counter[0] += 1
                    _stamps[uid.original.session_uid] = _counter[0]
            if update.is_updated_geometry or not update.is_updated_transform:
                settings = walk = True
            else:
                moved.append(uid.original.session_uid)
        elif isinstance(uid, bpy.types.Scene):
            settings = True  # render settings (Simplify, …): drawn objects re-evaluate and report themselves
        elif isinstance(uid, _NOT_GEOMETRY) or (isinstance(uid, bpy.types.Mesh) and not update.is_updated_geometry
                                                  and update.is_updated_shading):
            shading = True
        else:
            settings = walk = True
    if settings:
        _generation[0] += 1
    if walk:
        _walk_generation[0] += 1
    if shading or walk:
        _shading_generation[0] += 1
    if user and settings:
        _render_generation[0] += 1
    if moved:  # our own renders' too: patching reads the current matrices, right whoever moved them
        _counter[0] += 1
        _moves.update(dict.fromkeys(moved, _counter[0]))
