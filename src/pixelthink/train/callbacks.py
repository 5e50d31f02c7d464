"""Trainer callbacks: metrics and rollouts written line by line into the output directory."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from pixelthink.models.reasoners import TRAINED_RECIPE_FILE as RECIPE_FILE

__all__ = ["MetricsJsonlCallback", "RecipeCallback", "RolloutJsonlCallback", "set_aside_after"]


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _plain(v.item())
    return v


def set_aside_after(path: Path, step: int) -> int:
    """Move the lines of a ``{"step": ...}`` JSONL file with ``step > step`` to ``<stem>.abandoned.jsonl``.

    A run resumed from checkpoint-N repeats steps N+1.. that an interrupted attempt may already have
    logged; the file then stays one line per step, in order, and the abandoned lines are kept (appended)
    next to it, not lost. Unparseable lines stay where they are. Returns the number of lines moved.
    """
    if step <= 0 or not path.is_file():
        return 0
    keep: list[str] = []
    moved: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            later = int(json.loads(line).get("step", 0)) > step
        except (ValueError, AttributeError, TypeError):
            later = False
        (moved if later else keep).append(line)
    if moved:
        with open(path.with_name(f"{path.stem}.abandoned.jsonl"), "a", encoding="utf-8") as fh:
            fh.writelines(moved)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(keep), encoding="utf-8")
        tmp.replace(path)
    return len(moved)


class _StepJsonlCallback(TrainerCallback):
    """A JSONL file of per-step rows; a resumed run first sets aside the rows of steps it will repeat."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            set_aside_after(self.path, int(state.global_step))


class MetricsJsonlCallback(_StepJsonlCallback):
    """Append every ``on_log`` dict (plus ``step``) to ``<output_dir>/metrics.jsonl`` (flushed per line).

    The file survives interruptions; a resumed run appends to it (see :func:`set_aside_after`).
    """

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        row = {"step": state.global_step, **{k: _plain(v) for k, v in logs.items()}}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


class RecipeCallback(TrainerCallback):
    """Write the recipe (``RECIPE_FILE``) into every ``checkpoint-N`` the trainer saves, so that an
    intermediate checkpoint loads for inference with the frame and prompt it is trained with, like the
    final model (``pixelthink predict --reasoner OUT/checkpoint-500``)."""

    def __init__(self, recipe_yaml: str) -> None:
        self.recipe_yaml = recipe_yaml

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if ckpt.is_dir():
            (ckpt / RECIPE_FILE).write_text(self.recipe_yaml, encoding="utf-8")


class RolloutJsonlCallback(_StepJsonlCallback):
    """Write the trainer's per-rollout records (``trainer.rollout_records``) to ``rollouts.jsonl`` each step.

    Records hold: step, id, difficulty, bucket, uncertainty, length, reward terms, reward, advantage,
    completion (see :meth:`pixelthink.train.grpo.PixelThinkGRPOTrainer.rollout_records`).
    """

    def __init__(self, path: str | Path, trainer: Any = None, *, keep_text: bool = True) -> None:
        super().__init__(path)
        self.trainer = trainer
        self.keep_text = keep_text

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        trainer = self.trainer
        if trainer is None or not state.is_world_process_zero:
            return
        records = trainer.pop_rollout_records()
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            for rec in records:
                row = {"step": state.global_step, **{k: _plain(v) for k, v in rec.items()}}
                if not self.keep_text:
                    row.pop("completion", None)
                fh.write(json.dumps(row) + "\n")
