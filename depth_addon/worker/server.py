# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker process: reads requests on stdin, runs generators, writes events on stdout (no bpy).

Run it as ``python -m depth_addon.worker.server`` with the folder that holds the ``depth_addon``
package on ``sys.path`` (the client does exactly that). Blender's modules are blocked before
anything else is imported, so an accidental ``import bpy`` fails loudly instead of loading a second
Blender.

Threads: a reader thread parses stdin. ``cancel`` and ``shutdown`` take effect at once (they set a
flag that the running generator polls at its next check point); other requests are queued and run
one at a time on the main thread. End of input (Blender went away) cancels the running request and
ends the worker. The real stdout is kept for the protocol and file descriptor 1 is pointed at
stderr, so stray prints of a library cannot corrupt the event stream.

Options: ``--generators MODULE`` (repeatable) imports ``MODULE`` and adds its ``GENERATORS``
mapping (name → zero-argument factory) to the registry, for plug-in and test generators.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import inspect
import io
import os
import platform
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import numpy as np

from .. import __version__
from ..camera import CameraModel
from ..errors import BadInput, Cancelled
from ..generation import available_generators, get_generator, validate_depth
from ..generation.base import region_prompts
from ..generation.delight import generate_layers
from ..texturing.provenance import generator_fingerprint
from .protocol import (
    CancelledEvent,
    Error,
    Event,
    GenerateParams,
    Pong,
    ProtocolError,
    Ready,
    Released,
    Request,
    Result,
    error_from_exception,
    read_array,
    write_array,
)
from .protocol import Preview as PreviewEvent
from .protocol import Progress as ProgressEvent

#: Modules that exist only inside Blender; the worker must never load them.
BLENDER_MODULES = ("bpy", "bmesh", "mathutils", "gpu", "gpu_extras", "bl_math", "idprop", "addon_utils", "bl_ui")
#: Optional ``generate`` keywords passed only to generators whose signature accepts them.
OPTIONAL_KWARGS = ("negative_prompt", "steps", "strength", "device", "model_dir", "controlnet_dir")


def block_blender_modules() -> None:
    """Make ``import bpy`` (and the other Blender-only modules) raise ImportError in this process."""
    for name in BLENDER_MODULES:
        sys.modules.setdefault(name, None)


