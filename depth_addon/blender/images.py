# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender images from numpy arrays, without ever overwriting an image the user owns.

Images we create carry the custom property ``depth_addon_owned``. An existing image of the wanted
name is reused only when it has that tag; otherwise Blender gives the new image a unique name.
Arrays use row 0 = top; ``Image.pixels`` is bottom-up RGBA, so rows are flipped on the way in (textures in UV
space already have row 0 = ``v = 0``, the bottom: ``bottom_up=True`` stores them as they are).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..errors import BadInput
from ..io.png import encode_png, to_byte
from ..texturing.depth_edges import occlusion_slack

KEY_OWNED = "depth_addon_owned"  # on images, projectors and collections we created
KEY_TRANSIENT = "depth_addon_transient"  # on our previews: redrawn on demand, never packed into the file
FAR_DEPTH = 1.0e10  # depth written for unknown pixels: nothing occludes there
FLOAT_MAPS = ("height",)  # material maps stored as float images (:func:`map_image`); the others are 8-bit


def owned_collection(scene: bpy.types.Scene, name: str) -> bpy.types.Collection:
    """Our collection ``name``, created (and tagged) when missing or linked, and linked into ``scene``.

    :param scene: Scene the collection must be part of.
    :param name: Collection name.
    """
    coll = bpy.data.collections.get(name)
    if coll is None or coll.library is not None:
        coll = bpy.data.collections.new(name)
        coll[KEY_OWNED] = True
    if coll not in scene.collection.children_recursive:
        scene.collection.children.link(coll)
    return coll


def _rgba(values: np.ndarray, flip: bool) -> np.ndarray:
    """H×W×4 float32 RGBA for ``Image.pixels``: the colours (H×W×3 or more, or H×W grey), alpha 1, rows reversed
    when ``flip``.

    OpenCV does it in a few milliseconds at 1024² when it is there (a bake stores six images per object); numpy's
    strided copy takes about 7 ms.

    :param values: Colours or grey values.
    :param flip: Reverse the rows (arrays with row 0 = top).
    """
    grey = values.ndim == 2
    try:
        import cv2
    except ImportError:  # the user's Python may lack it: the numpy copy below
        cv2 = None
    if cv2 is not None:
        src = np.ascontiguousarray(values if grey else values[..., :3], np.float32)
        rgba = cv2.cvtColor(src, cv2.COLOR_GRAY2RGBA if grey else cv2.COLOR_RGB2RGBA)
        return cv2.flip(rgba, 0) if flip else rgba
    h, w = values.shape[:2]
    rgba = np.empty((h, w, 4), np.float32)
    rgba[..., 3] = 1.0
    rgba[::-1 if flip else 1, :, :3] = values[..., None] if grey else values[..., :3]
    return rgba


@dataclass(frozen=True)
class Pixels:
    """An image's pixels made ready off the main thread, in one of two forms.

    * ``rgba``: H×W×4 float32 RGBA, rows bottom-up, alpha 1, for ``Image.pixels``;
    * ``png``: an 8-bit PNG file, which the image keeps as its packed data. Blender decodes it when the image is
      first shown or rendered, so storing costs the main thread about a millisecond instead of the float to byte
      copy into ``Image.pixels`` (about 16 ms at 1024²) and, when the file is saved, the PNG encoding of
      ``Image.pack`` (about 180 ms at 1024²).

    Made by :func:`pixels`, which touches no Blender data: worker threads prepare them while the main thread
    stores earlier ones.

    :param shape: The image's ``(H, W)``.
    :param rgba: The contiguous H×W×4 array, or None.
    :param png: The PNG file's bytes, or None.
    """

    shape: tuple[int, int]
    rgba: np.ndarray | None = None
    png: bytes | None = None


