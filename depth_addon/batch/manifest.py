# SPDX-License-Identifier: GPL-3.0-or-later
"""The results of a task: one entry file per finished unit, and ``manifest.json`` gathering them.

Each unit's folder ``<out_dir>/<key>/`` holds its files and ``unit.json``: spec hash, seed, provenance
and, per artifact, its path (relative to the out-dir), size and sha256. The folder is built under a
temporary name and renamed into place whole, so an entry always describes the files next to it.
``manifest.json`` is the same entries in one file for people and tools; it is rewritten under a file
lock, so concurrent farm chunks of one task never drop each other's units. Resume trusts only the
unit's own entry, and only when every artifact still has the recorded size and sha256. What a task's runs said
once for the whole task (:meth:`Manifest.say_once`) is kept in ``manifest.json`` too, under ``said``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import BadInput
from ..io.atomic import write_text_atomic
from ..io.locks import locked
from ..io.png import read_png_text
from ..io.verify import sha256_file
from .job import Unit

FILENAME = "manifest.json"
ENTRY = "unit.json"
LOCK = ".manifest.lock"


def artifact_record(path: Path, rel: str) -> dict:
    """Path (relative to the out-dir), size and sha256 of one artifact.

    :param path: The file as it is now (possibly still in the unit's staging folder).
    :param rel: Its final path relative to the out-dir.
    """
    return {"path": rel, "size": path.stat().st_size, "sha256": sha256_file(path)}


class Manifest:
    """Finished units of one task, in ``<out_dir>/<key>/unit.json`` and ``<out_dir>/manifest.json``."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        """Read ``manifest.json`` when there is one (an unreadable one counts as empty).

        :param out_dir: The task's output folder.
        """
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / FILENAME
        self.units: dict[str, dict] = self._read()

    def _read(self) -> dict[str, dict]:
        return self._read_all()[0]

    def _read_all(self) -> tuple[dict[str, dict], dict[str, str]]:
        """``(units, said)`` of ``manifest.json``; empty when it is missing or unreadable."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            units, said = document.get("units", {}), document.get("said", {})
        except (ValueError, OSError, AttributeError):
            return {}, {}  # unreadable: nothing in it is trusted; unit entries still are
        return (units if isinstance(units, dict) else {}), (said if isinstance(said, dict) else {})

    def _write(self, said: dict[str, str]) -> None:
        """Rewrite ``manifest.json`` with :attr:`units` and ``said`` (under the task's lock)."""
        document = {"version": 2, "units": self.units, **({"said": said} if said else {})}
        write_text_atomic(self.path, json.dumps(document, indent=2, sort_keys=True))

    def entry(self, unit: Unit) -> dict | None:
        """The unit's own entry file, or None when it is missing or unreadable.

        :param unit: The unit.
        """
        try:
            entry = json.loads((self.out_dir / unit.key / ENTRY).read_text(encoding="utf-8"))
        except (ValueError, OSError):
            return None
        return entry if isinstance(entry, dict) else None

    def is_done(self, unit: Unit) -> bool:
        """True when ``unit`` finished with the same spec and every artifact has its recorded size and sha256.

        :param unit: The unit.
        """
        entry = self.entry(unit)
        if not entry or entry.get("spec_hash") != unit.spec_hash or not entry.get("files"):
            return False
        for record in entry["files"].values():
            path = self.out_dir / record.get("path", "")
            try:
                if path.stat().st_size != record.get("size") or sha256_file(path) != record.get("sha256"):
                    return False
            except OSError:
                return False
        return True

    def painted(self, unit: Unit) -> set[str] | None:
        """The objects the finished ``unit`` painted: ``painted`` in its entry's provenance, or, for a unit made
        before that was recorded, the objects of the parts its ``generated.png`` lists; None when neither says.

        :param unit: A finished unit (:meth:`is_done`).
        """
        entry = self.entry(unit) or {}
        recorded = (entry.get("provenance") or {}).get("painted")
        if isinstance(recorded, list):
            return {str(name) for name in recorded}
        image = (entry.get("artifacts") or {}).get("generated")
        try:
            parts = json.loads(read_png_text(self.out_dir / image)["parts"]) if isinstance(image, str) else None
        except (OSError, ValueError, KeyError, BadInput):
            return None
        if not isinstance(parts, list):
            return None
        return {d["object"] for d in parts if isinstance(d, dict) and isinstance(d.get("object"), str)}

    def make_entry(self, unit: Unit, artifacts: dict[str, Path], folder: Path, provenance: dict) -> dict:
        """The entry of ``unit`` whose files lie in ``folder`` (its staging folder) and will move to ``<key>/``.

        :param unit: The unit.
        :param artifacts: Kind → file inside ``folder``.
        :param folder: Where the files are now.
        :param provenance: Spec, mapping and versions.
        """
        files = {k: artifact_record(Path(p), f"{unit.key}/{Path(p).relative_to(folder).as_posix()}")
                 for k, p in artifacts.items()}
        return {"task": unit.task, "camera": unit.camera, "frame": unit.frame, "seed": unit.seed,
                "spec_hash": unit.spec_hash, "artifacts": {k: f["path"] for k, f in files.items()}, "files": files,
                "provenance": provenance}

    def write_entry(self, folder: Path, entry: dict) -> None:
        """Write ``unit.json`` into the unit's (staging) folder.

        :param folder: The unit's folder.
        :param entry: From :meth:`make_entry`.
        """
        write_text_atomic(folder / ENTRY, json.dumps(entry, indent=2, sort_keys=True))

    def publish(self, unit: Unit, entry: dict) -> None:
        """Add ``entry`` to ``manifest.json``: read, merge and rewrite it under the task's lock.

        :param unit: The unit.
        :param entry: Its entry, as written to ``unit.json``.
        """
        with locked(self.out_dir / LOCK, "batch manifest"):
            self.units, said = self._read_all()
            self.units[unit.key] = entry
            self._write(said)

    def gather(self, units: list[Unit]) -> None:
        """Put the entries of finished ``units`` that ``manifest.json`` lacks (edited, cut short) back into it.

        :param units: Units whose own entries are trusted (:meth:`is_done`).
        """
        missing = [u for u in units if u.key not in self.units]
        if not missing:
            return
        with locked(self.out_dir / LOCK, "batch manifest"):
            self.units, said = self._read_all()
            for unit in missing:
                entry = self.entry(unit)
                if entry is not None:
                    self.units[unit.key] = entry
            self._write(said)

    def painted_by(self, units: list[Unit]) -> set[str] | None:
        """What ``units``, made by other runs (earlier ones, other farm chunks), painted (:meth:`painted`); None when
        that is not known: one of them is not made yet (with the task's spec), or its entry does not say.

        Entries are read from disk at each call: a unit another run put in place since is seen.

        :param units: Units of the task.
        """
        painted: set[str] = set()
        for unit in units:
            theirs = self.painted(unit) if (self.entry(unit) or {}).get("spec_hash") == unit.spec_hash else None
            if theirs is None:
                return None
            painted |= theirs
        return painted

    def say_once(self, topic: str, units: list[Unit], lines: list[str]) -> bool:
        """True for the one run that is to say ``lines`` about the task made of ``units``, as they are now.

        Farm chunks that end together may each find the task complete; the first to record it (``said`` in
        ``manifest.json``, under the task's lock) says it, the others do not. What is recorded is a digest of the
        units' entries (each making of a unit has an entry of its own) and of the lines: a later run that makes a
        unit again, or has other lines to say, says them again.

        :param topic: What is said (one record per topic).
        :param units: Every unit of the task.
        :param lines: What would be said.
        """
        digest = hashlib.sha256()
        for unit in sorted(units, key=lambda u: u.key):
            digest.update(json.dumps([unit.key, self.entry(unit)], sort_keys=True).encode())
        digest.update(json.dumps(lines).encode())
        with locked(self.out_dir / LOCK, "batch manifest"):
            self.units, said = self._read_all()
            if said.get(topic) == digest.hexdigest():
                return False
            said[topic] = digest.hexdigest()
            self._write(said)
        return True

    def record(self, unit: Unit, artifacts: dict[str, str | os.PathLike], provenance: dict) -> None:
        """Record a unit whose files are already in ``<out_dir>/<key>/``: its entry file, then the manifest.

        :param unit: The unit.
        :param artifacts: Kind → file inside the unit's folder.
        :param provenance: Spec, mapping and versions.
        """
        folder = self.out_dir / unit.key
        entry = self.make_entry(unit, {k: Path(v) for k, v in artifacts.items()}, folder, provenance)
        self.write_entry(folder, entry)
        self.publish(unit, entry)
