# SPDX-License-Identifier: GPL-3.0-or-later
"""Batch jobs (no bpy): read a job file, expand it into independent units, track what is done.

A *job* lists tasks; a *task* names a .blend, cameras, a frame range, a prompt and a seed policy;
a *unit* is one (task, camera, frame) and is what a farm schedules. Units are self-contained: their
spec (everything that affects the result) is hashed, finished units are listed in the task's
manifest with that hash and their artifacts, and a re-run skips units whose hash and files match.
"""

from .job import Job, Task, Unit, load_job, parse_job
from .manifest import Manifest
from .split import split_units

__all__ = ["Job", "Manifest", "Task", "Unit", "load_job", "parse_job", "split_units"]
