# SPDX-License-Identifier: GPL-3.0-or-later
"""Generators for the worker tests, loaded into the worker with ``--generators worker_generators`` (no bpy).

They use numpy only (no torch import, so each worker starts fast) and behave in the ways the
protocol must survive: slow with previews, ignoring cancel, crashing, killed, out of memory.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

SLOW_STEPS = 400
STEP_S = 0.02


def _image(depth: np.ndarray, value: float = 0.5) -> np.ndarray:
    return np.full((*np.asarray(depth).shape[:2], 3), value, np.float32)


class Slow:
    """Many small steps, a preview every 10 steps, stops at the next step when cancelled."""

    name = "test-slow"

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None,
                 preview=None, steps=None):
        total = int(steps or SLOW_STEPS)
        for i in range(total):
            if cancel is not None and cancel():
                from depth_addon.errors import Cancelled

                raise Cancelled("cancelled")
            time.sleep(STEP_S)
            if progress is not None:
                progress((i + 1) / total, f"step {i + 1}")
            if preview is not None and i % 10 == 0:
                preview(_image(depth, i / total), (i + 1) / total)
        return _image(depth)


class LongSteps:
    """Few steps longer than the cancel grace (as a large diffusion model's), a progress event after each; stops at
    the next step when cancelled."""

    name = "test-long-steps"
    step_s = 1.5

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None):
        for i in range(20):
            if cancel is not None and cancel():
                from depth_addon.errors import Cancelled

                raise Cancelled("cancelled")
            time.sleep(self.step_s)
            if progress is not None:
                progress((i + 1) / 20, f"step {i + 1}")
        return _image(depth)


class LoadThenQuick:
    """A long load (as a large model's), then quick steps, then it hangs, never looking at the cancel flag."""

    name = "test-load-then-quick"

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None):
        progress(0.0, "loading model")
        time.sleep(2.0)
        progress(0.02, "preparing")
        for i in range(5):
            time.sleep(0.05)
            progress(0.1 + 0.1 * i, f"step {i + 1}")
        time.sleep(120)
        return _image(depth)


class Echo:
    """Returns at once; pixel values report the options it received (steps / 100, strength, prompt length)."""

    name = "test-echo"

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None,
                 steps=None, strength=None, negative_prompt=None):
        print("stray output")  # must not reach the event stream
        out = _image(depth, 0.0)
        out[..., 0] = (steps or 0) / 100.0
        out[..., 1] = strength if strength is not None else -1.0
        out[..., 2] = len(negative_prompt or "") + (1000 if camera is not None else 0)
        if progress is not None:
            progress(1.0, "done")
        return out


class Stuck:
    """Never looks at the cancel flag: only killing the process stops it."""

    name = "test-stuck"

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None):
        if progress is not None:
            progress(0.1, "stuck")
        time.sleep(120)
        return _image(depth)


class Crash:
    """Prints a line, then dies of a segmentation fault (as a broken native library would)."""

    name = "test-crash"

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None):
        print("native library about to fail", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(10)


class Killed:
    """Dies of SIGKILL, which is what the kernel's out-of-memory killer sends."""

    name = "test-killed"

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None):
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)


class Oom:
    """Asks numpy for far more memory than any machine has: a real MemoryError inside the worker."""

    name = "test-oom"

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None):
        return np.ones((1 << 24, 1 << 24), np.float64)


class ImportsBpy:
    """Tries to import Blender inside the worker."""

    name = "test-import-bpy"

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None):
        import bpy  # noqa: F401

        return _image(depth)


class Regions:
    """Paints regions, and reads free text as diffusers does: each segment's red is the length of its prompt / 255."""

    name = "test-regions"
    reads_free_text = True

    def generate(self, depth, mask=None, prompt="", seed=0, size=None, progress=None, cancel=None, camera=None,
                 segments=None, segment_prompts=None):
        out = _image(depth, 0.0)
        if segments is not None:
            lengths = np.array([len(p) for p in segment_prompts] + [0], np.float32) / 255.0
            out[..., 0] = lengths[np.where(segments >= 0, segments, len(segment_prompts))]
        return out


GENERATORS = {cls.name: cls for cls in (Slow, LongSteps, LoadThenQuick, Echo, Stuck, Crash, Killed, Oom, ImportsBpy,
                                        Regions)}
