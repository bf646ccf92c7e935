# SPDX-License-Identifier: GPL-3.0-or-later
"""Generation jobs inside Blender: a queue served by the worker process, polled on the main thread.

Depth is rendered when a job is queued (so each job keeps the camera pose it was queued with); the
image is generated in the worker (:mod:`..worker`); only when the result arrives does the scene
change: the image, the projection materials and optionally the compositor group are created in
:meth:`JobQueue.update`, which runs on Blender's main thread (a modal operator's timer). A cancelled
or failed job therefore leaves the scene exactly as it was.

Job status for the UI lives on the window manager (``window_manager.depth_addon_jobs``): it is not
saved with the file and not part of undo. Generation settings that the scene settings do not hold
yet (negative prompt, steps, strength, variations) live on ``scene.depth_addon_generate``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import bpy
import numpy as np

from ..blender import images
from ..blender.compositor import group as compositor
from ..depthmap import DepthResult
from ..errors import BadInput, DepthAddonError
from ..worker.client import WorkerClient
from ..worker.config import WorkerConfig
from ..worker.protocol import CancelledEvent, Error, Preview, Progress, Result, read_array
from .texture import project

PREVIEW_IMAGE = "Depth Generation Preview"
#: Finished jobs kept for the status panel.
HISTORY = 8


@dataclass
class Job:
    """One generation: depth already rendered, image still to make.

    :param scene: Name of the scene the result goes into.
    :param depth: The depth render (camera pose, frame and occlusion depth).
    :param params: :class:`~depth_addon.worker.protocol.GenerateParams` fields besides the arrays.
    :param label: Short name for the UI (camera and seed).
    :param compositor: Also set up the compositor group with the image.
    :param objects: Names of the objects to project onto; every visible mesh when empty.
    """

    scene: str
    depth: DepthResult
    params: dict
    label: str = "job"
    compositor: bool = True
    objects: tuple[str, ...] = ()
    state: str = "queued"  # queued, running, done, error, cancelled
    request: str | None = None
    fraction: float = 0.0
    message: str = "queued"
    step: int = 0
    eta_s: float | None = None
    error: str = ""
    image: str = ""
    submitted: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        """True once the job is done, failed or cancelled."""
        return self.state in ("done", "error", "cancelled")


class JobQueue:
    """The queue of generation jobs and the worker that serves them, one job at a time."""

    def __init__(self) -> None:
        self.client: WorkerClient | None = None
        self.jobs: list[Job] = []
        self.history: list[Job] = []
        self.preview: str = ""
        self.modal_running = False
        self.last_tick = 0.0

    # --- worker ---------------------------------------------------------------------------------

    def configure(self, config: WorkerConfig) -> WorkerClient:
        """Use ``config`` for the worker; a running idle worker with another config is stopped.

        :param config: How to start the worker.
        :return: The client.
        """
        if self.client is not None and self.client.config != config and not self.client.busy:
            self.client.stop()
            self.client = None
        if self.client is None:
            self.client = WorkerClient(config)
        return self.client

    @property
    def followed(self) -> bool:
        """Whether a modal operator is following the queue (it ticked within the last 5 s)."""
        return self.modal_running and time.perf_counter() - self.last_tick < 5.0

    @property
    def worker_alive(self) -> bool:
        """Whether a worker process runs now."""
        return self.client is not None and self.client.alive

    def release(self) -> bool:
        """Stop the worker, which frees everything its models held; False when none was running.

        :raises BadInput: While a job runs (cancel it first).
        """
        if self.running is not None:
            raise BadInput("a job is running; cancel it before releasing the model")
        alive = self.worker_alive
        if self.client is not None:
            self.client.stop()
        return alive

    def shutdown(self) -> None:
        """Drop every job and stop the worker (add-on unregistered)."""
        self.jobs.clear()
        if self.client is not None:
            self.client.stop(timeout=1.0)
            self.client = None
        self.modal_running = False

    # --- queue ----------------------------------------------------------------------------------

    @property
    def running(self) -> Job | None:
        """The job the worker is on, if any."""
        return next((j for j in self.jobs if j.state == "running"), None)

    @property
    def queued(self) -> list[Job]:
        """Jobs waiting for the worker."""
        return [j for j in self.jobs if j.state == "queued"]

    @property
    def busy(self) -> bool:
        """Whether any job is queued or running."""
        return bool(self.jobs)

    def submit(self, job: Job) -> Job:
        """Queue ``job``; it starts on the next :meth:`update` when the worker is free.

        :param job: The job.
        """
        if self.client is None:
            raise BadInput("the worker is not configured")
        self.jobs.append(job)
        return job

    def cancel(self, job: Job | None = None) -> int:
        """Cancel ``job`` (default: all); queued jobs end at once, the running one within a second.

        :param job: The job, or None for every job.
        :return: Number of jobs affected.
        """
        count = 0
        for j in [job] if job is not None else list(self.jobs):
            if j.state == "queued":
                j.state, j.message = "cancelled", "cancelled"
                self._retire(j)
                count += 1
            elif j.state == "running" and self.client is not None and j.request is not None:
                self.client.cancel(j.request)
                j.message = "cancelling…"
                count += 1
        return count

    def abandon(self) -> None:
        """Drop every job at once (a new file is loading): the running one is cancelled in the worker."""
        for job in list(self.jobs):
            if job.state == "running" and self.client is not None and job.request is not None:
                self.client.cancel(job.request)
            job.state, job.message = "cancelled", "cancelled"
            self._retire(job)

    def _retire(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        self._drop_preview()
        job.seconds = time.perf_counter() - job.submitted
        self.history = [job, *self.history][:HISTORY]

    def _start_next(self) -> None:
        if self.running is not None or not self.queued or self.client is None:
            return
        job = self.queued[0]
        try:
            job.request = self.client.generate(job.depth.depth, job.depth.mask, camera=job.depth.camera.to_dict(),
                                               **job.params)
        except DepthAddonError as exc:
            job.state, job.error, job.message = "error", str(exc), "failed"
            self._retire(job)
            return
        job.state, job.message, job.fraction = "running", "starting", 0.0

    def update(self) -> list[Job]:
        """Advance the queue: start the next job, take in worker events, apply results (main thread only).

        :return: Jobs that finished during this call.
        """
        finished: list[Job] = []
        self.last_tick = time.perf_counter()
        if self.client is None:
            return finished
        self._start_next()
        by_request = {j.request: j for j in self.jobs if j.request is not None}
        for event in self.client.poll():
            job = by_request.get(event.id)
            if job is None:
                continue
            if isinstance(event, Progress):
                job.fraction, job.message, job.step, job.eta_s = event.fraction, event.message, event.step, event.eta_s
            elif isinstance(event, Preview):
                self._show_preview(event.path)
            elif isinstance(event, Result):
                try:
                    self.apply(job, self.client.take_result(event))
                    job.state, job.fraction, job.message = "done", 1.0, "done"
                except DepthAddonError as exc:
                    job.state, job.error, job.message = "error", str(exc), "failed"
            elif isinstance(event, Error):
                job.state, job.error, job.message = "error", event.message, "failed"
            elif isinstance(event, CancelledEvent):
                job.state, job.message = "cancelled", "cancelled"
            if job.finished:
                self._retire(job)
                finished.append(job)
        self._start_next()
        return finished

    def _show_preview(self, path: str) -> None:
        try:
            rgb = read_array(path)
        except BadInput:
            return  # a preview superseded before it was read
        self.preview = images.image_from_array(PREVIEW_IMAGE, rgb).name

    def _drop_preview(self) -> None:
        """Remove the preview image once its job ended: a cancelled job leaves nothing behind."""
        image = bpy.data.images.get(self.preview) if self.preview else None
        if image is not None and image.get(images.KEY_OWNED):
            bpy.data.images.remove(image)
        self.preview = ""

    # --- results --------------------------------------------------------------------------------

    def apply(self, job: Job, rgb: np.ndarray) -> bpy.types.Image:
        """Put a generated image into the scene: image datablock, projection, compositor (main thread).

        :param job: The finished job.
        :param rgb: H×W×3 float32 sRGB image.
        :raises BadInput: When the scene or every target object is gone.
        """
        scene = bpy.data.scenes.get(job.scene)
        if scene is None:
            raise BadInput(f"scene {job.scene!r} no longer exists; the result was dropped")
        objects = None
        if job.objects:
            objects = [bpy.data.objects[n] for n in job.objects if n in bpy.data.objects]
            if not objects:
                raise BadInput("none of the objects chosen for this job exist any more")
        base = f"Depth {job.label}"
        name, n = base, 1
        while name in bpy.data.images:
            n += 1
            name = f"{base} {n}"
        image = images.image_from_array(name, rgb)
        image.pack()  # generated pixels must survive saving the file
        image["depth_addon"] = {"prompt": job.params.get("prompt", ""), "seed": job.params.get("seed", 0),
                                "generator": job.params.get("generator") or "default"}
        try:
            project(scene, job.depth, image, objects=objects)
            if job.compositor:
                compositor.ensure_compositor_group(scene, image=image)
                compositor.activate_compositor(scene)
        except DepthAddonError:
            bpy.data.images.remove(image)
            raise
        job.image = image.name
        return image

    def wait(self, timeout: float = 600.0, interval: float = 0.02) -> list[Job]:
        """Run :meth:`update` until the queue is empty (scripts and tests; blocks the caller).

        :param timeout: Seconds before the remaining jobs are cancelled.
        :param interval: Seconds between updates.
        :return: Every job that finished meanwhile.
        """
        done: list[Job] = []
        end = time.perf_counter() + timeout
        while self.busy:
            done += self.update()
            if end is not None and time.perf_counter() > end:
                self.cancel()
                end = None
            time.sleep(interval)
        return done


#: The one queue of this Blender session.
QUEUE = JobQueue()


def status_text(queue: JobQueue = QUEUE) -> str:
    """One line for the status bar and the sidebar: what runs, how far, how long still.

    :param queue: The queue to describe.
    """
    job = queue.running
    waiting = len(queue.queued)
    if job is None:
        if waiting:
            return f"{waiting} job{'s' if waiting > 1 else ''} queued"
        last = queue.history[0] if queue.history else None
        if last is None:
            return "Idle"
        return {"done": f"Done: {last.label}", "cancelled": f"Cancelled: {last.label}"}.get(
            last.state, f"Failed: {last.error}")
    eta = f", about {job.eta_s:.0f} s left" if job.eta_s is not None and job.eta_s >= 1 else ""
    more = f" (+{waiting} queued)" if waiting else ""
    return f"{job.label}: {job.message} {job.fraction * 100:.0f} %{eta}{more}"


def sync_status(wm: bpy.types.WindowManager, queue: JobQueue = QUEUE) -> None:
    """Copy the queue's state into ``wm.depth_addon_jobs`` for the panels.

    :param wm: The window manager.
    :param queue: The queue.
    """
    status = getattr(wm, "depth_addon_jobs", None)
    if status is None:
        return
    job = queue.running
    fraction = job.fraction if job is not None else 0.0
    text = status_text(queue)
    if status.fraction != fraction:
        status.fraction = fraction
    if status.text != text:
        status.text = text


@bpy.app.handlers.persistent
def _on_load_pre(*_args) -> None:
    """A new file invalidates the queued jobs' scenes and objects: drop them."""
    QUEUE.abandon()


def register() -> None:
    """Register the file-load handler (the settings and status groups are :mod:`depth_addon.blender.props`)."""
    if _on_load_pre not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_on_load_pre)


def unregister() -> None:
    """Stop the worker and remove the file-load handler."""
    QUEUE.shutdown()
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
