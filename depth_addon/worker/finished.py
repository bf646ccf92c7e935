# SPDX-License-Identifier: GPL-3.0-or-later
"""What a worker client does with finished requests: take their arrays, or block until they end (no bpy).

:class:`FinishedRequests` is a base of :class:`~.client.WorkerClient`: the job queue only takes results
(:meth:`~FinishedRequests.take_result`, :meth:`~FinishedRequests.take_estimate`); scripts, tests and the CLI
also wait for them (:meth:`~FinishedRequests.wait`, :meth:`~FinishedRequests.generate_blocking`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..depth_import.intrinsics import Intrinsics
from ..errors import Cancelled
from ..estimation.estimator import Estimate
from .protocol import CancelledEvent, Error, Estimated, Event, Result, WorkerError, read_array


class FinishedRequests:
    """Taking and waiting for results; needs the client's ``poll``, ``generate`` and ``_backlog``."""

    _backlog: list[Event]

    def take_result(self, event: Result) -> np.ndarray:
        """Load a result's image and delete its job folder.

        :param event: A ``result`` event from :meth:`poll`.
        """
        try:
            return read_array(event.path)
        finally:
            shutil.rmtree(Path(event.path).parent, ignore_errors=True)

    def take_estimate(self, event: Estimated) -> Estimate:
        """Load an ``estimated`` event's values and delete its job folder.

        :param event: An ``estimated`` event from :meth:`poll`.
        """
        try:
            values = read_array(event.path)
            h, w = values.shape[:2]
            lens = Intrinsics.from_focal_px(w, h, event.focal_px) if event.focal_px else None
            return Estimate(values, event.values_kind, event.model, lens, event.seconds)
        finally:
            shutil.rmtree(Path(event.path).parent, ignore_errors=True)

    def discard(self, event: Event) -> None:
        """Delete the job folder of a ``result`` or ``estimated`` event nobody will take (its job was dropped);
        other events hold no files.

        :param event: An event from :meth:`poll`.
        """
        if isinstance(event, Result | Estimated) and event.path:
            shutil.rmtree(Path(event.path).parent, ignore_errors=True)

    def wait(self, request_id: str, timeout: float = 600.0, on_event: Callable[[Event], None] | None = None,
             interval: float = 0.02) -> Event:
        """Block until ``request_id`` ends and return its final event (scripts, tests, the CLI).

        :param request_id: The request.
        :param timeout: Seconds before TimeoutError (the request keeps running).
        :param on_event: Called with every event of this request as it arrives.
        :param interval: Seconds between polls.
        :raises TimeoutError: When the request did not end in time.
        """
        end = time.perf_counter() + timeout
        while True:
            events = self.poll()
            for i, event in enumerate(events):
                if event.id != request_id:
                    self._backlog.append(event)
                    continue
                if on_event is not None:
                    on_event(event)
                if event.final:
                    self._backlog.extend(events[i + 1:])
                    return event
            if time.perf_counter() > end:
                raise TimeoutError(f"the worker did not answer {request_id} within {timeout:.0f} s")
            time.sleep(interval)

    def generate_blocking(self, depth: np.ndarray, mask: np.ndarray | None = None, timeout: float = 600.0,
                          on_event: Callable[[Event], None] | None = None, **params) -> np.ndarray:
        """Generate in the worker and wait: the image, or the error as an exception.

        :param depth: H×W depth in metres.
        :param mask: H×W bool mask, or None.
        :param timeout: Seconds to wait.
        :param on_event: Called with each event (progress, preview) of the request.
        :param params: :class:`~.protocol.GenerateParams` fields.
        :raises DepthAddonError: :class:`~depth_addon.errors.BadInput`, ``ModelUnavailable``,
            :class:`~depth_addon.errors.Cancelled` or :class:`~.protocol.WorkerError`.
        """
        final = self.wait(self.generate(depth, mask, **params), timeout, on_event)
        if isinstance(final, Result):
            return self.take_result(final)
        if isinstance(final, CancelledEvent):
            raise Cancelled("cancelled by the user")
        if isinstance(final, Error):
            raise final.to_exception()
        raise WorkerError(f"unexpected answer {final.kind!r} to a generate request")
