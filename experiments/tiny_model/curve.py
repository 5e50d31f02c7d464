"""Print a run's learning curve: per-minute means of loss / answer loss / coordinate loss (RUN/log.jsonl).

Usage: .venv/bin/python experiments/tiny_model/curve.py runs/tiny_model/RUN [--every 1.0]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--every", type=float, default=1.0, help="bin width in training minutes")
    args = ap.parse_args()
    bins: dict[tuple[int, str], list[dict]] = {}
    with (args.run / "log.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if "step" in r:
                key = (int(r["train_min"] // args.every), r.get("stage", "task"))
                bins.setdefault(key, []).append(r)

    def mean(rs: list[dict], k: str) -> float:
        v = [r[k] for r in rs if k in r and r[k] is not None and not math.isnan(r[k])]
        return sum(v) / len(v) if v else float("nan")

    print("min  stage    steps  s/step  loss    ans_loss  coord_loss")
    for (b, stage), rs in sorted(bins.items()):
        print(
            f"{b * args.every:4.1f} {stage:8s} {rs[-1]['step']:5d}  {mean(rs, 's_step'):.2f}    "
            f"{mean(rs, 'loss'):.3f}   {mean(rs, 'ans_loss'):.3f}     {mean(rs, 'coord_loss'):.3f}"
        )


if __name__ == "__main__":
    main()
