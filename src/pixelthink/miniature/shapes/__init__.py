"""Procedural, difficulty-graded reasoning-segmentation benchmark of coloured shapes ("shapes").

A seeded generator draws scenes of coloured shapes in one of two worlds (``WORLDS``): "simple" (the
default: circle, square, triangle, star; five flat colours; 2-5 large shapes that never overlap, on
plain light backgrounds) or "rich" (circle, ellipse, square, triangle, hexagon, star, cross; seven
colours; three sizes; plain, textured or noisy backgrounds; overlaps at higher difficulty), asks one query of a graded family about each scene, checks with a small query evaluator
that exactly one shape answers it, and writes the sample in the pixelthink benchmark format: the exact
mask of the target's *visible* pixels, a difficulty score 1..10, and short and long reference reasoning.
See docs/SHAPES.md.

The package reads top-down; each module imports only the ones above it:

- ``world``: the vocabulary (kinds, colours, sizes, hints) and the world presets;
- ``scene``: geometry, ``Shape`` / ``Scene`` / ``SceneConfig``, placement, rendering, crops;
- ``queries``: the query AST, its three-valued evaluator, the families and their forcing functions;
- ``references``: the scene inventory and the short / long references;
- ``difficulty``: the documented difficulty formula;
- ``generate``: ``ShapesConfig``, ``generate_sample``, ``sample_rng``, ``generate_benchmark``;
- ``cli``: ``pixelthink data shapes``.

    >>> import numpy as np
    >>> s = generate_sample(np.random.default_rng(0))
    >>> s.mask.shape, s.mask.dtype
    ((256, 256), dtype('bool'))
"""

from __future__ import annotations

from pixelthink.miniature.shapes.generate import (
    GENERATOR,
    GENERATOR_VERSION,
    GeneratedSample,
    ShapesConfig,
    generate_benchmark,
    generate_sample,
    is_unique,
    sample_record,
    sample_rng,
    scene_shapes,
)
from pixelthink.miniature.shapes.scene import (
    BACKGROUNDS,
    Scene,
    SceneConfig,
    Shape,
    cell_owners,
    check_crop,
    check_shape_scale,
    crop_scene,
    generate_scene,
)
from pixelthink.miniature.shapes.world import DEFAULT_WORLD, WORLDS, World

__all__ = [
    "BACKGROUNDS",
    "DEFAULT_WORLD",
    "GENERATOR",
    "GENERATOR_VERSION",
    "WORLDS",
    "GeneratedSample",
    "Scene",
    "SceneConfig",
    "Shape",
    "ShapesConfig",
    "World",
    "cell_owners",
    "check_crop",
    "check_shape_scale",
    "crop_scene",
    "generate_benchmark",
    "generate_sample",
    "generate_scene",
    "is_unique",
    "sample_record",
    "sample_rng",
    "scene_shapes",
]
