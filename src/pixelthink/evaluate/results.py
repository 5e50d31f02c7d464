"""The evaluation report: per-bucket results, the settings that produced them, a table printer.

``EvalReport.to_dict()`` is what ``pixelthink eval --out`` writes (JSON); ``format_table(report)``
is what it prints. gIoU / cIoU are stored as fractions in [0, 1] and printed as percentages.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pixelthink.jsonio import atomic_write_text, clipped, is_number

#: Display order of buckets; buckets with n = 0 other than easy/medium/hard are not printed.
BUCKET_ORDER: tuple[str, ...] = ("easy", "medium", "hard", "unrated", "all")


@dataclass
class BucketResult:
    """Metrics of one difficulty bucket.

    Attributes:
        n: samples in the bucket (benchmark samples, missing predictions included).
        n_scored: samples entering gIoU (segzero drops successful predictions with an empty union).
        n_failed: failures (missing prediction, prediction error, no usable mask or box).
        fail_rate: ``n_failed / n`` (None when n = 0).
        giou, ciou: fractions in [0, 1], or None when nothing was scored.
        n_skipped_empty: samples dropped from gIoU for an empty union (segzero).
        tokens_n, tokens_mean, tokens_median, tokens_p90: reasoning length statistics over samples with
            a response or a recorded ``reasoning_tokens`` (unit in ``EvalReport.settings["length_unit"]``).
        uncertainty_mean, uncertainty_n: mean of ``Prediction.uncertainty`` where present.
        rscore, rscore_n: mean judge score in [0, 1] over judged samples; rscore_no_refs: samples of the
            bucket without reference reasoning (not judged).
        sat, rst, urss: efficiency scores (see docs/METRICS.md), None when an input is missing.
        latency: mean seconds per pipeline stage over the predictions that report it.
        giou_ci: bootstrap 95 % interval ``[low, high]`` of gIoU (fractions; the mean of the per-sample
            IoUs resampled, ``evaluate.intervals.bootstrap_ci``), None when nothing was scored.
        hit_n, hit_rate, hit_rate_ci: samples with a target box, the fraction of them whose predicted box
            hits the target (the reward's box IoU > 0.5), and its bootstrap 95 % interval.
        chance_n, chance_giou, chance_ciou: shapes benchmarks: the expected gIoU / cIoU of a policy that picks
            one of the scene's shapes uniformly at random and gives its exact box and centre to the run's
            segmenter (``evaluate.chance``); None elsewhere or with ``chance=False``.
        oracle_n, oracle_giou, oracle_ciou: shapes benchmarks: the true box and points through the same
            segmenter (its ceiling).
        faith_n: shapes samples whose prediction has a response (exact faithfulness of grounded mentions,
            ``evaluate.shapes``); faith_n_without_mentions: those with no grounded mention (not faithful);
            faith_mentions_mean: mean mentions per sample (over faith_n); faith_real: fraction of all mentions
            whose box hits a real shape of the named kind and colour; faith_n_with_mentions /
            faith_last_is_target: samples with a mention and the fraction whose last mention is the target;
            faith_n_hits / faith_last_is_target_hits: samples whose box hits the target and the fraction
            of them whose last mention is the target (a sample without mention counts as not).
    """

    n: int = 0
    n_scored: int = 0
    n_failed: int = 0
    fail_rate: float | None = None
    giou: float | None = None
    ciou: float | None = None
    n_skipped_empty: int = 0
    tokens_n: int = 0
    tokens_mean: float | None = None
    tokens_median: float | None = None
    tokens_p90: float | None = None
    uncertainty_mean: float | None = None
    uncertainty_n: int = 0
    rscore: float | None = None
    rscore_n: int = 0
    rscore_no_refs: int = 0
    sat: float | None = None
    rst: float | None = None
    urss: float | None = None
    latency: dict[str, float] = field(default_factory=dict)
    giou_ci: list[float] | None = None
    hit_n: int = 0
    hit_rate: float | None = None
    hit_rate_ci: list[float] | None = None
    chance_n: int = 0
    chance_giou: float | None = None
    chance_ciou: float | None = None
    oracle_n: int = 0
    oracle_giou: float | None = None
    oracle_ciou: float | None = None
    faith_n: int = 0
    faith_n_without_mentions: int = 0
    faith_mentions_mean: float | None = None
    faith_real: float | None = None
    faith_n_with_mentions: int = 0
    faith_last_is_target: float | None = None
    faith_n_hits: int = 0
    faith_last_is_target_hits: float | None = None


@dataclass
class SampleResult:
    """Per-sample outcome (no masks): enough to recompute every bucket metric.

    ``family``: the query family (``source.family``) when the benchmark records one; ``hit``: whether the
    predicted box hits the target (None without a target box); ``chance_iou`` / ``oracle_iou``: the
    sample's chance level and oracle IoU (shapes benchmarks); ``mentions`` / ``real_mentions`` /
    ``last_is_target``: its grounded mentions (shapes benchmarks, predictions with a response).
    """

    id: str
    bucket: str
    difficulty: float | None
    intersection: int
    union: int
    iou: float | None
    failed: bool
    failure: str | None = None
    mask_source: str | None = None
    tokens: float | None = None
    rscore: float | None = None
    uncertainty: float | None = None
    family: str | None = None
    hit: bool | None = None
    chance_iou: float | None = None
    oracle_iou: float | None = None
    mentions: int | None = None
    real_mentions: int | None = None
    last_is_target: bool | None = None


@dataclass
class EvalReport:
    """Everything ``evaluate`` measured, with the settings needed to reproduce it.

    Attributes:
        settings: convention, response frame, bucket thresholds, judge, length unit, efficiency
            parameters, input paths, versions of pixelthink / numpy / pycocotools, timestamp.
        buckets: ``BucketResult`` per bucket name (easy, medium, hard, unrated, all).
        counts: n_samples, n_predictions, n_missing, n_extra (predictions whose id is not in the benchmark),
            mask sources, failure reasons, length sources.
        missing_ids: ids of benchmark samples without a prediction (all of them).
        extra_ids: prediction ids not in the benchmark (first 100).
        notes: human-readable caveats (masks from boxes, judge is a proxy, mixed length units...).
        samples: per-sample results (empty when ``keep_samples=False``).
        families: ``BucketResult`` per query family (``source.family``; shapes benchmarks), empty when the
            benchmark records none.
    """

    settings: dict[str, Any]
    buckets: dict[str, BucketResult]
    counts: dict[str, Any]
    missing_ids: list[str] = field(default_factory=list)
    extra_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    samples: list[SampleResult] = field(default_factory=list)
    families: dict[str, BucketResult] = field(default_factory=dict)

    def to_dict(self, *, include_samples: bool = True) -> dict[str, Any]:
        """Plain JSON-serialisable dict (buckets in display order)."""
        ordered = {k: asdict(self.buckets[k]) for k in BUCKET_ORDER if k in self.buckets}
        ordered.update({k: asdict(v) for k, v in self.buckets.items() if k not in ordered})
        out: dict[str, Any] = {
            "settings": self.settings,
            "buckets": ordered,
            "counts": self.counts,
            "missing_ids": list(self.missing_ids),
            "extra_ids": list(self.extra_ids),
            "notes": list(self.notes),
            "families": {k: asdict(v) for k, v in sorted(self.families.items())},
        }
        if include_samples:
            out["samples"] = [asdict(s) for s in self.samples]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        """Inverse of :meth:`to_dict`.

        Raises ValueError naming the field (``buckets.all.giou: expected float or null, got 'abc'``) for
        a value of the wrong type (a hand-edited or damaged report), KeyError / TypeError for a missing
        section or an unknown field."""
        return cls(
            settings=dict(data["settings"]),
            buckets={k: _checked(BucketResult, v, f"buckets.{k}") for k, v in data["buckets"].items()},
            counts=dict(data["counts"]),
            missing_ids=list(data.get("missing_ids", [])),
            extra_ids=list(data.get("extra_ids", [])),
            notes=list(data.get("notes", [])),
            samples=[
                _checked(SampleResult, s, f"samples[{i}]") for i, s in enumerate(data.get("samples", []))
            ],
            families={
                k: _checked(BucketResult, v, f"families.{k}") for k, v in (data.get("families") or {}).items()
            },
        )

    def save(self, path: str | os.PathLike[str], *, include_samples: bool = True) -> Path:
        """Write the report as indented JSON (parent directories created; atomically: a full disk leaves
        no partial file); returns the path."""
        text = json.dumps(self.to_dict(include_samples=include_samples), indent=2, ensure_ascii=False)
        return atomic_write_text(path, text + "\n")


def _real(value: Any) -> bool:
    return is_number(value, finite=False)  # NaN / inf included; not a 400-digit int


def _fits(value: Any, kind: str) -> bool:
    """Whether a report value has the type its dataclass field declares (``kind``, a type string)."""
    base = kind.removesuffix(" | None")
    if value is None:
        return base != kind
    checks = {
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": _real,
        "str": lambda v: isinstance(v, str),
        "list[float]": lambda v: isinstance(v, list) and len(v) == 2 and all(_real(x) for x in v),
        "dict[str, float]": lambda v: isinstance(v, dict) and all(_real(x) for x in v.values()),
    }
    check = checks.get(base)
    return True if check is None else bool(check(value))


def _checked(cls: Any, data: Any, where: str) -> Any:
    """``cls(**data)`` after checking each known field's value against its declared type."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    kinds = {f.name: str(f.type) for f in fields(cls)}
    for key, value in data.items():
        kind = kinds.get(key)
        if kind is not None and not _fits(value, kind):
            huge = isinstance(value, int) and not _real(value)
            shown = clipped(str(value), 20) if huge else clipped(repr(value), 60)
            expected = kind.replace(" | None", " or null").replace("list[float]", "[low, high]")
            raise ValueError(f"{where}.{key}: expected {expected}, got {shown}")
    return cls(**data)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100.0 * v:.2f}"


