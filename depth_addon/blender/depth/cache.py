# SPDX-License-Identifier: GPL-3.0-or-later
"""GPU batches of evaluated meshes, kept between depth renders and rebuilt only when geometry changes.

One entry per drawn mesh (see :class:`~.depth_scene.SceneInstances` keys). Entries live in a
process-wide cache; a ``depsgraph_update_post`` / ``frame_change_post`` handler feeds :mod:`.updates`, which
marks the objects whose geometry changed (``is_updated_geometry``), and every render with a new instance walk
also compares vertex and triangle counts, so a stale batch is never drawn (the walk is reused only while nothing
drawable was updated, and then the entries are too). Object and camera transforms are uniforms, not
geometry: moving things never re-uploads, and a deformed mesh whose triangles are unchanged (an animated
frame) uploads only its positions. The update counters (:func:`settings_generation`, :func:`scene_generation`,
:func:`render_generation`, :func:`moved_since`, …) are those of :mod:`.updates`, read through this module.

At interpreter exit (:func:`_at_exit`, an ``atexit`` hook registered after ``bpy`` was imported (once: :mod:`..hooks`),
so it runs before bpy's own exit code) every app handler and timer of this package is removed and
the GPU batches are dropped. The ``bpy`` module runs Blender's exit code only when the module
object is freed, and a function left in ``bpy.app.handlers`` or ``bpy.app.timers`` (timers never
run in background mode) keeps it alive through its module globals. bpy 4.5 then hangs forever in
a C++ static destructor after ``sys.exit`` (its audio thread was never stopped) and 4.2 crashes
there; bpy 5.0 is not affected. (Property callbacks pin it in 4.2 as well: see
:func:`.compat.rna_callback`.)
"""

from __future__ import annotations

import sys
import time
import types

import bpy
import gpu
import numpy as np
from bpy.app.handlers import persistent

from ...errors import BadInput
from ...io.atomic import blender_callback
from .. import hooks
from . import updates
from .meshdata import bounds, is_closed, mesh_arrays, signed_volume
from .updates import (  # noqa: F401  (the update counters are read through this module)
    geometry_stamp,
    move_stamp,
    moved_since,
    note_camera_visibility,
    quiet,
    render_generation,
    scene_generation,
    settings_generation,
    shading_generation,
)

_entries: dict[tuple[int, int], MeshEntry] = {}
_renders = [0]
evaluations = [0]  # whole-scene render-level evaluations (renders of :func:`.rendered.snapshot`), counted for tests
snapshots: dict = {}  # (scene, layer) → render-level geometry (see :mod:`.rendered`), dropped by clear()
merged: dict = {}  # the merged batch of small meshes (see :mod:`.merged`), dropped by clear()
plans: dict = {}  # draw plans of the last walks (see :mod:`.plan`), dropped by clear()
_last: dict = {}  # the last cached call of entries(): its walk's meshes, its result, whether any entry is unclassified
KEEP_UNUSED = 4  # renders an unused entry survives (several scenes or cameras in turn)
MAX_UPLOAD_BYTES = 2 * 2**30  # geometry (and its work arrays) one depth render may upload
SMALL_TRIS = 2048  # meshes up to this size, drawn once, share one merged batch (see :mod:`.merged`)
CLASSIFY_BUDGET = 0.005  # seconds a render spends finding closed meshes among the meshes it uploaded


