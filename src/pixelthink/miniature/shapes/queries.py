"""Query language of the procedural shapes benchmark: the words for positions and shapes, a small query
AST, its three-valued evaluator, and the query families (their enumerators and the forcing functions
that set scenes up for them).

Evaluation is three-valued (Kleene logic): every predicate returns ``True``, ``False`` or ``None``
("borderline", e.g. a shape whose centre lies almost on a region border, or two triangles of nearly the
same size for "the largest triangle"). A query is *valid* for a scene only when exactly one shape
evaluates to ``True`` and none to ``None``: the target is then unambiguous even to a reader who
judges positions and sizes by eye. Positions are in the original image frame, pixels, (x, y) with
the origin at the top-left corner.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from pixelthink.miniature.shapes.scene import Forced, Scene, Shape
from pixelthink.miniature.shapes.world import COLOUR_HINTS, KIND_HINTS, SIZES, World

Tri = bool | None


# Borderline margins, as fractions of the image width (x) or height (y).
REGION_MARGIN = 0.04  # a centre this close to a third-line is "borderline" for region words
RELATION_MARGIN = 0.05  # |dx| (or |dy|) below this: "left of" etc. is borderline
EXTREME_POS_MARGIN = 0.05  # leftmost/topmost...: the runner-up must be this much further away
AREA_RATIO = 1.3  # largest/smallest: the winner's area must differ by this factor from the runner-up
DISTANCE_RATIO = 1.3  # closest: runner-up distance / winner distance
OCCLUDED_TRUE = 0.15  # occluded fraction >= this: "partly hidden"
OCCLUDED_FALSE = 0.02  # occluded fraction <= this: "fully visible"; in between: borderline

H_PARTS = ("left", "centre", "right")
V_PARTS = ("top", "middle", "bottom")


def plural(kind: str) -> str:
    """English plural of a kind or of ``"shape"``."""
    return kind + "es" if kind.endswith(("s", "x")) else kind + "s"


def _third(v: float, extent: float) -> tuple[int, int | None]:
    """Index (0..2) of the third of ``extent`` holding ``v`` and, when ``v`` lies within the border
    margin of a third-line, the index of the neighbouring third (else None)."""
    t = v / extent
    idx = min(2, max(0, int(t * 3)))
    alt: int | None = None
    for line, (a, b) in ((1 / 3, (0, 1)), (2 / 3, (1, 2))):
        if abs(t - line) < REGION_MARGIN:
            alt = b if idx == a else a
    return idx, alt


def region_of(shape: Shape, scene: Scene) -> tuple[str, str]:
    """(vertical, horizontal) word of the third of the image holding the shape's centre."""
    v, _ = _third(shape.cy, scene.height)
    h, _ = _third(shape.cx, scene.width)
    return V_PARTS[v], H_PARTS[h]


def region_phrase(v: str, h: str) -> str:
    """``("top", "left")`` -> ``"at the top left"``; ``("middle", "centre")`` -> ``"in the centre"``."""
    if v == "middle":
        return "in the centre" if h == "centre" else f"on the {h}"
    return f"at the {v}" if h == "centre" else f"at the {v} {h}"


def where(shape: Shape, scene: Scene) -> str:
    return region_phrase(*region_of(shape, scene))


def article(noun_phrase: str) -> str:
    """``"orange star"`` -> ``"an orange star"``; ``"red circle"`` -> ``"a red circle"``."""
    return f"{'an' if noun_phrase[:1].lower() in 'aeiou' else 'a'} {noun_phrase}"


def desc(shape: Shape, *, size: bool = False) -> str:
    """``"large red circle"`` (or ``"red circle"`` without the size)."""
    return f"{shape.size} {shape.colour} {shape.kind}" if size else f"{shape.colour} {shape.kind}"


def full(shape: Shape, scene: Scene, *, size: bool = False) -> str:
    """``"the red circle at the top left"`` (``"the large red circle ..."`` with the size)."""
    return f"the {desc(shape, size=size)} {where(shape, scene)}"


def join_words(items: Sequence[str]) -> str:
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def reading_order(shapes: Sequence[Shape], scene: Scene) -> list[Shape]:
    """Shapes sorted top to bottom (by thirds), then left to right."""
    return sorted(shapes, key=lambda s: (_third(s.cy, scene.height)[0], s.cx))


# ------------------------------------------------------------------------------------------ AST


@dataclass(frozen=True)
class Anything:
    """Every shape."""


@dataclass(frozen=True)
class Kind:
    kind: str


@dataclass(frozen=True)
class Colour:
    colour: str


@dataclass(frozen=True)
class Size:
    size: str


@dataclass(frozen=True)
class Region:
    """The shape's centre lies in the (vertical, horizontal) third of the image."""

    v: str
    h: str


@dataclass(frozen=True)
class Occluded:
    """The shape is partly covered by shapes drawn above it."""


@dataclass(frozen=True)
class Not:
    p: Pred


@dataclass(frozen=True)
class And:
    ps: tuple[Pred, ...]


@dataclass(frozen=True)
class CountIs:
    """The number of shapes in the scene sharing this shape's ``attr`` ("colour" | "kind") is ``n``."""

    attr: str
    n: int


@dataclass(frozen=True)
class SameAs:
    """Same ``attr`` as the (unique) referent of ``ref``, and not the referent itself."""

    attr: str
    ref: Query


@dataclass(frozen=True)
class Rel:
    """Spatial relation ("left_of" | "right_of" | "above" | "below") to the referent of ``ref``."""

    rel: str
    ref: Query


Pred = Union[Anything, Kind, Colour, Size, Region, Occluded, Not, And, CountIs, SameAs, Rel]  # noqa: UP007


@dataclass(frozen=True)
class Select:
    """The shapes satisfying ``pred``."""

    pred: Pred


@dataclass(frozen=True)
class Extreme:
    """Among the shapes satisfying ``pred``, the one with the most extreme ``measure``:
    "largest" | "smallest" | "leftmost" | "rightmost" | "topmost" | "lowest" | "closest" (to ``ref``)."""

    measure: str
    pred: Pred
    ref: Query | None = None


