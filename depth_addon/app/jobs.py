# SPDX-License-Identifier: GPL-3.0-or-later
"""Generation jobs inside Blender: a queue served by the worker process, polled on the main thread.

A job runs one flow (:mod:`.flow`): texture from a camera, multi-view, regenerate. Its first step runs
when the job is queued (depth is rendered then, so each job keeps the camera pose it was queued with);
every image it asks for is generated in the worker (:mod:`..worker`), and the flow's next step runs in
:meth:`JobQueue.update`, on Blender's main thread (a modal operator's timer), when the image arrives.
Flows change the scene only after their last image, so a cancelled or failed job leaves the scene as
it was.

Job status for the UI lives on the window manager (``window_manager.depth_addon_jobs``): it is not
saved with the file and not part of undo. Generation settings that the scene settings do not hold
yet (negative prompt, steps, strength, variations) live on ``scene.depth_addon_generate``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import bpy

from ..blender import hooks, images
from ..errors import BadInput, DepthAddonError
from ..worker.client import WorkerClient
from ..worker.config import WorkerConfig
from ..worker.protocol import CancelledEvent, Error, Estimated, Preview, Progress, Result, read_array
from . import texture
from .flow import PAUSE, EstimateRequest, Flow, Generated, GenerateRequest
from .packing import keep_on_save, pack_on_save

PREVIEW_IMAGE = "Depth Generation Preview"
#: Finished jobs kept for the status panel.
HISTORY = 8


@dataclass
class Job:
    """One flow served by the worker.

    :param scene: Name of the scene the result goes into.
    :param flow: The use case; its first step runs at :meth:`JobQueue.submit`.
    :param params: Generator options for every request (``generator``, ``negative_prompt``, ``steps``,
        ``strength``, ``device``, ``model_dir``).
    :param label: Short name for the UI (camera and seed).
    :param seed: The seed, for the UI.
    :param describe: Turns the flow's result into the report line; the image name by default.
    """

    scene: str
    flow: Flow
    params: dict
    label: str = "job"
    seed: int = 0
    describe: Callable[[object], str] | None = None
    state: str = "queued"  # queued, running, done, error, cancelled
    request: str | None = None
    pending: GenerateRequest | EstimateRequest | None = None
    result: object = None
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

    @property
    def summary(self) -> str:
        """What the job made, for the operator's report."""
        if self.describe is not None:
            return self.describe(self.result)
        notes = "".join(f"; {note}" for note in getattr(self.result, "notes", ()))
        return (f"image {self.image!r} projected" if self.image else "done") + notes


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
        """Use ``config`` for the worker; a worker with another config is stopped while no job needs it.

        :param config: How to start the worker.
        :return: The client.
        """
        if self.client is not None and self.client.config != config and not self.jobs:
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
        """Run the first step of ``job``'s flow now and queue its first image for the worker.

        :param job: The job.
        :raises DepthAddonError: When the flow's first step fails (no camera, nothing in view …); nothing is queued.
        """
        if self.client is None:
            raise BadInput("the worker is not configured")
        try:
            job.pending = next(job.flow)
        except StopIteration as stop:  # a flow that needs no image
            job.result, job.state, job.fraction, job.message = stop.value, "done", 1.0, "done"
            self.history = [job, *self.history][:HISTORY]
            return job
        except BaseException:
            job.flow.close()
            raise
        self.jobs.append(job)
        return job

    def cancel(self, job: Job | None = None) -> int:
        """Cancel ``job`` (default: all); queued jobs end at once, the running one at its next step (see the worker).

        A job whose result is being written back ends at once too: closing its flow removes what it made so far.

        :param job: The job, or None for every job.
        :return: Number of jobs affected.
        """
        count = 0
        for j in [job] if job is not None else list(self.jobs):
            if j.state == "queued" or (j.state == "running" and j.pending is PAUSE):
                j.state, j.message = "cancelled", "cancelled"
                j.flow.close()
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
            job.flow.close()
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
        job.state, job.fraction = "running", 0.0
        if job.pending is not PAUSE:
            self._send(job)

    def _send(self, job: Job) -> None:
        """Hand the job's pending request to the worker (a refused request fails the job)."""
        req = job.pending
        try:
            if isinstance(req, EstimateRequest):
                job.request = self.client.estimate(req.photo, req.model, req.device)
            else:
                job.request = self.client.generate(
                    req.depth, req.mask, camera=None if req.camera is None else req.camera.to_dict(),
                    prompt=req.prompt, seed=req.seed, init_image=req.init_image, init_mask=req.init_mask,
                    segments=req.segments, segment_prompts=req.segment_prompts, segment_texts=req.segment_texts,
                    world_cell=req.world_cell,
                    **({"maps": True} if req.maps else {}), **job.params)
        except DepthAddonError as exc:
            self._fail(job, str(exc))
            return
        job.message = req.message

    def _fail(self, job: Job, error: str, state: str = "error") -> None:
        job.state, job.error, job.message = state, error, "failed" if state == "error" else state
        job.flow.close()

    def _advance(self, job: Job, event: Result) -> None:
        """Give the flow its image and run its next step (main thread): another request, or the result."""
        maps = {name: read_array(path) for name, path in event.maps.items()} or None
        self._step(job, Generated(self.client.take_result(event), event.generator, event.fingerprint, maps))

    def _step(self, job: Job, value: Generated | None) -> None:
        """Run the flow's next main-thread step; a :data:`~.flow.PAUSE` waits for the next update."""
        try:
            job.pending, job.request = job.flow.send(value), None
        except StopIteration as stop:
            job.result, job.state, job.fraction, job.message = stop.value, "done", 1.0, "done"
            job.image = getattr(getattr(stop.value, "image", None), "name", "")
            return
        except DepthAddonError as exc:
            self._fail(job, str(exc))
            return
        if job.pending is not PAUSE:
            self._send(job)

    def update(self) -> list[Job]:
        """Advance the queue: start the next job, take in worker events, run flows on (main thread only).

        :return: Jobs that finished during this call.
        """
        finished: list[Job] = []
        self.last_tick = time.perf_counter()
        if self.client is None:
            return finished
        self._start_next()
        paused = self.running
        if paused is not None and paused.pending is PAUSE:  # one write-back step per update
            self._step(paused, None)
            if paused.finished:
                self._retire(paused)
                finished.append(paused)
        by_request = {j.request: j for j in self.jobs if j.request is not None}
        for event in self.client.poll():
            job = by_request.get(event.id)
            if job is None:  # its job was dropped (a file opened): its result's files go now
                self.client.discard(event)
                continue
            if isinstance(event, Progress):
                req = job.pending
                job.fraction = req.start + req.span * event.fraction
                job.message, job.step, job.eta_s = f"{req.message}: {event.message}", event.step, event.eta_s
            elif isinstance(event, Preview):
                self._show_preview(event.path)
            elif isinstance(event, Result):
                self._advance(job, event)
            elif isinstance(event, Estimated):
                self._step(job, self.client.take_estimate(event))
            elif isinstance(event, Error):
                self._fail(job, event.message)
            elif isinstance(event, CancelledEvent):
                self._fail(job, "", "cancelled")
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
        image = images.image_from_array(PREVIEW_IMAGE, rgb)
        image[images.KEY_TRANSIENT] = True  # removed when the job ends: never packed into the file
        self.preview = image.name

    def _drop_preview(self) -> None:
        """Remove the preview image once its job ended: a cancelled job leaves nothing behind."""
        image = bpy.data.images.get(self.preview) if self.preview else None
        if image is not None and image.get(images.KEY_OWNED):
            bpy.data.images.remove(image)
        self.preview = ""

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
    """Register the file-load and save handlers (the settings and status groups are
    :mod:`depth_addon.blender.props`)."""
    keep_on_save()
    hooks.add_handler(bpy.app.handlers.load_pre, _on_load_pre)


def unregister() -> None:
    """Stop the worker and the texture flow's helper thread, and remove the handlers."""
    QUEUE.shutdown()
    texture.shutdown()
    pack_on_save()  # without the handler a later save would drop the pixels of our unpacked images
    hooks.remove_handler(bpy.app.handlers.save_pre, pack_on_save)
    hooks.remove_handler(bpy.app.handlers.load_pre, _on_load_pre)
