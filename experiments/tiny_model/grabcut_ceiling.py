"""GrabCut ceiling: gIoU per bucket when the segmenter gets the *true* box and points (original
frame), optionally with every box edge moved by a random amount (how loose may a model's box be?).

Usage: .venv/bin/python experiments/tiny_model/grabcut_ceiling.py BENCH [--jitter PX] [--limit N]
Prints gIoU (mean per-sample IoU, %) per bucket on the test split. Measured on the simple world
(docs/TINY_MODEL.md): edges moved by up to 0 / 6 / 12 / 20 px give mean IoU 1.00 / 0.99 / 0.95 / 0.85.
"""

from __future__ import annotations

import argparse

import numpy as np

from pixelthink.data.format import Benchmark
from pixelthink.masks import decode_rle, intersection_union
from pixelthink.models import load_segmenter
from pixelthink.rewards import RewardConfig, difficulty_bucket


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--jitter", type=float, default=0.0, help="move each box edge by U(-PX, PX)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    bench = Benchmark(args.bench, split="test", check_images=False)
    rng = np.random.default_rng(args.seed)
    seg = load_segmenter("grabcut")
    cfg = RewardConfig()
    res: dict[str, list[float]] = {}
    for k, s in enumerate(bench):
        if args.limit is not None and k >= args.limit:
            break
        image = np.asarray(bench.load_image(s))
        h, w = image.shape[:2]
        box = np.asarray(s.bbox, float) + rng.uniform(-args.jitter, args.jitter, 4)
        box = np.clip(box, 0, [w - 1, h - 1, w - 1, h - 1])
        seg.set_image(image)
        mask, _ = seg.predict(tuple(box), [tuple(p) for p in s.points])
        i, u = intersection_union(mask, decode_rle(s.mask))
        res.setdefault(difficulty_bucket(s.difficulty, cfg), []).append(i / u)
    for b in ("easy", "medium", "hard"):
        if b in res:
            print(f"{b:7s} n={len(res[b]):3d} gIoU={100 * float(np.mean(res[b])):.1f}")


if __name__ == "__main__":
    main()
