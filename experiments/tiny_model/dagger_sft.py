"""Round 18 (issue 30): SFT on ``dagger_data.py``'s rows, the model's own wrong prefix untaught.

The recipe's SFT trainer (``pixelthink.train.sft.build_sft_trainer``, the same as ``pixelthink train
sft``), with its collator wrapped: every completion whose reasoning is in ``skip.json`` gets loss weight 0
on the tokens of its untaught prefix (the model's own steps up to its first mistake), 1 elsewhere; the
loss is the weighted token mean (``PixelThinkSFTTrainer.compute_loss``).

Usage: .venv/bin/python experiments/tiny_model/dagger_sft.py SKIP.json RECIPE.yaml [key=value ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch

from pixelthink.train.common import save_final
from pixelthink.train.config import load_recipe
from pixelthink.train.sft import build_sft_trainer, completion_pieces


class UntaughtPrefix:
    """Adds ``loss_weights``: 0 on the tokens of a completion's untaught prefix, 1 elsewhere."""

    def __init__(self, collator: Any, tokenizer: Any, skip: dict[str, int]) -> None:
        self.collator, self.tokenizer, self.skip = collator, tokenizer, skip
        self.rows = self.masked = 0

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(examples)
        weights = torch.ones(batch["labels"].shape, dtype=torch.float32)
        for row in range(weights.shape[0]):
            cols, pieces = completion_pieces(batch, row, self.tokenizer)
            text = "".join(pieces)
            start, end = text.find("<think>"), text.find("</think>")
            n = self.skip.get(text[start + len("<think>") : end]) if start >= 0 and end > start else None
            self.rows += 1
            if n is None:
                continue
            self.masked += 1
            limit, pos = start + len("<think>") + n, 0
            for c, piece in zip(cols, pieces, strict=True):
                if pos < limit:  # the token starts inside the untaught prefix
                    weights[row, c] = 0.0
                pos += len(piece)
        batch["loss_weights"] = weights
        return batch


def main() -> None:
    skip = json.loads(Path(sys.argv[1]).read_text())
    recipe = load_recipe(sys.argv[2], sys.argv[3:], kind="sft")
    trainer, processor = build_sft_trainer(recipe)
    tokenizer = getattr(processor, "tokenizer", processor)
    collator = UntaughtPrefix(trainer.data_collator, tokenizer, skip)
    trainer.data_collator = collator
    trainer.loss_is_scaled_for_ga = False  # a mean per micro-batch
    result = trainer.train()
    save_final(trainer, processor, recipe, recipe.output_dir)
    print(f"rows {collator.rows}, with an untaught prefix {collator.masked}; {result.metrics}")


if __name__ == "__main__":
    main()
