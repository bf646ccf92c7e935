# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker protocol: typed requests and events as JSON lines, arrays as ``.npy`` files (no bpy).

Every message is one JSON object on one line, UTF-8, with the protocol version ``v``.

Requests (client → worker, stdin)::

    {"v": 1, "id": "j3", "op": "generate", "params": {...GenerateParams...}}
    {"v": 1, "id": "c1", "op": "cancel", "params": {"target": "j3"}}

``op`` is one of :data:`OPS`. ``generate`` takes :class:`GenerateParams`; ``estimate`` takes
``{"photo", "model", "device", "out_dir"}`` (a photo's depth from local estimator weights); ``cancel`` names the request
to stop (``"*"`` for whatever runs); ``ping`` (``{"deep": true}`` also imports torch and reports the
device); ``release`` drops cached models; ``shutdown`` ends the worker.

Events (worker → client, stdout) carry the request ``id`` and a ``kind`` (:data:`EVENT_TYPES`):
``ready`` (once, at start, id ``""``), ``progress``, ``preview``, ``result``, ``estimated``, ``error``,
``cancelled``, ``released`` and ``pong``. A request ends with exactly one of ``result``, ``estimated``,
``error``, ``cancelled``, ``released`` or ``pong``.

Arrays never go through the pipe: the client writes ``depth.npy`` (and ``mask.npy``) into a job
folder, the worker writes ``result.npy`` and ``preview-N.npy`` there, each under a temporary name
renamed into place, so a reader never sees half an array. Pickles are refused on load.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from ..errors import BadInput, DepthAddonError, ModelUnavailable
from .arrays import read_array, write_array  # noqa: F401  (re-exported: arrays are part of the protocol)
from .params import GenerateParams  # noqa: F401  (re-exported: the generate request's parameters)

PROTOCOL_VERSION = 1
OPS = frozenset({"generate", "estimate", "cancel", "ping", "release", "shutdown"})
#: Event kinds that end a request.
FINAL_KINDS = frozenset({"result", "estimated", "error", "cancelled", "released", "pong"})

class ProtocolError(ValueError):
    """A line that is not a valid message of this protocol."""


class WorkerError(DepthAddonError):
    """The worker failed; ``code`` says how (see :class:`Error`).

    :param message: Text for the user.
    :param code: Machine-readable reason.
    """

    def __init__(self, message: str, code: str = "internal") -> None:
        super().__init__(message)
        self.code = code


class WorkerDied(WorkerError):
    """The worker process ended while a request was running (crash, kill, out of memory)."""


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _dumps(obj: dict) -> str:
    return json.dumps(_json_safe(obj), separators=(",", ":"), allow_nan=False, ensure_ascii=False) + "\n"


def _loads(line: str | bytes) -> dict:
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not a JSON line: {str(line)[:80]!r}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a JSON object, got {type(obj).__name__}")
    if obj.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {obj.get('v')!r}, expected {PROTOCOL_VERSION}")
    if not isinstance(obj.get("id"), str):
        raise ProtocolError("message without a string 'id'")
    return obj


@dataclass(frozen=True)
class Request:
    """One request to the worker.

    :param id: Caller-chosen identifier, echoed in every event of this request.
    :param op: One of :data:`OPS`.
    :param params: Operation parameters (plain JSON).
    """

    id: str
    op: str
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ProtocolError(f"request id must be a non-empty string, got {self.id!r}")
        if self.op not in OPS:
            raise ProtocolError(f"unknown op {self.op!r}; known: {', '.join(sorted(OPS))}")
        if not isinstance(self.params, dict):
            raise ProtocolError(f"params must be an object, got {type(self.params).__name__}")

    def encode(self) -> str:
        """The request as one JSON line (ending in a newline)."""
        return _dumps({"v": PROTOCOL_VERSION, "id": self.id, "op": self.op, "params": self.params})

    @classmethod
    def decode(cls, line: str | bytes) -> Request:
        """Parse one line.

        :param line: A line written by :meth:`encode`.
        :raises ProtocolError: For anything else.
        """
        obj = _loads(line)
        return cls(obj["id"], obj.get("op"), obj.get("params", {}))


@dataclass(frozen=True)
class Event:
    """Base of every worker event; ``kind`` names the subclass on the wire.

    :param id: The request this event belongs to (``""`` for worker-level events).
    """

    kind: ClassVar[str] = ""
    id: str

    def encode(self) -> str:
        """The event as one JSON line (ending in a newline)."""
        return _dumps({"v": PROTOCOL_VERSION, "kind": self.kind, **asdict(self)})

    @property
    def final(self) -> bool:
        """True when this event ends its request."""
        return self.kind in FINAL_KINDS


@dataclass(frozen=True)
class Ready(Event):
    """The worker started and reads requests.

    :param pid: Worker process id.
    :param versions: Python, numpy and add-on versions of the worker.
    """

    kind: ClassVar[str] = "ready"
    pid: int = 0
    versions: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Progress(Event):
    """A generation advanced.

    :param fraction: Share done, 0..1, never decreasing within a request.
    :param message: Name of the step that starts now.
    :param step: Number of this progress report (1, 2, …).
    :param elapsed_s: Seconds since the request started.
    :param eta_s: Estimated seconds left; None while unknown.
    """

    kind: ClassVar[str] = "progress"
    fraction: float = 0.0
    message: str = ""
    step: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = None


@dataclass(frozen=True)
class Preview(Event):
    """An intermediate image (H×W×3 float32 sRGB ``.npy``) from a generator that offers one.

    :param path: The preview file.
    :param fraction: Progress when it was taken.
    """

    kind: ClassVar[str] = "preview"
    path: str = ""
    fraction: float = 0.0


@dataclass(frozen=True)
class Result(Event):
    """The finished image: H×W×3 float32 sRGB in [0, 1] (row 0 = top) in ``path``.

    :param path: The result file.
    :param seconds: Time spent inside the worker, model loading included.
    :param generator: Registry name of the generator that made it.
    :param fingerprint: Identity of its weights or code, for the provenance record.
    :param maps: Map name → ``.npy`` path of each material map, when the request asked for them.
    """

    kind: ClassVar[str] = "result"
    path: str = ""
    seconds: float = 0.0
    generator: str = ""
    fingerprint: str = ""
    maps: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Estimated(Event):
    """A photo's estimated depth: H×W float32 at the photo's size in ``path``.

    :param path: The values file.
    :param values_kind: ``disparity`` (relative) or ``depth`` (metres).
    :param model: The weights folder's name.
    :param seconds: Time spent inside the worker, model loading included.
    :param focal_px: Horizontal focal length in pixels when the model predicts it (Depth Pro), else None.
    """

    kind: ClassVar[str] = "estimated"
    path: str = ""
    values_kind: str = "disparity"
    model: str = ""
    seconds: float = 0.0
    focal_px: float | None = None


@dataclass(frozen=True)
class Error(Event):
    """A request failed.

    :param code: ``bad_input``, ``model_unavailable``, ``out_of_memory``, ``protocol``, ``worker_died``
        or ``internal``.
    :param message: One line for the user.
    :param detail: Traceback or process output for bug reports.
    """

    kind: ClassVar[str] = "error"
    code: str = "internal"
    message: str = ""
    detail: str = ""

    def to_exception(self) -> DepthAddonError:
        """The matching exception: :class:`BadInput`, :class:`ModelUnavailable` or a :class:`WorkerError`."""
        if self.code == "bad_input":
            return BadInput(self.message)
        if self.code == "model_unavailable":
            return ModelUnavailable(self.message)
        if self.code == "worker_died":
            return WorkerDied(self.message, self.code)
        return WorkerError(self.message, self.code)


@dataclass(frozen=True)
class CancelledEvent(Event):
    """A request stopped because it was cancelled; nothing was produced.

    :param forced: True when the worker did not stop in time and the client ended the process.
    """

    kind: ClassVar[str] = "cancelled"
    forced: bool = False


@dataclass(frozen=True)
class Released(Event):
    """Cached models were dropped.

    :param rss_mb: Resident memory of the worker afterwards (None where it cannot be read).
    """

    kind: ClassVar[str] = "released"
    rss_mb: float | None = None


@dataclass(frozen=True)
class Pong(Event):
    """Answer to ``ping``.

    :param info: Versions, generators and (deep ping) torch, its location and the device.
    """

    kind: ClassVar[str] = "pong"
    info: dict = field(default_factory=dict)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (Ready, Progress, Preview, Result, Estimated, Error, CancelledEvent, Released, Pong)
}


