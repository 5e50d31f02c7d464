"""The pipeline: image + query -> reasoning -> prompts -> mask, for one sample, a batch or a benchmark.

* :mod:`pixelthink.pipeline.core`: :class:`Pipeline` (reasoner + segmenter), :class:`Result`, and the
  stage contract every runner follows (prepare -> reason -> parse -> segment -> finish); the batch
  runner :meth:`Pipeline.run_many`.
* :mod:`pixelthink.pipeline.streaming`: the streaming runner over many samples
  (:func:`stream_predictions`, :class:`StreamRunner`) and the sequential one (:func:`sequential_predictions`).
* :mod:`pixelthink.pipeline.run`: predicting a benchmark into ``predictions.jsonl``, resumable
  (:func:`run_predictions`, what ``pixelthink predict`` and ``pixelthink demo`` call).
"""

from __future__ import annotations

from pixelthink.pipeline.core import (
    ERROR_STAGES,
    STAGES,
    ImageSource,
    Pipeline,
    Result,
    apply_masks,
    finish_timings,
    load_image,
    prompted,
    segment_prompts,
    segment_results,
)

__all__ = [
    "ERROR_STAGES",
    "STAGES",
    "ImageSource",
    "Pipeline",
    "Result",
    "apply_masks",
    "finish_timings",
    "load_image",
    "prompted",
    "segment_prompts",
    "segment_results",
]
