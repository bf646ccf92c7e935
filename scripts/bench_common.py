# SPDX-License-Identifier: GPL-3.0-or-later
"""Timing helper shared by the benchmark scripts (no Blender needed)."""

from __future__ import annotations

import time
from collections.abc import Callable


def measure(fn: Callable[[], object], runs: int, warmup: int = 1, setup: Callable[[], object] | None = None,
            ) -> list[float]:
    """Wall times of ``runs`` calls of ``fn`` after ``warmup`` untimed calls.

    :param fn: The work to time.
    :param runs: Timed calls.
    :param warmup: Untimed calls first (caches, first-call costs).
    :param setup: Called untimed before every call (e.g. to undo the previous call's result).
    """
    times = []
    for i in range(warmup + runs):
        if setup is not None:
            setup()
        t = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return times
