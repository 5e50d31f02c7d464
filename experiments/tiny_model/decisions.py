"""Which shape did the answer decide on, and did its box follow (FINDINGS round 17)?

For every prediction, the *decision* is the name of the target the answer wrote last (the text after the
last ``target: `` of the chain, boxes removed; the whole think block for name-only answers), compared with
the reference's target name (same words, boxes removed). Per query family: how many decisions are right,
and how many of those and of the wrong ones put the box on the target (the reward's IoU term, as
``box_hits.py``). A name can be right and the box wrong where the scene has two shapes of that name.

Usage: .venv/bin/python experiments/tiny_model/decisions.py BENCH PREDICTIONS.jsonl
"""

from __future__ import annotations

import collections
import re
import sys
from types import SimpleNamespace

from pixelthink.annotate.difficulty import hits_target
from pixelthink.answer import extract_think
from pixelthink.data.format import Benchmark
from pixelthink.predictions import read_predictions

BOX = re.compile(r"\s*\[\d+, \d+, \d+, \d+\]")


def decision(think: str) -> str:
    """The target's name the text decides on: after the last ``target: ``, without boxes."""
    return BOX.sub("", think.rsplit("target: ", 1)[-1]).strip()


def main() -> None:
    bench = Benchmark(sys.argv[1], check_images=False)
    counts: collections.Counter[tuple[str, bool, bool]] = collections.Counter()
    for pred in read_predictions(sys.argv[2]):
        sample = bench.get(pred.id)
        family = str((sample.source or {}).get("family", "?"))
        right = decision(extract_think(pred.response or "") or "") == decision(sample.reasoning_short or "")
        size = SimpleNamespace(model_size=tuple(pred.meta["model_size"]))
        hit = pred.error is None and hits_target(pred.response, sample, size)
        for key in (family, "all"):
            counts[key, right, bool(hit)] += 1
    print(f"{'family':12s} {'decision right':>16s} {'box hits':>9s} {'decision wrong':>15s} {'box hits':>9s}")
    for family in sorted({k[0] for k in counts}, key=lambda f: (f != "all", f)):
        rh, rm, wh, wm = (counts[family, r, h] for r in (True, False) for h in (True, False))
        n = rh + rm + wh + wm
        print(
            f"{family:12s} {rh + rm:5d}/{n:3d} = {100 * (rh + rm) / n:5.1f} % {rh:9d} {wh + wm:15d} {wh:9d}"
        )


if __name__ == "__main__":
    main()
