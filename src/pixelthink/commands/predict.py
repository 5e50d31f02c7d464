"""``pixelthink predict``: run the pipeline over a benchmark and write ``predictions.jsonl``.

Each prediction is written (and flushed) as soon as its batch completes, so the run is resumable: a
re-run with the same ``--out`` skips the ids already written and repairs a truncated last line left by
a crash. ``--shard i/n`` keeps the samples with ``crc32(id) % n == i`` (a split that depends only on the
ids, not on file order or on ``--limit``). A per-sample failure (unreadable image, unparseable answer,
segmenter error) is written as a prediction with ``error`` set; a reasoner failure stops the run.
Run settings go to ``OUT_STEM.run.json`` next to the predictions.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from pixelthink.commands.segment import add_model_arguments, pipeline_from_args
from pixelthink.data.resolve import open_benchmark

logger = logging.getLogger(__name__)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with ``0 <= i < n`` -> ``(i, n)``."""
    try:
        i_text, n_text = text.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"expected i/n with 0 <= i < n, got {text!r}")
    return i, n


def in_shard(sample_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether ``sample_id`` belongs to shard ``(i, n)``: ``crc32(utf-8 id) % n == i`` (all when None)."""
    if shard is None:
        return True
    i, n = shard
    return zlib.crc32(sample_id.encode("utf-8")) % n == i


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="run the pipeline over a benchmark, writing predictions.jsonl (resumable)",
        description="Predict masks for every sample of a benchmark directory. Predictions are written one "
        "line per sample as they complete; re-running resumes where the last run stopped.",
    )
    parser.add_argument("--data", required=True, type=Path, metavar="BENCH", help="benchmark directory")
    parser.add_argument("--out", required=True, type=Path, help="predictions.jsonl to write (or resume)")
    add_model_arguments(parser)
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=8,
        metavar="N",
        help="samples per batch (default: %(default)s)",
    )
    parser.add_argument("--limit", type=_positive, metavar="N", help="only the first N selected samples")
    parser.add_argument("--shard", type=parse_shard, metavar="i/n", help="only shard i of n (by id hash)")
    parser.add_argument("--split", help="only samples of this split (e.g. test); default: all")
    parser.add_argument(
        "--overwrite", action="store_true", help="start over instead of resuming an existing --out"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=handler)


def _settings(args: argparse.Namespace, selected: int) -> dict[str, Any]:
    import numpy

    from pixelthink import __version__

    versions = {"pixelthink": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    for name in ("torch", "transformers", "cv2"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return {
        "data": str(args.data),
        "split": args.split,
        "shard": None if args.shard is None else f"{args.shard[0]}/{args.shard[1]}",
        "limit": args.limit,
        "selected": selected,
        "reasoner": args.reasoner,
        "model": args.model,
        "segmenter": args.segmenter,
        "resolution": "native" if args.resolution is None else args.resolution,
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "device": args.device,
        "versions": versions,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def handler(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pixelthink.predictions import PredictionWriter

    bench = open_benchmark(args.data, split=args.split)
    selected: list[str] = []
    for sample_id in bench.ids():
        if in_shard(sample_id, args.shard):
            selected.append(sample_id)
            if args.limit is not None and len(selected) >= args.limit:
                break
    if not selected:
        where = f" in split {args.split!r}" if args.split else ""
        shard = f" of shard {args.shard[0]}/{args.shard[1]}" if args.shard else ""
        raise ValueError(f"{args.data}: no samples{where}{shard}")
    wanted = set(selected)

    writer = PredictionWriter(args.out, resume=not args.overwrite, overwrite=args.overwrite)
    with writer:
        already = len(wanted & writer.done_ids)
        remaining = len(selected) - already
        if already:
            print(f"resuming {args.out}: {already} of {len(selected)} selected samples already done")
        written = failed = 0
        errors: dict[str, int] = {}
        start = time.perf_counter()
        if remaining:
            pipeline = pipeline_from_args(args, batch_size=args.batch_size)
            bar = tqdm(
                total=len(selected), initial=already, unit="sample", desc="predict", disable=args.no_progress
            )
            batch: list[Any] = []

            def flush() -> None:
                nonlocal written, failed
                # One loader object per image file: consecutive samples on the same image share the
                # segmenter's set_image (the SAM2 embedding).
                loaders: dict[str, Any] = {}
                sources = [loaders.setdefault(s.image, lambda s=s: bench.load_image(s)) for s in batch]
                results = pipeline.run_many(sources, [s.query for s in batch])
                for sample, result in zip(batch, results, strict=True):
                    writer.write(result.to_prediction(sample.id))
                    written += 1
                    if result.error is not None:
                        failed += 1
                        kind = result.error.split(":", 1)[0]
                        errors[kind] = errors.get(kind, 0) + 1
                        logger.debug("sample %s failed: %s", sample.id, result.error)
                    bar.update(1)
                batch.clear()

            for sample in bench:
                if sample.id not in wanted or sample.id in writer.done_ids:
                    continue
                batch.append(sample)
                if len(batch) >= args.batch_size:
                    flush()
            if batch:
                flush()
            bar.close()
        elapsed = time.perf_counter() - start

    settings = _settings(args, len(selected)) | {
        "written": written,
        "failed": failed,
        "seconds": round(elapsed, 3),
    }
    run_file = args.out.with_name(args.out.stem + ".run.json")
    run_file.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    rate = f", {written / elapsed:.2f} samples/s" if written and elapsed > 0 else ""
    print(f"wrote {written} predictions to {args.out} ({failed} failed{rate}); settings in {run_file}")
    if errors:
        print("failures by stage: " + ", ".join(f"{k} {v}" for k, v in sorted(errors.items())))
    return 0
