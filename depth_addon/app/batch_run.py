# SPDX-License-Identifier: GPL-3.0-or-later
"""Run batch jobs inside Blender: open each task's .blend, render, generate, record, resume.

Every unit (camera × frame) writes its files under ``<out_dir>/<camera>_<frame>/`` atomically and is
then recorded in the task's manifest, so an interrupted run resumes where it stopped and a farm
can run any frame chunk of any task on any machine. Without a locked ``range`` in the job, the
depth range is computed once over all of the task's views (a fast depth pass) before generating.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import bpy
import numpy as np

from ..batch import Job, Manifest, Task, Unit
from ..blender.final_render import render_still
from ..blender.writeback.projection import remove_projection
from ..depthmap import DepthResult
from ..errors import BadInput, Cancelled
from ..io.atomic import check_writable_dir
from ..io.png import to_uint, write_png
from ..mapping import DepthMapping, robust_range
from .depth import render_depth, save_depth
from .texture import generate, project

Emit = Callable[..., None]


def open_task_file(task: Task) -> bpy.types.Scene:
    """Open the task's .blend and return its scene.

    :raises BadInput: When the file is missing or unreadable.
    """
    if not os.path.isfile(task.blend):
        raise BadInput(f"task {task.name!r}: blend file not found: {task.blend}")
    try:
        bpy.ops.wm.open_mainfile(filepath=task.blend, load_ui=False)
    except RuntimeError as exc:
        raise BadInput(f"task {task.name!r}: cannot open {task.blend}: {str(exc).strip().splitlines()[-1]}") from None
    return bpy.context.scene


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


def _depth(scene: bpy.types.Scene, task: Task, unit: Unit) -> DepthResult:
    scene.frame_set(unit.frame)
    return render_depth(scene, unit.camera, task.resolution, task.engine)


def locked_mapping(scene: bpy.types.Scene, task: Task, units: list[Unit]) -> DepthMapping:
    """The task's mapping: its locked ``range``, or the robust range over all of its views."""
    if task.range is not None:
        return DepthMapping(task.mapping, *task.range)
    samples = []
    for unit in units:
        d = _depth(scene, task, unit)
        if d.mask.any():
            samples.append(d.depth[d.mask][:: max(1, int(d.mask.sum()) // 20000)])
    if not samples:
        raise BadInput(f"task {task.name!r}: no camera sees any geometry on any frame")
    near, far = robust_range(np.concatenate(samples))
    return DepthMapping(task.mapping, near, far)


def run_unit(scene: bpy.types.Scene, task: Task, unit: Unit, mapping: DepthMapping, emit: Emit) -> dict[str, Path]:
    """Produce the unit's outputs; return artifact kind → path."""
    folder = check_writable_dir(Path(task.out_dir) / unit.key)
    result = _depth(scene, task, unit)
    files: dict[str, Path] = {}
    if "depth" in task.outputs:
        files["depth"] = save_depth(result, folder / "depth.exr", mapping)
    if "depth_png" in task.outputs:
        files["depth_png"] = save_depth(result, folder / "depth.png", mapping)
    if {"generated", "texture", "render"} & set(task.outputs):
        if not result.mask.any():
            raise BadInput(f"task {task.name!r}: camera {unit.camera!r} sees no geometry at frame {unit.frame}")
        rgb = generate(result.depth, result.mask, prompt=task.prompt, seed=unit.seed, generator=task.generator,
                           camera=result.camera)
        files["generated"] = folder / "generated.png"
        write_png(files["generated"], to_uint(rgb, 8), {"prompt": task.prompt, "seed": str(unit.seed),
                                                         "mapping": json.dumps(mapping.to_dict())})
        if {"texture", "render"} & set(task.outputs):
            image = bpy.data.images.load(str(files["generated"].resolve()), check_existing=False)
            project(scene, result, image)
            try:
                if "render" in task.outputs:
                    files["render"] = render_still(scene, folder / "render.png", resolution=task.resolution)
                if "texture" in task.outputs:
                    files["texture"] = folder / "scene.blend"
                    tmp = folder / ".scene.part.blend"
                    bpy.ops.wm.save_as_mainfile(filepath=str(tmp.resolve()), copy=True, relative_remap=True)
                    os.replace(tmp, files["texture"])
            finally:
                remove_projection()
                bpy.data.images.remove(image)
    for kind, path in files.items():
        emit("artifact", kind=kind, path=str(path), task=task.name, camera=unit.camera, frame=unit.frame)
    return files


def run_job(job: Job, emit: Emit, only_task: str | None = None, frames: tuple[int, int] | None = None,
            cancel: Callable[[], bool] | None = None) -> dict:
    """Run every unit of ``job`` (or of one task / frame chunk) that is not done yet.

    :param job: A parsed job.
    :param emit: Event sink (``emit(event, **data)``), e.g. the CLI's JSON events.
    :param only_task: Run only the task of this name.
    :param frames: Restrict to this inclusive frame range (a farm chunk).
    :param cancel: Polled between units; True raises :class:`~depth_addon.errors.Cancelled`.
    :return: Counts of done, skipped and total units, and the seconds taken.
    """
    tasks = [t for t in job.tasks if only_task in (None, t.name)]
    if not tasks:
        raise BadInput(f"no task named {only_task!r} in the job")
    start, done, skipped, total = time.perf_counter(), 0, 0, 0
    for task in tasks:
        check_writable_dir(task.out_dir)
        scene = open_task_file(task)
        units = job.units(task, task_cameras(task, scene), scene.frame_current)
        if frames is not None:
            units = [u for u in units if frames[0] <= u.frame <= frames[1]]
        manifest = Manifest(task.out_dir)
        todo = [u for u in units if not manifest.is_done(u)]
        total += len(units)
        skipped += len(units) - len(todo)
        if not todo:
            continue
        mapping = locked_mapping(scene, task, units)
        for unit in todo:
            if cancel is not None and cancel():
                raise Cancelled("batch cancelled")
            emit("progress", fraction=round((done + skipped) / max(total, 1), 4),
                 message=f"{task.name} {unit.camera} frame {unit.frame}")
            files = run_unit(scene, task, unit, mapping, emit)
            manifest.record(unit, files, {"spec": unit.spec, "mapping": mapping.to_dict(),
                                          "blender": bpy.app.version_string})
            done += 1
    return {"done": done, "skipped": skipped, "units": total, "seconds": time.perf_counter() - start}


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
        entry.update(cameras=cameras, range=[mapping.near, mapping.far], blend=task.blend, out_dir=task.out_dir)
        if task.frames is None:
            entry["frames"] = [scene.frame_current, scene.frame_current]
        emit("progress", fraction=1.0, message=f"planned {task.name}: range {mapping.near:.3f}–{mapping.far:.3f} m")
    return planned
