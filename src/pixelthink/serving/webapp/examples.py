"""The embedded example images of ``pixelthink app``: a few scenes of the shapes generator, made at start-up.

Nothing is downloaded or shipped: each example is drawn by :mod:`pixelthink.miniature.shapes` from a fixed
seed (the test split of the demo benchmark), with its query and its difficulty score (1..10).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

__all__ = ["Example", "make_examples"]

#: seed and size of the demo benchmark the shipped tiny model was evaluated on (``pixelthink demo``)
EXAMPLE_SEED = 0
EXAMPLE_SIZE = 224


@dataclass(frozen=True)
class Example:
    """One embedded example: a PNG in memory, its suggested query and its difficulty (1..10)."""

    name: str
    query: str
    difficulty: float
    png: bytes
    width: int
    height: int


def make_examples(count: int = 3, *, seed: int = EXAMPLE_SEED, size: int = EXAMPLE_SIZE) -> list[Example]:
    """``count`` examples: samples 0..count-1 of the shapes test split for ``seed`` at ``size`` pixels."""
    from pixelthink.miniature.shapes import ShapesConfig, generate_sample, sample_rng

    if count < 0:
        raise ValueError(f"--examples must be >= 0, got {count}")
    config = ShapesConfig(width=size, height=size)
    examples = []
    for i in range(count):
        sample = generate_sample(sample_rng(seed, "test", i), config)
        buffer = io.BytesIO()
        sample.pil_image().save(buffer, format="PNG")
        examples.append(
            Example(
                name=f"shapes-{i + 1}",
                query=sample.query,
                difficulty=float(sample.difficulty),
                png=buffer.getvalue(),
                width=size,
                height=size,
            )
        )
    return examples
