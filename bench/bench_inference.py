"""Inference cost on this machine (a script, not a test): prints a Markdown table.

Measures
1. the whole pipeline (tiny random Qwen2.5-VL + tiny SAM2 / GrabCut) on CPU: samples/s and mean
   per-stage latency per sample;
2. GrabCut per image at 512x512 and 840x840 (synthetic scene, box + 2 points);
3. a full-size SAM2.1-hiera-tiny-like ``Sam2Model`` (transformers defaults, random weights, 1024 input):
   ``set_image`` (image encoder) and ``predict`` (prompt encoder + mask decoder + upsampling).

Usage: ``.venv/bin/python bench/bench_inference.py [--samples 16] [--repeats 3] [--skip-full-sam2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def scene(width: int, height: int, seed: int = 0) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Noisy background with a bright ellipse; returns (RGB uint8 (H, W, 3), its box in pixels)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    cx, cy, rx, ry = width * 0.55, height * 0.5, width * 0.2, height * 0.25
    obj = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    image = rng.normal(60, 15, (height, width, 3))
    image[obj] = rng.normal([200, 90, 50], 15, (int(obj.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8), (cx - rx, cy - ry, cx + rx, cy + ry)


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_pipeline(root: Path, segmenter: str, samples: int, batch_size: int) -> dict[str, float]:
    from pixelthink.pipeline import STAGES, Pipeline

    pipe = Pipeline.from_specs(
        str(root / "qwen"),
        segmenter,
        resolution=224,
        reasoner_options={"max_new_tokens": 32, "device": "cpu", "batch_size": batch_size},
        segmenter_options={"device": "cpu"} if segmenter.startswith("sam2:") else {},
    )
    images = [Image.fromarray(scene(320, 240, seed=i)[0]) for i in range(samples)]
    queries = [f"the red thing number {i}" for i in range(samples)]
    pipe.run_many(images[:batch_size], queries[:batch_size])  # warm-up
    start = time.perf_counter()
    results = []
    for i in range(0, samples, batch_size):
        results += pipe.run_many(images[i : i + batch_size], queries[i : i + batch_size])
    wall = time.perf_counter() - start
    row = {"samples/s": samples / wall}
    for stage in STAGES:
        row[stage] = statistics.mean(r.timings.get(stage, 0.0) for r in results)
    row["tokens"] = statistics.mean((r.reasoning_tokens or 0) + (r.answer_tokens or 0) for r in results)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-full-sam2", action="store_true")
    args = parser.parse_args()

    import torch

    from pixelthink.miniature.model import build_tiny_qwen2_5_vl, build_tiny_sam2
    from pixelthink.models.sam import Sam2Segmenter
    from pixelthink.models.segmenters import GrabCutSegmenter

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tiny_qwen2_5_vl(root / "qwen")
        build_tiny_sam2(root / "sam2", image_size=256)

        print("\n## Pipeline, tiny random models, CPU (resolution 224, 32 new tokens, 320x240 images)\n")
        stages = ["load", "preprocess", "prefill", "decode", "parse", "segment", "total"]
        print("| segmenter | samples/s | " + " | ".join(f"{s} ms" for s in stages) + " | tokens |")
        print("|---" * (len(stages) + 3) + "|")
        for seg in (f"sam2:{root / 'sam2'}", "grabcut"):
            row = bench_pipeline(root, seg, args.samples, args.batch_size)
            name = "tiny SAM2 (256 input)" if seg.startswith("sam2") else "GrabCut"
            cells = " | ".join(f"{1000 * row[s]:.1f}" for s in stages)
            print(f"| {name} | {row['samples/s']:.2f} | {cells} | {row['tokens']:.0f} |")

        print("\n(random weights answer noise, so the pipeline's segment stage mostly has nothing to do;")
        print("the segmenters' own cost is below)")
        print("\n## Segmenters per image (median of repeats)\n")
        print("| segmenter | image | set_image ms | predict ms | total ms |")
        print("|---|---|---|---|---|")
        grabcut = GrabCutSegmenter()
        for side in (512, 840):
            image, box = scene(side, side)
            pts = [((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)]
            set_t = timed(lambda image=image: grabcut.set_image(image), args.repeats)
            pred_t = timed(lambda box=box, pts=pts: grabcut.predict(box, pts), args.repeats)
            print(f"| GrabCut (5 iterations) | {side}x{side} | {1000 * set_t:.1f} | {1000 * pred_t:.1f} | "
                  f"{1000 * (set_t + pred_t):.1f} |")  # fmt: skip

        tiny_sam2 = Sam2Segmenter.from_pretrained(root / "sam2", device="cpu")
        image, box = scene(512, 512)
        pts = [((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)]
        set_t = timed(lambda: tiny_sam2.set_image(image), args.repeats)
        pred_t = timed(lambda: tiny_sam2.predict(box, pts), args.repeats)
        print(f"| tiny SAM2, random (256 input) | 512x512 | {1000 * set_t:.1f} | {1000 * pred_t:.1f} | "
              f"{1000 * (set_t + pred_t):.1f} |")  # fmt: skip

        if not args.skip_full_sam2:
            from transformers import Sam2Config, Sam2Model

            torch.manual_seed(0)
            model = Sam2Model(Sam2Config()).eval()  # defaults = SAM2.1 hiera-tiny layout, 1024 input
            params = sum(p.numel() for p in model.parameters()) / 1e6
            seg = Sam2Segmenter(model, input_size=(1024, 1024))
            for w, h in ((640, 480), (1024, 1024)):
                image, box = scene(w, h)
                pts = [((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), (box[0] + 10, (box[1] + box[3]) / 2)]
                set_t = timed(lambda image=image: seg.set_image(image), args.repeats)
                pred_t = timed(lambda box=box, pts=pts: seg.predict(box, pts), args.repeats)
                many_t = timed(lambda box=box, pts=pts: seg.predict_many([(box, pts)] * 8), args.repeats)
                print(f"| SAM2.1-tiny-like, random ({params:.1f}M params, 1024 input) | {w}x{h} | "
                      f"{1000 * set_t:.0f} | {1000 * pred_t:.1f} (8 prompts batched: {1000 * many_t:.1f}) | "
                      f"{1000 * (set_t + pred_t):.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
