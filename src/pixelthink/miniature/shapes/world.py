"""Vocabulary and worlds of the shapes benchmark: the shape kinds, colours and size classes, the everyday
hints (``"three corners"``, ``"a ripe tomato"``) of the implicit queries, and the world presets
(``World``, ``WORLDS``): which kinds and colours a scene draws, how large its shapes are, its
backgrounds, overlap and query families. The lowest module of the package: it imports nothing from it."""

from __future__ import annotations

from dataclasses import dataclass

KINDS: tuple[str, ...] = ("circle", "ellipse", "square", "triangle", "hexagon", "star", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "orange": (250, 130, 20),
    "yellow": (240, 205, 25),
    "green": (40, 160, 60),
    "blue": (35, 85, 220),
    "purple": (140, 60, 185),
    "pink": (245, 120, 195),
}
SIZES: tuple[str, ...] = ("small", "medium", "large")

KIND_HINTS: dict[str, str] = {
    "circle": "a perfectly round outline",
    "ellipse": "an oval outline",
    "square": "four equal sides",
    "triangle": "three corners",
    "hexagon": "six sides",
    "star": "five points",
    "cross": "the form of a plus sign",
}
COLOUR_HINTS: dict[str, str] = {
    "red": "a ripe tomato",
    "orange": "a carrot",
    "yellow": "a banana",
    "green": "fresh grass",
    "blue": "a clear sky",
    "purple": "a ripe plum",
    "pink": "a flamingo",
}

# ----------------------------------------------------------------------------------------- worlds


REFERENCE_STYLES = ("grounded", "text")


@dataclass(frozen=True)
class World:
    """What a scene may contain and how it is drawn: one place for the numbers of a world preset.

    Attributes:
        name: the preset's name (``WORLDS`` key), recorded in ``meta.json`` and, from generator
            version 4, in each sample's ``source.world``.
        generator_version: the ``generator_version`` of this world's samples.
        references: the references' style: ``"grounded"`` (``chains``: every step a lookup, every
            shape with its box) or ``"text"`` (words only: the inventory and the family's steps).
        kinds, colours: the vocabulary drawn from (colours: name -> RGB).
        rgb_jitter: each shape's RGB is its colour's plus a uniform offset in [-rgb_jitter, rgb_jitter].
        size_ranges: equal-area radius range of each size class, as a fraction of min(width, height):
            a shape of radius s has the area of a circle of radius s, whatever its kind.
        size_weights: probabilities of small, medium and large.
        dark_background: probability that a background is dark (else light).
        textured_backgrounds: whether families may draw textured and noisy backgrounds (else plain).
        overlap: whether shapes may overlap (families with an overlap probability, occlusion).
        placement: ``"bounds"``: rejection sampling of centres whose bounding circles keep ``gap``
            apart (or overlap); ``"free"``: each shape goes to a uniformly drawn position among those
            where its pixels keep ``gap`` from every shape placed before (exact, never overlapping).
        gap: the gap between shapes that do not overlap, as a fraction of min(width, height).
        max_shape_scale: the largest ``shape_scale`` at which a large shape still fits in the image.
        family_weights: the families of this world and their sampling weights (None: every family,
            with ``queries.FAMILIES``' weights).
        n_shapes: the shape-count range of each family (None: ``queries.FAMILIES``' ranges).
    """

    name: str
    generator_version: int
    kinds: tuple[str, ...]
    colours: dict[str, tuple[int, int, int]]
    rgb_jitter: int
    size_ranges: dict[str, tuple[float, float]]
    size_weights: tuple[float, float, float]
    dark_background: float
    textured_backgrounds: bool
    overlap: bool
    placement: str
    gap: float
    max_shape_scale: float
    family_weights: dict[str, float] | None = None
    n_shapes: dict[str, tuple[int, int]] | None = None
    references: str = "text"

    def __post_init__(self) -> None:
        if self.references not in REFERENCE_STYLES:
            raise ValueError(f"World {self.name!r}: references must be one of {REFERENCE_STYLES}")
        unknown = [k for k in self.kinds if k not in KINDS] + [c for c in self.colours if c not in COLOURS]
        if unknown:
            raise ValueError(f"World {self.name!r}: unknown kinds or colours {unknown}")
        if set(self.size_ranges) != set(SIZES):
            raise ValueError(f"World {self.name!r}: size_ranges needs exactly {list(SIZES)}")
        if self.placement not in ("bounds", "free"):
            raise ValueError(
                f"World {self.name!r}: placement must be 'bounds' or 'free', got {self.placement!r}"
            )
        if self.placement == "free" and self.overlap:
            raise ValueError(f"World {self.name!r}: 'free' placement never overlaps shapes (overlap=False)")


WORLDS: dict[str, World] = {
    # The embedded tiny model's world: few, clearly distinct silhouettes and hues, shapes that span
    # several of its 28-pixel image tokens, plain light backgrounds, no occlusion; the same graded
    # query families (except distractors, 8-12 shapes, and occlusion) on 2-5 shapes.
    "simple": World(
        name="simple",
        generator_version=5,
        references="grounded",
        kinds=("circle", "square", "triangle", "star"),
        colours={c: COLOURS[c] for c in ("red", "green", "blue", "yellow", "purple")},
        rgb_jitter=6,
        # 52-78 px across (equal-area diameter) at 224x224; 5 shapes still fit at random (docs/SHAPES.md)
        size_ranges={"small": (0.115, 0.125), "medium": (0.135, 0.15), "large": (0.16, 0.175)},
        size_weights=(0.35, 0.4, 0.25),
        dark_background=0.0,
        textured_backgrounds=False,
        overlap=False,
        placement="free",
        gap=0.02,
        max_shape_scale=1.75,
        # multi_step (base 4.4) is the only family that is mostly hard without the rich world's small,
        # occluded and noisy targets, hence its weight and 5 shapes: easy / medium / hard ~ 36 / 40 / 23 %
        family_weights={
            "direct_kind": 1.0,
            "direct_attr": 1.0,
            "position": 0.9,
            "implicit": 0.9,
            "superlative": 0.9,
            "negation": 0.8,
            "relation": 0.8,
            "unique_attr": 0.6,
            "transfer": 0.7,
            "multi_step": 4.4,
        },
        n_shapes={
            "direct_kind": (2, 4),
            "direct_attr": (3, 5),
            "position": (2, 5),
            "implicit": (2, 5),
            "superlative": (3, 5),
            "negation": (3, 5),
            "relation": (3, 5),
            "unique_attr": (4, 5),
            "transfer": (3, 5),
            "multi_step": (5, 5),
        },
    ),
    # The benchmark's original world (generator version 3), kept as a harder benchmark: 7 kinds, 7
    # colours, smaller shapes, textured / noisy / dark backgrounds and occlusion.
    "rich": World(
        name="rich",
        generator_version=3,
        kinds=KINDS,
        colours=COLOURS,
        rgb_jitter=12,
        size_ranges={"small": (0.05, 0.065), "medium": (0.08, 0.10), "large": (0.12, 0.15)},
        size_weights=(0.35, 0.4, 0.25),
        dark_background=0.12,
        textured_backgrounds=True,
        overlap=True,
        placement="bounds",
        gap=0.02,
        max_shape_scale=2.5,
    ),
}
DEFAULT_WORLD = "simple"
