"""Grounded reasoning chains ("chain of pixels") for the shapes benchmark, derived from the query's AST.

Every step is a lookup the model can do on its own (the shapes of one kind, of one colour, in one
region, the anchor of a relation) or one comparison of two boxes written right next to each other;
every shape a step names carries its box (``grounding.mention``: ``the red star [40, 60, 92, 110]``,
original frame here; the SFT data rescales the boxes to the model frame), and the last step names the
target, so the answer copies the box it just wrote. Steps are separated by ``"; "``.

    >>> # "the star closest to the circle", in a scene with two stars and one circle:
    >>> # the circle: the red circle [..]; stars: the blue star [..], the red star [..];
    >>> # closer to it of the blue star [..] and the red star [..]: the red star [..];
    >>> # target: the red star [..]

The *short* chain has only the steps the query needs (one for "the star", two to five for the
relational families); the *long* chain first lists every shape of the scene (``shapes: ...``), the
overthinking the length reward should remove, then the same steps. docs/SHAPES.md shows each family.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pixelthink.masks import box_from_mask
from pixelthink.miniature.shapes.grounding import MENTION_ORDERS, mention
from pixelthink.miniature.shapes.queries import (
    And,
    Anything,
    Colour,
    CountIs,
    Extreme,
    Kind,
    Not,
    Occluded,
    Pred,
    Query,
    Region,
    Rel,
    SameAs,
    Select,
    Size,
    _measure,
    eval_pred,
    plural,
    reading_order,
    region_phrase,
    resolve,
)
from pixelthink.miniature.shapes.scene import Scene

STEP_SEP = "; "
#: how a superlative is decided: ``"pairwise"`` (a running comparison of two adjacent boxes per step:
#: ``lower of A [..] and B [..]: B [..]``) or ``"pick"`` (one step over the candidates just listed:
#: ``lowest: B [..]``, fewer tokens; issue 30's second lever)
COMPARISONS = ("pairwise", "pick")
#: what one comparison step of each superlative says ("larger of A and B: B")
COMPARE_WORDS = {
    "largest": "larger",
    "smallest": "smaller",
    "leftmost": "further left",
    "rightmost": "further right",
    "topmost": "higher",
    "lowest": "lower",
    "closest": "closer to it",
}
#: the order of a mention's words in a chain: ``grounding.MENTION_ORDERS`` everywhere, or
#: ``"lists_box_first"``: the scene-wide lookups (``circles: [..] red circle, ..``) box first, so that a
#: shape's colour is read where its box is, and every pick (the anchor, a filter's result, a comparison,
#: the target) name first, as the referring stage selects (issue 30's gate, round 17)
CHAIN_MENTIONS = (*MENTION_ORDERS, "lists_box_first")
_REL_WORDS = {"left_of": "left of it", "right_of": "right of it", "above": "above it", "below": "below it"}


def _LOOKUP_ORDER(p: Pred) -> int:
    return next((k for k, t in enumerate((Kind, Colour, Size, Region)) if isinstance(p, t)), 4)


class _Chain:
    """Builds the steps of one query's chain over one scene."""

    def __init__(self, scene: Scene, comparisons: str = "pairwise", mentions: str = "name_first") -> None:
        if comparisons not in COMPARISONS:
            raise ValueError(f"comparisons must be one of {COMPARISONS}, got {comparisons!r}")
        if mentions not in CHAIN_MENTIONS:
            raise ValueError(f"mentions must be one of {CHAIN_MENTIONS}, got {mentions!r}")
        self.scene = scene
        self.comparisons = comparisons
        self.mentions = mentions
        self.steps: list[str] = []
        self.order = {id(s): k for k, s in enumerate(reading_order(scene.shapes, scene))}

    # -- notation ---------------------------------------------------------------------------------
    def box(self, i: int) -> tuple[float, ...]:
        """The box of the shape's visible pixels (``source.shapes``' bbox); its centre when covered."""
        box = box_from_mask(self.scene.masks[i])
        if box is None:
            s = self.scene.shapes[i]
            return (s.cx, s.cy, s.cx, s.cy)
        return box

    def name(self, i: int, *, lookup: bool = False) -> str:
        """The shape's mention; ``lookup``: in a scene-wide lookup's list (box first under
        ``"lists_box_first"``)."""
        s = self.scene.shapes[i]
        if self.mentions == "box_first" or (
            lookup and self.mentions == "lists_box_first"
        ):  # "[40, 60, 92, 110] red star": no article before a box
            return mention(s.kind, s.colour, self.box(i), order="box_first")
        return "the " + mention(s.kind, s.colour, self.box(i))

    def listing(self, idx: Sequence[int], *, lookup: bool = False) -> str:
        return ", ".join(self.name(i, lookup=lookup) for i in self.sorted(idx)) if idx else "none"

    def sorted(self, idx: Sequence[int]) -> list[int]:
        return sorted(idx, key=lambda i: self.order[id(self.scene.shapes[i])])

    def say(self, label: str, idx: Sequence[int], *, lookup: bool = False) -> list[int]:
        self.steps.append(f"{label}: {self.listing(idx, lookup=lookup)}")
        return list(idx)

    # -- predicates -------------------------------------------------------------------------------
    def holds(self, pred: Pred, idx: Sequence[int]) -> list[int]:
        values = eval_pred(pred, self.scene)
        return [i for i in idx if values[i]]

    def lookup_label(self, pred: Pred) -> str | None:
        """The label of a predicate that is one lookup over the whole scene, else None."""
        if isinstance(pred, Anything):
            return "shapes"
        if isinstance(pred, Kind):
            return plural(pred.kind)
        if isinstance(pred, Colour):
            return f"{pred.colour} shapes"
        if isinstance(pred, Size):
            return f"{pred.size} shapes"
        if isinstance(pred, Region):
            return f"shapes {region_phrase(pred.v, pred.h)}"
        if isinstance(pred, Occluded):
            return "partly hidden shapes"
        return None

    def filter_label(self, pred: Pred) -> str:
        """The label of a filter step over the candidates just listed."""
        if isinstance(pred, Kind):
            return plural(pred.kind)
        if isinstance(pred, Colour):
            return pred.colour
        if isinstance(pred, Size):
            return pred.size
        if isinstance(pred, Region):
            return region_phrase(pred.v, pred.h)
        if isinstance(pred, Occluded):
            return "partly hidden"
        if isinstance(pred, Not):
            inner = self.filter_label(pred.p)
            return f"not {inner}"
        raise TypeError(f"no filter label for {pred!r}")

    def anchor(self, ref: Query) -> int:
        """The steps finding a relation's anchor; its index."""
        r = resolve(ref, self.scene)
        assert r is not None, "the generator only asks queries whose anchor is unique"
        self.query(ref, anchor=True)
        return r

    def select(self, pred: Pred) -> list[int]:
        """Steps listing the shapes that satisfy ``pred``; the indices."""
        everything = list(range(len(self.scene.shapes)))
        parts = list(pred.ps) if isinstance(pred, And) else [pred]
        # relations and attribute transfers need their anchor first
        anchors = {id(p): self.anchor(p.ref) for p in parts if isinstance(p, Rel | SameAs)}
        # one lookup first (the kind before colour, size, region: "circles: ..; red: .."), filters after
        lookups = sorted((p for p in parts if self.lookup_label(p) is not None), key=_LOOKUP_ORDER)
        rest = [p for p in parts if self.lookup_label(p) is None]
        if lookups:
            first, *others = lookups
            cur = self.say(str(self.lookup_label(first)), self.holds(first, everything), lookup=True)
            rest = others + rest
        else:
            cur = everything
        for p in rest:
            if isinstance(p, SameAs):
                anchor = anchors[id(p)]
                value = getattr(self.scene.shapes[anchor], p.attr)
                label = f"{value} shapes" if p.attr == "colour" else plural(value)
                cur = self.say(f"other {label}", self.holds(p, cur))
            elif isinstance(p, Rel):
                cur = self.say(_REL_WORDS[p.rel], self.holds(p, cur))
            elif isinstance(p, CountIs):
                cur = self.count_is(p, cur)
            else:
                cur = self.say(self.filter_label(p), self.holds(p, cur))
        return cur

    def count_is(self, p: CountIs, pool: Sequence[int]) -> list[int]:
        """ "the only shape of its kind": the shapes grouped by the attribute, then the group of one."""
        groups: dict[str, list[int]] = {}
        for i in self.sorted(pool):
            groups.setdefault(getattr(self.scene.shapes[i], p.attr), []).append(i)
        for value, idx in groups.items():
            self.say(plural(value) if p.attr == "kind" else f"{value} shapes", idx, lookup=True)
        keep = [i for i in pool if len(groups[getattr(self.scene.shapes[i], p.attr)]) == p.n]
        return self.say("only one" if p.n == 1 else f"{p.n} of a {p.attr}", keep)

    def extreme(self, q: Extreme) -> list[int]:
        ref = self.anchor(q.ref) if q.ref is not None else None
        cands = self.sorted(self.select(q.pred) if not isinstance(q.pred, Anything) else self.everything())
        ref_shape = self.scene.shapes[ref] if ref is not None else None
        if ref is not None:
            cands = [i for i in cands if i != ref]
        if self.comparisons == "pick":  # one step: the superlative named over the list just written
            best = max(cands, key=lambda i: _measure(q.measure, self.scene.shapes[i], ref_shape))
            label = "closest to it" if q.measure == "closest" else q.measure
            return self.say(label, [best])
        best = cands[0]
        for c in cands[1:]:
            score = _measure(q.measure, self.scene.shapes[c], ref_shape)
            new = c if score > _measure(q.measure, self.scene.shapes[best], ref_shape) else best
            self.steps.append(
                f"{COMPARE_WORDS[q.measure]} of {self.name(best)} and {self.name(c)}: {self.name(new)}"
            )
            best = new
        return [best]

    def everything(self) -> list[int]:
        return self.say("shapes", list(range(len(self.scene.shapes))), lookup=True)

    def query(self, q: Query, *, anchor: bool = False) -> list[int]:
        """Steps resolving ``q``; the indices it leaves. An anchor found by one lookup is named by the
        query's own words: ``the circle: the red circle [..]``."""
        if anchor and isinstance(q, Select) and isinstance(q.pred, Kind | Colour):
            label = f"the {q.pred.kind}" if isinstance(q.pred, Kind) else f"the {q.pred.colour} shape"
            return self.say(label, self.holds(q.pred, range(len(self.scene.shapes))))  # type: ignore[arg-type]
        return self.extreme(q) if isinstance(q, Extreme) else self.select(q.pred)


