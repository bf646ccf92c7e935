# SPDX-License-Identifier: GPL-3.0-or-later
"""Generation jobs in Blender: the queue, results applied on the main thread, cancel and crash leaving the
scene as it was, the modal operator's loop, Release Model, the setup check and the PyTorch installer.

Jobs use the numpy-only test generators (``worker_generators.py``); the real default backend runs
through ``depth.generate`` in the extension install test. The modal operator cannot be started
headless (no event loop), so its ``modal`` method is driven with synthetic timer and Esc events.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import bpy
import numpy as np
import pytest
from analytic import build

from depth_addon.blender import compat


@pytest.fixture
def jobs(addon, worker_plugins):
    """The add-on's job module with the test generators; the queue is emptied afterwards."""
    addon.jobs.QUEUE.configure(worker_plugins())
    yield addon.jobs
    addon.jobs.QUEUE.abandon()
    addon.jobs.QUEUE.history.clear()


def _state() -> dict:
    return {"images": sorted(i.name for i in bpy.data.images if i.name != "Render Result"),
            "materials": sorted(m.name for m in bpy.data.materials),
            "objects": sorted(o.name for o in bpy.data.objects),
            "compositor": getattr(compat.scene_compositor(bpy.context.scene), "name", None)}


def _queue(addon, generator: str, **params) -> list:
    """Queue jobs the way Generate does (depth rendered now), with ``generator``."""
    bpy.context.scene.depth_addon.generator = generator
    for key, value in params.items():
        setattr(bpy.context.scene.depth_addon_generate, key, value)
    op = addon.operators.job_ops.DEPTH_OT_generate
    return op.make_jobs(SimpleNamespace(), bpy.context)


def test_queue_applies_every_result(addon, jobs) -> None:
    """Two cameras × two variations: four jobs, four images with their own seeds, projected and composited."""
    build()
    scene = bpy.context.scene
    cam2 = scene.camera.copy()
    scene.collection.objects.link(cam2)
    for obj in scene.objects:
        obj.select_set(obj.type == "CAMERA")
    queued = _queue(addon, "test-echo", variations=2, all_cameras=True)
    assert len(queued) == 4 and {j.seed for j in queued} == {0, 1}
    done = jobs.QUEUE.wait()
    assert [j.state for j in done] == ["done"] * 4, [j.error for j in done]
    images = {j.image for j in done}
    assert len(images) == 4 and all(bpy.data.images[name].packed_file for name in images)  # packed PNG: autosave
    assert all(bpy.data.images[name].source == "FILE" for name in images)  # and saving keeps them without encoding
    record = addon.depth_addon.app.writeback.image_record(bpy.data.images[done[0].image])
    assert record["generator"] == "test-echo" and record["seed"] in (0, 1) and record["kind"] == "projection"
    assert any(addon.depth_addon.blender.writeback.projection.is_projected(o) for o in scene.objects)
    assert addon.depth_addon.blender.compositor.group.is_compositor_active(scene)


def test_cancel_leaves_the_scene_as_it_was(addon, jobs) -> None:
    """Cancelling a running and a queued job ends both as cancelled and changes nothing in the file."""
    build()
    before = _state()
    running, queued = _queue(addon, "test-slow", variations=2)
    while running.step < 2:
        jobs.QUEUE.update()
    assert jobs.QUEUE.cancel() == 2
    assert queued.state == "cancelled"
    done = jobs.QUEUE.wait(timeout=60)
    assert running in done and running.state == "cancelled"
    assert _state() == before
    assert jobs.status_text().startswith("Cancelled")


def test_crash_fails_the_job_not_blender(addon, jobs) -> None:
    """A worker crash fails its job with the cause; the scene is untouched and the next job runs."""
    build()
    before = _state()
    (job,) = _queue(addon, "test-crash")
    jobs.QUEUE.wait(timeout=60)
    assert job.state == "error" and "segmentation fault" in job.error
    assert _state() == before
    (again,) = _queue(addon, "test-echo")
    jobs.QUEUE.wait(timeout=60)
    assert again.state == "done"


def test_progress_preview_and_status(addon, jobs) -> None:
    """Progress (step, ETA) and previews reach the status properties and the preview image."""
    build()
    (job,) = _queue(addon, "test-slow", steps=40)
    seen, previews = [], set()
    while not job.finished:
        jobs.QUEUE.update()
        jobs.sync_status(bpy.context.window_manager)
        seen.append((job.step, bpy.context.window_manager.depth_addon_jobs.text))
        previews.add(jobs.QUEUE.preview)
    assert job.state == "done"
    assert any(step > 0 and "%" in text for step, text in seen)
    assert jobs.PREVIEW_IMAGE in previews
    assert jobs.PREVIEW_IMAGE not in bpy.data.images, "the preview goes once the job ended"


