# SPDX-License-Identifier: GPL-3.0-or-later
"""Why a modifier gave nothing: the error Blender shows on its panel, or the bind it still needs.

Blender keeps a modifier's evaluation error (a Mesh Cache file that cannot be read, a Corrective Smooth without
its bind, …) in ``ModifierData.error`` and writes it to the log, but no Python property exposes it (5.0). After
the viewport depsgraph evaluates an object, Blender copies the messages of the evaluated modifiers back to the
original ones, where :func:`modifier_error` reads them from the struct: ``ModifierData`` starts with two pointers,
``type``, ``mode``, ``execution_time``, three shorts and a pad, ``persistent_uid`` at byte 36, ``name[64]`` at byte
40 and the ``error`` string pointer right after (4.2 to 5.x). The read is only trusted when the persistent uid and
the name found there are the modifier's own; with another layout nothing is read. Deform modifiers that are not
bound (Surface Deform, Mesh Deform, Laplacian Deform) leave the mesh as it is without any message: they are
recognised by their ``is_bound``/``is_bind`` flags, as is a missing Mesh Cache file of a modifier the viewport
does not evaluate.
"""

from __future__ import annotations

import ctypes
import os
import sys

import bpy

_UID_OFFSET = 36
_NAME_OFFSET = 40
_ERROR_OFFSET = _NAME_OFFSET + 64  # after ``char name[64]``, pointer-aligned
_BIND_FLAGS = {"SURFACE_DEFORM": "is_bound", "MESH_DEFORM": "is_bound", "LAPLACIANDEFORM": "is_bind"}


def _stored_error(modifier: bpy.types.Modifier) -> tuple[bool, str | None]:
    """``(readable, message)``: whether the struct has the known layout, and the error stored in it."""
    uid = getattr(modifier, "persistent_uid", None)
    if uid is None or ctypes.sizeof(ctypes.c_void_p) != 8 or modifier.bl_rna.properties["name"].length_max != 64:
        return False, None  # another layout (a longer name would move the error pointer)
    raw = ctypes.string_at(modifier.as_pointer(), _ERROR_OFFSET + 8)
    name = modifier.name.encode()
    if (int.from_bytes(raw[_UID_OFFSET:_NAME_OFFSET], sys.byteorder, signed=True) != uid
            or raw[_NAME_OFFSET:_NAME_OFFSET + len(name) + 1] != name + b"\0"):
        return False, None
    pointer = ctypes.c_void_p.from_buffer_copy(raw, _ERROR_OFFSET).value
    return True, ctypes.string_at(pointer).decode("utf-8", "replace") if pointer else None


def modifier_error(modifier: bpy.types.Modifier) -> str | None:
    """What went wrong with ``modifier``, to follow its name in a message (``failed to evaluate: <Blender's error>``
    or ``is not bound …``); None when nothing is known to be wrong.

    :param modifier: A modifier of an original object (not a geometry-nodes one: see ``geometry_node_errors``).
    """
    readable, message = _stored_error(modifier)
    if message:
        return f"failed to evaluate: {message}"
    flag = _BIND_FLAGS.get(modifier.type)
    if flag is not None and not getattr(modifier, flag):
        return "is not bound, so it leaves the mesh as it is (press Bind)"
    if (modifier.type == "MESH_CACHE" and (not readable or not modifier.show_viewport)
            and not os.path.isfile(bpy.path.abspath(modifier.filepath))):
        return f"failed to evaluate: cache file {modifier.filepath!r} not found"
    return None
