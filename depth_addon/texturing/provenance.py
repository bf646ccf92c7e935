# SPDX-License-Identifier: GPL-3.0-or-later
"""Provenance records: everything needed to reproduce a generated image or texture.

A record is a plain JSON-safe dict (stored as a JSON string in custom properties and as text in
PNG/EXR metadata): prompt, negative prompt, seed, generator name and fingerprint, the depth mapping
and its metric range, every capture camera (matrix, view frame, size) and the scene frame, plus
the options of the run. :func:`provenance` builds one; :func:`metadata_text` flattens it for files.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

from .. import __version__
from ..camera import CameraModel
from ..errors import BadInput
from ..mapping import DepthMapping

SCHEMA = 1
KINDS = ("projection", "multiview", "bake")
META_KEY = "depth_addon:provenance"


def generator_fingerprint(generator) -> str:
    """A short, stable identity of a generator's weights (or of its code when it has none).

    Generators with weights expose ``weights_hash`` (or ``weights_sha256``), or a ``weights`` path
    whose JSON record next to it holds the sha256; others are identified by a hash of their
    module's source, so a code change shows up in the record.

    :param generator: A generator instance (or None).
    """
    if generator is None:
        return "unknown"
    for attr in ("weights_hash", "weights_sha256"):
        value = getattr(generator, attr, None)
        if value:
            return str(value)
    weights = getattr(generator, "weights", None)
    if isinstance(weights, str | Path) and Path(weights).with_suffix(".json").is_file():
        try:  # safetensors weights ship with a JSON record of their sha256
            digest = json.loads(Path(weights).with_suffix(".json").read_text(encoding="utf-8")).get("sha256")
        except (OSError, ValueError):
            digest = None
        if digest:
            return f"sha256:{digest}"
    try:
        source = Path(inspect.getfile(type(generator))).read_bytes()
    except (TypeError, OSError):
        return f"code:{type(generator).__qualname__}"
    return "code:" + hashlib.sha256(source).hexdigest()[:16]


def provenance(kind: str, prompt: str, seed: int, generator: str, cameras: list[CameraModel],
               mapping: DepthMapping | None = None, negative_prompt: str = "", weights_hash: str = "unknown",
               frame: int = 0, options: dict | None = None) -> dict:
    """Build a provenance record.

    :param kind: ``projection`` (one view projected), ``multiview`` or ``bake`` (one view baked to UVs).
    :param prompt: Prompt given to the generator.
    :param seed: Seed given to the generator.
    :param generator: Generator registry name.
    :param cameras: Capture cameras, in generation order.
    :param mapping: Depth mapping (kind, near, far); its range was locked across the views.
    :param negative_prompt: Negative prompt (empty when the generator takes none).
    :param weights_hash: :func:`generator_fingerprint` of the generator.
    :param frame: Scene frame the depth was captured at.
    :param options: Other settings of the run (sizes, placement, tolerances ...); JSON-safe values.
    :raises BadInput: For an unknown kind, no camera, or options that are not JSON-safe.
    """
    if kind not in KINDS:
        raise BadInput(f"unknown provenance kind {kind!r}; use one of {', '.join(KINDS)}")
    if not cameras:
        raise BadInput("provenance needs at least one capture camera")
    record = {
        "schema": SCHEMA,
        "kind": kind,
        "prompt": str(prompt),
        "negative_prompt": str(negative_prompt),
        "seed": int(seed),
        "generator": str(generator),
        "weights_hash": str(weights_hash),
        "mapping": None if mapping is None else mapping.to_dict(),
        "depth_range": None if mapping is None else [float(mapping.near), float(mapping.far)],
        "cameras": [c.to_dict() for c in cameras],
        "frame": int(frame),
        "options": dict(options or {}),
        "addon_version": __version__,
    }
    try:
        json.dumps(record)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"provenance options must be JSON-safe: {exc}") from None
    return record


def dumps(record: dict) -> str:
    """The record as compact JSON (what custom properties and file metadata hold).

    :param record: A provenance record.
    """
    return json.dumps(record, separators=(",", ":"), sort_keys=True)


def loads(text: str) -> dict:
    """Parse a record written by :func:`dumps`.

    :param text: JSON text.
    :raises BadInput: When it is not a provenance record.
    """
    try:
        record = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"not a provenance record: {exc}") from None
    if not isinstance(record, dict) or record.get("kind") not in KINDS or "cameras" not in record:
        raise BadInput("not a provenance record (no kind or cameras)")
    return record


def cameras_of(record: dict) -> list[CameraModel]:
    """The capture cameras of a record.

    :param record: A provenance record.
    """
    return [CameraModel.from_dict(c) for c in record["cameras"]]


def mapping_of(record: dict) -> DepthMapping | None:
    """The depth mapping of a record (None when it has none).

    :param record: A provenance record.
    """
    m = record.get("mapping")
    return None if not m else DepthMapping(**m)


def metadata_text(record: dict) -> dict[str, str]:
    """Text metadata for PNG ``iTXt`` chunks / EXR header attributes.

    The whole record under :data:`META_KEY`, plus the main fields under their own keys so other
    tools show them.

    :param record: A provenance record.
    """
    out = {META_KEY: dumps(record)}
    for key in ("prompt", "negative_prompt", "seed", "generator", "weights_hash", "kind"):
        out[key] = str(record.get(key, ""))
    return out