Query = Union[Select, Extreme]  # noqa: UP007

MEASURES = ("largest", "smallest", "leftmost", "rightmost", "topmost", "lowest", "closest")


# ------------------------------------------------------------------------------------ evaluator


def _and(values: Sequence[Tri]) -> Tri:
    if any(v is False for v in values):
        return False
    if any(v is None for v in values):
        return None
    return True


def _not(v: Tri) -> Tri:
    return None if v is None else not v


def _axis_match(value: float, extent: float, want: int) -> Tri:
    idx, alt = _third(value, extent)
    if idx == want and alt is None:
        return True
    if want in (idx, alt):
        return None
    return False


def _signed(diff: float, margin: float) -> Tri:
    if diff >= margin:
        return True
    if diff <= -margin:
        return False
    return None


def eval_pred(pred: Pred, scene: Scene) -> list[Tri]:
    """Per-shape truth values (True / False / None = borderline) of ``pred``, in scene order."""
    shapes = scene.shapes
    if isinstance(pred, Anything):
        return [True] * len(shapes)
    if isinstance(pred, Kind):
        return [s.kind == pred.kind for s in shapes]
    if isinstance(pred, Colour):
        return [s.colour == pred.colour for s in shapes]
    if isinstance(pred, Size):
        return [s.size == pred.size for s in shapes]
    if isinstance(pred, Region):
        v, h = V_PARTS.index(pred.v), H_PARTS.index(pred.h)
        return [_and([_axis_match(s.cy, scene.height, v), _axis_match(s.cx, scene.width, h)]) for s in shapes]
    if isinstance(pred, Occluded):
        out: list[Tri] = []
        for s in shapes:
            if s.occluded >= OCCLUDED_TRUE:
                out.append(True)
            elif s.occluded <= OCCLUDED_FALSE:
                out.append(False)
            else:
                out.append(None)
        return out
    if isinstance(pred, Not):
        return [_not(v) for v in eval_pred(pred.p, scene)]
    if isinstance(pred, And):
        parts = [eval_pred(p, scene) for p in pred.ps]
        return [_and([part[i] for part in parts]) for i in range(len(shapes))]
    if isinstance(pred, CountIs):
        counts = Counter(getattr(s, pred.attr) for s in shapes)
        return [counts[getattr(s, pred.attr)] == pred.n for s in shapes]
    if isinstance(pred, SameAs):
        r = resolve(pred.ref, scene)
        if r is None:
            return [None] * len(shapes)
        val = getattr(shapes[r], pred.attr)
        return [i != r and getattr(s, pred.attr) == val for i, s in enumerate(shapes)]
    if isinstance(pred, Rel):
        r = resolve(pred.ref, scene)
        if r is None:
            return [None] * len(shapes)
        ref = shapes[r]
        mx, my = RELATION_MARGIN * scene.width, RELATION_MARGIN * scene.height
        out = []
        for i, s in enumerate(shapes):
            if i == r:
                out.append(False)
            elif pred.rel == "left_of":
                out.append(_signed(ref.cx - s.cx, mx))
            elif pred.rel == "right_of":
                out.append(_signed(s.cx - ref.cx, mx))
            elif pred.rel == "above":
                out.append(_signed(ref.cy - s.cy, my))
            elif pred.rel == "below":
                out.append(_signed(s.cy - ref.cy, my))
            else:
                raise ValueError(f"unknown relation {pred.rel!r}")
        return out
    raise TypeError(f"not a predicate: {pred!r}")


def _measure(measure: str, s: Shape, ref: Shape | None) -> float:
    """A score where larger means "more extreme" for ``measure``."""
    if measure == "largest":
        return float(s.area)
    if measure == "smallest":
        return -float(s.area)
    if measure == "leftmost":
        return -s.cx
    if measure == "rightmost":
        return s.cx
    if measure == "topmost":
        return -s.cy
    if measure == "lowest":
        return s.cy
    if measure == "closest":
        assert ref is not None
        return -math.hypot(s.cx - ref.cx, s.cy - ref.cy)
    raise ValueError(f"unknown measure {measure!r}")


def _clear_winner(measure: str, best: float, second: float, scene: Scene) -> bool:
    if measure in ("largest", "smallest"):
        a, b = abs(best), abs(second)
        return max(a, b) >= AREA_RATIO * min(a, b)
    if measure in ("leftmost", "rightmost"):
        return best - second >= EXTREME_POS_MARGIN * scene.width
    if measure in ("topmost", "lowest"):
        return best - second >= EXTREME_POS_MARGIN * scene.height
    # closest: distances are -best < -second
    d1, d2 = -best, -second
    return d2 >= DISTANCE_RATIO * d1 and d2 - d1 >= EXTREME_POS_MARGIN * min(scene.width, scene.height)


def evaluate(query: Query, scene: Scene) -> list[Tri]:
    """Per-shape truth values of "this shape is what ``query`` refers to"."""
    shapes = scene.shapes
    if isinstance(query, Select):
        return eval_pred(query.pred, scene)
    if isinstance(query, Extreme):
        ref: Shape | None = None
        r: int | None = None
        if query.measure == "closest":
            if query.ref is None:
                raise ValueError("Extreme('closest') needs a ref")
            r = resolve(query.ref, scene)
            if r is None:
                return [None] * len(shapes)
            ref = shapes[r]
        cand = eval_pred(query.pred, scene)
        if r is not None:
            cand[r] = False
        if any(v is None for v in cand):
            return [None] * len(shapes)
        idx = [i for i, v in enumerate(cand) if v]
        out: list[Tri] = [False] * len(shapes)
        if not idx:
            return out
        scores = sorted(((_measure(query.measure, shapes[i], ref), i) for i in idx), reverse=True)
        if len(scores) == 1 or _clear_winner(query.measure, scores[0][0], scores[1][0], scene):
            out[scores[0][1]] = True
        else:
            out[scores[0][1]] = None
            out[scores[1][1]] = None
        return out
    raise TypeError(f"not a query: {query!r}")


