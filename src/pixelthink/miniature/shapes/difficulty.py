"""Difficulty score 1..10 of a shapes sample (the formula of docs/SHAPES.md): the family's base, how
many shapes share the target's kind or colour, clutter, a small or occluded target, the background and
the query's form."""

from __future__ import annotations

from pixelthink.miniature.shapes.queries import FAMILIES
from pixelthink.miniature.shapes.scene import Scene

SHARE_KIND = 0.3  # per other shape of the target's kind
SHARE_COLOUR = 0.2  # per other shape of the target's colour
SHARE_CAP = 2.0
CLUTTER = 0.12  # per shape beyond 3
SMALL_AREA = 0.03  # target visible area / image area below this adds up to SMALL_WEIGHT
SMALL_WEIGHT = 1.0
OCCLUSION_WEIGHT = 2.5  # times the occluded fraction of the target
BACKGROUND = {"plain": 0.0, "textured": 0.3, "noisy": 0.5}
SENTENCE = 0.3


def difficulty(family: str, scene: Scene, target: int, is_sentence: bool) -> float:
    """Difficulty 1..10 of a sample (rounded to 0.1); the formula is documented in docs/SHAPES.md.

    d = base(family) + min(0.3 * same-kind + 0.2 * same-colour, 2.0) + 0.12 * max(0, n - 3)
        + 1.0 * clip((0.03 - a) / 0.03, 0, 1) + 2.5 * occluded + background + 0.3 * sentence
    """
    s = scene.shapes[target]
    others = [o for i, o in enumerate(scene.shapes) if i != target]
    share = min(
        SHARE_KIND * sum(o.kind == s.kind for o in others)
        + SHARE_COLOUR * sum(o.colour == s.colour for o in others),
        SHARE_CAP,
    )
    clutter = CLUTTER * max(0, len(scene.shapes) - 3)
    a = s.visible_area / float(scene.width * scene.height)
    small = SMALL_WEIGHT * min(1.0, max(0.0, (SMALL_AREA - a) / SMALL_AREA))
    d = (
        FAMILIES[family].base
        + share
        + clutter
        + small
        + OCCLUSION_WEIGHT * s.occluded
        + BACKGROUND[scene.background]
        + (SENTENCE if is_sentence else 0.0)
    )
    return round(min(10.0, max(1.0, d)), 1)
