"""``build_report``: benchmark + predictions (+ evaluation reports) -> ``report_dir/index.html``.

Layout of the output directory::

    report_dir/
      index.html                   self-contained page (CSS inline), links the files below
      eval.json                    the evaluation report of the main run (EvalReport.save)
      assets/plots/*.png           reasoning length per bucket, IoU vs length, comparison of runs
      assets/gallery/*.jpg         examples: prediction over the image with the GT contour

Everything is regenerated on each call (files of the same names are overwritten).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pixelthink.data import Benchmark
from pixelthink.data.resolve import open_benchmark
from pixelthink.evaluate.results import EvalReport, SampleResult
from pixelthink.jsonio import atomic_write_text, read_json_file
from pixelthink.predictions import Prediction, predictions_by_id

__all__ = ["Run", "build_report", "load_eval_report", "make_run", "parse_compare_spec"]

PredictionsLike = str | os.PathLike[str] | Iterable[Prediction] | Mapping[str, Prediction]
EvalLike = EvalReport | Mapping[str, Any] | str | os.PathLike[str]
#: ``{name: predictions}`` or ``{name: (predictions, eval report or None)}``.
#: Short unit of reasoning lengths per ``settings["length_unit"]`` ("mixed" / "none" -> "length").
UNIT_LABELS = {
    "reasoning_tokens": "tokens",
    "tokenizer": "tokens",
    "words": "words",
    "response_words": "words",
}
CompareLike = Mapping[str, PredictionsLike | tuple[PredictionsLike, EvalLike | None]]


@dataclass
class Run:
    """One run of the report: its name, predictions (by id), evaluation report and where they came from."""

    name: str
    predictions: dict[str, Prediction]
    report: EvalReport
    predictions_path: str | None = None
    eval_path: str | None = None
    run_info: dict[str, Any] = field(default_factory=dict)


def load_eval_report(value: EvalLike) -> EvalReport:
    """An ``EvalReport`` from itself, its ``to_dict()`` or a JSON file written by ``pixelthink eval``."""
    if isinstance(value, EvalReport):
        return value
    if isinstance(value, Mapping):
        try:
            return EvalReport.from_dict(dict(value))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"evaluation report: not a pixelthink eval report ({exc})") from None
    p = Path(value)
    data = read_json_file(p, "evaluation report")
    if not isinstance(data, dict) or not {"settings", "buckets", "counts"} <= set(data):
        raise ValueError(f"{p}: expected a pixelthink eval report with 'settings', 'buckets' and 'counts'")
    try:
        return EvalReport.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{p}: not a pixelthink eval report ({exc})") from None


def _load_predictions(predictions: PredictionsLike) -> tuple[dict[str, Prediction], str | None]:
    path = str(Path(predictions)) if isinstance(predictions, str | os.PathLike) else None
    return predictions_by_id(predictions), path


def _run_info(path: str | None) -> dict[str, Any]:
    """Settings that ``pixelthink predict`` wrote next to the predictions (``STEM.run.json``), if any."""
    if path is None:
        return {}
    p = Path(path)
    run_file = p.with_name(p.stem + ".run.json")
    if not run_file.is_file():
        return {}
    data = read_json_file(run_file, "run settings")
    return data if isinstance(data, dict) else {}


def _default_name(path: str | None, info: Mapping[str, Any]) -> str:
    model = info.get("model")
    if isinstance(model, str) and model:
        return Path(model.rstrip("/")).name or model
    if path is None:
        return "predictions"
    p = Path(path)
    stem = p.name.removesuffix(".jsonl")
    return p.parent.name if stem == "predictions" and p.parent.name else stem


def _eval_kwargs(report: EvalReport, options: Mapping[str, Any]) -> dict[str, Any]:
    """``evaluate`` options that reproduce ``report``'s convention, frame, parse mode and thresholds."""
    from pixelthink.rewards import RewardConfig

    s = report.settings
    kw: dict[str, Any] = dict(options)
    kw.setdefault("convention", s.get("convention", "lisa"))
    kw.setdefault("response_frame", s.get("response_frame", 840))
    kw.setdefault("strict_parse", bool(s.get("strict_parse", False)))
    if s.get("token_convention") in ("model", "paper"):  # the conventions that need no tokenizer
        kw.setdefault("tokens", s["token_convention"])
    if "config" not in kw and s.get("tau_medium") is not None and s.get("tau_hard") is not None:
        kw["config"] = replace(
            RewardConfig(), tau_medium=float(s["tau_medium"]), tau_hard=float(s["tau_hard"])
        )
    return kw


