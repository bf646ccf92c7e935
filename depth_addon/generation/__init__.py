# SPDX-License-Identifier: GPL-3.0-or-later
"""Image generators driven by depth, and the registry that names them (no bpy).

Importing this package is cheap: generator modules are imported only when :func:`get_generator`
builds one. The default generators (``embedded``, ``analytic``, ``baseline``) need only numpy (and
safetensors for the embedded model's weights; the network runs on OpenCV's ``cv2.dnn`` when it is
there), which the extension zip bundles; only ``diffusers`` (and ``embedded`` with
``runtime="torch"``) import PyTorch.
"""

from __future__ import annotations

import importlib

from ..errors import BadInput, ModelUnavailable
from .base import Generator, validate_depth

__all__ = ["DEFAULT_GENERATOR", "Generator", "available_generators", "generator_maps", "get_generator", "needs",
           "needs_torch", "validate_depth"]

DEFAULT_GENERATOR = "embedded"

# name -> (module relative to this package, class name, modules it needs)
_REGISTRY: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "embedded": (".embedded", "EmbeddedGenerator", ("safetensors",)),
    "analytic": (".analytic", "AnalyticGenerator", ()),
    "baseline": (".baseline", "ProceduralBaseline", ()),
    "diffusers": (".diffusers_backend", "DiffusersGenerator", ("torch", "diffusers", "transformers")),
}

_INSTALL_HINT = {
    "torch": "PyTorch; install it with `python -m pip install torch` using the Python that runs Blender",
    "diffusers": "diffusers and transformers; install them with `python -m pip install diffusers==0.42.1 "
                 "transformers==5.23.0 accelerate==1.15.0` using the Python that runs the worker",
}
_INSTALL_HINT["transformers"] = _INSTALL_HINT["diffusers"]
_INSTALL_HINT["safetensors"] = ("safetensors; install it with `python -m pip install safetensors` using the Python "
                                "that runs Blender")


def needs(name: str | None) -> tuple[str, ...]:
    """The modules the generator ``name`` imports beyond numpy (the default ones: only bundled wheels).

    :param name: Registry name; None or empty is the default generator. Unknown names need nothing known.
    """
    key = (name or "").strip().lower() or DEFAULT_GENERATOR
    return _REGISTRY.get(key, ("", "", ()))[2]


def needs_torch(name: str | None) -> bool:
    """True when the generator ``name`` runs on PyTorch (the default ones run on numpy alone).

    :param name: Registry name; None or empty is the default generator.
    """
    return "torch" in needs(name)


def available_generators() -> list[str]:
    """Names accepted by :func:`get_generator`, sorted."""
    return sorted(_REGISTRY)


def generator_maps(name: str | None) -> tuple[str, ...] | None:
    """The material maps the generator ``name`` gives: its own (``maps``) or, for one that only paints a picture,
    the ones estimated from it (:data:`.maps.ESTIMATED`); None when not known here (a name the registry does not
    know, such as a worker's extra generator, or a module that cannot be imported).

    :param name: Registry name; None or empty is the default generator.
    """
    from .maps import ESTIMATED

    key = (name or "").strip().lower() or DEFAULT_GENERATOR
    if key not in _REGISTRY:
        return None
    module_name, class_name, _needs = _REGISTRY[key]
    try:
        cls = getattr(importlib.import_module(module_name, __name__), class_name)
    except ImportError:
        return None
    return tuple(getattr(cls, "maps", ())) if callable(getattr(cls, "generate_maps", None)) else ESTIMATED


def get_generator(name: str | None = None, **options) -> Generator:
    """Build the generator called ``name``.

    :param name: Registry name; None or empty selects :data:`DEFAULT_GENERATOR`.
    :param options: Passed to the generator's constructor (e.g. ``config=BackendConfig(...)`` for
        ``diffusers``, ``runtime="torch"`` for ``embedded``).
    :raises BadInput: For an unknown name (the message lists the known ones).
    :raises ModelUnavailable: When a dependency of the generator cannot be imported.
    """
    key = (name or "").strip().lower() or DEFAULT_GENERATOR
    if key not in _REGISTRY:
        raise BadInput(f"unknown generator {name!r}; known generators: {', '.join(available_generators())}")
    module_name, class_name, needs = _REGISTRY[key]
    if key == "embedded" and options.get("runtime") == "torch":
        needs = (*needs, "torch")
    for dep in needs:
        try:
            importlib.import_module(dep)
        except ImportError as exc:
            hint = _INSTALL_HINT.get(dep, f"the '{dep}' package; install it")
            raise ModelUnavailable(f"the '{key}' generator needs {hint}") from exc
    module = importlib.import_module(module_name, __name__)
    return getattr(module, class_name)(**options)