def resident_mb() -> float | None:
    """Resident memory of this process in MiB (Linux), else None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _accepts(func: Callable, name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def torch_info() -> dict:
    """Whether torch imports here, its version and location, and the best device it offers."""
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return {"torch": None, "torch_error": f"{type(exc).__name__}: {exc}", "device": "none"}
    info = {"torch": torch.__version__, "torch_path": str(Path(torch.__file__).parent), "device": "cpu"}
    try:
        if torch.cuda.is_available():
            info["device"] = "cuda"
            info["device_name"] = torch.cuda.get_device_name(0)
            info["cuda"] = torch.version.cuda or torch.version.hip
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            info["device"] = "mps"
    except Exception as exc:  # a driver problem must not fail the health check
        info["device_error"] = f"{type(exc).__name__}: {exc}"
    info["threads"] = torch.get_num_threads()
    return info


class Server:
    """Serves requests until ``shutdown`` or end of input.

    :param out: Text stream for events (the real stdout).
    :param extra: Additional generator factories by name (from ``--generators`` modules).
    """

    def __init__(self, out: TextIO, extra: dict[str, Callable[[], object]] | None = None) -> None:
        self._out = out
        self._extra = dict(extra or {})
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._queue: queue.Queue[Request | None] = queue.Queue()
        self._cancelled: set[str] = set()
        self._current: str | None = None
        self._closing = False
        self._models: dict[str, object] = {}

    # --- output ---------------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Write one event line (thread-safe); a closed pipe is ignored (the client went away).

        :param event: The event.
        """
        with self._write_lock:
            try:
                self._out.write(event.encode())
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass

    # --- input (reader thread) ------------------------------------------------------------------

    def read_requests(self, stream: TextIO) -> None:
        """Parse ``stream`` line by line until it ends; runs on the reader thread.

        :param stream: The worker's stdin.
        """
        try:
            for line in stream:
                if not line.strip():
                    continue
                try:
                    request = Request.decode(line)
                except ProtocolError as exc:
                    self.emit(Error("", "protocol", str(exc)))
                    continue
                if request.op == "cancel":
                    self.cancel(str(request.params.get("target", "*")))
                elif request.op == "shutdown":
                    break
                else:
                    self._queue.put(request)
        finally:  # shutdown or end of input: everything still queued or running is cancelled
            with self._state_lock:
                self._closing = True
            self._queue.put(None)

    def cancel(self, target: str) -> None:
        """Mark ``target`` (a request id, or ``"*"`` for the running one) as cancelled.

        :param target: Request id or ``"*"``.
        """
        with self._state_lock:
            if target == "*":
                if self._current is not None:
                    self._cancelled.add(self._current)
            else:
                self._cancelled.add(target)

    def is_cancelled(self, request_id: str) -> bool:
        """Whether ``request_id`` was cancelled (polled by the running generator).

        :param request_id: The request.
        """
        with self._state_lock:
            return self._closing or request_id in self._cancelled

    # --- main loop ------------------------------------------------------------------------------

    def serve(self, stream: TextIO) -> int:
        """Start the reader thread, announce readiness and run requests until the end.

        :param stream: The worker's stdin.
        :return: Exit status (0).
        """
        self.emit(Ready("", pid=os.getpid(), versions=self.versions()))
        threading.Thread(target=self.read_requests, args=(stream,), name="requests", daemon=True).start()
        while True:
            request = self._queue.get()
            if request is None:
                while not self._queue.empty():  # requests that came before the shutdown
                    queued = self._queue.get()
                    if queued is not None:
                        self.emit(CancelledEvent(queued.id))
                return 0
            with self._state_lock:
                self._current = request.id
            try:
                self.handle(request)
            finally:
                with self._state_lock:
                    self._current = None
                    self._cancelled.discard(request.id)

    def handle(self, request: Request) -> None:
        """Run one request and emit its final event (never raises).

        :param request: The request.
        """
        if self.is_cancelled(request.id):
            self.emit(CancelledEvent(request.id))
            return
        try:
            if request.op == "generate":
                self.emit(self.generate(request))
            elif request.op == "estimate":
                from .estimate import serve_estimate  # the estimator's imports only when a photo comes

                self.emit(serve_estimate(request, self._models, self._progress(request.id),
                                         lambda: self.is_cancelled(request.id)))
            elif request.op == "ping":
                info = {**self.versions(), "generators": sorted({*available_generators(), *self._extra}),
                        "rss_mb": resident_mb()}
                if request.params.get("deep"):
                    info.update(torch_info())
                self.emit(Pong(request.id, info=info))
            elif request.op == "release":
                self.emit(Released(request.id, rss_mb=self.release()))
        except Cancelled:
            self.emit(CancelledEvent(request.id))
        except Exception as exc:  # report everything (MemoryError included); the worker keeps serving
            self.emit(error_from_exception(request.id, exc, traceback.format_exc(limit=20)))

    def versions(self) -> dict:
        """Versions and paths that identify this worker."""
        return {"python": platform.python_version(), "executable": sys.executable, "numpy": np.__version__,
                "depth_addon": __version__, "package": str(Path(__file__).resolve().parents[1]),
                "platform": platform.platform(terse=True)}

    def model(self, name: str) -> object:
        """The generator called ``name``, built once and kept until ``release``.

        :param name: Registry name (empty: the default).
        """
        key = name.strip().lower()
        if key not in self._models:
            factory = self._extra.get(key)
            self._models[key] = factory() if factory is not None else get_generator(key or None)
        return self._models[key]

    def release(self) -> float | None:
        """Drop every cached generator and free what torch holds; returns the resident MiB afterwards."""
        self._models.clear()
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None:
            try:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                    torch.mps.empty_cache()
            except Exception:  # freeing is best effort
                pass
        return resident_mb()

    def _progress(self, request_id: str) -> Callable[[float, str], None]:
        """A ``progress(fraction, message)`` that emits numbered progress events with the elapsed time and ETA.

        :param request_id: The request the events belong to.
        """
        start, step = time.perf_counter(), [0]

        def progress(fraction: float, message: str) -> None:
            step[0] += 1
            elapsed = time.perf_counter() - start
            eta = elapsed * (1.0 - fraction) / fraction if 0.02 <= fraction < 1.0 else (0.0 if fraction >= 1 else None)
            self.emit(ProgressEvent(request_id, float(fraction), str(message), step[0], round(elapsed, 3),
                                    None if eta is None else round(eta, 2)))

        return progress

    def generate(self, request: Request) -> Event:
        """Serve one ``generate`` request and return its final event.

        :param request: A ``generate`` request (:class:`GenerateParams`).
        :raises Cancelled: When the request was cancelled.
        """
        start = time.perf_counter()
        p = GenerateParams.from_dict(request.params)
        depth = read_array(p.depth)
        mask = read_array(p.mask) if p.mask else None
        validate_depth(depth, mask)  # a clear error before any model is loaded
        camera = CameraModel.from_dict(p.camera) if p.camera else None
        out_dir = Path(p.out_dir)
        gen = self.model(p.generator)
        progress = self._progress(request.id)
        previews = [0]

        def preview(rgb: np.ndarray, fraction: float = 0.0) -> None:
            previews[0] += 1
            path = write_array(out_dir / f"preview-{previews[0]}.npy", np.asarray(rgb, np.float32))
            self.emit(PreviewEvent(request.id, str(path), float(fraction)))

        kwargs = _generate_kwargs(gen, p)
        if _accepts(gen.generate, "preview"):
            kwargs["preview"] = preview

        def cancel() -> bool:
            return self.is_cancelled(request.id)

        if p.maps:
            rgb = generate_layers(gen, depth, mask, p.prompt, p.seed, camera, size=p.size, progress=progress,
                                  cancel=cancel, **kwargs)
        else:
            rgb = gen.generate(depth, mask, prompt=p.prompt, seed=p.seed, size=p.size, progress=progress,
                               cancel=cancel, camera=camera, **kwargs)
        maps = {}
        if p.maps:
            maps = {name: str(write_array(out_dir / f"map-{name}.npy", np.asarray(value, np.float32)))
                    for name, value in rgb.maps.items()}
            rgb = rgb.rgb
        if self.is_cancelled(request.id):
            raise Cancelled("cancelled")
        rgb = np.asarray(rgb, dtype=np.float32)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise BadInput(f"generator {p.generator or 'default'!r} returned shape {rgb.shape}, expected H×W×3")
        path = write_array(out_dir / "result.npy", rgb)
        return Result(request.id, path=str(path), seconds=round(time.perf_counter() - start, 4),
                      generator=str(getattr(gen, "name", p.generator or "default")),
                      fingerprint=generator_fingerprint(gen), maps=maps)


