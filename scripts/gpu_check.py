# SPDX-License-Identifier: GPL-3.0-or-later
"""GPU check: the torch code paths that only run on a CUDA machine, with nothing downloaded.

Run it where ``torch.cuda.is_available()``; it needs torch, diffusers, transformers, accelerate, OpenCV and
safetensors (no ``bpy``: the Blender side has no CUDA path of its own). It checks and times:

* the embedded appearance network loaded with ``load_checkpoint(path, "cuda")`` against the CPU network on the
  same features (max abs difference, linear RGB), at 512² and 1024²;
* the ``diffusers`` backend on the three tiny offline pipelines of ``tests/tiny_pipelines.py`` (SD 1.5 and SDXL
  with a depth ControlNet, FLUX depth): ``device="auto"`` must pick CUDA and bfloat16, outputs must be finite
  images in range, the same seed must repeat and another seed must differ, and the model/sequential CPU
  offloads must give the same image as the plain placement; times and peak CUDA memory per call;
* the paths that take paint already there and regional prompts (:func:`paint_paths`): restyle (image-to-image)
  repeats with its seed, inpainting keeps the kept pixels exactly (also under both offloads), regional prompts
  give a finite image.

Usage::

    python scripts/gpu_check.py --json gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from depth_addon.generation.model import load_checkpoint, predict  # noqa: E402
from depth_addon.generation.netnp import condition  # noqa: E402


def timed(fn, runs: int = 5) -> tuple[object, float]:
    """``(last result, median seconds)`` of ``runs`` calls after one warm-up (CUDA synchronised)."""
    out = fn()
    times = []
    for _ in range(runs):
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def embedded_network() -> dict:
    """The appearance network on CUDA against the CPU network, same features."""
    cpu, gpu = load_checkpoint(None, "cpu"), load_checkpoint(None, "cuda")
    cond = torch.from_numpy(condition(2, np.array([0.3, 0.8, 0.5], np.float32))).view(1, -1)
    out = {"device_name": torch.cuda.get_device_name(0), "cudnn_tf32": torch.backends.cudnn.allow_tf32}
    for size in (512, 1024):
        feats = torch.from_numpy(np.random.default_rng(size).random((13, size, size), dtype=np.float32))
        ref = predict(cpu, feats, cond)
        got, seconds = timed(lambda f=feats: predict(gpu, f, cond))
        assert got.device.type == "cpu" and got.shape == ref.shape
        out[f"max_abs_diff_{size}"] = float((got - ref).abs().max())
        out[f"cuda_s_{size}"] = seconds
    return out


def diffusers_backend() -> dict:
    """The three tiny pipelines on CUDA through :class:`DiffusersGenerator`."""
    from test_diffusers_backend import FAMILIES, scene
    from tiny_pipelines import build_flux, build_sd15, build_sdxl

    from depth_addon.generation.diffusers_backend import BackendConfig, DiffusersGenerator

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for family, build in zip(FAMILIES, (build_sd15, build_sdxl, build_flux), strict=True):
            folder = Path(tmp) / family
            build().save_pretrained(folder, safe_serialization=True)
            gen = DiffusersGenerator(BackendConfig(model=str(folder), steps=4))
            depth = scene(256, 384)
            torch.cuda.reset_peak_memory_stats()
            a, seconds = timed(lambda g=gen, d=depth: g.generate(d, prompt="red brick wall", seed=1), 3)
            rec = {"device": gen.device, "dtype": gen.dtype, "offload": gen.offload, "seconds_384x256": seconds,
                   "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20, "shape": list(a.shape),
                   "finite_in_range": bool(np.isfinite(a).all() and 0.0 <= a.min() and a.max() <= 1.0),
                   "std": float(a.std())}
            rec["same_seed_max_diff"] = float(np.abs(a - gen.generate(depth, prompt="red brick wall", seed=1)).max())
            rec["other_seed_mean_diff"] = float(np.abs(a - gen.generate(depth, prompt="red brick wall",
                                                                        seed=2)).mean())
            photo, paint = paint_inputs(depth)
            figures, inpainted = paint_paths(gen, depth, photo, paint)
            rec.update(figures)
            for offload in ("model", "sequential"):
                other = DiffusersGenerator(BackendConfig(model=str(folder), steps=4, cpu_offload=offload))
                b = other.generate(depth, prompt="red brick wall", seed=1)
                rec[f"offload_{offload}"] = other.offload
                rec[f"offload_{offload}_max_diff"] = float(np.abs(a - b).max())
                again = other.generate(depth, prompt="marble", seed=1, init_image=photo, init_mask=paint)
                rec[f"offload_{offload}_inpaint_max_diff"] = float(np.abs(again - inpainted).max())
                del other
            out[family] = rec
            del gen
            torch.cuda.empty_cache()
    return out


def paint_inputs(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A seeded photo the size of ``depth`` and a mask (True = may paint) over its right half."""
    h, w = depth.shape
    mask = np.zeros((h, w), bool)
    mask[:, w // 2:] = True
    return np.random.default_rng(7).random((h, w, 3)).astype(np.float32), mask


def paint_paths(gen, depth: np.ndarray, photo: np.ndarray, mask: np.ndarray) -> tuple[dict, np.ndarray]:
    """Restyle (image-to-image), inpainting and regional prompts on ``gen``'s device: finite, in range, repeatable,
    the kept pixels exact; times per call.

    :param gen: A loaded :class:`~depth_addon.generation.diffusers_backend.DiffusersGenerator`.
    :param depth: H×W depth.
    :param photo: H×W×3 paint.
    :param mask: H×W bool, True where inpainting may paint.
    :return: ``(figures, the inpainted image)``.
    """
    t = time.perf_counter()
    styled = gen.generate(depth, prompt="marble", seed=1, init_image=photo, denoise=0.5)
    rec = {"restyle_s": time.perf_counter() - t, "restyle_ok": bool(np.isfinite(styled).all() and styled.std() > 0),
           "restyle_same_seed_max_diff": float(np.abs(styled - gen.generate(depth, prompt="marble", seed=1,
                                                                             init_image=photo, denoise=0.5)).max())}
    t = time.perf_counter()
    inpainted = gen.generate(depth, prompt="marble", seed=1, init_image=photo, init_mask=mask)
    rec["inpaint_s"] = time.perf_counter() - t
    rec["inpaint_kept_exact"] = bool(np.array_equal(inpainted[~mask], photo[~mask]))
    segments = np.where(mask, 1, 0).astype(np.int32)
    t = time.perf_counter()
    regional = gen.generate(depth, prompt="grass", seed=1, segments=segments, segment_prompts=["brick", "wood"])
    rec["regional_s"] = time.perf_counter() - t
    rec["regional_ok"] = bool(np.isfinite(regional).all() and regional.shape == photo.shape)
    return rec, inpainted


def main(argv: list[str] | None = None) -> int:
    """Run both checks, print the figures, write them as JSON; exit 1 when a check fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here", file=sys.stderr)
        return 1
    figures = {"torch": torch.__version__, "embedded": embedded_network(), "diffusers": diffusers_backend()}
    failures = [f"embedded max diff {figures['embedded'][k]:.2e} at {k}" for k in ("max_abs_diff_512",
                                                                                     "max_abs_diff_1024")
                if figures["embedded"][k] > 1e-2]
    for family, rec in figures["diffusers"].items():
        if rec["device"] != "cuda" or not rec["finite_in_range"] or rec["std"] <= 0:
            failures.append(f"{family}: device {rec['device']}, finite and in range {rec['finite_in_range']}")
        if rec["same_seed_max_diff"] > 1e-2 or rec["other_seed_mean_diff"] <= 1e-3:
            failures.append(f"{family}: seeds do not repeat or do not differ")
        if not (rec["restyle_ok"] and rec["inpaint_kept_exact"] and rec["regional_ok"]):
            failures.append(f"{family}: restyle {rec['restyle_ok']}, inpaint kept {rec['inpaint_kept_exact']}, "
                            f"regional {rec['regional_ok']}")
    figures["failures"] = failures
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
