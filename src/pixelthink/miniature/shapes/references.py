"""Reference reasoning of the shapes benchmark: the inventory of a scene and the short and long
references of a query (the family's steps come from the query's ``Candidate.explain``)."""

from __future__ import annotations

from pixelthink.miniature.shapes.queries import (
    Candidate,
    article,
    desc,
    full,
    join_words,
    reading_order,
    where,
)
from pixelthink.miniature.shapes.scene import Scene


def inventory(scene: Scene, *, size: bool = False) -> str:
    """``"I see 3 shapes: a red circle at the top left, ... and ...."`` (sizes named when ``size``)."""
    items = [f"{article(desc(s, size=size))} {where(s, scene)}" for s in reading_order(scene.shapes, scene)]
    text = f"I see {len(items)} shapes: {join_words(items)}."
    if scene.background == "noisy":
        text += " The image is noisy, but the colours are still clear."
    return text


LONG_OPENINGS = ("query", "scene")


def references(scene: Scene, cand: Candidate, target: int, *, opening: str = "query") -> tuple[str, str]:
    """(short, long) reference reasoning for ``cand`` whose target is shape ``target``.

    The long reference is the inventory of the scene, the family's steps and the conclusion. The
    first step of every family says what the query asks for ("The query asks for the green hexagon.",
    "First I find the orange cross: ..."). ``opening`` places it: ``"query"`` (the default) before the
    inventory, so that the reference reads the query first; ``"scene"`` after it (the order of
    generator versions before 3 and of the round-8 tiny model).
    """
    if opening not in LONG_OPENINGS:
        raise ValueError(f"long reference opening must be one of {LONG_OPENINGS}, got {opening!r}")
    short, steps = cand.explain(target)
    s = scene.shapes[target]
    size = bool(cand.info.get("size", False))
    scene_text = inventory(scene, size=size)
    body = [steps[0], scene_text, *steps[1:]] if opening == "query" and steps else [scene_text, *steps]
    long = " ".join([*body, f"So the target is {full(s, scene, size=size)}."])
    return short, long
