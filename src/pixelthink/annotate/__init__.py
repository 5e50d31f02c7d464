"""ReasonSeg-Diff-style annotations for any benchmark (``pixelthink annotate``; docs/ANNOTATE.md).

* difficulty 1..10 from an MLLM judge (:class:`JudgeDifficulty`), without a judge
  (:class:`HeuristicDifficulty`, free and instant), or from a reasoning model's pass rate
  (:class:`PassrateDifficulty`);
* short and long reference reasoning chains from an MLLM, kept only when their answer hits the target
  (:class:`JudgeReferences`);
* agreement between difficulty sources (:func:`agreement`: Spearman, Kendall, bucket agreement).

Every job runs through :func:`run_annotation`: resumable JSONL cache per job key (method, model, prompt
version, settings), ``limit``, ``shard``, progress bar; :func:`apply_difficulty` / :func:`apply_references`
write the results into the benchmark. Layer 2: uses models/ through the chat interface of the reasoners.
"""

from __future__ import annotations

from pixelthink.annotate.agreement import agreement, format_agreement, load_difficulty_source
from pixelthink.annotate.difficulty import (
    HEURISTIC_VERSION,
    HEURISTIC_WEIGHTS,
    HeuristicDifficulty,
    JudgeDifficulty,
    PassrateDifficulty,
    aggregate_votes,
    heuristic_difficulty,
)
from pixelthink.annotate.references import JudgeReferences
from pixelthink.annotate.run import (
    Annotator,
    RunSummary,
    apply_difficulty,
    apply_references,
    cache_files,
    cached_records,
    run_annotation,
)
from pixelthink.annotate.view import SHOW_TARGET, judge_view

__all__ = [
    "HEURISTIC_VERSION",
    "HEURISTIC_WEIGHTS",
    "SHOW_TARGET",
    "Annotator",
    "HeuristicDifficulty",
    "JudgeDifficulty",
    "JudgeReferences",
    "PassrateDifficulty",
    "RunSummary",
    "aggregate_votes",
    "agreement",
    "apply_difficulty",
    "apply_references",
    "cache_files",
    "cached_records",
    "format_agreement",
    "heuristic_difficulty",
    "judge_view",
    "load_difficulty_source",
    "run_annotation",
]
