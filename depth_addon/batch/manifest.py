# SPDX-License-Identifier: GPL-3.0-or-later
"""The results manifest of a task: every finished unit, its spec hash, artifacts and provenance.

The manifest is rewritten atomically after each unit, so an interrupted batch leaves a manifest
that lists exactly the units that finished; :meth:`Manifest.is_done` is what resume relies on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..io.atomic import write_text_atomic
from .job import Unit

FILENAME = "manifest.json"


class Manifest:
    """Finished units of one task, stored in ``<out_dir>/manifest.json``."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.path = Path(out_dir) / FILENAME
        self.units: dict[str, dict] = {}
        if self.path.is_file():
            try:
                self.units = json.loads(self.path.read_text(encoding="utf-8")).get("units", {})
            except (json.JSONDecodeError, OSError):
                self.units = {}  # unreadable: everything is redone, nothing is trusted

    def is_done(self, unit: Unit) -> bool:
        """True when ``unit`` finished with the same spec and all its artifacts still exist."""
        entry = self.units.get(unit.key)
        if not entry or entry.get("spec_hash") != unit.spec_hash:
            return False
        return all((self.path.parent / rel).is_file() for rel in entry.get("artifacts", {}).values())

    def record(self, unit: Unit, artifacts: dict[str, str | os.PathLike], provenance: dict) -> None:
        """Add ``unit`` with its artifacts (stored relative to the manifest) and save atomically."""
        rel = {k: os.path.relpath(v, self.path.parent) for k, v in artifacts.items()}
        self.units[unit.key] = {"task": unit.task, "camera": unit.camera, "frame": unit.frame, "seed": unit.seed,
                                "spec_hash": unit.spec_hash, "artifacts": rel, "provenance": provenance}
        write_text_atomic(self.path, json.dumps({"version": 1, "units": self.units}, indent=2, sort_keys=True))
