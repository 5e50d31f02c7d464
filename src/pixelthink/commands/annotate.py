"""``pixelthink annotate``: ReasonSeg-Diff-style annotations for any benchmark (docs/ANNOTATE.md).

Sub-commands::

    pixelthink annotate difficulty BENCH --method judge --judge URL_OR_PATH [--model NAME] [--votes K]
    pixelthink annotate difficulty BENCH --method heuristic
    pixelthink annotate difficulty BENCH --method passrate --reasoner URL_OR_PATH [--votes K]
    pixelthink annotate references BENCH --judge URL_OR_PATH [--model NAME] [--short-words N] [--long-words N]
    pixelthink annotate agreement SOURCE_A SOURCE_B [--json]

``difficulty`` and ``references`` are resumable (a JSONL cache per job in ``BENCH/annotations``; re-running
continues, a crash loses at most the batch in flight), take ``--limit N`` and ``--shard i/n``, and, unless
``--no-apply`` or ``--shard`` is given, write their results into ``samples.jsonl`` and ``meta.json`` at the
end (after sharded runs, run the same command without ``--shard``: it annotates what is left and applies).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pixelthink.commands._options import (
    check_outputs,
    non_negative_int,
    parse_resolution,
    positive_float,
    positive_int,
)
from pixelthink.commands.predict import parse_shard


def _judge_frame(value: Any) -> int | tuple[int, int] | None:
    return 840 if value == "auto" else value


# ---------------------------------------------------------------------------------------- arguments


def _add_job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bench", metavar="BENCH", help="benchmark directory (pixelthink format)")
    parser.add_argument("--split", help="only samples of this split")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the first N selected samples")
    parser.add_argument("--shard", type=parse_shard, metavar="i/n", help="only shard i of n (by id hash)")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=16,
        metavar="N",
        help="samples per batch (default: %(default)s)",
    )
    parser.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: BENCH/annotations)")
    parser.add_argument(
        "--retry-failed", action="store_true", help="ask again for samples cached as failures"
    )
    parser.add_argument(
        "--no-apply", action="store_true", help="only fill the cache; do not write into samples.jsonl"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_judge_arguments(parser: argparse.ArgumentParser, *, required: bool, max_new_tokens: str) -> None:
    group = parser.add_argument_group("judge")
    group.add_argument(
        "--judge",
        required=required,
        metavar="URL_OR_PATH",
        help="the MLLM judge: http(s)://HOST:PORT/v1[?model=NAME] (vLLM, SGLang, pixelthink serve, ...) "
        "or a local checkpoint directory (transformers)",
    )
    group.add_argument("--model", metavar="NAME", help="the judge's model name on the server")
    group.add_argument("--prompt", metavar="FILE", help="prompt template YAML (default: the shipped one)")
    group.add_argument(
        "--resolution",
        type=parse_resolution,
        default=840,
        metavar="840|WxH|native",
        help="the frame the judge's image is resized to (default: %(default)s)",
    )
    group.add_argument(
        "--show-target",
        choices=("both", "overlay", "box", "none"),
        default="both",
        help="how the target is drawn for the judge (default: %(default)s)",
    )
    group.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"reply length (default: {max_new_tokens})",
    )
    group.add_argument(
        "--concurrency", type=positive_int, default=8, metavar="N", help="requests in flight (default: 8)"
    )
    group.add_argument(
        "--timeout", type=positive_float, default=300.0, metavar="S", help="seconds per request (> 0)"
    )
    group.add_argument(
        "--api-key",
        default=os.environ.get("OPENAI_API_KEY"),
        help="server API key (default: $OPENAI_API_KEY)",
    )
    group.add_argument("--device", default="auto", help="torch device for a local judge / reasoner")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "annotate",
        help="difficulty and reference reasoning for a benchmark (MLLM judge, heuristic, pass rate)",
        description="ReasonSeg-Diff-style annotations: difficulty 1-10 (an MLLM judge, a free heuristic, or "
        "a model's pass rate), short and long reference reasoning, and agreement between difficulty sources. "
        "See docs/ANNOTATE.md.",
    )
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    sub = parser.add_subparsers(dest="annotate_command", metavar="SUBCOMMAND")

    diff = sub.add_parser(
        "difficulty",
        help="rate every sample 1-10 (resumable; --method judge | heuristic | passrate)",
        description="Difficulty 1-10 per sample, written into samples.jsonl (and --export FILE.json, the "
        "authors' format). judge: an MLLM rates scene complexity, segmentation challenge, linguistic "
        "ambiguity and overall; heuristic: a formula over mask, query and image (no model); passrate: "
        "1 + 9 * (1 - fraction of --votes sampled answers of --reasoner that hit the target).",
    )
    _add_job_arguments(diff)
    diff.add_argument("--method", choices=("judge", "heuristic", "passrate"), default="judge")
    _add_judge_arguments(diff, required=False, max_new_tokens="256 for judge, 1024 for passrate")
    diff.add_argument(
        "--votes",
        type=positive_int,
        default=None,
        metavar="K",
        help="answers per sample (default: 1 for judge, 8 for passrate)",
    )
    diff.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="sampling temperature (default: 0 for one judge vote, 0.7 for several; 1.0 for passrate)",
    )
    diff.add_argument("--aggregate", choices=("mean", "median"), default="mean", help="of the judge's votes")
    diff.add_argument(
        "--retries",
        type=non_negative_int,
        default=2,
        metavar="N",
        help="re-asks of a reply that does not parse (default: 2)",
    )
    diff.add_argument(
        "--reasoner", metavar="URL_OR_PATH", help="passrate: the reasoning model (checkpoint or server URL)"
    )
    diff.add_argument(
        "--reasoner-resolution",
        type=parse_resolution,
        default="auto",
        metavar="auto|840|WxH|native",
        help="passrate: the reasoner's frame (default: auto, its training resolution, else 840)",
    )
    diff.add_argument("--no-image", action="store_true", help="heuristic: leave out the image clutter term")
    diff.add_argument(
        "--calibrate",
        metavar="SOURCE",
        help="before writing, map the scores onto the distribution of SOURCE's difficulties (quantile "
        "matching, ranks kept): a benchmark, a difficulty .json or annotation cache .jsonl (e.g. a few "
        "hundred judge ratings); the cache keeps the raw scores",
    )
    diff.add_argument(
        "--export", metavar="FILE.json", help='also write [{"image_id", "difficulty_score_model"}]'
    )
    diff.set_defaults(func=_difficulty)

    refs = sub.add_parser(
        "references",
        help="short and long reference reasoning from an MLLM (kept only when its answer hits the target)",
        description="Reference reasoning chains (reasoning_short, reasoning_long) per sample. A chain is kept "
        "when the judge's own answer hits the target (box IoU > 0.5) and its length is within "
        "--length-tolerance of the target, else it is asked again (--retries).",
    )
    _add_job_arguments(refs)
    _add_judge_arguments(refs, required=True, max_new_tokens="1024")
    refs.add_argument("--short-words", type=positive_int, default=25, metavar="N", help="default: 25")
    refs.add_argument("--long-words", type=positive_int, default=100, metavar="N", help="default: 100")
    refs.add_argument(
        "--length-tolerance",
        type=float,
        default=2.0,
        metavar="F",
        help="accept chains of words/F .. words*F (default: 2)",
    )
    refs.add_argument("--retries", type=non_negative_int, default=3, metavar="N", help="default: 3")
    refs.add_argument("--temperature", type=float, default=0.7, help="default: 0.7 (retries differ)")
    refs.set_defaults(func=_references)

    agr = sub.add_parser(
        "agreement",
        help="Spearman / Kendall and bucket agreement between two difficulty sources",
        description="Compare two difficulty sources on the samples both rate. A source is a benchmark "
        "directory (its difficulty field), a difficulty .json file, or annotation cache .jsonl file(s) "
        "(comma-separated shards).",
    )
    agr.add_argument("a", metavar="SOURCE_A")
    agr.add_argument("b", metavar="SOURCE_B")
    agr.add_argument("--tau-medium", type=float, default=None, help="medium threshold (default: 3.5)")
    agr.add_argument("--tau-hard", type=float, default=None, help="hard threshold (default: 5.0)")
    agr.add_argument("--json", action="store_true", help="print JSON")
    agr.set_defaults(func=_agreement)


# ---------------------------------------------------------------------------------------- handlers


def _open_bench(args: argparse.Namespace) -> Any:
    from pixelthink.data.format import Benchmark
    from pixelthink.data.resolve import detect_layout

    if detect_layout(args.bench) != "pixelthink":
        raise ValueError(
            f"{args.bench}: not a pixelthink benchmark directory; import it first (e.g. pixelthink data import "
            f"lisa {args.bench} --out BENCH), then annotate BENCH"
        )
    return Benchmark(args.bench, split=args.split)


def _api_key(args: argparse.Namespace) -> str | None:
    return args.api_key or os.environ.get("OPENAI_API_KEY") or None


def _chat(args: argparse.Namespace) -> tuple[Any, str, str]:
    from pixelthink.models.registry import load_chat_model

    return load_chat_model(
        args.judge,
        model=args.model,
        max_new_tokens=args.max_new_tokens,
        concurrency=args.concurrency,
        timeout=args.timeout,
        api_key=_api_key(args),
        device=args.device,
        batch_size=args.batch_size,
    )


def _passrate_annotator(args: argparse.Namespace, votes: int) -> Any:
    from pixelthink.annotate import PassrateDifficulty
    from pixelthink.models.reasoners import parse_openai_spec, resolve_resolution
    from pixelthink.models.registry import load_reasoner, reasoner_backend

    if not args.reasoner:
        raise ValueError("--method passrate needs --reasoner (a checkpoint directory or a server URL)")
    temperature = 1.0 if args.temperature is None else args.temperature
    resolution = resolve_resolution(args.reasoner, args.reasoner_resolution)
    options: dict[str, Any] = {"resolution": resolution, "max_new_tokens": args.max_new_tokens}
    if reasoner_backend(args.reasoner) == "openai":
        _base, name = parse_openai_spec(args.reasoner, args.model)
        options |= {"model": name, "temperature": temperature, "top_logprobs": 0}
        options |= {"concurrency": args.concurrency, "timeout": args.timeout, "api_key": _api_key(args)}
    else:
        name = os.path.basename(os.path.normpath(args.reasoner))
        options |= {"do_sample": temperature > 0, "temperature": temperature if temperature > 0 else 1.0}
        options |= {"device": args.device, "batch_size": max(args.batch_size, votes)}
    reasoner = load_reasoner(args.reasoner, **options)
    settings = {"temperature": temperature, "resolution": resolution, "max_new_tokens": args.max_new_tokens}
    return PassrateDifficulty(reasoner, name=name, votes=votes, settings=settings)


def _calibrated(records: dict[str, Any], source: str, settings: dict[str, Any]) -> dict[str, Any]:
    """``records`` with each ok difficulty replaced by its calibration onto ``source`` (raw one kept)."""
    from pixelthink.annotate.agreement import calibrate, load_difficulty_source

    reference, name = load_difficulty_source(source)
    raw = {
        k: float(r["difficulty"])
        for k, r in records.items()
        if r.get("status") == "ok" and r.get("difficulty") is not None
    }
    mapped = calibrate(raw, list(reference.values()))
    settings["calibrated_to"] = f"{name} ({len(reference)} ratings, quantile matching)"
    print(f"calibrated {len(mapped)} score(s) onto {name} ({len(reference)} ratings)")
    return {
        k: (dict(r, difficulty=mapped[k], raw_difficulty=r["difficulty"]) if k in mapped else r)
        for k, r in records.items()
    }


def _run_and_apply(args: argparse.Namespace, bench: Any, annotator: Any, apply: Any) -> Any:
    from pixelthink.annotate import cached_records, run_annotation

    summary = run_annotation(
        bench,
        annotator,
        cache_dir=args.cache_dir,
        shard=args.shard,
        limit=args.limit,
        batch_size=args.batch_size,
        retry_failed=args.retry_failed,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(summary.summary())
    if args.no_apply:
        return None
    if args.shard is not None:
        print("sharded run: nothing written into samples.jsonl; when every shard is done, run the same command "
              "without --shard (it annotates what is left, then writes)")  # fmt: skip
        return None
    records = cached_records(summary.cache.parent, annotator.task, annotator.key)
    settings = dict(annotator.settings)
    if getattr(args, "calibrate", None):
        records = _calibrated(records, args.calibrate, settings)
    changed, failed = apply(bench, records, key=annotator.key, settings=settings)
    print(f"wrote {changed} sample(s) into {bench.samples_file} ({failed} failure(s) recorded in the cache)")
    return changed


def _difficulty(args: argparse.Namespace) -> int:
    from pixelthink.annotate import HeuristicDifficulty, JudgeDifficulty, apply_difficulty

    check_outputs({"BENCH": args.bench, "--calibrate": args.calibrate}, {"--export": args.export})
    bench = _open_bench(args)
    if args.max_new_tokens is None:
        args.max_new_tokens = 1024 if args.method == "passrate" else 256
    if args.method == "heuristic":
        annotator: Any = HeuristicDifficulty(use_image=not args.no_image)
    elif args.method == "passrate":
        annotator = _passrate_annotator(args, args.votes or 8)
    else:
        if not args.judge:
            raise ValueError("--method judge needs --judge (a server URL or a checkpoint directory)")
        votes = args.votes or 1
        temperature = args.temperature if args.temperature is not None else (0.0 if votes == 1 else 0.7)
        if votes > 1 and temperature == 0:
            print(
                f"warning: --votes {votes} at temperature 0 asks for the same answer {votes} times",
                file=sys.stderr,
            )
        chat, name, backend = _chat(args)
        annotator = JudgeDifficulty(
            chat,
            model_name=name,
            backend=backend,
            prompt=args.prompt,
            votes=votes,
            temperature=temperature,
            max_new_tokens=args.max_new_tokens,
            aggregate=args.aggregate,
            retries=args.retries,
            resolution=_judge_frame(args.resolution),
            show_target=args.show_target,
        )
    _run_and_apply(args, bench, annotator, apply_difficulty)
    if args.export:
        from pixelthink.data.exporters import export_difficulty

        n = export_difficulty(bench.root, args.export, split=args.split)
        print(f"exported {n} rated sample(s) to {args.export}")
    return 0


def _references(args: argparse.Namespace) -> int:
    from pixelthink.annotate import JudgeReferences, apply_references

    bench = _open_bench(args)
    if args.max_new_tokens is None:
        args.max_new_tokens = 1024
    chat, name, backend = _chat(args)
    annotator = JudgeReferences(
        chat,
        model_name=name,
        backend=backend,
        prompt=args.prompt,
        short_words=args.short_words,
        long_words=args.long_words,
        length_tolerance=args.length_tolerance,
        retries=args.retries,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        resolution=_judge_frame(args.resolution),
        show_target=args.show_target,
    )
    _run_and_apply(args, bench, annotator, apply_references)
    return 0


def _agreement(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from pixelthink.annotate.agreement import (
        agreement,
        agreement_json,
        format_agreement,
        load_difficulty_source,
    )
    from pixelthink.rewards import RewardConfig

    config = RewardConfig()
    if args.tau_medium is not None:
        config = replace(config, tau_medium=args.tau_medium)
    if args.tau_hard is not None:
        config = replace(config, tau_hard=args.tau_hard)
    a, name_a = load_difficulty_source(args.a)
    b, name_b = load_difficulty_source(args.b)
    result = agreement(a, b, config)
    if result["n"] == 0:
        raise ValueError(f"{args.a} and {args.b} rate no sample in common ({len(a)} and {len(b)} rated)")
    print(
        agreement_json(result | {"a": name_a, "b": name_b})
        if args.json
        else format_agreement(result, name_a, name_b)
    )
    return 0
