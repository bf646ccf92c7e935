# SPDX-License-Identifier: GPL-3.0-or-later
"""A batch says that an object prompt paints nothing only when no unit of the task painted its object: units made by
other runs count, farm chunks included, and a unit whose entry does not say what it painted leaves it unknown."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from depth_addon.batch import Job, parse_job

ROOT = Path(__file__).resolve().parents[1]

BEHIND = ("task 'shot': the object prompt of 'Behind' paints nothing: no view of the run shows it (out of view, "
          "behind the camera, or behind other objects)")


def sphere_on_frame_two(tmp_path: Path) -> tuple[Job, Path, list[str]]:
    """A job of three frames whose 'Sphere' only frame 2 shows, and whose 'Behind' no frame shows, both with an
    object prompt; its depth range is locked, so it may run in frame chunks. The job is also written to
    ``job.json`` in ``tmp_path``, for a farm's run in another process (:func:`run_chunk`).

    :return: The job, its task's output folder and its units' keys (frames 1 to 3).
    """
    import bpy

    from depth_addon.blender.demo_scene import build_demo_scene

    scene = build_demo_scene(bpy.context.scene, (32, 32))
    behind = bpy.data.objects.new("Behind", bpy.data.objects["Box"].data)
    behind.location = (0.0, -40.0, 1.0)
    scene.collection.objects.link(behind)
    sphere = bpy.data.objects["Sphere"]
    for frame, z in ((1, -50.0), (2, 1.2), (3, -50.0)):  # under the ground but on frame 2
        sphere.location.z = z
        sphere.keyframe_insert("location", frame=frame)
    blend = tmp_path / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    raw = {"tasks": [{"name": "shot", "blend": str(blend), "prompt": "red brick", "resolution": [32, 32],
                      "frames": [1, 3], "range": [0.5, 60.0], "outputs": ["generated"],
                      "object_prompts": {"Behind": "gold metal", "Sphere": "blue marble"}}]}
    (tmp_path / "job.json").write_text(json.dumps(raw))
    job = parse_job(raw, tmp_path)
    keys = [u.key for u in job.units(job.tasks[0], [scene.camera.name])]
    return job, Path(job.tasks[0].out_dir), keys


def said_nothing(job: Job, frames: tuple[int, int] | None = None, emit=None) -> list[str]:
    """Run ``job`` (a frame chunk of it when ``frames`` is given); return its 'paints nothing' warnings."""
    from depth_addon.app.batch_run import run_job

    warnings = []

    def collect(event: str, **kw) -> None:
        if event == "warning":
            warnings.append(kw["message"])
        if emit is not None:
            emit(event, **kw)

    run_job(job, collect, frames=frames)
    return [w for w in warnings if "paints nothing" in w]


def run_chunk(job_file: Path, first: int, last: int) -> list[str]:
    """Run frames ``first`` to ``last`` of the job's task in another process, as a farm does; return its 'paints
    nothing' warnings."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "depth_cli.py"), "batch", str(job_file), "--task",
                           "shot", "--frames", str(first), str(last)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return [line.split("warning: ", 1)[1] for line in proc.stderr.splitlines() if "paints nothing" in line]


@pytest.mark.parametrize("frame", [1, 2])
def test_two_chunks_ending_together_say_it_once(tmp_path: Path, frame: int) -> None:
    """Chunk A (frames 1-2) and chunk B (frame 3, another process) of one task, B run whole once A has put frame
    ``frame`` in place. After frame 1, B cannot know what frame 2 paints and says nothing: A says it at its end.
    After frame 2, A's last, but before A weighs what the task painted, both find the task complete: the first to
    record it (B) says it, and A does not say it again."""
    job, out, keys = sphere_on_frame_two(tmp_path)
    theirs: list[list[str]] = []

    def chunk_b(event: str, **kw) -> None:
        if event == "artifact" and kw["frame"] == frame and not theirs:
            theirs.append(run_chunk(tmp_path / "job.json", 3, 3))

    ours = said_nothing(job, (1, 2), emit=chunk_b)
    assert (ours, theirs) == (([BEHIND], [[]]) if frame == 1 else ([], [[BEHIND]]))
    assert all((out / key / "generated.png").is_file() for key in keys)


