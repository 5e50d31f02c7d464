"""Throughput of the core scoring code: rewards per second and evaluation samples per second.

Run: ``.venv/bin/python bench/bench_core.py [--samples N] [--seconds S]``. Prints the machine, then a
table. Evaluation is measured three ways per image size and convention:

* ``rle``: ``intersection_union_rle`` on the COCO RLEs (what ``evaluate`` does for predicted masks);
* ``decode``: ``masks.decode_rle`` of prediction, GT and ignore, then ``intersection_union`` on pixels;
* ``evaluate()``: the whole runner on a benchmark + predictions.jsonl written to a temp directory
  (reading JSONL, parsing responses, judge off).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def machine_info() -> str:
    import pycocotools  # noqa: F401

    from pixelthink import __version__

    try:
        from importlib.metadata import version

        coco = version("pycocotools")
    except Exception as exc:  # pragma: no cover - informational only
        coco = f"? ({exc})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"machine: {platform.system()} {platform.release()} | {cpu} | {affinity} usable cores "
        f"(os.cpu_count={os.cpu_count()})\n"
        f"python {platform.python_version()} | numpy {np.__version__} | pycocotools {coco} | pixelthink {__version__}"
    )


def rate(fn: Callable[[int], None], n_items: int, seconds: float) -> float:
    """Items per second of ``fn(i)`` over indices cycling through ``n_items``, for ~``seconds``."""
    fn(0)  # warm-up
    done = 0
    start = time.perf_counter()
    while True:
        fn(done % n_items)
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and done >= 5:
            return done / elapsed


def blob(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An ellipse covering 2-20 % of the image, bool (h, w)."""
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    ry, rx = rng.uniform(0.1, 0.3) * h, rng.uniform(0.1, 0.3) * w
    yy, xx = np.ogrid[:h, :w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def realistic_responses(n: int, rng: random.Random) -> list[tuple[str, str, float, float]]:
    from pixelthink.rewards import format_ground_truth

    sentence = "the person on the left holding a red umbrella near the bus stop looks at the sign"
    words = sentence.split()
    out = []
    for _ in range(n):
        x1, y1 = rng.randint(0, 600), rng.randint(0, 600)
        x2, y2 = x1 + rng.randint(20, 200), y1 + rng.randint(20, 200)
        think = " ".join(rng.choice(words) for _ in range(rng.randint(10, 300)))
        jx = rng.randint(-15, 15)
        resp = (
            f'<think>{think}</think><answer>{{"bbox": [{x1 + jx},{y1},{x2},{y2 + jx}], '
            f'"points_1": [{x1 + 10},{y1 + 10}], "points_2": [{x2 - 10},{y2 - 10}]}}</answer>'
        )
        gt = format_ground_truth((x1, y1, x2, y2), [(x1 + 12, y1 + 8), (x2 - 9, y2 - 12)])
        out.append((resp, gt, rng.uniform(1, 10), rng.uniform(0, 1)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60, help="distinct samples per size (default: 60)")
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement (default: 1.5)")
    args = parser.parse_args(argv)

    from pixelthink.evaluate.metrics import IoUMetric, intersection_union, intersection_union_rle
    from pixelthink.masks import decode_rle, encode_rle

    print(machine_info())
    rows: list[tuple[str, str, str]] = []

    try:
        from pixelthink.rewards import RewardConfig, accuracy_reward, pixelthink_reward
    except ImportError as exc:
        rows.append(("rewards", f"skipped: {exc}", "-"))
    else:
        data = realistic_responses(200, random.Random(0))
        cfg = RewardConfig()

        def one_reward(i: int) -> None:
            resp, gt, d, u = data[i]
            pixelthink_reward(resp, gt, d, u, cfg)

        def one_accuracy(i: int) -> None:
            accuracy_reward(data[i][0], data[i][1])

        rows.append(
            (
                "pixelthink_reward (10-300 word responses)",
                f"{rate(one_reward, len(data), args.seconds):,.0f}",
                "rewards/s",
            )
        )
        rows.append(("accuracy_reward", f"{rate(one_accuracy, len(data), args.seconds):,.0f}", "rewards/s"))

    from PIL import Image

    from pixelthink.data import BenchmarkWriter
    from pixelthink.evaluate.runner import evaluate
    from pixelthink.predictions import Prediction, PredictionWriter

    for w, h in ((840, 840), (1920, 1080)):
        rng = np.random.default_rng(0)
        items = []
        for _ in range(args.samples):
            gt = blob(h, w, rng)
            pred = np.roll(gt, (int(rng.integers(-20, 20)), int(rng.integers(-20, 20))), axis=(0, 1))
            ign = blob(h, w, rng) & ~gt if rng.random() < 0.4 else None
            items.append((encode_rle(pred), encode_rle(gt), None if ign is None else encode_rle(ign)))
        for convention in ("lisa", "segzero"):
            metric = IoUMetric(convention)

            def rle_path(
                i: int, metric: IoUMetric = metric, convention: str = convention, items=items
            ) -> None:
                p, g, ig = items[i]
                metric.add(*intersection_union_rle(p, g, ig, convention=convention))

            def decode_path(
                i: int, metric: IoUMetric = metric, convention: str = convention, items=items
            ) -> None:
                p, g, ig = items[i]
                metric.add(
                    *intersection_union(
                        decode_rle(p),
                        decode_rle(g),
                        None if ig is None else decode_rle(ig),
                        convention=convention,
                    )
                )

            rows.append(
                (
                    f"eval {w}x{h} {convention}: RLE merge/area",
                    f"{rate(rle_path, len(items), args.seconds):,.0f}",
                    "samples/s",
                )
            )
            rows.append(
                (
                    f"eval {w}x{h} {convention}: decode + numpy",
                    f"{rate(decode_path, len(items), args.seconds):,.0f}",
                    "samples/s",
                )
            )

        with tempfile.TemporaryDirectory() as tmp:
            bench, preds = Path(tmp) / "bench", Path(tmp) / "preds.jsonl"
            image = Image.new("RGB", (w, h))
            with BenchmarkWriter(bench) as bw, PredictionWriter(preds) as pw:
                for i, (p, g, ig) in enumerate(items):
                    bw.add(
                        {
                            "id": f"s{i}",
                            "query": "q",
                            "mask": g,
                            "ignore": ig,
                            "difficulty": 1 + i % 9,
                            "bbox": (0, 0, 1, 1),
                            "points": [(0, 0), (1, 1)],
                        },
                        image,
                        image_name="img.png",
                    )
                    pw.write(
                        Prediction(
                            id=f"s{i}",
                            mask=p,
                            response="<think>a b c</think><answer>{}</answer>",
                            reasoning_tokens=3,
                        )
                    )
            for convention in ("lisa", "segzero"):
                start = time.perf_counter()
                reps = 0
                while True:
                    evaluate(bench, preds, convention=convention, judge="none")
                    reps += 1
                    if time.perf_counter() - start >= args.seconds:
                        break
                per_s = reps * len(items) / (time.perf_counter() - start)
                rows.append(
                    (f"eval {w}x{h} {convention}: evaluate() end to end", f"{per_s:,.0f}", "samples/s")
                )

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement'.ljust(width)}  {'rate':>10}  unit")
    print("-" * (width + 24))
    for name, value, unit in rows:
        print(f"{name.ljust(width)}  {value:>10}  {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
