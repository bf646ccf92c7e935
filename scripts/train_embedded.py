# SPDX-License-Identifier: GPL-3.0-or-later
"""Train the embedded appearance network on Cycles renders from ``make_training_data.py`` (CPU, seeded).

For every rendered sample the analytic layer is run on the depth with the sun direction, each style of the
sample's material labels painted on its own pixels; the palette hint of each segment is the mean Cycles colour
of that segment divided by the analytic shading (an albedo estimate), so the network learns lighting, GI,
contact shadows and material detail rather than guessing colours. The network is conditioned per pixel: its
condition map gives every pixel its rendered material's style (``train_inputs.style_map``), so single-style renders
and ``--multi`` renders (every object its own style) train it alike. Objective: L1 on a 4× low-pass plus a
conditional PatchGAN hinge loss (spectral-norm discriminator over image + normals + disparity + edges), so
the output is a sample rather than an average. The per-style hint colours form the palette bank stored in
the checkpoint and drawn from, with the user's seed, at inference.

A phase-free texture-energy loss (:func:`band_energy`, ``--tex``, weight 2 by default) asks for texture
of the rendered strength without asking for it at the rendered positions, which the network cannot
know (L1 alone answers that with blur); it matches the luma and the chroma apart, so grey texture is not
answered with colour grain. ``--init CKPT`` fine-tunes from a checkpoint (its sha256 is
recorded). Experimental, off by default (see MODEL.md for what it gave): ``--style-d`` makes the
discriminator style-conditional (:class:`PatchD`).

The shipped weights are three stages (MODEL.md, Training): the per-image network of the earlier script,
then ``python scripts/train_embedded.py --data data/train --data data/multi_train --init STAGE1 --steps 1500
--lr 1e-4 --adv 0`` with the texture energy of R, G and B, then the same with ``--init STAGE2 --steps 2000``
and this script's luma and chroma energy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_inputs import Samples, load_samples, random_batch  # noqa: E402

from depth_addon.generation.model import (  # noqa: E402
    DEFAULT_WEIGHTS,
    AppearanceConfig,
    AppearanceNet,
    load_checkpoint,
    save_checkpoint,
)
from depth_addon.generation.prompt import STYLES  # noqa: E402


def lin_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear → sRGB with linear extensions below 0 and above 1 (no dead gradients, no clamping)."""
    curve = 1.055 * x.clamp(0.0031308, 1.0) ** (1 / 2.4) - 0.055
    return torch.where(x <= 0.0031308, x * 12.92, torch.where(x > 1.0, 1.0 + (x - 1.0) * 0.4, curve))


