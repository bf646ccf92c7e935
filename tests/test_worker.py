# SPDX-License-Identifier: GPL-3.0-or-later
"""The generation worker: protocol, then the real process end to end (start, progress, preview, result,
cancel, forced cancel, crash, out of memory, restart) and that it never loads Blender.

Workers run with the numpy-only generators of ``worker_generators.py`` (fast to start); one test
runs the real baseline and compares it with the in-process result.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from depth_addon.errors import BadInput, ModelUnavailable
from depth_addon.generation import get_generator
from depth_addon.worker import protocol as P
from depth_addon.worker.client import WorkerClient
from depth_addon.worker.config import WorkerConfig, describe_exit

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PLUGINS = ("--generators", "worker_generators")
DEPTH = np.where(np.arange(48 * 64).reshape(48, 64) % 7 == 0, np.inf, 4.0).astype(np.float32)


def make_client(**kw) -> WorkerClient:
    """A client whose worker also knows the test generators."""
    return WorkerClient(WorkerConfig(paths=(str(TESTS),), args=PLUGINS, **kw))


@pytest.fixture(scope="module")
def client():
    """One worker shared by the tests that leave it healthy."""
    c = make_client()
    yield c
    c.stop()


def collect(client: WorkerClient, request_id: str, timeout: float = 120.0) -> list[P.Event]:
    """Every event of ``request_id`` up to and including its final one."""
    events: list[P.Event] = []
    client.wait(request_id, timeout, events.append)
    return events


# --- protocol ------------------------------------------------------------------------------------------


def test_request_round_trip_and_rejects() -> None:
    """Requests survive encode/decode; bad lines, versions, ops and ids are refused with a reason."""
    req = P.Request("j1", "generate", {"prompt": "stone", "size": [4, 3]})
    line = req.encode()
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert P.Request.decode(line) == req
    for bad in ("not json", "[1]", '{"v": 99, "id": "a", "op": "ping"}', '{"v": 1, "id": "a", "op": "explode"}',
                '{"v": 1, "id": 5, "op": "ping"}', '{"v": 1, "id": "", "op": "ping"}'):
        with pytest.raises(P.ProtocolError):
            P.Request.decode(bad)


@pytest.mark.parametrize("event", [
    P.Ready("", pid=3, versions={"python": "3.11"}),
    P.Progress("j", 0.5, "half", 2, 1.25, 1.25),
    P.Progress("j", 0.0, "start", 1, 0.0, None),
    P.Preview("j", "/tmp/p.npy", 0.3),
    P.Result("j", "/tmp/r.npy", 0.8),
    P.Estimated("e", "/tmp/e.npy", "depth", "Depth-Anything-V2-Metric", 0.4),
    P.Error("j", "bad_input", "no depth", "trace"),
    P.CancelledEvent("j", forced=True),
    P.Released("r", rss_mb=None),
    P.Pong("p", info={"torch": None}),
])
def test_event_round_trip(event: P.Event) -> None:
    """Every event type survives encode/decode as the same typed object."""
    assert P.decode_event(event.encode()) == event


def test_event_json_is_strict() -> None:
    """Non-finite numbers become null (valid JSON); unknown kinds and missing ids are refused."""
    line = P.Progress("j", 0.5, "x", 1, float("nan"), float("inf")).encode()
    assert "NaN" not in line and "Infinity" not in line
    assert P.decode_event(line).eta_s is None
    with pytest.raises(P.ProtocolError):
        P.decode_event('{"v": 1, "id": "j", "kind": "explode"}')
    with pytest.raises(P.ProtocolError):
        P.decode_event('{"v": 1, "kind": "result"}')


def test_errors_map_to_exceptions() -> None:
    """Error codes come back as the project's exception types; MemoryError is classified as out of memory."""
    assert isinstance(P.Error("j", "bad_input", "m").to_exception(), BadInput)
    assert isinstance(P.Error("j", "model_unavailable", "m").to_exception(), ModelUnavailable)
    died = P.Error("j", "worker_died", "m").to_exception()
    assert isinstance(died, P.WorkerDied) and died.code == "worker_died"
    assert P.error_from_exception("j", MemoryError()).code == "out_of_memory"
    assert P.error_from_exception("j", RuntimeError("CUDA out of memory. Tried")).code == "out_of_memory"
    assert P.error_from_exception("j", ValueError("x")).code == "internal"


