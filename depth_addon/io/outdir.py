# SPDX-License-Identifier: GPL-3.0-or-later
"""Output folders that a run owns: one run at a time, never another run's results lost, all files or none.

A run claims its ``--out-dir`` (:meth:`OutputDir.claim`): it takes the folder's lock
(``.depth_addon.lock``; a second run into the same folder fails at once, naming the holder), refuses a
folder that contains one of its inputs, and, unless ``overwrite`` is set, refuses a folder that
already holds another run's results. The run writes everything into a staging folder inside the
out-dir; :meth:`OutputDir.commit` then swaps the whole set in: the previous set is moved aside, the
new one moved in, and the previous one deleted. A journal (``.depth_addon-swap.json``) makes the swap
finish on the next claim when the process died in the middle, so readers see the old set or the new
one, never a mix. ``.depth_addon-run.json`` (the marker) names the run that wrote the set and its
files. Outputs refer to each other by relative paths, so the folder can be moved as a whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from ..errors import BadInput
from .atomic import check_writable_dir, interrupts_held, write_error, write_text_atomic
from .locks import FileLock

MARKER = ".depth_addon-run.json"
LOCK = ".depth_addon.lock"
JOURNAL = ".depth_addon-swap.json"
STAGING = ".depth_addon-staging-"
PREVIOUS = ".depth_addon-previous-"


def refuse_inputs_inside(out_dir: Path, inputs: list[str | os.PathLike | None]) -> None:
    """Refuse an output folder that contains (or is) one of the run's input files.

    :param out_dir: The output folder.
    :param inputs: Input files (None entries are skipped).
    :raises BadInput: Naming the input and the folder.
    """
    out = out_dir.resolve()
    for item in inputs:
        if not item:
            continue
        path = Path(item).resolve()
        if path == out or out in path.parents:
            raise BadInput(f"--out-dir {os.fspath(out_dir)} contains the input {os.fspath(item)}: results could "
                           "replace or bury it; choose an output folder outside the input's folder")


def read_marker(out_dir: Path) -> dict | None:
    """The marker of the run whose results ``out_dir`` holds, or None."""
    try:
        data = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def swap_in(out_dir: Path, journal: dict) -> None:
    """Move the previous set aside and the staged set in; safe to repeat after a crash (roll forward).

    :param out_dir: The output folder.
    :param journal: ``staging``, ``previous`` (folder names), ``new`` and ``old`` (top-level entry names).
    """
    staging, previous = out_dir / journal["staging"], out_dir / journal["previous"]
    previous.mkdir(exist_ok=True)
    for name in dict.fromkeys(journal["old"] + journal["new"]):
        replaced = name not in journal["new"] or os.path.lexists(staging / name)
        if replaced and os.path.lexists(out_dir / name) and not os.path.lexists(previous / name):
            os.replace(out_dir / name, previous / name)
    for name in journal["new"]:
        if os.path.lexists(staging / name):
            os.replace(staging / name, out_dir / name)


def swap_back(out_dir: Path, journal: dict) -> None:
    """Undo a swap that failed part-way: the staged set goes back, the previous set returns.

    :param out_dir: The output folder.
    :param journal: As for :func:`swap_in`.
    """
    staging, previous = out_dir / journal["staging"], out_dir / journal["previous"]
    for name in journal["new"]:
        if os.path.lexists(out_dir / name) and not os.path.lexists(staging / name):
            os.replace(out_dir / name, staging / name)
    if previous.is_dir():
        for name in os.listdir(previous):
            os.replace(previous / name, out_dir / name)


def recover(out_dir: Path) -> None:
    """Finish a swap that a dead run left half done, then remove staging and previous folders of dead runs.

    Only call this holding the folder's lock.

    :param out_dir: The output folder.
    """
    journal_path = out_dir / JOURNAL
    try:
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        journal = None
    if journal is not None:
        swap_in(out_dir, journal)
        journal_path.unlink()
    for entry in out_dir.iterdir():
        if entry.name.startswith((STAGING, PREVIOUS)):
            shutil.rmtree(entry, ignore_errors=True)


class OutputDir:
    """The output folder of one run: claim it, write into :attr:`staging`, then :meth:`commit` or :meth:`abort`."""

    def __init__(self, path: str | os.PathLike, command: str, inputs: list[str | os.PathLike | None] | None = None,
                 overwrite: bool = False, artifacts: tuple[str, ...] = ()) -> None:
        """Describe the claim; nothing happens on disk until :meth:`claim`.

        :param path: The ``--out-dir``.
        :param command: What runs (shown to a second run and recorded in the marker).
        :param inputs: The run's input files, which must not lie inside the folder.
        :param overwrite: Replace the results of an earlier run instead of refusing.
        :param artifacts: Names this command writes, for folders from before markers existed.
        """
        self.path = Path(path)
        self.command = command
        self.inputs = list(inputs or [])
        self.overwrite = overwrite
        self.artifacts = artifacts
        self.run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.staging = self.path / f"{STAGING}{self.run_id}"
        self.lock = FileLock(self.path / LOCK, {"command": command, "run": self.run_id})
        self.created = False
        self.old: list[str] = []

    def claim(self) -> OutputDir:
        """Lock the folder, finish a crashed swap, check that it may be written, and create :attr:`staging`.

        :raises BadInput: Input inside the folder, folder in use, earlier results without ``overwrite``.
        """
        refuse_inputs_inside(self.path, self.inputs)
        self.created = not self.path.exists()
        check_writable_dir(self.path)
        if not self.lock.acquire():
            holder = self.lock.holder()
            self.cleanup()
            raise BadInput(f"output folder {os.fspath(self.path)} is in use by {holder}; two runs cannot share "
                           "an output folder: wait for it to finish or choose another --out-dir")
        try:
            recover(self.path)
            self.old = self._previous_set()
            self.staging.mkdir()
        except OSError as exc:
            self.abort()
            raise write_error(exc, self.staging) from None
        except BaseException:
            self.abort()
            raise
        return self

    def _previous_set(self) -> list[str]:
        marker = read_marker(self.path)
        old = [n for n in marker.get("files", []) if isinstance(n, str)] + [MARKER] if marker else [
            n for n in self.artifacts if os.path.lexists(self.path / n)]
        if old and not self.overwrite:
            what = (f"the results of an earlier run ({marker.get('command', '?')}, {marker.get('finished', '?')})"
                    if marker else f"earlier results ({', '.join(old)})")
            raise BadInput(f"{os.fspath(self.path)} already holds {what}; pass --overwrite to replace them, "
                           "or choose another --out-dir")
        return [n for n in dict.fromkeys(old) if os.path.lexists(self.path / n)]

    def final(self, staged: str | os.PathLike) -> Path:
        """Where a file written into :attr:`staging` will be once the run is committed.

        :param staged: A path inside :attr:`staging`.
        """
        return self.path / Path(staged).relative_to(self.staging)

    def commit(self, record: dict | None = None) -> list[Path]:
        """Swap the staged set in for the previous one (Ctrl+C waits for it) and release the folder.

        :param record: Extra fields for the marker.
        :return: The committed top-level entries, at their final paths.
        :raises BadInput: When a rename fails; the previous set is then put back.
        """
        names = sorted(os.listdir(self.staging)) + [MARKER]
        marker = {"run": self.run_id, "command": self.command, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "files": names[:-1], **(record or {})}
        journal = {"staging": self.staging.name, "previous": f"{PREVIOUS}{self.run_id}", "new": names,
                   "old": self.old}
        with interrupts_held():
            write_text_atomic(self.staging / MARKER, json.dumps(marker, indent=2))
            write_text_atomic(self.path / JOURNAL, json.dumps(journal))
            try:
                swap_in(self.path, journal)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    swap_back(self.path, journal)
                    (self.path / JOURNAL).unlink()
                self.abort()
                raise write_error(exc, self.path) from None
            (self.path / JOURNAL).unlink()
        shutil.rmtree(self.path / journal["previous"], ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.cleanup()
        return [self.path / n for n in names]

    def abort(self) -> None:
        """Drop the staged files and release the folder; the previous set stays as it was."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self.cleanup()

    def cleanup(self) -> None:
        """Release the lock, and remove the folder when this run created it and left it empty."""
        self.lock.release()
        if self.created:
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def __enter__(self) -> OutputDir:
        """Claim the folder (see :meth:`claim`) unless this run already holds it."""
        return self if self.lock.fd is not None else self.claim()

    def __exit__(self, exc_type, exc, tb) -> None:
        """Abort when the block raised; a block that returned without :meth:`commit` is aborted too."""
        if self.lock.fd is not None:
            self.abort()

