"""Round 18 (issue 30): SFT on ``dagger_data.py``'s rows, the model's own wrong prefix untaught.

The recipe's SFT trainer (``pixelthink.train.sft.build_sft_trainer``, the same as ``pixelthink train
sft``) with per-token loss weights (``train.sft.TokenWeights`` / ``weigh_tokens``, the mechanism of
``data.decisive_weight``): every completion whose reasoning is in ``skip.json`` gets weight 0 on the tokens
of its untaught prefix (the model's own steps up to its first mistake), 1 elsewhere.

Usage: .venv/bin/python experiments/tiny_model/dagger_sft.py SKIP.json RECIPE.yaml [key=value ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pixelthink.train.common import save_final
from pixelthink.train.config import load_recipe
from pixelthink.train.sft import TokenWeights, build_sft_trainer, weigh_tokens

OPEN, CLOSE = "<think>", "</think>"


class UntaughtPrefix:
    """``weigh(pieces)``: 0 on the tokens that start inside the completion's untaught prefix, 1 elsewhere;
    counts the rows it saw and those with a prefix."""

    def __init__(self, skip: dict[str, int]) -> None:
        self.skip, self.rows, self.masked = skip, 0, 0

    def __call__(self, pieces: list[str]) -> list[float]:
        text = "".join(pieces)
        start, end = text.find(OPEN), text.find(CLOSE)
        n = self.skip.get(text[start + len(OPEN) : end]) if 0 <= start < end else None
        self.rows += 1
        if n is None:
            return [1.0] * len(pieces)
        self.masked += 1
        limit, pos, out = start + len(OPEN) + n, 0, []
        for piece in pieces:
            out.append(0.0 if pos < limit else 1.0)
            pos += len(piece)
        return out


def main() -> None:
    weigh = UntaughtPrefix(json.loads(Path(sys.argv[1]).read_text()))
    recipe = load_recipe(sys.argv[2], sys.argv[3:], kind="sft")
    trainer, processor = build_sft_trainer(recipe)
    weigh_tokens(
        trainer, TokenWeights(trainer.data_collator, getattr(processor, "tokenizer", processor), weigh)
    )
    result = trainer.train()
    save_final(trainer, processor, recipe, recipe.output_dir)
    print(f"rows {weigh.rows}, with an untaught prefix {weigh.masked}; {result.metrics}")


if __name__ == "__main__":
    main()
