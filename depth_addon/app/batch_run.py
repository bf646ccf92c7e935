# SPDX-License-Identifier: GPL-3.0-or-later
"""Run batch jobs inside Blender: open each task's .blend, render, generate, record, resume.

Every unit (camera × frame) builds its files and its entry (``unit.json``, with each file's size and
sha256) in a staging folder, which is then renamed to ``<out_dir>/<camera>_<frame>/`` whole and
added to the task's manifest under a file lock. An interrupted run resumes where it stopped, a unit
whose files changed is redone, and a farm can run frame chunks of one task on several machines at
once; a unit that another run is producing right now is not done twice: this run waits for it after its other
units, and makes it should that run stop without it. Without a locked
``range`` in the job, the depth range is computed once over all of the task's views (a fast depth
pass) before generating.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import bpy
import numpy as np

from ..batch import Job, Manifest, Task, Unit
from ..blender.evaluation import show_rendered_layer
from ..blender.final_render import render_still
from ..blender.writeback.projection import remove_projection
from ..depthmap import DepthResult
from ..errors import BadInput, Cancelled
from ..io.atomic import check_writable_dir
from ..io.locks import FileLock
from ..io.outdir import refuse_inputs_inside
from ..io.png import to_uint, write_png
from ..io.staging import replace_folder
from ..mapping import DepthMapping, robust_range
from .blendfile import save_blend
from .depth import render_depth, save_depth, scaled_mapping, unit_scale
from .packing import keep_on_save
from .scene_prompts import (
    SceneSegments,
    needs_ids,
    object_prompt_warnings,
    painted_objects,
    part_warnings,
    prompt_warnings,
    run_object_prompts,
    scene_segments,
)
from .texture import generate, project

Emit = Callable[..., None]


def open_task_file(task: Task) -> bpy.types.Scene:
    """Open the task's .blend and return its scene: the one it names, or the one the file was saved showing.

    :raises BadInput: When the file is missing or unreadable, or has no scene of the task's scene name.
    """
    if not os.path.isfile(task.blend):
        raise BadInput(f"task {task.name!r}: blend file not found: {task.blend}")
    try:
        bpy.ops.wm.open_mainfile(filepath=task.blend, load_ui=False)
    except RuntimeError as exc:
        raise BadInput(f"task {task.name!r}: cannot open {task.blend}: {str(exc).strip().splitlines()[-1]}") from None
    scene = bpy.context.scene if task.scene is None else bpy.data.scenes.get(task.scene)
    if scene is None:
        names = ", ".join(repr(s.name) for s in bpy.data.scenes)
        raise BadInput(f"task {task.name!r}: no scene named {task.scene!r} in {task.blend}; its scenes are {names}")
    if bpy.context.window is not None:  # shown, as the file was saved showing it: a unit's scene.blend opens on it
        bpy.context.window.scene = scene
    show_rendered_layer()
    return scene


def task_cameras(task: Task, scene: bpy.types.Scene) -> list[str]:
    """Camera names of ``task`` in ``scene`` (``scene`` → the scene camera, ``all`` → every camera).

    :raises BadInput: For a missing camera.
    """
    if task.cameras == "scene":
        if scene.camera is None:
            raise BadInput(f"task {task.name!r}: scene {scene.name!r} has no active camera")
        return [scene.camera.name]
    if task.cameras == "all":
        names = sorted(o.name for o in scene.objects if o.type == "CAMERA")
        if not names:
            raise BadInput(f"task {task.name!r}: the scene has no cameras")
        return names
    missing = [c for c in task.cameras if c not in scene.objects or scene.objects[c].type != "CAMERA"]
    if missing:
        raise BadInput(f"task {task.name!r}: no camera named {', '.join(missing)} in {task.blend}")
    return list(task.cameras)


def _depth(scene: bpy.types.Scene, task: Task, unit: Unit, ids: bool = False) -> DepthResult:
    scene.frame_set(unit.frame)
    return render_depth(scene, unit.camera, task.resolution, task.engine, ids=ids)


def locked_mapping(scene: bpy.types.Scene, task: Task, units: list[Unit]) -> DepthMapping:
    """The task's mapping, in scene units: its locked ``range`` (metres), or the robust range over all of its
    views."""
    if task.range is not None:
        return scaled_mapping(DepthMapping(task.mapping, *task.range), 1.0 / unit_scale(scene))
    samples = []
    for unit in units:
        d = _depth(scene, task, unit)
        if d.mask.any():
            samples.append(d.depth[d.mask][:: max(1, int(d.mask.sum()) // 20000)])
    if not samples:
        raise BadInput(f"task {task.name!r}: no camera sees any geometry on any frame")
    near, far = robust_range(np.concatenate(samples))
    return DepthMapping(task.mapping, near, far)


def produce(scene: bpy.types.Scene, task: Task, unit: Unit, mapping: DepthMapping, folder: Path,
            warnings: list[str] | None = None, painted: set[str] | None = None) -> dict[str, Path]:
    """Write the unit's outputs into ``folder``; return artifact kind → path.

    :param scene: The task's open scene.
    :param task: The task.
    :param unit: The unit.
    :param mapping: The task's locked mapping.
    :param folder: The unit's staging folder.
    :param warnings: Collects what the routing of the prompts left unpainted in this view
        (:func:`.scene_prompts.part_warnings`), but for object prompts: an object one view does not show may be in
        the next, so the run says once, at its end, which ones painted nothing (:func:`_make_units`).
    :param painted: Collects the objects this view painted.
    """
    object_prompts = task_object_prompts(task, scene)
    per_part = needs_ids(task.prompt, object_prompts)
    wants_image = bool({"generated", "texture", "render"} & set(task.outputs))
    result = _depth(scene, task, unit, ids=per_part and wants_image)
    files: dict[str, Path] = {}
    if "depth" in task.outputs:
        files["depth"] = save_depth(result, folder / "depth.exr", mapping)
    if "depth_png" in task.outputs:
        files["depth_png"] = save_depth(result, folder / "depth.png", mapping)
    if not {"generated", "texture", "render"} & set(task.outputs):
        return files
    if not result.mask.any():
        raise BadInput(f"task {task.name!r}: camera {unit.camera!r} sees no geometry at frame {unit.frame}")
    parts = scene_segments(result, task.prompt, object_prompts) if per_part else SceneSegments()
    if warnings is not None:
        warnings += part_warnings(parts, None, scene)
    if painted is not None:
        painted |= painted_objects(parts)
    metres, camera = result.metric()  # generators, and the records beside the depth files, are in metres
    rgb = generate(metres, result.mask, prompt=task.prompt, seed=unit.seed, generator=task.generator,
                   camera=camera, segments=parts.segments,
                   segment_prompts=parts.prompts if parts.segments is not None else None,
                   segment_texts=parts.texts if parts.segments is not None else None)
    files["generated"] = folder / "generated.png"
    write_png(files["generated"], to_uint(rgb, 8), {"prompt": task.prompt, "seed": str(unit.seed),
                                                     "mapping": json.dumps(scaled_mapping(mapping,
                                                                                          result.unit_scale).to_dict()),
                                                     "parts": json.dumps(parts.decisions)})
    if {"texture", "render"} & set(task.outputs):
        image = bpy.data.images.load(str(files["generated"].resolve()), check_existing=False)
        project(scene, result, image)
        keep_on_save()  # the projection's occlusion depth lives in memory: saving scene.blend packs it
        try:
            if "render" in task.outputs:
                files["render"] = render_still(scene, folder / "render.png", resolution=task.resolution)
            if "texture" in task.outputs:
                files["texture"] = folder / "scene.blend"
                save_blend(files["texture"])
        finally:
            remove_projection()
            bpy.data.images.remove(image)
    return files


#: Seconds between the warnings that a run still waits for a unit another run holds (a hung run is then seen).
WAIT_NOTE_S = 60.0


class Busy(BadInput):
    """A unit another run is producing right now (this one goes on with the others, then waits for it)."""


def run_unit(scene: bpy.types.Scene, task: Task, unit: Unit, mapping: DepthMapping, emit: Emit,
             manifest: Manifest | None = None, painted: set[str] | None = None) -> dict[str, Path]:
    """Produce the unit in a staging folder, put it in place whole, record it; return artifact kind → path.

    :param scene: The task's open scene.
    :param task: The task.
    :param unit: The unit.
    :param mapping: The task's locked mapping.
    :param emit: Event sink; one ``artifact`` per file, after the unit is in place.
    :param manifest: The task's manifest; a new one when None.
    :param painted: Collects the objects the unit painted (:func:`produce`; also recorded in its entry, as
        ``painted``); nothing when another run finished the unit meanwhile (its entry says what it painted).
    :raises Busy: When another run is producing the same unit right now.
    :return: Artifact kind → path; empty when another run finished the unit meanwhile.
    """
    out = check_writable_dir(task.out_dir)
    manifest, painted = manifest or Manifest(out), set() if painted is None else painted
    final = out / unit.key
    lock = FileLock(out / f".{unit.key}.lock", {"command": "batch"})
    if not lock.acquire(wait=False):
        raise Busy(f"unit {unit.key} of task {task.name!r} is being made by {lock.holder()}")
    try:
        if manifest.is_done(unit):  # another run finished it since this one listed its units
            return {}
        for stale in out.glob(f".{unit.key}.staging-*"):  # left by a run that was killed
            shutil.rmtree(stale, ignore_errors=True)
        made = uuid.uuid4().hex  # this making of the unit: its entry differs from any earlier one's
        staging = out / f".{unit.key}.staging-{made[:8]}"
        staging.mkdir()
        notes, mine = [], set()
        try:
            staged = produce(scene, task, unit, mapping, staging, notes, mine)
            metric = scaled_mapping(mapping, unit_scale(scene)).to_dict()  # as the unit's depth files record it
            entry = manifest.make_entry(unit, staged, staging, {"spec": unit.spec, "mapping": metric,
                                                                 "blender": bpy.app.version_string,
                                                                 "painted": sorted(mine), "made": made})
            manifest.write_entry(staging, entry)
            replace_folder(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        manifest.publish(unit, entry)
    finally:
        lock.release()
    painted.update(mine)
    files = {kind: final / path.relative_to(staging) for kind, path in staged.items()}
    for note in notes:
        emit("warning", message=f"task {task.name!r}, {unit.camera} frame {unit.frame}: {note}", task=task.name,
             camera=unit.camera, frame=unit.frame)
    for kind, path in files.items():
        emit("artifact", kind=kind, path=str(path), task=task.name, camera=unit.camera, frame=unit.frame)
    return files


def _missing_folders(path: Path) -> list[Path]:
    """The folders of ``path`` that do not exist yet, deepest first.

    :param path: A folder about to be made.
    """
    made, folder = [], path.absolute()
    while not folder.exists() and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    return made


def check_tasks(tasks: list[Task]) -> None:
    """Open every task's file and check what would refuse the task later: its cameras and its object prompts.

    A bad task then stops the job before any unit is made, not once the tasks before it have run for hours.

    :param tasks: The tasks about to run.
    :raises BadInput: For the first task that would be refused, naming it.
    """
    for task in tasks:
        scene = open_task_file(task)
        task_cameras(task, scene)
        task_object_prompts(task, scene)


def task_object_prompts(task: Task, scene: bpy.types.Scene) -> dict[str, str]:
    """The object prompts of ``task``: its scene's Object Prompts (sidebar), with the job's ``object_prompts`` winning.

    :raises BadInput: For a name that is no object of the scene, naming the task.
    """
    try:
        return run_object_prompts(scene, dict(task.object_prompts))
    except BadInput as exc:
        raise BadInput(f"task {task.name!r}: {exc}") from None


def _chunk(task: Task, units: list[Unit], frames: tuple[int, int] | None) -> list[Unit]:
    """The task's units within ``frames`` (a farm chunk; every unit when None).

    :raises BadInput: For a chunk of a task whose depth range is not locked: each chunk would map depth with a
        range of its own frames (``batch --plan`` locks it, as ``--split`` asks).
    """
    if frames is None:
        return units
    chunk = [u for u in units if frames[0] <= u.frame <= frames[1]]
    if task.range is None and 0 < len(chunk) < len(units):
        raise BadInput(f"task {task.name!r} has no locked depth range: frames {frames[0]}-{frames[1]} alone would "
                       "get a range of their own; plan the job first (batch --plan) or give the task a 'range'")
    return chunk


def run_job(job: Job, emit: Emit, only_task: str | None = None, frames: tuple[int, int] | None = None,
            cancel: Callable[[], bool] | None = None) -> dict:
    """Run every unit of ``job`` (or of one task / frame chunk) that is not done yet.

    :param job: A parsed job.
    :param emit: Event sink (``emit(event, **data)``), e.g. the CLI's JSON events.
    :param only_task: Run only the task of this name.
    :param frames: Restrict to this inclusive frame range (a farm chunk).
    :param cancel: Polled between units; True raises :class:`~depth_addon.errors.Cancelled`.
    :raises BadInput: For a bad task; with several tasks, every task's cameras and object prompts are checked
        (:func:`check_tasks`) before the first unit runs.
    :return: Counts of done, skipped and total units, and the seconds taken.
    """
    tasks = [t for t in job.tasks if only_task in (None, t.name)]
    if not tasks:
        raise BadInput(f"no task named {only_task!r} in the job")
    if frames is not None and frames[1] < frames[0]:
        raise BadInput(f"--frames {frames[0]} {frames[1]}: the end is before the start")
    if len(tasks) > 1:
        check_tasks(tasks)
    start, counts = time.perf_counter(), {"done": 0, "skipped": 0, "units": 0}
    for task in tasks:
        refuse_inputs_inside(Path(task.out_dir), [task.blend])
        made = _missing_folders(Path(task.out_dir))
        try:
            check_writable_dir(task.out_dir)
            for line in prompt_warnings(task.prompt, dict(task.object_prompts), task.generator):
                emit("warning", message=f"task {task.name!r}: {line}", task=task.name)
            scene = open_task_file(task)
            every = job.units(task, task_cameras(task, scene), scene.frame_current)
            units = _chunk(task, every, frames)
            manifest = Manifest(task.out_dir)
            todo = [u for u in units if not manifest.is_done(u)]
            waiting = {u.key for u in todo}
            manifest.gather([u for u in units if u.key not in waiting])  # an edited or cut manifest gets them back
            counts["units"] += len(units)
            counts["skipped"] += len(units) - len(todo)
            if todo:
                _make_units(scene, task, todo, locked_mapping(scene, task, units), manifest, emit, cancel, counts,
                            every)
        except BaseException:
            for folder in made:  # the folders made for this task, deepest first, while nothing is in them
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
    return {**counts, "seconds": time.perf_counter() - start}


def _make_units(scene: bpy.types.Scene, task: Task, todo: list[Unit], mapping: DepthMapping, manifest: Manifest,
                emit: Emit, cancel: Callable[[], bool] | None, counts: dict, every: list[Unit]) -> None:
    """Make a task's units, counted into ``counts``. A unit another run is making is tried again after the others
    until that run finishes it, or stops without it (its lock dies with it) and this run makes it: when the run
    ends, every unit exists.

    :param cancel: Polled before each try; True raises :class:`~depth_addon.errors.Cancelled`.
    :param every: All of the task's units, outside a farm chunk too: an object prompt is said to paint nothing
        only when none of them painted its object, so only when what each unit this run did not make painted is
        known (:meth:`.Manifest.painted_by`). Farm chunks that end together may each know it: the first to record
        it says it (:meth:`.Manifest.say_once`).
    """
    queue, waiting, painted = list(todo), {}, set()  # unit key → when this run last said it waits
    made: set[str] = set()
    while queue:
        if cancel is not None and cancel():
            raise Cancelled("batch cancelled")
        unit = queue.pop(0)
        if unit.key not in waiting:
            emit("progress", fraction=round((counts["done"] + counts["skipped"]) / max(counts["units"], 1), 4),
                 message=f"{task.name} {unit.camera} frame {unit.frame}")
        try:
            made_now = run_unit(scene, task, unit, mapping, emit, manifest, painted)
        except Busy as exc:
            if time.monotonic() - waiting.get(unit.key, -WAIT_NOTE_S) >= WAIT_NOTE_S:  # said again every minute
                emit("warning", message=f"{exc}; waiting for it after the other units", task=task.name)
                waiting[unit.key] = time.monotonic()
            queue.append(unit)
            if all(u.key in waiting for u in queue):  # only units of other runs left: let them work
                time.sleep(0.25)
            continue
        counts["done" if made_now else "skipped"] += 1
        made |= {unit.key} if made_now else set()
    others = manifest.painted_by([u for u in every if u.key not in made]) if made else None
    if others is not None and {"generated", "texture", "render"} & set(task.outputs):  # once a task
        lines = object_prompt_warnings(painted | others, task_object_prompts(task, scene), scene)
        if lines and manifest.say_once("paints nothing", every, lines):
            for line in lines:
                emit("warning", message=f"task {task.name!r}: {line}", task=task.name)


def plan_job(job: Job, raw: dict, emit: Emit) -> dict:
    """Fill in what a farm needs to split tasks safely: camera names and a locked depth range.

    :param job: The parsed job.
    :param raw: The job file's dict (kept as is apart from the filled-in keys).
    :param emit: Event sink.
    :return: The planned job dict (``tasks[i]`` gain ``cameras`` and ``range``; paths made absolute).
    """
    planned = json.loads(json.dumps(raw))
    for entry, task in zip(planned["tasks"], job.tasks, strict=True):
        scene = open_task_file(task)
        cameras = task_cameras(task, scene)
        mapping = locked_mapping(scene, task, job.units(task, cameras, scene.frame_current))
        metres = scaled_mapping(mapping, unit_scale(scene))  # job files hold metres
        entry.update(cameras=cameras, range=[metres.near, metres.far], blend=task.blend, out_dir=task.out_dir)
        if task.frames is None:
            entry["frames"] = [scene.frame_current, scene.frame_current]
        emit("progress", fraction=1.0, message=f"planned {task.name}: range {metres.near:.3f}–{metres.far:.3f} m")
    return planned
