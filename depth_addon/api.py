# SPDX-License-Identifier: GPL-3.0-or-later
"""The scripting facade: one small, stable set of functions for TDs, operators and the CLI.

Import it with the repository root on ``sys.path`` and ``bpy`` importable::

    from depth_addon import api
    result = api.render_depth()                      # the context scene's camera
    api.save_depth(result, "/tmp/depth.exr")         # float32 metres, mapping in the header
    run = api.texture_scene(prompt="red brick", seed=3, out_dir="/tmp/out")

Functions keep their names and keyword arguments across releases; new ones are added as the
capabilities grow. Errors are :class:`~depth_addon.errors.DepthAddonError` subclasses with a
message meant for the user. This module re-exports the use cases of :mod:`depth_addon.app`, each
behind a check of its arguments' types: a wrong type (``None`` for a path, a list for a name,
``bytes`` paths, ``camera=123``) is :class:`~depth_addon.errors.BadInput` naming the argument, not
a ``TypeError`` or ``AttributeError`` from deep inside.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable

import bpy
import numpy as np

from .app import depth as _depth_use_case
from .app import importing as _importing
from .app import multiview as _multiview
from .app import texture as _texture
from .app.depth import DepthResult
from .app.texture import TextureRun
from .camera import CameraModel
from .errors import BadInput
from .mapping import DepthMapping

__all__ = [
    "DepthResult",
    "TextureRun",
    "depth_mapping",
    "generate",
    "import_depth_map",
    "project",
    "render_depth",
    "save_depth",
    "texture_multiview",
    "texture_scene",
]


def _is_path(value: object) -> bool:
    if isinstance(value, bytes) or not isinstance(value, str | os.PathLike):
        return False
    return isinstance(os.fspath(value), str) and bool(os.fspath(value))


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool) and bool(
        np.isfinite(value))


def _is_bool(value: object) -> bool:
    return isinstance(value, bool | np.bool_)


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


def _pair(value: object) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2 and all(_is_int(v) and v > 0 for v in value)


def _names_or_objects(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str | bpy.types.Object) for v in value)


#: Argument name → (check, what is expected); the same name means the same thing in every function.
RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "scene": (_optional(lambda v: isinstance(v, bpy.types.Scene)), "a bpy.types.Scene or None"),
    "camera": (_optional(lambda v: isinstance(v, str | bpy.types.Object)), "a camera object, its name, or None"),
    "resolution": (_optional(_pair), "(width, height) as two positive integers, or None"),
    "size": (_optional(_pair), "(width, height) as two positive integers, or None"),
    "engine": (lambda v: isinstance(v, str), "an engine name (str)"),
    "kind": (lambda v: isinstance(v, str), "a mapping kind (str)"),
    "prompt": (lambda v: isinstance(v, str), "a str"),
    "negative_prompt": (lambda v: isinstance(v, str), "a str"),
    "seed": (_is_int, "an int"),
    "generator": (_optional(lambda v: isinstance(v, str)), "a generator name (str) or None"),
    "path": (_is_path, "a file path (str or os.PathLike, not bytes)"),
    "out_dir": (_optional(_is_path), "a folder path (str or os.PathLike, not bytes) or None"),
    "result": (lambda v: isinstance(v, DepthResult), "a DepthResult (from render_depth)"),
    "bits": (lambda v: _is_int(v) and v in (8, 16), "8 or 16"),
    "mask": (_optional(lambda v: isinstance(v, np.ndarray)), "an H×W bool array or None"),
    "image": (lambda v: isinstance(v, bpy.types.Image), "a bpy.types.Image"),
    "objects": (_optional(_names_or_objects), "a list of objects or names, or None"),
    "cameras": (_optional(_names_or_objects), "a list of camera objects or names, or None"),
    "views": (lambda v: _is_int(v) and v >= 1, "a positive int"),
    "bake_size": (lambda v: _is_int(v) or v == "auto", "an int or 'auto'"),
    "view_size": (_is_int, "an int"),
    "radial": (_is_bool, "True or False"),
    "normals": (_is_bool, "True or False"),
    "ids": (_is_bool, "True or False"),
    "compositor": (_is_bool, "True or False"),
    "occlusion": (_is_bool, "True or False"),
    "use_conditioning": (_is_bool, "True or False"),
    "harmonise": (_is_bool, "True or False"),
    "scene_view": (_is_bool, "True or False"),
    "new_uv": (_is_bool, "True or False"),
    "placement": (lambda v: isinstance(v, str), "a placement name (str)"),
    "shading": (lambda v: isinstance(v, str), "a shading name (str)"),
    "tolerance": (lambda v: _is_number(v) and v >= 0, "a relative depth slack: a number ≥ 0"),
    "exponent": (lambda v: _is_number(v) and v >= 0, "a facing exponent: a number ≥ 0"),
    "padding": (lambda v: _is_int(v) and v >= 0, "a number of texels: an int ≥ 0"),
    "progress": (_optional(callable), "a callable(fraction, message) or None"),
    "cancel": (_optional(callable), "a callable() -> bool or None"),
    "maps": (lambda v: v is None or isinstance(v, bool | str | list | tuple | set | frozenset),
             "True, False or a list of map names"),
    "object_prompts": (_optional(lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, str)
                                                                       for k, t in v.items())),
                       "a dict of object name → prompt, or None"),
}


def _checked(func: Callable, **overrides: tuple[Callable[[object], bool], str]) -> Callable:
    """``func`` behind a check of the arguments a caller passes (see :data:`RULES`).

    :param func: A use case of :mod:`depth_addon.app`.
    :param overrides: Rules that differ for this function's arguments.
    """
    signature = inspect.signature(func)
    rules = RULES | overrides

    @functools.wraps(func)
    def checked(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise BadInput(f"{func.__name__}: {exc}") from None
        for name, value in bound.arguments.items():
            rule = rules.get(name)
            if rule is not None and not rule[0](value):
                shown = repr(value) if len(repr(value)) <= 60 else f"{type(value).__name__} value"
                raise BadInput(f"{func.__name__}: {name} must be {rule[1]}, got {shown}")
        return func(*args, **kwargs)

    return checked


_DEPTH_SOURCE = (lambda v: isinstance(v, np.ndarray) or _is_path(v), "a file path (str or os.PathLike) or an array")
_COLOR_SOURCE = (_optional(_DEPTH_SOURCE[0]), "a file path, an H×W×3 array, or None")

render_depth = _checked(_depth_use_case.render_depth)
save_depth = _checked(_depth_use_case.save_depth,
                      mapping=(_optional(lambda v: isinstance(v, DepthMapping)), "a DepthMapping or None"))
depth_mapping = _checked(_depth_use_case.depth_mapping)
generate = _checked(_texture.generate, depth=(lambda v: isinstance(v, np.ndarray | DepthResult),
                                              "an H×W float array in metres, or a DepthResult (from render_depth)"),
                    camera=(_optional(lambda v: isinstance(v, CameraModel)), "the depth's CameraModel, or None"))
project = _checked(_texture.project)
texture_scene = _checked(_texture.texture_scene, mapping=(lambda v: isinstance(v, str), "a mapping kind (str)"))
texture_multiview = _checked(_multiview.texture_multiview)
import_depth_map = _checked(_importing.import_depth_map, depth=_DEPTH_SOURCE, color=_COLOR_SOURCE)
