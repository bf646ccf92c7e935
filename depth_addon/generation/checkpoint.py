# SPDX-License-Identifier: GPL-3.0-or-later
"""Verified loading of the appearance network's weights as numpy arrays (no torch, no bpy).

The weights are one fp16 safetensors file with a JSON record next to it (same name, ``.json``)
that holds its sha256. The shipped file's sha256 is also pinned here (:data:`SHIPPED_SHA256`), so a
replaced file with a rewritten record is still refused. Only safetensors files are read, recognised by
what they are (an 8-byte header length, then a JSON header), never by a first byte a valid header can
also have; the hash is checked before the file is parsed, and the shapes the file declares are checked
against :data:`LIMITS` before any tensor is read. Every failure becomes
:class:`~depth_addon.errors.ModelUnavailable` (missing) or :class:`~depth_addon.errors.BadInput`
(refused, wrong format, bad hash, corrupt, truncated, too large). Both runtimes (numpy and torch) load
through :func:`read_checkpoint`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadInput, ModelUnavailable
from ..io.verify import sha256_file

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "appearance.safetensors"
IN_CHANNELS = 13  # albedo 3, pattern, direct, ambient, normals 3, disparity, edges, mask, noise
#: sha256 of the weights this release ships (``weights/appearance.safetensors``).
SHIPPED_SHA256 = "fb299f35abecc46734bb88308a256f3a6d956973695bcaad24831e1ae964e7cd"
#: Largest shapes a checkpoint may declare, checked before anything is allocated.
LIMITS = {"channels": 1024, "levels": 6, "n_styles": 256, "bank_size": 65536, "header_bytes": 16 * 2**20,
          "parameters": 64 * 2**20}


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
    _check_format(path)
    record_path = path.with_suffix(".json")
    if not record_path.is_file():
        raise ModelUnavailable(f"no hash record {record_path.name} next to {path.name}; cannot verify the weights")
    try:
        expected = str(json.loads(record_path.read_text())["sha256"]).lower()
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"hash record {record_path.name} is unreadable: {exc}") from exc
    actual = sha256_file(path)
    shipped = path.resolve() == DEFAULT_WEIGHTS.resolve()
    if shipped and actual != SHIPPED_SHA256:
        raise BadInput(f"the shipped weights {path.name} fail verification: sha256 {actual[:16]}… is not this "
                       f"release's {SHIPPED_SHA256[:16]}… (replaced or damaged file; reinstall the extension)")
    if actual != expected:
        raise BadInput(f"weights {path.name} fail verification: sha256 {actual[:16]}… does not match the "
                       f"recorded {expected[:16]}… (corrupt, truncated or replaced file)")
    return path


def _check_format(path: Path) -> None:
    """Refuse anything but a safetensors file, by its content, saying what it looks like instead."""
    if path.suffix != ".safetensors":
        raise BadInput(f"refusing {path.name}: only .safetensors weights are loaded")
    with open(path, "rb") as fh:
        head = fh.read(9)
    size = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if len(head) == 9 and head[8:9] == b"{" and 2 <= size <= min(LIMITS["header_bytes"], path.stat().st_size - 8):
        return
    kind = ("a pickle" if head[:1] == b"\x80" and head[1:2] in {bytes([v]) for v in range(2, 6)} else
            "a zip archive (a torch checkpoint)" if head[:2] == b"PK" else "not a safetensors file")
    raise BadInput(f"refusing {path.name}: it is {kind}, not safetensors (pickle/zip checkpoints can run code when "
                   "opened), or its header is damaged")


def _checked_config(meta: dict, shapes: dict[str, tuple[int, ...]]) -> AppearanceConfig:
    """The file's config, checked against :data:`LIMITS` together with the tensor shapes it declares."""
    cfg = json.loads(meta["config"])
    config = AppearanceConfig(channels=tuple(int(c) for c in cfg["channels"]), n_styles=int(cfg["n_styles"]),
                              bank_size=int(cfg["bank_size"]))
    if (not 1 <= len(config.channels) <= LIMITS["levels"] or not all(1 <= c <= LIMITS["channels"]
                                                                     for c in config.channels)
            or not 1 <= config.n_styles <= LIMITS["n_styles"] or not 1 <= config.bank_size <= LIMITS["bank_size"]):
        raise BadInput(f"refusing weights with a config out of range: {cfg} (limits {LIMITS})")
    params = sum(int(np.prod(shape, dtype=np.int64)) for shape in shapes.values())
    if params > LIMITS["parameters"]:
        raise BadInput(f"refusing weights that declare {params:,} parameters (limit {LIMITS['parameters']:,})")
    return config


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
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
            config = _checked_config(meta, shapes)  # before any tensor is read
            tensors = {k: np.asarray(fh.get_tensor(k), dtype=np.float32) for k in fh.keys()}
    except BadInput:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure means an unusable file
        raise BadInput(f"weights {path.name} are truncated or not a valid checkpoint: {exc}") from exc
    return config, tensors
