"""``pixelthink compare``'s output: the comparison table as HTML (the report's page style) and Markdown,
and the Pareto plot of gIoU against reasoning length per bucket.

Layout of the output directory::

    out/
      index.html      the table (one row per bucket and run) and the plot
      compare.md      the same table in Markdown (for a paper or a README)
      compare.json    the rows and the runs' settings, machine-readable
      pareto.png      gIoU (%, with its 95 % interval) against mean reasoning length, one panel per bucket;
                      the runs on the Pareto front (no other run has fewer tokens and a higher gIoU) joined
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pixelthink.evaluate.compare import (
    RunEval,
    check_comparable,
    compare_rows,
    format_value,
    markdown_table,
    shown_columns,
)
from pixelthink.report.html import esc, render_page, render_plots
from pixelthink.report.plots import RUN_COLORS, _empty, _figure, _save, _style

__all__ = ["CompareResult", "pareto_front", "plot_pareto", "write_comparison"]

UNIT_LABELS = {
    "reasoning_tokens": "tokens",
    "tokenizer": "tokens",
    "words": "words",
    "response_words": "words",
}


class CompareResult:
    """What :func:`write_comparison` wrote: the rows and the paths."""

    def __init__(self, rows: list[dict[str, Any]], out: Path, markdown: str) -> None:
        self.rows = rows
        self.out = out
        self.markdown = markdown
        self.html = out / "index.html"
        self.markdown_file = out / "compare.md"
        self.json_file = out / "compare.json"
        self.plot = out / "pareto.png"


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates (fewer or equal tokens and a higher or equal gIoU,
    one of them strictly), ordered by tokens."""
    front = []
    for i, (t, g) in enumerate(points):
        dominated = any(
            (t2 <= t and g2 >= g) and (t2 < t or g2 > g) for j, (t2, g2) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


#: marker shapes of the Pareto plot, one per round of the colour palette
RUN_MARKERS = ("o", "s", "^", "D", "v", "P")


def run_styles(runs: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``run -> (colour, marker)``: the palette's colours in turn, the marker changing each time the palette
    starts over, so that no two runs of a plot look alike (up to 60 runs)."""
    n = len(RUN_COLORS)
    return {
        name: (RUN_COLORS[k % n], RUN_MARKERS[(k // n) % len(RUN_MARKERS)]) for k, name in enumerate(runs)
    }


def plot_pareto(
    rows: Sequence[dict[str, Any]], runs: Sequence[str], path: str | os.PathLike[str], *, unit: str = "tokens"
) -> Path:
    """gIoU (%) against mean reasoning length, one panel per bucket of ``rows``, one colour per run;
    vertical bars are the gIoU 95 % intervals; the Pareto front is drawn as a dashed line."""
    buckets = list(dict.fromkeys(r["bucket"] for r in rows))
    fig = _figure(3.6 * max(len(buckets), 1) + 0.8, 3.6)
    axes = fig.subplots(1, max(len(buckets), 1), squeeze=False)[0]
    if not buckets:
        _empty(axes[0], "no runs")
        return _save(fig, path)
    styles = run_styles(runs)
    for ax, bucket in zip(axes, buckets, strict=True):
        _style(ax)
        ax.set_title(bucket, fontsize=11, loc="left")
        pts = [
            r
            for r in rows
            if r["bucket"] == bucket and r["giou"] is not None and r["tokens_mean"] is not None
        ]
        if not pts:
            _empty(ax, "no gIoU / length")
            continue
        for r in pts:
            y = 100.0 * r["giou"]
            err = None
            if r["giou_ci"]:
                lo, hi = 100.0 * r["giou_ci"][0], 100.0 * r["giou_ci"][1]
                err = [[max(y - lo, 0.0)], [max(hi - y, 0.0)]]
            ax.errorbar(
                r["tokens_mean"],
                y,
                yerr=err,
                fmt=styles[r["run"]][1],
                color=styles[r["run"]][0],
                capsize=3,
                label=r["run"],
            )
        front = pareto_front([(r["tokens_mean"], 100.0 * r["giou"]) for r in pts])
        if len(front) > 1:
            ax.plot(
                [pts[i]["tokens_mean"] for i in front],
                [100.0 * pts[i]["giou"] for i in front],
                "--",
                color="#8a8f98",
                linewidth=1,
                zorder=0,
            )
        ax.set_xlabel(f"mean reasoning length ({unit})", fontsize=9)
        ax.set_ylabel("gIoU (%)", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, fontsize=8, frameon=False, loc="outside right upper")
    return _save(fig, path)


_MAIN = ' class="num-main"'


def _html_table(rows: Sequence[dict[str, Any]], unit: str) -> str:
    cols = shown_columns(rows)
    head = (
        "<thead><tr><th>bucket</th><th>run</th>"
        + "".join(
            f'<th data-col="{esc(key)}">{esc(label.replace("tokens", unit))}</th>' for key, label, _ in cols
        )
        + "</tr></thead>"
    )
    body = []
    for r in rows:
        cells = "".join(
            f'<td data-col="{esc(key)}"{_MAIN if key in ("giou", "tokens_mean") else ""}>'
            f"{esc(format_value(kind, r[key]))}</td>"
            for key, _, kind in cols
        )
        dot = f'<span class="dot" style="background: var(--{esc(r["bucket"])}, #3b6ea8)"></span>'
        body.append(
            f'<tr data-bucket="{esc(r["bucket"])}" data-run="{esc(r["run"])}">'
            f"<td>{dot}{esc(r['bucket'])}</td><td>{esc(r['run'])}</td>{cells}</tr>"
        )
    return f'<div class="scroll"><table class="compare">{head}<tbody>{"".join(body)}</tbody></table></div>'


def write_comparison(
    runs: Sequence[RunEval], out: str | os.PathLike[str], *, title: str = "Comparison of runs", seed: int = 0
) -> CompareResult:
    """Check the runs, compute the rows and write ``index.html``, ``compare.md``, ``compare.json`` and
    ``pareto.png`` into ``out``.

    Raises:
        ValueError: the runs cannot share a table (:func:`~pixelthink.evaluate.compare.check_comparable`).
    """
    problems = check_comparable(runs)
    if problems:
        raise ValueError("runs cannot be compared: " + "; ".join(problems))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = compare_rows(runs, seed=seed)
    settings = runs[0].settings
    unit = UNIT_LABELS.get(str(settings.get("length_unit")), "length")
    plot_pareto(rows, [r.name for r in runs], out_dir / "pareto.png", unit=unit)
    markdown = markdown_table(rows, unit)
    sources = {r["giou_ci_source"] for r in rows if r["giou_ci_source"]}
    if sources == {"report"}:
        ci_note = "gIoU intervals: the evaluation reports' own (bootstrap, 95 %)"
    elif sources == {"bootstrap"}:
        ci_note = f"gIoU intervals: bootstrap of the per-sample IoUs, 95 %, 1000 resamples, seed {seed}"
    elif sources:
        ci_note = "gIoU intervals: the reports' own where present, else a bootstrap of the per-sample IoUs"
    else:
        ci_note = "no gIoU intervals (the reports hold neither intervals nor per-sample IoUs)"
    caption = (
        f"benchmark {settings.get('benchmark_name') or settings.get('benchmark')}, split {settings.get('split')}, "
        f"convention {settings.get('convention')}, lengths: {settings.get('token_convention')} ({unit}); "
        f"gIoU / cIoU{' / faithfulness' if any(r['faithfulness'] is not None for r in rows) else ''} in %; "
        f"latency = mean total seconds per sample; {ci_note}."
    )
    header = ["## " + title, "", caption, "", markdown]
    (out_dir / "compare.md").write_text("\n".join(header), encoding="utf-8")
    payload = {
        "runs": [{"name": r.name, "eval": str(r.path), "settings": r.settings} for r in runs],
        "rows": rows,
        "caption": caption,
    }
    (out_dir / "compare.json").write_text(
        json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    body = (
        f'<header><div class="eyebrow">pixelthink compare</div><h1>{esc(title)}</h1>'
        f'<p class="meta">{esc(", ".join(r.name for r in runs))}</p></header>'
        f'<section id="table"><h2>Per bucket</h2><p class="caption">{esc(caption)}</p>{_html_table(rows, unit)}</section>'
        + render_plots(
            [("pareto.png", "gIoU against mean reasoning length per bucket; dashed: the Pareto front")],
            title="Accuracy against length",
        )
    )
    (out_dir / "index.html").write_text(render_page(title, body, generated), encoding="utf-8")
    return CompareResult(rows, out_dir, markdown)
