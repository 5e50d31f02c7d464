"""``pixelthink report --data BENCH --predictions preds.jsonl --out DIR``: the HTML report of a run.

Writes ``DIR/index.html`` (per-bucket table, plots, comparison of runs, gallery of examples) with its
images under ``DIR/assets/``. Without ``--eval`` the predictions are evaluated first (like
``pixelthink eval``); ``--compare NAME=preds.jsonl[,eval.json]`` adds other runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pixelthink.commands._options import check_outputs, non_negative_int
from pixelthink.jsonio import naming_path


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write an HTML report (bucket table, plots, gallery) of predictions on a benchmark",
        description="Make a self-contained HTML report (index.html + PNG/JPEG files next to it) from a "
        "benchmark, a predictions.jsonl and optionally its evaluation report (pixelthink eval --out). "
        "Without --eval the predictions are evaluated here.",
    )
    parser.add_argument("--data", required=True, metavar="BENCH", help="benchmark directory (samples.jsonl)")
    parser.add_argument(
        "--split", default=None, help="only samples of this split (default: the --eval report's)"
    )
    parser.add_argument("--predictions", required=True, metavar="JSONL", help="predictions.jsonl of the run")
    parser.add_argument("--eval", metavar="JSON", help="evaluation report of the run (pixelthink eval --out)")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME=PREDS.jsonl[,EVAL.json]",
        help="another run to compare with (repeatable); evaluated like the main run when EVAL is omitted",
    )
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="NAME=EVAL.json",
        help="an evaluation report to show in the comparison as recorded, without predictions (e.g. the "
        "results shipped with a model); repeatable",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="report directory (index.html goes here)")
    parser.add_argument("--title", help="page title and name of the main run (default: model or file name)")
    parser.add_argument(
        "--gallery",
        type=non_negative_int,
        default=4,
        metavar="N",
        help="examples per difficulty bucket (default: %(default)s; 0 = none)",
    )
    parser.add_argument(
        "--convention",
        choices=("lisa", "segzero"),
        default=None,
        help="gIoU/cIoU convention when evaluating here (default: lisa; with --eval: the report's)",
    )
    parser.add_argument(
        "--judge",
        default="rougeL-ref",
        metavar="NAME",
        help="reasoning judge when evaluating here: rougeL-ref | none (default: %(default)s)",
    )
    parser.add_argument(
        "--response-frame",
        default=None,
        metavar="auto|original|840|WxH",
        help="frame of boxes in raw responses when evaluating here (default: evaluate's, auto)",
    )
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from pixelthink.data.resolve import open_benchmark
    from pixelthink.report import build_report, load_eval_report, parse_compare_spec

    compare: dict[str, tuple[str, str | None]] = {}
    for spec in args.compare:
        name, preds, eval_path = parse_compare_spec(spec)
        if name in compare:
            raise ValueError(f"--compare: run name {name!r} given twice")
        compare[name] = (preds, eval_path)

    references: dict[str, str] = {}
    for spec in args.reference:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--reference {spec!r}: expected NAME=EVAL.json")
        if name.strip() in references or name.strip() in compare:
            raise ValueError(f"--reference: run name {name.strip()!r} given twice")
        references[name.strip()] = path.strip()

    out = Path(args.out)
    check_outputs(
        {
            "--data": args.data,
            "--predictions": args.predictions,
            "--eval": args.eval,
            "--compare": [p for preds_eval in compare.values() for p in preds_eval],
            "--reference": list(references.values()),
        },
        {"--out's index.html": out / "index.html", "--out's eval.json": out / "eval.json"},
        {"--out": out},
    )
    split = args.split
    report = None
    if args.eval:
        report = load_eval_report(args.eval)
        recorded = report.settings.get("split")
        if split is None:
            split = recorded
        if args.convention is not None and args.convention != report.settings.get("convention"):
            raise ValueError(
                f"--convention {args.convention} differs from the convention of --eval {args.eval} "
                f"({report.settings.get('convention')}); leave --convention out or re-run pixelthink eval"
            )
    options: dict[str, Any] = {"judge": args.judge}
    if args.convention is not None:
        options["convention"] = args.convention
    if args.response_frame is not None:
        options["response_frame"] = args.response_frame
    with naming_path(out):  # a full disk while plots and pictures are written: an error naming DIR
        index = build_report(
            open_benchmark(args.data, split=split),
            args.predictions,
            args.out,
            eval_report=args.eval,
            compare=compare or None,
            title=args.title,
            gallery_per_bucket=args.gallery,
            eval_options=options,
            references=references or None,
        )
    print(f"report written to {index}")
    return 0