def band_energy(img: torch.Tensor, scales: int = 2) -> list[torch.Tensor]:
    """Local texture energy per scale: mean |image − 3×3 box blur| over 8×8 cells, at full and halved resolutions,
    of the luma and, apart, of the chroma (each channel minus the luma).

    Phase-free, so matching it asks for texture of the right strength without asking for texture at the
    exact Cycles positions (which the network cannot know; L1 alone answers that with blur). Luma and chroma
    are matched apart so that a render's grey texture (stone, plaster) is not answered by colour grain, which
    per-channel energies would let the network give.

    :param img: N×3×H×W sRGB.
    :param scales: Number of resolutions.
    """
    out = []
    luma = (img * img.new_tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    x = torch.cat([luma, img - luma], 1)
    for _ in range(scales):
        high = x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
        out.append(F.avg_pool2d(high.abs(), 8 if x.shape[-1] >= 32 else 4))
        x = F.avg_pool2d(x, 2)
    return out


def fill_bank(model: AppearanceNet, bank: dict[int, list[np.ndarray]], rng: np.random.Generator) -> None:
    """Store ``bank_size`` colours per style (drawn by ``rng``) in the model's palette bank."""
    for k, cols in bank.items():
        if cols:
            pick = rng.choice(len(cols), model.config.bank_size, replace=len(cols) < model.config.bank_size)
            model.bank[k] = torch.from_numpy(np.stack(cols)[pick])


class PatchD(nn.Module):
    """Conditional PatchGAN discriminator (spectral norm) over the image, normals, disparity and edges.

    :param n_styles: With > 0, ``n_styles`` more input channels carry the style one-hot on the pixels
        rendered in the scene's style (zero elsewhere), so the critic judges each style's look and a
        wrong-style texture on those pixels is penalised.
    """

    def __init__(self, n_styles: int = 0) -> None:
        super().__init__()
        sn = nn.utils.spectral_norm
        self.n_styles = n_styles
        self.net = nn.Sequential(
            sn(nn.Conv2d(8 + n_styles, 32, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(32, 64, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(64, 96, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(96, 1, 3, 1, 1)))

    def forward(self, img: torch.Tensor, feats: torch.Tensor, styles: torch.Tensor | None = None) -> torch.Tensor:
        """Patch logits for sRGB ``img`` given the features and, for a style critic, N×S×H×W style maps."""
        parts = [img * 2 - 1, feats[:, 6:11]] + ([styles] if self.n_styles else [])
        return self.net(torch.cat(parts, 1))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line's options.

    :param argv: Arguments (default: ``sys.argv``).
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append", help="rendered samples (repeatable; default data/train)")
    ap.add_argument("--count", type=int, default=700, help="use the first N samples of each --data folder")
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=64, help="random square crop side (multiple of 32)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--adv", type=float, default=0.02, help="weight of the PatchGAN loss (0 = L1 only)")
    ap.add_argument("--warmup", type=int, default=300, help="L1-only steps before the PatchGAN loss ramps in")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest on busy shared cores (no spin-waits)")
    ap.add_argument("--max-minutes", type=float, default=55.0, help="stop early (and save) after this long")
    ap.add_argument("--tex", type=float, default=2.0, help="weight of the texture-energy loss (band_energy)")
    ap.add_argument("--style-d", action="store_true", help="style-conditional discriminator (see PatchD)")
    ap.add_argument("--init", type=Path, help="fine-tune from this checkpoint instead of a fresh network")
    ap.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--bank-only", action="store_true", help="only rebuild the palette bank of --out")
    return ap.parse_args(argv)


@dataclass
class Trainer:
    """Generator, discriminator, their optimisers and the schedule.

    :param model: Appearance network.
    :param disc: PatchGAN discriminator.
    :param opt_g: Network optimiser.
    :param opt_d: Discriminator optimiser.
    :param sched: One-cycle learning-rate schedule of the network.
    :param args: Command-line options (loss weights).
    """

    model: AppearanceNet
    disc: PatchD
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched: object
    args: argparse.Namespace

    def step(self, step: int, x: torch.Tensor, c: torch.Tensor, gt: torch.Tensor, smaps: torch.Tensor,
             ) -> tuple[float, float, float]:
        """One optimisation step of both networks; returns ``(L1, discriminator loss, output std)``.

        :param step: Step index (warm-up and ramp of the adversarial weight).
        :param x: Features with noise.
        :param c: Condition.
        :param gt: Ground truth, sRGB in [0, 1].
        :param smaps: Style maps for the discriminator.
        """
        args, disc = self.args, self.disc
        pred = lin_to_srgb(self.model(x, c))
        l1 = F.l1_loss(F.avg_pool2d(pred, 4), F.avg_pool2d(gt, 4)) + 0.2 * F.l1_loss(pred, gt)
        loss = l1
        if args.tex > 0:
            tex = sum(F.l1_loss(a, b) for a, b in zip(band_energy(pred), band_energy(gt), strict=True))
            loss = loss + args.tex * tex
        adv_w = args.adv * min(1.0, max(0.0, (step - args.warmup) / 500))
        if adv_w > 0:
            loss = loss - adv_w * disc(pred, x, smaps).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.sched.step()
        d_loss = torch.tensor(0.0)
        if args.adv > 0 and step >= args.warmup - 100:
            d_loss = F.relu(1 - disc(gt, x, smaps)).mean() + F.relu(1 + disc(pred.detach(), x, smaps)).mean()
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
        return float(l1.detach()), float(d_loss.detach()), float(pred.detach().std())


def make_trainer(args: argparse.Namespace, data: Samples, rng: np.random.Generator) -> tuple[Trainer, str | None]:
    """A fresh (or ``--init``) network with its discriminator and optimisers; also the init checkpoint's sha256.

    :param args: Command-line options.
    :param data: Training set (its provisional bank seeds a fresh network's palette bank).
    :param rng: Generator (consumed by the provisional bank).
    """
    init_sha = None
    if args.init is not None:
        model = load_checkpoint(args.init)
        init_sha = json.loads(args.init.with_suffix(".json").read_text())["sha256"]
    else:
        model = AppearanceNet(AppearanceConfig())
        fill_bank(model, data.bank, rng)  # provisional (all hints); replaced by the clean bank at every save
    disc = PatchD(len(STYLES) if args.style_d else 0)
    opt_g = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.5, 0.99), weight_decay=1e-4)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=0.5 * args.lr, betas=(0.5, 0.99), weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt_g, args.lr, total_steps=args.steps, pct_start=0.05)
    return Trainer(model, disc, opt_g, opt_d, sched, args), init_sha


