# SPDX-License-Identifier: GPL-3.0-or-later
"""What every generating operator shares: queue jobs, follow them from a timer, Esc cancels, report each.

An operator subclasses :class:`FollowJobs` and implements ``make_jobs``. Invoked from the UI it returns at
once and follows the queue modally (Blender stays usable, a progress bar and the status line show how far,
Esc cancels); run from a script (``execute``) it waits for its jobs. The images are generated in the
worker process either way (:mod:`depth_addon.app.jobs`).
"""

from __future__ import annotations

import time

import bpy

from ..depth_addon.app import setup
from ..depth_addon.app.jobs import QUEUE, Job, sync_status
from ..depth_addon.errors import DepthAddonError

TIMER_S = 0.1


def redraw(context: bpy.types.Context) -> None:
    """Redraw the editors that show job status."""
    screen = context.screen
    for area in screen.areas if screen is not None else ():
        if area.type in {"VIEW_3D", "IMAGE_EDITOR", "PREFERENCES"}:
            area.tag_redraw()


def status_bar(context: bpy.types.Context, text: str | None) -> None:
    """Show ``text`` in the workspace's status bar (None clears it)."""
    if context.workspace is not None:
        context.workspace.status_text_set(text)


class FollowJobs:
    """Mixin for operators whose work is generation jobs (``bl_options`` should include ``UNDO``)."""

    def make_jobs(self, context: bpy.types.Context) -> list[Job]:
        """Build and submit the jobs (their flows' first steps run now).

        :raises DepthAddonError: For anything that stops the jobs before they start.
        """
        raise NotImplementedError

    def _submit(self, context: bpy.types.Context) -> list[Job] | None:
        QUEUE.configure(setup.worker_config(context))
        try:
            return self.make_jobs(context)
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return None

    def report_job(self, job: Job) -> None:
        """One line per finished job: what it made, that it was cancelled, or why it failed."""
        if job.state == "done":
            self.report({"INFO"}, f"{job.label}: {job.summary} ({job.seconds:.1f} s)")
            for warning in getattr(job.result, "warnings", ()):
                self.report({"WARNING"}, warning)
        elif job.state == "cancelled":
            self.report({"INFO"}, f"{job.label}: cancelled")
        else:
            self.report({"ERROR"}, f"{job.label}: {job.error}")

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Synchronous form for scripts: queue, wait for the worker, apply."""
        jobs = self._submit(context)
        if jobs is None:
            return {"CANCELLED"}
        QUEUE.wait()
        for job in jobs:
            self.report_job(job)
        sync_status(context.window_manager)
        return {"FINISHED"} if any(j.state == "done" for j in jobs) else {"CANCELLED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """Queue the jobs and follow them from a timer until the queue is empty."""
        jobs = self._submit(context)
        if jobs is None:
            return {"CANCELLED"}
        if QUEUE.followed or not QUEUE.busy:  # another operator follows the queue already, or nothing to wait for
            for job in jobs:
                if job.finished:
                    self.report_job(job)
            self.report({"INFO"}, f"Queued {sum(not j.finished for j in jobs)} job(s)")
            return {"FINISHED"}
        wm = context.window_manager
        self._applied = 0
        self._timer = wm.event_timer_add(TIMER_S, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        QUEUE.modal_running, QUEUE.last_tick = True, time.perf_counter()
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """Poll the worker on each timer tick; Esc cancels every job."""
        if event.type == "ESC" and event.value == "PRESS":
            if QUEUE.cancel():
                self.report({"INFO"}, "Cancelling generation…")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        for job in QUEUE.update():
            self.report_job(job)
            if job.state == "done":
                self._applied += 1
                if QUEUE.busy:  # the last result is covered by the operator's own undo step
                    bpy.ops.ed.undo_push(message=f"Depth: {job.label}")
        wm = context.window_manager
        sync_status(wm)
        wm.progress_update(int(wm.depth_addon_jobs.fraction * 100))
        status_bar(context, wm.depth_addon_jobs.text if QUEUE.busy else None)
        redraw(context)
        if QUEUE.busy:
            return {"PASS_THROUGH"}
        self._end(context)
        return {"FINISHED"} if self._applied else {"CANCELLED"}

    def _end(self, context: bpy.types.Context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        QUEUE.modal_running = False
        status_bar(context, None)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the operator (file load, window closed): drop the jobs."""
        QUEUE.abandon()
        self._end(context)
