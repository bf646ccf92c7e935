# SPDX-License-Identifier: GPL-3.0-or-later
"""Bake targets and their UV maps: which objects can be baked, their UV triangles in world space.

* :func:`bake_targets` validates the objects (meshes with faces, local data) and refuses bad ones
  with a message before anything changes.
* :func:`ensure_uv_maps` gives every target a usable UV map: its active one, or a new ``Depth UV``
  map made with Smart UV Project when it has none, its islands overlap or it has no area (the user's maps are
  never edited; added maps are recorded so :func:`remove_added_uv` takes them away again).
* :func:`surface_triangles` reads the evaluated mesh (modifiers applied) as world-space corner
  positions, normals and UVs for :func:`~depth_addon.texturing.raster.rasterize_uv`.
"""

from __future__ import annotations

import bpy
import numpy as np

from ...errors import BadInput
from ...texturing.raster import area_in_square, rasterize_uv, wrap_to_square
from .projection import meshes_in_view
from .render_geometry import as_rendered

UV_NAME = "Depth UV"
KEY_UV_ADDED = "depth_addon_uv_added"  # on a mesh: name of the UV map we added
OVERLAP_LIMIT = 0.02  # share of texels claimed by two islands above which a UV map counts as overlapping
_OVERLAP_PROBE = 128  # texture side used to measure overlap
_MIN_AREA = 1e-10  # UV area in the 0-1 square at or below which a map has none (a texel of 8192² is 1.5e-8)


def _describe(obj: bpy.types.Object) -> str:
    return f"{obj.name!r} ({obj.type.lower()})"


def bake_targets(scene: bpy.types.Scene, objects=None) -> list[bpy.types.Object]:
    """The objects to texture: ``objects`` checked, or every visible local mesh with faces.

    :param scene: The scene.
    :param objects: Objects (or names); None picks every mesh the render shows.
    :raises BadInput: For a missing, non-mesh, linked or faceless object in ``objects``, or when
        nothing is left to texture.
    """
    if objects is None:
        found = [o for o in meshes_in_view(scene)[0] if len(o.data.polygons) > 0]
        if not found:
            raise BadInput("no visible local mesh objects with faces to texture")
        return found
    result: list[bpy.types.Object] = []
    for item in objects:
        obj = bpy.data.objects.get(item) if isinstance(item, str) else item
        if obj is None:
            raise BadInput(f"no object named {item!r} in this file")
        if obj.type != "MESH":
            raise BadInput(f"{_describe(obj)} is not a mesh; only meshes can be textured")
        if obj.library is not None or obj.data.library is not None or getattr(obj, "override_library", None):
            raise BadInput(f"{obj.name!r} uses data linked from a library; make it local before texturing it")
        if len(obj.data.polygons) == 0:
            raise BadInput(f"{obj.name!r} has no faces to put a texture on")
        if obj.name not in scene.objects:
            raise BadInput(f"{obj.name!r} is not in scene {scene.name!r}")
        if obj not in result:
            result.append(obj)
    if not result:
        raise BadInput("no objects given to texture")
    return result


