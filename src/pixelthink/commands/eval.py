"""``pixelthink eval --data BENCH --predictions preds.jsonl``: score predictions, per difficulty bucket.

Prints a table (bucket, n, gIoU, cIoU, reasoning length mean/median/p90, fail%, uncertainty, RScore,
SAT, RST, URSS, total latency) titled with the convention, the token convention and the judge; then gIoU and
the box-on-target hit rate with bootstrap 95 % intervals beside the chance level and the oracle (shapes
benchmarks: ``--chance``), per bucket and per query family; the exact faithfulness of grounded mentions
(shapes benchmarks); mean latency per pipeline stage (load, prefill, decode, segment, ... whichever the
predictions report). Writes the full report as JSON with
``--out``. Predictions none of whose ids is in the benchmark (another benchmark, wrong split) are an error
(exit 2), not an all-zero table.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pixelthink.commands._options import check_outputs


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate predictions against a benchmark (gIoU/cIoU per difficulty bucket, efficiency)",
        description="Evaluate a predictions.jsonl against a benchmark directory. Conventions: lisa (ignore "
        "regions excluded, empty union = IoU 1) or segzero (ignore counted as target, failures I=0/U=|GT|, "
        "empty unions dropped). See docs/METRICS.md.",
    )
    parser.add_argument("--data", required=True, metavar="BENCH", help="benchmark directory (samples.jsonl)")
    parser.add_argument("--split", default=None, help="only samples of this split")
    parser.add_argument(
        "--predictions",
        required=True,
        nargs="+",
        metavar="JSONL",
        help="predictions.jsonl; several files (the shards of predict --shard i/n) are merged",
    )
    parser.add_argument(
        "--convention",
        choices=("lisa", "segzero"),
        default="lisa",
        help="gIoU/cIoU convention (default: lisa)",
    )
    parser.add_argument("--out", metavar="JSON", help="write the report (settings, buckets, per-sample) here")
    parser.add_argument(
        "--judge",
        default="rougeL-ref",
        metavar="NAME",
        help="reasoning judge (RScore): rougeL-ref (free, deterministic reference overlap) | "
        "llm:http://HOST:PORT/v1?model=NAME (an LLM judge on an OpenAI-compatible server) | "
        "llm:CHECKPOINT (a local transformers model) | none (default: %(default)s)",
    )
    judge = parser.add_argument_group("LLM judge (--judge llm:...)")
    judge.add_argument("--judge-prompt", metavar="FILE", help="prompt template (default: the shipped rscore)")
    judge.add_argument(
        "--judge-cache",
        metavar="JSONL",
        help="answer cache (default: $PIXELTHINK_CACHE/judges/rscore.MODEL.PROMPT.jsonl); re-runs ask nothing",
    )
    judge.add_argument(
        "--judge-text-only", action="store_true", help="do not send the sample image (text-only judges)"
    )
    judge.add_argument(
        "--judge-retries", type=int, default=2, metavar="N", help="re-asks of an unusable reply (default: 2)"
    )
    judge.add_argument(
        "--judge-concurrency", type=int, default=8, metavar="N", help="requests in flight (default: 8)"
    )
    judge.add_argument(
        "--judge-retry-failed", action="store_true", help="ask again for answers cached as failures"
    )
    parser.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="count reasoning length in this tokenizer's tokens (transformers; conventions auto and wise)",
    )
    parser.add_argument(
        "--tokens",
        choices=("auto", "model", "paper", "wise"),
        default="auto",
        help="reasoning-length convention, stated in the report: auto (--tokenizer tokens of the think text, "
        "else the reasoner's own think tokens, else think words), model (the reasoner's own think tokens), "
        "paper (whitespace words of the whole response, PixelThink's L), wise (--tokenizer tokens of the "
        "think text, add_special_tokens=False, empty thinks left out) (default: %(default)s)",
    )
    parser.add_argument(
        "--response-frame",
        default="auto",
        metavar="auto|original|840|WxH",
        help="frame of boxes in raw responses, used only for predictions without mask and bbox; auto: "
        "the prediction's meta.model_size (written by pixelthink predict), else 840, Seg-Zero's model "
        "frame (default: %(default)s)",
    )
    parser.add_argument(
        "--strict-parse",
        action="store_true",
        help="count responses that Seg-Zero's evaluation extractor rejects as failures",
    )
    parser.add_argument("--t-ref", type=float, default=256.0, help="SAT/RST reference length (default: 256)")
    parser.add_argument("--alpha", type=float, default=0.42, help="SAT/RST length exponent (default: 0.42)")
    parser.add_argument("--gamma", type=float, default=0.7, help="URSS weight of SAT (default: 0.7)")
    parser.add_argument(
        "--tau-medium", type=float, default=None, help="medium threshold (default: RewardConfig)"
    )
    parser.add_argument("--tau-hard", type=float, default=None, help="hard threshold (default: RewardConfig)")
    chance = parser.add_argument_group("chance level, oracle and intervals (docs/METRICS.md)")
    chance.add_argument(
        "--chance",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="shapes benchmarks: the chance level (a random scene shape's exact box and centre) and the "
        "oracle (the true box and points) through the run's segmenter, cached in "
        "BENCH/annotations/chance-SEGMENTER.jsonl (default: on for a weight-free segmenter, grabcut or box)",
    )
    chance.add_argument(
        "--segmenter",
        default=None,
        metavar="SPEC",
        help="segmenter of the chance level and oracle (default: the one in the predictions' run.json, "
        "else grabcut)",
    )
    chance.add_argument(
        "--chance-cache",
        default="auto",
        metavar="JSONL",
        help="their cache (default: BENCH/annotations/chance-SEGMENTER.jsonl; 'none': no cache)",
    )
    chance.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples of the 95 %% intervals of gIoU and hit rate (default: %(default)s)",
    )
    chance.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    parser.add_argument("--no-samples", action="store_true", help="leave per-sample results out of --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=handler)


def _load_tokenizer(path: str) -> Any:
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ValueError(f"--tokenizer needs transformers ({exc})") from None
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise FileNotFoundError(f"--tokenizer {path}: cannot load a tokenizer ({exc})") from None


def _judge(args: argparse.Namespace) -> Any:
    """The judge of ``--judge``, with the ``--judge-*`` options when it is an LLM judge."""
    from pixelthink.evaluate.judges import get_judge

    if not args.judge.startswith("llm"):
        return get_judge(args.judge)
    return get_judge(
        args.judge,
        prompt=args.judge_prompt,
        cache=args.judge_cache,
        image=not args.judge_text_only,
        retries=args.judge_retries,
        concurrency=args.judge_concurrency,
        retry_failed=args.judge_retry_failed,
    )


def handler(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from pixelthink.data.resolve import open_benchmark
    from pixelthink.evaluate.efficiency import EfficiencyConfig
    from pixelthink.evaluate.results import format_table
    from pixelthink.evaluate.runner import evaluate
    from pixelthink.rewards import RewardConfig

    check_outputs({"--data": args.data, "--predictions": args.predictions}, {"--out": args.out})
    config = RewardConfig()
    if args.tau_medium is not None:
        config = replace(config, tau_medium=args.tau_medium)
    if args.tau_hard is not None:
        config = replace(config, tau_hard=args.tau_hard)
    if config.tau_medium > config.tau_hard:
        raise ValueError(f"--tau-medium {config.tau_medium} must not exceed --tau-hard {config.tau_hard}")
    efficiency = EfficiencyConfig(t_ref=args.t_ref, alpha=args.alpha, gamma=args.gamma)
    if args.bootstrap < 1:
        raise ValueError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    if args.segmenter is not None:
        from pixelthink.models.registry import SEGMENTERS

        try:
            SEGMENTERS.resolve(args.segmenter)
        except ValueError as exc:
            raise ValueError(f"--segmenter: {exc}") from None
    tokenizer = _load_tokenizer(args.tokenizer) if args.tokenizer else None
    if args.tokens == "wise" and tokenizer is None:
        raise ValueError(
            "--tokens wise counts tokenizer tokens: give --tokenizer PATH (WISE uses Qwen2.5-VL-7B's)"
        )
    judge = _judge(args)
    report = evaluate(
        open_benchmark(args.data, split=args.split),
        args.predictions[0] if len(args.predictions) == 1 else args.predictions,
        convention=args.convention,
        config=config,
        tokenizer=tokenizer,
        judge=judge,
        response_frame=args.response_frame,
        strict_parse=args.strict_parse,
        efficiency=efficiency,
        progress=not args.no_progress and sys.stderr.isatty(),
        keep_samples=not args.no_samples,
        tokens=args.tokens,
        chance=args.chance,
        segmenter=args.segmenter,
        chance_cache=None if args.chance_cache.lower() == "none" else args.chance_cache,
        n_resamples=args.bootstrap,
        seed=args.seed,
    )
    close = getattr(judge, "close", None)
    if callable(close):
        close()
    print(format_table(report))
    if args.out:
        path = report.save(args.out, include_samples=not args.no_samples)
        print(f"report written to {path}")
    return 0
