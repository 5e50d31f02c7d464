"""Vocabulary of the shapes benchmark: the shape kinds, colours and size classes, and the everyday
hints (``"three corners"``, ``"a ripe tomato"``) of the implicit queries. The lowest module of the
package: it imports nothing from it."""

from __future__ import annotations

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
