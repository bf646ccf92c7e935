# SPDX-License-Identifier: GPL-3.0-or-later
"""Start and talk to the worker process without ever blocking the caller (no bpy).

:class:`WorkerClient` spawns ``<python> -I -u -c <bootstrap>`` with the folder that holds this
``depth_addon`` package first on the worker's ``sys.path``. The Python defaults to the one running
this code (``sys.executable``: Blender's bundled Python inside Blender, the venv's with the ``bpy``
module). Two daemon threads read the worker's stdout (events) and stderr (kept as a short tail for
error messages); :meth:`WorkerClient.poll` hands over what arrived and never waits.

Guarantees the Blender side relies on:

* :meth:`~WorkerClient.cancel` asks the worker to stop; when it has not confirmed within
  ``cancel_grace_s`` the process is killed and a ``cancelled`` event (``forced=True``) is reported,
  so a cancel completes within about half a second plus one poll interval. A request whose progress
  events come further apart (a diffusion step of a large model) gets twice the time between its last two,
  up to ``cancel_step_limit_s``, to stop at its next step: killing the worker would unload its model.
* A worker that dies (crash, out-of-memory kill) turns every request it owed into an ``error``
  event with code ``worker_died``, the exit status in words and the last lines it printed.
* The next request after a death or a stop starts a fresh worker.
"""

from __future__ import annotations

import collections
import itertools
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import leftovers
from .arrays import write_request_arrays
from .config import WorkerConfig, describe_exit
from .finished import FinishedRequests
from .protocol import (
    CancelledEvent,
    Error,
    Estimated,
    Event,
    GenerateParams,
    Progress,
    ProtocolError,
    Ready,
    Request,
    Result,
    WorkerError,
    decode_event,
)


@dataclass
class _Pending:
    """A request the worker still owes a final event for."""

    request: Request
    folder: Path | None
    started: float
    cancel_deadline: float | None = None
    heard: float | None = None  # when its last progress event was sent (seconds into the request)
    last_step: float = 0.0  # the time between its last two progress events: how long its steps take now

    def grace(self, config: WorkerConfig) -> float:
        """How long it may take to stop once cancelled (see the module's guarantees).

        :param config: The worker's configuration.
        """
        return max(config.cancel_grace_s, min(config.cancel_step_limit_s, 2.0 * self.last_step))


