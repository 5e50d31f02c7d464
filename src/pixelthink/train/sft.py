"""Supervised warm start on TRL's ``SFTTrainer`` from the benchmark's reference reasoning.

Each sample becomes prompt (the answer.py template) + image (model frame) -> completion
``<think>REFERENCE</think><answer>{"bbox": [...], "points_1": [...], "points_2": [...]}</answer>``
(model frame, integers); ``data.reasoning`` picks ``short`` / ``long`` / ``mix`` references (or
``name``, the target's name). The loss covers the completion only (TRL's ``completion_only_loss``
for prompt/completion rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from trl import SFTConfig, SFTTrainer

from pixelthink.miniature.shapes.chains import decisive_spans

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

__all__ = [
    "DecisiveWeights",
    "SFTRun",
    "TokenWeights",
    "build_sft_trainer",
    "completion_pieces",
    "run_sft",
    "token_weights",
    "weigh_tokens",
]


@dataclass
class SFTRun:
    """What :func:`run_sft` did."""

    output_dir: Path
    global_step: int
    resumed_from: str | None
    seconds: float
    train_loss: float | None
    metrics_file: Path


class TokenWeights:
    """Wraps an SFT collator: adds ``loss_weights`` (batch x tokens), ``weigh(pieces)`` on each row's
    completion tokens and 1 elsewhere (``pieces``: the completion read back token by token from the batch,
    :func:`completion_pieces`, so the weights follow exactly the tokens the loss sees). Install it with
    :func:`weigh_tokens`; :class:`PixelThinkSFTTrainer` then takes the weighted token mean."""

    def __init__(self, collator: Any, tokenizer: Any, weigh: Callable[[list[str]], list[float]]) -> None:
        self.collator, self.tokenizer, self.weigh = collator, tokenizer, weigh

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(examples)
        weights = torch.ones(batch["labels"].shape, dtype=torch.float32)
        for row in range(weights.shape[0]):
            cols, pieces = completion_pieces(batch, row, self.tokenizer)
            weights[row, cols] = torch.tensor(self.weigh(pieces), dtype=torch.float32)
        batch["loss_weights"] = weights
        return batch


class DecisiveWeights(TokenWeights):
    """:class:`TokenWeights` with ``weight`` on the tokens of a completion's decisive parts
    (``chains.decisive_spans``, :func:`token_weights`) and 1 elsewhere (``data.decisive_weight``)."""

    def __init__(self, collator: Any, tokenizer: Any, weight: float) -> None:
        self.weight = float(weight)
        super().__init__(collator, tokenizer, partial(token_weights, weight=self.weight))


def weigh_tokens(trainer: SFTTrainer, collator: TokenWeights) -> None:
    """Make ``trainer`` train with ``collator``'s per-token loss weights (its loss is then a weighted mean
    per micro-batch, which the Trainer divides by the gradient accumulation itself)."""
    trainer.data_collator = collator
    trainer.loss_is_scaled_for_ga = False


def completion_pieces(batch: dict[str, Any], row: int, tokenizer: Any) -> tuple[list[int], list[str]]:
    """``(columns, decoded tokens)`` of one row's completion: the tokens whose label is not -100, in
    order, each decoded alone (their concatenation is the completion's text)."""
    cols = (batch["labels"][row] != -100).nonzero().flatten().tolist()
    return cols, [tokenizer.decode([int(batch["input_ids"][row, c])]) for c in cols]


def token_weights(pieces: list[str], weight: float) -> list[float]:
    """Per token (``pieces``: the decoded tokens of one completion, in order): ``weight`` where the token
    overlaps a decisive span of the joined text, else 1.0."""
    spans = decisive_spans("".join(pieces))
    out, pos = [], 0
    for piece in pieces:
        start, pos = pos, pos + len(piece)
        out.append(weight if any(a < pos and start < b for a, b in spans) else 1.0)
    return out


class PixelThinkSFTTrainer(CheckpointWeightsMixin, SFTTrainer):
    """``SFTTrainer`` that resumes with the checkpoint's weights (see :class:`CheckpointWeightsMixin`)
    and, when the batch carries ``loss_weights`` (:class:`TokenWeights`, e.g. ``data.decisive_weight`` != 1), takes the weighted
    token mean of the next-token cross-entropy: sum(w * ce) / sum(w) over the completion's tokens."""

    def compute_loss(  # type: ignore[override]
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        weights = inputs.pop("loss_weights", None)
        if weights is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs, use_cache=False)
        logits = outputs.logits[:, :-1].float()
        target = labels[:, 1:].to(logits.device)
        w = weights[:, 1:].to(logits.device) * (target != -100)
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target.clamp(min=0), reduction="none")
        loss = (ce * w).sum() / w.sum().clamp(min=1e-6)
        return (loss, outputs) if return_outputs else loss


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
    if recipe.data.decisive_weight != 1.0:
        tokenizer = getattr(processor, "tokenizer", processor)
        weigh_tokens(trainer, DecisiveWeights(trainer.data_collator, tokenizer, recipe.data.decisive_weight))
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
