"""What ``pixelthink eval`` can measure exactly on a generated shapes benchmark.

A sample of ``pixelthink data shapes`` records its whole scene: ``source.generator`` is
``pixelthink.data.shapes`` (the generator's name, :mod:`pixelthink.miniature.shapes`), ``source.shapes`` lists every shape's ``kind``, ``colour`` and ``bbox`` (XYXY,
inclusive pixel extremes of its visible pixels, **original** frame), ``source.target`` the target's kind
and colour, ``source.family`` the query family. From these:

- :func:`scene_shapes` / :func:`target_index`: the scene and which of its shapes is the target;
- :func:`sample_faithfulness`: the exact faithfulness of a grounded reasoning chain (the mentions
  ``red star [x1, y1, x2, y2]`` of :mod:`pixelthink.miniature.shapes.grounding`, written in the answer's
  frame) against the scene mapped into that frame with :class:`~pixelthink.frames.FrameTransform`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixelthink.data import Sample
from pixelthink.frames import Box, FrameTransform
from pixelthink.rewards import box_iou

__all__ = ["SHAPES_GENERATOR", "is_shapes_sample", "sample_faithfulness", "scene_shapes", "target_index"]

SHAPES_GENERATOR = "pixelthink.data.shapes"  # miniature.shapes.generate.GENERATOR (a format constant)


def is_shapes_sample(sample: Sample) -> bool:
    """True for a sample of the shapes generator that lists its scene (``source.shapes``)."""
    src = sample.source if isinstance(sample.source, Mapping) else {}
    return src.get("generator") == SHAPES_GENERATOR and isinstance(src.get("shapes"), list)


def scene_shapes(sample: Sample) -> list[tuple[str, str, Box]]:
    """``(kind, colour, box)`` of every visible shape of a shapes sample (box in the original frame).

    Shapes without a box (no visible pixel) are left out. Raises ValueError naming the sample for a
    malformed ``source.shapes`` entry.
    """
    out = []
    for k, shape in enumerate(sample.source.get("shapes") or []):
        if not isinstance(shape, Mapping) or "kind" not in shape or "colour" not in shape:
            raise ValueError(f"sample {sample.id!r}: source.shapes[{k}]: expected kind, colour and bbox")
        box = shape.get("bbox")
        if box is None:
            continue
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise ValueError(f"sample {sample.id!r}: source.shapes[{k}].bbox: expected [x1, y1, x2, y2]")
        out.append((str(shape["kind"]), str(shape["colour"]), tuple(float(v) for v in box)))
    return out  # type: ignore[return-value]


def target_index(sample: Sample, shapes: list[tuple[str, str, Box]]) -> int | None:
    """Index in ``shapes`` of the target: the shape of the target's kind and colour whose box is the
    sample's ``bbox`` (the target mask's box), else the one of that kind and colour whose box overlaps
    it most; None when there is none (or the sample has no box)."""
    if sample.bbox is None:
        return None
    target = sample.source.get("target") if isinstance(sample.source.get("target"), Mapping) else {}
    same = [
        i
        for i, (kind, colour, _) in enumerate(shapes)
        if kind == target.get("kind", kind) and colour == target.get("colour", colour)
    ]
    gt = tuple(float(v) for v in sample.bbox)
    for i in same:
        if shapes[i][2] == gt:
            return i
    scored = [(box_iou(shapes[i][2], gt), i) for i in same]
    best = max(scored, default=(0.0, None))
    return best[1] if best[0] > 0.0 else None


def sample_faithfulness(sample: Sample, think: str, frame: FrameTransform) -> dict[str, Any]:
    """Exact faithfulness of the reasoning ``think`` of one shapes sample.

    ``frame`` maps the original frame to the answer's frame (the frame the reasoner saw, that of the raw
    answer's box); the scene's boxes are mapped into it, and each grounded mention is checked with
    :func:`pixelthink.miniature.shapes.grounding.faithfulness` (a mention is *real* when its box hits, box IoU
    > 0.5, a shape of the named kind and colour).

    Returns ``{"mentions": int, "real": int, "last_is_target": bool | None}``
    (``last_is_target`` None when there is no mention or no known target).
    """
    from pixelthink.miniature.shapes.grounding import faithfulness

    shapes = scene_shapes(sample)
    target = target_index(sample, shapes)
    # rounded as the reward's ground truth is (data.exporters: Seg-Zero's int(v * model / orig + 0.5))
    in_frame = [(k, c, frame.box_to_model(box, segzero_rounding=True)) for k, c, box in shapes]
    out = faithfulness(think, in_frame, target)
    return {
        "mentions": int(out["mentions"]),  # type: ignore[call-overload]
        "real": int(out["real"]),  # type: ignore[call-overload]
        "last_is_target": out.get("last_is_target"),
    }
