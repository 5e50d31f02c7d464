"""Evaluation: streaming gIoU / cIoU (lisa | segzero), difficulty buckets, judges, SAT / RST / URSS.

``evaluate(benchmark, predictions, convention="lisa") -> EvalReport``; see docs/METRICS.md.
The runner (``evaluate``, ``EvalAccumulator``) is imported lazily so the pure metric modules stay
importable on their own.
"""

from __future__ import annotations

from typing import Any

from pixelthink.evaluate.efficiency import EfficiencyConfig, efficiency_scores, rst, sat, urss
from pixelthink.evaluate.intervals import bootstrap_ci
from pixelthink.evaluate.judges import JUDGES, Judge, RougeLRefJudge, get_judge, register_judge, rouge_l_f1
from pixelthink.evaluate.metrics import (
    CONVENTIONS,
    DistributionStat,
    IoUMetric,
    IoUResult,
    KeyedMeanStat,
    MeanStat,
    Metric,
    intersection_union,
    intersection_union_rle,
)
from pixelthink.evaluate.results import BucketResult, EvalReport, SampleResult, format_table

_LAZY = {"evaluate", "EvalAccumulator", "EvalOptions", "BucketAccumulator", "score_sample", "load_report"}

__all__ = [
    "CONVENTIONS",
    "JUDGES",
    "BucketAccumulator",
    "BucketResult",
    "DistributionStat",
    "EfficiencyConfig",
    "EvalAccumulator",
    "EvalOptions",
    "EvalReport",
    "IoUMetric",
    "IoUResult",
    "Judge",
    "KeyedMeanStat",
    "MeanStat",
    "Metric",
    "RougeLRefJudge",
    "SampleResult",
    "bootstrap_ci",
    "efficiency_scores",
    "evaluate",
    "format_table",
    "get_judge",
    "intersection_union",
    "intersection_union_rle",
    "load_report",
    "register_judge",
    "rouge_l_f1",
    "rst",
    "sat",
    "score_sample",
    "urss",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from pixelthink.evaluate import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'pixelthink.evaluate' has no attribute {name!r}")
