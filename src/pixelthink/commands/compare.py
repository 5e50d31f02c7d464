"""``pixelthink compare [NAME=]EVAL.json ... --out DIR``: runs side by side in one table.

Per bucket and run: gIoU with its bootstrap 95 % interval, cIoU, mean / median reasoning length,
faithfulness (where the evaluation has it), latency per sample, SAT / RST / URSS, n; the Pareto plot of
gIoU against length per bucket; HTML (the report's style) and Markdown. Runs whose benchmark, split,
convention, token convention or length unit differ are refused (exit 2) with the reason. See docs/METHODS.md.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare evaluated runs: one table per bucket (gIoU + interval, tokens, latency, URSS), Pareto plot",
        description="Put the evaluation reports of several runs (pixelthink eval --out) in one table and a "
        "Pareto plot of gIoU against reasoning length per difficulty bucket; writes DIR/index.html, "
        "DIR/compare.md, DIR/compare.json and DIR/pareto.png and prints the Markdown table. Runs must share "
        "the benchmark, split, convention, token convention and length unit.",
    )
    parser.add_argument(
        "evals", nargs="+", metavar="[NAME=]EVAL.json", help="evaluation reports; NAME defaults to the file's"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--title", default="Comparison of runs", help="page and table title")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap intervals computed here (default: 0)"
    )
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from pixelthink.evaluate.compare import load_runs
    from pixelthink.report.compare import write_comparison

    if len(args.evals) < 2:
        raise ValueError("compare: give at least two evaluation reports")
    result = write_comparison(load_runs(args.evals), args.out, title=args.title, seed=args.seed)
    print(result.markdown, end="")
    print(f"wrote {result.html}, {result.markdown_file}, {result.json_file} and {result.plot}")
    return 0
