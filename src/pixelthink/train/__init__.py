"""Training: TRL GRPO / SFT glue and recipes (multi-node training: :mod:`pixelthink.integrations.verl`).

Light imports only here; the trainers live in :mod:`pixelthink.train.grpo` and
:mod:`pixelthink.train.sft` (they import torch / TRL).
"""

from __future__ import annotations

from .config import Recipe, RecipeError, load_recipe

__all__ = ["Recipe", "RecipeError", "load_recipe"]