class MeshEntry:
    """One uploaded mesh: a vertex-indexed batch for depth and, on request, a corner batch for passes.

    :param me: The evaluated mesh (None when ``arrays`` are given).
    :param arrays: ``(co, tris)`` already read from a mesh that may be gone (a render depsgraph's).
    :param previous: The entry this one replaces: when the triangles are the same (a deform, an animated
        frame), its index buffer is drawn again (only the positions are uploaded) and whether the mesh is closed
        is known without testing it again.
    """

    def __init__(self, me: bpy.types.Mesh | None, arrays: tuple[np.ndarray, np.ndarray] | None = None,
                 previous: MeshEntry | None = None) -> None:
        co, tris = arrays if arrays is not None else mesh_arrays(me)[:2]
        self.nverts, self.ntris = len(co), len(tris)
        same = previous is not None and previous.ntris == len(tris) and np.array_equal(previous.tris, tris)
        self.tris = previous.tris if same else tris
        self.closed: bool | None = previous.closed if same else None
        self.index = previous.index if same else gpu.types.GPUIndexBuf(type="TRIS", seq=tris) if len(tris) else None
        self.bbox = bounds(co)
        self.solid = 0  # +1 closed and outward, -1 closed and inward, 0 open or not known yet
        self.may_fold = False  # a deformation may fold it through itself (:func:`.scene.may_fold`)
        self._pending = (co, tris) if len(tris) else None  # solidity is found later (see classify)
        self.batch = make_batch({"pos": co}, self.index) if len(tris) else None
        self.arrays = (co, tris) if 0 < len(tris) <= SMALL_TRIS else None  # small meshes are also drawn merged
        self.pass_batch: gpu.types.GPUBatch | None = None
        self.last_used = self.created = _renders[0]

    def classify(self) -> None:
        """Find whether the mesh is a closed solid and which way it faces (decides back-face culling)."""
        if self._pending is None:
            return
        co, tris = self._pending
        self._pending = None
        if self.may_fold:  # drawn two-sided whatever it is (see orientation): nothing to find, every frame
            return
        if self.closed is None:
            self.closed = is_closed(tris)
        if self.closed:  # signed volume: float32 per triangle, summed in float64; near zero counts as unknown
            volume = signed_volume(co - (self.bbox[0] + self.bbox[1]) / 2, tris)
            box = float(np.prod(np.maximum(self.bbox[1] - self.bbox[0], 1e-12))) * 6
            self.solid = 0 if abs(volume) < 1e-4 * box else 1 if volume > 0 else -1

    @property
    def orientation(self) -> int:
        """+1 closed and outward, -1 closed and inward (one side may be culled), 0 open, not known yet, or a mesh
        that may be folded through itself (its back faces can face the camera)."""
        return 0 if self.may_fold else self.solid

    def passes(self, me: bpy.types.Mesh) -> gpu.types.GPUBatch | None:
        """The corner-indexed batch (position, corner normal, material slot), built on first use."""
        if self.pass_batch is None and self.ntris:
            co, tris, faces = mesh_arrays(me, corners=True)
            nc = len(me.loops)
            corner_vert = np.empty(nc, np.int32)
            me.attributes[".corner_vert"].data.foreach_get("value", corner_vert)
            normals = np.empty(nc * 3, np.float32)
            me.corner_normals.foreach_get("vector", normals)
            face_slot = np.zeros(len(me.polygons), np.int32)
            attr = me.attributes.get("material_index")
            if attr is not None and attr.domain == "FACE" and attr.data_type == "INT":
                attr.data.foreach_get("value", face_slot)
            slot = np.zeros(nc, np.int32)
            slot[tris] = face_slot[faces][:, None]
            self.pass_batch = make_batch({"pos": co[corner_vert], "nor": normals.reshape(-1, 3), "slot": slot}, tris)
        return self.pass_batch


def make_batch(attrs: dict[str, np.ndarray], tris: np.ndarray | gpu.types.GPUIndexBuf) -> gpu.types.GPUBatch:
    """A triangle batch of float3 and int attributes (numpy arrays, one row per vertex).

    :param attrs: Attribute name → array.
    :param tris: T×3 vertex indices, or an index buffer of them (shared with other batches).
    """
    fmt = gpu.types.GPUVertFormat()
    for name, data in attrs.items():
        if data.dtype == np.int32:
            fmt.attr_add(id=name, comp_type="I32", len=1, fetch_mode="INT")
        else:
            fmt.attr_add(id=name, comp_type="F32", len=3, fetch_mode="FLOAT")
    n = len(next(iter(attrs.values())))
    vbo = gpu.types.GPUVertBuf(len=n, format=fmt)
    for name, data in attrs.items():
        vbo.attr_fill(id=name, data=np.ascontiguousarray(data))
    elem = tris if isinstance(tris, gpu.types.GPUIndexBuf) else gpu.types.GPUIndexBuf(type="TRIS", seq=tris)
    return gpu.types.GPUBatch(type="TRIS", buf=vbo, elem=elem)


def entries(instances, cached: bool = True) -> dict[tuple[int, int], MeshEntry]:
    """The mesh entries for every key of ``instances`` (a :class:`~.depth_scene.SceneInstances`).

    :param instances: What to draw.
    :param cached: Use and fill the process-wide cache; False builds throw-away entries (render
        depsgraphs, whose evaluated meshes do not outlive the render).
    """
    _renders[0] += 1
    if not cached:
        _check_new(instances, fresh=True)
        return {k: MeshEntry(me) for k, me in instances.meshes.items()}  # one draw: culling would not pay (open)
    if not updates.dirty and _last.get("meshes") is instances.meshes and not _last["pending"]:
        for entry in _last["entries"].values():  # the same walk (maybe moved), nothing updated since: the same entries
            entry.last_used = _renders[0]
        if len(_entries) > len(_last["entries"]):
            _evict()
        return _last["entries"]
    stale = {}
    if updates.dirty:
        stale = {k: _entries.pop(k) for k in [k for k in _entries if k[0] in updates.dirty]}
        updates.dirty.clear()
    _check_new(instances)
    out = {}
    for key, me in instances.meshes.items():
        entry = _entries.get(key)
        if entry is None or entry.nverts != len(me.vertices) or entry.ntris != len(me.loop_triangle_polygons):
            entry = _entries[key] = MeshEntry(me, previous=stale.get(key, entry))
        entry.last_used = _renders[0]
        entry.may_fold = key in instances.folding
        out[key] = entry
    _evict()
    deadline = time.perf_counter() + CLASSIFY_BUDGET
    for entry in out.values():  # new meshes get a small budget (a first render stays fast), older ones all
        if entry._pending is not None and (entry.created < _renders[0] or time.perf_counter() < deadline):
            entry.classify()
    _last.update(meshes=instances.meshes, entries=out, pending=any(e._pending is not None for e in out.values()))
    return out


