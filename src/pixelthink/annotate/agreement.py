"""Agreement between two difficulty sources (``pixelthink annotate agreement A B``).

A source is any of

* a benchmark directory (its ``difficulty`` field; e.g. the shapes benchmark, whose generator knows the
  true difficulty),
* the authors' difficulty file (``[{"image_id", "difficulty_score_model"}]``, or ``{id: score}``),
* an annotation cache (``.jsonl`` written by ``pixelthink annotate difficulty``: its ok records), or
  a list of them (the shards of one job) joined by commas.

On the ids both sources rate: Spearman's rho and Kendall's tau-b (scipy, with their p-values), the
fraction of samples in the same bucket (easy < ``tau_medium`` <= medium < ``tau_hard`` <= hard, the
paper's 3.5 / 5.0 by default), Cohen's kappa of the buckets, the 3 x 3 bucket confusion table and the mean
absolute difference.

:func:`calibrate` maps one source onto another's distribution (quantile matching), e.g. the heuristic
onto a few judge ratings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pixelthink.rewards import DEFAULT_CONFIG, RewardConfig, difficulty_bucket

__all__ = ["agreement", "calibrate", "format_agreement", "load_difficulty_source"]

_BUCKETS = ("easy", "medium", "hard")


def load_difficulty_source(spec: str) -> tuple[dict[str, float], str]:
    """``({id: difficulty}, description)`` of a source (see the module docstring).

    Raises:
        FileNotFoundError: a path that does not exist. ValueError: a file that is none of the above.
    """
    from pixelthink.annotate.run import difficulty_record_problem
    from pixelthink.data.format import SAMPLES_FILE, Benchmark
    from pixelthink.data.importers import load_difficulty
    from pixelthink.judging import read_cache_records

    parts = [p for p in spec.split(",") if p]
    paths = [Path(p) for p in parts]
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"difficulty source {str(p)!r}: no such file or directory")
    if len(paths) == 1 and (paths[0].is_dir() or paths[0].name == SAMPLES_FILE):
        bench = Benchmark(paths[0], check_images=False)
        scores = {
            str(o["id"]): float(o["difficulty"])
            for o in bench.raw_records()
            if o.get("difficulty") is not None
        }
        return scores, f"benchmark {bench.root} (difficulty field)"
    if all(p.suffix == ".jsonl" for p in paths):
        records = read_cache_records(paths, difficulty_record_problem)
        scores = {
            str(r.get("id", k)): float(r["difficulty"])
            for k, r in records.items()
            if r.get("status") == "ok" and r.get("difficulty") is not None
        }
        return scores, "annotation cache " + ", ".join(str(p) for p in paths)
    if len(paths) == 1 and paths[0].suffix == ".json":
        return load_difficulty(paths[0]), f"difficulty file {paths[0]}"
    raise ValueError(
        f"difficulty source {spec!r}: expected a benchmark directory, a difficulty .json file or annotation "
        "cache .jsonl file(s)"
    )


def calibrate(scores: Mapping[str, float], reference: Sequence[float]) -> dict[str, float]:
    """Map ``scores`` onto the distribution of ``reference`` by quantile matching (ranks are kept).

    Each score's mid-rank quantile among ``scores`` (ties share one) is looked up in the empirical
    quantiles of ``reference`` (linear interpolation), rounded to 0.01. Use it to put a free estimator
    (the heuristic, a pass rate) on the scale of a trusted source (a few hundred judge ratings, the
    authors' file of another split): Spearman and Kendall against anything are unchanged, buckets follow
    the reference's proportions.

    Raises:
        ValueError: an empty ``reference``.
    """
    import numpy as np

    ref = np.asarray([float(v) for v in reference], dtype=float)
    if ref.size == 0:
        raise ValueError("calibrate: the reference has no difficulty")
    ids = list(scores)
    values = np.asarray([float(scores[i]) for i in ids], dtype=float)
    if values.size == 0:
        return {}
    from scipy.stats import rankdata

    q = (rankdata(values, method="average") - 0.5) / values.size
    mapped = np.quantile(ref, q)
    return {i: round(float(v), 2) for i, v in zip(ids, mapped, strict=True)}


def _kappa(confusion: list[list[int]]) -> float | None:
    n = sum(sum(row) for row in confusion)
    if n == 0:
        return None
    observed = sum(confusion[i][i] for i in range(len(confusion))) / n
    rows = [sum(row) / n for row in confusion]
    cols = [sum(confusion[i][j] for i in range(len(confusion))) / n for j in range(len(confusion))]
    expected = sum(r * c for r, c in zip(rows, cols, strict=True))
    return None if expected >= 1.0 else (observed - expected) / (1.0 - expected)


def _finite(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def agreement(
    a: Mapping[str, float], b: Mapping[str, float], config: RewardConfig = DEFAULT_CONFIG
) -> dict[str, Any]:
    """Rank correlation and bucket agreement of two ``{id: difficulty}`` mappings on their common ids.

    Returns ``{"n", "n_only_a", "n_only_b", "spearman", "spearman_p", "kendall", "kendall_p",
    "bucket_agreement", "cohen_kappa", "mean_abs_diff", "confusion" (rows: a's bucket, columns: b's),
    "buckets", "thresholds"}``; correlations are None when fewer than 3 ids are shared or a side is constant.
    """
    from scipy import stats

    ids = sorted(set(a) & set(b))
    xs = [float(a[i]) for i in ids]
    ys = [float(b[i]) for i in ids]
    out: dict[str, Any] = {
        "n": len(ids),
        "n_only_a": len(set(a) - set(b)),
        "n_only_b": len(set(b) - set(a)),
        "spearman": None,
        "spearman_p": None,
        "kendall": None,
        "kendall_p": None,
        "buckets": list(_BUCKETS),
        "thresholds": {"tau_medium": config.tau_medium, "tau_hard": config.tau_hard},
    }
    if len(ids) >= 3 and len(set(xs)) > 1 and len(set(ys)) > 1:
        rho = stats.spearmanr(xs, ys)
        tau = stats.kendalltau(xs, ys)
        out |= {
            "spearman": _finite(rho.statistic),
            "spearman_p": _finite(rho.pvalue),
            "kendall": _finite(tau.statistic),
            "kendall_p": _finite(tau.pvalue),
        }
    confusion = [[0] * 3 for _ in _BUCKETS]
    for x, y in zip(xs, ys, strict=True):
        confusion[_BUCKETS.index(difficulty_bucket(x, config))][
            _BUCKETS.index(difficulty_bucket(y, config))
        ] += 1
    out["confusion"] = confusion
    out["bucket_agreement"] = sum(confusion[i][i] for i in range(3)) / len(ids) if ids else None
    out["cohen_kappa"] = _kappa(confusion)
    out["mean_abs_diff"] = sum(abs(x - y) for x, y in zip(xs, ys, strict=True)) / len(ids) if ids else None
    return out


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_agreement(result: Mapping[str, Any], name_a: str = "A", name_b: str = "B") -> str:
    """The agreement as text: the numbers, then the bucket confusion table."""
    lines = [
        f"A: {name_a}",
        f"B: {name_b}",
        f"samples rated by both: {result['n']} (only A: {result['n_only_a']}, only B: {result['n_only_b']})",
        f"Spearman rho {_fmt(result['spearman'])} (p {_fmt(result['spearman_p'], 2)}), Kendall tau-b "
        f"{_fmt(result['kendall'])} (p {_fmt(result['kendall_p'], 2)})",
        f"same bucket {_fmt(result['bucket_agreement'])}, Cohen's kappa {_fmt(result['cohen_kappa'])}, "
        f"mean |A - B| {_fmt(result['mean_abs_diff'], 2)}",
        f"buckets: easy < {result['thresholds']['tau_medium']:g} <= medium < {result['thresholds']['tau_hard']:g} "
        "<= hard; rows A, columns B",
        f"{'':>8} {'easy':>6} {'medium':>6} {'hard':>6}",
    ]
    for name, row in zip(result["buckets"], result["confusion"], strict=True):
        lines.append(f"{name:>8} " + " ".join(f"{v:>6}" for v in row))
    return "\n".join(lines)


def agreement_json(result: Mapping[str, Any]) -> str:
    """The agreement as indented JSON."""
    return json.dumps(result, indent=2)
