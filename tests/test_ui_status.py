# SPDX-License-Identifier: GPL-3.0-or-later
"""The status line of the Depth tabs (3D View and Image Editor) after a job: what ended and, for a failure, why,
readable in a sidebar of the default width."""

from __future__ import annotations

import bpy
import pytest
from analytic import build
from ui_harness import draw

#: Characters a label of the default sidebar width shows before Blender cuts it.
SIDEBAR_CHARS = 48
WHY = ("the worker process killed by SIGSEGV: crashed (segmentation fault); last output: native library about to "
       "fail; Release Model and try again, or choose the 'analytic' backend")


@pytest.fixture
def jobs(addon):
    """The add-on's job module, with the queue emptied afterwards."""
    yield addon.jobs
    addon.jobs.QUEUE.abandon()
    addon.jobs.QUEUE.history.clear()


@pytest.mark.parametrize("panel", ["VIEW3D_PT_depth_status", "IMAGE_PT_depth"])
def test_a_failed_job_says_which_and_why_in_lines_that_fit(addon, jobs, panel: str) -> None:
    """After a failed job the status names the job and gives the whole reason, wrapped to the sidebar (one label
    cut the reason off after a few words)."""
    scene = build()
    result = addon.depth_addon.api.render_depth(scene)
    jobs.QUEUE.history.append(jobs.Job(scene.name, result, {}, label="Cam seed 7", state="error", error=WHY))
    jobs.sync_status(bpy.context.window_manager)
    cls = next(c for c in addon.panels.classes if c.__name__ == panel)
    labels = [text for text in draw(cls.draw, cls.bl_space_type).labels if text]
    assert "Failed: Cam seed 7" in labels
    assert " ".join(labels).split("Failed: Cam seed 7 ", 1)[1].startswith(WHY)
    assert max(len(text) for text in labels) <= SIDEBAR_CHARS, labels
