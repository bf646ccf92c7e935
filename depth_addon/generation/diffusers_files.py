# SPDX-License-Identifier: GPL-3.0-or-later
"""Weight files of a local diffusers model folder, checked before anything is loaded (no bpy, no torch).

Pickle files are refused wherever they appear, ``.safetensors`` headers are read and bounded without
reading the tensors, and files are compared with the sha256 the user supplied.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path

from ..errors import ModelUnavailable
from ..io.verify import sha256_file as sha256_of

#: Pickle-based weight formats: unpickling runs code, so they are refused wherever they appear.
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl", ".pickle", ".joblib")
_HEADER_LIMIT = 100 * 2**20


def safetensors_header(path: Path) -> dict:
    """The JSON header of a ``.safetensors`` file, after checking the file is complete.

    :param path: File to read.
    :raises ModelUnavailable: When the file is truncated, padded or not safetensors at all.
    """
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise ValueError("shorter than the 8-byte header length")
            (n,) = struct.unpack("<Q", raw)
            if n > min(size - 8, _HEADER_LIMIT):
                raise ValueError(f"header length {n} does not fit in a {size}-byte file")
            header = json.loads(fh.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise ModelUnavailable(f"refusing {path}: not a valid safetensors file ({exc})") from exc
    if size != 8 + n + end:
        state = "truncated" if size < 8 + n + end else "longer than its header says"
        raise ModelUnavailable(f"refusing {path}: the file is {state} ({size} bytes, expected {8 + n + end}); "
                               "download it again")
    return header


def _variant_of(path: Path) -> str | None:
    stem = path.name[: -len(".safetensors")].split("-0000")[0]
    return stem.split(".", 1)[1] if "." in stem else None


def weight_files(folder: Path, variant: str | None = None) -> list[Path]:
    """The ``.safetensors`` files of one component folder that diffusers would load for ``variant``.

    :param folder: Component folder (for instance ``unet``).
    :param variant: Weight variant, None for the plain files; all files when none match.
    """
    files = sorted(folder.glob("*.safetensors"))
    chosen = [p for p in files if _variant_of(p) == variant]
    return chosen or files


def _pickle(path: Path) -> ModelUnavailable:
    return ModelUnavailable(f"refusing {path}: pickle-based weights ({path.suffix}) can run code when loaded; only "
                            ".safetensors is accepted. Delete the file or download the safetensors files only")


def _not_a_folder(path: Path, marker: str) -> ModelUnavailable:
    """Why the file ``path`` is not the model folder that was expected."""
    if path.name.lower().endswith(PICKLE_SUFFIXES):
        return _pickle(path)
    if marker == "model_index.json" and path.suffix.lower() == ".safetensors":
        return ModelUnavailable(f"{path} is a single-file checkpoint; the diffusers backend loads a diffusers model "
                                "folder (model_index.json with unet, vae, text_encoder … subfolders): download the "
                                "model in the diffusers layout, or convert the file with diffusers' from_single_file "
                                "and save_pretrained")
    return ModelUnavailable(f"{path} is a file, not a diffusers model folder (a folder with {marker})")


def _wrong_folder(folder: Path, marker: str) -> ModelUnavailable:
    """Why ``folder``, which lacks ``marker``, is not the model folder that was expected."""
    if marker == "model_index.json" and (folder / "config.json").is_file():
        kind = str(read_json(folder / "config.json").get("_class_name", ""))
        if "ControlNet" in kind:
            return ModelUnavailable(f"{folder} holds a ControlNet ({kind}), not a base model: set it as the "
                                    "ControlNet, and the model to an SD 1.5, SDXL or FLUX.1-Depth diffusers folder "
                                    "(with model_index.json)")
    if marker == "config.json" and (folder / "model_index.json").is_file():
        inner = folder / "controlnet"
        hint = f" (its ControlNet is {inner})" if (inner / "config.json").is_file() else ""
        return ModelUnavailable(f"{folder} is a pipeline folder (model_index.json), not a ControlNet: set it as the "
                                f"model, and the ControlNet to a folder with config.json or a .safetensors file{hint}")
    return ModelUnavailable(f"{folder} has no {marker}: not a diffusers model folder "
                            "(download the diffusers layout or save it with save_pretrained)")


def scan_folder(folder: Path, marker: str) -> list[Path]:
    """Check a model folder before anything is loaded and return its ``.safetensors`` files.

    :param folder: Model folder.
    :param marker: File the folder must hold (``model_index.json`` or ``config.json``).
    :raises ModelUnavailable: For a missing folder or marker (naming a file, a ControlNet or a pipeline given in its
        place), any pickle-based weight file, no safetensors at all, or a truncated safetensors file.
    """
    if folder.is_file():
        raise _not_a_folder(folder, marker)
    if not folder.is_dir():
        raise ModelUnavailable(f"model folder not found: {folder}")
    if not (folder / marker).is_file():
        raise _wrong_folder(folder, marker)
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.lower().endswith(PICKLE_SUFFIXES):
                raise _pickle(path)
            if name.endswith(".safetensors"):
                found.append(path)
    if not found:
        raise ModelUnavailable(f"{folder} holds no .safetensors weights")
    for path in found:
        safetensors_header(path)
    return found


def check_controlnet(path: Path) -> None:
    """Check a local ControlNet before anything is read for it: a folder as :func:`scan_folder` checks it, or a
    complete ``.safetensors`` file.

    :param path: ControlNet folder or file.
    :raises ModelUnavailable: For a pickle or another file that is no ``.safetensors``, or a folder
        :func:`scan_folder` refuses.
    """
    if not path.is_file():
        scan_folder(path, "config.json")
        return
    if path.name.lower().endswith(PICKLE_SUFFIXES):
        raise _pickle(path)
    if path.suffix.lower() != ".safetensors":
        raise ModelUnavailable(f"refusing {path}: only .safetensors ControlNet files are accepted (or a ControlNet "
                               "folder with config.json)")
    safetensors_header(path)


def read_json(path: Path) -> dict:
    """A JSON object from ``path``.

    :raises ModelUnavailable: When the file is missing or not a JSON object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelUnavailable(f"{path} is not a JSON object")
    return data


def verify_hashes(expected: Mapping[str, str], base: Path | None) -> None:
    """Compare weight files with the hashes the user supplied.

    :param expected: sha256 per file; relative keys are resolved against ``base``.
    :param base: Base model folder (None when the model is a hub id).
    :raises ModelUnavailable: For a missing file or a mismatch (the message gives both hashes).
    """
    for key, want in expected.items():
        path = Path(key).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise ModelUnavailable(f"file listed in sha256 not found: {path}")
        got = sha256_of(path)
        if got != want.lower():
            raise ModelUnavailable(f"refusing {path}: sha256 {got} does not match the expected {want.lower()} "
                                   "(corrupt download or a different file)")
