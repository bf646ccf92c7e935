# SPDX-License-Identifier: GPL-3.0-or-later
"""Scene-prompt quality: every object its own material, against Cycles renders of held-out multi-material scenes.

Reads held-out scenes written by ``make_training_data.py --multi`` (every wall and object its own random style;
``--seed 3``, default ``data/multi``) and, for the style classifier, the single-style training renders (default
``data/train``) plus ``--multi`` renders of another seed (``--seed 4``, default ``data/multi_train``), whose
object regions teach it the small regions this bench classifies. Each
generator paints each scene with a segment map from the scene's object index pass and one prompt per object:
that object's style word, as the scene-prompt router hands them over. Measured per generator, against the
renders:

* **per-object style accuracy**: the style classifier of :mod:`depth_addon.generation.metrics`, applied to each
  object region of at least 150 pixels, against the object's own style (the renders themselves are the row
  ``gt``: the instrument's own ceiling);
* **boundary recall** (share of depth-discontinuity pixels with a visible luminance edge within 1 px), boundary
  contrast and shading R², as in ``bench_quality.py``;
* the row ``embedded (one prompt)`` is the scene painted as one material (the first object's style, no
  segments): what a single-material generator gives such a scene.

Writes ``out/scene_quality.json`` and ``out/scene_quality.md``. Run:
``python scripts/bench_scene_quality.py [--test data/multi] [--train data/train] [--seeds 2]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_quality import _camera, load  # noqa: E402

from depth_addon.generation import metrics as M  # noqa: E402
from depth_addon.generation.analytic import AnalyticGenerator  # noqa: E402
from depth_addon.generation.baseline import ProceduralBaseline  # noqa: E402
from depth_addon.generation.embedded import EmbeddedGenerator  # noqa: E402
from depth_addon.generation.prompt import STYLES  # noqa: E402

MIN_PIXELS = 150


def object_styles(sample: dict) -> tuple[np.ndarray, list[str], list[tuple[int, int]]]:
    """The scene's segment map (object index, -1 background), one prompt per object, and the style regions.

    :param sample: A held-out sample (``object``, ``label``, ``depth``).
    :return: ``(segments, prompts, regions)``; ``regions`` lists ``(object index, style id)`` of the objects
        with at least :data:`MIN_PIXELS` pixels of their style.
    """
    obj, label = sample["object"].astype(np.int32), sample["label"].astype(np.int32)
    geometry = np.isfinite(sample["depth"]) & (label > 0)
    segments = np.where(geometry, obj, -1)
    prompts, regions = [""] * (int(obj.max()) + 1), []
    for o in np.unique(segments[segments >= 0]):
        counts = np.bincount(label[segments == o], minlength=len(STYLES) + 1)[1:]
        k = int(counts.argmax())
        prompts[int(o)] = STYLES[k]
        if counts[k] >= MIN_PIXELS:
            regions.append((int(o), k))
    return segments, prompts, regions


def object_classifier(train: list[dict], multi_train: list[dict]) -> tuple[M.StyleClassifier, int]:
    """The style classifier trained on the style regions of single-style renders and the object regions of
    multi-material ones (small objects are what this bench classifies); also the region count.

    :param train: Single-style training renders.
    :param multi_train: ``--multi`` training renders (another seed than the held-out ones).
    """
    images, labels, masks = [], [], []
    for i, k in M.style_regions(np.stack([d["label"] for d in train])):
        images.append(train[i]["rgb"])
        labels.append(k)
        masks.append(train[i]["label"] == k + 1)
    for d in multi_train:
        seg, _prompts, regions = object_styles(d)
        for o, k in regions:
            images.append(d["rgb"])
            labels.append(k)
            masks.append((seg == o) & (d["label"] == k + 1))
    return M.StyleClassifier(len(STYLES)).fit(images, np.array(labels), masks), len(labels)


def run(test_dir: Path, train_dir: Path, out_dir: Path, n_test: int, n_cls: int, n_seeds: int,
        multi_train_dir: Path | None = None, weights: Path | None = None) -> dict:
    """Measure every generator on the held-out multi-material scenes; write and return the table.

    :param test_dir: Held-out ``--multi`` scenes.
    :param train_dir: Training renders (style classifier).
    :param multi_train_dir: ``--multi`` training renders for the classifier's object regions (skipped when absent).
    :param out_dir: Output folder.
    :param n_test: Scenes used.
    :param n_cls: Training renders used for the classifier.
    :param n_seeds: Seeds averaged (seed ``s`` for every scene).
    :param weights: The embedded generator's checkpoint (default: the shipped one).
    """
    t0 = time.perf_counter()
    test = load(test_dir, n_test)
    if not test:
        raise SystemExit(f"no held-out scenes in {test_dir}; render them with "
                         "scripts/make_training_data.py --multi --out data/multi --count 100 --seed 3")
    multi_train = load(multi_train_dir, n_cls) if multi_train_dir is not None and multi_train_dir.is_dir() else []
    clf, n_regions = object_classifier(load(train_dir, n_cls), multi_train)
    scenes = [object_styles(d) for d in test]
    masks, truth = [], []
    for d, (seg, _prompts, regions) in zip(test, scenes, strict=True):
        for o, k in regions:
            masks.append((seg == o) & (d["label"] == k + 1))
            truth.append(k)
    truth = np.array(truth)
    gens = {"baseline": ProceduralBaseline(), "analytic": AnalyticGenerator(), "embedded": EmbeddedGenerator(weights)}
    runs = {"gt": [[d["rgb"].astype(np.float32) / 255.0 for d in test]]}
    for name, gen in gens.items():
        runs[name] = [[gen.generate(d["depth"], prompt=p[int(seg[seg >= 0][0])] if (seg >= 0).any() else "",
                                    seed=s, camera=_camera(d), segments=seg, segment_prompts=p)
                       for d, (seg, p, _r) in zip(test, scenes, strict=True)] for s in range(n_seeds)]
    runs["embedded (one prompt)"] = [[gens["embedded"].generate(
        d["depth"], prompt=p[int(seg[seg >= 0][0])] if (seg >= 0).any() else "", seed=s, camera=_camera(d))
        for d, (seg, p, _r) in zip(test, scenes, strict=True)] for s in range(n_seeds)]
    rows = {}
    for name, seeded in runs.items():
        accs, br, bcr, r2 = [], [], [], []
        for imgs in seeded:
            images = [imgs[i] for i, (_s, _p, regions) in enumerate(scenes) for _ in regions]
            accs.append(float((clf.predict(images, masks) == truth).mean()))
            br.append(np.nanmean([M.boundary_recall(im, d["depth"]) for im, d in zip(imgs, test, strict=True)]))
            bcr.append(np.nanmean([M.boundary_contrast(im, d["depth"]) for im, d in zip(imgs, test, strict=True)]))
            r2.append(np.nanmean([M.shading_r2(im, d["depth"], tuple(d["frame"])) for im, d in zip(imgs, test,
                                                                                                 strict=True)]))
        rows[name] = {"object_style_acc": float(np.mean(accs)), "BR": float(np.mean(br)),
                      "BCR": float(np.mean(bcr)), "R2": float(np.mean(r2))}
    gt, em = rows["gt"], rows["embedded"]
    gates = {"object_style_acc>=0.85": em["object_style_acc"] >= 0.85, "BR>=0.8xGT": em["BR"] >= 0.8 * gt["BR"]}
    result = {"rows": rows, "gates": gates, "n_test": len(test), "n_objects": int(len(truth)),
              "n_classifier_regions": n_regions, "seeds": n_seeds, "seconds": time.perf_counter() - t0}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scene_quality.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "scene_quality.md").write_text(table(rows) + "\n")
    return result


def table(rows: dict) -> str:
    """Markdown table of the rows."""
    lines = ["| generator | per-object style acc ↑ | BR ↑ | BCR ↑ | shading R² |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {r['object_style_acc']:.2f} | {r['BR']:.2f} | {r['BCR']:.2f} | {r['R2']:.2f} |"
              for n, r in rows.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    :param argv: Arguments (default: ``sys.argv``).
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", type=Path, default=ROOT / "data" / "multi")
    ap.add_argument("--train", type=Path, default=ROOT / "data" / "train")
    ap.add_argument("--multi-train", type=Path, default=ROOT / "data" / "multi_train",
                    help="--multi renders of another seed, for the classifier's object regions")
    ap.add_argument("--out", type=Path, default=ROOT / "out")
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--n-cls", type=int, default=400)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--weights", type=Path, help="the embedded generator's checkpoint (default: the shipped one)")
    args = ap.parse_args(argv)
    result = run(args.test, args.train, args.out, args.n_test, args.n_cls, args.seeds, args.multi_train,
                 args.weights)
    print(table(result["rows"]))
    print(json.dumps({"gates": result["gates"], "n_objects": result["n_objects"],
                      "seconds": round(result["seconds"], 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