def test_loading_a_file_drops_the_jobs(addon, jobs) -> None:
    """Opening another file drops queued and running jobs (their scenes are gone)."""
    build()
    _queue(addon, "test-slow", variations=2)
    jobs.QUEUE.update()
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    assert not jobs.QUEUE.busy
    assert {j.state for j in jobs.QUEUE.history} == {"cancelled"}


def test_a_result_for_a_dropped_job_leaves_no_files(addon, jobs) -> None:
    """A result the worker finished just as its job was dropped (a file opened) is deleted when it arrives, not kept
    in the temporary folder (a float image per job) until Blender quits."""
    build()
    (job,) = _queue(addon, "test-echo")
    jobs.QUEUE.update()
    folder = jobs.QUEUE.client._tmp
    deadline = time.monotonic() + 60
    while not list(folder.glob("job-*/result.npy")) and time.monotonic() < deadline:
        time.sleep(0.01)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    assert job.state == "cancelled"
    while jobs.QUEUE.client.busy and time.monotonic() < deadline:
        jobs.QUEUE.update()
    assert not jobs.QUEUE.client.busy and not list(folder.glob("job-*")), list(folder.iterdir())


def test_new_worker_settings_apply_after_a_file_was_opened_mid_job(addon, jobs) -> None:
    """Worker settings changed after a file was opened during a job are used by the next job: the dropped job's
    unanswered request no longer keeps the old worker."""
    import dataclasses

    build()
    _queue(addon, "test-slow")
    while not jobs.QUEUE.worker_alive:
        jobs.QUEUE.update()
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    changed = dataclasses.replace(jobs.QUEUE.client.config, env={"DEPTH_ADDON_TEST": "1"})
    assert jobs.QUEUE.configure(changed).config == changed


def _fake_operator(addon, context) -> SimpleNamespace:
    """Stand-in ``self`` for the Generate operator's methods (operators cannot be instantiated)."""
    op_cls = addon.operators.job_ops.DEPTH_OT_generate
    fake = SimpleNamespace(reports=[], _applied=0)
    fake.report = lambda kind, text: fake.reports.append((set(kind), text))
    fake.report_job = lambda job: op_cls.report_job(fake, job)
    fake._end = lambda ctx: op_cls._end(fake, ctx)
    fake._timer = context.window_manager.event_timer_add(0.1, window=context.window)
    return fake


def test_modal_loop_applies_results_and_esc_cancels(addon, jobs) -> None:
    """The modal loop applies results on timer ticks and finishes; Esc cancels and ends it as cancelled."""
    build()
    op_cls = addon.operators.job_ops.DEPTH_OT_generate
    timer, esc = SimpleNamespace(type="TIMER", value="NOTHING"), SimpleNamespace(type="ESC", value="PRESS")
    _queue(addon, "test-echo", variations=2)
    fake = _fake_operator(addon, bpy.context)
    jobs.QUEUE.modal_running = True
    while (result := op_cls.modal(fake, bpy.context, timer)) == {"PASS_THROUGH"}:
        pass
    assert result == {"FINISHED"} and fake._applied == 2 and not jobs.QUEUE.modal_running
    assert op_cls.modal(fake, bpy.context, SimpleNamespace(type="MOUSEMOVE", value="NOTHING")) == {"PASS_THROUGH"}

    before = _state()
    _queue(addon, "test-slow")
    fake = _fake_operator(addon, bpy.context)
    jobs.QUEUE.update()
    assert op_cls.modal(fake, bpy.context, esc) == {"RUNNING_MODAL"}
    while (result := op_cls.modal(fake, bpy.context, timer)) == {"PASS_THROUGH"}:
        pass
    assert result == {"CANCELLED"} and _state() == before
    assert any("cancelled" in text for _kind, text in fake.reports)


