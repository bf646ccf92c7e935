# SPDX-License-Identifier: GPL-3.0-or-later
"""How much memory this process can still use, for the guards that refuse work before it is started (a bake's
fusion, loading a diffusers model) rather than being killed by the system part-way."""

from __future__ import annotations

import os


def available_bytes() -> int | None:
    """Memory still free for this process: ``MemAvailable`` on Linux, else the physical memory; None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def size_text(size: int) -> str:
    """``size`` bytes for messages: ``12.34 GiB``, or ``56.7 MiB`` under a GiB.

    :param size: Bytes.
    """
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"