def test_a_farm_chunk_counts_the_other_chunks_units(tmp_path: Path) -> None:
    """A chunk whose frames do not show 'Sphere' does not say its prompt paints nothing while the chunk that shows
    it is to come (not known yet), nor once it is done; the chunk that ends the task says it of 'Behind', which no
    chunk showed."""
    job, out, keys = sphere_on_frame_two(tmp_path)
    assert said_nothing(job, (2, 2)) == []  # frames 1 and 3 are not made yet: not known
    assert said_nothing(job, (1, 1)) == []  # frame 3 is not made yet
    assert said_nothing(job, (3, 3)) == [BEHIND]  # the task is complete: frame 2 painted 'Sphere'
    assert all((out / key / "generated.png").is_file() for key in keys)


def test_a_unit_finished_meanwhile_without_a_record_leaves_it_unknown(tmp_path: Path) -> None:
    """A unit another run finishes while this one waits for it, whose entry does not say what it painted (nor names
    a generated image that would), leaves unknown what the task painted: no object prompt is said to paint nothing
    (it was said of 'Sphere', which that unit painted)."""
    from depth_addon.io.locks import FileLock

    job, out, (first, second, third) = sphere_on_frame_two(tmp_path)
    assert said_nothing(job) == [BEHIND]
    entry = json.loads((out / second / "unit.json").read_text())
    del entry["provenance"]["painted"], entry["artifacts"]["generated"]  # an entry that does not say
    (out / second / "unit.json").write_text(json.dumps(entry))
    shutil.move(out / second, tmp_path / "theirs")
    for key in (first, third):
        shutil.rmtree(out / key)
    rival = FileLock(out / f".{second}.lock", {"command": "another batch run"})
    assert rival.acquire()  # another run is making frame 2 ...

    def finish(event: str, **kw) -> None:
        if event == "warning" and "is being made by" in kw["message"]:  # ... and finishes it while this one waits
            shutil.move(tmp_path / "theirs", out / second)
            rival.release()

    assert said_nothing(job, emit=finish) == []
    assert all((out / key / "generated.png").is_file() for key in (first, second, third))


def test_a_resumed_run_counts_what_the_finished_units_painted(tmp_path: Path) -> None:
    """A run that resumes a task (frames 1 and 3 made again, frame 2 finished before) does not say that the object
    prompt of an object only frame 2 shows paints nothing: each unit records what it painted, and the resumed run
    reads it back (a unit made before that was recorded: the parts its generated.png lists). An object no frame
    shows is still warned about."""
    job, out, (first, second, third) = sphere_on_frame_two(tmp_path)

    def resume() -> list[str]:
        for key in (first, third):  # lost: made again, while frame 2 stays done
            shutil.rmtree(out / key)
        kept = (out / second / "generated.png").stat().st_mtime_ns
        said = said_nothing(job)
        assert (out / second / "generated.png").stat().st_mtime_ns == kept  # skipped, not made again
        assert all((out / key / "generated.png").is_file() for key in (first, third))
        return said

    assert said_nothing(job) == [BEHIND]
    said = resume()
    assert said == [BEHIND], said
    painted = {key: json.loads((out / key / "unit.json").read_text())["provenance"]["painted"] for key in
               (first, second, third)}
    assert "Sphere" in painted[second] and "Sphere" not in painted[first] + painted[third], painted
    entry = json.loads((out / second / "unit.json").read_text())
    del entry["provenance"]["painted"]  # as a unit made by an earlier version
    (out / second / "unit.json").write_text(json.dumps(entry))
    assert resume() == said