def resolve(query: Query, scene: Scene) -> int | None:
    """Index of the unique shape ``query`` refers to, or None when there are zero, several, or any
    borderline shapes."""
    values = evaluate(query, scene)
    if any(v is None for v in values):
        return None
    hits = [i for i, v in enumerate(values) if v]
    return hits[0] if len(hits) == 1 else None


# ------------------------------------------------------------------------------------ families


@dataclass
class Candidate:
    """One grounded query: its AST, its text, and a function writing its reasoning steps.

    ``explain(target)`` returns ``(short, steps)``: the short reference and the family-specific middle
    sentences of the long reference (the inventory and the conclusion are added around them).
    """

    family: str
    ast: Query
    text: str
    is_sentence: bool
    explain: Callable[[int], tuple[str, list[str]]]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FamilySpec:
    """How a family sets up its scenes: shape count range, overlap probability, background weights
    (plain, textured, noisy), and a ``force`` function returning pre-chosen (kind, colour, size)
    attributes (None = random) for some of the shapes."""

    base: float
    n_shapes: tuple[int, int]
    overlap: float
    backgrounds: tuple[float, float, float]
    weight: float
    force: Callable[[np.random.Generator, int, World], list[Forced]] | None = None


def _pick(rng: np.random.Generator, items: Sequence[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def _minimal_ref(scene: Scene, i: int) -> tuple[str, Query] | None:
    """Shortest plain description of shape ``i`` that is unique: kind, colour+kind, size+colour+kind."""
    s = scene.shapes[i]
    options: list[tuple[str, Query]] = [
        (s.kind, Select(Kind(s.kind))),
        (f"{s.colour} shape", Select(Colour(s.colour))),
        (f"{s.colour} {s.kind}", Select(And((Colour(s.colour), Kind(s.kind))))),
        (f"{s.size} {s.colour} {s.kind}", Select(And((Size(s.size), Colour(s.colour), Kind(s.kind))))),
    ]
    for text, q in options:
        if resolve(q, scene) == i:
            return text, q
    return None


def _ones(scene: Scene, idx: Sequence[int], *, attr_shown: str) -> str:
    """List shapes as "the red one at the top left" when ``attr_shown`` == "colour" (kind is known),
    or "the circle at the top" when "kind" (colour is known), or full descriptions for "all"."""
    parts = []
    for i in idx:
        s = scene.shapes[i]
        if attr_shown == "colour":
            parts.append(f"the {s.colour} one {where(s, scene)}")
        elif attr_shown == "kind":
            parts.append(f"the {s.kind} {where(s, scene)}")
        else:
            parts.append(full(s, scene))
    return join_words(parts)


def _of_kind(scene: Scene, kind: str) -> list[int]:
    return [i for i, s in enumerate(scene.shapes) if s.kind == kind]


def _of_colour(scene: Scene, colour: str) -> list[int]:
    return [i for i, s in enumerate(scene.shapes) if s.colour == colour]


# -- direct ---------------------------------------------------------------------------------------


def fam_direct_kind(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    out = []
    for k in sorted({s.kind for s in scene.shapes}):
        sentence = bool(rng.random() < 0.2)
        text = f"Where is the {k}?" if sentence else _pick(rng, [f"the {k}", f"the {k} in the image"])

        def explain(t: int, k: str = k) -> tuple[str, list[str]]:
            s = scene.shapes[t]
            return (
                f"The only {k} is the {s.colour} one {where(s, scene)}.",
                [f"The query asks for the {k}.", f"There is only one {k}: the {desc(s)} {where(s, scene)}."],
            )

        out.append(Candidate("direct_kind", Select(Kind(k)), text, sentence, explain))
    return out


def _attr_candidates(scene: Scene, rng: np.random.Generator, family: str) -> list[Candidate]:
    out = []
    for i, s in enumerate(scene.shapes):
        same_kind = _of_kind(scene, s.kind)
        if len(same_kind) < 2:
            continue
        combos: list[tuple[str, tuple[Pred, ...], str]] = [
            (f"{s.colour} {s.kind}", (Colour(s.colour), Kind(s.kind)), "colour"),
            (f"{s.size} {s.kind}", (Size(s.size), Kind(s.kind)), "size"),
            (f"{s.size} {s.colour} {s.kind}", (Size(s.size), Colour(s.colour), Kind(s.kind)), "both"),
        ]
        found = False
        for phrase, preds, by in combos:
            ast = Select(And(preds))
            if (by == "both" and found) or resolve(ast, scene) != i:
                continue
            found = True
            sentence = bool(rng.random() < 0.15)
            text = f"Where is the {phrase}?" if sentence else f"the {phrase}"

            def explain(t: int, s: Shape = s, by: str = by, phrase: str = phrase) -> tuple[str, list[str]]:
                kind_idx = _of_kind(scene, s.kind)
                steps = [f"The query asks for the {phrase}."]
                lst = join_words([full(scene.shapes[j], scene, size=by != "colour") for j in kind_idx])
                steps.append(f"There are {len(kind_idx)} {plural(s.kind)}: {lst}.")
                if by == "colour":
                    steps.append(f"Only one of them is {s.colour}: the one {where(s, scene)}.")
                elif by == "size":
                    steps.append(f"Only one of them is {s.size}: the {s.colour} one {where(s, scene)}.")
                else:
                    col = [j for j in kind_idx if scene.shapes[j].colour == s.colour]
                    steps.append(
                        f"{len(col)} of them are {s.colour}, and only one of those is {s.size}: "
                        f"the one {where(s, scene)}."
                    )
                if by == "size":
                    return f"The {phrase} is the {s.colour} one {where(s, scene)}.", steps
                return f"The {phrase} is the one {where(s, scene)}.", steps

            out.append(Candidate(family, ast, text, sentence, explain, {"by": by, "size": by != "colour"}))
    return out


def fam_direct_attr(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    return _attr_candidates(scene, rng, "direct_attr")


def fam_distractors(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    out = []
    for c in _attr_candidates(scene, rng, "distractors"):
        t = resolve(c.ast, scene)
        assert t is not None
        s = scene.shapes[t]
        sharing = sum(
            1 for j, o in enumerate(scene.shapes) if j != t and (o.kind == s.kind or o.colour == s.colour)
        )
        if sharing >= 3:
            out.append(c)
    return out


def _force_distractors(rng: np.random.Generator, n: int, world: World) -> list[Forced]:
    k, c = _pick(rng, world.kinds), _pick(rng, list(world.colours))
    other_c = [x for x in world.colours if x != c]
    other_k = [x for x in world.kinds if x != k]
    sizes = list(SIZES)
    s = _pick(rng, sizes)
    forced: list[Forced] = [(k, c, s)]
    forced += [(k, _pick(rng, other_c), None) for _ in range(2)]
    forced += [(_pick(rng, other_k), c, None) for _ in range(2)]
    if rng.random() < 0.5:
        forced.append((k, c, _pick(rng, [x for x in sizes if x != s])))
    return forced[:n]


# -- implicit -------------------------------------------------------------------------------------


def fam_implicit(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    out = []
    for i, s in enumerate(scene.shapes):
        kh, ch = KIND_HINTS[s.kind], COLOUR_HINTS[s.colour]
        options: list[tuple[Query, str, str, bool]] = [
            (Select(Kind(s.kind)), f"the shape with {kh}", f"Which shape has {kh}?", True),
            (
                Select(And((Kind(s.kind), Colour(s.colour)))),
                f"the {s.kind} that has the colour of {ch}",
                f"Which {s.kind} has the colour of {ch}?",
                False,
            ),
            (
                Select(And((Kind(s.kind), Colour(s.colour)))),
                f"the shape with {kh} and the colour of {ch}",
                f"Which shape has {kh} and the colour of {ch}?",
                True,
            ),
        ]
        for ast, phrase, question, kind_hinted in options:
            if resolve(ast, scene) != i:
                continue
            sentence = bool(rng.random() < 0.6)
            colour_hinted = isinstance(ast.pred, And)

            def explain(
                t: int, s: Shape = s, kind_hinted: bool = kind_hinted, colour_hinted: bool = colour_hinted
            ) -> tuple[str, list[str]]:
                steps = []
                facts = []
                if kind_hinted:
                    steps.append(f"A shape with {KIND_HINTS[s.kind]} is {article(s.kind)}.")
                    facts.append(f"a shape with {KIND_HINTS[s.kind]} is {article(s.kind)}")
                if colour_hinted:
                    steps.append(f"The colour of {COLOUR_HINTS[s.colour]} is {s.colour}.")
                    facts.append(f"{COLOUR_HINTS[s.colour]} is {s.colour}")
                kind_idx = _of_kind(scene, s.kind)
                if len(kind_idx) == 1:
                    steps.append(f"There is only one {s.kind}: the {s.colour} one {where(s, scene)}.")
                else:
                    steps.append(f"The {plural(s.kind)} are {_ones(scene, kind_idx, attr_shown='colour')}.")
                    steps.append(f"Only one of them is {s.colour}: the one {where(s, scene)}.")
                short = f"{' and '.join(facts).capitalize()}, so it is the {desc(s, size=False)} {where(s, scene)}."
                return short, steps

            out.append(Candidate("implicit", ast, question if sentence else phrase, sentence, explain))
    return out


# -- position -------------------------------------------------------------------------------------


def fam_position(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    out = []
    for i, s in enumerate(scene.shapes):
        v, h = region_of(s, scene)
        reg = Region(v, h)
        phrase = region_phrase(v, h)
        for noun, ast in ((s.kind, Select(And((Kind(s.kind), reg)))), ("shape", Select(reg))):
            if resolve(ast, scene) != i:
                continue
            if noun != "shape" and len(_of_kind(scene, s.kind)) < 2:
                continue
            sentence = bool(rng.random() < 0.2)
            text = f"Which {noun} is {phrase}?" if sentence else f"the {noun} {phrase}"

            def explain(
                t: int, s: Shape = s, noun: str = noun, phrase: str = phrase
            ) -> tuple[str, list[str]]:
                if noun == "shape":
                    others = [j for j in range(len(scene.shapes)) if j != t]
                    steps = [
                        f"The query asks for the shape {phrase}.",
                        f"The other shapes are elsewhere: {_ones(scene, others, attr_shown='all')}.",
                    ]
                else:
                    idx = _of_kind(scene, s.kind)
                    steps = [
                        f"The query asks for the {s.kind} {phrase}.",
                        f"The {plural(s.kind)} are {_ones(scene, idx, attr_shown='colour')}.",
                        f"Only the {s.colour} one is {phrase}.",
                    ]
                return f"The {noun} {phrase} is the {desc(s)}.", steps

            out.append(Candidate("position", ast, text, sentence, explain))
    return out


# -- superlative ----------------------------------------------------------------------------------

_MEASURE_WORDS = {
    "largest": ("largest", "sizes", "the largest"),
    "smallest": ("smallest", "sizes", "the smallest"),
    "leftmost": ("leftmost", "horizontal positions", "the furthest to the left"),
    "rightmost": ("rightmost", "horizontal positions", "the furthest to the right"),
    "topmost": ("topmost", "heights", "the highest"),
    "lowest": ("lowest", "heights", "the lowest"),
}


def _superlative_candidates(scene: Scene, rng: np.random.Generator, family: str) -> list[Candidate]:
    out = []
    filters: list[tuple[str, Pred, Callable[[Shape], str]]] = []
    for k in sorted({s.kind for s in scene.shapes}):
        filters.append((k, Kind(k), lambda s: f"the {s.colour} one"))
    for c in sorted({s.colour for s in scene.shapes}):
        filters.append((f"{c} shape", Colour(c), lambda s: f"the {s.kind}"))
    filters.append(("shape", Anything(), lambda s: f"the {s.colour} {s.kind}"))
    for noun, pred, name in filters:
        idx = [i for i, v in enumerate(eval_pred(pred, scene)) if v]
        if len(idx) < 2:
            continue
        for measure in ("largest", "smallest", "leftmost", "rightmost", "topmost", "lowest"):
            ast = Extreme(measure, pred)
            if resolve(ast, scene) is None:
                continue
            word, compared, winner = _MEASURE_WORDS[measure]
            sentence = bool(rng.random() < 0.2)
            text = f"Which is the {word} {noun}?" if sentence else f"the {word} {noun}"

            def explain(
                t: int,
                noun: str = noun,
                idx: list[int] = idx,
                name: Callable[[Shape], str] = name,
                word: str = word,
                compared: str = compared,
                winner: str = winner,
            ) -> tuple[str, list[str]]:
                s = scene.shapes[t]
                lst = join_words([f"{name(scene.shapes[j])} {where(scene.shapes[j], scene)}" for j in idx])
                steps = [
                    f"The query asks for the {word} {noun}.",
                    f"The {plural(noun)} are {lst}.",
                    f"Comparing their {compared}, {name(s)} {where(s, scene)} is {winner}.",
                ]
                return f"The {word} {noun} is the {desc(s)} {where(s, scene)}.", steps

            out.append(Candidate(family, ast, text, sentence, explain, {"measure": measure}))
    return out


def fam_superlative(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    return _superlative_candidates(scene, rng, "superlative")


# -- negation -------------------------------------------------------------------------------------


def fam_negation(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    out = []
    shapes = scene.shapes
    for k in sorted({s.kind for s in shapes}):
        kind_idx = _of_kind(scene, k)
        for c in sorted({shapes[j].colour for j in kind_idx}):
            if len(kind_idx) < 2:
                continue
            ast = Select(And((Kind(k), Not(Colour(c)))))
            if resolve(ast, scene) is None:
                continue
            sentence = bool(rng.random() < 0.25)
            text = f"Which {k} is not {c}?" if sentence else f"the {k} that is not {c}"

            def explain(
                t: int, k: str = k, c: str = c, kind_idx: list[int] = kind_idx
            ) -> tuple[str, list[str]]:
                s = shapes[t]
                steps = [
                    f"The query asks for the {k} that is not {c}.",
                    f"The {plural(k)} are {_ones(scene, kind_idx, attr_shown='colour')}.",
                    f"All of them are {c} except the {s.colour} one {where(s, scene)}.",
                ]
                return f"The only {k} that is not {c} is the {s.colour} {k} {where(s, scene)}.", steps

            out.append(Candidate("negation", ast, text, sentence, explain))
        ast2 = Select(Not(Kind(k)))
        if len(kind_idx) >= 2 and resolve(ast2, scene) is not None:
            sentence = bool(rng.random() < 0.25)
            text = f"Which shape is not {article(k)}?" if sentence else f"the shape that is not {article(k)}"

            def explain2(t: int, k: str = k) -> tuple[str, list[str]]:
                s = shapes[t]
                steps = [
                    f"The query asks for the shape that is not {article(k)}.",
                    f"All the shapes are {plural(k)} except one: the {desc(s)} {where(s, scene)}.",
                ]
                return (
                    f"The only shape that is not {article(k)} is the {s.colour} {s.kind} {where(s, scene)}.",
                    steps,
                )

            out.append(Candidate("negation", ast2, text, sentence, explain2))
    for c in sorted({s.colour for s in shapes}):
        col_idx = _of_colour(scene, c)
        for k in sorted({shapes[j].kind for j in col_idx}):
            if len(col_idx) < 2:
                continue
            ast = Select(And((Colour(c), Not(Kind(k)))))
            if resolve(ast, scene) is None:
                continue
            art = "an" if k[0] in "aeiou" else "a"
            sentence = bool(rng.random() < 0.25)
            text = (
                f"Which {c} shape is not {art} {k}?" if sentence else f"the {c} shape that is not {art} {k}"
            )

            def explain3(
                t: int, c: str = c, k: str = k, col_idx: list[int] = col_idx, art: str = art
            ) -> tuple[str, list[str]]:
                s = shapes[t]
                steps = [
                    f"The query asks for the {c} shape that is not {art} {k}.",
                    f"The {c} shapes are {_ones(scene, col_idx, attr_shown='kind')}.",
                    f"All of them are {plural(k)} except the {s.kind} {where(s, scene)}.",
                ]
                return (
                    f"The only {c} shape that is not {art} {k} is the {c} {s.kind} {where(s, scene)}.",
                    steps,
                )

            out.append(Candidate("negation", ast, text, sentence, explain3))
    return out


def _force_negation(rng: np.random.Generator, n: int, world: World) -> list[Forced]:
    k, c = _pick(rng, world.kinds), _pick(rng, list(world.colours))
    m = int(rng.integers(1, 4))
    if rng.random() < 0.5:  # the k that is not c
        forced = [(k, c, None)] * m + [(k, _pick(rng, [x for x in world.colours if x != c]), None)]
    else:  # the c shape that is not a k
        forced = [(k, c, None)] * m + [(_pick(rng, [x for x in world.kinds if x != k]), c, None)]
    return forced[:n]


# -- relation -------------------------------------------------------------------------------------

_REL_WORDS = {"left_of": "left of", "right_of": "right of", "above": "above", "below": "below"}


def fam_relation(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    out = []
    shapes = scene.shapes
    for r in range(len(shapes)):
        ref = _minimal_ref(scene, r)
        if ref is None:
            continue
        ref_text, ref_ast = ref
        for k in sorted({s.kind for s in shapes}):
            kind_idx = [j for j in _of_kind(scene, k) if j != r]
            if len(kind_idx) < 2:
                continue
            for rel, rel_word in _REL_WORDS.items():
                ast: Query = Select(And((Kind(k), Rel(rel, ref_ast))))
                if resolve(ast, scene) is None:
                    continue
                sentence = bool(rng.random() < 0.2)
                text = (
                    f"Which {k} is {rel_word} the {ref_text}?"
                    if sentence
                    else f"the {k} {rel_word} the {ref_text}"
                )
                out.append(
                    Candidate(
                        "relation",
                        ast,
                        text,
                        sentence,
                        _relation_explainer(scene, r, ref_text, k, kind_idx, rel_word),
                    )
                )
            ast = Extreme("closest", Kind(k), ref_ast)
            if resolve(ast, scene) is not None:
                sentence = bool(rng.random() < 0.2)
                text = (
                    f"Which {k} is closest to the {ref_text}?"
                    if sentence
                    else f"the {k} closest to the {ref_text}"
                )
                out.append(
                    Candidate(
                        "relation",
                        ast,
                        text,
                        sentence,
                        _relation_explainer(scene, r, ref_text, k, kind_idx, None),
                    )
                )
    return out


def _relation_explainer(
    scene: Scene, r: int, ref_text: str, k: str, kind_idx: list[int], rel_word: str | None
) -> Callable[[int], tuple[str, list[str]]]:
    def explain(t: int) -> tuple[str, list[str]]:
        s, ref = scene.shapes[t], scene.shapes[r]
        what = f"{rel_word} it" if rel_word else "the closest to it"
        steps = [
            f"First I find the {ref_text}: it is {where(ref, scene)}.",
            f"The {plural(k)} are {_ones(scene, kind_idx, attr_shown='colour')}.",
            f"Only the {s.colour} one {where(s, scene)} is {what}."
            if rel_word
            else f"Of these, the {s.colour} one {where(s, scene)} is {what}.",
        ]
        rel_phrase = f"is {rel_word}" if rel_word else "is closest to"
        return f"The {desc(s, size=False)} {where(s, scene)} {rel_phrase} the {ref_text}.", steps

    return explain


# -- counting -------------------------------------------------------------------------------------


def fam_unique_attr(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    out = []
    for attr, texts in (
        (
            "colour",
            ("the shape whose colour appears only once", "Which shape has a colour that no other shape has?"),
        ),
        ("kind", ("the only shape of its kind", "Which shape has a form that no other shape has?")),
    ):
        ast = Select(CountIs(attr, 1))
        if resolve(ast, scene) is None:
            continue
        if attr == "kind" and len(scene.shapes) < 4:
            continue
        sentence = bool(rng.random() < 0.35)

        def explain(t: int, attr: str = attr) -> tuple[str, list[str]]:
            s = scene.shapes[t]
            counts = Counter(getattr(o, attr) for o in scene.shapes)
            words = {1: "once", 2: "twice"}
            parts = [
                f"{val} {words.get(n, f'{n} times')}"
                for val, n in sorted(counts.items(), key=lambda x: -x[1])
            ]
            noun = "colours" if attr == "colour" else "kinds"
            val = getattr(s, attr)
            label = val if attr == "colour" else f"the {val}"
            steps = [
                f"The query asks for the shape whose {attr if attr == 'colour' else 'kind'} no other shape has.",
                f"Counting the {noun}: {join_words(parts)}.",
                f"Only {label} appears once, so it is the target.",
            ]
            return f"{label.capitalize()} appears only once: the {desc(s)} {where(s, scene)}.", steps

        out.append(Candidate("unique_attr", ast, texts[1] if sentence else texts[0], sentence, explain))
    return out


def _force_unique(rng: np.random.Generator, n: int, world: World) -> list[Forced]:
    """One shape with a unique colour (or kind); every other colour (kind) appears 2 or 3 times."""
    by_kind = rng.random() < 0.35
    pool = list(world.kinds) if by_kind else list(world.colours)
    order = [pool[i] for i in rng.permutation(len(pool))]
    values = [order[0]]
    rest, j = n - 1, 1
    while rest > 0 and j < len(order):
        take = int(rng.integers(2, 4))
        if take > rest or rest - take == 1:
            take = rest if rest <= 3 else 2
        values += [order[j]] * take
        rest -= take
        j += 1
    forced = [(v, None, None) if by_kind else (None, v, None) for v in values]
    return forced[:n]


# -- attribute transfer -----------------------------------------------------------------------------


def fam_transfer(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    out = []
    shapes = scene.shapes
    for r in range(len(shapes)):
        ref = _minimal_ref(scene, r)
        if ref is None:
            continue
        ref_text, ref_ast = ref
        rs = shapes[r]
        options: list[tuple[Query, str, str, str]] = [
            (
                Select(SameAs("colour", ref_ast)),
                f"the shape with the same colour as the {ref_text}",
                f"Which shape has the same colour as the {ref_text}?",
                "colour",
            ),
            (
                Select(SameAs("kind", ref_ast)),
                f"the shape of the same kind as the {ref_text}",
                f"Which other shape has the same form as the {ref_text}?",
                "kind",
            ),
        ]
        for k in sorted({s.kind for s in shapes}):
            options.append(
                (
                    Select(And((Kind(k), SameAs("colour", ref_ast)))),
                    f"the {k} with the same colour as the {ref_text}",
                    f"Which {k} has the same colour as the {ref_text}?",
                    "colour",
                )
            )
        for ast, phrase, question, attr in options:
            if attr == "kind" and rs.kind in ref_text:
                continue  # "the shape of the same kind as the red circle" gives the kind away
            if resolve(ast, scene) is None:
                continue
            sentence = bool(rng.random() < 0.3)

            def explain(
                t: int, r: int = r, ref_text: str = ref_text, attr: str = attr
            ) -> tuple[str, list[str]]:
                s, ref = shapes[t], shapes[r]
                val = getattr(ref, attr)
                same = [j for j, o in enumerate(shapes) if j != r and getattr(o, attr) == val]
                noun = f"{val} shapes" if attr == "colour" else plural(val)
                show = "kind" if attr == "colour" else "colour"
                steps = [
                    f"First I find the {ref_text}: it is the {desc(ref)} {where(ref, scene)}, so the {attr} is {val}.",
                    f"The other {noun}: {_ones(scene, same, attr_shown=show)}.",
                ]
                if len(same) > 1:
                    steps.append(f"Of these, only the {s.colour} {s.kind} {where(s, scene)} fits the query.")
                short = f"The {ref_text} is {val}, and the matching {s.colour} {s.kind} is {where(s, scene)}."
                if attr == "kind":
                    short = f"The {ref_text} is {article(val)}, and the other {val} is the {s.colour} one {where(s, scene)}."
                return short, steps

            out.append(Candidate("transfer", ast, question if sentence else phrase, sentence, explain))
    return out


def _force_transfer(rng: np.random.Generator, n: int, world: World) -> list[Forced]:
    k1, k2 = (world.kinds[i] for i in rng.choice(len(world.kinds), 2, replace=False))
    c1, c2 = (list(world.colours)[i] for i in rng.choice(len(world.colours), 2, replace=False))
    if rng.random() < 0.65:
        return [(k1, c1, None), (k2, c1, None)][:n]
    return [(k1, c1, None), (k1, c2, None)][:n]


# -- occlusion ------------------------------------------------------------------------------------


def _covered_phrase(scene: Scene, s: Shape) -> str:
    cov = [scene.shapes[j] for j in s.covered_by]
    return join_words([f"the {o.colour} {o.kind}" for o in cov]) if cov else "another shape"


def fam_occlusion(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    out = []
    shapes = scene.shapes
    occl = eval_pred(Occluded(), scene)
    for k in [*sorted({s.kind for s in shapes}), "shape"]:
        idx = list(range(len(shapes))) if k == "shape" else _of_kind(scene, k)
        if len(idx) < 2:
            continue
        ast = Select(Occluded() if k == "shape" else And((Kind(k), Occluded())))
        if resolve(ast, scene) is None:
            continue
        sentence = bool(rng.random() < 0.3)
        phrase = _pick(rng, [f"the partly hidden {k}", f"the {k} that is partly covered by another shape"])
        text = f"Which {k} is partly hidden behind another shape?" if sentence else phrase

        def explain(t: int, k: str = k, idx: list[int] = idx) -> tuple[str, list[str]]:
            s = shapes[t]
            parts = []
            for j in idx:
                o = shapes[j]
                state = f"partly covered by {_covered_phrase(scene, o)}" if occl[j] else "fully visible"
                name = f"the {o.colour} one" if k != "shape" else f"the {o.colour} {o.kind}"
                parts.append(f"{name} {where(o, scene)}, {state}")
            steps = [
                "Some shapes overlap, so I check which ones are partly hidden.",
                f"The {plural(k)} are: {'; '.join(parts)}.",
                f"Only the {s.colour} {s.kind} is partly hidden.",
            ]
            short = f"The {desc(s, size=False)} {where(s, scene)} is partly hidden by {_covered_phrase(scene, s)}."
            return short, steps

        out.append(Candidate("occlusion", ast, text, sentence, explain))
    return out


# -- multi-step -----------------------------------------------------------------------------------


def _not_kind_extremes(scene: Scene) -> list[Candidate]:
    """(a) the largest/smallest shape that is not a K."""
    out: list[Candidate] = []
    shapes = scene.shapes
    for k in sorted({s.kind for s in shapes}):
        for measure in ("largest", "smallest"):
            pred: Pred = Not(Kind(k))
            idx = [i for i, v in enumerate(eval_pred(pred, scene)) if v]
            if len(idx) < 2 or len(_of_kind(scene, k)) < 1:
                continue
            ast: Query = Extreme(measure, pred)
            if resolve(ast, scene) is None:
                continue
            art = "an" if k[0] in "aeiou" else "a"

            def explain_a(
                t: int, k: str = k, measure: str = measure, idx: list[int] = idx, art: str = art
            ) -> tuple[str, list[str]]:
                s = shapes[t]
                excluded = _of_kind(scene, k)
                steps = [
                    f"First I set aside the {plural(k)}: {_ones(scene, excluded, attr_shown='colour')}.",
                    f"The remaining shapes are {_ones(scene, idx, attr_shown='all')}.",
                    f"Comparing their sizes, the {s.colour} {s.kind} {where(s, scene)} is the {measure}.",
                ]
                return (
                    f"Among the shapes that are not {plural(k)}, the {measure} is the {desc(s)} {where(s, scene)}.",
                    steps,
                )

            out.append(
                Candidate("multi_step", ast, f"the {measure} shape that is not {art} {k}", False, explain_a)
            )
    return out


def _same_colour_extremes(scene: Scene) -> list[Candidate]:
    """(b) the largest/smallest shape with the same colour as REF."""
    out: list[Candidate] = []
    shapes = scene.shapes
    for r in range(len(shapes)):
        ref = _minimal_ref(scene, r)
        if ref is None:
            continue
        ref_text, ref_ast = ref
        for measure in ("largest", "smallest"):
            pred = SameAs("colour", ref_ast)
            idx = [i for i, v in enumerate(eval_pred(pred, scene)) if v]
            if len(idx) < 2:
                continue
            ast = Extreme(measure, pred)
            if resolve(ast, scene) is None:
                continue

            def explain_b(
                t: int, r: int = r, ref_text: str = ref_text, measure: str = measure, idx: list[int] = idx
            ) -> tuple[str, list[str]]:
                s, ref = shapes[t], shapes[r]
                steps = [
                    f"First I find the {ref_text}: it is {ref.colour}, {where(ref, scene)}.",
                    f"The other {ref.colour} shapes are {_ones(scene, idx, attr_shown='kind')}.",
                    f"Comparing their sizes, the {s.kind} {where(s, scene)} is the {measure}.",
                ]
                return (
                    f"The {ref_text} is {ref.colour}; the {measure} other {ref.colour} shape is the {s.kind} {where(s, scene)}.",
                    steps,
                )

            text = f"the {measure} shape with the same colour as the {ref_text}"
            out.append(Candidate("multi_step", ast, text, False, explain_b))
    return out


def _anchors(scene: Scene) -> list[tuple[str, Query, str]]:
    """The anchors of (c)/(d): ``(text, query, how it is found)``: the largest K2 where there are two or
    more K2s, and the shape whose colour appears only once."""
    refs: list[tuple[str, Query, str]] = []
    for k2 in sorted({s.kind for s in scene.shapes}):
        if len(_of_kind(scene, k2)) >= 2:
            refs.append(
                (f"largest {k2}", Extreme("largest", Kind(k2)), f"comparing the {plural(k2)}, the largest")
            )
    refs.append(
        (
            "shape whose colour appears only once",
            Select(CountIs("colour", 1)),
            "counting colours, the one whose colour appears once",
        )
    )
    return refs


def _anchored_variants(k: str, ref_text: str, ref_ast: Query) -> list[tuple[Query, str, str]]:
    """The K with the same colour as / closest to / in a relation to the anchor: ``(query, text, mode)``."""
    variants: list[tuple[Query, str, str]] = [
        (
            Select(And((Kind(k), SameAs("colour", ref_ast)))),
            f"the {k} with the same colour as the {ref_text}",
            "colour",
        ),
        (Extreme("closest", Kind(k), ref_ast), f"the {k} closest to the {ref_text}", "closest"),
    ]
    for rel, rel_word in _REL_WORDS.items():
        variants.append(
            (
                Select(And((Kind(k), Rel(rel, ref_ast)))),
                f"the {k} {rel_word} the {ref_text}",
                rel_word,
            )
        )
    return variants


def _anchored(scene: Scene) -> list[Candidate]:
    """(c) the K with the same colour as the largest K2 / (d) the K closest to the unique-colour shape
    (and the K in a relation to either anchor)."""
    out: list[Candidate] = []
    shapes = scene.shapes
    for ref_text, ref_ast, how in _anchors(scene):
        r = resolve(ref_ast, scene)
        if r is None:
            continue
        for k in sorted({s.kind for s in shapes}):
            kind_idx = [j for j in _of_kind(scene, k) if j != r]
            if len(kind_idx) < 2:
                continue
            for ast, text, mode in _anchored_variants(k, ref_text, ref_ast):
                if resolve(ast, scene) is None:
                    continue

                def explain_c(
                    t: int,
                    r: int = r,
                    how: str = how,
                    k: str = k,
                    kind_idx: list[int] = kind_idx,
                    mode: str = mode,
                    ref_text: str = ref_text,
                ) -> tuple[str, list[str]]:
                    s, ref = shapes[t], shapes[r]
                    steps = [
                        f"First I find the {ref_text}: {how} is the {desc(ref)} {where(ref, scene)}.",
                        f"The {plural(k)} are {_ones(scene, kind_idx, attr_shown='colour')}.",
                    ]
                    if mode == "colour":
                        steps.append(f"Only the one {where(s, scene)} is also {ref.colour}.")
                        fact = f"has the same colour ({ref.colour}) as the {ref_text}"
                    elif mode == "closest":
                        steps.append(f"Of these, the {s.colour} one {where(s, scene)} is the closest to it.")
                        fact = f"is the closest to the {ref_text}"
                    else:
                        steps.append(f"Only the {s.colour} one {where(s, scene)} is {mode} it.")
                        fact = f"is {mode} the {ref_text}"
                    return (
                        f"The {ref_text} is the {ref.colour} {ref.kind}; the {s.colour} {k} {where(s, scene)} {fact}.",
                        steps,
                    )

                out.append(Candidate("multi_step", ast, text, False, explain_c))
    return out


def fam_multi_step(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    """Queries of two steps: an extreme among the shapes left after a first filter (not a K; the colour
    of a reference) and a K found from an anchor (the largest K2, the shape of a unique colour)."""
    return [*_not_kind_extremes(scene), *_same_colour_extremes(scene), *_anchored(scene)]


# ------------------------------------------------------------------------------------ registry

FAMILIES: dict[str, FamilySpec] = {
    # base: the family's contribution to the difficulty (see docs/SHAPES.md); weight: sampling weight.
    "direct_kind": FamilySpec(1.0, (3, 4), 0.0, (1.0, 0.0, 0.0), 1.0),
    "direct_attr": FamilySpec(1.5, (3, 6), 0.0, (0.7, 0.3, 0.0), 1.2),
    "implicit": FamilySpec(2.5, (3, 6), 0.0, (0.6, 0.3, 0.1), 1.0),
    "position": FamilySpec(2.2, (3, 6), 0.0, (0.6, 0.3, 0.1), 1.0),
    "superlative": FamilySpec(2.8, (4, 7), 0.1, (0.5, 0.3, 0.2), 1.0),
    "negation": FamilySpec(3.0, (4, 7), 0.1, (0.5, 0.3, 0.2), 1.0, _force_negation),
    "relation": FamilySpec(3.3, (4, 7), 0.1, (0.4, 0.4, 0.2), 1.0),
    "unique_attr": FamilySpec(3.6, (5, 8), 0.1, (0.4, 0.3, 0.3), 0.9, _force_unique),
    "transfer": FamilySpec(3.6, (4, 7), 0.15, (0.4, 0.3, 0.3), 0.9, _force_transfer),
    "occlusion": FamilySpec(3.4, (4, 7), 0.6, (0.4, 0.3, 0.3), 0.9),
    "distractors": FamilySpec(3.2, (8, 12), 0.15, (0.3, 0.4, 0.3), 0.9, _force_distractors),
    "multi_step": FamilySpec(4.4, (5, 9), 0.2, (0.3, 0.4, 0.3), 1.2),
}

ENUMERATORS: dict[str, Callable[[Scene, np.random.Generator], list[Candidate]]] = {
    "direct_kind": fam_direct_kind,
    "direct_attr": fam_direct_attr,
    "implicit": fam_implicit,
    "position": fam_position,
    "superlative": fam_superlative,
    "negation": fam_negation,
    "relation": fam_relation,
    "unique_attr": fam_unique_attr,
    "transfer": fam_transfer,
    "occlusion": fam_occlusion,
    "distractors": fam_distractors,
    "multi_step": fam_multi_step,
}
