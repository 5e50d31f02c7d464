"""Round 20: GRPO with the exact faithfulness of the chain's grounded mentions as a second reward.

Round 17's GRPO (accuracy reward alone) widened the gap: a rollout is rewarded for its answer only, so a
group rewards lucky chains as much as sound ones. Rounds 18-19 located the chain's loss in its in-chain
lookups (about half of its mentioned boxes are real). This script adds a dense, per-rollout credit for
exactly that: the fraction of the rollout's mentions that are real (box IoU > 0.5 with a shape of the
named kind and colour, `pixelthink.evaluate.shapes.sample_faithfulness`, the score `pixelthink eval`
reports), times WEIGHT; a rollout with no grounded mention gets 0.

That ratio can be raised by listing less (measured: the chains fell from 7.1 to 3.7 mentions), so
``WEIGHT:f1`` rewards instead the F1 of the rollout's mentions against the reference chain's: precision
= real mentions / mentions, recall = the scene shapes that the reference chain (``reasoning_short``)
mentions and the rollout mentions really, over the former; a shorter list than the reference's costs
recall.

The recipe's GRPO trainer (``pixelthink.train.grpo.build_grpo_trainer``, the same as ``pixelthink train
grpo``) with the faithfulness reward passed as an extra reward function; ``reward_weights`` stay 1 each,
WEIGHT scales the term. The samples are looked up by the dataset's ``id`` column in the benchmark of
``data.path``; the scene's boxes are mapped into the model frame (``data.resolution``) as the ground truth
of the accuracy reward is.

Usage: .venv/bin/python experiments/tiny_model/grpo_faith.py WEIGHT[:f1] RECIPE.yaml [key=value ...]
"""

from __future__ import annotations

import sys
from typing import Any

from pixelthink.answer import extract_think
from pixelthink.data.resolve import open_benchmark
from pixelthink.evaluate.shapes import sample_faithfulness, scene_shapes
from pixelthink.frames import FrameTransform
from pixelthink.miniature.shapes.grounding import Mention, mention_hits, parse_mentions
from pixelthink.train.common import save_final
from pixelthink.train.config import load_recipe
from pixelthink.train.grpo import build_grpo_trainer, completion_text


def _hit_shapes(mentions: list[Mention], shapes: list[tuple[str, str, Any]]) -> tuple[int, set[int]]:
    """(real mentions, indices of the scene shapes they hit), with the rule of ``grounding.faithfulness``."""
    real, hit = 0, set()
    for m in mentions:
        idx = [i for i, shape in enumerate(shapes) if mention_hits(m, shape)]
        real += bool(idx)
        hit.update(idx)
    return real, hit


def f1_score(sample: Any, think: str, frame: FrameTransform) -> float:
    """F1 of the rollout's grounded mentions against the reference chain's (see the module docstring)."""
    shapes = scene_shapes(sample)
    _, ref = _hit_shapes(parse_mentions(sample.reasoning_short or ""), shapes)  # original frame
    found = parse_mentions(think)
    if not found or not ref:
        return 0.0
    in_frame = [(k, c, frame.box_to_model(box, segzero_rounding=True)) for k, c, box in shapes]
    real, hit = _hit_shapes(found, in_frame)
    precision, recall = real / len(found), len(hit & ref) / len(ref)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def faithfulness_reward(
    weight: float, data_path: str, split: str | None, resolution: Any, mode: str = "ratio"
) -> Any:
    """A TRL reward function: ``weight * real / mentions`` of each completion's reasoning (0 without one),
    or with ``mode="f1"`` ``weight`` times :func:`f1_score`."""
    bench = open_benchmark(data_path, split=split)
    cache: dict[str, Any] = {}

    def faithfulness(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        ids = kwargs.get("id")
        if ids is None:
            raise ValueError("faithfulness reward: the dataset has no 'id' column")
        out = []
        for sid, completion in zip(ids, completions, strict=True):
            sample = cache.get(sid)
            if sample is None:
                sample = cache[sid] = bench.get(str(sid))
            frame = FrameTransform.for_size(sample.width, sample.height, resolution)
            think = extract_think(completion_text(completion), partial=True) or ""
            if mode == "f1":
                out.append(weight * f1_score(sample, think, frame))
                continue
            f = sample_faithfulness(sample, think, frame)
            out.append(weight * f["real"] / f["mentions"] if f["mentions"] else 0.0)
        return out

    faithfulness.__name__ = faithfulness.__qualname__ = (
        "faithfulness" if mode == "ratio" else "faithfulness_f1"
    )
    return faithfulness


def main() -> None:
    weight_text, _, mode = sys.argv[1].partition(":")
    weight = float(weight_text)
    recipe = load_recipe(sys.argv[2], sys.argv[3:], kind="grpo")
    res = recipe.data.resolution
    res = tuple(res) if isinstance(res, list) else res
    reward = faithfulness_reward(weight, str(recipe.data.path), recipe.data.split, res, mode or "ratio")
    trainer, processor, _ = build_grpo_trainer(recipe, extra_reward_funcs=[reward])
    result = trainer.train()
    save_final(trainer, processor, recipe, recipe.output_dir)
    print(result.metrics)


if __name__ == "__main__":
    main()
