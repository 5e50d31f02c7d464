"""Paired bootstrap of the box-on-target difference between two runs on the same samples (gate 1).

Usage: .venv/bin/python experiments/tiny_model/paired.py BENCH A.jsonl:B.jsonl [C.jsonl:D.jsonl ...]
Prints A - B in points with its 95 % interval (2,000 resamples of the samples both runs predicted, seed 0).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np

from pixelthink.annotate.difficulty import hits_target
from pixelthink.data.format import Benchmark
from pixelthink.predictions import read_predictions


def hits(bench: Benchmark, path: str) -> dict[str, int]:
    out = {}
    for pred in read_predictions(path):
        size = SimpleNamespace(model_size=tuple(pred.meta["model_size"]))
        out[pred.id] = int(pred.error is None and bool(hits_target(pred.response, bench.get(pred.id), size)))
    return out


def main() -> None:
    bench = Benchmark(sys.argv[1], check_images=False)
    for pair in sys.argv[2:]:
        a, b = pair.split(":")
        ha, hb = hits(bench, a), hits(bench, b)
        ids = sorted(set(ha) & set(hb))
        d = np.array([ha[i] - hb[i] for i in ids], float)
        means = d[np.random.default_rng(0).integers(0, len(d), (2000, len(d)))].mean(1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        print(f"{a} - {b}: {100 * d.mean():+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] n={len(d)}")


if __name__ == "__main__":
    main()
