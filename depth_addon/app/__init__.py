# SPDX-License-Identifier: GPL-3.0-or-later
"""Use cases: what a user asks for, as Blender steps: texture a scene, render a depth sequence, run a job.

Owns the flows (depth → generator → write-back, multi-view, regenerate, batch, the job queue) and what the
machine settings mean (:mod:`.setup`). May import the core and the bridge (:mod:`depth_addon.blender`);
never the CLI, the operators or the panels. :mod:`depth_addon.api` re-exports its stable functions.
"""
