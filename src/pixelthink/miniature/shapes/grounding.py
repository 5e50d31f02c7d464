"""Grounded mentions: a shape named in reasoning together with its box ("chain of pixels").

A grounded reasoning chain writes every shape it mentions with its box in the frame of the answer
(the image the reasoner saw), e.g. ``the red star [40, 60, 92, 110]``. This module is the one
definition of that notation: :func:`mention` writes it, :func:`parse_mentions` reads it back. Both
the reference generator (``references.grounded``) and the exact faithfulness score of
``pixelthink eval`` use it, so the format is defined once.

Notation: ``[<size> ][<colour> ]<kind> [x1, y1, x2, y2]`` (*name first*) or
``[x1, y1, x2, y2] [<size> ][<colour> ]<kind>`` (*box first*: the position is written before the
attributes, so that they can be read off the image where the box is), with integer pixel coordinates,
XYXY, in the answer's frame. Colour and size are optional (``the star [..]`` names only the kind); an
unknown word in the colour slot is kept as the colour so that an invented colour counts as a mismatch.
:func:`parse_mentions` reads both orders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pixelthink.frames import Box
from pixelthink.miniature.shapes.world import KINDS, SIZES

_KIND = "|".join(sorted(KINDS, key=len, reverse=True))
_NUM = r"(-?\d+(?:\.\d+)?)"
_BOX = rf"\[\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*\]"
#: name first: ``red star [40, 60, 92, 110]`` (the box's numbers are groups 4-7)
MENTION_RE = re.compile(
    rf"\b(?:(?P<size>{'|'.join(SIZES)})\s+)?(?:(?P<colour>[a-z]+)\s+)?(?P<kind>{_KIND})s?\s*{_BOX}"
)
#: box first: ``[40, 60, 92, 110] red star`` (the box's numbers are groups 1-4, as in MENTION_RE's 4-7)
BOX_FIRST_RE = re.compile(
    rf"{_BOX}\s*(?:(?P<size>{'|'.join(SIZES)})\s+)?(?:(?P<colour>[a-z]+)\s+)?(?P<kind>{_KIND})s?\b"
)
#: the order of a mention's words: name first (``red star [..]``) or box first (``[..] red star``)
MENTION_ORDERS = ("name_first", "box_first")
_NOT_COLOURS = frozenset({"the", "a", "an", "is", "of", "its", "one", "and", "or", "it", "same", "other"})


@dataclass(frozen=True)
class Mention:
    """One grounded mention: what the reasoning named and the box it gave (answer frame)."""

    kind: str
    colour: str | None
    size: str | None
    box: Box
    start: int  # character offset of the mention in the text


def box_text(box: Sequence[float]) -> str:
    """``[x1, y1, x2, y2]`` with integer coordinates (rounded)."""
    return "[" + ", ".join(str(round(float(v))) for v in box) + "]"


def mention(
    kind: str, colour: str | None, box: Sequence[float], *, size: str | None = None, order: str = "name_first"
) -> str:
    """``"red star [40, 60, 92, 110]"`` (``order="box_first"``: ``"[40, 60, 92, 110] red star"``): a
    shape's name and its box in the answer's frame."""
    if order not in MENTION_ORDERS:
        raise ValueError(f"mention order must be one of {MENTION_ORDERS}, got {order!r}")
    words = " ".join(w for w in (size, colour, kind) if w)
    return f"{box_text(box)} {words}" if order == "box_first" else f"{words} {box_text(box)}"


def _matches(text: str) -> list[tuple[re.Match[str], int]]:
    """Every mention's match in ``text``, in order, either order of words, with the group number of its
    box's first coordinate; a box belongs to one mention (the box-first reading wins where both fit)."""
    first = [(m, 1) for m in BOX_FIRST_RE.finditer(text)]
    boxes = {m.start() for m, _ in first}
    named = [(m, 4) for m in MENTION_RE.finditer(text) if m.start() + m.group(0).rindex("[") not in boxes]
    return sorted(first + named, key=lambda mg: mg[0].start())


def rescale_mentions(text: str, box_fn: Callable[[Box], Sequence[float]]) -> str:
    """``text`` with every mention's box replaced by ``box_fn(box)`` (e.g. ``FrameTransform.box_to_model``
    to move a reference written in the original frame into the frame the model sees)."""
    out, at = [], 0
    for m, g in _matches(text):
        box = tuple(float(m.group(i)) for i in range(g, g + 4))
        lo = m.start() + m.group(0).rindex("[")  # the box's brackets, in either order of words
        hi = m.end() if g == 4 else m.start() + m.group(0).index("]") + 1
        out += [text[at:lo], box_text(box_fn(box))]  # type: ignore[arg-type]
        at = hi
    return "".join(out) + text[at:]


def parse_mentions(text: str) -> list[Mention]:
    """Every grounded mention in ``text``, in order of appearance (see the module docstring)."""
    out = []
    for m, g in _matches(text.lower()):
        colour = m.group("colour")
        if colour in _NOT_COLOURS or colour in SIZES:
            colour = None
        box = tuple(float(m.group(i)) for i in range(g, g + 4))
        out.append(Mention(m.group("kind"), colour, m.group("size"), box, m.start()))  # type: ignore[arg-type]
    return out


def faithfulness(
    text: str, shapes: Sequence[tuple[str, str, Sequence[float]]], target: int | None = None
) -> dict[str, object]:
    """Exact faithfulness of a grounded chain against the scene it is about.

    ``shapes``: the scene's ``(kind, colour, box)`` in the same frame as the mentions. A mention is
    *real* when its box hits (``rewards.box_iou`` > 0.5) a shape of the named kind (and of the named
    colour, when it names one). Returns ``mentions`` (count), ``real`` (count), and, when ``target`` is
    given, ``last_is_target``: whether the last mention hits the target shape with its kind and colour
    (None when there is no mention).
    """
    found = parse_mentions(text)
    real = sum(any(mention_hits(m, s) for s in shapes) for m in found)
    out: dict[str, object] = {"mentions": len(found), "real": real}
    if target is not None:
        out["last_is_target"] = mention_hits(found[-1], shapes[target]) if found else None
    return out


def mention_hits(m: Mention, shape: tuple[str, str, Sequence[float]]) -> bool:
    """Whether mention ``m`` is the scene shape ``(kind, colour, box)`` (same frame): the named kind, the
    named colour when it names one, and a box with ``rewards.box_iou`` > 0.5 (the rule of
    :func:`faithfulness`)."""
    from pixelthink.rewards import box_iou

    kind, colour, box = shape
    return m.kind == kind and (m.colour is None or m.colour == colour) and box_iou(m.box, box) > 0.5
