# SPDX-License-Identifier: GPL-3.0-or-later
"""Train the embedded appearance network on Cycles renders from ``make_training_data.py`` (CPU, seeded).

For every rendered sample the analytic layer is run on the depth with the sample's style and sun
direction; the palette hint of each segment is the mean Cycles colour of that segment divided by
the analytic shading (an albedo estimate), so the network learns lighting, GI, contact shadows and
material detail rather than guessing colours. Objective: L1 on a 4× low-pass plus a conditional
PatchGAN hinge loss (spectral-norm discriminator over image + normals + disparity + edges), so the
output is a sample rather than an average. The per-style hint colours form the palette bank stored
in the checkpoint and drawn from, with the user's seed, at inference.

Run: ``python scripts/train_embedded.py --data data/train --steps 3000``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from depth_addon.camera import CameraModel  # noqa: E402
from depth_addon.generation.analytic import _CONTRAST, gbuffer  # noqa: E402
from depth_addon.generation.model import (  # noqa: E402
    DEFAULT_WEIGHTS,
    AppearanceConfig,
    AppearanceNet,
    features,
    load_checkpoint,
    save_checkpoint,
)
from depth_addon.generation.prompt import STYLES  # noqa: E402


def srgb_to_lin(x: torch.Tensor) -> torch.Tensor:
    """sRGB → linear."""
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def lin_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear → sRGB with linear extensions below 0 and above 1 (no dead gradients, no clamping)."""
    curve = 1.055 * x.clamp(0.0031308, 1.0) ** (1 / 2.4) - 0.055
    return torch.where(x <= 0.0031308, x * 12.92, torch.where(x > 1.0, 1.0 + (x - 1.0) * 0.4, curve))


def sample_inputs(d: dict, index: int, hints: bool = True,
                  ) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray], list[np.ndarray]]:
    """Features (12×H×W without noise), condition, hint colours and clean hint colours of one sample.

    Clean colours come from segments of at least 64 px that are mostly sunlit (mean sun term ≥ 0.3)
    and mostly made of the scene's style (≥ 80 % of their pixels): they form the palette bank.

    :param d: Loaded ``.npz`` sample.
    :param index: Sample index (texture seed).
    :param hints: Use the Cycles colours as palette hints (training); the seeded palette otherwise.
    """
    depth = d["depth"]
    mask = np.isfinite(depth)
    h, w = depth.shape
    cam = CameraModel(w, h, tuple(float(v) for v in d["frame"]))
    style = STYLES[int(d["style"])]
    g = gbuffer(depth, mask, cam, style, index, light=d["light"])
    colours: list[np.ndarray] = []
    clean: list[np.ndarray] = []
    if hints:
        gt = srgb_to_lin(torch.from_numpy(d["rgb"]).float().permute(2, 0, 1) / 255.0)
        shade = (1.1 * g.direct + 0.3 * g.ambient).clamp_min(0.15)
        lab = g.labels.view(-1)
        n = int(lab.max()) + 1
        keep = lab >= 0
        est = (gt / shade).view(3, -1)[:, keep]
        sums = torch.zeros(n, 3).index_add_(0, lab[keep], est.T)
        counts = torch.zeros(n).index_add_(0, lab[keep], torch.ones(int(keep.sum())))
        table = (sums / counts.clamp_min(1).unsqueeze(1)).clamp(0.0, 1.0)
        mod = (1.0 + _CONTRAST[style] * g.pattern).clamp(0.05, 2.0)
        albedo = table[g.labels.clamp_min(0)].permute(2, 0, 1) * mod * g.mask
        colours = [table[k].numpy() for k in range(n) if counts[k] >= 30]
        lit = torch.zeros(n).index_add_(0, lab[keep], g.direct.view(-1)[keep]) / counts.clamp_min(1)
        own = torch.from_numpy(d["label"].reshape(-1) == int(d["style"]) + 1)[keep].float()
        own = torch.zeros(n).index_add_(0, lab[keep], own) / counts.clamp_min(1)
        clean = [table[k].numpy() for k in range(n) if counts[k] >= 64 and lit[k] >= 0.3 and own[k] >= 0.8]
    else:
        albedo = g.albedo
    f = features(albedo, g.pattern, g.direct, g.ambient, g.normals, g.disparity, g.edges, g.mask,
                 torch.zeros(h, w))[:-1]
    onehot = torch.zeros(len(STYLES))
    onehot[int(d["style"])] = 1.0
    cond = torch.cat([onehot, g.light])
    return f, cond, colours, clean


def fill_bank(model: AppearanceNet, bank: dict[int, list[np.ndarray]], rng: np.random.Generator) -> None:
    """Store ``bank_size`` colours per style (drawn by ``rng``) in the model's palette bank."""
    for k, cols in bank.items():
        if cols:
            pick = rng.choice(len(cols), model.config.bank_size, replace=len(cols) < model.config.bank_size)
            model.bank[k] = torch.from_numpy(np.stack(cols)[pick])


