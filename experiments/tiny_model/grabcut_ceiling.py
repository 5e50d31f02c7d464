"""GrabCut ceiling: gIoU per bucket when the segmenter gets the *true* box and points (original frame).

Usage: OMP_NUM_THREADS=1 .venv/bin/python experiments/tiny_model/grabcut_ceiling.py runs/tiny_model/shapes224
Prints gIoU (mean per-sample IoU, %) per bucket on the test split, with the lisa convention's
empty-union rule left out (every shapes target has a non-empty mask).
"""

from __future__ import annotations

import sys

import numpy as np

from pixelthink.data.format import Benchmark
from pixelthink.masks import decode_rle, intersection_union
from pixelthink.models import load_segmenter
from pixelthink.rewards import RewardConfig, difficulty_bucket


def main() -> None:
    bench = Benchmark(sys.argv[1], split="test", check_images=False)
    seg = load_segmenter("grabcut")
    cfg = RewardConfig()
    res: dict[str, list[float]] = {}
    for s in bench:
        seg.set_image(np.asarray(bench.load_image(s)))
        mask, _ = seg.predict(tuple(s.bbox), [tuple(p) for p in s.points])
        i, u = intersection_union(mask, decode_rle(s.mask))
        res.setdefault(difficulty_bucket(s.difficulty, cfg), []).append(i / u)
    for b in ("easy", "medium", "hard"):
        print(f"{b:7s} n={len(res[b]):3d} gIoU={100 * float(np.mean(res[b])):.1f}")


if __name__ == "__main__":
    main()
