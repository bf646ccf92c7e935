# SPDX-License-Identifier: GPL-3.0-or-later
"""Our generated images that live only in memory are packed into the .blend: at the save (a ``save_pre`` handler)
headless, and where a result is made in the UI, where autosave must find them."""

from __future__ import annotations

import sys

import bpy
from bpy.app.handlers import persistent

from ..blender import hooks, images
from ..blender.writeback import provenance as provenance_props
from ..io.atomic import blender_callback


@persistent
@blender_callback
def pack_on_save(*_args) -> None:
    """Pack the generated images of ours that live only in memory, so saving keeps them (a ``save_pre``
    handler: packing costs tens of ms per image, too much to do while the user works)."""
    _pack(*(i for i in bpy.data.images
            if provenance_props.KEY_PROVENANCE in i or (i.get(images.KEY_OWNED) and i.users)))


def _pack(*images_: bpy.types.Image | None) -> None:
    """:func:`~depth_addon.blender.images.pack_generated`, saying on stderr which images could not be packed."""
    for line in images.pack_generated(*images_):
        print(f"depth_addon: could not pack {line}; its pixels are not saved", file=sys.stderr)


def pack_now(*images_: bpy.types.Image | None) -> None:
    """Pack a result's images at once in the UI, where autosave must find them; headless, at the save.

    :param images_: The result's images.
    """
    keep_on_save()
    if not bpy.app.background:
        _pack(*images_)


def keep_on_save() -> None:
    """Make sure saving the file packs our in-memory images (:func:`pack_on_save` in ``save_pre``).

    The add-on installs the handler when it registers; scripts that use the API with the ``bpy`` module get
    it on their first result. Autosave and ``quit.blend`` run no ``save_pre`` handler: results made in the UI are
    also packed where they are made (:func:`pack_now`).
    """
    hooks.add_handler(bpy.app.handlers.save_pre, pack_on_save)
