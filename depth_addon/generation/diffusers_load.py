# SPDX-License-Identifier: GPL-3.0-or-later
"""Configuration, family detection and memory planning for the diffusers backend (no bpy, no diffusers at import).

Everything here works on files and JSON before any weights are loaded (the folder's files themselves are
checked by :mod:`.diffusers_files`): the family is read from ``model_index.json``, and the memory a
generation needs is estimated from the safetensors headers.
torch is imported only by the functions that pick a device.
"""

from __future__ import annotations

import gc
import json
import os
import string
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import BadInput, ModelUnavailable
from ..memory import available_bytes, size_text
from .diffusers_files import read_json, safetensors_header, weight_files

FAMILIES = ("auto", "sd15-controlnet", "sdxl-controlnet", "flux-depth")
DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float32", "float16", "bfloat16")
OFFLOADS = ("auto", "none", "model", "sequential")
INSTALL_COMMAND = "python -m pip install diffusers==0.42.1 transformers==5.23.0 accelerate==1.15.0"
#: Family defaults: (steps, guidance scale, ControlNet conditioning scale).
FAMILY_DEFAULTS = {"sd15-controlnet": (25, 7.5, 1.0), "sdxl-controlnet": (30, 7.0, 0.5), "flux-depth": (28, 10.0, 1.0)}
#: Rough activation cost in elements per output pixel (denoiser per batch item, VAE decoder).
DENOISER_ELEMS_PER_PIXEL = 1024
VAE_ELEMS_PER_PIXEL = 2048
VAE_TILE_PIXELS = 512 * 512
MARGIN = 1.1
#: Bytes per element of the safetensors dtypes; the floating ones (``F``, ``BF``) load at the target dtype.
STORED_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
                "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}