def test_esc_while_the_result_is_written_back_cancels(addon, jobs) -> None:
    """Esc between the write-back's steps (the image made, not projected yet) cancels the job: the image goes and
    the scene is as it was, instead of the job finishing as if Esc had not been pressed."""
    build()
    op_cls = addon.operators.job_ops.DEPTH_OT_generate
    timer, esc = SimpleNamespace(type="TIMER", value="NOTHING"), SimpleNamespace(type="ESC", value="PRESS")
    before = _state()
    (job,) = _queue(addon, "test-echo")
    fake = _fake_operator(addon, bpy.context)
    jobs.QUEUE.modal_running = True
    while job.pending is not jobs.PAUSE and op_cls.modal(fake, bpy.context, timer) == {"PASS_THROUGH"}:
        time.sleep(0.01)
    assert job.pending is jobs.PAUSE and any(i.name.startswith("Depth ") for i in bpy.data.images)
    assert op_cls.modal(fake, bpy.context, esc) == {"RUNNING_MODAL"}
    while (result := op_cls.modal(fake, bpy.context, timer)) == {"PASS_THROUGH"}:
        pass
    assert result == {"CANCELLED"} and job.state == "cancelled" and _state() == before


def test_release_model(addon, jobs) -> None:
    """Release Model stops the worker after a job; it refuses while a job runs."""
    build()
    _queue(addon, "test-echo")
    jobs.QUEUE.wait()
    assert jobs.QUEUE.worker_alive
    assert bpy.ops.depth.release_model() == {"FINISHED"}
    assert not jobs.QUEUE.worker_alive
    _queue(addon, "test-slow")
    jobs.QUEUE.update()
    with pytest.raises(RuntimeError, match="cancel it first"):
        bpy.ops.depth.release_model()


def test_setup_check(addon) -> None:
    """Check Setup starts the worker and reports its Python, PyTorch with its location, the device and the
    backends (the real default backend runs through ``depth.generate`` in the extension install test)."""
    assert bpy.ops.depth.health_check() == {"FINISHED"}
    report = bpy.context.window_manager.depth_addon_jobs.health
    assert "PyTorch 2" in report and "Device: cpu" in report and "baseline" in report
    assert f"Worker: Python {sys.version_info.major}.{sys.version_info.minor}" in report


def test_torch_build_choice_and_pip_command(addon) -> None:
    """The PyTorch build follows the machine, pip installs into the target folder only, progress is parsed."""
    install = addon.depth_addon.worker.install
    assert install.choose_build(system="Linux", machine="x86_64", has_nvidia=True, has_rocm=True).variant == "cuda"
    rocm = install.choose_build(system="Linux", machine="x86_64", has_nvidia=False, has_rocm=True)
    assert rocm.variant == "rocm" and rocm.index_url.endswith("/rocm6.4")
    cpu = install.choose_build(system="Windows", machine="AMD64", has_nvidia=False, has_rocm=False)
    assert cpu.variant == "cpu" and cpu.index_url == "https://download.pytorch.org/whl/cpu"
    mac = install.choose_build(system="Darwin", machine="arm64")
    assert (mac.variant, mac.index_url) == ("mps", None)
    for bad in (dict(variant="rocm", system="Windows"), dict(variant="mps", system="Linux"), dict(variant="x")):
        with pytest.raises(ValueError):
            install.choose_build(**bad)
    cmd = install.pip_command("/blender/python", "/ext/site-packages", cpu)
    assert cmd[:4] == ["/blender/python", "-m", "pip", "install"] and cmd[-1] == "torch"
    assert cmd[cmd.index("--target") + 1] == "/ext/site-packages" and "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--index-url") + 1] == cpu.index_url
    assert "--index-url" not in install.pip_command("p", "t", mac)
    progress, fractions = install.PipProgress(), []
    for line in ("Looking in indexes: x", "Collecting torch", "  Downloading torch-2.9.0-cp311.whl (190 MB)",
                 "Collecting sympy", "Installing collected packages: sympy, torch"):
        progress.feed(line)
        fractions.append(progress.fraction)
    assert fractions == sorted(fractions) and 0.0 < fractions[1] and fractions[-1] < 1.0
    assert progress.message == "installing"
    progress.feed("Successfully installed sympy-1.14 torch-2.9.0")
    assert progress.fraction == 1.0 and "Successfully" in progress.tail()


def test_scene_changes_while_a_job_runs(addon, jobs) -> None:
    """Objects deleted while their image is generated: the result goes onto what still exists; with every
    target gone, the job fails cleanly and the scene is as the user left it."""
    build()
    scene = bpy.context.scene
    meshes = [o for o in scene.objects if o.type == "MESH"]
    for obj in scene.objects:
        obj.select_set(obj in meshes[:2])
    first, second = meshes[0].name, meshes[1].name
    (job,) = _queue(addon, "test-slow", only_selected=True, steps=6)
    bpy.data.objects.remove(bpy.data.objects[first])
    jobs.QUEUE.wait(timeout=60)
    assert job.state == "done", job.error
    assert addon.depth_addon.blender.writeback.projection.is_projected(bpy.data.objects[second])

    for obj in scene.objects:
        obj.select_set(obj.name == second)
    (job,) = _queue(addon, "test-slow", only_selected=True, steps=6)
    bpy.data.objects.remove(bpy.data.objects[second])
    before = _state()
    jobs.QUEUE.wait(timeout=60)
    assert job.state == "error" and "exist any more" in job.error
    assert _state() == before


