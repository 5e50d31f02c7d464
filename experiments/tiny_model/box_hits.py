"""Does the predicted box land on the queried shape? The reward's IoU term (box IoU > 0.5 with the
target's box, in the response's frame; ``pixelthink.annotate.difficulty.hits_target``, the passrate
estimator's hit), per difficulty bucket and per query family (the referring stage's measure in
docs/TINY_MODEL.md). With grounded reasoning (docs/SHAPES.md), also the exact faithfulness of the
chains (``evaluate.shapes.sample_faithfulness``, as ``pixelthink eval`` reports it): the share of mentioned boxes that are real shapes of
the named colour and kind, and how often the last mention is the target. The chance column is the hit
rate of a uniformly random scene shape (1 / number of shapes).

Usage: .venv/bin/python experiments/tiny_model/box_hits.py BENCH PREDICTIONS.jsonl
(predictions from `pixelthink predict`; samples without a prediction are left out, failures count
as misses).
"""

from __future__ import annotations

import collections
import sys
from types import SimpleNamespace

from pixelthink.annotate.difficulty import hits_target
from pixelthink.answer import extract_think
from pixelthink.data.format import Benchmark
from pixelthink.evaluate.shapes import sample_faithfulness
from pixelthink.frames import FrameTransform
from pixelthink.predictions import read_predictions
from pixelthink.rewards import RewardConfig, difficulty_bucket


def main() -> None:
    bench = Benchmark(sys.argv[1], check_images=False)
    cfg = RewardConfig()
    # per key: hits, n, chance, mentions, real, last-is-target, samples with a mention
    counts: dict[str, list[float]] = collections.defaultdict(lambda: [0.0] * 7)
    for pred in read_predictions(sys.argv[2]):
        sample = bench.get(pred.id)
        model_size = tuple(pred.meta["model_size"])
        frame = SimpleNamespace(model_size=model_size)  # the frame the response is in
        hit = int(pred.error is None and hits_target(pred.response, sample, frame))
        source = sample.source or {}
        family = str(source.get("family", "?"))
        shapes = source.get("shapes") or []
        frame_t = FrameTransform.for_size(sample.width, sample.height, model_size)
        f = sample_faithfulness(sample, extract_think(pred.response or "") or "", frame_t)
        for key in ("all", difficulty_bucket(sample.difficulty, cfg), family):
            c = counts[key]
            c[0] += hit
            c[1] += 1
            c[2] += 1 / max(1, len(shapes))
            c[3] += f["mentions"]
            c[4] += f["real"]
            c[5] += bool(f.get("last_is_target"))
            c[6] += f["mentions"] > 0
    order = ["all", "easy", "medium", "hard"]
    print(f"{'':14s} {'box on target':>22s} {'chance':>7s} {'real mentions':>14s} {'last = target':>14s}")
    for key in order + sorted(k for k in counts if k not in order):
        if key in counts:
            hits, n, chance, mentions, real, last, with_m = counts[key]
            real_pct = f"{100 * real / mentions:5.1f} %" if mentions else "     -"
            last_pct = f"{100 * last / with_m:5.1f} %" if with_m else "     -"
            print(
                f"{key:14s} {int(hits):4d} / {int(n):4d} = {100 * hits / n:5.1f} % {100 * chance / n:5.1f}"
                f" {real_pct:>14s} {last_pct:>14s}"
            )


if __name__ == "__main__":
    main()
