# SPDX-License-Identifier: GPL-3.0-or-later
"""Generated images back into the scene: projection materials, UV bakes, multi-view fusion, coverage maps.

Originals are kept and restorable (:func:`.projection.remove_projection`, :func:`.bake_apply.remove_bake`);
:mod:`.provenance` stores the record of how a result was made on its datablocks. Calls no generator.
"""
