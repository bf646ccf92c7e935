# SPDX-License-Identifier: GPL-3.0-or-later
"""Installing PyTorch next to the extension: which build, the pip command and its progress (no bpy).

The build follows the machine: an NVIDIA driver (``nvidia-smi`` on the path) selects the CUDA wheels,
a ROCm installation (``/opt/rocm`` on Linux) the ROCm wheels, macOS the regular PyPI wheels (Apple
Silicon gets MPS from them), anything else the CPU wheels. pip runs with ``--target`` into the
extension's own user folder, so Blender's bundled packages are never touched, and with
``--only-binary=:all:`` so nothing is compiled.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
from dataclasses import dataclass

TORCH_INDEX = "https://download.pytorch.org/whl"
#: Wheel channel per build on download.pytorch.org.
CHANNELS = {"cuda": "cu128", "rocm": "rocm6.4", "cpu": "cpu"}
VARIANTS = ("auto", "cpu", "cuda", "rocm", "mps")


@dataclass(frozen=True)
class TorchBuild:
    """The PyTorch build for a machine.

    :param variant: ``cpu``, ``cuda``, ``rocm`` or ``mps``.
    :param index_url: pip index holding that build; None for PyPI itself.
    :param reason: Why this build was chosen, for the user.
    """

    variant: str
    index_url: str | None
    reason: str


def choose_build(variant: str = "auto", system: str | None = None, machine: str | None = None,
                 has_nvidia: bool | None = None, has_rocm: bool | None = None) -> TorchBuild:
    """Pick the PyTorch build for this (or the described) machine.

    :param variant: ``auto`` or a forced build from :data:`VARIANTS`.
    :param system: ``platform.system()`` value; this machine's when None.
    :param machine: ``platform.machine()`` value; this machine's when None.
    :param has_nvidia: Whether an NVIDIA driver is present; probed when None.
    :param has_rocm: Whether ROCm is installed; probed when None.
    :raises ValueError: For an unknown variant or one this platform has no wheels for.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown PyTorch build {variant!r}; use one of {', '.join(VARIANTS)}")
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    if system == "Darwin":
        if variant not in ("auto", "cpu", "mps"):
            raise ValueError(f"there are no {variant.upper()} builds of PyTorch for macOS")
        gpu = machine in ("arm64", "aarch64")
        return TorchBuild("mps" if gpu else "cpu", None,
                          "macOS: PyPI wheels" + (" with Apple Metal (MPS)" if gpu else " (CPU; Intel Mac)"))
    if variant == "mps":
        raise ValueError("MPS (Apple Metal) exists only on macOS")
    if variant == "rocm" and system != "Linux":
        raise ValueError("ROCm builds of PyTorch exist only for Linux")
    if variant == "auto":
        if has_nvidia is None:
            has_nvidia = shutil.which("nvidia-smi") is not None
        if has_rocm is None:
            has_rocm = system == "Linux" and os.path.isdir("/opt/rocm")
        if has_nvidia:
            variant, reason = "cuda", "NVIDIA driver found (nvidia-smi)"
        elif has_rocm and system == "Linux":
            variant, reason = "rocm", "ROCm found in /opt/rocm"
        else:
            variant, reason = "cpu", "no NVIDIA or ROCm GPU found"
    else:
        reason = "chosen in the preferences"
    return TorchBuild(variant, f"{TORCH_INDEX}/{CHANNELS[variant]}", f"{variant.upper()} build: {reason}")


def pip_command(python: str, target: str, build: TorchBuild, package: str = "torch",
                find_links: str | None = None) -> list[str]:
    """The pip command that installs ``package`` for ``build`` into ``target``.

    :param python: The Python whose pip runs (Blender's).
    :param target: Folder to install into (the extension's ``site-packages``).
    :param build: From :func:`choose_build`.
    :param package: Requirement to install.
    :param find_links: A local folder of wheels: install from it alone, with no index and no network.
    """
    cmd = [python, "-m", "pip", "install", "--upgrade", "--no-input", "--disable-pip-version-check",
           "--only-binary=:all:", "--target", target]
    if find_links:
        cmd += ["--no-index", "--find-links", find_links]
    elif build.index_url:
        cmd += ["--index-url", build.index_url]
    return [*cmd, package]


_COLLECT = re.compile(r"^\s*Collecting (\S+)")
_DOWNLOAD = re.compile(r"^\s*Downloading (\S+)")


class PipProgress:
    """Turns pip's output lines into a fraction and a short message."""

    def __init__(self) -> None:
        self.fraction = 0.0
        self.message = "starting pip"
        self.collected = 0
        self.lines: list[str] = []

    def feed(self, line: str) -> None:
        """Take one output line.

        :param line: A line pip printed.
        """
        line = line.rstrip()
        if not line:
            return
        self.lines = [*self.lines[-19:], line]
        if m := _COLLECT.match(line):
            self.collected += 1
            self.message = f"resolving {m.group(1)}"
            self.fraction = max(self.fraction, min(0.3, 0.02 * self.collected))
        elif m := _DOWNLOAD.match(line):
            self.message = f"downloading {m.group(1).rsplit('/', 1)[-1]}"
            self.fraction = max(self.fraction, min(0.8, self.fraction + 0.05))
        elif line.startswith("Installing collected packages"):
            self.message, self.fraction = "installing", max(self.fraction, 0.85)
        elif line.startswith("Successfully installed"):
            self.message, self.fraction = "installed", 1.0

    def tail(self, lines: int = 3) -> str:
        """The last ``lines`` output lines, joined by `` | ``.

        :param lines: How many lines.
        """
        return " | ".join(self.lines[-lines:])
