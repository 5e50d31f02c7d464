"""HTML fragments of the report and the page around them (``template.html``, CSS inline).

Every piece of text that comes from a file (queries, model output, ids, error messages, settings,
run names) goes through :func:`esc` (``html.escape`` with quotes): predictions are untrusted input.
Numbers follow ``pixelthink eval``'s table: gIoU / cIoU / fail% in percent with 2 decimals, token
statistics with 1 decimal, U / RScore / SAT / RST / URSS with 3, latency in seconds with 3.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from string import Template
from typing import Any

from pixelthink.evaluate.results import BUCKET_ORDER, BucketResult, EvalReport
from pixelthink.report.gallery import GalleryItem, describe_prediction

__all__ = [
    "LATENCY_ORDER",
    "TABLE_COLUMNS",
    "bucket_table",
    "esc",
    "fmt_cell",
    "render_page",
]

#: Bucket table columns: (key, header, group). ``latency.<stage>`` columns are appended per stage found.
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("n", "n", ""),
    ("tokens_mean", "mean", "reasoning length"),
    ("tokens_median", "median", "reasoning length"),
    ("tokens_p90", "p90", "reasoning length"),
    ("giou", "gIoU", "accuracy (%)"),
    ("ciou", "cIoU", "accuracy (%)"),
    ("rscore", "RScore", "efficiency"),
    ("sat", "SAT", "efficiency"),
    ("rst", "RST", "efficiency"),
    ("urss", "URSS", "efficiency"),
    ("fail_rate", "fail%", ""),
    ("uncertainty_mean", "mean U", ""),
)
LATENCY_ORDER: tuple[str, ...] = (
    "load",
    "preprocess",
    "prefill",
    "decode",
    "parse",
    "segment",
    "total",
    "queue",
)
_PCT = {
    "giou",
    "ciou",
    "fail_rate",
    "hit_rate",
    "chance_giou",
    "chance_ciou",
    "oracle_giou",
    "oracle_ciou",
    "faith_real",
    "faith_last_is_target",
    "faith_last_is_target_hits",
}
_COUNTS = {
    "n",
    "hit_n",
    "chance_n",
    "oracle_n",
    "faith_n",
    "faith_n_without_mentions",
    "faith_n_with_mentions",
    "faith_n_hits",
}
_TOK = {"tokens_mean", "tokens_median", "tokens_p90"}

CONVENTION_TEXT = {
    "lisa": "lisa (LISA's validate): ignore regions removed from I and U; empty union = IoU 1; "
    "failed or missing predictions scored as empty masks",
    "segzero": "segzero (Seg-Zero's evaluation.py): ignore regions counted as target; failures I = 0, "
    "U = |GT|; successful predictions with an empty union dropped from gIoU",
}


def esc(value: Any) -> str:
    """``html.escape(str(value), quote=True)``; None becomes an empty string.

    A lone surrogate (``"\\ud800"``, legal in JSON, not encodable as UTF-8) is shown as its escape.
    """
    if value is None:
        return ""
    text = html.escape(str(value), quote=True)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fmt_cell(key: str, value: Any) -> str:
    """Text of one table cell (``-`` for a missing value)."""
    if value is None:
        return "-"
    if key in _COUNTS:
        return str(int(value))
    if key.endswith("_ci"):
        return f"{100.0 * float(value[0]):.1f}-{100.0 * float(value[1]):.1f}" if value else "-"
    if key in _PCT:
        return f"{100.0 * float(value):.2f}"
    if key in _TOK:
        return f"{float(value):.1f}"
    if key.startswith("latency."):
        return f"{float(value):.3f}"
    return f"{float(value):.3f}"


def shown_buckets(report: EvalReport) -> list[str]:
    """Buckets of the table: easy, medium, hard, all always; unrated and others when non-empty."""
    names = [*BUCKET_ORDER, *[b for b in report.buckets if b not in BUCKET_ORDER]]
    return [
        b
        for b in names
        if b in report.buckets and (report.buckets[b].n > 0 or b in ("easy", "medium", "hard", "all"))
    ]


def latency_stages(buckets: Sequence[BucketResult]) -> list[str]:
    """Latency stages present in any bucket, known stages first (load, prefill, decode, segment, total)."""
    found: set[str] = set()
    for b in buckets:
        found.update(b.latency)
    return [s for s in LATENCY_ORDER if s in found] + sorted(found - set(LATENCY_ORDER))


def bucket_table(report: EvalReport) -> str:
    """The per-bucket table. Rows carry ``data-bucket``, cells ``data-col`` (machine-readable)."""
    names = shown_buckets(report)
    stages = latency_stages([report.buckets[b] for b in names])
    cols = list(TABLE_COLUMNS) + [
        (f"latency.{s}", "queue*" if s == "queue" else s, "latency (s)") for s in stages
    ]
    group_cells = []
    k = 0
    while k < len(cols):
        group = cols[k][2]
        span = 1
        while k + span < len(cols) and cols[k + span][2] == group:
            span += 1
        cls = ' class="g"' if group else ""
        group_cells.append(f'<th colspan="{span}"{cls}>{esc(group)}</th>')
        k += span
    head = (
        '<thead><tr class="group"><th></th>'
        + "".join(group_cells)
        + "</tr><tr><th>bucket</th>"
        + "".join(f'<th data-col="{esc(key)}">{esc(label)}</th>' for key, label, _ in cols)
        + "</tr></thead>"
    )
    thresholds = report.settings.get("buckets") or {}
    rows = []
    for name in names:
        b = report.buckets[name]
        cells = []
        for key, _, _ in cols:
            value = b.latency.get(key.split(".", 1)[1]) if key.startswith("latency.") else getattr(b, key)
            main = ' class="num-main"' if key in ("giou", "tokens_mean") else ""
            cells.append(f'<td data-col="{esc(key)}"{main}>{esc(fmt_cell(key, value))}</td>')
        rule = thresholds.get(name, "all samples" if name == "all" else "")
        dot = f'<span class="dot" style="background: var(--{esc(name)}, #3b6ea8)"></span>'
        rows.append(
            f'<tr data-bucket="{esc(name)}" class="{esc(name)}"><td title="{esc(rule)}">{dot}{esc(name)}</td>'
            + "".join(cells)
            + "</tr>"
        )
    return f'<div class="scroll"><table class="buckets">{head}<tbody>{"".join(rows)}</tbody></table></div>'


URSS_TIP = "0.7 SAT + 0.3 RST: accuracy and reasoning score per token, higher = better (docs/METRICS.md)"
CHANCE_TIP = "a random scene shape's exact box through the same segmenter"
LATENCY_TEXT = (
    "Latency: mean seconds per stage of one sample. <b>total</b> is the sample's own work (load + preprocess "
    "+ prefill + decode + parse + segment); <b>queue*</b> is the time it waited between stages (for a batch, "
    "for the reasoner, for the segmenter) and is not part of total: with batching and overlapped stages "
    "it can be many times the total. They measure different things; the wall-clock time per sample of a "
    "run is its duration divided by its samples."
)


def _ci_text(ci: Sequence[float] | None, n: int) -> str:
    """``"95 % CI 20.1-30.2, n = 100"`` (percent), or ``"n = 100"`` without an interval."""
    if not ci:
        return f"n = {n}" if n else ""
    return f"95 % CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}, n = {n}"


def _fmt_num(v: Any, digits: int = 2) -> str:
    return "-" if v is None else f"{float(v):.{digits}f}"


def render_header(title: str, report: EvalReport, generated: str, run_info: Mapping[str, Any]) -> str:
    """Title, one line of facts (benchmark, split, convention, n, dates) and key numbers of bucket "all"."""
    s = report.settings
    c = report.counts
    facts = [
        ("benchmark", s.get("benchmark_name") or s.get("benchmark")),
        ("split", s.get("split")),
        ("convention", s.get("convention")),
        ("samples", c.get("n_samples")),
        ("predictions", c.get("n_predictions")),
        ("missing", c.get("n_missing")),
        ("evaluated", s.get("timestamp")),
        ("report", generated),
    ]
    line = '<span class="sep">·</span>'.join(f"{esc(k)} <b>{esc(v)}</b>" for k, v in facts if v is not None)
    extra = "".join(
        f'<p class="meta">{esc(k)}: <b>{esc(v)}</b></p>' for k, v in run_info.items() if v not in (None, "")
    )
    a = report.buckets.get("all", BucketResult())
    kpis = [
        ("gIoU (%)", "-" if a.giou is None else f"{100 * a.giou:.2f}", _ci_text(a.giou_ci, a.n)),
        ("cIoU (%)", "-" if a.ciou is None else f"{100 * a.ciou:.2f}", ""),
    ]
    if a.chance_giou is not None:
        kpis.append(("chance gIoU (%)", f"{100 * a.chance_giou:.2f}", CHANCE_TIP))
    if a.hit_n:
        kpis.append(("box on target (%)", fmt_cell("hit_rate", a.hit_rate), _ci_text(a.hit_rate_ci, a.hit_n)))
    kpis += [
        ("mean reasoning length", _fmt_num(a.tokens_mean, 1), ""),
        ("failures (%)", "-" if a.fail_rate is None else f"{100 * a.fail_rate:.2f}", ""),
        ("URSS", _fmt_num(a.urss, 3), URSS_TIP),
        ("mean latency (s)", _fmt_num(a.latency.get("total"), 3), "the sample's own work, queueing excluded"),
    ]
    kpi_html = "".join(
        f'<div class="kpi" data-kpi="{esc(label)}" title="{esc(tip)}"><div class="v">{esc(v)}</div>'
        f'<div class="l">{esc(label)}</div>' + (f'<div class="t">{esc(tip)}</div>' if tip else "") + "</div>"
        for label, v, tip in kpis
    )
    return (
        '<header><div class="eyebrow">pixelthink evaluation report</div>'
        f'<h1>{esc(title)}</h1><p class="meta">{line}</p>{extra}'
        f'<div class="kpis">{kpi_html}</div></header>'
    )


def render_intro(text: str | None) -> str:
    """A "What this is" section of plain-text paragraphs (blank lines between them); "" without text."""
    if not text or not text.strip():
        return ""
    paragraphs = [p.strip() for p in text.strip().split("\n\n") if p.strip()]
    body = "".join(f"<p>{esc(' '.join(p.split()))}</p>" for p in paragraphs)
    return f'<section id="about" class="about"><h2>What this is</h2>{body}</section>'


def render_table_section(report: EvalReport) -> str:
    s = report.settings
    conv = str(s.get("convention"))
    unit = UNIT_TEXT.get(str(s.get("length_unit")), str(s.get("length_unit", "?")))
    caption = (
        f"Convention: <b>{esc(CONVENTION_TEXT.get(conv, conv))}</b>. gIoU, cIoU and fail% in percent; "
        f"reasoning length in {esc(unit)} (token convention {esc(s.get('token_convention', 'auto'))}: "
        f"{esc(s.get('token_convention_text', 'see docs/METRICS.md'))}); RScore judge: {esc(s.get('judge'))}; "
        f"Buckets: {esc(', '.join(f'{k}: {v}' for k, v in (s.get('buckets') or {}).items()))}."
    )
    if any(b.latency for b in report.buckets.values()):
        caption += " " + LATENCY_TEXT
    notes = ""
    if report.notes:
        notes = '<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in report.notes) + "</ul>"
    counts = report.counts
    failures = counts.get("failures") or {}
    fail_line = ""
    if failures:
        fail_line = (
            '<p class="caption" style="margin-top:8px">Failure reasons: '
            + esc(", ".join(f"{k} {v}" for k, v in sorted(failures.items())))
            + "</p>"
        )
    return (
        '<section id="results"><h2>Results per difficulty bucket</h2>'
        f'<p class="caption">{caption}</p>{bucket_table(report)}{fail_line}{notes}</section>'
    )


def render_plots(figures: Sequence[tuple[str, str]], title: str = "Plots", section_id: str = "plots") -> str:
    """A section of side-by-side figures: [(relative PNG path, caption)]."""
    figs = "".join(
        f'<figure><img src="{esc(src)}" alt="{esc(cap)}" loading="lazy"><figcaption>{esc(cap)}</figcaption></figure>'
        for src, cap in figures
    )
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2><div class="plots">{figs}</div></section>'


def render_compare(
    runs: Mapping[str, EvalReport], plot: str | None, warnings: Sequence[str], caption: str = ""
) -> str:
    """Comparison section: table runs x buckets (n, gIoU %, mean tokens, fail%, URSS) and the bar plot.

    Every row shows its own ``n`` per bucket (runs may be measured on different samples). When the first
    run (the main one) has a chance level / oracle, they follow as rows of their own on its samples."""
    buckets = ("easy", "medium", "hard", "all")
    head = (
        '<thead><tr class="group"><th></th>'
        + "".join(f'<th colspan="5" class="g">{esc(b)}</th>' for b in buckets)
        + "</tr><tr><th>run</th>"
        + "".join("<th>n</th><th>gIoU</th><th>tokens</th><th>fail%</th><th>URSS</th>" for _ in buckets)
        + "</tr></thead>"
    )
    rows = []
    for name, rep in runs.items():
        cells = []
        for b in buckets:
            r = rep.buckets.get(b, BucketResult())
            cells += [
                f'<td data-col="{b}.n">{esc(fmt_cell("n", r.n))}</td>',
                f'<td data-col="{b}.giou" class="num-main">{esc(fmt_cell("giou", r.giou))}</td>',
                f'<td data-col="{b}.tokens_mean">{esc(fmt_cell("tokens_mean", r.tokens_mean))}</td>',
                f'<td data-col="{b}.fail_rate">{esc(fmt_cell("fail_rate", r.fail_rate))}</td>',
                f'<td data-col="{b}.urss">{esc(fmt_cell("urss", r.urss))}</td>',
            ]
        conv = rep.settings.get("convention")
        rows.append(
            f'<tr data-run="{esc(name)}"><td>{esc(name)} <span class="sid">({esc(conv)})</span></td>'
            + "".join(cells)
            + "</tr>"
        )
    main = next(iter(runs.values()), None)
    if main is not None:
        for key, label in (("chance", "chance (random scene shape)"), ("oracle", "oracle (true box)")):
            values = [main.buckets.get(b, BucketResult()) for b in buckets]
            if all(getattr(v, f"{key}_giou") is None for v in values):
                continue
            cells = []
            for b, v in zip(buckets, values, strict=True):
                cells += [
                    f'<td data-col="{b}.n">{esc(fmt_cell("n", getattr(v, f"{key}_n")))}</td>',
                    f'<td data-col="{b}.giou" class="num-main">{esc(fmt_cell("giou", getattr(v, f"{key}_giou")))}'
                    "</td>",
                    "<td>-</td><td>-</td><td>-</td>",
                ]
            rows.append(
                f'<tr data-baseline="{key}" class="baseline"><td>{esc(label)}</td>' + "".join(cells) + "</tr>"
            )
    warn = ""
    if warnings:
        warn = '<ul class="notes">' + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>"
    fig = ""
    if plot:
        fig = (
            f'<figure style="margin-top:14px"><img src="{esc(plot)}" alt="comparison of runs">'
            "<figcaption>Mean reasoning length and gIoU per bucket, one bar per run.</figcaption></figure>"
        )
    text = (
        "n = samples per bucket of each row (rows measured on different samples are not directly comparable; "
        "the intervals of the results table give the noise); gIoU and fail% in percent; tokens = mean "
        "reasoning length; URSS = 0.7 SAT + 0.3 RST (accuracy and reasoning score per token)."
        + (
            " Chance and oracle: on the first row's samples, through the same segmenter (see Against chance)."
            if main is not None and main.buckets.get("all", BucketResult()).chance_giou is not None
            else ""
        )
    )
    return (
        '<section id="compare"><h2>Comparison of runs</h2>'
        f'<p class="caption">{esc(caption + " " if caption else "")}{esc(text)}</p>'
        f'<div class="scroll"><table class="compare">{head}<tbody>{"".join(rows)}</tbody></table></div>'
        f"{warn}{fig}</section>"
    )


#: columns of the "against chance" tables: (BucketResult key, header)
CHANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("n", "n"),
    ("giou", "gIoU"),
    ("giou_ci", "gIoU 95% CI"),
    ("hit_rate", "box on target"),
    ("hit_rate_ci", "95% CI"),
    ("chance_giou", "chance gIoU"),
    ("chance_ciou", "chance cIoU"),
    ("oracle_giou", "oracle gIoU"),
)
FAITH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("faith_n", "n"),
    ("faith_n_without_mentions", "no mention"),
    ("faith_mentions_mean", "mentions / sample"),
    ("faith_real", "real shapes %"),
    ("faith_last_is_target", "last = target %"),
    ("faith_n_with_mentions", "(n with a mention)"),
    ("faith_last_is_target_hits", "last = target, on hits %"),
    ("faith_n_hits", "(n hits)"),
)


MAIN_CELL = ' class="num-main"'


def _rows_table(
    cls: str, first: str, rows: Mapping[str, BucketResult], cols: Sequence[tuple[str, str]]
) -> str:
    head = f"<thead><tr><th>{esc(first)}</th>" + "".join(
        f'<th data-col="{esc(k)}">{esc(h)}</th>' for k, h in cols
    )
    body = []
    for name, b in rows.items():
        cells = "".join(
            f'<td data-col="{esc(k)}"{MAIN_CELL if k == "giou" else ""}>{esc(fmt_cell(k, getattr(b, k)))}</td>'
            for k, _ in cols
        )
        cls_row = ' class="all"' if name == "all" else ""
        body.append(f'<tr data-row="{esc(name)}"{cls_row}><td>{esc(name)}</td>{cells}</tr>')
    return f'<div class="scroll"><table class="{esc(cls)}">{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def render_chance(report: EvalReport) -> str:
    """The "against chance" section: per bucket and per query family, n, gIoU and the box-on-target hit
    rate with their bootstrap intervals, the chance level and the oracle; then the exact faithfulness of
    grounded mentions (shapes benchmarks). "" when there is nothing to show."""
    names = shown_buckets(report)
    buckets = {n: report.buckets[n] for n in names}
    if not any(b.giou_ci or b.hit_n for b in buckets.values()):
        return ""
    chance = report.settings.get("chance") or {}
    boot = report.settings.get("bootstrap") or {}
    seg = chance.get("segmenter") if chance.get("computed") else None
    caption = (
        "Box on target: the predicted box hits the target (box IoU > 0.5, the reward's). Intervals: bootstrap "
        f"95 % ({boot.get('n_resamples', 1000)} resamples, percentile). "
        + (
            f"Chance: each of the scene's shapes in turn, its exact box and centre given to the same segmenter "
            f"({seg}), averaged: what picking a shape at random scores with perfect perception. Oracle: the "
            "true box and points through that segmenter, its ceiling."
            if seg
            else "No chance level or oracle (not a shapes benchmark, or not computed)."
        )
    )
    parts = [
        '<section id="chance"><h2>Against chance</h2>',
        f'<p class="caption">{esc(caption)}</p>',
        _rows_table("chance", "bucket", buckets, CHANCE_COLUMNS),
    ]
    if report.families:
        parts.append('<h3 style="text-transform:none">Per query family</h3>')
        parts.append(_rows_table("families", "family", dict(sorted(report.families.items())), CHANCE_COLUMNS))
    faith = {n: b for n, b in buckets.items() if b.faith_n}
    if faith:
        parts.append(
            '<h3 style="text-transform:none">Faithfulness of the reasoning (exact, shapes benchmarks only)</h3>'
        )
        parts.append(
            '<p class="caption">Grounded mentions ("red star [x1, y1, x2, y2]", the answer\'s frame) in the '
            "reasoning, checked against the scene: real = the box is a shape of the named colour and kind; "
            "last = target: the last mention is the target. A sample without a mention counts as not faithful.</p>"
        )
        parts.append(_rows_table("faithfulness", "bucket", faith, FAITH_COLUMNS))
    parts.append("</section>")
    return "".join(parts)


def _length_text(tokens: float | None, unit: str) -> str:
    value = "-" if tokens is None else f"{tokens:g}"
    return f"{value} {unit}" if unit in ("tokens", "words") else f"length {value}"


UNIT_TEXT = {
    "reasoning_tokens": "tokens (Prediction.reasoning_tokens)",
    "tokenizer": "tokenizer tokens of the think text",
    "words": "whitespace words of the think text",
    "response_words": "whitespace words of the whole response",
    "mixed": "mixed units (see the notes below)",
    "none": "none recorded",
}


def _iou_class(iou: float | None, failed: bool) -> str:
    if failed or iou is None or iou < 0.5:
        return "iou-bad"
    return "iou-good" if iou >= 0.75 else "iou-mid"


def render_card(item: GalleryItem, unit: str) -> str:
    """One gallery card: picture, badges (bucket, difficulty, IoU, tokens), query, reasoning, error."""
    r = item.result
    s = item.sample
    pred = item.prediction
    if item.image:
        pic = f'<img src="{esc(item.image)}" alt="{esc(s.id)}" loading="lazy">'
    else:
        pic = f'<div class="noimg">picture not drawn: {esc(item.render_error)}</div>'
    iou = "-" if r.iou is None else f"{r.iou:.3f}"
    badges = [
        f'<span class="badge b-{esc(r.bucket)}">{esc(r.bucket)}</span>',
        f'<span class="badge">difficulty {esc("-" if r.difficulty is None else f"{r.difficulty:g}")}</span>',
        f'<span class="badge {_iou_class(r.iou, r.failed)}">IoU {esc(iou)}</span>',
        f'<span class="badge">{esc(_length_text(r.tokens, unit))}</span>',
    ]
    if r.failed:
        badges.append(f'<span class="badge iou-bad">failed: {esc(r.failure)}</span>')
    if item.think:
        think = f'<div class="think">{esc(item.think)}</div>'
    elif pred is not None and pred.response is not None:
        think = '<div class="think none">no &lt;think&gt; block in the response</div>'
    else:
        think = '<div class="think none">no response</div>'
    error = ""
    if r.failed:
        if pred is None:
            msg = "no prediction for this sample (missing from the predictions file)"
        elif pred.error:
            msg = pred.error
        else:
            msg = {
                "no_mask": "the prediction has no mask, box or response",
                "unparsable": "no usable box could be parsed from the response",
                "strict_parse": "Seg-Zero's extractor rejects the response (--strict-parse)",
            }.get(str(r.failure), str(r.failure))
        error = f'<div class="error">{esc(msg)}</div>'
    facts = describe_prediction(pred)
    fact_line = ""
    if facts:
        fact_line = '<div class="facts">' + esc(" · ".join(f"{k} {v}" for k, v in facts.items())) + "</div>"
    raw = ""
    if pred is not None and pred.response is not None:
        raw = f"<details><summary>raw response</summary><pre>{esc(pred.response)}</pre></details>"
    return (
        f'<div class="card {esc(item.kind)}" data-id="{esc(s.id)}">{pic}<div class="body">'
        f'<div class="badges">{"".join(badges)}</div>'
        f'<div class="query">{esc(s.query)}</div><div class="sid">{esc(s.id)}</div>'
        f"{think}{error}{fact_line}{raw}</div></div>"
    )


def render_gallery(gallery: Mapping[str, Sequence[GalleryItem]], unit: str, per_bucket: int) -> str:
    legend = (
        '<p class="legend">Prediction: <span class="sw" style="background:#ff4020;margin-left:4px"></span>mask '
        "(outline and hatching, no tint: the shapes keep their colours) "
        '<span class="sw" style="background:#20e040"></span>box '
        '<span class="sw" style="background:#ffff00;border-radius:50%"></span>point 1 '
        '<span class="sw" style="background:#00c8ff;border-radius:50%"></span>point 2 '
        '<span class="sw" style="background:#fff;border:2px solid #222"></span>ground truth contour. '
        f"Per bucket up to {per_bucket}: the best samples first, then failures and the lowest IoUs.</p>"
    )
    parts = []
    for bucket, items in gallery.items():
        cards = "".join(render_card(it, unit) for it in items)
        parts.append(f'<h3>{esc(bucket)}</h3><div class="gallery" data-bucket="{esc(bucket)}">{cards}</div>')
    if not parts:
        parts.append('<p class="caption">no examples (no per-sample results, or --gallery 0)</p>')
    return f'<section id="gallery"><h2>Examples</h2>{legend}{"".join(parts)}</section>'


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append((prefix, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))


def render_settings(report: EvalReport, extra: Mapping[str, Any] | None = None) -> str:
    """All evaluation settings (flattened ``a.b`` keys) and counts, in a definition list."""
    rows: list[tuple[str, str]] = []
    _flatten("", report.settings, rows)
    _flatten("counts", report.counts, rows)
    if extra:
        _flatten("report", dict(extra), rows)
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
    missing = ""
    if report.missing_ids:
        shown = ", ".join(report.missing_ids[:50])
        more = f" (+{len(report.missing_ids) - 50} more)" if len(report.missing_ids) > 50 else ""
        missing = f'<p class="caption" style="margin-top:10px">Missing predictions: {esc(shown + more)}</p>'
    return (
        '<section id="settings"><h2>Settings</h2>'
        '<p class="caption">The evaluation settings that produced these numbers.</p>'
        f'<dl class="kv">{items}</dl>{missing}</section>'
    )


def render_page(title: str, body: str, generated: str) -> str:
    """The full HTML document: ``template.html`` with the CSS inline and ``body`` inside ``<main>``."""
    from pixelthink import __version__

    template = Template(resources.files("pixelthink.report").joinpath("template.html").read_text("utf-8"))
    return template.substitute(
        page_title=esc(title), body=body, version=esc(__version__), generated=esc(generated)
    )