def _check_matches(report: EvalReport, bench: Benchmark, ids: set[str], where: str) -> None:
    n = report.counts.get("n_samples")
    if n is not None and int(n) != len(ids):
        raise ValueError(
            f"{where}: evaluated {n} samples but the benchmark {bench.root}"
            f"{f' (split {bench.split})' if bench.split else ''} has {len(ids)}; "
            "pass the benchmark (and split) the report was made from"
        )
    for s in report.samples:
        if s.id not in ids:
            raise ValueError(f"{where}: sample id {s.id!r} is not in the benchmark {bench.root}")


def make_run(
    name: str | None,
    bench: Benchmark,
    ids: set[str],
    predictions: PredictionsLike,
    eval_report: EvalLike | None,
    options: Mapping[str, Any],
    notes: list[str],
) -> Run:
    """One run: its predictions and evaluation (``eval_report`` checked against the benchmark's ``ids``,
    or computed with ``evaluate(**options)`` when None; per-sample results recomputed when the report
    has none). What needs saying is appended to ``notes``."""
    from pixelthink.evaluate.runner import evaluate

    preds, path = _load_predictions(predictions)
    info = _run_info(path)
    run_name = name or _default_name(path, info)
    eval_path = (
        None if eval_report is None or isinstance(eval_report, EvalReport | Mapping) else str(eval_report)
    )
    if eval_report is None:
        report = evaluate(bench, path if path is not None else preds, **dict(options))
    else:
        report = load_eval_report(eval_report)
        where = eval_path or f"evaluation report of {run_name!r}"
        _check_matches(report, bench, ids, where)
        recorded = report.settings.get("predictions")
        if (
            path is not None
            and recorded
            and recorded != "<in-memory>"
            and Path(recorded).resolve() != Path(path).resolve()
        ):
            notes.append(
                f"{run_name}: the evaluation report was made from {recorded}, not {path}; "
                "the gallery shows the latter"
            )
        if not report.samples:
            # The table keeps the report's numbers; plots and gallery need per-sample results.
            per_sample = evaluate(
                bench, path if path is not None else preds, **_eval_kwargs(report, {"judge": None})
            )
            report = replace(report, samples=per_sample.samples)
            notes.append(
                f"{run_name}: the evaluation report has no per-sample results; plots and gallery use "
                f"per-sample IoU and lengths recomputed with convention {report.settings.get('convention')} "
                "(no judge, no tokenizer)"
            )
    return Run(run_name, preds, report, path, eval_path, info)


def restrict_report(report: EvalReport, ids: set[str]) -> EvalReport | None:
    """``report`` recomputed on the samples ``ids`` from its per-sample results (buckets and families:
    gIoU, cIoU, lengths, RScore, uncertainty, hit rate, faithfulness; no latency, no chance level), or None
    when its per-sample results do not cover every id (then it cannot be put on the same samples)."""
    from pixelthink.evaluate.efficiency import EfficiencyConfig
    from pixelthink.evaluate.runner import EvalAccumulator

    have = {s.id for s in report.samples}
    if not ids or not ids <= have:
        return None
    if have == ids:
        return report
    acc = EvalAccumulator(str(report.settings.get("convention", "lisa")))  # type: ignore[arg-type]
    kept = [s for s in report.samples if s.id in ids]
    for rec in kept:
        acc.add(rec)
    eff = report.settings.get("efficiency")
    efficiency = EfficiencyConfig(**eff) if isinstance(eff, Mapping) else EfficiencyConfig()
    counts = {**report.counts, "n_samples": len(kept), "restricted_from": report.counts.get("n_samples")}
    return replace(
        report,
        buckets=acc.results(efficiency),
        families=acc.family_results(efficiency),
        counts=counts,
        samples=kept,
        missing_ids=[i for i in report.missing_ids if i in ids],
    )


def parse_compare_spec(spec: str) -> tuple[str, str, str | None]:
    """``"NAME=preds.jsonl[,eval.json]"`` -> (name, predictions path, eval path or None)."""
    name, sep, rest = spec.partition("=")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise ValueError(f"--compare {spec!r}: expected NAME=PREDICTIONS.jsonl[,EVAL.json]")
    parts = [p.strip() for p in rest.split(",")]
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"--compare {spec!r}: expected NAME=PREDICTIONS.jsonl[,EVAL.json]")
    return name, parts[0], parts[1] if len(parts) == 2 else None


