"""Runs side by side: evaluation reports (``pixelthink eval --out``) -> one table per difficulty bucket.

``load_runs(["a=eval_a.json", "eval_b.json"])`` reads the reports, :func:`check_comparable` refuses runs
whose benchmark (name and sample count), split, gIoU/cIoU convention, token convention or length unit differ (their
numbers would not measure the same thing), and :func:`compare_rows` gives, per run and bucket: n, gIoU with
its bootstrap 95 % interval, cIoU, mean / median reasoning length, faithfulness where the report has it,
latency per sample, SAT / RST / URSS. ``pixelthink compare`` writes them as Markdown and HTML with a Pareto
plot (:mod:`pixelthink.report.compare`).

Intervals: a report's own ``giou_ci`` when it has one (``pixelthink eval`` with bootstrap intervals);
otherwise :func:`~pixelthink.evaluate.intervals.bootstrap_ci` of the per-sample IoUs the report holds
(``samples``, so an eval written with ``--no-samples`` gets none). Reports are read as plain JSON, so keys
added by later versions are carried, not refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelthink.evaluate.intervals import DEFAULT_RESAMPLES, bootstrap_ci
from pixelthink.jsonio import read_json_file

__all__ = [
    "COMPARE_BUCKETS",
    "RunEval",
    "check_comparable",
    "compare_rows",
    "load_runs",
    "markdown_table",
    "parse_run_spec",
]

COMPARE_BUCKETS: tuple[str, ...] = ("easy", "medium", "hard", "unrated", "all")

#: (key, header, format) of a comparison row; faithfulness columns only when some run has them
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("n", "n", "int"),
    ("giou", "gIoU", "pct"),
    ("giou_ci", "gIoU 95% CI", "ci"),
    ("ciou", "cIoU", "pct"),
    ("tokens_mean", "tokens mean", "tok"),
    ("tokens_median", "tokens median", "tok"),
    ("faithfulness", "faithfulness", "pct"),
    ("latency", "latency/sample (s)", "sec"),
    ("sat", "SAT", "num"),
    ("rst", "RST", "num"),
    ("urss", "URSS", "num"),
)


@dataclass
class RunEval:
    """One run: its name, the report's path and content (a plain dict)."""

    name: str
    path: Path
    report: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        return self.report.get("settings") or {}

    def bucket(self, name: str) -> dict[str, Any] | None:
        b = (self.report.get("buckets") or {}).get(name)
        return b if isinstance(b, dict) else None


def parse_run_spec(spec: str) -> tuple[str | None, str]:
    """``NAME=PATH`` -> (NAME, PATH); a bare ``PATH`` -> (None, PATH) (a ``=`` inside a path needs NAME=)."""
    name, sep, path = spec.partition("=")
    if sep and name and not Path(spec).exists():
        return name, path
    return None, spec


def _default_name(path: Path) -> str:
    """The file's stem, or its directory's name for a generic stem (``eval.json`` in ``runs/x/``)."""
    return path.parent.name if path.stem in ("eval", "report", "results") and path.parent.name else path.stem


def load_runs(specs: Sequence[str]) -> list[RunEval]:
    """Read the evaluation reports named by ``specs`` (``[NAME=]EVAL.json``); names must be unique.

    Raises:
        FileNotFoundError / ValueError: a missing or unreadable file, a file that is not an evaluation
            report (no ``settings`` / ``buckets``), two runs with one name.
    """
    runs: list[RunEval] = []
    for spec in specs:
        name, raw = parse_run_spec(spec)
        path = Path(raw)
        data = read_json_file(path, "evaluation report")
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("settings"), dict)
            or not isinstance(data.get("buckets"), dict)
        ):
            raise ValueError(
                f"{path}: not an evaluation report (pixelthink eval --out): no 'settings' / 'buckets'"
            )
        runs.append(RunEval(name or _default_name(path), path, data))
    seen: dict[str, Path] = {}
    for run in runs:
        if run.name in seen:
            raise ValueError(
                f"two runs are named {run.name!r} ({seen[run.name]} and {run.path}); name them: NAME=EVAL.json"
            )
        seen[run.name] = run.path
    return runs


def _identity(run: RunEval) -> dict[str, Any]:
    s = run.settings
    return {
        "benchmark": s.get("benchmark_name") or s.get("benchmark"),
        "samples": (run.report.get("counts") or {}).get("n_samples"),
        "split": s.get("split"),
        "convention": s.get("convention"),
        "token convention": s.get("token_convention"),
        "length unit": s.get("length_unit"),
    }