class PatchD(nn.Module):
    """Conditional PatchGAN discriminator (spectral norm), 8 input channels."""

    def __init__(self) -> None:
        super().__init__()
        sn = nn.utils.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(8, 32, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(32, 64, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(64, 96, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(96, 1, 3, 1, 1)))

    def forward(self, img: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Patch logits for sRGB ``img`` given the features (normals, disparity, edges)."""
        return self.net(torch.cat([img * 2 - 1, feats[:, 6:11]], 1))


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    :param argv: Arguments (default: ``sys.argv``).
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("data/train"))
    ap.add_argument("--count", type=int, default=700, help="use the first N samples")
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=64, help="random square crop side (multiple of 32)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--adv", type=float, default=0.02, help="weight of the PatchGAN loss (0 = L1 only)")
    ap.add_argument("--warmup", type=int, default=300, help="L1-only steps before the PatchGAN loss ramps in")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest on busy shared cores (no spin-waits)")
    ap.add_argument("--max-minutes", type=float, default=55.0, help="stop early (and save) after this long")
    ap.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--bank-only", action="store_true", help="only rebuild the palette bank of --out")
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    files = sorted(args.data.glob("[0-9]*.npz"))[: args.count]
    feats, conds, gts = [], [], []
    bank: dict[int, list[np.ndarray]] = {k: [] for k in range(len(STYLES))}
    clean_bank: dict[int, list[np.ndarray]] = {k: [] for k in range(len(STYLES))}
    for i, path in enumerate(files):
        d = dict(np.load(path))
        f, c, colours, clean = sample_inputs(d, i)
        clean_bank[int(d["style"])].extend(clean)
        feats.append(f.half())
        conds.append(c)
        gts.append(torch.from_numpy(d["rgb"]).permute(2, 0, 1).contiguous())
        bank[int(d["style"])].extend(colours)
    feats_t, conds_t, gts_t = torch.stack(feats), torch.stack(conds), torch.stack(gts)
    print(f"prepared {len(files)} samples in {time.perf_counter() - t0:.0f} s", flush=True)

    if args.bank_only:  # recompute the palette bank of an existing checkpoint (training unchanged)
        model = load_checkpoint(args.out)
        fill_bank(model, clean_bank, np.random.default_rng([args.seed, 99]))
        record = json.loads(args.out.with_suffix(".json").read_text())
        extra = {k: v for k, v in record.items() if k not in ("file", "sha256", "bytes", "config")}
        print(f"bank rebuilt, sha256 {save_checkpoint(model, args.out, extra)}")
        return 0
    model = AppearanceNet(AppearanceConfig())
    fill_bank(model, bank, rng)  # provisional (all hints); replaced by the clean bank at every save
    disc = PatchD()
    opt_g = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.5, 0.99), weight_decay=1e-4)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=0.5 * args.lr, betas=(0.5, 0.99), weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt_g, args.lr, total_steps=args.steps, pct_start=0.05)
    n = len(files)
    log = []
    t1 = time.perf_counter()
    for step in range(args.steps):
        idx = torch.from_numpy(rng.integers(0, n, args.batch))
        x = feats_t[idx].float()
        c = conds_t[idx].clone()
        gt = gts_t[idx].float() / 255.0
        y0, x0 = (int(v) for v in rng.integers(0, x.shape[-1] - args.crop + 1, 2))
        x = x[..., y0:y0 + args.crop, x0:x0 + args.crop]
        gt = gt[..., y0:y0 + args.crop, x0:x0 + args.crop]
        if rng.uniform() < 0.5:  # horizontal flip: mirror normals' x and the light's x
            x, gt = x.flip(-1), gt.flip(-1)
            x[:, 6] = -x[:, 6]
            c[:, len(STYLES)] = -c[:, len(STYLES)]
        x = torch.cat([x, torch.randn(x.shape[0], 1, *x.shape[-2:])], 1)
        pred = lin_to_srgb(model(x, c))
        l1 = F.l1_loss(F.avg_pool2d(pred, 4), F.avg_pool2d(gt, 4)) + 0.2 * F.l1_loss(pred, gt)
        loss = l1
        adv_w = args.adv * min(1.0, max(0.0, (step - args.warmup) / 500))
        if adv_w > 0:
            loss = l1 - adv_w * disc(pred, x).mean()
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        sched.step()
        d_loss = torch.tensor(0.0)
        if args.adv > 0 and step >= args.warmup - 100:
            d_loss = F.relu(1 - disc(gt, x)).mean() + F.relu(1 + disc(pred.detach(), x)).mean()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        log.append((float(l1.detach()), float(d_loss.detach()), float(pred.detach().std())))
        if (step + 1) % 25 == 0 or step + 1 == args.steps:
            m = np.mean(log[-25:], 0)
            secs = time.perf_counter() - t1
            print(f"step {step + 1}/{args.steps} l1 {m[0]:.4f} d {m[1]:.3f} std {m[2]:.3f} {secs:.0f} s", flush=True)
        late = (time.perf_counter() - t0) / 60 > args.max_minutes
        if (step + 1) % 500 == 0 or step + 1 == args.steps or late:
            minutes = (time.perf_counter() - t0) / 60
            fill_bank(model, clean_bank, np.random.default_rng([args.seed, 99]))
            digest = save_checkpoint(model, args.out, {
                "steps": step + 1, "samples": n, "batch": args.batch, "crop": args.crop, "adv_weight": args.adv,
                "seed": args.seed,
                "train_minutes": round(minutes, 1), "final_l1": round(float(np.mean(log[-25:], 0)[0]), 4)})
            print(f"saved {args.out} sha256 {digest}", flush=True)
            if late:
                print(f"stopped at step {step + 1}: time limit", flush=True)
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
