# SPDX-License-Identifier: GPL-3.0-or-later
"""Train the style classifier on training renders and save it as safetensors.

The classifier (:class:`depth_addon.generation.metrics.StyleClassifier`) names the material style of an image
region. ``tests/data/style_classifier.safetensors``, which the demo test uses to check that each object of the
demo came out in the material its prompt asked for, is made from the renders of
``python scripts/make_training_data.py --out data/train --count 400 --seed 0`` by
``python scripts/train_style_classifier.py --count 400 --out tests/data/style_classifier.safetensors``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_quality import load, style_classifier  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    :param argv: Arguments (default: ``sys.argv``).
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=ROOT / "data" / "train")
    ap.add_argument("--count", type=int, default=400, help="training renders used")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    samples = load(args.train, args.count)
    if not samples:
        raise SystemExit(f"no training renders in {args.train}; render them with scripts/make_training_data.py")
    clf, regions = style_classifier(samples)
    clf.save(args.out)
    print(f"{regions} style regions from {len(samples)} renders, {time.perf_counter() - t:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
