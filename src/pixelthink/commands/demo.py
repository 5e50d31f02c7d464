"""``pixelthink demo``: the main job on the embedded default (what ``make demo`` runs).

Generates a small difficulty-graded shapes benchmark, runs two reasoners through the full
pipeline (reasoner -> GrabCut -> evaluation) and writes the evaluation reports (and the HTML
report when :mod:`pixelthink.report` is available):

* ``oracle``: answers with the benchmark's own short reasoning reference and ground-truth box and
  points. It is an *upper bound* of the segmenter stage, not a model.
* ``tiny-random``: a randomly initialised Qwen2.5-VL of the real architecture, built on the fly, run
  through the same code path as a real checkpoint. It is a *lower bound*: it shows the machinery.

The embedded trained PixelThink model replaces ``tiny-random`` once it is shipped. Every step is
resumable: re-running the demo reuses the benchmark, the model and the predictions already written.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

from pixelthink.cli import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the main job on the embedded default (generated benchmark -> pipeline -> eval -> report)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory")
    parser.add_argument("--samples", type=int, default=48, help="test samples to generate")
    parser.add_argument("--seed", type=int, default=0, help="benchmark seed")
    parser.add_argument("--convention", choices=["lisa", "segzero"], default="lisa")
    parser.set_defaults(func=run_demo)


def _oracle_predictions(bench_dir: Path, out: Path) -> None:
    """Write predictions whose answers are the benchmark's references (segmenter upper bound)."""
    from tqdm import tqdm

    from pixelthink.data import Benchmark
    from pixelthink.frames import FrameTransform
    from pixelthink.masks import encode_rle
    from pixelthink.models.segmenters import load_segmenter
    from pixelthink.predictions import Prediction, PredictionWriter

    bench = Benchmark(bench_dir)
    segmenter = load_segmenter("grabcut")
    with PredictionWriter(out) as writer:
        todo = [s for s in bench if s.id not in writer.done_ids]
        for sample in tqdm(todo, desc="oracle + GrabCut", unit="sample", disable=not todo):
            t0 = time.perf_counter()
            image = bench.load_image(sample)
            t1 = time.perf_counter()
            frame = FrameTransform.for_size(sample.width, sample.height, 840)
            box = [round(v) for v in frame.box_to_model(sample.bbox)]
            pts = [[round(x), round(y)] for x, y in frame.points_to_model(sample.points)]
            think = sample.reasoning_short or ""
            answer = json.dumps({"bbox": box, "points_1": pts[0], "points_2": pts[1]})
            response = f"<think>{think}</think><answer>{answer}</answer>"
            import numpy as np

            segmenter.set_image(np.asarray(image))
            mask, _score = segmenter.predict(sample.bbox, sample.points)
            t2 = time.perf_counter()
            writer.write(
                Prediction(
                    id=sample.id,
                    response=response,
                    mask=encode_rle(mask),
                    bbox=tuple(sample.bbox),
                    points=[tuple(p) for p in sample.points],
                    reasoning_tokens=len(think.split()),
                    answer_tokens=None,
                    uncertainty=None,
                    latency={"load": t1 - t0, "segment": t2 - t1, "total": t2 - t0},
                    error=None,
                    meta={"reasoner": "oracle-reference", "model_size": [840, 840]},
                )
            )


def run_demo(args: argparse.Namespace) -> int:
    from pixelthink.cli import main as cli_main
    from pixelthink.data.shapes import generate_benchmark
    from pixelthink.evaluate import evaluate, format_table
    from pixelthink.models.tiny import build_tiny_qwen2_5_vl

    if args.samples < 1:
        raise CommandError(f"--samples must be >= 1, got {args.samples}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print("pixelthink demo: the embedded trained model is not shipped yet; this run shows the machinery")
    print("with an oracle reasoner (upper bound) and a tiny random Qwen2.5-VL (lower bound).\n")

    bench_dir = out / "bench"
    if not (bench_dir / "samples.jsonl").exists():
        print(f"[1/4] generating {args.samples} test samples -> {bench_dir}")
        generate_benchmark(bench_dir, n_train=0, n_val=0, n_test=args.samples, seed=args.seed)
    else:
        print(f"[1/4] reusing benchmark {bench_dir}")

    runs: dict[str, Path] = {
        "oracle": out / "oracle.preds.jsonl",
        "tiny-random": out / "tiny-random.preds.jsonl",
    }
    print("[2/4] oracle reasoner + GrabCut")
    _oracle_predictions(bench_dir, runs["oracle"])

    model_dir = out / "tiny-random-qwen2_5_vl"
    if not (model_dir / "config.json").exists():
        build_tiny_qwen2_5_vl(model_dir, seed=0)
    print(f"[3/4] tiny random Qwen2.5-VL ({model_dir}) + GrabCut")
    status = cli_main(
        [
            "predict", "--data", str(bench_dir), "--out", str(runs["tiny-random"]),
            "--reasoner", str(model_dir), "--segmenter", "grabcut",
            "--max-new-tokens", "48", "--batch-size", "8", "--resolution", "224",
        ]
    )  # fmt: skip
    if status != 0:
        raise CommandError(f"predict failed with status {status}")

    print(f"[4/4] evaluating ({args.convention} convention)")
    reports = {}
    for name, preds in runs.items():
        report = evaluate(bench_dir, preds, convention=args.convention)
        path = out / f"{name}.eval.json"
        report.save(path)
        reports[name] = path
        print(f"\n== {name} ==")
        print(format_table(report))

    if importlib.util.find_spec("pixelthink.report") is not None:
        from pixelthink.report import build_report

        index = build_report(
            bench_dir,
            runs["oracle"],
            out / "report",
            eval_report=reports["oracle"],
            compare={"tiny-random": (runs["tiny-random"], reports["tiny-random"])},
            title="pixelthink demo (oracle reasoner vs tiny random model)",
        )
        print(f"\nreport: {index}")
    print(f"evaluation JSON: {', '.join(str(p) for p in reports.values())}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0
