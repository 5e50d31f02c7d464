"""``pixelthink data``: import, export, validate and describe benchmarks.

Sub-commands::

    pixelthink data import lisa DIR --out BENCH [--split S] [--all-texts]
    pixelthink data import segzero PARQUET_OR_DIR --out BENCH [--split S]
    pixelthink data import difficulty BENCH FILE.json
    pixelthink data export segzero BENCH --out FILE.parquet [--resolution 840] [--split S]
    pixelthink data export difficulty BENCH --out FILE.json [--split S]
    pixelthink data validate BENCH [--images]
    pixelthink data stats BENCH [--split S] [--json]

Heavy imports (pyarrow, datasets, PIL) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pixelthink.commands._options import add_limit_arguments, check_outputs, frame_side

TAU_MEDIUM = 3.5
TAU_HARD = 5.0


def _progress_enabled(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


# ---------------------------------------------------------------------------------------- handlers


@contextlib.contextmanager
def _exists_is_user_error() -> Iterator[None]:
    """An existing output benchmark is a user error (exit 2) naming the CLI flag, not a traceback."""
    from pixelthink.data.format import BenchmarkExistsError

    try:
        yield
    except BenchmarkExistsError as exc:
        from pixelthink.commands._errors import CommandError

        raise CommandError(
            f"{exc.root}: a benchmark already exists here; pass --overwrite to replace it"
        ) from None


def _import_lisa(args: argparse.Namespace) -> int:
    from pixelthink.data.importers import import_lisa

    check_outputs({"DIR": args.dir}, dirs={"--out": args.out}, replaced=True)
    with _exists_is_user_error():
        report = import_lisa(
            args.dir,
            args.out,
            split=args.split,
            expand_texts=args.all_texts,
            name=args.name,
            overwrite=args.overwrite,
            progress=_progress_enabled(args),
            max_pixels=args.max_pixels,
        )
    print(f"imported {args.dir} -> {args.out}: {report.summary()}")
    return 0


def _import_segzero(args: argparse.Namespace) -> int:
    from pixelthink.data.importers import import_segzero

    check_outputs({"PATH": args.path}, dirs={"--out": args.out}, replaced=True)
    with _exists_is_user_error():
        report = import_segzero(
            args.path,
            args.out,
            split=args.split,
            name=args.name,
            overwrite=args.overwrite,
            progress=_progress_enabled(args),
            max_pixels=args.max_pixels,
        )
    print(f"imported {args.path} -> {args.out}: {report.summary()}")
    return 0


def _import_difficulty(args: argparse.Namespace) -> int:
    from pixelthink.data.importers import merge_difficulty

    # a file none of whose entries matches a sample raises ValueError (exit 2) before writing anything
    report = merge_difficulty(args.bench, args.file, keep_existing=not args.clear_unmatched)
    print(f"merged {args.file} into {args.bench}: {report.summary()}")
    return 0


def _export_segzero(args: argparse.Namespace) -> int:
    from pixelthink.data.exporters import export_segzero

    check_outputs({"BENCH": args.bench}, {"--out": args.out})
    report = export_segzero(
        args.bench,
        args.out,
        resolution=args.resolution,
        split=args.split,
        image_format=args.image_format,
        progress=_progress_enabled(args),
    )
    print(f"exported {args.bench} -> {args.out}: {report.summary()}")
    return 0


def _export_difficulty(args: argparse.Namespace) -> int:
    from pixelthink.data.exporters import export_difficulty

    check_outputs({"BENCH": args.bench}, {"--out": args.out})
    n = export_difficulty(args.bench, args.out, split=args.split)
    print(f"exported {args.bench} -> {args.out}: {n} rated sample(s)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pixelthink.data.format import validate_benchmark

    warnings: list[str] = []
    errors = validate_benchmark(
        args.bench,
        decode_images=args.decode_images,
        max_pixels=args.max_pixels,
        max_query_chars=args.max_query_chars,
        warnings=warnings,
    )
    for w in warnings:
        print(f"warning: {w}")
    if errors:
        for e in errors:
            print(e)
        print(f"{args.bench}: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.bench}: valid" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return 0


def difficulty_bucket(difficulty: float | None) -> str:
    """ "easy" (< 3.5) | "medium" (3.5 <= d < 5.0) | "hard" (>= 5.0) | "unrated" (None).

    Uses ``pixelthink.rewards.difficulty_bucket`` with its default config when that module exists.
    """
    if difficulty is None:
        return "unrated"
    if importlib.util.find_spec("pixelthink.rewards") is not None:
        from pixelthink import rewards

        fn = getattr(rewards, "difficulty_bucket", None)
        config_cls = getattr(rewards, "RewardConfig", None)
        if fn is not None and config_cls is not None:
            return str(fn(difficulty, config_cls()))
    if difficulty >= TAU_HARD:
        return "hard"
    return "medium" if difficulty >= TAU_MEDIUM else "easy"


def benchmark_stats(bench: str | Path, split: str | None = None) -> dict[str, Any]:
    """Counts and distributions of a benchmark, from a streaming pass (masks are never decoded to pixels).

    Returns a dict with ``samples``, ``images``, ``splits``, ``difficulty`` (easy/medium/hard/unrated
    counts), ``queries`` (sentence/phrase counts), ``mask_area_fraction`` (min/median/max of mask area
    over image area), ``with_ignore``, ``empty_masks``, ``with_reasoning``.
    """
    from pixelthink.data.format import Benchmark
    from pixelthink.masks import rle_area

    # validated samples: a bad value (garbage RLE, a number beyond float range...) raises a ValueError
    # naming samples.jsonl:LINE and the field, like every other reader
    bm = Benchmark(bench, split=split, check_images=False)
    buckets = {"easy": 0, "medium": 0, "hard": 0, "unrated": 0}
    queries = {"sentence": 0, "phrase": 0}
    splits: dict[str, int] = {}
    images: set[str] = set()
    fractions: list[float] = []
    n = with_ignore = empty = with_reasoning = 0
    for sample in bm:
        n += 1
        key = sample.split if sample.split is not None else "null"
        splits[key] = splits.get(key, 0) + 1
        images.add(sample.image)
        bucket = difficulty_bucket(sample.difficulty)
        buckets[bucket] = buckets.get(bucket, 0) + 1
        queries["sentence" if sample.is_sentence else "phrase"] += 1
        area = rle_area(sample.mask)
        total = sample.width * sample.height
        fractions.append(area / total if total else 0.0)
        empty += area == 0
        with_ignore += sample.ignore is not None
        with_reasoning += bool(sample.reasoning_short or sample.reasoning_long)
    area_stats = (
        {"min": min(fractions), "median": statistics.median(fractions), "max": max(fractions)}
        if fractions
        else {"min": None, "median": None, "max": None}
    )
    return {
        "name": bm.name,
        "samples": n,
        "images": len(images),
        "splits": dict(sorted(splits.items())),
        "difficulty": buckets,
        "queries": queries,
        "mask_area_fraction": area_stats,
        "with_ignore": with_ignore,
        "empty_masks": empty,
        "with_reasoning": with_reasoning,
    }


def _stats(args: argparse.Namespace) -> int:
    stats = benchmark_stats(args.bench, split=args.split)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    d, q, a = stats["difficulty"], stats["queries"], stats["mask_area_fraction"]
    print(f"benchmark {stats['name']}: {stats['samples']} samples, {stats['images']} images")
    print("splits: " + ", ".join(f"{k}={v}" for k, v in stats["splits"].items()))
    print(
        f"difficulty: easy(<{TAU_MEDIUM:g})={d['easy']} medium={d['medium']} hard(>={TAU_HARD:g})={d['hard']} "
        f"unrated={d['unrated']}"
    )
    print(f"queries: sentence={q['sentence']} phrase={q['phrase']}")
    if a["min"] is not None:
        print(f"mask area / image area: min={a['min']:.4f} median={a['median']:.4f} max={a['max']:.4f}")
    print(
        f"with ignore region: {stats['with_ignore']}; empty masks: {stats['empty_masks']}; "
        f"with reference reasoning: {stats['with_reasoning']}"
    )
    return 0


def _help(parser: argparse.ArgumentParser) -> Any:
    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return handler


# ---------------------------------------------------------------------------------------- parser


def register(subparsers: Any) -> None:
    """Add ``pixelthink data`` and its sub-commands."""
    data = subparsers.add_parser(
        "data",
        help="import, export, validate and describe benchmarks",
        description="Benchmark data: import (LISA, Seg-Zero, difficulty), export (Seg-Zero, difficulty), validate, "
        "stats; the shapes generator; the verl converter.",
    )
    data.set_defaults(func=_help(data))
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    # import ----------------------------------------------------------------------------------
    imp = data_sub.add_parser("import", help="import a dataset into the benchmark format")
    imp.set_defaults(func=_help(imp))
    imp_sub = imp.add_subparsers(dest="import_kind", metavar="KIND")

    lisa = imp_sub.add_parser("lisa", help="LISA ReasonSeg folder (name.jpg + name.json)")
    lisa.add_argument("dir", help="folder with name.jpg + name.json pairs, e.g. ReasonSeg/val")
    lisa.add_argument("--out", required=True, help="benchmark directory to create")
    lisa.add_argument("--split", default=None, help="split name (default: folder name if train/val/test)")
    lisa.add_argument("--all-texts", action="store_true", help="one sample per text (default: text[0] only)")
    lisa.add_argument("--name", default=None, help="benchmark name for meta.json")
    lisa.add_argument("--overwrite", action="store_true", help="replace an existing benchmark at --out")
    lisa.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_limit_arguments(lisa, query=False)
    lisa.set_defaults(func=_import_lisa)

    sz = imp_sub.add_parser("segzero", help="Seg-Zero evaluation parquet / datasets directory")
    sz.add_argument("path", help="a .parquet file, a folder of them, or a datasets save_to_disk folder")
    sz.add_argument("--out", required=True, help="benchmark directory to create")
    sz.add_argument("--split", default=None, help="split name (default: from the file name)")
    sz.add_argument("--name", default=None, help="benchmark name for meta.json")
    sz.add_argument("--overwrite", action="store_true", help="replace an existing benchmark at --out")
    sz.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_limit_arguments(sz, query=False)
    sz.set_defaults(func=_import_segzero)

    diff = imp_sub.add_parser("difficulty", help="merge a difficulty file into a benchmark (in place)")
    diff.add_argument("bench", help="benchmark directory")
    diff.add_argument("file", help='JSON list of {"image_id", "difficulty_score_model"}')
    diff.add_argument(
        "--clear-unmatched", action="store_true", help="set difficulty to null for samples without an entry"
    )
    diff.set_defaults(func=_import_difficulty)

    # export ----------------------------------------------------------------------------------
    exp = data_sub.add_parser("export", help="export a benchmark to another format")
    exp.set_defaults(func=_help(exp))
    exp_sub = exp.add_subparsers(dest="export_kind", metavar="KIND")
    esz = exp_sub.add_parser(
        "segzero", help="Seg-Zero GRPO training parquet (id, problem, solution, image...)"
    )
    esz.add_argument("bench", help="benchmark directory")
    esz.add_argument("--out", required=True, help="output .parquet file")
    esz.add_argument("--resolution", type=frame_side, default=840, help="model frame side (default 840)")
    esz.add_argument("--split", default=None, help="export only this split")
    esz.add_argument("--image-format", default="JPEG", choices=["JPEG", "PNG"], help="resized image encoding")
    esz.add_argument("--no-progress", action="store_true", help="no progress bar")
    esz.set_defaults(func=_export_segzero)
    edf = exp_sub.add_parser(
        "difficulty",
        help='the authors\' difficulty file: [{"image_id", "difficulty_score_model"}] (rated samples)',
    )
    edf.add_argument("bench", help="benchmark directory")
    edf.add_argument("--out", required=True, help="output .json file")
    edf.add_argument("--split", default=None, help="export only this split")
    edf.set_defaults(func=_export_difficulty)

    # validate / stats --------------------------------------------------------------------------
    val = data_sub.add_parser(
        "validate",
        help="check a benchmark (--images: also decode every image); exit 1 listing every problem",
        description="Check samples.jsonl line by line (fields, RLE sizes, ids, image files present). Images "
        "are not decoded unless --images is given: then every image is opened and its size compared with "
        "the sample's width x height.",
    )
    val.add_argument("bench", help="benchmark directory")
    val.add_argument(
        "--images",
        "--decode-images",
        dest="decode_images",
        action="store_true",
        help="also decode every image and check its size (slower: reads every image file)",
    )
    add_limit_arguments(val)
    val.set_defaults(func=_validate)

    st = data_sub.add_parser("stats", help="counts per difficulty bucket, mask areas, query types")
    st.add_argument("bench", help="benchmark directory")
    st.add_argument("--split", default=None, help="only this split")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=_stats)

    # the miniature's generator and the verl converter ---------------------------------------------
    from pixelthink.commands._shapes import register_shapes
    from pixelthink.commands._verl import register_verl

    register_shapes(data_sub)
    register_verl(data_sub)