def _colour_array(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as float32, checked: H×W×3, H×W×4 (alpha ignored) or H×W grey."""
    arr = np.asarray(rgb, dtype=np.float32)
    grey = arr.ndim == 2  # grey: previews, masks, material maps
    if (not grey and (arr.ndim != 3 or arr.shape[2] not in (3, 4))) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadInput(f"expected an H×W×3 colour array, got shape {arr.shape}")
    return arr


def pixels(rgb: np.ndarray, bottom_up: bool = False, encode: bool = False) -> Pixels:
    """Prepare colours for :func:`image_from_array` or :func:`map_image` (no bpy: safe on a worker thread).

    :param rgb: H×W×3 (or ×4, alpha ignored; or H×W grey) float array, or with ``encode`` the same as ``uint8``
        bytes already rounded (:func:`~depth_addon.io.png.to_byte`).
    :param bottom_up: Row 0 is the bottom (a texture in UV space), as ``Image.pixels`` has it.
    :param encode: Make an 8-bit PNG (for images that are not float; grey stays one channel). Float values are
        clipped to [0, 1] (NaN becomes 0) and rounded half up, as Blender rounds floats into a byte image.
    """
    if encode and isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8:
        arr = rgb
        if (arr.ndim != 2 and (arr.ndim != 3 or arr.shape[2] not in (3, 4))) or 0 in arr.shape[:2]:
            raise BadInput(f"expected an H×W×3 colour array, got shape {arr.shape}")
        byte = arr if arr.ndim == 2 else arr[..., :3]
    else:
        arr = _colour_array(rgb)
        if not encode:
            return Pixels(arr.shape[:2], rgba=_rgba(arr, not bottom_up))
        byte = to_byte(arr if arr.ndim == 2 else arr[..., :3])
    return Pixels(arr.shape[:2], png=encode_png(byte[::-1] if bottom_up else byte, level=1))  # PNG rows: top first


def _store_image(name: str, rgb: np.ndarray | Pixels, float_buffer: bool, colorspace: str, bottom_up: bool = False
                 ) -> bpy.types.Image:
    """Write H×W×3 (or H×W grey) ``rgb`` (row 0 = top, or bottom with ``bottom_up``) or prepared pixels into
    our image ``name``, reused if we made it, else a new one."""
    h, w = rgb.shape[:2]
    im = bpy.data.images.get(name)
    if isinstance(rgb, Pixels) and rgb.png is not None:
        if float_buffer:
            raise ValueError(f"{name!r} is a float image: prepare its pixels without encode")
        return _store_png(im, name, rgb.png, colorspace)
    if im is not None and im.get(KEY_OWNED) and im.library is None and im.source == "FILE":
        # ours, but packed or saved to a file since: back to pixels in memory, written below
        if im.packed_file is not None:
            with _stdout_to_stderr():
                im.unpack(method="REMOVE")
        im.source = "GENERATED"
        im.filepath = ""
    if im is not None and im.get(KEY_OWNED) and im.library is None and im.source == "GENERATED":
        if tuple(im.size) != (w, h):
            im.generated_width, im.generated_height = w, h
        if im.is_float != float_buffer:
            im.use_generated_float = float_buffer
    else:  # absent, or a user's image: never overwritten, Blender picks a unique name
        im = bpy.data.images.new(name, w, h, alpha=True, float_buffer=float_buffer)
        im[KEY_OWNED] = True
    im.colorspace_settings.name = colorspace
    rgba = rgb.rgba if isinstance(rgb, Pixels) else _rgba(rgb, not bottom_up)  # Image.pixels is bottom-up
    im.pixels.foreach_set(rgba.ravel())
    im.update()
    return im


def _store_png(im: bpy.types.Image | None, name: str, png: bytes, colorspace: str) -> bpy.types.Image:
    """Our image ``name`` (``im``, when it is ours) holding the PNG file ``png`` (or any image file) as its packed
    data."""
    if im is None or not im.get(KEY_OWNED) or im.library is not None:
        im = bpy.data.images.new(name, 1, 1)  # a placeholder until the packed file is read
        im[KEY_OWNED] = True
    elif im.source == "FILE" and im.packed_file is None:
        im.filepath_raw = ""  # ours, saved to a file since: the new result lives in the .blend, the file stays
    im.pack(data=png, data_len=len(png))
    if im.source != "FILE":
        im.source = "FILE"
    im.buffers_free()  # pixels read from now on come from the new file
    im.colorspace_settings.name = colorspace
    return im


def image_from_file_bytes(name: str, data: bytes, colorspace: str = "sRGB") -> bpy.types.Image:
    """A new image of ours holding the image file ``data`` (PNG, JPEG …) as its packed data: saving the .blend
    stores these bytes as they are.

    :param name: Wanted image name (a new image always; Blender makes the name unique).
    :param data: The file's bytes.
    :param colorspace: Colour space of its values.
    """
    return _store_png(None, name, data, colorspace)


def point_at_file(image: bpy.types.Image, path: str | os.PathLike) -> None:
    """Make ``image`` read the file just written at ``path``: packed data, if any, is dropped (the .blend then
    refers to the file, as it does for any texture on disk).

    :param image: Our image.
    :param path: The image file.
    """
    image.filepath_raw = str(Path(path).resolve())  # ``filepath`` would reload a packed image from "" at once
    image.source = "FILE"
    if image.packed_file is not None:
        with _stdout_to_stderr():  # Blender prints the file names it unpacks: stdout carries the CLI's events
            image.unpack(method="REMOVE")
    image.reload()


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what C code prints to standard output to standard error instead (as is, where there are no such
    descriptors)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no standard output to redirect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def pack_generated(*images_: bpy.types.Image | None) -> list[str]:
    """Pack generated (unsaved) images so their pixels survive saving the file.

    Linked images and our transient previews are skipped; an image Blender cannot pack does not stop the others.

    :return: ``"name: reason"`` for each image that could not be packed.
    """
    failed = []
    for image in images_:
        if (image is None or image.packed_file is not None or image.source != "GENERATED" or image.library is not None
                or image.get(KEY_TRANSIENT)):
            continue
        try:
            image.pack()
        except RuntimeError as exc:
            failed.append(f"{image.name}: {str(exc).strip()}")
    return failed


def keep_unshown(image: bpy.types.Image | None) -> None:
    """Give a picture of ours that nothing shows any more a fake user: a result to pick from stays in the file, where
    Blender would drop it at the next save (clearing the fake user in the image browser lets it go).

    :param image: A picture that was just taken off a node, or None.
    """
    if image is not None and image.users == 0 and image.library is None and image.get(KEY_OWNED):
        image.use_fake_user = True


def free_name(base: str) -> str:
    """``base``, or ``base 2``, ``base 3`` … whichever no image has yet (results never overwrite each other).

    :param base: Wanted image name.
    """
    name, n = base, 1
    while name in bpy.data.images:
        n += 1
        name = f"{base} {n}"
    return name


def image_from_array(name: str, rgb: np.ndarray | Pixels, colorspace: str = "sRGB", float_buffer: bool = False,
                     bottom_up: bool = False) -> bpy.types.Image:
    """Store an H×W×3 colour array (row 0 = top) in an image datablock.

    An existing image called ``name`` is reused only when this module created it; otherwise the
    new image gets a unique name and the user's image stays as it is.

    :param name: Wanted image name.
    :param rgb: H×W×3 (or ×4, alpha ignored; or H×W grey) float array of display values in ``[0, 1]``, or
        :class:`Pixels` made by :func:`pixels` (``bottom_up`` is then already applied).
    :param colorspace: Colour space the values are in (``'sRGB'`` for generated pictures).
    :param float_buffer: Keep full float precision instead of 8 bits per channel.
    :param bottom_up: Row 0 is the bottom (a texture in UV space, ``v = 0``), as ``Image.pixels`` has it.
    :return: The image (not packed; pack it before saving the file if it must be kept).
    """
    arr = rgb if isinstance(rgb, Pixels) else _colour_array(rgb)
    return _store_image(name, arr, float_buffer, colorspace, bottom_up)


def map_image(name: str, key: str, value: np.ndarray | Pixels, bottom_up: bool = False) -> bpy.types.Image:
    """Store one material map the way every route stores it (same reuse rule as :func:`image_from_array`).

    Albedo is sRGB colour; roughness, metallic and the tangent-space normal map are Non-Color; height is a
    Non-Color float image in metres.

    :param name: Wanted image name.
    :param key: Map name (:data:`~depth_addon.generation.maps.MAPS`).
    :param value: H×W(×3) array, row 0 = top (the bottom with ``bottom_up``), or :class:`Pixels` (8-bit maps may
        come as PNG; :data:`FLOAT_MAPS` may not).
    :param bottom_up: Row 0 is the bottom (a baked map in UV space).
    """
    return image_from_array(name, value, "sRGB" if key == "albedo" else "Non-Color", key in FLOAT_MAPS, bottom_up)


def float_image_from_array(name: str, depth: np.ndarray) -> bpy.types.Image:
    """Store an H×W camera-Z depth map (metres, row 0 = top) as a Non-Color float image.

    Non-finite and non-positive values become :data:`FAR_DEPTH` (nothing occludes there).

    :param name: Wanted image name (same reuse rule as :func:`image_from_array`).
    :param depth: H×W float array.
    """
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2 or d.size == 0:
        raise BadInput(f"expected an H×W depth array, got shape {d.shape}")
    d = np.where(np.isfinite(d) & (d > 0), d, FAR_DEPTH).astype(np.float32)
    return _store_image(name, d, True, "Non-Color")


def occlusion_image(name: str, depth: np.ndarray, slack: np.ndarray | None = None) -> bpy.types.Image:
    """Store planar depth plus its per-pixel slack for a projection's occlusion test.

    Each pixel holds ``depth + slack``, where the slack is the depth change to the neighbouring
    pixels on the same surface (:func:`~depth_addon.texturing.depth_edges.occlusion_slack`): points a
    fraction of a pixel away on a grazing plane still count as visible, so the projection shows no
    acne there, while silhouettes keep their exact depth.

    :param name: Wanted image name (same reuse rule as :func:`image_from_array`).
    :param depth: H×W planar camera-Z depth in metres, ``inf`` background.
    :param slack: :func:`depth_slack` of ``depth`` when already computed (e.g. on a thread while generating).
    :return: The image, packed (an image that failed to pack is packed again at the save, which says so).
    """
    d = _occluder_depth(depth)
    image = float_image_from_array(name, d + (occlusion_slack(d) if slack is None else slack))
    pack_generated(image)  # now, not at the save: Undo/Redo and autosave keep no pixels that live only in memory
    return image


def depth_slack(depth: np.ndarray) -> np.ndarray:
    """The per-pixel slack :func:`occlusion_image` adds (pure numpy: may run on a worker thread).

    :param depth: H×W planar camera-Z depth in metres, ``inf`` background.
    """
    return occlusion_slack(_occluder_depth(depth))


def _occluder_depth(depth: np.ndarray) -> np.ndarray:
    d = np.asarray(depth, np.float32)
    if d.ndim != 2 or d.size == 0:
        raise BadInput(f"expected an H×W depth array, got shape {d.shape}")
    return np.where(np.isfinite(d) & (d > 0), d, np.inf).astype(np.float32)


def image_size(image: bpy.types.Image) -> tuple[int, int]:
    """``(width, height)`` of an image that has pixels.

    :param image: Any image.
    :raises BadInput: When the image has no pixels (missing file ...).
    """
    w, h = image.size
    if w == 0 or h == 0:
        raise BadInput(f"image {image.name!r} has no pixels (is its file missing?)")
    return int(w), int(h)


def grey_from_image(image: bpy.types.Image) -> np.ndarray:
    """An image's first channel as H×W float32 (row 0 = top), as stored: a float data map's values (depth, height).
    Every channel is read, but only this one is copied out (:func:`array_from_image` also flips and copies all).

    :param image: Any image with pixels.
    :raises BadInput: When the image has no pixels (missing file ...).
    """
    w, h = image_size(image)
    px = np.empty(w * h * image.channels, np.float32)
    image.pixels.foreach_get(px)
    return np.ascontiguousarray(px.reshape(h, w, image.channels)[::-1, :, 0])


def array_from_image(image: bpy.types.Image, srgb: bool = True) -> np.ndarray:
    """An image's pixels as H×W×4 float32 (row 0 = top).

    :param image: Any image with pixels.
    :param srgb: Convert float images stored in a linear colour space to sRGB display values (byte
        images already hold display values).
    :raises BadInput: When the image has no pixels (missing file ...).
    """
    w, h = image_size(image)
    px = np.empty(w * h * image.channels, np.float32)
    image.pixels.foreach_get(px)
    px = px.reshape(h, w, image.channels)[::-1]
    if px.shape[2] < 4:
        px = np.concatenate([px, np.ones((h, w, 4 - px.shape[2]), np.float32)], 2) if px.shape[2] >= 3 else \
            np.concatenate([np.repeat(px[..., :1], 3, 2), np.ones((h, w, 1), np.float32)], 2)
    linear = image.is_float and image.colorspace_settings.name not in ("sRGB", "Non-Color")
    if srgb and linear:
        c = np.clip(px[..., :3], 0.0, 1.0)
        px[..., :3] = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return np.ascontiguousarray(px)
