"""``pixelthink predict``: run the pipeline over a benchmark and write ``predictions.jsonl``.

The samples stream through :func:`pixelthink.streaming.stream_predictions` (``--concurrency`` of them at
the reasoner, segmentation overlapped with generation, GrabCut in ``--seg-workers`` processes); each
prediction is written (and flushed) as soon as it completes, in completion order, so the run is resumable: a
re-run with the same ``--out`` skips the ids already written and repairs a truncated last line left by
a crash. ``--loop sequential`` runs :func:`pixelthink.streaming.sequential_predictions` instead (the former
loop: one batch generated, then segmented, then written, in benchmark order). ``--shard i/n`` keeps the samples with ``crc32(id) % n == i`` (a split that depends only on the
ids, not on file order or on ``--limit``). A per-sample failure (unreadable image, unparseable answer,
segmenter error) is written as a prediction with ``error`` set; a reasoner failure stops the run.
One process at a time writes an output: the writer holds an exclusive lock on ``--out`` for the whole
run, and a second ``predict`` on the same file stops with an error (exit 2); parallel shards need one
``--out`` each. Run settings go to ``OUT_STEM.run.json`` next to the predictions (written when the run starts, updated
when it ends). Resuming compares the model settings (:data:`MODEL_SETTINGS`: reasoner, model,
segmenter, resolution, answer frame, max new tokens) with that file and refuses to mix predictions made
with different ones unless ``--allow-mixed`` is given (then run.json lists every setting used in
``mixed_settings``). The sample selection (``--split``, ``--shard``, ``--limit``) may change between runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any

from pixelthink.commands._options import (
    add_model_arguments,
    baseline_settings,
    check_outputs,
    non_negative_int,
    pipeline_from_args,
    positive_int,
)
from pixelthink.data.format import select_ids
from pixelthink.data.resolve import open_benchmark
from pixelthink.handoff import usable_cores
from pixelthink.jsonio import atomic_write_text

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


#: run.json keys that change what a prediction is, with the option that sets each
MODEL_SETTINGS: dict[str, str] = {
    "reasoner": "--reasoner",
    "model": "--model",
    "segmenter": "--segmenter",
    "resolution": "--resolution",
    "answer_frame": "--answer-frame",
    "max_new_tokens": "--max-new-tokens",
    "max_think_tokens": "--max-think-tokens",
    "think_budget_via": "--think-budget-via",
    "prompt_preset": "--prompt-preset",
    "prompt_suffix": "--prompt-suffix",
}


def _model_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The :data:`MODEL_SETTINGS` part of a run.json mapping, JSON-normalised (tuples -> lists)."""
    return json.loads(json.dumps({k: settings[k] for k in MODEL_SETTINGS if k in settings}))


