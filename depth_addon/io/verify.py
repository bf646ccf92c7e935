# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a freshly written file before it replaces its target: size, format header, JSON parses.

:func:`verify_file` is what :mod:`depth_addon.io.atomic` runs on every temporary file before the
rename, so a short write (full disk, killed writer) never replaces a good file. The check reads the
header and, for PNG and JSON, the whole file; a ``.blend`` must start with Blender's header (plain
or zstd-compressed). Other suffixes are only checked for their size when one is expected.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import BadInput

#: Leading bytes of each format we write, by suffix.
MAGIC: dict[str, tuple[bytes, ...]] = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".exr": (b"\x76\x2f\x31\x01",),
    ".npy": (b"\x93NUMPY",),
    ".blend": (b"BLENDER", b"\x28\xb5\x2f\xfd", b"\x1f\x8b"),  # plain, zstd (4.x+), gzip (older files)
    ".pfm": (b"Pf", b"PF"),
}


def verify_file(path: str | os.PathLike, size: int | None = None, kind: str | None = None) -> int:
    """Check that ``path`` holds a whole file of its format; return its size in bytes.

    :param path: The file to check (usually a temporary file about to be renamed).
    :param size: The exact size it must have, when known.
    :param kind: The format's suffix (``.png``, ``.json`` ...); ``path``'s own suffix when None.
    :raises BadInput: Naming the file and what is wrong with it.
    """
    path = Path(path)
    kind = (kind or path.suffix).lower()
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise BadInput(f"short write: {path.name} has {actual} bytes, {size} expected (is the disk full?)")
    if kind in MAGIC or kind == ".json":
        if actual == 0:
            raise BadInput(f"short write: {path.name} is empty (is the disk full?)")
    if kind in MAGIC:
        with open(path, "rb") as f:
            head = f.read(8)
        if not head.startswith(MAGIC[kind]):
            raise BadInput(f"{path.name} is not a valid {kind} file after writing (header {head[:8]!r})")
    if kind == ".png" and not path.read_bytes().endswith(b"IEND\xaeB`\x82"):
        raise BadInput(f"short write: {path.name} ends before its IEND chunk (is the disk full?)")
    if kind == ".json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadInput(f"{path.name} does not parse as JSON after writing: {exc}") from None
    return actual


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes (read in 1 MiB blocks).

    :param path: The file.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