def check_comparable(runs: Sequence[RunEval]) -> list[str]:
    """Why ``runs`` cannot share one table: one line per setting that differs (empty when they can).

    Compared: the benchmark (its name and number of samples), the split, the gIoU/cIoU convention, the
    token convention and the length unit it gave (``auto`` counts tokenizer tokens with ``--tokenizer``,
    recorded tokens or words without).
    """
    if not runs:
        return ["no runs"]
    problems = []
    first = _identity(runs[0])
    for key in first:
        values = {run.name: _identity(run)[key] for run in runs}
        if len({repr(v) for v in values.values()}) > 1:
            shown = ", ".join(f"{name}: {value!r}" for name, value in values.items())
            problems.append(f"{key} differs ({shown})")
    return problems


def _float(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of hundreds of digits
        return None
    return f if math.isfinite(f) else None


def _sample_ious(run: RunEval, bucket: str) -> list[float]:
    out = []
    for s in run.report.get("samples") or []:
        if not isinstance(s, dict) or (bucket != "all" and s.get("bucket") != bucket):
            continue
        iou = _float(s.get("iou"))
        if iou is not None:
            out.append(iou)
    return out


def _faithfulness(b: dict[str, Any]) -> float | None:
    """The bucket's faithfulness: ``faithfulness``, else the exact faithfulness of grounded mentions of
    shapes benchmarks (``faith_real``: the fraction of mentioned boxes that hit a real shape of the named
    kind and colour); None when the report has neither."""
    for key in ("faithfulness", "faith_real"):
        value = b.get(key)
        if isinstance(value, dict):  # {"value": ..} forms
            value = value.get("value", value.get("mean"))
        if _float(value) is not None:
            return _float(value)
    return None


def compare_rows(
    runs: Sequence[RunEval],
    buckets: Sequence[str] = COMPARE_BUCKETS,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (bucket, run), buckets outermost; buckets no run has samples in are left out.

    Row keys: ``bucket``, ``run`` and :data:`COLUMNS`' keys (fractions for gIoU / cIoU / faithfulness,
    ``giou_ci`` a ``[low, high]`` pair, ``giou_ci_source`` ``"report"`` | ``"bootstrap"`` | None,
    ``latency`` the mean total seconds per sample).
    """
    rows = []
    for bucket in buckets:
        present = [run.bucket(bucket) for run in runs]
        if not any(b and b.get("n") for b in present):
            continue
        for run, b in zip(runs, present, strict=True):
            b = b or {}
            ci, source = b.get("giou_ci"), "report" if b.get("giou_ci") else None
            if not ci:
                ious = _sample_ious(run, bucket)
                interval = bootstrap_ci(ious, n_resamples=n_resamples, seed=seed) if ious else None
                ci, source = (list(interval), "bootstrap") if interval else (None, None)
            latency = b.get("latency") or {}
            rows.append(
                {
                    "bucket": bucket,
                    "run": run.name,
                    "n": b.get("n"),
                    "giou": _float(b.get("giou")),
                    "giou_ci": ci,
                    "giou_ci_source": source,
                    "ciou": _float(b.get("ciou")),
                    "tokens_mean": _float(b.get("tokens_mean")),
                    "tokens_median": _float(b.get("tokens_median")),
                    "faithfulness": _faithfulness(b),
                    "latency": _float(latency.get("total")) if isinstance(latency, dict) else None,
                    "sat": _float(b.get("sat")),
                    "rst": _float(b.get("rst")),
                    "urss": _float(b.get("urss")),
                }
            )
    return rows


def format_value(kind: str, value: Any) -> str:
    """Cell text: gIoU / cIoU / faithfulness in %, tokens with 1 decimal, seconds with 3, ``-`` if missing."""
    if value is None:
        return "-"
    if kind == "int":
        return str(int(value))
    if kind == "pct":
        return f"{100.0 * value:.2f}"
    if kind == "ci":
        return f"[{100.0 * value[0]:.2f}, {100.0 * value[1]:.2f}]"
    if kind == "tok":
        return f"{value:.1f}"
    return f"{value:.3f}"


def shown_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """:data:`COLUMNS` without the faithfulness column when no row has a value for it."""
    return [c for c in COLUMNS if c[0] != "faithfulness" or any(r["faithfulness"] is not None for r in rows)]


def markdown_table(rows: Sequence[dict[str, Any]], unit: str = "tokens") -> str:
    """The comparison as one GitHub-flavoured Markdown table (bucket, run, then :func:`shown_columns`)."""
    cols = shown_columns(rows)
    header = ["bucket", "run", *[label.replace("tokens", unit) for _, label, _ in cols]]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(cols)) + "|"]
    for r in rows:
        cells = [
            r["bucket"],
            r["run"].replace("|", "\\|"),
            *[format_value(kind, r[key]) for key, _, kind in cols],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
