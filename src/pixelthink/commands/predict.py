"""``pixelthink predict``: run the pipeline over a benchmark and write ``predictions.jsonl``.

Parses the options, builds the pipeline (only when samples are left to predict) and calls
:func:`pixelthink.pipeline.run.run_predictions`, which holds the whole run: sample selection
(``--split``, ``--shard i/n`` by id hash, ``--limit``), resuming (the ids already in ``--out`` are
skipped, a truncated last line repaired), the run file ``OUT_STEM.run.json`` and its settings check
(model settings, :data:`~pixelthink.pipeline.run.MODEL_SETTINGS`, compared on resume; ``--allow-mixed``
to mix them), the loop (``--loop stream``, the default: ``--concurrency`` samples at the reasoner,
segmentation overlapped, GrabCut in ``--seg-workers`` processes; ``--loop sequential``: the former loop,
batch by batch in input order), writing in completion order and the failure counts by stage. A
per-sample failure is written as a prediction with ``error`` set; a reasoner failure stops the run. One
process at a time writes an output: a second ``predict`` on the same file stops with an error (exit 2);
parallel shards need one ``--out`` each.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pixelthink.commands._options import add_model_arguments, non_negative_int, positive_int, prediction_run

if TYPE_CHECKING:
    from pixelthink.pipeline.run import PredictReport


def _seg_workers(text: str) -> int:
    """``--seg-workers``: an integer from 0 to SEG_WORKERS_PER_CORE per usable core."""
    from pixelthink.handoff import SEG_WORKERS_PER_CORE, max_seg_workers

    value = non_negative_int(text)
    limit = max_seg_workers()
    if value > limit:
        raise argparse.ArgumentTypeError(
            f"at most {limit} ({SEG_WORKERS_PER_CORE} per usable CPU core: each is a process with its own "
            f"copy of the segmenter), got {value}"
        )
    return value


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
        default=64,  # pixelthink.pipeline.streaming.DEFAULT_CONCURRENCY (not imported: the CLI starts light)
        metavar="N",
        help="samples at the reasoner at once: requests in flight to a server, the read-ahead that local "
        "batches of --batch-size are formed from by prompt length (default: %(default)s)",
    )
    parser.add_argument(
        "--seg-workers",
        type=_seg_workers,
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


def predict_from_args(
    args: argparse.Namespace, *, say: Callable[[str], None] | None = print
) -> PredictReport:
    """:func:`~pixelthink.pipeline.run.run_predictions` with the options of ``pixelthink predict``."""
    from pixelthink.pipeline.run import MixedSettingsError, run_predictions

    run = prediction_run(args)  # the outputs checked, the benchmark opened, the settings, the pipeline
    try:
        return run_predictions(
            run.benchmark,
            run.pipeline,
            args.out,
            shard=args.shard,
            limit=args.limit,
            settings=run.settings,
            loop=args.loop,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            seg_workers=args.seg_workers,
            overwrite=args.overwrite,
            allow_mixed=args.allow_mixed,
            progress=not args.no_progress,
            source=args.data,
            say=say,
        )
    except MixedSettingsError as exc:
        raise ValueError(
            f"{exc.out}: has {exc.done} predictions made with other settings ({'; '.join(exc.differences)}); "
            "use a new --out, --overwrite to start over, or --allow-mixed"
        ) from None


def handler(args: argparse.Namespace) -> int:
    print(predict_from_args(args).summary())
    return 0
