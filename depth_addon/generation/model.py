# SPDX-License-Identifier: GPL-3.0-or-later
"""The learned appearance network: layer 2 of the embedded model (torch, no bpy).

A small U-Net that reads the analytic layer's G-buffer (albedo with the seeded per-segment palette
hint and procedural texture, sun term with screen-space shadows, sky term, normals, disparity,
discontinuities) plus a seeded noise channel, conditioned by FiLM on the style and the light
direction: one condition vector for the image, or a condition map that gives every pixel its own style
(each block reads the map averaged down to its resolution, so FiLM is a 1×1 convolution of it). It
predicts a per-pixel RGB shading that multiplies the hint albedo plus a radiance residual, so it learns
what depth alone cannot give: global illumination, contact shadows, material detail. Weights load only
from safetensors whose sha256 matches the JSON next to them; pickle files are never opened.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInput
from ..io.verify import sha256_file
from .checkpoint import DEFAULT_WEIGHTS, IN_CHANNELS, AppearanceConfig, read_checkpoint
from .netnp import block_levels

__all__ = ["DEFAULT_WEIGHTS", "AppearanceConfig", "AppearanceNet", "load_checkpoint", "predict", "save_checkpoint"]


class _Block(nn.Module):
    """Two 3×3 convolutions with FiLM from the condition (a vector, or a map at the block's resolution)."""

    def __init__(self, cin: int, cout: int, ncond: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.film = nn.Linear(ncond, 2 * cout)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """:param x: N×C×H×W features. :param cond: N×K condition, or an N×K×H×W condition map."""
        x = F.leaky_relu(self.c1(x), 0.2)
        if cond.dim() == 2:
            film = self.film(cond).unsqueeze(-1).unsqueeze(-1)
        else:  # per pixel: the same linear map, as a 1×1 convolution
            film = F.conv2d(cond, self.film.weight[..., None, None], self.film.bias)
        gamma, beta = film.chunk(2, 1)
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

        :param feats: Features from :func:`~.netnp.features`.
        :param cond: N×(styles+3) condition (style one-hot and light direction), or an N×(styles+3)×H×W
            condition map at the features' resolution (:func:`~.netnp.condition_map`).
        """
        levels, at = [cond] * (len(self.down) + 1), block_levels(len(self.down) + 1)
        if cond.dim() == 4:  # each level reads the map averaged to its resolution
            levels = [F.avg_pool2d(cond, 2)]
            for _ in self.down:
                levels.append(F.avg_pool2d(levels[-1], 2))
        x = self.stem(F.pixel_unshuffle(feats, 2), levels[0])
        skips = [x]
        for i, block in enumerate(self.down):
            x = block(F.avg_pool2d(x, 2), levels[at[f"down.{i}"]])
            skips.append(x)
        for i, (block, skip) in enumerate(zip(self.up, reversed(skips[:-1]), strict=True)):
            x = block(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip], 1), levels[at[f"up.{i}"]])
        out = F.pixel_shuffle(self.head(x), 2)
        shading = F.softplus(out[:, :3] + 0.5)
        residual = 0.25 * torch.tanh(out[:, 3:])
        albedo = feats[:, :3] ** 2  # features hold sqrt(albedo)
        return albedo * shading + residual  # unclamped: training needs gradients everywhere


def predict(model: AppearanceNet, feats: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Run the network on one image of any size: pad to the stride, run, crop.

    :param model: Loaded network.
    :param feats: 13×H×W features (any device: they are moved to the network's).
    :param cond: 1×K condition, or a K×H×W condition map.
    :return: 3×H×W linear RGB, on the features' device.
    """
    h, w = feats.shape[-2:]
    s = model.config.stride
    ph, pw = (-h) % s, (-w) % s
    x = feats.unsqueeze(0)
    if cond.dim() == 3:
        cond = cond.unsqueeze(0)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        if cond.dim() == 4:
            cond = F.pad(cond, (0, pw, 0, ph), mode="replicate")
    param = next(model.parameters())  # the network's device and dtype; the result goes back to the features'
    with torch.inference_mode():
        x = x.to(param.device, param.dtype).contiguous(memory_format=torch.channels_last)
        if cond.dim() == 4:
            cond = cond.contiguous(memory_format=torch.channels_last)
        out = model(x, cond.to(param.device, param.dtype)).float().clamp_min(0.0)
    return out[0, :, :h, :w].to(feats.device)


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
    """Load and verify the appearance network (see :func:`~.checkpoint.read_checkpoint`).

    :param path: ``.safetensors`` file; the shipped weights when None.
    :param device: Torch device.
    :raises ModelUnavailable: When the file or its JSON record is missing.
    :raises BadInput: For pickle or other non-safetensors files, a hash mismatch or a truncated file.
    """
    config, tensors = read_checkpoint(path)
    model = AppearanceNet(config)
    try:
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    except RuntimeError as exc:
        raise BadInput(f"weights {Path(path or DEFAULT_WEIGHTS).name} do not fit the network: {exc}") from exc
    # channels-last lets oneDNN pick faster CPU convolution kernels (about 15 % at 1024²)
    return model.to(device).to(memory_format=torch.channels_last).eval()