def _corner_data(mesh: bpy.types.Mesh, uv_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(triangle corners (T,3), vertex positions (V,3), corner vertex (L,), corner UVs (L,2))``."""
    tris = np.empty(len(mesh.loop_triangles) * 3, np.int64)
    mesh.loop_triangles.foreach_get("loops", tris)
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    corner_vert = np.empty(len(mesh.loops), np.int64)
    mesh.loops.foreach_get("vertex_index", corner_vert)
    uv = np.empty(len(mesh.loops) * 2, np.float32)
    layer = mesh.uv_layers.get(uv_name)
    if layer is None:
        raise BadInput(f"mesh {mesh.name!r} has no UV map {uv_name!r} after its modifiers")
    layer.data.foreach_get("uv", uv)
    return tris.reshape(-1, 3), co.reshape(-1, 3), corner_vert, uv.reshape(-1, 2)


def surface_triangles(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph, uv_name: str
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World-space triangles of the evaluated object: ``(uv (T,3,2), position (T,3,3), normal (T,3,3))``, with its
    modifiers as the render sets them (:func:`.render_geometry.as_rendered`: the views' depth is the render's).

    :param obj: A mesh object.
    :param depsgraph: Evaluated dependency graph (modifiers, shape keys, drivers applied).
    :param uv_name: UV map to read.
    """
    with as_rendered(obj, depsgraph):
        return read_triangles(obj, depsgraph, uv_name)


def read_triangles(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph, uv_name: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`surface_triangles` as ``depsgraph`` evaluates ``obj`` (a render's depsgraph, or the viewport's)."""
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        tris, co, corner_vert, uv = _corner_data(mesh, uv_name)
        normals = np.empty(len(mesh.loops) * 3, np.float32)
        mesh.corner_normals.foreach_get("vector", normals)
    finally:
        evaluated.to_mesh_clear()
    m = np.array(evaluated.matrix_world, np.float64)
    world = (co.astype(np.float64) @ m[:3, :3].T + m[:3, 3]).astype(np.float32)
    nmat = np.linalg.inv(m[:3, :3]).T if abs(np.linalg.det(m[:3, :3])) > 1e-18 else m[:3, :3]
    nrm = (normals.reshape(-1, 3).astype(np.float64) @ nmat.T).astype(np.float32)
    return uv[tris], world[corner_vert[tris]], nrm[tris]


def _unusable(mesh: bpy.types.Mesh, uv_name: str, overlap_limit: float) -> str | None:
    """Why the UV map cannot take a bake: ``overlap`` (islands claim the same texels), ``tiles`` (the same, where
    faces in other UV tiles land on the texture as it repeats: UDIM tiles, a map scaled to repeat), ``empty`` (its
    faces have no area: all on one point or a line; measured exactly, so an island smaller than a texel of the
    overlap probe still counts), or None when it can."""
    tris, co, corner_vert, uv = _corner_data(mesh, uv_name)
    if len(tris) == 0:
        return None
    if area_in_square(wrap_to_square(uv[tris])[0], enough=_MIN_AREA) <= _MIN_AREA:
        return "empty"
    dummy = np.zeros((len(tris), 3, 3), np.float32)
    probe = rasterize_uv(uv[tris], dummy, dummy, _OVERLAP_PROBE)
    if probe.overlap <= overlap_limit:
        return None
    return "tiles" if np.any((uv[tris] < 0.0) | (uv[tris] > 1.0)) else "overlap"


def _element_flags(mesh: bpy.types.Mesh) -> dict[str, tuple[str, np.ndarray]]:
    """The mesh's hidden boolean attributes (selection and hide of vertices, edges and faces, UV selection and pins),
    by name: domain and values. Edit mode rewrites them and adds those the mesh did not have."""
    flags = {}
    for attr in mesh.attributes:
        if attr.name.startswith(".") and attr.data_type == "BOOLEAN":
            values = np.empty(len(attr.data), bool)
            attr.data.foreach_get("value", values)
            flags[attr.name] = (attr.domain, values)
    return flags


def _restore_flags(mesh: bpy.types.Mesh, flags: dict[str, tuple[str, np.ndarray]]) -> None:
    """Put back the attributes :func:`_element_flags` read, and remove the hidden ones added since (a mesh without
    one reads as all False: nothing selected, hidden or pinned), so no selection marks are left behind."""
    for name in [a.name for a in mesh.attributes if a.name.startswith(".") and a.data_type == "BOOLEAN"]:
        if name not in flags:
            mesh.attributes.remove(mesh.attributes[name])
    for name, (domain, values) in flags.items():
        attr = mesh.attributes.get(name) or mesh.attributes.new(name, "BOOLEAN", domain)
        if len(attr.data) == len(values):
            attr.data.foreach_set("value", values)


def _smart_project(objects: list[bpy.types.Object]) -> None:
    """Unwrap the UV map we added to each object's mesh (:data:`KEY_UV_ADDED`: ``Depth UV``, or ``Depth UV.001``
    when the user has a map of that name, which is never touched) with Smart UV Project (edit mode, all faces).

    Selection, active object, each mesh's active UV map and the mode are restored afterwards, and the meshes keep no
    selection or hide attribute that edit mode added (hidden, it would stay in the file, after a cancel too). Objects
    of a scene no window shows (a script working on another scene) are unwrapped in a context that names their scene
    and layer.
    """
    ctx = bpy.context
    layer = ctx.view_layer
    if layer is not None and all(o.name in layer.objects for o in objects):
        _unwrap_in(objects, layer)
        return
    scene = next((s for s in bpy.data.scenes if objects[0].name in s.objects), ctx.scene)
    layer = next((vl for vl in scene.view_layers if all(o.name in vl.objects for o in objects)), scene.view_layers[0])
    with ctx.temp_override(scene=scene, view_layer=layer):
        _unwrap_in(objects, layer)


def _unwrap_in(objects: list[bpy.types.Object], view_layer: bpy.types.ViewLayer) -> None:
    """:func:`_smart_project` in ``view_layer`` (the context's, or the one a context override names)."""
    ctx = bpy.context
    previous_active = view_layer.objects.active
    previous_selection = [o for o in view_layer.objects if o.select_get()]
    was_editing = ctx.mode != "OBJECT" and previous_active is not None
    previous_mode = previous_active.mode if was_editing else "OBJECT"
    if was_editing:
        bpy.ops.object.mode_set(mode="OBJECT")
    try:
        for obj in objects:
            active_index = obj.data.uv_layers.active_index
            flags = _element_flags(obj.data)
            obj.data.uv_layers.active = obj.data.uv_layers[obj.data[KEY_UV_ADDED]]
            for other in view_layer.objects:
                other.select_set(False)
            hidden = None
            try:
                shown = (obj.hide_get(), obj.hide_viewport)  # edit mode skips hidden objects: shown to unwrap
                obj.hide_set(False)  # raises for an object outside the view layer: nothing to put back then
                hidden = shown
                obj.hide_viewport = False
                obj.select_set(True)
                view_layer.objects.active = obj
                with ctx.temp_override(active_object=obj, object=obj, selected_objects=[obj],
                                       selected_editable_objects=[obj]):
                    bpy.ops.object.mode_set(mode="EDIT")
                    try:
                        with ctx.temp_override(edit_object=obj):  # another scene's: not the window's edit object
                            bpy.ops.mesh.reveal()
                            bpy.ops.mesh.select_all(action="SELECT")
                            bpy.ops.uv.smart_project(angle_limit=1.15, island_margin=0.01, area_weight=0.0,
                                                     scale_to_bounds=False)
                    finally:
                        bpy.ops.object.mode_set(mode="OBJECT")
            except RuntimeError as exc:
                raise BadInput(f"cannot unwrap {obj.name!r} (is its collection excluded from the view layer?): "
                               f"{str(exc).strip().splitlines()[-1]}") from None
            finally:
                obj.data.uv_layers.active_index = active_index
                _restore_flags(obj.data, flags)
                if hidden is not None:
                    obj.hide_viewport = hidden[1]
                    obj.hide_set(hidden[0])
    finally:
        for other in view_layer.objects:
            other.select_set(other in previous_selection)
        view_layer.objects.active = previous_active
        if was_editing:
            bpy.ops.object.mode_set(mode=previous_mode)


def ensure_uv_maps(objects: list[bpy.types.Object], overlap_limit: float = OVERLAP_LIMIT,
                   new: bool = False, notes: list[str] | None = None) -> dict[str, str]:
    """The UV map to bake each object into, adding ``Depth UV`` where needed.

    A mesh without UV maps, or whose active map has overlapping islands (in the texture as it repeats: other UV
    tiles land on the 0-1 square) or no area, gets a new map
    (made with Smart UV Project, never made active, so the user's own maps and their order stay as
    they were); with ``new`` every mesh does (a layout made for the bake, when the user's wastes the
    texture). Meshes shared by several objects are handled once.

    :param objects: Validated bake targets.
    :param overlap_limit: Share of overlapping texels above which the active map is not used.
    :param new: Bake into our own map even where the user's active map could be used.
    :param notes: Receives one line per reason a map was added (no UV map, overlapping islands), naming the objects
        and the new map (:func:`added_notes`).
    :return: Object name → UV map name.
    """
    result: dict[str, str] = {}
    todo: dict[str, bpy.types.Object] = {}
    why: dict[str, str] = {}
    for obj in objects:
        mesh = obj.data
        if mesh.get(KEY_UV_ADDED) and mesh.get(KEY_UV_ADDED) in mesh.uv_layers:
            result[obj.name] = mesh[KEY_UV_ADDED]
            continue
        active = mesh.uv_layers.active
        unusable = _unusable(mesh, active.name, overlap_limit) if not new and active is not None else None
        if not new and active is not None and unusable is None:
            result[obj.name] = active.name
            continue
        if mesh.name not in todo:
            todo[mesh.name] = obj
        result[obj.name] = UV_NAME
        why[obj.name] = "none" if active is None else "new" if new else f"{unusable} {active.name}"
    added = []
    for mesh_name, obj in todo.items():
        mesh = bpy.data.meshes[mesh_name]
        active_index = mesh.uv_layers.active_index
        render_index = next((i for i, uv in enumerate(mesh.uv_layers) if uv.active_render), -1)
        layer = mesh.uv_layers.new(name=UV_NAME, do_init=False)
        if layer is None:
            raise BadInput(f"mesh {mesh.name!r} cannot take another UV map (Blender allows 8)")
        mesh[KEY_UV_ADDED] = layer.name
        if active_index >= 0:
            mesh.uv_layers.active_index = active_index
        if render_index >= 0:
            mesh.uv_layers[render_index].active_render = True
        added.append(obj)
        for o in objects:
            if o.data == mesh:
                result[o.name] = layer.name
    if added:
        _smart_project(added)
    if notes is not None:
        notes.extend(added_notes({n: (why[n], result[n]) for n in why}))
    return result


def added_notes(added: dict[str, tuple[str, str]]) -> list[str]:
    """Lines telling the user which objects were unwrapped into a UV map made for the bake, and why.

    :param added: Object name → (reason: ``none`` (it had no UV map), ``overlap <map>`` (its active map's islands
        overlap), ``tiles <map>`` (its faces in other UV tiles would share texels), ``empty <map>`` (its active map
        has no area) or ``new`` (asked for), name of the UV map added).
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for name, key in added.items():
        groups.setdefault(key, []).append(repr(name))
    lines = []
    for (reason, uv), names in groups.items():
        who = ", ".join(names)
        made = f"unwrapped (Smart UV Project) into a new UV map {uv!r} for the bake"
        if reason == "none":
            lines.append(f"{who} had no UV map: {made}")
        elif reason.startswith("overlap "):
            lines.append(f"{who}: the active UV map {reason[8:]!r} has overlapping islands, so {made}; "
                         "your UV maps are kept as they were")
        elif reason.startswith("tiles "):
            lines.append(f"{who}: the active UV map {reason[6:]!r} reaches into other UV tiles, whose faces would "
                         f"share texels of one texture, so {made}; your UV maps are kept as they were")
        elif reason.startswith("empty "):
            lines.append(f"{who}: the active UV map {reason[6:]!r} has no area (its faces lie on one point or one "
                         f"line), so {made}; your UV maps are kept as they were")
        else:
            lines.append(f"{who}: {made} (your UV maps are kept as they were)")
    return lines


def remove_added_uv(mesh: bpy.types.Mesh) -> bool:
    """Delete the UV map :func:`ensure_uv_maps` added to ``mesh``, if any.

    :param mesh: A mesh.
    :return: True when a map was removed.
    """
    name = mesh.get(KEY_UV_ADDED)
    if name is None:
        return False
    del mesh[KEY_UV_ADDED]
    layer = mesh.uv_layers.get(name)
    if layer is None:
        return False
    mesh.uv_layers.remove(layer)
    return True
