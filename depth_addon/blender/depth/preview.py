# SPDX-License-Identifier: GPL-3.0-or-later
"""Live depth preview: the active camera's depth, mapped exactly as a model gets it, in an image.

In the UI, :func:`set_enabled` adds a ``depsgraph_update_post`` handler (and a ``frame_change_post`` one: a frame
change sends no depsgraph update) that notes updates which can change depth (objects, geometry, cameras,
collections, the scene) and schedules one redraw on a timer, so a burst of updates while dragging costs one render;
the updates of that render itself are not the user's and schedule nothing. The redraw renders the gpu depth
at ``preview_size`` on the long side and writes the "Depth Preview" image; image editors showing
it are redrawn. In background mode nothing is scheduled; :func:`update_preview` can be called
directly (that is how its cost is measured). Switched off, the preview drops its pixel buffer and the cached GPU
batches of :mod:`.cache` (the next depth render uploads again).
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.app.handlers import persistent

from ...errors import DepthAddonError
from ...io.atomic import blender_callback
from ...io.png import to_uint
from ...mapping import DepthMapping
from .. import compat, hooks
from ..images import KEY_OWNED, KEY_TRANSIENT
from . import cache as depth_cache
from .ranges import settings_mapping
from .render import render_depth

PREVIEW_IMAGE = "Depth Preview"
KEY_PREVIEW = "depth_addon_preview"  # on our preview images: the name they were written as
_RELEVANT = (bpy.types.Object, bpy.types.Mesh, bpy.types.Curve, bpy.types.MetaBall, bpy.types.Camera,
             bpy.types.Collection, bpy.types.Lattice, bpy.types.Armature, bpy.types.Key, bpy.types.GeometryNodeTree)
_state: dict = {"scheduled": False, "error": None, "buffer": None, "key": None}


def _scene_key(scene: bpy.types.Scene) -> tuple:
    """The scene-level settings a preview depends on (a scene update that changes none of them is ignored:
    depth renders themselves change and restore render settings)."""
    r, s = scene.render, scene.depth_addon
    return (scene.camera.name if scene.camera else None, r.resolution_x, r.resolution_y, r.pixel_aspect_x,
            r.pixel_aspect_y, r.use_simplify, s.engine, s.mapping, s.radial, s.invert, s.range_mode, s.lock_range,
            s.near, s.far, s.bits, s.preview_size)


def model_values(depth: np.ndarray, mapping: DepthMapping, bits: int) -> np.ndarray:
    """What a model is given: ``mapping`` applied and quantised to ``bits`` like the PNG, back in [0, 1].

    :param depth: Depth in metres (``inf`` background).
    :param mapping: The mapping.
    :param bits: 8 or 16.
    """
    return to_uint(mapping.apply(depth), bits).astype(np.float32) / float((1 << bits) - 1)


def preview_image(name: str) -> bpy.types.Image | None:
    """Our preview image written as ``name`` (:func:`write_preview_image`), whatever name Blender gave it.

    :param name: The name it was written as (``Depth Map``, ``Depth Preview``).
    """
    def ours(im: bpy.types.Image | None) -> bool:
        return im is not None and bool(im.get(KEY_OWNED)) and im.library is None and im.source == "GENERATED"

    im = bpy.data.images.get(name)
    if ours(im) and im.get(KEY_PREVIEW, name) == name:
        return im
    return next((i for i in bpy.data.images if i.get(KEY_PREVIEW) == name and ours(i)), None)


def write_preview_image(name: str, values: np.ndarray) -> bpy.types.Image:
    """Write H×W grey ``values`` (row 0 = top) into our float image ``name`` (a user's image is never touched).

    :param name: Image name.
    :param values: Grey values, usually in [0, 1].
    """
    h, w = values.shape
    im = preview_image(name)
    if im is None:  # a user's image of that name is never touched: ours gets a free name, and is found by its tag
        im = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True)
        im[KEY_OWNED] = im[KEY_TRANSIENT] = True  # redrawn on demand: never packed into the file
        im[KEY_PREVIEW] = name
        im.colorspace_settings.name = "Non-Color"
    elif tuple(im.size) != (w, h):
        im.generated_width, im.generated_height = w, h
    buf = _state["buffer"]
    if buf is None or buf.shape != (h, w, 4):
        buf = _state["buffer"] = np.ones((h, w, 4), np.float32)
    buf[..., :3] = values[::-1, :, None]  # Image.pixels is bottom-up
    im.pixels.foreach_set(buf.ravel())
    im.update()
    return im


def update_preview(scene: bpy.types.Scene | None = None) -> bpy.types.Image | None:
    """Render the active camera's depth at the preview size and write the "Depth Preview" image.

    Errors (no camera, camera inside a mesh, …) leave the image as it is and are kept in
    :func:`last_error`.

    :param scene: The scene; the context scene when None.
    :return: The image, or None when nothing could be rendered.
    """
    scene = scene or bpy.context.scene
    settings = scene.depth_addon
    _state["key"] = _scene_key(scene)
    r = scene.render
    w, h = r.resolution_x * r.pixel_aspect_x, r.resolution_y * r.pixel_aspect_y
    scale = settings.preview_size / max(w, h)
    size = (max(1, round(r.resolution_x * scale)), max(1, round(r.resolution_y * scale)))
    try:
        engine = settings.engine if settings.engine in ("auto", "gpu") else "auto"
        result = render_depth(scene, None, size, engine, settings.radial)
        mapping = settings_mapping(scene, result)
    except DepthAddonError as exc:
        _state["error"] = str(exc)
        return None
    _state["error"] = None
    values = np.zeros(result.depth.shape, np.float32) if mapping is None else model_values(
        result.depth, mapping, int(settings.bits))
    image = write_preview_image(PREVIEW_IMAGE, values)
    image["depth_addon_mapping"] = mapping.to_dict() if mapping else {}
    return image


def last_error() -> str | None:
    """Why the last preview update did not render, or None."""
    return _state["error"]


def _redraw_image_editors() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type in ("IMAGE_EDITOR", "VIEW_3D"):
                area.tag_redraw()


def _timer() -> None:
    scene = bpy.context.scene
    try:  # still scheduled while it renders: the updates of its own render schedule nothing
        if scene is not None and getattr(scene, "depth_addon", None) and scene.depth_addon.live_preview:
            update_preview(scene)
            _redraw_image_editors()
    finally:
        _state["scheduled"] = False
    return None


# What the timers hold: a plain function would keep ``bpy`` alive past exit (see compat.detached_callback). Every
# import of this module uses the one made first (timers cannot be listed: only it can take a registered timer off).
_TIMER = hooks.kept_callback(__name__, "_timer", lambda: compat.detached_callback(__name__, "_timer", arguments=0))


def _schedule(interval: float) -> None:
    """Register the preview timer unless it is (registering it again would run it twice)."""
    if not bpy.app.timers.is_registered(_TIMER):
        bpy.app.timers.register(_TIMER, first_interval=interval)


def request_update(scene: bpy.types.Scene) -> None:
    """Schedule one preview refresh when the scene's live preview is on (settings changed)."""
    settings = getattr(scene, "depth_addon", None)
    if settings is None or not settings.live_preview or _state["scheduled"]:
        return
    _state["scheduled"] = True
    _schedule(0.05)


@persistent
@blender_callback
def _on_update(scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> None:
    if _state["scheduled"] or not getattr(scene, "depth_addon", None) or not scene.depth_addon.live_preview:
        return
    if depsgraph is None or depsgraph.mode == "RENDER":  # renders evaluate their own depsgraph
        return
    ids = [u.id for u in depsgraph.updates]
    relevant = any(isinstance(i, _RELEVANT) for i in ids)
    if not relevant and any(isinstance(i, bpy.types.Scene) for i in ids):
        relevant = _scene_key(scene) != _state["key"]
    if relevant:
        _state["scheduled"] = True
        _schedule(0.05)


@persistent
@blender_callback
def _on_load(*_args) -> None:
    """After a file loads, or an undo or redo brings back other settings, run the live preview exactly while one
    of the scenes has it switched on (undo restores the setting without calling its update)."""
    if not bpy.app.timers.is_registered(_TIMER):  # a file load drops timers: a refresh that was due never runs
        _state["scheduled"] = False
    set_enabled(any(getattr(s, "depth_addon", None) and s.depth_addon.live_preview for s in bpy.data.scenes))


#: When the stored settings change without their update callbacks: a file loaded, an undo, a redo.
_RESTORES = ("load_post", "undo_post", "redo_post")


def watch_files(on: bool) -> None:
    """Add or remove the handlers that make the live preview follow settings restored by a file load, an undo or a
    redo.

    :param on: Add when True.
    """
    _handle(_RESTORES, _on_load, on)


def _handle(names: tuple[str, ...], handler, on: bool) -> None:
    """Add ``handler`` to (``on``) or remove it from each of the ``bpy.app.handlers`` lists ``names``."""
    for name in names:
        (hooks.add_handler if on else hooks.remove_handler)(getattr(bpy.app.handlers, name), handler)


#: The updates the preview follows: edits, and frame changes (which send no depsgraph update).
_WATCHED = ("depsgraph_update_post", "frame_change_post")


def _watch(on: bool) -> None:
    """Add or remove the handlers that schedule a refresh (:func:`set_enabled`, which never adds them in background
    mode).

    :param on: Add when True.
    """
    _handle(_WATCHED, _on_update, on)


def enabled() -> bool:
    """Whether the live preview handler is installed."""
    return bool(hooks.copies(bpy.app.handlers.depsgraph_update_post, _on_update))


def set_enabled(on: bool) -> None:
    """Install or remove the live preview handler (never in background mode).

    :param on: Install when True.
    """
    handlers = bpy.app.handlers.depsgraph_update_post
    if on and not bpy.app.background and hooks.copies(handlers, _on_update) != [_on_update]:
        _watch(True)
        _state["scheduled"] = True
        _schedule(0.0)
    elif not on:
        _watch(False)
        if bpy.app.timers.is_registered(_TIMER):
            bpy.app.timers.unregister(_TIMER)
        _state.update(scheduled=False, error=None, buffer=None, key=None)
        depth_cache.clear()  # the GPU batches it kept warm
