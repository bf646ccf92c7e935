# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line ``info``: versions, torch device and the generators that can run here."""

from __future__ import annotations

import argparse

from ..errors import DepthAddonError
from ..generation import available_generators, get_generator
from .common import EventSink, versions

COMMAND = "info"


def add_parser(subparsers, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``info`` subcommand.

    :param subparsers: The ``add_subparsers()`` object of the main parser.
    :param common_parent: Parent parser with the options every command accepts (``--json``).
    """
    return subparsers.add_parser(COMMAND, parents=[common_parent], help="versions, device and generators")


def _device() -> str:
    """``cuda``, ``mps`` or ``cpu`` as torch sees it, or why there is none."""
    try:
        import torch  # lazy: torch is optional and slow to import; only ``info`` and ``versions`` ask for it
    except ImportError:
        return "none (PyTorch not installed)"
    return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"


def run(args: argparse.Namespace, events: EventSink) -> dict:
    """``info``: build every generator once and report what works (its packages import and, for one that needs a
    model, the model is set and in place), with the versions and the device.

    :param args: Parsed arguments (none of its own).
    :param events: The CLI's event writer; human mode prints the table.
    :return: Summary for the ``done`` event (``versions``, ``device``, ``generators``).
    """
    generators = {}
    for name in available_generators():
        try:
            check = getattr(get_generator(name), "check_configured", None)  # its model set and in place
            if check is not None:
                check()
            generators[name] = "ok"
        except DepthAddonError as exc:  # a package or model missing, or its settings (DEPTH_ADDON_DIFFUSERS) bad
            generators[name] = f"unavailable: {exc}"
    device = _device()
    info = {"versions": versions(), "device": device, "generators": generators}
    if not events.as_json:
        for key, value in info["versions"].items():
            print(f"{key:>12}: {value}")
        print(f"{'device':>12}: {device}")
        for name, state in generators.items():
            print(f"{'generator':>12}: {name} ({state})")
    return info
