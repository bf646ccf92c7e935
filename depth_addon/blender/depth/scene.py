# SPDX-License-Identifier: GPL-3.0-or-later
"""What the depth paths see: render visibility, holdouts, instances, and whether the camera is inside a solid.

The rules follow what Cycles writes into its Z pass (measured with Blender 5.0):

* hidden from render (object or collection), excluded or *indirect only* collections and objects
  with camera ray visibility off are not seen; for an instance the instancer's and the instanced
  object's camera visibility both count, and whether an instanced object hidden from render is
  drawn depends on how it is instanced (:mod:`.visibility`);
* holdout objects (object flag or holdout collection) occlude what is behind them but their pixels
  are background (``inf``); shadow catchers are ordinary surfaces;
* curves, text, surfaces and metaballs reach the depsgraph as evaluated mesh instances, so only
  ``MESH`` instances are drawn; visible hair curves and point clouds are listed in
  :attr:`SceneInstances.undrawn` so that the caller can pick an engine that renders them (volumes
  write no Z in either engine and are ignored).

Linked (library) objects are part of the scene and render like local ones: depth only reads them
(the Workbench path may hide one for the length of a render, in memory, restored in ``finally``).
Refusing linked data is left to operations that would change it, such as projection materials.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import bpy
import numpy as np

from ...errors import BadInput
from ..writeback.own_materials import own_material
from .meshdata import bounds, is_closed, mesh_arrays
from .visibility import HIDDEN, RenderVisibility

UNDRAWN_TYPES = ("CURVES", "POINTCLOUD")  # rendered by Workbench and Cycles, not by the gpu path


class NoGeometry(BadInput):
    """The scene has nothing the camera could see (:func:`check_renderable`)."""


@dataclass
class SceneInstances:
    """Every mesh instance the camera can see, grouped by the mesh it draws.

    :param keys: One key per instance: ``(object session uid, evaluated data pointer or 0)``.
    :param matrices: N×4×4 float64 world matrices.
    :param holdout: N bools.
    :param names: N names of the objects as the user sees them (an instance counts as its instancer).
    :param meshes: Key → the evaluated mesh to draw. Instance objects are only valid while the
        depsgraph iterates, so the mesh (owned by the evaluated geometry) is kept, not the object.
    :param owners: Key → session uid of the original object whose edits change that mesh.
    :param slots: Key → material names per slot (filled when asked for).
    :param undrawn: Names of visible hair-curve and point-cloud objects, and of meshes with particle hair, which the
        gpu path cannot draw.
    :param folding: Keys whose mesh a deformation may fold through itself (:func:`may_fold`): drawn two-sided.
    :param unsure: Instancers (viewport walks only) of objects hidden from render whose instances a render may or
        may not draw (:meth:`.visibility.RenderVisibility.instance_state`): only a render depsgraph tells.
    :param placed: Session uid of an object drawn as itself (not instanced) → its index: its matrix is its own.
    :param instancing: Session uids of the instancers and instanced objects of the instances drawn: moving one of
        them moves instances in ways only a new walk tells.
    """

    keys: list[tuple[int, int]] = field(default_factory=list)
    matrices: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 4)))
    holdout: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    names: list[str] = field(default_factory=list)
    meshes: dict[tuple[int, int], bpy.types.Mesh] = field(default_factory=dict)
    owners: dict[tuple[int, int], int] = field(default_factory=dict)
    slots: dict[tuple[int, int], list[str | None]] = field(default_factory=dict)
    undrawn: list[str] = field(default_factory=list)
    folding: set[tuple[int, int]] = field(default_factory=set)
    unsure: list[str] = field(default_factory=list)
    placed: dict[int, int] = field(default_factory=dict)
    instancing: set[int] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.keys)


def material_slots(obj: bpy.types.Object, generated: bool) -> list[str | None]:
    """Material names per slot of an evaluated object: the user's, where a bake or projection of ours shows
    (:func:`~depth_addon.blender.writeback.own_materials.own_material`), so a re-run names its parts as the first run.

    :param obj: The evaluated object.
    :param generated: The object is a temporary instance (geometry nodes, curve/text/metaball mesh):
        only its mesh's materials are meaningful.
    """
    if not generated and len(obj.material_slots):  # the user's materials, where a result of ours shows
        own = [own_material(obj.original, i, s.material and s.material.original)
               for i, s in enumerate(obj.material_slots)]
        return [m.name if m else None for m in own]
    return [m.name if m else None for m in obj.data.materials]


#: Modifiers that move vertices by a deformation, which can fold a closed mesh through itself (an elbow bent by an
#: armature, a shape key): the gpu path then cannot cull its back faces, which face the camera inside the fold.
FOLDING_MODIFIERS = frozenset({
    "ARMATURE", "CAST", "CLOTH", "CORRECTIVE_SMOOTH", "CURVE", "DISPLACE", "EXPLODE", "HOOK", "LAPLACIANDEFORM",
    "LAPLACIANSMOOTH", "LATTICE", "MESH_CACHE", "MESH_DEFORM", "MESH_SEQUENCE_CACHE", "OCEAN", "SHRINKWRAP",
    "SIMPLE_DEFORM", "SMOOTH", "SOFT_BODY", "SURFACE_DEFORM", "WARP", "WAVE"})


def _has_hair(obj: bpy.types.Object) -> bool:
    """True when the evaluated mesh object renders particle hair as strands (the gpu path draws only the mesh)."""
    systems = obj.particle_systems
    if not len(systems):
        return False
    shown = {m.particle_system.name for m in obj.modifiers if m.type == "PARTICLE_SYSTEM" and m.show_render}
    return any(p.name in shown and p.settings.type == "HAIR" and p.settings.render_type == "PATH" for p in systems)


def may_fold(obj: bpy.types.Object) -> bool:
    """True when a deformation of ``obj`` (shape keys, a deforming modifier) may fold its mesh through itself.

    :param obj: An original mesh object.
    """
    data = obj.data
    return bool(getattr(data, "shape_keys", None)) or any(m.type in FOLDING_MODIFIERS for m in obj.modifiers)


def scene_instances(depsgraph: bpy.types.Depsgraph, visibility: RenderVisibility, slots: bool = False,
                    unread: frozenset[int] = frozenset()) -> SceneInstances:
    """Walk ``depsgraph.object_instances`` and keep the mesh instances the camera sees.

    :param depsgraph: Evaluated depsgraph (viewport or render).
    :param visibility: Render visibility of the same view layer.
    :param slots: Also record material slot names per mesh.
    :param unread: Session uids of objects whose own mesh is not read: ``meshes`` holds None for them (a render
        depsgraph evaluates a subdivision surface only when its mesh is read).
    """
    out = SceneInstances()
    mats, hold = [], []
    render = depsgraph.mode == "RENDER"
    for inst in depsgraph.object_instances:
        obj = inst.object
        if obj.type != "MESH":
            if obj.type in UNDRAWN_TYPES and visibility.instance_state(inst, render, out.unsure) is not HIDDEN:
                top = inst.parent.original if inst.is_instance and inst.parent is not None else obj.original
                if top.name not in out.undrawn:
                    out.undrawn.append(top.name)
            continue
        state = visibility.instance_state(inst, render, out.unsure)
        if state is HIDDEN:
            continue
        orig = obj.original
        top = inst.parent.original if inst.is_instance and inst.parent is not None else orig
        generated = inst.is_instance and top == orig  # geometry-nodes instances, curve/text/metaball meshes
        key = (orig.session_uid, obj.data.as_pointer() if generated else 0)
        if key not in out.meshes:
            out.meshes[key] = None if key[1] == 0 and key[0] in unread else obj.data
            out.owners[key] = orig.session_uid
            if _has_hair(obj) and top.name not in out.undrawn:  # particle hair strands: not in the mesh drawn
                out.undrawn.append(top.name)
            if may_fold(orig):
                out.folding.add(key)
            if slots:
                out.slots[key] = material_slots(obj, generated)
        if inst.is_instance:
            out.instancing.update((orig.session_uid, top.session_uid))
        else:
            out.placed[orig.session_uid] = len(out.keys)
        out.keys.append(key)
        mats.append(np.array(inst.matrix_world, np.float64))
        hold.append(bool(state))
        out.names.append(top.name)
    if mats:
        out.matrices = np.stack(mats)
        out.holdout = np.array(hold, bool)
    return out


def moved(instances: SceneInstances, uids: set[int], layer: bpy.types.ViewLayer, depsgraph: bpy.types.Depsgraph,
          ) -> SceneInstances | None:
    """``instances`` with the matrices of the objects ``uids`` read again, after updates that only moved them;
    None when that is not enough: one of them instances or is instanced (only a new walk places its instances), or
    its place follows geometry (a constraint or vertex parent, on it or up its parents, may follow a surface that a
    render subdivides further than the viewport).

    :param instances: A walk taken before the moves (of a viewport or a render depsgraph: their matrices agree for
        objects placed by their parents and animation alone).
    :param uids: Session uids of the original objects moved since (:func:`.cache.moved_since`).
    :param layer: The view layer walked.
    :param depsgraph: Its evaluated viewport depsgraph, which holds the new matrices (also of objects hidden there).
    """
    if uids & instances.instancing:
        return None
    drawn = [(uid, instances.placed[uid]) for uid in uids if uid in instances.placed]
    if not drawn:
        return instances
    matrices = instances.matrices.copy()
    for uid, i in drawn:
        ob = layer.objects.get(instances.names[i])
        if ob is None or ob.session_uid != uid or _follows_geometry(ob):
            return None
        matrices[i] = np.array(ob.evaluated_get(depsgraph).matrix_world, np.float64)
    return replace(instances, matrices=matrices)


def _follows_geometry(ob: bpy.types.Object | None) -> bool:
    """Whether the object's place may depend on evaluated geometry: constraints or vertex parenting, up its parents."""
    while ob is not None:
        if len(ob.constraints) or ob.parent_type in {"VERTEX", "VERTEX_3"}:
            return True
        ob = ob.parent
    return False


