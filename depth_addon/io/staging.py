# SPDX-License-Identifier: GPL-3.0-or-later
"""Outputs that appear together or not at all: a set of files, or a whole folder, renamed into place at the end.

:class:`FileSet` stages single files under temporary names beside their targets (``render-depth`` over
several views); :func:`replace_folder` puts a finished staging folder where an earlier one was (one
batch unit). Both hold Ctrl+C while they rename, and a failure before they run leaves every earlier
output as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from . import leftovers
from .atomic import fsync_path, interrupts_held, write_error


class FileSet:
    """Files written under temporary names beside their targets and renamed into place together.

    For commands whose outputs are single files (``render-depth`` over several views): a failure
    before :meth:`commit` leaves every target as it was.
    """

    def __init__(self) -> None:
        """Start with nothing staged."""
        self.tag = uuid.uuid4().hex[:8]
        self.staged: list[tuple[Path, Path]] = []

    def stage(self, target: str | os.PathLike) -> Path:
        """The temporary path to write ``target`` to (same folder, same suffix).

        :param target: Final path.
        """
        target = Path(target)
        leftovers.sweep(target.parent)  # what a killed run left here
        tmp = target.parent / f".{target.stem}.{leftovers.owner()}.{self.tag}.part{target.suffix}"
        self.staged.append((tmp, target))
        return tmp

    def add(self, tmp: Path, target: Path) -> None:
        """Also move ``tmp`` (written by a writer as a side file) to ``target`` at commit.

        :param tmp: The written side file.
        :param target: Its final path.
        """
        self.staged.append((tmp, target))

    def commit(self) -> None:
        """Rename every staged file over its target (Ctrl+C waits until all are in place)."""
        with interrupts_held():
            for tmp, target in self.staged:
                try:
                    os.replace(tmp, target)
                except OSError as exc:
                    self.abort()
                    raise write_error(exc, target) from None
            for folder in {target.parent for _tmp, target in self.staged}:
                fsync_path(folder, directory=True)
        self.staged = []

    def abort(self) -> None:
        """Remove every staged file that was not renamed yet."""
        for tmp, _target in self.staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.staged = []


def replace_folder(staging: Path, target: Path) -> None:
    """Put the finished folder ``staging`` at ``target``, replacing an earlier ``target`` as a whole.

    :param staging: The complete new folder (same parent folder as ``target``).
    :param target: Where it belongs.
    :raises BadInput: When a rename fails; the earlier folder is then put back.
    """
    previous = target.parent / f".{target.name}.previous-{uuid.uuid4().hex[:8]}"
    with interrupts_held():
        try:
            if os.path.lexists(target):
                os.replace(target, previous)
            os.replace(staging, target)
        except OSError as exc:
            if os.path.lexists(previous) and not os.path.lexists(target):
                os.replace(previous, target)
            raise write_error(exc, target) from None
        fsync_path(target.parent, directory=True)
    shutil.rmtree(previous, ignore_errors=True)
