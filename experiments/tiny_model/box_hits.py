"""Does the predicted box land on the queried shape? The reward's IoU term (box IoU > 0.5 with the
target's box, in the response's frame; ``pixelthink.annotate.difficulty.hits_target``, the passrate
estimator's hit), per difficulty bucket and per query family (the referring stage's measure in
docs/TINY_MODEL.md).

Usage: .venv/bin/python experiments/tiny_model/box_hits.py BENCH PREDICTIONS.jsonl
(predictions from `pixelthink predict`; samples without a prediction are left out, failures count
as misses).
"""

from __future__ import annotations

import collections
import sys
from types import SimpleNamespace

from pixelthink.annotate.difficulty import hits_target
from pixelthink.data.format import Benchmark
from pixelthink.predictions import read_predictions
from pixelthink.rewards import RewardConfig, difficulty_bucket


def main() -> None:
    bench = Benchmark(sys.argv[1], check_images=False)
    cfg = RewardConfig()
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for pred in read_predictions(sys.argv[2]):
        sample = bench.get(pred.id)
        frame = SimpleNamespace(model_size=tuple(pred.meta["model_size"]))  # the frame the response is in
        hit = int(pred.error is None and hits_target(pred.response, sample, frame))
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