def _check_new(instances, fresh: bool = False) -> None:
    """Refuse, before anything is uploaded, meshes whose new batches would be too large (:func:`check_upload`).

    :param instances: What to draw (a :class:`~.depth_scene.SceneInstances`).
    :param fresh: Every mesh is uploaded (no cache).
    """
    nverts = ntris = 0
    for key, me in instances.meshes.items():
        entry = None if fresh else _entries.get(key)
        nv, nt = len(me.vertices), len(me.loop_triangle_polygons)
        if entry is None or entry.nverts != nv or entry.ntris != nt:
            nverts, ntris = nverts + nv, ntris + nt
    check_upload(nverts, ntris, "the geometry to draw")


def _evict() -> None:
    """Drop the entries no render has used for :data:`KEEP_UNUSED` renders."""
    for key in [k for k, e in _entries.items() if e.last_used < _renders[0] - KEEP_UNUSED]:
        del _entries[key]


def check_upload(nverts: int, ntris: int, what: str) -> None:
    """Refuse geometry too large to upload, with the estimate in the message.

    :param nverts: Vertices to upload.
    :param ntris: Triangles to upload.
    :param what: What is uploaded (for the message).
    :raises BadInput: When the estimate exceeds :data:`MAX_UPLOAD_BYTES`.
    """
    estimate = nverts * 12 + ntris * 12 + ntris * 36  # positions, indices, and the numpy work arrays
    if estimate > MAX_UPLOAD_BYTES:
        raise BadInput(f"{what} has {ntris / 1e6:.1f} million triangles: the gpu depth path would need about "
                       f"{estimate / 2**30:.1f} GiB (limit {MAX_UPLOAD_BYTES / 2**30:.1f} GiB); use engine 'cycles', "
                       "lower subdivision levels or enable Simplify")


def clear() -> None:
    """Drop every cached batch (file load, undo, add-on unregister)."""
    _entries.clear()
    snapshots.clear()
    merged.clear()
    plans.clear()
    _last.clear()
    updates.reset()


@persistent
@blender_callback
def _on_depsgraph_update(_scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> None:
    if depsgraph.mode != "RENDER":
        updates.note(depsgraph)


@persistent
@blender_callback
def _on_frame_change(_scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> None:
    if depsgraph is not None and depsgraph.mode != "RENDER":  # renders evaluate their own depsgraph
        updates.note(depsgraph)


@persistent
@blender_callback
def _on_reset(*_args) -> None:
    clear()


_HANDLERS = (("depsgraph_update_post", _on_depsgraph_update), ("frame_change_post", _on_frame_change),
             ("load_post", _on_reset), ("undo_post", _on_reset), ("redo_post", _on_reset))


def install_handlers() -> None:
    """Watch depsgraph updates (idempotent; the depth path calls it before its first render)."""
    for name, fn in _HANDLERS:
        hooks.add_handler(getattr(bpy.app.handlers, name), fn)


def remove_handlers() -> None:
    """Stop watching and drop the cache (add-on unregister)."""
    for name, fn in _HANDLERS:
        hooks.remove_handler(getattr(bpy.app.handlers, name), fn)
    clear()


def package_prefix() -> str:
    """``…depth_addon.``: the prefix of every module of this package (this one is ``….blender.depth.cache``)."""
    return __name__.rsplit(".", 3)[0] + "."


def _at_exit() -> None:
    """Remove every app handler and timer of this package (any module) and drop the batches, at process exit."""
    package = package_prefix()
    for name in dir(bpy.app.handlers):
        handlers = getattr(bpy.app.handlers, name)
        if isinstance(handlers, list):
            for h in [h for h in handlers if getattr(h, "__module__", "").startswith(package)]:
                handlers.remove(h)
    for name, module in list(sys.modules.items()):  # timers cannot be listed: try our module functions
        if name.startswith(package) and module is not None:
            for fn in list(vars(module).values()):
                while isinstance(fn, types.FunctionType) and fn.__module__ == name and bpy.app.timers.is_registered(fn):
                    bpy.app.timers.unregister(fn)  # once per registration
    clear()


hooks.at_exit(_at_exit)  # once, however often this module is imported
