# SPDX-License-Identifier: GPL-3.0-or-later
"""Quality bench: generators against Cycles renders of held-out scenes (style, edges, shading, diversity, FD).

Reads held-out samples written by ``make_training_data.py`` (default ``data/test``, rendered with a
different seed from the training set) and the training renders for the style classifier, runs the
ground truth, ``baseline``, ``analytic`` and ``embedded`` through the metric suite of
:mod:`depth_addon.generation.metrics`, and writes ``out/quality.json``, ``out/quality.md`` (the
table) and ``out/quality_grid.png`` (depth | ground truth | baseline | analytic | embedded seeds
0 and 1 | embedded, another style).

Run alone: ``python scripts/bench_quality.py [--test data/test] [--train data/train]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depth_addon.camera import CameraModel  # noqa: E402
from depth_addon.generation import metrics as M  # noqa: E402
from depth_addon.generation.analytic import AnalyticGenerator  # noqa: E402
from depth_addon.generation.baseline import ProceduralBaseline  # noqa: E402
from depth_addon.generation.embedded import EmbeddedGenerator  # noqa: E402
from depth_addon.generation.prompt import STYLES  # noqa: E402

GENERATORS = ("baseline", "analytic", "embedded")


def load(folder: Path, limit: int) -> list[dict]:
    """The first ``limit`` samples of a data folder."""
    return [dict(np.load(p)) for p in sorted(folder.glob("[0-9]*.npz"))[:limit]]


def _camera(d: dict) -> CameraModel:
    h, w = d["depth"].shape
    return CameraModel(w, h, tuple(float(v) for v in d["frame"]))


def _depth_image(z: np.ndarray) -> np.ndarray:
    ok = np.isfinite(z)
    q = np.where(ok, 1.0 / np.where(ok, z, 1.0), 0.0)
    q = q / max(q.max(), 1e-9)
    return np.dstack([q] * 3).astype(np.float32)


def style_classifier(train: list[dict]) -> tuple[M.StyleClassifier, int]:
    """The style classifier, trained on every style region of the training renders; also the region count.

    :param train: Training samples (``rgb`` and the per-pixel ``label`` map).
    """
    regions = M.style_regions(np.stack([d["label"] for d in train]))
    clf = M.StyleClassifier(len(STYLES)).fit([train[i]["rgb"] for i, _ in regions], np.array([k for _, k in regions]),
                                             [train[i]["label"] == k + 1 for i, k in regions])
    return clf, len(regions)


def quality(test_dir: Path = ROOT / "data" / "test", train_dir: Path = ROOT / "data" / "train",
            out_dir: Path = ROOT / "out", n_test: int = 100, n_div: int = 20, n_cls: int = 800,
            n_seeds: int = 4, weights: Path | None = None) -> dict:
    """Run the quality bench and write the table, JSON and picture grid; return the results.

    :param test_dir: Held-out samples.
    :param train_dir: Training renders (style classifier).
    :param out_dir: Output folder.
    :param n_test: Held-out scenes used.
    :param n_div: Scenes used for seed diversity (4 seeds each).
    :param n_cls: Training renders used for the style classifier.
    :param n_seeds: Seeds averaged for ``style_acc_seeds`` (``style_acc`` is seed 0 alone).
    :param weights: The embedded generator's checkpoint (default: the shipped one).

    Fréchet distance: the generators' outputs with a fresh seed per scene (seed = scene index), i.e. a
    sample of each generator's output distribution, against the held-out renders; ``FD_seed0`` is the
    same with seed 0 for every scene, where every output shares one seeded sun and sky. The ground-truth
    row is the training renders against the held-out renders (the floor).

    Style accuracy: :class:`~depth_addon.generation.metrics.StyleClassifier` trained on the style regions
    of the training renders, applied to each image over the region where the held-out scene has its
    style (the generators were asked for that style; the ground truth may have another style on the
    ground, which is left out).
    """
    t0 = time.perf_counter()
    test = load(test_dir, n_test)
    if not test:
        raise SystemExit(f"no held-out samples in {test_dir}; render them with scripts/make_training_data.py")
    gens = {"baseline": ProceduralBaseline(), "analytic": AnalyticGenerator(), "embedded": EmbeddedGenerator(weights)}
    images: dict[str, list[np.ndarray]] = {"gt": [d["rgb"].astype(np.float32) / 255.0 for d in test]}
    for name, gen in gens.items():
        images[name] = _run(gen, test, [0] * len(test))
    styles = np.array([int(d["style"]) for d in test])

    train = load(train_dir, n_cls)
    clf, n_regions = style_classifier(train)
    style_masks = [d["label"] == int(d["style"]) + 1 for d in test]  # where the scene has the requested style
    confusion: dict[str, list[list[int]]] = {}
    gt_train_feats = M.random_features(np.stack([d["rgb"] / 255.0 for d in train[:len(test)]]))
    gt_feats = M.random_features(np.stack(images["gt"]))
    rows: dict[str, dict] = {}
    for name, imgs in images.items():
        bcr = [M.boundary_contrast(im, d["depth"]) for im, d in zip(imgs, test, strict=True)]
        br = [M.boundary_recall(im, d["depth"]) for im, d in zip(imgs, test, strict=True)]
        r2 = [M.shading_r2(im, d["depth"], tuple(d["frame"])) for im, d in zip(imgs, test, strict=True)]
        pred = clf.predict(imgs, style_masks)
        acc = float((pred == styles).mean())
        confusion[name] = np.bincount(styles * len(STYLES) + pred, minlength=len(STYLES) ** 2).reshape(
            len(STYLES), len(STYLES)).tolist()
        fd0 = M.frechet_distance(gt_train_feats if name == "gt" else M.random_features(np.stack(imgs)), gt_feats)
        rows[name] = {"BCR": float(np.nanmean(bcr)), "BR": float(np.nanmean(br)), "R2": float(np.nanmean(r2)),
                      "style_acc": acc, "FD_seed0": fd0}
    _seeded_rows(rows, gens, test, clf, gt_feats, n_seeds, n_div)

    out_dir.mkdir(parents=True, exist_ok=True)
    _grid(test, images, gens["embedded"], out_dir / "quality_grid.png")
    result = {"rows": rows, "n_test": len(test), "n_classifier": len(train), "n_classifier_regions": n_regions,
              "style_confusion": {"styles": list(STYLES), "rows_true_cols_predicted": confusion},
              "seconds": time.perf_counter() - t0, "gates": _gates(rows)}
    (out_dir / "quality.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "quality.md").write_text(table(rows) + "\n")
    return result


def _run(gen, test: list[dict], seeds: list[int]) -> list[np.ndarray]:
    """``gen`` on every held-out scene with its style word as the prompt, scene ``i`` with ``seeds[i]``."""
    return [gen.generate(d["depth"], prompt=STYLES[int(d["style"])], seed=s, camera=_camera(d))
            for d, s in zip(test, seeds, strict=True)]


def _seeded_rows(rows: dict, gens: dict, test: list[dict], clf: M.StyleClassifier, gt_feats: np.ndarray,
                 n_seeds: int, n_div: int) -> None:
    """Add the seed-dependent metrics to ``rows``: FD with a seed per scene, style accuracy over seeds, diversity.

    :param rows: Metric rows per generator (``gt`` included); updated.
    :param gens: Generators by name.
    :param test: Held-out samples.
    :param clf: Style classifier.
    :param gt_feats: Random-CNN features of the held-out renders.
    :param n_seeds: Seeds averaged for ``style_acc_seeds``.
    :param n_div: Scenes used for seed diversity (4 seeds each).
    """
    styles = np.array([int(d["style"]) for d in test])
    style_masks = [d["label"] == int(d["style"]) + 1 for d in test]
    rows["gt"]["FD"] = rows["gt"]["FD_seed0"]  # renders have no seed: training renders vs held-out renders
    for name, gen in gens.items():  # FD of the output distribution: a fresh seed per scene (seed = scene index)
        ims = _run(gen, test, list(range(len(test))))
        rows[name]["FD"] = M.frechet_distance(M.random_features(np.stack(ims)), gt_feats)
    for name, gen in gens.items():  # style accuracy over seeds 0-3: seed 0 alone gives every scene one sun
        accs = [rows[name]["style_acc"]]
        for seed in range(1, n_seeds):
            accs.append(float((clf.predict(_run(gen, test, [seed] * len(test)), style_masks) == styles).mean()))
        rows[name]["style_acc_seeds"] = float(np.mean(accs))
    rows["gt"]["style_acc_seeds"] = rows["gt"]["style_acc"]
    for name, gen in gens.items():
        pairs = [M.seed_diversity(_run(gen, [d] * 4, list(range(4)))) for d in test[:n_div]]
        rows[name]["div_full"] = float(np.mean([f for f, _ in pairs]))
        rows[name]["div_low"] = float(np.mean([lo for _, lo in pairs]))
    rows["gt"]["div_full"] = rows["gt"]["div_low"] = float("nan")


def _gates(rows: dict) -> dict:
    gt, em = rows["gt"], rows["embedded"]
    return {"BCR>=0.4xGT": em["BCR"] >= 0.4 * gt["BCR"], "BR>=0.6xGT": em["BR"] >= 0.6 * gt["BR"],
            "R2>=0.8xGT": em["R2"] >= 0.8 * gt["R2"], "style_acc>=0.85": em["style_acc_seeds"] >= 0.85,
            "div_low>=0.05": em["div_low"] >= 0.05,
            "FD<baseline,analytic": em["FD"] < min(rows["baseline"]["FD"], rows["analytic"]["FD"])}


def table(rows: dict) -> str:
    """Markdown table of the metric rows."""
    head = ("| generator | BCR ↑ | BR ↑ | shading R² | style acc ↑ (seeds 0–3) | style acc seed 0 | diversity full "
            "| diversity 1/8 ↑ | FD ↓ (seed per scene) | FD seed 0 |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['BCR']:.2f} | {r['BR']:.2f} | {r['R2']:.2f} | {r['style_acc_seeds']:.2f} | "
                     f"{r['style_acc']:.2f} | "
                     f"{r['div_full']:.3f} | {r['div_low']:.3f} | {r['FD']:.2f} | {r['FD_seed0']:.2f} |")
    return "\n".join(lines)


def _grid(test: list[dict], images: dict, gen: EmbeddedGenerator, path: Path, n: int = 8) -> None:
    rows = []
    for i, d in enumerate(test[:n]):
        other = STYLES[(int(d["style"]) + 3) % len(STYLES)]
        cells = [_depth_image(d["depth"]), images["gt"][i], images["baseline"][i], images["analytic"][i],
                 images["embedded"][i], gen.generate(d["depth"], prompt=STYLES[int(d["style"])], seed=1,
                                                     camera=_camera(d)),
                 gen.generate(d["depth"], prompt=other, seed=2, camera=_camera(d))]
        rows.append(np.concatenate(cells, 1))
    grid = (np.clip(np.concatenate(rows, 0), 0, 1) * 255).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def speed(runs: int = 5) -> dict:
    """Median wall time of the embedded generator at 512² and 1024² and the process's peak RSS."""
    gen = EmbeddedGenerator()
    rng = np.random.default_rng(0)
    out = {}
    for size in (512, 1024):
        yy, xx = np.mgrid[0:size, 0:size] / size
        depth = (4.0 + 3.0 * yy + 0.3 * np.sin(xx * 9)).astype(np.float32)
        depth[(xx - 0.5) ** 2 + (yy - 0.4) ** 2 < 0.04] = 3.0
        gen.generate(depth, prompt="stone", seed=int(rng.integers(100)))
        times = []
        for s in range(runs if size == 512 else 3):
            t = time.perf_counter()
            gen.generate(depth, prompt="stone", seed=s)
            times.append(time.perf_counter() - t)
        out[f"generate_{size}"] = statistics.median(times)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    :param argv: Arguments (default: ``sys.argv``).
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", type=Path, default=ROOT / "data" / "test")
    ap.add_argument("--train", type=Path, default=ROOT / "data" / "train")
    ap.add_argument("--out", type=Path, default=ROOT / "out")
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--speed", action="store_true", help="also time generate_512/1024")
    ap.add_argument("--weights", type=Path, help="the embedded generator's checkpoint (default: the shipped one)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    res = quality(args.test, args.train, args.out, args.n_test, weights=args.weights)
    print(table(res["rows"]))
    print(json.dumps(res["gates"]))
    if args.speed:
        print(json.dumps(speed()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
