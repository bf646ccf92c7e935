# SPDX-License-Identifier: GPL-3.0-or-later
"""Split a job into farm tasks: chunks of units that any machine can run on its own.

A farm task is a command line for ``depth_cli.py batch`` restricted to one task and a frame
chunk (``--task NAME --frames A B``). Chunks never cross cameras' shared state: when a task has
no locked ``range``, the depth range must be computed over all frames first, so the splitter
refuses such tasks unless ``allow_unlocked`` (each chunk then fits its own range) is set.
"""

from __future__ import annotations

from ..errors import BadInput
from .job import Job


def split_units(job: Job, chunk_size: int = 10, allow_unlocked: bool = False) -> list[dict]:
    """Farm tasks for ``job``: one dict per chunk with ``task``, ``frames`` and ``args``.

    :param job: A parsed job.
    :param chunk_size: Frames per farm task (≥ 1).
    :param allow_unlocked: Permit tasks without a locked ``range`` (each chunk maps its own range).
    :raises BadInput: For a non-positive chunk size or an unlocked multi-chunk task.
    """
    if chunk_size < 1:
        raise BadInput(f"chunk size must be at least 1, got {chunk_size}")
    out = []
    for task in job.tasks:
        if task.frames is None:
            out.append({"task": task.name, "frames": None, "args": ["--task", task.name]})
            continue
        start, end = task.frames
        chunks = [(s, min(s + chunk_size - 1, end)) for s in range(start, end + 1, chunk_size)]
        if len(chunks) > 1 and task.range is None and not allow_unlocked:
            raise BadInput(f"task {task.name!r} spans {len(chunks)} chunks but has no locked 'range': run "
                           "'batch --plan' to compute one, or set \"range\": [near, far] in the job")
        for s, e in chunks:
            out.append({"task": task.name, "frames": [s, e], "args": ["--task", task.name, "--frames", str(s), str(e)]})
    return out