def test_scene_and_objects_renamed_while_a_job_runs(addon, jobs) -> None:
    """A scene and a selected object renamed while their image is generated still get it: the result is not dropped
    as if they had been deleted."""
    build()
    scene = bpy.context.scene
    mesh = next(o for o in scene.objects if o.type == "MESH")
    for obj in scene.objects:
        obj.select_set(obj is mesh)
    (job,) = _queue(addon, "test-slow", only_selected=True, steps=6)
    scene.name, mesh.name = "Shot 1", "Hero"
    jobs.QUEUE.wait(timeout=60)
    assert job.state == "done", job.error
    assert addon.depth_addon.blender.writeback.projection.is_projected(bpy.data.objects["Hero"])


QUIT_CHILD = r"""
import os, sys, time
sys.path[:0] = sys.argv[1:3]
import bpy
import numpy as np
import analytic
import conftest
addon = conftest.load_extension_module()
addon.register()
from depth_addon.worker.config import WorkerConfig
queue = addon.jobs.QUEUE
queue.configure(WorkerConfig(paths=(sys.argv[2],), args=("--generators", "worker_generators")))
bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
scene = analytic.build()
bpy.context.scene.depth_addon.generator = "test-slow"
job = queue.submit(addon.jobs.Job(scene.name, addon.depth_addon.app.texture.texture_flow(scene, seed=1),
                                  {"generator": "test-slow", "steps": 400}, "quit"))
while job.step < 2:
    queue.update()
    time.sleep(0.02)
print("WORKER", queue.client.pid, flush=True)
os._exit(0)  # Blender quits (or crashes) with the job running
"""


def test_quitting_with_a_job_running_leaves_no_worker(tmp_path) -> None:
    """The worker notices its Blender is gone (end of its input), cancels and exits: no orphan process."""
    tests = Path(__file__).resolve().parent
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", QUIT_CHILD, str(tests.parent), str(tests)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env=env)
    pids = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("WORKER ")]
    assert pids, proc.stdout[-2000:] + proc.stderr[-3000:]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pids[0], 0)
        except OSError:
            return
        time.sleep(0.1)
    os.kill(pids[0], 9)
    raise AssertionError("the worker outlived its Blender by 15 s")


def test_a_free_text_generator_gets_each_phrase_as_typed(addon, jobs) -> None:
    """A generator that reads free text (``reads_free_text``, as diffusers) is handed each region's phrase as the
    user typed it, through the worker; generators with a vocabulary get the parsed material (in-process here)."""
    from worker_generators import Regions

    from depth_addon.app.flow import GenerateRequest, LocalGenerator
    from depth_addon.blender.demo_scene import build_demo_scene

    build_demo_scene(bpy.context.scene, (64, 64))
    bpy.context.scene.depth_addon.prompt = "brick walls, wooden posts and grass"
    done = jobs.QUEUE.wait() if _queue(addon, "test-regions") else []
    assert [j.state for j in done] == ["done"], [j.error for j in done]
    red = np.asarray(bpy.data.images[done[0].image].pixels[:], np.float32).reshape(-1, 4)[:, 0]
    lengths = set(np.unique(np.round(red * 255)).astype(int).tolist())
    # typed: "brick walls", "wooden posts", "grass"; parsed they would be "brick", "wood", "grass"
    assert lengths - {0} == {len("brick walls"), len("wooden posts"), len("grass")}, lengths

    seg = np.zeros((4, 4), np.int32)
    seg[2:] = 1
    request = GenerateRequest(np.ones((4, 4), np.float32), np.ones((4, 4), bool), None, "x", 0, segments=seg,
                              segment_prompts=["brick", "grass"], segment_texts=["brick walls", "grass"])
    for reads_free_text, expected in ((True, len("brick walls")), (False, len("brick"))):
        runner = LocalGenerator("test-regions")
        runner._instance = Regions()
        runner._instance.reads_free_text = reads_free_text
        rgb = runner(request, None, None).rgb
        assert round(float(rgb[0, 0, 0]) * 255) == expected