def test_arrays_atomic_and_without_pickles(tmp_path: Path) -> None:
    """Arrays round-trip exactly through .npy, leave no temporary files, and object arrays are refused."""
    a = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    path = P.write_array(tmp_path / "a.npy", a)
    assert np.array_equal(P.read_array(path), a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]
    with pytest.raises(BadInput):
        P.write_array(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(BadInput):
        P.read_array(tmp_path / "missing.npy")


def test_generate_params_checked() -> None:
    """Generate parameters are type-checked before they reach a generator."""
    ok = P.GenerateParams.from_dict({"depth": "d.npy", "out_dir": "o", "seed": 3, "size": [8, 6], "extra": 1})
    assert ok.size == (8, 6) and ok.seed == 3
    for bad in ({"out_dir": "o"}, {"depth": "d", "out_dir": "o", "seed": "1"},
                {"depth": "d", "out_dir": "o", "size": [1]}, {"depth": "d", "out_dir": "o", "prompt": 5}):
        with pytest.raises(BadInput):
            P.GenerateParams.from_dict(bad)


def test_describe_exit() -> None:
    """Exit statuses read as causes: out-of-memory kill, crash, plain exit code."""
    assert "out of memory" in describe_exit(-9)
    assert "segmentation fault" in describe_exit(-11)
    assert describe_exit(3) == "exited with code 3" and describe_exit(0) == "exited normally"


# --- the process -------------------------------------------------------------------------------------


def test_start_ready_and_ping(client: WorkerClient) -> None:
    """The worker announces itself, runs this Python and the source tree's package, and lists the generators."""
    answer = client.wait(client.ping())
    assert isinstance(answer, P.Pong)
    assert client.ready is not None and client.ready.pid == client.pid
    assert answer.info["package"] == str(ROOT / "depth_addon")
    assert {"baseline", "test-slow", "test-crash"} <= set(answer.info["generators"])


def test_progress_preview_result(client: WorkerClient) -> None:
    """Progress is ordered with step and ETA, previews are readable images, the result arrives last."""
    events = collect(client, client.generate(DEPTH, generator="test-slow", steps=30))
    progress = [e for e in events if isinstance(e, P.Progress)]
    previews = [e for e in events if isinstance(e, P.Preview)]
    assert isinstance(events[-1], P.Result) and len(progress) == 30
    fractions = [e.fraction for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [e.step for e in progress] == list(range(1, 31))
    assert any(e.eta_s is not None for e in progress)
    assert len(previews) == 3 and P.read_array(previews[0].path).shape == (48, 64, 3)
    rgb = client.take_result(events[-1])
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.float32
    assert not Path(events[-1].path).parent.exists(), "the job folder is removed once the result is taken"


def test_options_reach_generators_that_take_them(client: WorkerClient) -> None:
    """Steps, strength, negative prompt and the camera reach a generator whose signature accepts them."""
    from depth_addon.camera import CameraModel

    cam = CameraModel.from_fov(64, 48, 50.0).to_dict()
    rgb = client.generate_blocking(DEPTH, generator="test-echo", steps=25, strength=0.75, negative_prompt="blur",
                                   camera=cam)
    assert rgb[0, 0].tolist() == [0.25, 0.75, 1004.0]


def test_cancel_mid_generation_keeps_worker(client: WorkerClient) -> None:
    """Cancel stops a running generation at its next step; the same worker serves the next request."""
    pid = client.pid
    rid = client.generate(DEPTH, generator="test-slow")
    seen: list[P.Event] = []

    def on_event(event: P.Event) -> None:
        seen.append(event)
        if isinstance(event, P.Progress) and event.step == 3:
            client.cancel(rid)

    final = client.wait(rid, 60, on_event)
    assert isinstance(final, P.CancelledEvent) and final.forced is False
    assert max(e.step for e in seen if isinstance(e, P.Progress)) < 400
    assert client.pid == pid
    assert isinstance(client.wait(client.ping()), P.Pong)


def test_cancel_waits_for_a_long_step_instead_of_killing(client: WorkerClient) -> None:
    """Steps longer than the cancel grace (a large diffusion model's): the request stops at its next step and the
    worker, with its model loaded, stays; killing it would make the next Generate load the model again."""
    pid = client.pid
    rid = client.generate(DEPTH, generator="test-long-steps")
    final = client.wait(rid, 60, lambda e: isinstance(e, P.Progress) and e.step == 2 and client.cancel(rid))
    assert isinstance(final, P.CancelledEvent) and final.forced is False
    assert client.pid == pid and client.alive


def test_a_long_load_is_no_step_for_the_cancel_grace() -> None:
    """After a long model load and quick steps, a request that hangs is given the short grace, not twice the load:
    the grace follows its last step."""
    c = make_client()
    try:
        rid = c.generate(DEPTH, generator="test-load-then-quick")
        seen: list[float] = []

        def on_event(event: P.Event) -> None:
            if isinstance(event, P.Progress):
                seen.append(event.fraction)
                if len(seen) == 7:
                    assert c._pending[rid].grace(c.config) == c.config.cancel_grace_s
                    c.cancel(rid)

        final = c.wait(rid, 60, on_event)
        assert isinstance(final, P.CancelledEvent) and final.forced is True and len(seen) == 7
    finally:
        c.stop()


def test_cancel_queued_request(client: WorkerClient) -> None:
    """A request cancelled before it started ends as cancelled without running."""
    first = client.generate(DEPTH, generator="test-slow", steps=20)
    second = client.generate(DEPTH, generator="test-slow", steps=20)
    client.cancel(second)
    assert isinstance(collect(client, first)[-1], P.Result)
    events = collect(client, second)
    assert isinstance(events[-1], P.CancelledEvent) and not any(isinstance(e, P.Progress) for e in events)


def test_errors_keep_worker(client: WorkerClient) -> None:
    """Bad input, an unknown generator, a real MemoryError and an attempted ``import bpy`` are errors; the
    worker survives all of them."""
    pid = client.pid
    with pytest.raises(BadInput, match="background"):
        client.generate_blocking(np.full((8, 8), np.inf, np.float32), generator="test-echo")
    with pytest.raises(BadInput, match="unknown generator"):
        client.generate_blocking(DEPTH, generator="no-such-backend")
    final = client.wait(client.generate(DEPTH, generator="test-oom"))
    assert isinstance(final, P.Error) and final.code == "out_of_memory", final
    final = client.wait(client.generate(DEPTH, generator="test-import-bpy"))
    assert isinstance(final, P.Error) and "bpy" in final.message, final
    assert client.pid == pid


def test_release(client: WorkerClient) -> None:
    """Release drops cached models and reports the worker's memory."""
    client.generate_blocking(DEPTH, generator="test-echo")
    final = client.wait(client.release())
    assert isinstance(final, P.Released)
    assert final.rss_mb is None or final.rss_mb > 0


def test_forced_cancel_kills_and_restarts() -> None:
    """A generator that ignores cancel is stopped by killing the worker; the next request gets a new one."""
    c = make_client()
    try:
        rid = c.generate(DEPTH, generator="test-stuck")
        final = c.wait(rid, 60, lambda e: isinstance(e, P.Progress) and c.cancel(rid))
        assert isinstance(final, P.CancelledEvent) and final.forced is True
        assert not c.alive
        final = c.wait(c.ping())
        assert isinstance(final, P.Pong) and c.alive
    finally:
        c.stop()


@pytest.mark.skipif(os.name != "posix", reason="signals are POSIX")
@pytest.mark.parametrize(("generator", "words"), [("test-crash", "segmentation fault"),
                                                  ("test-killed", "out of memory")])
def test_crash_is_reported_and_worker_restarts(generator: str, words: str) -> None:
    """A worker that crashes or is killed turns the request into a clear error (cause and last output);
    the caller keeps running and the next request starts a fresh worker."""
    c = make_client()
    try:
        c.wait(c.ping())
        pid = c.pid
        final = c.wait(c.generate(DEPTH, generator=generator))
        assert isinstance(final, P.Error) and final.code == "worker_died", final
        assert words in final.message
        if generator == "test-crash":
            assert "native library about to fail" in final.message
        with pytest.raises(P.WorkerDied):
            raise final.to_exception()
        rgb = c.generate_blocking(DEPTH, generator="test-echo")
        assert rgb.shape == (48, 64, 3) and c.pid != pid
    finally:
        c.stop()


def test_death_noticed_by_the_next_request() -> None:
    """A request sent after the worker died, before anyone polled, starts a new worker; the request the dead
    one owed still fails (instead of waiting forever)."""
    c = make_client()
    try:
        crashed = c.generate(DEPTH, generator="test-killed")
        for _ in range(6000):  # up to a minute
            if not c.alive:
                break
            time.sleep(0.01)
        following = c.generate(DEPTH, generator="test-echo")
        assert c.wait(crashed).code == "worker_died"
        assert isinstance(c.wait(following), P.Result)
    finally:
        c.stop()


def test_stop_and_restart() -> None:
    """Stop ends the process and reports owed requests as cancelled; restart gives a working new process."""
    c = make_client()
    rid = c.generate(DEPTH, generator="test-slow")
    c.stop()
    assert not c.alive
    assert [type(e) for e in c.poll() if e.id == rid] == [P.CancelledEvent]
    c.restart()
    try:
        assert isinstance(c.wait(c.ping()), P.Pong)
    finally:
        c.stop()


def test_bad_python_is_a_clear_error() -> None:
    """A worker Python that does not exist fails at once with the path in the message."""
    c = WorkerClient(WorkerConfig(python="/nonexistent/python3"))
    with pytest.raises(P.WorkerError, match="/nonexistent/python3"):
        c.ping()


def test_baseline_matches_in_process() -> None:
    """The real default generator gives the same image in the worker as in this process."""
    c = WorkerClient()
    try:
        remote = c.generate_blocking(DEPTH, prompt="red brick", seed=4)
    finally:
        c.stop()
    local = get_generator().generate(DEPTH, prompt="red brick", seed=4)
    np.testing.assert_allclose(remote, local, atol=1e-6)


def test_server_never_imports_blender(tmp_path: Path) -> None:
    """``python -m depth_addon.worker.server`` with every Blender module blocked serves a generation, stray
    prints do not corrupt the event stream, and end of input ends the worker."""
    P.write_array(tmp_path / "d.npy", DEPTH)
    code = ("import sys\n"
            "for m in ('bpy', 'bmesh', 'mathutils', 'gpu', 'idprop', 'addon_utils'): sys.modules[m] = None\n"
            "import runpy; runpy.run_module('depth_addon.worker.server', run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    proc = subprocess.Popen([sys.executable, "-c", code, *PLUGINS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    generate = P.Request("g", "generate", {"depth": str(tmp_path / "d.npy"), "out_dir": str(tmp_path),
                                           "generator": "test-echo"})
    proc.stdin.write(P.Request("p", "ping").encode() + "garbage\n" + generate.encode())
    proc.stdin.flush()
    events = []
    for line in proc.stdout:
        events.append(P.decode_event(line))
        if events[-1].kind == "result":
            break
    proc.stdin.close()  # Blender went away
    assert proc.wait(timeout=60) == 0
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert [e.kind for e in events if e.kind != "error"] == ["ready", "pong", "progress", "result"], stderr
    assert [e.code for e in events if e.kind == "error"] == ["protocol"]
    assert "stray output" in stderr
    assert np.asarray(P.read_array(events[-1].path)).shape == (48, 64, 3)
