# SPDX-License-Identifier: GPL-3.0-or-later
"""Background generation operators: generate (modal, cancellable), cancel, release, install PyTorch, check setup."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time

import bpy

from ..depth_addon.app import setup
from ..depth_addon.app.jobs import QUEUE, Job
from ..depth_addon.app.scene_prompts import assignment_summary
from ..depth_addon.app.texture import texture_flow
from ..depth_addon.errors import BadInput, DepthAddonError
from ..depth_addon.worker.client import WorkerClient
from ..depth_addon.worker.install import PipProgress, choose_build, pip_command
from ..depth_addon.worker.protocol import Error, Pong
from . import ids
from .depth_ops import camera_poll
from .follow import FollowJobs, redraw

#: Why Generate & Project cannot run: it projects onto the selected meshes only, and none is.
NO_SELECTED_MESH = "Selected Only is on, but no mesh is selected"


def describe_texture(result) -> str:
    """The report line of a texture job: the image, which material each object got (:func:`assignment_summary`),
    and the run's notes; its warnings are reported one by one after it.

    :param result: The job's :class:`~depth_addon.app.texture.TextureRun`.
    """
    notes = "".join(f"; {note}" for note in result.notes)
    return f"image {result.image.name!r} projected; {assignment_summary(result.parts.decisions)}{notes}"


def job_params(context: bpy.types.Context) -> dict:
    """Generator options every request of a job carries: backend, negative prompt, steps, strength, device, the
    weights folders of the preferences."""
    extra, prefs = context.scene.depth_addon_generate, setup.addon_prefs(context)

    def folder(name: str) -> str:
        value = getattr(prefs, name, "") if prefs is not None else ""
        return bpy.path.abspath(value) if value else ""

    return {"generator": setup.generator_name(context), "negative_prompt": extra.negative_prompt,
            "steps": extra.steps, "strength": extra.strength, "device": prefs.device if prefs is not None else "auto",
            "model_dir": folder("model_dir"), "controlnet_dir": folder("controlnet_dir")}


def backend_poll(cls, backend: str) -> bool:
    """Shared poll of the operators that generate: the backend can run here (else the reason, e.g. it needs
    PyTorch, is the poll message).

    :param backend: Registry name (empty: the default generator).
    """
    missing = setup.missing_for(backend)
    if missing:
        cls.poll_message_set(missing[0].upper() + missing[1:])
        return False
    return True


class DEPTH_OT_generate(FollowJobs, bpy.types.Operator):
    """Render depth from the camera, generate an image in the background worker and project it onto the
    visible meshes. Blender stays usable meanwhile; Esc cancels and leaves the scene as it was"""

    bl_idname = ids.GENERATE
    bl_label = "Generate & Project"
    bl_options = {"UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not (camera_poll(cls, context) and backend_poll(cls, setup.generator_name(context))):
            return False
        if context.scene.depth_addon_generate.only_selected and not any(
                o.type == "MESH" for o in context.selected_objects):
            cls.poll_message_set(NO_SELECTED_MESH)
            return False
        return True

    def make_jobs(self, context: bpy.types.Context) -> list[Job]:
        """One job per camera and variation (depth rendered now), each a
        :func:`~depth_addon.app.texture.texture_flow`."""
        scene = context.scene
        settings, extra = scene.depth_addon, scene.depth_addon_generate
        cameras = [o for o in context.selected_objects if o.type == "CAMERA"] if extra.all_cameras else []
        if extra.all_cameras and not cameras:
            self.report({"INFO"}, f"Selected Cameras: no camera is selected, so the scene camera "
                                  f"{scene.camera.name!r} paints")
        cameras = cameras or [scene.camera]
        objects = ()
        if extra.only_selected:
            objects = tuple(o.name for o in context.selected_objects if o.type == "MESH")
            if not objects:
                raise BadInput(NO_SELECTED_MESH)
        jobs = []
        for cam in cameras:
            for i in range(extra.variations):
                seed, label = settings.seed + i, f"{cam.name} seed {settings.seed + i}"
                flow = texture_flow(scene, cam, settings.prompt, seed, engine=settings.engine, mapping=settings.mapping,
                                    compositor=extra.use_compositor, objects=objects, label=label,
                                    maps=extra.relightable)
                jobs.append(QUEUE.submit(Job(scene.name, flow, job_params(context), label=label, seed=seed,
                                             describe=describe_texture)))
        return jobs


class DEPTH_OT_cancel_job(bpy.types.Operator):
    """Stop the running generation within a second and drop the queued ones; the scene stays as it was"""

    bl_idname = ids.CANCEL_JOB
    bl_label = "Cancel Generation"
    bl_options = {"REGISTER"}

    all: bpy.props.BoolProperty(name="All Jobs", description="Also drop the queued jobs", default=True)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not QUEUE.busy:
            cls.poll_message_set("No generation is running")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        count = QUEUE.cancel(None if self.all else QUEUE.running)
        self.report({"INFO"}, f"Cancelling {count} job(s)")
        return {"FINISHED"}


class DEPTH_OT_release_model(bpy.types.Operator):
    """Stop the worker process: frees all memory its model held (the next generation loads it again)"""

    bl_idname = ids.RELEASE_MODEL
    bl_label = "Release Model"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if QUEUE.running is not None:
            cls.poll_message_set("A generation is running; cancel it first")
            return False
        if not QUEUE.worker_alive:
            cls.poll_message_set("No model is loaded (the worker is not running)")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            QUEUE.release()
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, "Model released: the worker process ended and its memory is free")
        return {"FINISHED"}


def install_refusal(context: bpy.types.Context | None = None) -> str | None:
    """Why PyTorch cannot be installed now, or None (a local wheel folder needs no online access)."""
    prefs = setup.addon_prefs(context)
    if not bpy.app.online_access and not (prefs is not None and prefs.wheel_dir):
        return ("Online access is off: allow it in Preferences › System › Network, or install PyTorch by hand "
                f"into {setup.site_packages_dir()}")
    if DEPTH_OT_install_torch.process is not None:
        return "PyTorch is being installed"
    return None


class DEPTH_OT_install_torch(bpy.types.Operator):
    """Download and install PyTorch (the build that fits this machine's GPU) into the extension's own folder.
    Needs online access"""

    bl_idname = ids.INSTALL_TORCH
    bl_label = "Install PyTorch"
    bl_options = {"REGISTER"}

    process = None  # the running pip (one install at a time)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        refusal = install_refusal(context)
        if refusal:
            cls.poll_message_set(refusal)
            return False
        return True

    def _start(self, context: bpy.types.Context) -> bool:
        refusal = install_refusal(context)
        if refusal:
            self.report({"ERROR"}, refusal)
            return False
        prefs = setup.addon_prefs(context)
        try:
            build = choose_build(prefs.torch_build if prefs is not None else "auto")
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return False
        wheels = bpy.path.abspath(prefs.wheel_dir) if prefs is not None and prefs.wheel_dir else None
        cmd = pip_command(sys.executable, setup.site_packages_dir(create=True), build, find_links=wheels)
        self.report({"INFO"}, f"Installing PyTorch, {build.reason}")
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                   creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        type(self).process = process
        lines: queue.Queue[str] = queue.Queue()
        self._lines, self._progress = lines, PipProgress()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
        return True

    def _step(self, context: bpy.types.Context) -> set[str] | None:
        """Take in pip's output; return the operator result once pip ended."""
        while not self._lines.empty():
            self._progress.feed(self._lines.get_nowait())
        jobs = context.window_manager.depth_addon_jobs
        jobs.install, jobs.install_fraction = f"PyTorch: {self._progress.message}", self._progress.fraction
        code = type(self).process.poll()
        if code is None:
            return None
        type(self).process = None
        if code != 0:
            jobs.install = f"PyTorch install failed (pip exit {code}): {self._progress.tail()}"
            self.report({"ERROR"}, jobs.install)
            return {"CANCELLED"}
        setup.torch_status(refresh=True)
        if QUEUE.running is None and QUEUE.client is not None:
            QUEUE.client.stop()  # the next worker starts with the new packages
        jobs.install, jobs.install_fraction = "PyTorch installed", 1.0
        self.report({"INFO"}, f"PyTorch installed into {setup.site_packages_dir()}")
        return {"FINISHED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking form for scripts."""
        if not self._start(context):
            return {"CANCELLED"}
        while (result := self._step(context)) is None:
            time.sleep(0.2)
        return result

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not self._start(context):
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.2, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC" and event.value == "PRESS" and type(self).process is not None:
            type(self).process.kill()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        result = self._step(context)
        redraw(context)
        if result is None:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        return result


def health_lines(info: dict) -> list[str]:
    """The setup report, one line per fact.

    :param info: ``pong`` info of a deep ping.
    """
    lines = [f"Worker: Python {info.get('python')} ({info.get('executable')}), numpy {info.get('numpy')}"]
    if info.get("torch"):
        lines.append(f"PyTorch {info['torch']} from {info.get('torch_path')}")
        device = info.get("device", "cpu")
        extra = ", ".join(str(info[k]) for k in ("device_name", "cuda") if info.get(k))
        lines.append(f"Device: {device}" + (f" ({extra})" if extra else "") + f", {info.get('threads')} threads")
    else:
        lines.append(f"PyTorch: not found ({info.get('torch_error', 'not installed')}); use Install PyTorch")
    lines.append(f"Backends: {', '.join(info.get('generators', []))}")
    if info.get("rss_mb") is not None:
        lines.append(f"Worker memory: {info['rss_mb']:.0f} MB")
    return lines


class DEPTH_OT_health_check(bpy.types.Operator):
    """Start the worker and report its Python, numpy, PyTorch (version and where it was found), the device
    and the backends"""

    bl_idname = ids.HEALTH_CHECK
    bl_label = "Check Setup"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        config = setup.worker_config(context)
        client = QUEUE.configure(config) if not QUEUE.busy else WorkerClient(config)
        try:
            answer = client.wait(client.ping(deep=True), timeout=120.0)
        except (DepthAddonError, TimeoutError) as exc:
            answer = Error("", "worker_died", str(exc))
        finally:
            if client is not QUEUE.client:
                client.stop()
        jobs = context.window_manager.depth_addon_jobs
        if not isinstance(answer, Pong):
            jobs.health = f"Worker failed: {getattr(answer, 'message', answer.kind)}"
            self.report({"ERROR"}, jobs.health)
            return {"CANCELLED"}
        lines = health_lines(answer.info)
        jobs.health = "\n".join(lines)
        setup.torch_status(refresh=True)
        self.report({"INFO"}, " · ".join(lines))
        return {"FINISHED"}


classes = (DEPTH_OT_generate, DEPTH_OT_cancel_job, DEPTH_OT_release_model, DEPTH_OT_install_torch,
           DEPTH_OT_health_check)