def _compare_runs(
    compare: CompareLike | None,
    main: Run,
    bench: Benchmark,
    ids: set[str],
    options: Mapping[str, Any],
    notes: list[str],
) -> dict[str, Run]:
    """The runs compared with ``main`` (evaluated with ``options`` when they come without a report)."""
    runs: dict[str, Run] = {}
    for name, spec in (compare or {}).items():
        if name == main.name or name in runs:
            raise ValueError(f"compare: run name {name!r} is used twice (the main run is {main.name!r})")
        preds_spec, eval_spec = spec if isinstance(spec, tuple) else (spec, None)
        runs[name] = make_run(name, bench, ids, preds_spec, eval_spec, options, notes)
    return runs


def _reference_reports(
    references: Mapping[str, EvalLike] | None,
    taken: Iterable[str],
    main_name: str,
    ids: set[str],
    notes: list[str],
) -> dict[str, EvalReport]:
    """The reference results, put on this run's samples ``ids`` when their per-sample results allow."""
    used = set(taken)
    refs: dict[str, EvalReport] = {}
    for name, value in (references or {}).items():
        if name in used or name in refs:
            raise ValueError(f"references: run name {name!r} is used twice (the main run is {main_name!r})")
        loaded = load_eval_report(value)
        where = str(value) if isinstance(value, str | os.PathLike) else "in memory"
        n = loaded.buckets["all"].n if "all" in loaded.buckets else "?"
        restricted = restrict_report(loaded, ids)
        if restricted is loaded:
            refs[name] = loaded
            notes.append(f"{name}: reference result ({where}), measured on the same {n} samples as this run")
        elif restricted is not None:
            refs[name] = restricted
            notes.append(
                f"{name}: reference result ({where}, {n} samples) recomputed from its per-sample results on "
                f"the {len(ids)} samples of this run (gIoU, cIoU, lengths, RScore, hit rate; no latency)"
            )
        else:
            refs[name] = loaded
            notes.append(
                f"{name}: reference result ({where}, {n} samples), shown as recorded, not recomputed"
                + ("" if n == len(ids) else f": other samples than this run's {len(ids)}, see n per row")
            )
    return refs


def _compare_caption(main_name: str, report: EvalReport, others: Mapping[str, EvalReport]) -> str:
    sizes = {name: r.buckets["all"].n for name, r in others.items() if "all" in r.buckets}
    differ = sorted(name for name, n in sizes.items() if n != report.buckets["all"].n)
    if not differ:
        return f"Every row has n = {report.buckets['all'].n} samples."
    return (
        f"{main_name} is measured on {report.buckets['all'].n} samples; "
        + ", ".join(f"{name} on {sizes[name]}" for name in differ)
        + " (other samples: compare with care)."
    )


def _write_plots(
    samples: list[SampleResult], main: Run, others: Mapping[str, EvalReport], plots_dir: Path, unit_label: str
) -> tuple[list[tuple[Path, str]], Path | None]:
    """The length and accuracy figures (with captions) and the comparison plot (None without others)."""
    from pixelthink.report.plots import plot_compare, plot_iou_vs_tokens, plot_token_distribution

    figures = [
        (
            plot_token_distribution(samples, plots_dir / "tokens_per_bucket.png", unit=unit_label),
            "Reasoning length per difficulty bucket (box: quartiles, line: median, ◆: mean, dots: samples).",
        ),
        (
            plot_iou_vs_tokens(samples, plots_dir / "iou_vs_tokens.png", unit=unit_label),
            "Per-sample IoU against reasoning length; x marks failed samples.",
        ),
    ]
    compare_plot = None
    if others:
        all_runs = {main.name: main.report.buckets, **{n: r.buckets for n, r in others.items()}}
        compare_plot = plot_compare(all_runs, plots_dir / "compare.png", unit=unit_label)
    return figures, compare_plot


