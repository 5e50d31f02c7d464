"""Supervised warm start on TRL's ``SFTTrainer`` from the benchmark's reference reasoning.

Each sample becomes prompt (the answer.py template) + image (model frame) -> completion
``<think>REFERENCE</think><answer>{"bbox": [...], "points_1": [...], "points_2": [...]}</answer>``
(model frame, integers); ``data.reasoning`` picks ``short`` / ``long`` / ``mix`` references (or
``name``, the target's name). The loss covers the completion only (TRL's ``completion_only_loss``
for prompt/completion rows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trl import SFTConfig, SFTTrainer

from .callbacks import MetricsJsonlCallback, RecipeCallback
from .common import (
    CheckpointWeightsMixin,
    cpu_defaults,
    find_resume_checkpoint,
    load_policy,
    lora_config,
    recipe_yaml,
    resolve_model_path,
    save_final,
)
from .config import Recipe, trainer_arguments
from .data import build_dataset

__all__ = ["SFTRun", "build_sft_trainer", "run_sft"]


@dataclass
class SFTRun:
    """What :func:`run_sft` did."""

    output_dir: Path
    global_step: int
    resumed_from: str | None
    seconds: float
    train_loss: float | None
    metrics_file: Path


class PixelThinkSFTTrainer(CheckpointWeightsMixin, SFTTrainer):
    """``SFTTrainer`` that resumes with the checkpoint's weights (see :class:`CheckpointWeightsMixin`)."""


def build_sft_trainer(recipe: Recipe) -> tuple[SFTTrainer, Any]:
    """``(trainer, processor)`` for a ``kind: sft`` recipe."""
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = resolve_model_path(recipe.model, out, recipe.source, recipe.data)
    model, processor = load_policy(recipe.model, model_path, recipe.data.resolution, recipe.source)
    seed = int(recipe.trainer.get("seed", 42))
    dataset = build_dataset(recipe.data, "sft", seed=seed, cache_dir=str(out / "data_cache"))
    fixed: dict[str, Any] = {"output_dir": str(out), **cpu_defaults(recipe.trainer)}
    if "max_length" not in recipe.trainer:
        fixed["max_length"] = None  # truncating would cut image tokens; the recipe may set a bound
    args = trainer_arguments(recipe, SFTConfig, **fixed)
    trainer = PixelThinkSFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=lora_config(recipe.lora),
    )
    trainer.add_callback(MetricsJsonlCallback(out / "metrics.jsonl"))
    trainer.add_callback(RecipeCallback(recipe_yaml(recipe)))
    return trainer, processor


def run_sft(recipe: Recipe, *, resume: bool | str | None = None) -> SFTRun:
    """Fine-tune as the recipe says (resuming like :func:`pixelthink.train.grpo.run_grpo`) and save the model."""
    if recipe.kind != "sft":
        raise ValueError(f"{recipe.source}: kind is {recipe.kind!r}, expected 'sft'")
    checkpoint = find_resume_checkpoint(recipe.output_dir, resume)
    trainer, processor = build_sft_trainer(recipe)
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - t0
    out = save_final(trainer, processor, recipe, recipe.output_dir)
    return SFTRun(
        output_dir=out,
        global_step=trainer.state.global_step,
        resumed_from=checkpoint,
        seconds=seconds,
        train_loss=result.metrics.get("train_loss"),
        metrics_file=out / "metrics.jsonl",
    )
