"""verl integration: benchmark -> verl parquet, ``compute_score``, and the ``pixelthink`` reward manager.

verl pins transformers below 5.11, so it runs in its own environment (``.venv-verl``, see
``requirements-verl.txt`` and docs/TRAINING.md). Importing this package does not import verl:

* :mod:`.converter` (pyarrow only): :func:`convert_benchmark` writes verl's multimodal parquet;
* :mod:`.reward`: :func:`compute_score` for ``custom_reward_function`` (pure, calls
  :mod:`pixelthink.rewards`);
* :mod:`.reward_manager` (imports verl): ``PixelThinkRewardManager``, registered as ``pixelthink``
  with verl's reward-loop registry; it reads per-rollout uncertainty from the rollout.
"""

from __future__ import annotations

from .converter import ConvertReport, convert_benchmark
from .reward import compute_score

__all__ = ["ConvertReport", "compute_score", "convert_benchmark"]
