# SPDX-License-Identifier: GPL-3.0-or-later
"""The learned appearance network: layer 2 of the embedded model (torch, no bpy).

A small U-Net that reads the analytic layer's G-buffer (albedo with the seeded per-segment palette
hint and procedural texture, sun term with screen-space shadows, sky term, normals, disparity,
discontinuities) plus a seeded noise channel, conditioned by FiLM on the style and the light
direction. It predicts a per-pixel RGB shading that multiplies the hint albedo plus a radiance
residual, so it learns what depth alone cannot give: global illumination, contact shadows,
material detail. Weights load only from safetensors whose sha256 matches the JSON next to them;
pickle files are never opened.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

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


class _Block(nn.Module):
    """Two 3×3 convolutions with FiLM from the condition vector."""

    def __init__(self, cin: int, cout: int, ncond: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.film = nn.Linear(ncond, 2 * cout)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """:param x: N×C×H×W features. :param cond: N×K condition."""
        x = F.leaky_relu(self.c1(x), 0.2)
        gamma, beta = self.film(cond).unsqueeze(-1).unsqueeze(-1).chunk(2, 1)
        return F.leaky_relu(self.c2(x) * (1.0 + gamma) + beta, 0.2)


class AppearanceNet(nn.Module):
    """U-Net over the G-buffer features at half resolution (pixel-unshuffled), FiLM-conditioned.

    :param config: Network shape.
    """

    def __init__(self, config: AppearanceConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AppearanceConfig()
        ch, ncond = config.channels, config.n_styles + 3
        self.stem = _Block(IN_CHANNELS * 4, ch[0], ncond)
        self.down = nn.ModuleList(_Block(ch[i], ch[i + 1], ncond) for i in range(len(ch) - 1))
        self.up = nn.ModuleList(_Block(ch[i + 1] + ch[i], ch[i], ncond) for i in reversed(range(len(ch) - 1)))
        self.head = nn.Conv2d(ch[0], 6 * 4, 3, padding=1)
        self.register_buffer("bank", torch.zeros(config.n_styles, config.bank_size, 3))

    def forward(self, feats: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Linear RGB (N×3×H×W) from features (N×13×H×W, sides a multiple of the stride).

        :param feats: Features from :func:`features`.
        :param cond: N×(styles+3) condition: style one-hot and light direction.
        """
        x = self.stem(F.pixel_unshuffle(feats, 2), cond)
        skips = [x]
        for block in self.down:
            x = block(F.avg_pool2d(x, 2), cond)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = block(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip], 1), cond)
        out = F.pixel_shuffle(self.head(x), 2)
        shading = F.softplus(out[:, :3] + 0.5)
        residual = 0.25 * torch.tanh(out[:, 3:])
        albedo = feats[:, :3] ** 2  # features hold sqrt(albedo)
        return albedo * shading + residual  # unclamped: training needs gradients everywhere


def features(albedo: torch.Tensor, pattern: torch.Tensor, direct: torch.Tensor, ambient: torch.Tensor,
             normals: torch.Tensor, disparity: torch.Tensor, edges: torch.Tensor, mask: torch.Tensor,
             noise: torch.Tensor) -> torch.Tensor:
    """Stack G-buffer maps (each C×H×W or H×W) into the 13×H×W network input.

    :param albedo: 3×H×W linear albedo.
    :param pattern: Texture modulation.
    :param direct: Sun term with shadows.
    :param ambient: Sky term.
    :param normals: 3×H×W camera-space normals.
    :param disparity: Disparity normalised by its median.
    :param edges: Depth discontinuities.
    :param mask: Geometry mask.
    :param noise: Seeded standard normal noise.
    """
    maps = [albedo.clamp_min(0).sqrt(), pattern, direct, ambient, normals, torch.log1p(disparity), edges.float(),
            mask.float(), noise]
    return torch.cat([m.view(-1, *m.shape[-2:]).float() for m in maps], 0)


def condition(style: int, light: torch.Tensor, n_styles: int = 8) -> torch.Tensor:
    """The 1×(styles+3) condition vector.

    :param style: Style index.
    :param light: Camera-space unit light direction (3).
    :param n_styles: Number of styles.
    """
    onehot = torch.zeros(n_styles)
    onehot[style] = 1.0
    return torch.cat([onehot, light.float().view(3)]).view(1, -1)


def predict(model: AppearanceNet, feats: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Run the network on one image of any size: pad to the stride, run, crop.

    :param model: Loaded network.
    :param feats: 13×H×W features.
    :param cond: 1×K condition.
    :return: 3×H×W linear RGB.
    """
    h, w = feats.shape[-2:]
    s = model.config.stride
    ph, pw = (-h) % s, (-w) % s
    x = feats.unsqueeze(0)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    dtype = next(model.parameters()).dtype
    with torch.inference_mode():
        x = x.to(dtype).contiguous(memory_format=torch.channels_last)
        out = model(x, cond.to(dtype)).float().clamp_min(0.0)
    return out[0, :, :h, :w]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file.

    :param path: File path.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(model: AppearanceNet, path: Path, extra: dict | None = None) -> str:
    """Write fp16 safetensors plus the JSON record with its sha256; return the hash.

    :param model: Trained network.
    :param path: ``.safetensors`` path.
    :param extra: More fields for the JSON record (training facts).
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    cfg = json.dumps(asdict(model.config))
    save_file(tensors, str(path), metadata={"config": cfg})
    digest = sha256_file(path)
    record = {"file": path.name, "sha256": digest, "bytes": path.stat().st_size, "config": json.loads(cfg)}
    record.update(extra or {})
    path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return digest


def load_checkpoint(path: Path | str | None = None, device: str = "cpu") -> AppearanceNet:
    """Load and verify the appearance network.

    Only safetensors files are read. The file's sha256 must match the ``sha256`` field of the JSON
    next to it (same name, ``.json``).

    :param path: ``.safetensors`` file; the shipped weights when None.
    :param device: Torch device.
    :raises ModelUnavailable: When the file or its JSON record is missing.
    :raises BadInput: For pickle or other non-safetensors files, a hash mismatch or a truncated file.
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
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        cfg = json.loads(meta["config"])
        config = AppearanceConfig(channels=tuple(cfg["channels"]), n_styles=int(cfg["n_styles"]),
                                  bank_size=int(cfg["bank_size"]))
        model = AppearanceNet(config)
        model.load_state_dict({k: v.float() for k, v in tensors.items()})
    except Exception as exc:  # noqa: BLE001 - any parse failure means an unusable file
        raise BadInput(f"weights {path.name} are truncated or not a valid checkpoint: {exc}") from exc
    # channels-last lets oneDNN pick faster CPU convolution kernels (about 15 % at 1024²)
    return model.to(device).to(memory_format=torch.channels_last).eval()
