# SPDX-License-Identifier: GPL-3.0-or-later
"""The estimator backend: Depth Anything V2, DPT or Depth Pro from a local safetensors folder, never a hub (no bpy).

The folder is checked before anything is loaded (:func:`inspect_folder`): pickle-based weights are
refused, safetensors headers must be complete, and ``config.json`` must name a depth-estimation class
(``DepthAnythingForDepthEstimation``, ``DPTForDepthEstimation`` or ``DepthProForDepthEstimation``); weights
saved from another class are refused after loading when any parameter is missing or left over. The output says
what it is: relative *disparity* for Depth Anything V2's relative models and DPT, metric *depth* for metric ones
(``depth_estimation_type`` in the config), and metric depth **with intrinsics** for Depth Pro with its
field-of-view head (:func:`depth_pro_metres`). torch and transformers are imported only by :meth:`Estimator.load`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..depth_import.formats import display
from ..depth_import.headers import check_image_size
from ..depth_import.intrinsics import Intrinsics
from ..depth_import.readers import read_photo
from ..errors import BadInput, ModelUnavailable
from ..generation.diffusers_files import read_json, scan_folder
from ..generation.diffusers_import import no_progress_bars
from ..generation.diffusers_load import pick_device

#: ``model_type`` in ``config.json`` → the transformers class that loads it.
ARCHITECTURES = {"depth_anything": "DepthAnythingForDepthEstimation", "dpt": "DPTForDepthEstimation",
                 "depth_pro": "DepthProForDepthEstimation"}
#: The metric model that also gives intrinsics: Depth Pro with its field-of-view head.
DEPTH_PRO = "DepthProForDepthEstimation"
#: Where to get weights, for messages.
DOWNLOAD_HINT = ("download config.json and model.safetensors of depth-anything/Depth-Anything-V2-Small-hf "
                 "(Hugging Face) into that folder")
#: Folder used when none is given: ``$DEPTH_ADDON_DEPTH_MODEL``, else this under the home folder.
DEFAULT_FOLDER = Path("~/depth_addon_models/Depth-Anything-V2-Small-hf")
#: Smallest photo side accepted (one patch of the model and some context).
MIN_SIDE = 16
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def default_folder() -> Path:
    """The weights folder used when none is given (``$DEPTH_ADDON_DEPTH_MODEL`` or :data:`DEFAULT_FOLDER`)."""
    return Path(os.environ.get("DEPTH_ADDON_DEPTH_MODEL") or DEFAULT_FOLDER).expanduser()


def weights_problem(folder: str | os.PathLike | None = None) -> str | None:
    """Why ``folder`` cannot hold estimator weights, from a cheap look (for a UI poll), or None.

    :param folder: Weights folder; :func:`default_folder` when None or empty.
    """
    path = Path(folder).expanduser() if folder else default_folder()
    if not (path / "config.json").is_file() or not any(path.glob("*.safetensors")):
        return f"No depth estimator weights in {path}: {DOWNLOAD_HINT}"
    return None


@dataclass(frozen=True)
class ModelInfo:
    """What a weights folder holds, read from its files before loading.

    :param folder: The folder.
    :param architecture: transformers class name.
    :param kind: ``disparity`` (relative) or ``depth`` (metric).
    :param input_size: Shorter side the photo is resized to (multiple of ``patch``).
    :param patch: Patch size; both sides of the input are multiples of it.
    :param mean: Normalisation mean per channel.
    :param std: Normalisation standard deviation per channel.
    :param square: The network takes square inputs only (DPT on its own ViT, plain or hybrid, reshapes its
        tokens to a square grid): the photo is stretched to ``input_size``² and the output back to its size.
    """

    folder: Path
    architecture: str
    kind: str
    input_size: int
    patch: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    square: bool = False


def inspect_folder(folder: str | os.PathLike) -> ModelInfo:
    """Check a weights folder without loading it and say what it holds.

    :param folder: Folder with ``config.json`` and ``.safetensors`` (``save_pretrained`` layout).
    :raises ModelUnavailable: Missing folder or config, pickles, truncated safetensors, or a config of
        a class that is not a supported depth estimator.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelUnavailable(f"depth estimator folder not found: {folder}; {DOWNLOAD_HINT}")
    if not (folder / "config.json").is_file():
        raise ModelUnavailable(f"{folder} holds no depth estimator (no config.json); {DOWNLOAD_HINT}")
    scan_folder(folder, "config.json")
    config = read_json(folder / "config.json")
    model_type = config.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ModelUnavailable(f"refusing {folder}: its config.json is for {model_type!r} "
                               f"({', '.join(config.get('architectures') or ['no class'])}), not a depth estimator; "
                               f"supported: {', '.join(ARCHITECTURES.values())}")
    architecture = ARCHITECTURES[model_type]
    named = config.get("architectures") or [architecture]
    if architecture not in named:
        raise ModelUnavailable(f"refusing {folder}: weights saved from {', '.join(named)}, not {architecture}")
    fov_head = model_type == "depth_pro" and bool(config.get("use_fov_model"))
    kind = "depth" if config.get("depth_estimation_type") == "metric" or fov_head else "disparity"
    backbone = config.get("backbone_config") or {}
    patch = int(config.get("patch_size") or backbone.get("patch_size") or 14)
    pre = read_json(folder / "preprocessor_config.json") if (folder / "preprocessor_config.json").is_file() else {}
    size = pre.get("size") or {}
    trained = config.get("image_size") if isinstance(config.get("image_size"), int) else 518  # DPT: 384
    if model_type == "depth_pro":  # the finest patch scale sees the whole image: 384 / 0.25 = 1536
        trained = round(patch / min(config.get("scaled_images_ratios") or [0.25]))
    side = int(min(size.get("height", trained), size.get("width", trained))) if isinstance(size, dict) else trained
    mean = tuple(pre.get("image_mean") or IMAGENET_MEAN)
    std = tuple(pre.get("image_std") or IMAGENET_STD)
    square = model_type == "depth_pro" or (model_type == "dpt" and not config.get("backbone_config"))
    return ModelInfo(folder, architecture, kind, max(patch, side // patch * patch), patch, mean, std, square)


def check_photo(path: str | os.PathLike) -> tuple[int, int]:
    """The memory guard: a photo's size from its header, refused when too small or too large, before decoding.

    :param path: Photo (PNG, JPEG, TIFF, BMP or WebP).
    :return: ``(width, height)``.
    :raises BadInput: Unreadable header, fewer than :data:`MIN_SIDE` pixels a side, or above the pixel limit.
    """
    width, height = check_image_size(path)
    if min(width, height) < MIN_SIDE:
        raise BadInput(f"{display(path)} is {width}×{height}; depth estimation needs at least "
                       f"{MIN_SIDE}×{MIN_SIDE} pixels")
    return width, height


@dataclass
class Estimate:
    """An estimator's output at the photo's size.

    :param values: H×W float32 (relative disparity or metric depth, see ``kind``).
    :param kind: ``disparity`` (relative: larger is nearer, unknown scale and shift) or ``depth`` (metres).
    :param model: The weights folder's name.
    :param intrinsics: Camera intrinsics when the model predicts them (None for Depth Anything V2 and DPT).
    :param seconds: Inference wall time.
    """

    values: np.ndarray
    kind: str
    model: str
    intrinsics: Intrinsics | None = None
    seconds: float = 0.0


def input_shape(width: int, height: int, info: ModelInfo) -> tuple[int, int]:
    """``(width, height)`` of the network input: shorter side ``input_size``, aspect kept, multiples of the patch
    (``input_size``² for square-only networks).

    :param width: Photo width.
    :param height: Photo height.
    :param info: The model.
    """
    if info.square:
        return info.input_size, info.input_size
    factor = info.input_size / min(width, height)
    return tuple(max(info.patch, int(round(s * factor / info.patch)) * info.patch) for s in (width, height))


class Estimator:
    """A loaded depth estimator (CPU unless told otherwise)."""

    def __init__(self, folder: str | os.PathLike, device: str = "cpu") -> None:
        """Check the folder; load nothing yet.

        :param folder: Weights folder (see :func:`inspect_folder`).
        :param device: torch device.
        """
        self.info = inspect_folder(folder)
        self.device = device
        self.model = None

    def load(self) -> None:
        """Load the weights offline from safetensors only.

        :raises ModelUnavailable: When torch or transformers are missing, or the weights belong to another class.
        """
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            import transformers
        except ImportError as exc:
            raise ModelUnavailable(f"depth estimation needs torch and transformers where it runs ({exc}): "
                                   "pip install torch transformers, or in Blender: Install PyTorch in the preferences "
                                   "and pick a Worker Python that has transformers") from exc
        self.device = pick_device(self.device or "auto", "float32")[0]  # auto: CUDA/ROCm, then MPS, then CPU
        cls = getattr(transformers, self.info.architecture)
        with no_progress_bars("transformers"):  # stderr is for the one line of an error
            model, loading = cls.from_pretrained(str(self.info.folder), local_files_only=True, use_safetensors=True,
                                                 output_loading_info=True)
        wrong = sorted(loading.get("missing_keys", ())) + sorted(loading.get("unexpected_keys", ()))
        if wrong or loading.get("mismatched_keys"):
            raise ModelUnavailable(f"refusing {self.info.folder}: its weights do not belong to "
                                   f"{self.info.architecture} ({len(wrong)} missing or unexpected, e.g. "
                                   f"{', '.join(map(str, wrong[:3])) or loading.get('mismatched_keys')})")
        self.model = model.to(self.device).eval()

    def predict(self, rgb: np.ndarray) -> Estimate:
        """Estimate the depth of an H×W×3 float image in [0, 1], at its own size.

        :param rgb: The photo (display values).
        """
        import torch
        import torch.nn.functional as F

        if self.model is None:
            self.load()
        start = time.perf_counter()
        h, w = rgb.shape[:2]
        size = input_shape(w, h, self.info)
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(rgb[..., :3], np.float32)).permute(2, 0, 1)[None]
            x = F.interpolate(x, size=size[::-1], mode="bicubic", align_corners=False).clamp(0, 1)
            x = (x - torch.tensor(self.info.mean).view(1, 3, 1, 1)) / torch.tensor(self.info.std).view(1, 3, 1, 1)
            result = self.model(pixel_values=x.to(self.device))
            out = F.interpolate(result.predicted_depth[:, None].float().cpu(), size=(h, w), mode="bilinear",
                                align_corners=False)
        values, kind, intrinsics = out[0, 0].numpy().astype(np.float32), self.info.kind, None
        if self.info.architecture == DEPTH_PRO:
            values, kind, intrinsics = depth_pro_metres(values, getattr(result, "field_of_view", None))
        return Estimate(values, kind, self.info.folder.name, intrinsics, time.perf_counter() - start)


def depth_pro_metres(inverse: np.ndarray, fov) -> tuple[np.ndarray, str, Intrinsics | None]:
    """Depth Pro's canonical inverse depth as metres, with the intrinsics of its predicted field of view.

    Depth Pro predicts inverse depth for a canonical focal length of one image width; with the horizontal field
    of view θ from its FOV head the depth in metres is ``1 / (2 tan(θ/2) · inverse)``. Without a usable field of
    view (no FOV head, or a value outside 1–170°) it stays relative disparity.

    :param inverse: H×W canonical inverse depth at the photo's size.
    :param fov: The predicted horizontal field of view in degrees (a 1-element tensor), or None.
    :return: ``(values, kind, intrinsics)``.
    """
    h, w = inverse.shape
    inverse = np.clip(inverse, 1e-4, 1e4).astype(np.float32)
    theta = float(fov.reshape(-1)[0]) if fov is not None else float("nan")
    if not 1.0 <= theta <= 170.0:
        return inverse, "disparity", None
    metres = 1.0 / (2.0 * np.tan(np.radians(theta) / 2.0) * inverse)
    return metres.astype(np.float32), "depth", Intrinsics.from_fov(w, h, theta)


def estimate_photo(photo: str | os.PathLike, folder: str | os.PathLike | None = None, device: str = "cpu",
                   estimator: Estimator | None = None) -> Estimate:
    """Estimate a photo's depth: the memory guard, the decode, then the model.

    :param photo: Photo file.
    :param folder: Weights folder; :func:`default_folder` when None.
    :param device: torch device.
    :param estimator: An already loaded estimator to reuse (``folder`` and ``device`` are then ignored).
    :raises BadInput: For an unusable photo.
    :raises ModelUnavailable: For missing or refused weights.
    """
    check_photo(photo)
    estimator = estimator or Estimator(folder or default_folder(), device)
    return estimator.predict(read_photo(photo))  # upright, as its EXIF Orientation says