@dataclass(frozen=True)
class BackendConfig:
    """Everything the diffusers backend needs to load a model and run it.

    :param family: ``sd15-controlnet``, ``sdxl-controlnet``, ``flux-depth`` or ``auto`` (read from
        the folder's ``model_index.json``).
    :param model: Base model: a local diffusers folder (with ``model_index.json``), or a hub id
        when ``allow_online`` is set.
    :param controlnet: Depth ControlNet: a folder with ``config.json``, a single ``.safetensors``
        (its ``config.json`` beside it), a hub id when online, or empty when the base folder holds
        a ``controlnet`` component. Not used by ``flux-depth``.
    :param steps: Sampling steps; None picks the family default.
    :param guidance: Guidance scale; None picks the family default.
    :param control_scale: ControlNet conditioning scale; None picks the family default.
    :param negative_prompt: What to avoid (SD 1.5 and SDXL).
    :param device: ``auto`` (CUDA, then MPS, then CPU), ``cuda``, ``mps`` or ``cpu``.
    :param dtype: ``auto`` (CUDA: bfloat16 where supported else float16; MPS: float16; CPU:
        float32), ``float32``, ``float16`` or ``bfloat16``.
    :param attention_slicing: Slice attention to save memory; None turns it on for MPS only.
    :param cpu_offload: ``auto`` (chosen from the memory estimate), ``none``, ``model`` or
        ``sequential``; ignored on the CPU.
    :param vae_tiling: Decode in tiles; None turns it on above 1024×1024 pixels.
    :param allow_online: Allow hub ids and downloads; otherwise everything is local and
        ``HF_HUB_OFFLINE=1`` is set in this process.
    :param revision: Hub revision to pin (online only).
    :param variant: Weight variant such as ``fp16`` (``*.fp16.safetensors``); None for the plain files.
    :param sha256: Expected sha256 per weight file; keys are absolute paths or paths relative to
        the base model folder.
    """

    family: str = "auto"
    model: str = ""
    controlnet: str = ""
    steps: int | None = None
    guidance: float | None = None
    control_scale: float | None = None
    negative_prompt: str = ""
    device: str = "auto"
    dtype: str = "auto"
    attention_slicing: bool | None = None
    cpu_offload: str = "auto"
    vae_tiling: bool | None = None
    allow_online: bool = False
    revision: str | None = None
    variant: str | None = None
    sha256: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, allowed in (("family", FAMILIES), ("device", DEVICES), ("dtype", DTYPES),
                              ("cpu_offload", OFFLOADS)):
            value = getattr(self, name)
            if name == "device" and isinstance(value, str) and value.startswith("cuda:") and value[5:].isdigit():
                continue  # one GPU of several (pick_device checks it is there)
            if value not in allowed:
                raise BadInput(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                       or not 1 <= self.steps <= 1000):
            raise BadInput(f"steps must be between 1 and 1000, got {self.steps!r}")
        for name in ("guidance", "control_scale"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and 0.0 <= float(value) <= 100.0):
                raise BadInput(f"{name} must be a number between 0 and 100, got {value!r}")
        for key, digest in self.sha256.items():
            if not (isinstance(digest, str) and len(digest) == 64 and all(c in string.hexdigits for c in digest)):
                raise BadInput(f"sha256 for {key!r} must be 64 hex digits, got {digest!r}")

    def to_dict(self) -> dict:
        """Plain JSON form."""
        data = asdict(self)
        data["sha256"] = dict(self.sha256)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> BackendConfig:
        """Inverse of :meth:`to_dict`; unknown keys are refused so typos do not pass silently.

        :param data: Field values.
        :raises BadInput: For an unknown key or an invalid value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadInput(f"unknown diffusers option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise BadInput(f"invalid diffusers options: {exc}") from exc


# --- files ---------------------------------------------------------------------------------------------


def components(index: Mapping) -> list[str]:
    """Names of the loadable components listed in a ``model_index.json``.

    :param index: Parsed ``model_index.json``.
    """
    return [k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and len(v) == 2
            and v[0] is not None and v[1] is not None]


def detect_family(index: Mapping, requested: str = "auto") -> str:
    """The backend family of a base model, checked against the requested one.

    :param index: Parsed ``model_index.json``.
    :param requested: Family asked for, or ``auto``.
    :raises BadInput: When the folder is not one of the families, or not the requested one.
    """
    names = set(components(index))
    if "transformer" in names and "text_encoder_2" in names:
        found = "flux-depth"
    elif "unet" in names and "text_encoder_2" in names:
        found = "sdxl-controlnet"
    elif "unet" in names and "text_encoder" in names:
        found = "sd15-controlnet"
    else:
        raise BadInput(f"unsupported base model {index.get('_class_name')!r}: expected an SD 1.5, SDXL or "
                       "FLUX.1-Depth diffusers folder")
    if requested not in ("auto", found):
        raise BadInput(f"the model folder holds a {index.get('_class_name')} ({found}), not a {requested} model")
    return found


def is_hub_id(value: str) -> bool:
    """Whether ``value`` looks like ``owner/name`` rather than a path."""
    parts = value.split("/")
    return len(parts) == 2 and all(parts) and not value.startswith((".", "~")) and "\\" not in value


# --- device and memory ---------------------------------------------------------------------------------


def pick_device(device: str = "auto", dtype: str = "auto") -> tuple[str, str]:
    """Resolve ``auto`` device and dtype names against what torch offers here.

    :param device: ``auto``, ``cuda``, ``mps`` or ``cpu``.
    :param dtype: ``auto``, ``float32``, ``float16`` or ``bfloat16``.
    :return: ``(device, dtype)`` names.
    :raises ModelUnavailable: When the requested device is not available.
    :raises BadInput: For float16 on the CPU.
    """
    kind, _, index = str(device).partition(":")
    if kind not in DEVICES or (index and not (kind == "cuda" and index.isdigit())):
        raise BadInput(f"unknown device {device!r}; use one of {', '.join(DEVICES)} (or cuda:N)")
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        device = "cuda" if cuda else "mps" if mps else "cpu"
    elif (kind == "cuda" and not cuda) or (device == "mps" and not mps):
        raise ModelUnavailable(f"device {device!r} requested but this PyTorch ({torch.__version__}) does not offer it")
    if dtype == "auto":
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "float16" if device == "mps" else "float32"
    if device == "cpu" and dtype == "float16":
        raise BadInput("float16 is not supported on the CPU; use float32 or bfloat16")
    return device, dtype


def free_memory(device: str) -> int | None:
    """Free accelerator memory in bytes, or None on the CPU or when unknown.

    :param device: ``cuda``, ``mps`` or ``cpu``.
    """
    import torch

    try:
        if device == "cuda":
            return int(torch.cuda.mem_get_info()[0])
        if device == "mps":
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    except (RuntimeError, AttributeError, AssertionError):  # torch without that backend asserts
        return None
    return None


def free_released() -> None:
    """Free the memory of weights just let go of: a garbage collection (weights that only reference cycles still
    reach, such as an error's traceback, otherwise stay until Python next collects) and, with CUDA, its cached
    blocks. What something else still refers to stays taken."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def component_params(path: Path, variant: str | None = None) -> tuple[int, int]:
    """``(parameter count, largest tensor's element count)`` of a component folder or single file.

    :param path: Component folder or ``.safetensors`` file.
    :param variant: Weight variant for folders.
    """
    files = [path] if path.is_file() else weight_files(path, variant)
    total = largest = 0
    for f in files:
        for _dtype, n in _tensors(f):
            total += n
            largest = max(largest, n)
    return total, largest


def _tensors(path: Path) -> list[tuple[str, int]]:
    """``(dtype, element count)`` of every tensor a ``.safetensors`` file's header lists."""
    out = []
    for key, info in safetensors_header(path).items():
        if key == "__metadata__":
            continue
        n = 1
        for dim in info["shape"]:
            n *= int(dim)
        out.append((info["dtype"], n))
    return out


def loaded_size(path: Path, nbytes: int) -> int:
    """Bytes a ``.safetensors`` file takes in memory once loaded: its size on disk times the dtype factor (the
    target dtype's bytes over the stored ones, for its floating tensors).

    :param path: A weight file.
    :param nbytes: Bytes per element of the target dtype.
    """
    stored = loaded = 0
    for dtype, n in _tensors(path):
        size = STORED_BYTES.get(dtype, 4)
        stored += n * size
        loaded += n * (nbytes if dtype.startswith(("F", "BF")) else size)
    return round(path.stat().st_size * loaded / stored) if stored else path.stat().st_size


def check_ram(estimate: Mapping, model: str) -> None:
    """Refuse to load weights that would not fit in the memory this process has left: loading materialises them
    in RAM (on every device, as the weights pass through it to the GPU, and with offload they stay there).

    :param estimate: :func:`estimate_memory`'s result (``load_bytes``, ``disk_bytes``, ``ram_free_bytes``).
    :param model: The model, for the message.
    :raises ModelUnavailable: With the estimate and what is free (nothing is checked when that is unknown).
    """
    need, free = estimate["load_bytes"], estimate["ram_free_bytes"]
    if free is None or need * MARGIN <= free:
        return
    raise ModelUnavailable(f"not enough memory to load {model}: its weights need about {size_text(need)} in "
                           f"{estimate['dtype']} ({size_text(estimate['disk_bytes'])} of files), only "
                           f"{size_text(free)} of RAM is available; close other programs, or use a smaller model or "
                           "float16/bfloat16")


def plan_offload(peaks: Mapping[str, int], free: int | None, requested: str = "auto") -> str:
    """Choose an offload mode from peak memory estimates.

    :param peaks: Estimated peak bytes for ``none``, ``model`` and ``sequential``.
    :param free: Free accelerator bytes, None when unknown (no offload then, unless requested).
    :param requested: ``auto`` or the user's explicit mode.
    :raises ModelUnavailable: When the requested mode, or for ``auto`` every mode, needs more than is free.
    """
    if free is None:
        return "none" if requested == "auto" else requested
    fits = [m for m in ("none", "model", "sequential") if peaks[m] * MARGIN <= free]
    if requested == "auto" and fits:
        return fits[0]
    if requested in fits:
        return requested
    gib = {m: round(peaks[m] / 2**30, 2) for m in ("none", "model", "sequential")}
    hint = f"cpu_offload={fits[0]!r} would fit" if fits else "use a smaller size, a smaller model or float16"
    raise ModelUnavailable(f"not enough accelerator memory: {round(free / 2**30, 2)} GiB free, estimated need in GiB "
                           f"{gib} (offload {requested!r}); {hint}")


def padded_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """``(width, height)`` rounded up to multiples of ``stride``.

    :param size: ``(width, height)``.
    :param stride: Pixel multiple the model needs.
    """
    return tuple(-(-int(v) // stride) * stride for v in size)


def estimate_memory(config: BackendConfig, size: tuple[int, int] = (512, 512)) -> dict:
    """Pre-flight estimate of the memory one generation needs, from the safetensors headers (nothing is loaded).

    Weights count at the target dtype; activations are a rough, deliberately generous per-pixel
    estimate for the denoiser (times two with classifier-free guidance) and the VAE decoder.

    :param config: Backend configuration with a local ``model`` folder.
    :param size: Output ``(width, height)``.
    :return: ``family``, ``device``, ``dtype``, ``size`` (padded), ``components`` (bytes each),
        ``weights_bytes``, ``activation_bytes`` (``denoiser``/``vae``), ``peak_bytes`` per offload
        mode, ``free_bytes`` (None on the CPU), ``offload`` (the mode the backend would use, None
        when nothing fits), ``fits``, and for loading: ``disk_bytes`` (the weight files), ``load_bytes`` (those in
        memory at the dtype, :func:`loaded_size`) and ``ram_free_bytes`` (None when unknown).
    :raises ModelUnavailable: When the model folder is missing or unreadable.
    """
    base = Path(config.model).expanduser()
    index = read_json(base / "model_index.json") if base.is_dir() else None
    if index is None:
        raise ModelUnavailable(f"model folder not found: {config.model!r} (the estimate needs local files)")
    family = detect_family(index, config.family)
    device, dtype = pick_device(config.device, config.dtype)
    nbytes = 4 if dtype == "float32" else 2
    parts: dict[str, int] = {}
    largest = disk = load = 0
    sources = {name: base / name for name in components(index)}
    if config.controlnet and family != "flux-depth":
        sources["controlnet"] = Path(config.controlnet).expanduser()
    for name, path in sources.items():
        if path.is_file() or (path.is_dir() and any(path.glob("*.safetensors"))):
            count, big = component_params(path, config.variant)
            parts[name] = count * nbytes
            largest = max(largest, big)
            files = [path] if path.is_file() else weight_files(path, config.variant)
            disk += sum(f.stat().st_size for f in files)
            load += sum(loaded_size(f, nbytes) for f in files)
    w, h = padded_size(size, 16 if family == "flux-depth" else 8)
    pixels = w * h
    guidance = config.guidance if config.guidance is not None else FAMILY_DEFAULTS[family][1]
    batch = 1 if family == "flux-depth" or guidance <= 1.0 else 2
    tiling = config.vae_tiling if config.vae_tiling is not None else pixels > 1024 * 1024
    act = {"denoiser": pixels * DENOISER_ELEMS_PER_PIXEL * batch * nbytes,
           "vae": min(pixels, VAE_TILE_PIXELS) * VAE_ELEMS_PER_PIXEL * nbytes if tiling
           else pixels * VAE_ELEMS_PER_PIXEL * nbytes}
    denoiser = sum(parts.get(k, 0) for k in ("unet", "transformer", "controlnet"))
    rest = [v for k, v in parts.items() if k not in ("unet", "transformer", "controlnet", "vae")]
    peaks = {
        "none": sum(parts.values()) + max(act.values()),
        "model": max(denoiser + act["denoiser"], parts.get("vae", 0) + act["vae"], *rest),
        "sequential": 2 * largest * nbytes + max(act.values()),
    }
    free = free_memory(device)
    try:
        offload = "none" if device == "cpu" else plan_offload(peaks, free, config.cpu_offload)
    except ModelUnavailable:
        offload = None
    return {"family": family, "device": device, "dtype": dtype, "size": (w, h), "components": parts,
            "weights_bytes": sum(parts.values()), "activation_bytes": act, "peak_bytes": peaks,
            "free_bytes": free, "offload": offload, "fits": None if free is None else offload is not None,
            "disk_bytes": disk, "load_bytes": load, "ram_free_bytes": available_bytes()}


def config_from_env(environ: Mapping[str, str] | None = None) -> BackendConfig:
    """The configuration a worker starts with: ``DEPTH_ADDON_DIFFUSERS`` (a JSON object of
    :class:`BackendConfig` fields) and, unless that sets a device, ``DEPTH_ADDON_DEVICE``.

    :param environ: Environment to read; ``os.environ`` when None.
    :raises BadInput: When the variable is not a JSON object of known, valid fields.
    """
    env = os.environ if environ is None else environ
    raw = env.get("DEPTH_ADDON_DIFFUSERS", "").strip()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise BadInput(f"DEPTH_ADDON_DIFFUSERS is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadInput("DEPTH_ADDON_DIFFUSERS must be a JSON object of diffusers options")
    if env.get("DEPTH_ADDON_DEVICE") and "device" not in data:
        data["device"] = env["DEPTH_ADDON_DEVICE"]
    return BackendConfig.from_dict(data)