class WorkerClient(FinishedRequests):
    """One worker process and the requests sent to it (taking and waiting for results: :class:`FinishedRequests`).

    :param config: How to start the worker.
    """

    def __init__(self, config: WorkerConfig | None = None) -> None:
        self.config = config or WorkerConfig()
        self._proc: subprocess.Popen | None = None
        self._events: queue.Queue[Event] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._threads: list[threading.Thread] = []
        self._pending: dict[str, _Pending] = {}
        self._synthetic: list[Event] = []
        self._backlog: list[Event] = []
        self._head: tuple[str | None, float] = (None, 0.0)
        self._ids = itertools.count(1)
        self._tmp: Path | None = None
        self.ready: Ready | None = None
        self.started_at: float | None = None
        self.last_exit: int | None = None

    # --- process --------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether the worker process is running."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the running worker, else None."""
        return self._proc.pid if self.alive else None

    @property
    def busy(self) -> bool:
        """Whether requests are outstanding."""
        return bool(self._pending)

    def start(self) -> None:
        """Start the worker when it is not running (returns at once; ``ready`` arrives through :meth:`poll`)."""
        if self.alive:
            return
        if self._proc is not None:
            self._handle_death(self._backlog)  # what a worker that died unseen owed fails now, not never
        if self._tmp is None:
            leftovers.sweep_folders(tempfile.gettempdir(), "depth_addon_worker_")  # a crashed Blender's
            self._tmp = Path(tempfile.mkdtemp(prefix=f"depth_addon_worker_{leftovers.owner()}_"))
            # removed by stop(), or when the client is dropped or Python exits without a stop()
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._tmp), True)
        env = {**os.environ, **self.config.env}
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        try:
            self._proc = subprocess.Popen(self.config.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=env, cwd=self._tmp, creationflags=flags)
        except OSError as exc:
            self._cleanup()
            self._tmp = None
            raise WorkerError(f"cannot start the worker with {self.config.executable()!r}: {exc.strerror or exc}",
                              "worker_died") from exc
        self.ready, self.started_at, self.last_exit = None, time.perf_counter(), None
        self._stderr.clear()
        self._threads = [threading.Thread(target=self._read_stdout, args=(self._proc,), daemon=True),
                         threading.Thread(target=self._read_stderr, args=(self._proc,), daemon=True)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """End the worker (asks first, kills after ``timeout`` s); owed requests are reported cancelled.

        :param timeout: Seconds to wait for a clean exit.
        """
        if self.alive:
            try:
                self._write(Request("shutdown", "shutdown"))
                self._proc.stdin.close()
                self._proc.wait(timeout)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self._kill()
        for request_id in list(self._pending):
            self._finish(CancelledEvent(request_id, forced=True))
        self._reap()
        if self._tmp is not None:
            self._cleanup()
            self._tmp = None

    def restart(self) -> None:
        """Stop the worker and start a fresh one."""
        self.stop()
        self.start()

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            try:
                self._proc.wait(5.0)
            except subprocess.TimeoutExpired:
                pass

    def _reap(self) -> None:
        """Forget a finished process: join its reader threads and close its pipes."""
        if self._proc is not None:
            self._kill()
            self.last_exit = self._proc.returncode
            for thread in self._threads:
                thread.join(1.0)
            for pipe in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
                try:
                    pipe.close()
                except (OSError, ValueError):
                    pass
            self._proc = None

    def _read_stdout(self, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            try:
                self._events.put(decode_event(raw))
            except ProtocolError:
                self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        for raw in proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    def stderr_tail(self, lines: int = 8) -> str:
        """The last ``lines`` lines the worker printed on stderr, joined by `` | ``.

        :param lines: How many lines.
        """
        return " | ".join([line for line in self._stderr if line][-lines:])

    # --- requests -------------------------------------------------------------------------------

    def _write(self, request: Request) -> None:
        self._proc.stdin.write(request.encode().encode("utf-8"))
        self._proc.stdin.flush()

    def send(self, op: str, params: dict | None = None, folder: Path | None = None) -> str:
        """Send a request (starting the worker if needed) and return its id.

        :param op: ``generate``, ``estimate``, ``ping`` or ``release`` (use :meth:`cancel` and :meth:`stop` for the
            others).
        :param params: Request parameters.
        :param folder: Job folder to delete once the request ended.
        """
        self.start()
        request = Request(f"{op}-{next(self._ids)}", op, params or {})
        self._pending[request.id] = _Pending(request, folder, time.perf_counter())
        try:
            self._write(request)
        except (OSError, ValueError):
            pass  # the worker died: poll() reports it for this request with the reason
        return request.id

    def _job_folder(self) -> Path:
        """A new folder for one request's arrays, in the worker's temporary folder (the worker starts if needed)."""
        self.start()
        folder = self._tmp / f"job-{next(self._ids)}"
        folder.mkdir()
        return folder

    def generate(self, depth: np.ndarray, mask: np.ndarray | None = None, **params) -> str:
        """Queue a generation in the worker and return its request id.

        :param depth: H×W depth in metres (``inf`` background).
        :param mask: H×W bool mask, or None.
        :param params: :class:`~.protocol.GenerateParams` fields (``prompt``, ``seed``, ``generator``,
            ``size``, ``camera`` as a dict, …); ``init_image`` and ``init_mask`` may be arrays.
        """
        folder = self._job_folder()
        full = write_request_arrays(folder, depth, mask, params)
        GenerateParams.from_dict(full)  # refuse bad parameters here, not in the worker
        return self.send("generate", full, folder)

    def estimate(self, photo: str | os.PathLike, model: str | os.PathLike | None = None, device: str = "cpu") -> str:
        """Queue a photo's depth estimation in the worker and return its request id (answered by ``estimated``).

        :param photo: Photo file.
        :param model: Estimator weights folder; the worker's default folder when None or empty.
        :param device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        """
        folder = self._job_folder()
        params = {"photo": os.fspath(photo), "model": os.fspath(model or ""), "device": device, "out_dir": str(folder)}
        return self.send("estimate", params, folder)

    def ping(self, deep: bool = False) -> str:
        """Ask for versions (``deep``: also torch and the device); the answer is a ``pong`` event.

        :param deep: Import torch in the worker and report it.
        """
        return self.send("ping", {"deep": bool(deep)})

    def release(self) -> str | None:
        """Ask the worker to drop its cached models; None when no worker runs."""
        return self.send("release") if self.alive else None

    def cancel(self, request_id: str = "*") -> None:
        """Cancel one request (or every outstanding one with ``"*"``); confirmed by a ``cancelled`` event.

        :param request_id: The request, or ``"*"``.
        """
        targets = list(self._pending) if request_id == "*" else [request_id]
        now = time.perf_counter()
        for target in targets:
            pending = self._pending.get(target)
            if pending is None or pending.cancel_deadline is not None:
                continue
            pending.cancel_deadline = now + pending.grace(self.config)
            if self.alive:
                try:
                    self._write(Request(f"cancel-{next(self._ids)}", "cancel", {"target": target}))
                except (OSError, ValueError):
                    pass

    # --- events ---------------------------------------------------------------------------------

    def _finish(self, event: Event) -> None:
        """Close a request the worker can no longer answer; the event comes out of the next :meth:`poll`."""
        pending = self._pending.pop(event.id, None)
        if pending is not None and pending.folder is not None:
            shutil.rmtree(pending.folder, ignore_errors=True)
        self._synthetic.append(event)

    def _drain(self, out: list[Event]) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, Ready):
                self.ready = event
            elif event.id and event.id not in self._pending:
                continue  # late news of a request already closed (e.g. cancelled by killing the worker)
            elif event.final:
                pending = self._pending.pop(event.id)
                if pending.folder is not None and not isinstance(event, Result | Estimated):
                    shutil.rmtree(pending.folder, ignore_errors=True)
            elif isinstance(event, Progress):  # timed by the worker's clock: events read together are still apart
                pending = self._pending[event.id]
                if pending.heard is not None:  # the last gap, not the longest: loading the model is no step
                    pending.last_step = max(0.0, event.elapsed_s - pending.heard)
                pending.heard = event.elapsed_s
            out.append(event)

    def poll(self) -> list[Event]:
        """Everything that happened since the last call, in order; never blocks. Also enforces cancel deadlines
        and turns a dead worker into ``error`` events."""
        out, self._backlog = self._backlog, []
        self._drain(out)
        self._enforce_cancel()
        if self._proc is not None and self._proc.poll() is not None:
            self._handle_death(out)
        out.extend(self._synthetic)
        self._synthetic.clear()
        return out

    def _handle_death(self, out: list[Event]) -> None:
        """The worker ended: take in its last events, fail what it still owed, forget the process."""
        for thread in self._threads:
            thread.join(0.5)  # let the readers deliver what the worker wrote before it ended
        self._drain(out)
        self._proc.wait()
        reason = describe_exit(self._proc.returncode)
        tail = self.stderr_tail()
        for rid in list(self._pending):
            self._finish(Error(rid, "worker_died", f"the worker process {reason}"
                               + (f"; last output: {tail}" if tail else ""), tail))
        self._reap()

    def _enforce_cancel(self) -> None:
        """Kill the worker when the request it is on was cancelled and has not stopped in time.

        The worker serves requests in order, so only the oldest outstanding one can be running; a
        cancelled request further back gets its grace period once it reaches the front. Requests
        that were not cancelled are sent again to a fresh worker.
        """
        now = time.perf_counter()
        head = next(iter(self._pending), None)
        if head != self._head[0]:
            self._head = (head, now)
        pending = self._pending.get(head)
        if pending is None or pending.cancel_deadline is None:
            return
        if now < max(pending.cancel_deadline, self._head[1] + pending.grace(self.config)):
            return
        self._kill()
        self._reap()
        for rid, p in list(self._pending.items()):
            if p.cancel_deadline is not None:
                self._finish(CancelledEvent(rid, forced=True))
        if self._pending:
            self.start()
            for p in self._pending.values():
                try:
                    self._write(p.request)
                except (OSError, ValueError):
                    break  # the new worker died at once: the next poll reports it

    def outstanding(self) -> Iterable[str]:
        """Ids of the requests still owed a final event."""
        return tuple(self._pending)
