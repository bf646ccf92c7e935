# SPDX-License-Identifier: GPL-3.0-or-later
"""Verified loading of the appearance network's weights as numpy arrays (no torch, no bpy).

The weights are one fp16 safetensors file with a JSON record next to it (same name, ``.json``)
that holds its sha256. Only safetensors files are read: pickle and zip checkpoints are refused by
their magic bytes and by name, the hash is checked before the file is parsed, and every failure
becomes :class:`~depth_addon.errors.ModelUnavailable` (missing) or
:class:`~depth_addon.errors.BadInput` (refused, corrupt, truncated). Both runtimes (numpy and
torch) load through :func:`read_checkpoint`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadInput, ModelUnavailable

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "appearance.safetensors"
IN_CHANNELS = 13  # albedo 3, pattern, direct, ambient, normals 3, disparity, edges, mask, noise


@dataclass(frozen=True)
class AppearanceConfig:
    """Shape of the appearance network.

    :param channels: Feature widths at 1/2, 1/4, 1/8 and 1/16 resolution.
    :param n_styles: Number of styles (one-hot FiLM input).
    :param bank_size: Palette-hint colours stored per style.
    """

    channels: tuple[int, ...] = field(default=(32, 48, 64, 96))
    n_styles: int = 8
    bank_size: int = 256

    @property
    def stride(self) -> int:
        """Input sides are padded to a multiple of this."""
        return 2 ** len(self.channels)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file.

    :param path: File path.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path | str | None = None) -> Path:
    """Check that ``path`` is a safetensors file whose sha256 matches its JSON record.

    :param path: ``.safetensors`` file; the shipped weights when None.
    :return: The verified path.
    :raises ModelUnavailable: When the file or its JSON record is missing.
    :raises BadInput: For pickle or other non-safetensors files, an unreadable record or a hash mismatch.
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise ModelUnavailable(f"appearance weights not found at {path}; run scripts/train_embedded.py "
                               "or use the 'analytic' generator")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:1] == b"\x80" or head[:2] == b"PK" or path.suffix != ".safetensors":
        raise BadInput(f"refusing {path.name}: only .safetensors weights are loaded (pickle/zip checkpoints "
                       "can run code when opened)")
    record_path = path.with_suffix(".json")
    if not record_path.is_file():
        raise ModelUnavailable(f"no hash record {record_path.name} next to {path.name}; cannot verify the weights")
    try:
        expected = json.loads(record_path.read_text())["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"hash record {record_path.name} is unreadable: {exc}") from exc
    actual = sha256_file(path)
    if actual != expected:
        raise BadInput(f"weights {path.name} fail verification: sha256 {actual[:16]}… does not match the "
                       f"recorded {str(expected)[:16]}… (corrupt, truncated or replaced file)")
    return path


def read_checkpoint(path: Path | str | None = None) -> tuple[AppearanceConfig, dict[str, np.ndarray]]:
    """Verify and read the weights as float32 numpy arrays (torch-style names and layouts).

    :param path: ``.safetensors`` file; the shipped weights when None.
    :return: ``(config, tensors)``.
    :raises ModelUnavailable: When the file or its JSON record is missing, or safetensors is not installed.
    :raises BadInput: When the file is refused, fails verification or cannot be parsed.
    """
    path = verify(path)
    try:
        from safetensors import safe_open
    except ImportError as exc:
        raise ModelUnavailable("the embedded model needs safetensors; install it with `python -m pip install "
                               "safetensors` using the Python that runs Blender") from exc
    try:
        with safe_open(str(path), framework="np") as fh:
            meta = fh.metadata() or {}
            tensors = {k: np.asarray(fh.get_tensor(k), dtype=np.float32) for k in fh.keys()}
        cfg = json.loads(meta["config"])
        config = AppearanceConfig(channels=tuple(int(c) for c in cfg["channels"]), n_styles=int(cfg["n_styles"]),
                                  bank_size=int(cfg["bank_size"]))
    except Exception as exc:  # noqa: BLE001 - any parse failure means an unusable file
        raise BadInput(f"weights {path.name} are truncated or not a valid checkpoint: {exc}") from exc
    return config, tensors
