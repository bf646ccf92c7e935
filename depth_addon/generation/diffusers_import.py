# SPDX-License-Identifier: GPL-3.0-or-later
"""Importing torch and diffusers for the diffusers backend, and loading weights quietly (no bpy).

torch, diffusers and transformers are imported only here and only when a model is loaded: offline unless
told otherwise, and with the install command when one is missing. Loading draws no progress bars: stderr is
kept for the one line of an error, and progress goes through the backend's own events.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator

from ..errors import ModelUnavailable
from .diffusers_load import INSTALL_COMMAND


def import_diffusers(offline: bool = True) -> tuple:
    """Import torch and diffusers (and check transformers), offline unless told otherwise.

    :param offline: Set ``HF_HUB_OFFLINE=1`` in this process before importing.
    :return: ``(torch, diffusers)`` modules.
    :raises ModelUnavailable: When a package is missing; the message gives the pip command.
    """
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        torch = importlib.import_module("torch")
        diffusers = importlib.import_module("diffusers")
        importlib.import_module("transformers")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        torch_hint = " (and PyTorch built for your GPU first)" if missing == "torch" else ""
        raise ModelUnavailable(f"the diffusers backend needs PyTorch, diffusers and transformers ({missing} is "
                               f"missing); install them into the Python that runs it with: {INSTALL_COMMAND}"
                               f"{torch_hint}") from exc
    return torch, diffusers


@contextlib.contextmanager
def no_progress_bars(*libraries: str) -> Iterator[None]:
    """Load quietly: no progress bars and no warnings from the Hugging Face libraries on stderr (such as
    transformers' "requires torchvision" once per process), only errors; put back after.

    :param libraries: Their module names; ``diffusers`` and ``transformers`` when none are named.
    """
    switches = [importlib.import_module(f"{name}.utils.logging") for name in libraries or ("diffusers", "transformers")]
    were = [(s.is_progress_bar_enabled(), s.get_verbosity()) for s in switches]
    for s in switches:
        s.disable_progress_bar()
        s.set_verbosity_error()
    try:
        yield
    finally:
        for s, (bars, verbosity) in zip(switches, were, strict=True):
            s.set_verbosity(verbosity)
            if bars:
                s.enable_progress_bar()


def pipeline_class(diffusers, name: str) -> type:
    """The diffusers pipeline class ``name``, imported quietly (it imports transformers' processors, which warn).

    :param diffusers: The diffusers module.
    :param name: The class name.
    :raises ModelUnavailable: When this diffusers has no such pipeline.
    """
    with no_progress_bars():
        cls = getattr(diffusers, name, None)
    if cls is None:
        raise ModelUnavailable(f"diffusers {diffusers.__version__} has no {name}; install a newer one with: "
                               f"{INSTALL_COMMAND}")
    return cls


def load_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean "these weights cannot be loaded" (diffusers wraps most in OSError)."""
    from safetensors import SafetensorError

    return OSError, ValueError, RuntimeError, KeyError, SafetensorError


def fail_load(what: object, exc: Exception) -> ModelUnavailable:
    """The error for weights that could not be loaded.

    :param what: The model or file, for the message.
    :param exc: What loading raised.
    """
    return ModelUnavailable(f"cannot load {what}: {type(exc).__name__}: {exc}")