def _write_page(
    out: Path,
    bench: Benchmark,
    main: Run,
    others: Mapping[str, EvalReport],
    notes: list[str],
    gallery_per_bucket: int,
    intro: str | None,
) -> Path:
    """Plots, gallery and ``index.html`` of the report of ``main`` (``notes`` added to its notes)."""
    from pixelthink.evaluate.runner import parse_response_frame
    from pixelthink.report import html as H
    from pixelthink.report.gallery import build_gallery

    report = main.report
    unit_label = UNIT_LABELS.get(str(report.settings.get("length_unit") or "tokens"), "length")
    samples: list[SampleResult] = report.samples
    figures, compare_plot = _write_plots(samples, main, others, out / "assets" / "plots", unit_label)
    frame = parse_response_frame(report.settings.get("response_frame", 840))
    gallery = build_gallery(
        bench, samples, main.predictions, out, per_bucket=gallery_per_bucket, response_frame=frame
    )
    generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    info = main.run_info
    run_info = {
        "predictions": main.predictions_path,
        "evaluation": main.eval_path,
        **{key: info.get(key) for key in ("model", "reasoner", "segmenter", "resolution")},
    }
    body = [
        H.render_header(main.name, report, generated, run_info),
        H.render_intro(intro),
        H.render_table_section(replace(report, notes=[*report.notes, *notes])),
        H.render_chance(report),
        H.render_plots(
            [(p.relative_to(out).as_posix(), cap) for p, cap in figures], "Reasoning length and accuracy"
        ),
    ]
    if others:
        rel = compare_plot.relative_to(out).as_posix() if compare_plot else None
        caption = _compare_caption(main.name, report, others)
        body.append(H.render_compare({main.name: report, **others}, rel, [], caption))
    body.append(H.render_gallery(gallery, unit_label, gallery_per_bucket))
    body.append(H.render_settings(report, {"run": info} if info else None))
    page = H.render_page(f"{main.name} · pixelthink report", "\n".join(body), generated)
    return atomic_write_text(out / "index.html", page)


def build_report(
    benchmark: Benchmark | str | os.PathLike[str],
    predictions: PredictionsLike,
    out_dir: str | os.PathLike[str],
    *,
    eval_report: EvalLike | None = None,
    compare: CompareLike | None = None,
    title: str | None = None,
    gallery_per_bucket: int = 4,
    eval_options: Mapping[str, Any] | None = None,
    references: Mapping[str, EvalLike] | None = None,
    intro: str | None = None,
) -> Path:
    """Write the HTML report of one run (optionally compared with others) and return ``index.html``.

    Args:
        benchmark: a ``Benchmark`` or its directory. With a directory and an ``eval_report`` made on one
            split, that split is used.
        predictions: ``predictions.jsonl`` path, iterable of ``Prediction`` or mapping id -> Prediction.
        out_dir: report directory (created); ``index.html``, ``eval.json`` and ``assets/`` go there.
        eval_report: the run's evaluation (``EvalReport``, its dict, or the JSON of ``pixelthink eval``);
            when None, ``pixelthink.evaluate.evaluate(benchmark, predictions, **eval_options)`` is run.
        compare: other runs ``{name: predictions}`` or ``{name: (predictions, eval_report | None)}``;
            runs without a report are evaluated with the main run's convention, frame and thresholds.
        title: page title and name of the main run (default: the model in ``STEM.run.json`` next to
            the predictions, else the predictions file name).
        gallery_per_bucket: examples per difficulty bucket (0 = no gallery).
        eval_options: keyword arguments of ``evaluate`` (convention, judge, response_frame, ...).
        references: evaluation reports without predictions ``{name: report}`` (e.g. the results shipped
            with a model), shown in the comparison table and plot as they are: not recomputed, and
            possibly measured on other samples (their sample count is shown).
        intro: plain text shown under the title, above the table ("what is this model, what do its
            numbers mean"); blank lines separate paragraphs.

    Raises:
        ValueError / FileNotFoundError: unreadable inputs, or an evaluation report of another benchmark.
    """
    if gallery_per_bucket < 0:
        raise ValueError(f"gallery_per_bucket must be >= 0, got {gallery_per_bucket}")
    options = dict(eval_options or {})
    preloaded = None if eval_report is None else load_eval_report(eval_report)
    if isinstance(benchmark, Benchmark):
        bench = benchmark
    else:
        split = preloaded.settings.get("split") if preloaded is not None else None
        bench = open_benchmark(benchmark, split=split)
    ids = set(bench.ids())
    out = Path(out_dir)
    notes: list[str] = []

    main = make_run(title, bench, ids, predictions, preloaded, options, notes)
    if eval_report is not None and isinstance(eval_report, str | os.PathLike):
        main.eval_path = str(eval_report)
    report = main.report
    runs = _compare_runs(compare, main, bench, ids, _eval_kwargs(report, options), notes)
    refs = _reference_reports(references, [main.name, *runs], main.name, ids, notes)
    conv = report.settings.get("convention")
    for run_name, other_report in [*((n, r.report) for n, r in runs.items()), *refs.items()]:
        other = other_report.settings.get("convention")
        if other != conv:
            notes.append(
                f"{run_name}: evaluated with convention {other}, the main run with {conv}: not comparable"
            )
    out.mkdir(parents=True, exist_ok=True)
    report.save(out / "eval.json")
    others = {**{n: r.report for n, r in runs.items()}, **refs}
    return _write_page(out, bench, main, others, notes, gallery_per_bucket, intro)
