# SPDX-License-Identifier: GPL-3.0-or-later
"""Timing and memory helpers shared by the benchmark scripts (no Blender needed)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path


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


def _rss_bytes() -> int | None:
    """Resident set size of this process now (Linux ``/proc``), or None elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_memory(fn: Callable[[], object], interval: float = 0.002) -> dict[str, float] | None:
    """Peak resident memory while ``fn`` runs once, sampled every ``interval`` seconds on a thread.

    :param fn: The work to watch.
    :param interval: Sampling period in seconds (a peak shorter than this can be missed).
    :return: ``{"peak_rss_mb", "peak_extra_mb"}``: the highest RSS seen during the call and how far it
        rose above the RSS before it; None where the RSS cannot be read (no ``/proc``).
    """
    before = _rss_bytes()
    if before is None:
        return None
    peak, done = [before], threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            peak[0] = max(peak[0], _rss_bytes() or 0)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        fn()
    finally:
        done.set()
        watcher.join()
    peak[0] = max(peak[0], _rss_bytes() or 0)
    return {"peak_rss_mb": round(peak[0] / 2**20, 1), "peak_extra_mb": round((peak[0] - before) / 2**20, 1)}


def script_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a bench script's arguments, with ``--json``; after ``--`` when run by ``blender --python``.

    :param parser: The script's parser (``--json`` is added here).
    :param argv: Arguments; the command line when None.
    """
    parser.add_argument("--json", help="also write the figures here")
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    return parser.parse_args(argv)


def report_figures(figures: dict, path: str | None) -> None:
    """Print ``figures`` as JSON and, when ``path`` is given, write them there too.

    :param figures: JSON-able figures.
    :param path: Target file, or None.
    """
    text = json.dumps(figures, indent=2)
    print(text)
    if path:
        Path(path).write_text(text + "\n")


def main_for(doc: str, run: Callable[[], dict], argv: list[str] | None = None) -> int:
    """A bench script's ``main``: parse ``--json``, run, print the figures and write them when asked.

    :param doc: The script's docstring (its first line describes the parser).
    :param run: Computes the figures.
    :param argv: Arguments; the command line when None.
    """
    args = script_args(argparse.ArgumentParser(description=doc.splitlines()[0]), argv)
    report_figures(run(), args.json)
    return 0


def stages_main(doc: str, stages: Callable[[Callable, int], list], runs: int, argv: list[str] | None = None) -> int:
    """A stage module's ``main``: parse ``--runs``, run the stages alone and print their medians.

    :param doc: The script's docstring (its first line describes the parser).
    :param stages: ``stages(measure, runs)`` → ``(stage, times, params, reference stage or None)`` rows.
    :param runs: Default number of timed runs.
    :param argv: Arguments; the command line when None.
    """
    import statistics

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=runs)
    args = parser.parse_args(argv)
    for stage, times, params, ref in stages(measure, args.runs):
        print(f"{stage:<36}{statistics.median(times) * 1e3:>10.1f} ms  (min {min(times) * 1e3:.1f}, "
              f"{len(times)} runs) {params}" + (f" vs {ref}" if ref else ""), flush=True)
    return 0
