"""verl integration: benchmark -> verl parquet, ``compute_score``, and the ``pixelthink`` reward manager.

verl pins transformers below 5.11, so it runs in its own environment (``.venv-verl``, see
``requirements-verl.txt`` and docs/TRAINING.md). Importing this package does not import verl:

* :mod:`.parquet` (pyarrow only): :func:`convert_benchmark` writes verl's multimodal parquet;
  ``pixelthink data verl DATA OUT.parquet`` is its command line (:mod:`pixelthink.commands._verl`);
* :mod:`.reward`: :func:`compute_score` for ``custom_reward_function`` (pure, calls
  :mod:`pixelthink.rewards`);
* :mod:`.reward_manager` (imports verl): ``PixelThinkRewardManager``, registered as ``pixelthink``
  with verl's reward-loop registry; it reads per-rollout uncertainty from the rollout.

The names below are imported on first use (module ``__getattr__``), so that running a submodule with
``python -m`` does not find it already imported by this package (runpy's RuntimeWarning).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .parquet import ConvertReport, convert_benchmark
    from .reward import compute_score

__all__ = ["ConvertReport", "compute_score", "convert_benchmark"]

_LAZY = {"ConvertReport": ".parquet", "convert_benchmark": ".parquet", "compute_score": ".reward"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
