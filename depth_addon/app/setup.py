# SPDX-License-Identifier: GPL-3.0-or-later
"""What the machine settings mean for a run: the worker's configuration, the backend, where PyTorch is.

The preferences class itself (``preferences.py`` at the add-on root) only stores and draws the settings.
PyTorch is installed into the extension's own user folder (:func:`site_packages_dir`) and handed to the
worker on its ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import os

import bpy

from ..errors import BadInput
from ..estimation.estimator import weights_problem
from ..generation import DEFAULT_GENERATOR, available_generators, needs
from ..generation.diffusers_load import config_from_env
from ..worker.config import WorkerConfig

#: The add-on's root package (``bl_ext.<repo>.depth_addon`` when installed): the preferences' ``bl_idname``.
ADDON_ID = __package__.rsplit(".", 2)[0] if __package__.count(".") >= 2 else __package__.split(".")[0]

_torch_cache: dict | None = None
_LOADS: dict[str, bool] = {}


def addon_prefs(context: bpy.types.Context | None = None) -> bpy.types.AddonPreferences | None:
    """This add-on's preferences, or None when it is registered without an add-on entry (scripts, tests).

    :param context: Context; ``bpy.context`` when None.
    """
    addon = (context or bpy.context).preferences.addons.get(ADDON_ID)
    return None if addon is None else addon.preferences


def site_packages_dir(create: bool = False) -> str:
    """Folder where "Install PyTorch" puts packages: the extension's user folder, ``site-packages``.

    :param create: Create it when missing.
    """
    try:
        return bpy.utils.extension_path_user(ADDON_ID, path="site-packages", create=create)
    except ValueError:  # loaded as a plain add-on, not as an extension
        path = bpy.utils.user_resource("EXTENSIONS", path=os.path.join(".user", ADDON_ID, "site-packages"))
        if create:
            os.makedirs(path, exist_ok=True)
        return path


def worker_config(context: bpy.types.Context | None = None) -> WorkerConfig:
    """How to start the worker, from the preferences (defaults when there are none).

    :param context: Context; ``bpy.context`` when None.
    """
    prefs = addon_prefs(context)
    site = site_packages_dir()
    paths = (site,) if os.path.isdir(site) else ()
    python = bpy.path.abspath(prefs.worker_python) if prefs is not None and prefs.worker_python else ""
    env = {"DEPTH_ADDON_DEVICE": prefs.device if prefs is not None else "auto"}  # weights folders go with each request
    return WorkerConfig(python=python, paths=paths, env=env)


def depth_model_dir(context: bpy.types.Context | None = None, folder: str = "") -> str | None:
    """The depth estimator's weights folder: ``folder`` when set, else the preferences' Depth Estimator folder,
    else None (the estimator's own default: ``$DEPTH_ADDON_DEPTH_MODEL`` or the home folder).

    :param context: Context; ``bpy.context`` when None.
    :param folder: A folder chosen for this run (an operator's own setting), Blender-relative paths allowed.
    """
    if not folder:
        prefs = addon_prefs(context)
        folder = prefs.depth_model_dir if prefs is not None else ""
    return bpy.path.abspath(folder) if folder else None


def depth_model_problem(context: bpy.types.Context | None = None, folder: str = "") -> str | None:
    """Why the depth estimator cannot run (no weights where :func:`depth_model_dir` points, or no PyTorch for the
    worker), or None.

    :param context: Context; ``bpy.context`` when None.
    :param folder: A folder chosen for this run.
    """
    return weights_problem(depth_model_dir(context, folder)) or estimator_torch_problem()


def estimator_torch_problem() -> str | None:
    """Why the worker cannot run the depth estimator whatever its weights (no PyTorch for it), or None."""
    status = torch_status()
    if status["found"] or status["custom"]:
        return None
    return "Depth estimation needs PyTorch in the worker: Preferences › Add-ons › Depth Addon › Install PyTorch"


def generator_name(context: bpy.types.Context) -> str:
    """The backend for this scene: its own Generator field, else the preferences' default.

    :param context: Context with a scene.
    """
    own = context.scene.depth_addon.generator.strip() if context.scene is not None else ""
    if own:
        return own
    prefs = addon_prefs(context)
    return prefs.backend if prefs is not None and prefs.backend else DEFAULT_GENERATOR


def torch_status(refresh: bool = False) -> dict:
    """Whether the worker will find PyTorch, without importing it (cached; ``refresh`` re-checks).

    :param refresh: Look again (after an install).
    :return: ``{"found": bool, "where": str, "custom": bool}``; ``custom`` when a worker Python is set,
        whose packages only a setup check can see.
    """
    global _torch_cache
    if _torch_cache is None or refresh:
        prefs = addon_prefs()
        custom = bool(prefs is not None and prefs.worker_python)
        site = site_packages_dir()
        where = ""
        if os.path.isdir(os.path.join(site, "torch")):
            where = site
        else:
            spec = importlib.util.find_spec("torch")
            if spec is not None and spec.origin:
                where = os.path.dirname(os.path.dirname(spec.origin))
        _torch_cache = {"found": bool(where) and not custom, "where": where, "custom": custom}
    return _torch_cache


def forget_torch_status() -> None:
    """Drop the cached :func:`torch_status`; the next call looks again."""
    global _torch_cache
    _torch_cache = None


def missing_for(backend: str) -> str | None:
    """What the backend still needs before it can generate here, or None.

    The default generators run on numpy and the wheels the extension bundles; learned backends
    (``diffusers``) need PyTorch, which "Install PyTorch" puts into the extension's user folder for the
    worker. A bundled wheel that does not load on this platform is named, with the weight-free backends
    that still work.

    :param backend: Registry name.
    """
    known = available_generators()
    plugins = "--generators" in worker_config().args  # a worker set up with extra generator modules
    if backend.strip() and backend.strip().lower() not in known and not plugins:
        return f"there is no generator called {backend!r} (known: {', '.join(known)})"
    for module in needs(backend):
        if module == "torch":
            status = torch_status()
            if not (status["found"] or status["custom"]):
                return f"the {backend!r} backend needs PyTorch: Preferences › Add-ons › Depth Addon › Install PyTorch"
        elif module not in ("diffusers", "transformers") and not _loads(module):
            return (f"the {backend!r} backend cannot run here: its bundled {module!r} package does not load on this "
                    "platform; the 'analytic' and 'baseline' backends need nothing and still work")
    return weights_missing(backend) if "diffusers" in needs(backend) else None


def weights_missing(backend: str) -> str | None:
    """Why a backend that runs the user's own weights (``diffusers``) has none to run, or None: no Model Folder in
    the preferences and no ``model`` in ``DEPTH_ADDON_DIFFUSERS`` (which the worker reads too), or a Model Folder
    or Depth ControlNet that is not there. What the folder holds is checked by the backend, which names what is
    wrong in it.

    :param backend: Registry name, for the message.
    """
    prefs = addon_prefs()
    folder = bpy.path.abspath(prefs.model_dir) if prefs is not None and prefs.model_dir else ""
    net = bpy.path.abspath(prefs.controlnet_dir) if prefs is not None and prefs.controlnet_dir else ""
    if net and not os.path.exists(net):
        return f"the Depth ControlNet {net} of the {backend!r} backend was not found"
    if folder:
        return None if os.path.isdir(folder) else f"the Model Folder {folder} of the {backend!r} backend was not found"
    try:
        configured = config_from_env()  # as the worker reads it
    except BadInput as exc:
        return str(exc)
    if configured.model:
        return None
    return (f"the {backend!r} backend needs your own weights: set Model Folder in Preferences › Add-ons › Depth Addon "
            "to a diffusers model folder (with model_index.json)")


def _loads(module: str) -> bool:
    """Whether ``module`` imports here (cached: a wheel's state does not change while Blender runs)."""
    if module not in _LOADS:
        try:
            importlib.import_module(module)
            _LOADS[module] = True
        except Exception:  # an ImportError, or a broken binary wheel raising anything else
            _LOADS[module] = False
    return _LOADS[module]
