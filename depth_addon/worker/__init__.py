# SPDX-License-Identifier: GPL-3.0-or-later
"""The generation worker: a separate Python process that runs generators for Blender (no bpy).

* :mod:`.protocol` — typed requests and events, one JSON object per line; arrays travel as ``.npy``
  files in a per-job folder, written atomically.
* :mod:`.server` — the worker's main loop (``python -m depth_addon.worker.server``). It never imports
  Blender, reads requests on stdin, writes events on stdout and watches for cancel requests on a
  reader thread, so a running generation stops at its next check point.
* :mod:`.client` — starts the worker, sends requests, polls events without blocking, cancels (and
  kills a worker that does not stop in time), restarts it and turns a dead process into a clear error.

A crash or an out-of-memory kill in a model therefore ends the worker, never Blender.
"""