def settings_differences(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``["--max-new-tokens 8 (was 1024)", ...]`` for the model settings that differ.

    A key missing from ``previous`` (a run.json written by an older version) is not compared.
    """
    old, new = _model_settings(previous), _model_settings(current)
    return [
        f"{flag} {json.dumps(new.get(key))} (was {json.dumps(old[key])})"
        for key, flag in MODEL_SETTINGS.items()
        if key in old and old[key] != new.get(key)
    ]


def _read_run_file(run_file: Path) -> dict[str, Any] | None:
    """The previous run.json, or None (with a warning) when it is missing or unreadable."""
    if not run_file.is_file():
        logger.warning("%s not found: cannot check that the resumed run uses the same settings", run_file)
        return None
    try:
        data = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("%s: unreadable (%s): cannot check the resumed run's settings", run_file, exc)
        return None
    if not isinstance(data, dict):
        logger.warning("%s: not a JSON object: cannot check the resumed run's settings", run_file)
        return None
    return data


def seg_workers(requested: int | None, segmenter: object) -> int:
    """Segmentation processes: ``requested``, or one per usable core for a process-safe segmenter
    (GrabCut); 0 (the segmentation thread) for the others."""
    if not getattr(segmenter, "process_safe", False):
        return 0
    return usable_cores() if requested is None else requested


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
        type=positive_int,
        default=8,
        metavar="N",
        help="samples per generate call of a local model (default: %(default)s); with --loop sequential, "
        "also the requests in flight to a server",
    )
    parser.add_argument(
        "--loop",
        choices=["stream", "sequential"],
        default="stream",
        help="stream (default): keep --concurrency samples at the reasoner and segment while it generates, "
        "writing predictions as they complete; sequential: the former loop, batch by batch in input order "
        "(a reference: same predictions, slower)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=64,  # pixelthink.streaming.DEFAULT_CONCURRENCY (not imported: the CLI starts light)
        metavar="N",
        help="samples at the reasoner at once: requests in flight to a server, the read-ahead that local "
        "batches of --batch-size are formed from by prompt length (default: %(default)s)",
    )
    parser.add_argument(
        "--seg-workers",
        type=non_negative_int,
        metavar="N",
        help="processes running GrabCut in parallel (default: one per CPU core this process may use; "
        "0 = in the segmentation thread); SAM-family segmenters and box segment in one thread",
    )
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the first N selected samples")
    parser.add_argument("--shard", type=parse_shard, metavar="i/n", help="only shard i of n (by id hash)")
    parser.add_argument("--split", help="only samples of this split (e.g. test); default: all")
    parser.add_argument(
        "--overwrite", action="store_true", help="start over instead of resuming an existing --out"
    )
    parser.add_argument(
        "--allow-mixed",
        action="store_true",
        help="resume an existing --out even if it was made with other model settings (--reasoner, --model, "
        "--segmenter, --resolution, --answer-frame, --max-new-tokens, --max-think-tokens, --think-budget-via, "
        "--prompt-preset, --prompt-suffix); run.json then lists all of them",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=handler)


def _versions() -> dict[str, str]:
    """Versions of pixelthink, Python, numpy and the model libraries imported so far."""
    import numpy

    from pixelthink import __version__

    versions = {"pixelthink": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    for name in ("torch", "transformers", "cv2"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return versions


def _settings(args: argparse.Namespace, selected: int) -> dict[str, Any]:
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
        "answer_frame": args.answer_frame,
        "max_new_tokens": args.max_new_tokens,
        **baseline_settings(args),
        "max_query_chars": args.max_query_chars,
        "max_pixels": args.max_pixels,
        "batch_size": args.batch_size,
        "loop": args.loop,
        "concurrency": args.concurrency if args.loop == "stream" else None,
        "seg_workers": args.seg_workers,
        "device": args.device,
        "versions": _versions(),
    }


def handler(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pixelthink.predictions import PredictionWriter
    from pixelthink.streaming import StreamItem, sequential_predictions, stream_predictions

    run_file = args.out.with_name(args.out.stem + ".run.json")
    check_outputs({"--data": args.data}, {"--out": args.out, "--out's run file": run_file})
    bench = open_benchmark(args.data, split=args.split)
    selected = select_ids(bench, shard=args.shard, limit=args.limit)
    if not selected:
        where = f" in split {args.split!r}" if args.split else ""
        shard = f" of shard {args.shard[0]}/{args.shard[1]}" if args.shard else ""
        raise ValueError(f"{args.data}: no samples{where}{shard}")
    wanted = set(selected)

    from pixelthink.models.reasoners import resolve_resolution

    args.resolution = resolve_resolution(args.reasoner, args.resolution)  # "auto" -> the number used
    settings = _settings(args, len(selected))
    writer = PredictionWriter(args.out, resume=not args.overwrite, overwrite=args.overwrite)
    with writer:
        if writer.done_ids:
            previous = _read_run_file(run_file)
            if previous is not None:
                diffs = settings_differences(previous, settings)
                mixed = [m for m in previous.get("mixed_settings") or [] if isinstance(m, dict)]
                if diffs and not args.allow_mixed:
                    raise ValueError(
                        f"{args.out}: has {len(writer.done_ids)} predictions made with other settings "
                        f"({'; '.join(diffs)}); use a new --out, --overwrite to start over, or --allow-mixed"
                    )
                if diffs or mixed:
                    seen = mixed or [_model_settings(previous)]
                    if _model_settings(settings) not in seen:
                        seen.append(_model_settings(settings))
                    settings["mixed_settings"] = seen
                if diffs:
                    logger.warning("%s: mixing settings (--allow-mixed): %s", args.out, "; ".join(diffs))
        # written now so that an interrupted run can be resumed with its settings checked
        atomic_write_text(
            run_file,
            json.dumps(settings | {"finished": None, "written": 0, "failed": 0, "seconds": None}, indent=2)
            + "\n",
        )
        already = len(wanted & writer.done_ids)
        remaining = len(selected) - already
        if already:
            print(f"resuming {args.out}: {already} of {len(selected)} selected samples already done")
        written = failed = 0
        errors: dict[str, int] = {}
        start = time.perf_counter()
        if remaining:
            pipeline = pipeline_from_args(args, batch_size=args.batch_size)
            todo = wanted - writer.done_ids  # a snapshot: the writer adds ids while samples are read
            bar = tqdm(
                total=len(selected), initial=already, unit="sample", desc="predict", disable=args.no_progress
            )
            items = (
                StreamItem(
                    key=sample.id,
                    image_key=sample.image,
                    source=lambda s=sample: bench.load_image(s, max_pixels=args.max_pixels),
                    query=sample.query,
                )
                for sample in bench
                if sample.id in todo
            )
            if args.loop == "sequential":
                results = sequential_predictions(pipeline, items, batch_size=args.batch_size)
            else:
                results = stream_predictions(
                    pipeline,
                    items,
                    concurrency=args.concurrency,
                    seg_workers=seg_workers(args.seg_workers, pipeline.segmenter),
                )
            for sample_id, result in results:
                writer.write(result.to_prediction(sample_id))
                written += 1
                if result.error is not None:
                    failed += 1
                    kind = result.error.split(":", 1)[0]
                    errors[kind] = errors.get(kind, 0) + 1
                    logger.debug("sample %s failed: %s", sample_id, result.error)
                bar.update(1)
            bar.close()
        elapsed = time.perf_counter() - start
        settings |= {
            "versions": _versions(),  # torch / transformers are imported by now if the run used them
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "written": written,
            "failed": failed,
            "seconds": round(elapsed, 3),
        }
        atomic_write_text(run_file, json.dumps(settings, indent=2) + "\n")  # still under the lock
    rate = f", {written / elapsed:.2f} samples/s" if written and elapsed > 0 else ""
    print(f"wrote {written} predictions to {args.out} ({failed} failed{rate}); settings in {run_file}")
    if errors:
        print("failures by stage: " + ", ".join(f"{k} {v}" for k, v in sorted(errors.items())))
    return 0