def _generate_kwargs(gen, p: GenerateParams) -> dict:
    """The optional ``generate`` keywords of a request that ``gen`` takes (arrays read from their files)."""
    kwargs = {}
    for name in OPTIONAL_KWARGS:
        value = getattr(p, name)
        if value not in (None, "") and _accepts(gen.generate, name):
            kwargs[name] = value
    for name in ("init_image", "init_mask", "segments"):
        if getattr(p, name) and _accepts(gen.generate, name):
            kwargs[name] = read_array(getattr(p, name))
    if p.world_cell is not None and _accepts(gen.generate, "world_cell"):
        kwargs["world_cell"] = float(p.world_cell)
    if p.segment_prompts is not None and "segments" in kwargs:
        kwargs["segment_prompts"] = list(region_prompts(gen, p.segment_prompts, p.segment_texts))
    return kwargs


def _load_plugins(modules: list[str]) -> dict[str, Callable[[], object]]:
    extra: dict[str, Callable[[], object]] = {}
    for name in modules:
        extra.update({k.lower(): v for k, v in importlib.import_module(name).GENERATORS.items()})
    return extra


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: serve stdin/stdout until shutdown or end of input.

    :param argv: Arguments (``--generators MODULE`` …); ``sys.argv[1:]`` when None.
    :return: Exit status.
    """
    block_blender_modules()
    parser = argparse.ArgumentParser(prog="depth_addon.worker.server", description=__doc__.splitlines()[0])
    parser.add_argument("--generators", action="append", default=[], metavar="MODULE",
                        help="import MODULE and add its GENERATORS mapping")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    protocol_out = io.TextIOWrapper(os.fdopen(os.dup(sys.stdout.fileno()), "wb"), encoding="utf-8",
                                    newline="\n", line_buffering=True)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="\n")
    server = Server(protocol_out, _load_plugins(args.generators))
    return server.serve(stdin)


if __name__ == "__main__":
    sys.exit(main())