def _first_hit_is_back(co: np.ndarray, tris: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> bool:
    """Cast one ray against the triangles (Möller–Trumbore) and say whether its first hit is a back face."""
    v0, v1, v2 = co[tris[:, 0]], co[tris[:, 1]], co[tris[:, 2]]
    e1, e2 = v1 - v0, v2 - v0
    p = np.cross(direction, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = origin - v0
    u = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, e1)
    v = (q @ direction) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    if not hit.any():
        return False
    first = np.flatnonzero(hit)[np.argmin(t[hit])]
    return bool(det[first] < 0)  # det = -dot(direction, normal): negative when the ray meets the face's back


def bounding_boxes(instances: SceneInstances) -> tuple[np.ndarray, np.ndarray]:
    """Local ``(min, max)`` corners of every instance's mesh (each mesh read once), N×3 each in instance order."""
    boxes = {}
    for key, me in instances.meshes.items():
        co = np.empty(len(me.vertices) * 3, np.float32)
        me.attributes["position"].data.foreach_get("vector", co)
        boxes[key] = bounds(co.reshape(-1, 3))
    lo = np.array([boxes[k][0] for k in instances.keys], np.float64).reshape(-1, 3)
    hi = np.array([boxes[k][1] for k in instances.keys], np.float64).reshape(-1, 3)
    return lo, hi


def affine_inverse(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse and determinant of affine 4×4 matrices (…×4×4), by cofactors.

    Blender's object and camera matrices are affine; this avoids LAPACK, whose per-call overhead
    dominates for a few small matrices.

    :return: ``(inverse …×4×4, determinant of the 3×3 part …)``.
    """
    m = np.asarray(m, np.float64)
    c0, c1, c2 = m[..., :3, 0], m[..., :3, 1], m[..., :3, 2]
    x, y, z = np.cross(c1, c2), np.cross(c2, c0), np.cross(c0, c1)
    det = np.einsum("...i,...i->...", c0, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        rot = np.stack([x, y, z], axis=-2) / det[..., None, None]
    out = np.zeros_like(m)
    out[..., :3, :3] = rot
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rot, m[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out, det


def camera_boxes(modelview: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space axis-aligned boxes around N local boxes (conservative, vectorised).

    :param modelview: N×4×4 camera-from-object matrices.
    :param lo: N×3 local minimum corners.
    :param hi: N×3 local maximum corners.
    :return: ``(min, max)``, each N×3.
    """
    rot = modelview[:, :3, :3]
    centre = np.einsum("nij,nj->ni", rot, (lo + hi) / 2) + modelview[:, :3, 3]
    extent = np.einsum("nij,nj->ni", np.abs(rot), (hi - lo) / 2)
    return centre - extent, centre + extent


def camera_inside(instances: SceneInstances, corners: tuple[np.ndarray, np.ndarray], modelview: np.ndarray,
                  clip_start: float, arrays: dict | None = None) -> str | None:
    """Name of a closed mesh that contains the camera, or None.

    A cheap, robust test: only meshes whose bounding box contains both the camera and the point where the centre
    ray starts (``clip_start`` in front of it) are candidates; for those the centre ray is cast against the evaluated
    triangles from both points. In a closed, consistently oriented mesh the first face a ray from inside meets is
    seen from its back. Rooms modelled with inward normals are therefore fine, and open meshes (planes, terrain)
    never count; nor does a solid that only the clip start cuts into (a cutaway through a wall: the render shows
    its inside) or one around the camera that the view starts beyond.

    :param instances: What the camera can see.
    :param corners: Local ``(min, max)`` corners of every instance's mesh, N×3 each (:func:`bounding_boxes`, or
        :attr:`.plan.DrawPlan.lo` and ``hi``).
    :param modelview: N×4×4 camera-from-object matrices of the instances.
    :param clip_start: Camera clip start in metres.
    :param arrays: Key → ``(co, tris)`` when ``instances`` has no meshes (render-level geometry).
    """
    if not len(instances):
        return None
    points = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -clip_start]])  # the camera, where its view starts
    lo, hi = corners
    cmin, cmax = camera_boxes(modelview, lo, hi)
    near = np.all((cmin[:, None] <= points) & (points <= cmax[:, None]), axis=(1, 2))
    for i in np.flatnonzero(near):
        local = affine_inverse(modelview[i])[0]
        p = points @ local[:3, :3].T + local[:3, 3]
        if not (np.all(p >= lo[i]) and np.all(p <= hi[i])):
            continue
        key = instances.keys[i]
        co, tris = arrays[key] if arrays is not None else mesh_arrays(instances.meshes[key])[:2]
        if not is_closed(tris):
            continue
        direction = local[:3, :3] @ [0.0, 0.0, -1.0]
        if all(_first_hit_is_back(co.astype(np.float64), tris, q, direction) for q in p):
            return instances.names[i]
    return None


def check_renderable(instances: SceneInstances, corners: tuple[np.ndarray, np.ndarray], scene: bpy.types.Scene,
                     modelview: np.ndarray, clip_start: float, arrays: dict | None = None) -> None:
    """Raise :class:`NoGeometry` for a scene without geometry, :class:`BadInput` for a camera inside a solid.

    :param instances: What the camera can see.
    :param corners: The instances' local corners (see :func:`camera_inside`).
    :param scene: The scene (for the message).
    :param modelview: N×4×4 camera-from-object matrices of the instances.
    :param clip_start: Camera clip start in metres.
    :param arrays: Key → ``(co, tris)`` when ``instances`` has no meshes (see :func:`camera_inside`).
    """
    if not len(instances) and not instances.undrawn:
        raise NoGeometry(f"scene {scene.name!r} has no renderable geometry (no visible mesh, curve, text, "
                       "metaball, hair or point cloud object)")
    inside = camera_inside(instances, corners, modelview, clip_start, arrays)
    if inside is not None:
        raise BadInput(f"the camera is inside {inside!r} (it sees the inside of a closed mesh); move the camera "
                       "out or flip the mesh's normals if it is a room")
