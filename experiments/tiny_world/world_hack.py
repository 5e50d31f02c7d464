"""The simple world's scenes for the prototypes (pixelthink.data.shapes, world "simple"). Experiment code."""

from __future__ import annotations

import numpy as np

from pixelthink.data.shapes import WORLDS, SceneConfig, generate_scene

WORLD = WORLDS["simple"]
KINDS = WORLD.kinds
COLOURS = WORLD.colours


def patch() -> None:
    """Kept for the older prototypes: the world is now a package preset."""


def scene_config(lo: int = 2, hi: int = 5) -> SceneConfig:
    return SceneConfig(width=224, height=224, n_shapes=(lo, hi), world=WORLD)


def draw(rng: np.random.Generator, lo: int = 2, hi: int = 5):
    return generate_scene(rng, scene_config(lo, hi))
