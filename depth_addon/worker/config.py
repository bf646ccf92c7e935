# SPDX-License-Identifier: GPL-3.0-or-later
"""How the worker process is started, and its exit status in words (no bpy)."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: Folder holding the core package (``<root>/depth_addon``): goes first on the worker's path.
CORE_ROOT = Path(__file__).resolve().parents[2]
#: Name of the core package as a top-level package in the worker.
CORE_NAME = Path(__file__).resolve().parents[1].name

_BOOTSTRAP = (
    "import importlib, os, sys\n"
    "sys.path[:0] = [p for p in sys.argv[1].split(os.pathsep) if p]\n"
    "sys.exit(importlib.import_module(sys.argv[2] + '.worker.server').main(sys.argv[3:]))\n"
)


@dataclass
class WorkerConfig:
    """How to start the worker.

    :param python: Python executable; empty uses ``sys.executable``.
    :param paths: Extra ``sys.path`` folders for the worker (e.g. where PyTorch was installed).
    :param inherit_path: Also pass this process's ``sys.path`` (only when the worker runs the same
        Python, whose packages, such as wheels bundled with the extension, it should see).
    :param env: Extra environment variables.
    :param args: Extra server arguments (``--generators MODULE``).
    :param cancel_grace_s: How long a cancelled request may take to stop before the process is killed.
    :param cancel_step_limit_s: A request whose steps take longer (a diffusion step of a large model) gets twice its
        last step to stop at the next one, up to this: killing the worker would unload its model.
    """

    python: str = ""
    paths: tuple[str, ...] = ()
    inherit_path: bool = True
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    cancel_grace_s: float = 0.5
    cancel_step_limit_s: float = 15.0

    def executable(self) -> str:
        """The Python the worker runs with."""
        return self.python or sys.executable

    def command(self) -> list[str]:
        """The full command line of the worker."""
        paths = [str(CORE_ROOT), *self.paths]
        same_python = not self.python or os.path.realpath(self.python) == os.path.realpath(sys.executable)
        if self.inherit_path and same_python:
            paths += [p for p in sys.path if p and os.path.isdir(p)]
        unique = list(dict.fromkeys(os.path.abspath(p) for p in paths))
        return [self.executable(), "-I", "-u", "-c", _BOOTSTRAP, os.pathsep.join(unique), CORE_NAME, *self.args]


def describe_exit(code: int | None) -> str:
    """The exit status of a worker in words.

    :param code: ``Popen.returncode`` (negative: killed by that signal on POSIX).
    """
    if code is None:
        return "still running"
    if code == 0:
        return "exited normally"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGKILL": ": killed from outside, most often because the system ran out of memory",
                "SIGSEGV": ": crashed (segmentation fault)", "SIGABRT": ": aborted", "SIGBUS": ": crashed (bus error)",
                "SIGTERM": ": terminated"}.get(name, "")
        return f"killed by {name}{hint}"
    windows = {0xC0000005: "crashed (access violation)", 0xC0000409: "crashed (stack buffer overrun)",
               0xC0000017: "ran out of memory", 0xC00000FD: "crashed (stack overflow)"}
    return windows.get(code & 0xFFFFFFFF, f"exited with code {code}")