#: a step label of a scene-wide lookup (``circles``, ``blue shapes``, ``shapes in the top left``, ``partly
#: hidden shapes``): a description, not a decision; every other label (a filter, the anchor, a comparison,
#: ``only one``, ``target``) is a decisive step
_LOOKUP_LABEL_RE = re.compile(r"^(?!not |other )(?:[a-z]+s|(?:[a-z]+ )*shapes(?: .*)?)$")
_ANSWER_RE = re.compile(r"<answer>.*?(?:</answer>|$)", re.S)


def decisive_spans(text: str) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of ``text``'s decisive parts: every step of the ``<think>`` chain that
    is not a scene-wide lookup (a filter, the anchor, a comparison, the target; the steps that decide which
    shape it is) and the ``<answer>`` block. An SFT loss weighted on them (``data.decisive_weight``) makes the
    few tokens that decide count as much as the long lists (issue 30, round 17)."""
    spans: list[tuple[int, int]] = []
    think = text.find("<think>")
    end = text.find("</think>")
    if think >= 0:
        start = think + len("<think>")
        body = text[start : end if end >= 0 else len(text)]
        pos = start
        for step in body.split(STEP_SEP):
            label = step.split(":", 1)[0].strip()
            if step.strip() and not _LOOKUP_LABEL_RE.match(label):
                spans.append((pos, pos + len(step)))
            pos += len(step) + len(STEP_SEP)
    spans.extend(m.span() for m in _ANSWER_RE.finditer(text))
    return spans


def grounded_references(
    scene: Scene, query: Query, target: int, *, comparisons: str = "pairwise", mentions: str = "name_first"
) -> tuple[str, str]:
    """(short, long) grounded chains for ``query`` over ``scene`` whose answer is shape ``target``
    (``comparisons``: how superlatives are decided, :data:`COMPARISONS`; ``mentions``: the order of a
    mention's words, :data:`CHAIN_MENTIONS`)."""
    chain = _Chain(scene, comparisons, mentions)
    found = chain.query(query)
    if found != [target]:
        raise AssertionError(f"grounded chain of {query!r} ends at {found}, not at the target {target}")
    chain.steps.append(f"target: {chain.name(target)}")
    short = STEP_SEP.join(chain.steps)
    every = "shapes: " + chain.listing(list(range(len(scene.shapes))), lookup=True)
    steps = chain.steps if chain.steps[0].startswith("shapes: ") else [every, *chain.steps]
    return short, STEP_SEP.join(steps)