def save(model: AppearanceNet, data: Samples, args: argparse.Namespace, extra: dict) -> str:
    """Write the checkpoint with the clean palette bank (a fresh network's) and the training facts; return its
    sha256.

    :param model: Network.
    :param data: Training set (clean bank).
    :param args: Command-line options (recorded).
    :param extra: More facts (steps, minutes, final L1, init checkpoint).
    """
    if args.init is None:  # a fine-tune keeps its starting point's palette bank: only the network changes
        fill_bank(model, data.clean_bank, np.random.default_rng([args.seed, 99]))
    record = {"steps": extra.pop("steps"), "samples": data.feats.shape[0], "data": [str(d) for d in args.data],
              "conditioning": "per-pixel style map",
              "bank": "kept from the init checkpoint" if args.init else "clean colours of the training renders",
              "batch": args.batch, "crop": args.crop,
              "adv_weight": args.adv, "tex_weight": args.tex, "style_d": args.style_d, "lr": args.lr,
              "warmup": args.warmup, "seed": args.seed, **extra}
    return save_checkpoint(model, args.out, record)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    :param argv: Arguments (default: ``sys.argv``).
    """
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    args.data = args.data or [Path("data/train")]
    files = [f for folder in args.data for f in sorted(folder.glob("[0-9]*.npz"))[: args.count]]
    data = load_samples(files)
    print(f"prepared {len(files)} samples in {time.perf_counter() - t0:.0f} s", flush=True)
    if args.bank_only:  # recompute the palette bank of an existing checkpoint (training unchanged)
        model = load_checkpoint(args.out)
        fill_bank(model, data.clean_bank, np.random.default_rng([args.seed, 99]))
        record = json.loads(args.out.with_suffix(".json").read_text())
        extra = {k: v for k, v in record.items() if k not in ("file", "sha256", "bytes", "config")}
        print(f"bank rebuilt, sha256 {save_checkpoint(model, args.out, extra)}")
        return 0
    trainer, init_sha = make_trainer(args, data, rng)
    log = []
    t1 = time.perf_counter()
    for step in range(args.steps):
        log.append(trainer.step(step, *random_batch(data, rng, args.batch, args.crop)))
        if (step + 1) % 25 == 0 or step + 1 == args.steps:
            m = np.mean(log[-25:], 0)
            secs = time.perf_counter() - t1
            print(f"step {step + 1}/{args.steps} l1 {m[0]:.4f} d {m[1]:.3f} std {m[2]:.3f} {secs:.0f} s", flush=True)
        late = (time.perf_counter() - t0) / 60 > args.max_minutes
        if (step + 1) % 500 == 0 or step + 1 == args.steps or late:
            digest = save(trainer.model, data, args, {
                "steps": step + 1, "init_sha256": init_sha, "train_minutes": round((time.perf_counter() - t0) / 60, 1),
                "final_l1": round(float(np.mean(log[-25:], 0)[0]), 4)})
            print(f"saved {args.out} sha256 {digest}", flush=True)
            if late:
                print(f"stopped at step {step + 1}: time limit", flush=True)
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