def decode_event(line: str | bytes) -> Event:
    """Parse one event line into its typed event.

    :param line: A line written by :meth:`Event.encode`.
    :raises ProtocolError: For an unknown kind, a missing field or a malformed line.
    """
    obj = _loads(line)
    cls = EVENT_TYPES.get(obj.get("kind"))
    if cls is None:
        raise ProtocolError(f"unknown event kind {obj.get('kind')!r}")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in obj.items() if k in names})
    except TypeError as exc:
        raise ProtocolError(f"bad {cls.kind} event: {exc}") from exc


def error_from_exception(request_id: str, exc: BaseException, detail: str = "") -> Error:
    """Classify an exception raised while serving a request.

    :param request_id: The request that failed.
    :param exc: The exception.
    :param detail: Traceback text.
    """
    text = str(exc) or type(exc).__name__
    if isinstance(exc, BadInput):
        return Error(request_id, "bad_input", text, detail)
    if isinstance(exc, ModelUnavailable):
        return Error(request_id, "model_unavailable", text, detail)
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return Error(request_id, "out_of_memory", f"the model ran out of memory: {text}; try a smaller size or "
                                                  "release other models", detail)
    if isinstance(exc, ProtocolError):
        return Error(request_id, "protocol", text, detail)
    return Error(request_id, "internal", f"{type(exc).__name__}: {text}", detail)
