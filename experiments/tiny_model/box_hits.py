"""Does the predicted box land on the queried shape? Box IoU > 0.5 with the target's box, per
difficulty bucket and per query family (the referring stage's measure in docs/TINY_MODEL.md).

Usage: .venv/bin/python experiments/tiny_model/box_hits.py BENCH PREDICTIONS.jsonl
(predictions from `pixelthink predict`; samples without a prediction are left out, failures count
as misses).
"""

from __future__ import annotations

import collections
import sys

from pixelthink.data.format import Benchmark
from pixelthink.predictions import read_predictions
from pixelthink.rewards import RewardConfig, difficulty_bucket


def box_iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union if union > 0 else 0.0


def main() -> None:
    bench = Benchmark(sys.argv[1], check_images=False)
    cfg = RewardConfig()
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for pred in read_predictions(sys.argv[2]):
        sample = bench.get(pred.id)
        hit = int(pred.bbox is not None and box_iou(list(pred.bbox), list(sample.bbox)) > 0.5)
        family = str((sample.source or {}).get("family", "?"))
        for key in ("all", difficulty_bucket(sample.difficulty, cfg), family):
            counts[key][0] += hit
            counts[key][1] += 1
    order = ["all", "easy", "medium", "hard"]
    for key in order + sorted(k for k in counts if k not in order):
        if key in counts:
            hits, n = counts[key]
            print(f"{key:14s} {hits:4d} / {n:4d} = {100 * hits / n:5.1f} %")


if __name__ == "__main__":
    main()