def _num(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _latency(lat: dict[str, float]) -> str:
    if not lat:
        return "-"
    if "total" in lat:
        return f"{lat['total']:.2f}s"
    return " ".join(f"{k}={v:.2f}s" for k, v in lat.items())


#: Display order of latency stages (``pipeline.STAGES`` plus the OpenAI reasoner's request/queue);
#: stages not listed here follow in alphabetical order.
LATENCY_STAGE_ORDER: tuple[str, ...] = (
    "load",
    "preprocess",
    "queue",
    "request",
    "prefill",
    "decode",
    "parse",
    "segment",
    "total",
)


def latency_stages(report: EvalReport) -> list[str]:
    """Latency stages reported by any bucket, in display order (``LATENCY_STAGE_ORDER``, then others)."""
    seen = {k for b in report.buckets.values() for k in b.latency}
    known = [k for k in LATENCY_STAGE_ORDER if k in seen]
    return known + sorted(seen - set(LATENCY_STAGE_ORDER))


def latency_rows(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    """The per-stage latency table: header (``bucket``, n, one column per stage present) and one row of
    mean seconds per displayed bucket that has latency. Empty when no prediction reported latency."""
    stages = latency_stages(report)
    if not stages:
        return [], []
    rows = []
    for name in _display_buckets(report):
        b = report.buckets[name]
        if not b.latency:
            continue
        rows.append([name, str(b.n), *(_num(b.latency.get(k), 3) for k in stages)])
    return ["bucket", "n", *stages], rows


TABLE_COLUMNS: tuple[str, ...] = (
    "bucket",
    "n",
    "gIoU",
    "cIoU",
    "tok mean",
    "tok med",
    "tok p90",
    "fail%",
    "U",
    "RScore",
    "SAT",
    "RST",
    "URSS",
    "latency",
)


def _display_buckets(report: EvalReport) -> list[str]:
    """Bucket names to print, in order: easy, medium, hard, all always; other buckets when non-empty."""
    names = []
    for name in [*BUCKET_ORDER, *[b for b in report.buckets if b not in BUCKET_ORDER]]:
        b = report.buckets.get(name)
        if b is None or (b.n == 0 and name not in ("easy", "medium", "hard", "all")):
            continue
        names.append(name)
    return names


def table_rows(report: EvalReport) -> list[list[str]]:
    """One row of strings per displayed bucket, columns as in ``TABLE_COLUMNS``."""
    rows = []
    for name in _display_buckets(report):
        b = report.buckets[name]
        rows.append(
            [
                name,
                str(b.n),
                _pct(b.giou),
                _pct(b.ciou),
                _num(b.tokens_mean, 1),
                _num(b.tokens_median, 1),
                _num(b.tokens_p90, 1),
                _pct(b.fail_rate),
                _num(b.uncertainty_mean, 3),
                _num(b.rscore, 3),
                _num(b.sat, 3),
                _num(b.rst, 3),
                _num(b.urss, 3),
                _latency(b.latency),
            ]
        )
    return rows


def format_table(report: EvalReport) -> str:
    """A fixed-width text table, one row per bucket, with the convention and settings in the title."""
    s = report.settings
    title = (
        f"pixelthink eval | convention={s.get('convention')} | benchmark={s.get('benchmark_name', '?')} | "
        f"tokens={s.get('token_convention', 'auto')}:{s.get('length_unit', '?')} | judge={s.get('judge')} | "
        f"response frame={s.get('response_frame')}"
    )
    lines = [title, *_fixed_width(list(TABLE_COLUMNS), table_rows(report))]
    c = report.counts
    lines.append(
        f"samples {c.get('n_samples', 0)}, predictions {c.get('n_predictions', 0)}, "
        f"missing {c.get('n_missing', 0)}, extra {c.get('n_extra', 0)}; gIoU/cIoU/fail in %"
    )
    if report.missing_ids:
        shown = ", ".join(report.missing_ids[:5])
        more = f" (+{len(report.missing_ids) - 5} more)" if len(report.missing_ids) > 5 else ""
        lines.append(f"missing predictions (scored as failures): {shown}{more}")
    chance_header, chance_rows = chance_table(report)
    if chance_rows:
        lines.append("")
        lines.append(chance_title(report))
        lines.extend(_fixed_width(chance_header, chance_rows))
    family_header, family_rows = family_table(report)
    if family_rows:
        lines.append("")
        lines.append("per query family (source.family; same columns)")
        lines.extend(_fixed_width(family_header, family_rows))
    faith_header, faith_rows = faithfulness_table(report)
    if faith_rows:
        lines.append("")
        lines.append(FAITHFULNESS_TITLE)
        lines.extend(_fixed_width(faith_header, faith_rows))
    stage_header, stage_rows = latency_rows(report)
    if stage_rows and stage_header[2:] != ["total"]:
        lines.append("")
        lines.append(
            "latency per stage (s, mean over the predictions that report the stage; total = the sample's own "
            "work, queue = its waiting between stages, not part of total)"
        )
        lines.extend(_fixed_width(stage_header, stage_rows))
    lines.extend(f"note: {n}" for n in report.notes)
    return "\n".join(lines)


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else f"[{100.0 * ci[0]:.1f}, {100.0 * ci[1]:.1f}]"


CHANCE_COLUMNS: tuple[str, ...] = (
    "n",
    "gIoU",
    "gIoU 95% CI",
    "hit%",
    "hit 95% CI",
    "chance gIoU",
    "chance cIoU",
    "oracle gIoU",
)


def chance_title(report: EvalReport) -> str:
    """Title of the chance table: what hit, chance and oracle mean, and the segmenter used."""
    chance = report.settings.get("chance") or {}
    seg = f", segmenter {chance.get('segmenter')}" if chance.get("computed") else ""
    return (
        "against chance (in %; hit = predicted box on the target, box IoU > 0.5; chance = a random scene "
        f"shape's exact box and centre, oracle = the true box and points, shapes benchmarks only{seg})"
    )


def _chance_row(name: str, b: BucketResult) -> list[str]:
    return [
        name,
        str(b.n),
        _pct(b.giou),
        _ci(b.giou_ci),
        _pct(b.hit_rate),
        _ci(b.hit_rate_ci),
        _pct(b.chance_giou),
        _pct(b.chance_ciou),
        _pct(b.oracle_giou),
    ]


def chance_table(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    """Per displayed bucket: n, gIoU and its interval, hit rate and its interval, chance, oracle.
    Empty when no bucket has a gIoU or a hit rate."""
    names = _display_buckets(report)
    if not any(report.buckets[n].giou_ci or report.buckets[n].hit_n for n in names):
        return [], []
    return ["bucket", *CHANCE_COLUMNS], [_chance_row(n, report.buckets[n]) for n in names]


def family_table(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    """The columns of :func:`chance_table` per query family (empty without families)."""
    rows = [_chance_row(name, b) for name, b in sorted(report.families.items())]
    return (["family", *CHANCE_COLUMNS], rows) if rows else ([], [])


FAITHFULNESS_TITLE = (
    "faithfulness of grounded mentions (exact, shapes benchmarks only; in %): real = mentioned boxes that "
    "are a shape of the named colour and kind; last=target among samples with a mention and among "
    "samples whose box hits the target (no mention = not faithful)"
)


def faithfulness_table(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    """Per displayed bucket with shapes predictions: n, samples without mention, mentions per sample,
    real %, last mention = target % (n with a mention), the same among hits (n hits)."""
    names = [n for n in _display_buckets(report) if report.buckets[n].faith_n]
    header = ["bucket", "n", "no mention", "mentions", "real%", "last=target%", "(n)", "on hits%", "(n hits)"]
    rows = []
    for name in names:
        b = report.buckets[name]
        rows.append(
            [
                name,
                str(b.faith_n),
                str(b.faith_n_without_mentions),
                _num(b.faith_mentions_mean, 2),
                _pct(b.faith_real),
                _pct(b.faith_last_is_target),
                str(b.faith_n_with_mentions),
                _pct(b.faith_last_is_target_hits),
                str(b.faith_n_hits),
            ]
        )
    return (header, rows) if rows else ([], [])


def _fixed_width(header: list[str], rows: list[list[str]]) -> list[str]:
    """Separator, header, separator, rows, separator; first column left-aligned, the rest right."""
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    sep = "-" * len(fmt(header))
    return [sep, fmt(header), sep, *(fmt(r) for r in rows), sep]
