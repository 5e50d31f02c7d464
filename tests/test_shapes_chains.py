"""Grounded reasoning chains of the shapes benchmark (miniature/shapes/chains.py, grounding.py)."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import pytest

from pixelthink.frames import FrameTransform
from pixelthink.miniature.shapes import ShapesConfig, generate_sample, sample_rng, scene_shapes
from pixelthink.miniature.shapes.chains import STEP_SEP, decisive_spans
from pixelthink.miniature.shapes.grounding import faithfulness, mention, parse_mentions, rescale_mentions


def _scene(g):
    return [(s["kind"], s["colour"], s["bbox"]) for s in scene_shapes(g.scene)]


def test_every_family_chain_is_faithful_and_ends_at_the_target() -> None:
    steps: dict[str, list[int]] = collections.defaultdict(list)
    for i in range(300):
        g = generate_sample(sample_rng(21, "train", i))
        shapes = _scene(g)
        for ref in (g.reasoning_short, g.reasoning_long):
            f = faithfulness(ref, shapes, g.target)
            # every mention is a real shape of the named colour and kind; the last one is the target
            assert f["mentions"] >= 1 and f["real"] == f["mentions"] and f["last_is_target"], (g.query, ref)
            # the last step names the target with exactly the box of the answer (original frame)
            assert ref.split(STEP_SEP)[-1] == "target: the " + mention(
                g.target_shape.kind, g.target_shape.colour, shapes[g.target][2]
            )
        # the long chain lists the whole scene first (unless the short one already does: "the lowest shape")
        assert g.reasoning_long.startswith("shapes: ")
        assert g.reasoning_long == g.reasoning_short or g.reasoning_long.endswith(
            STEP_SEP + g.reasoning_short
        )
        steps[g.family].append(len(g.reasoning_short.split(STEP_SEP)))
    # direct lookups need one step before the target; relational families two or more (negation: one
    # lookup of the excluded set may do it: "not triangles: ..")
    assert max(steps["direct_kind"]) == 2
    for family in ("relation", "transfer", "multi_step", "unique_attr"):
        assert min(steps[family]) >= 3, (family, steps[family])
    assert sum(steps["multi_step"]) / len(steps["multi_step"]) > sum(steps["direct_attr"]) / len(
        steps["direct_attr"]
    )


def test_text_references_are_kept_as_an_option() -> None:
    g = generate_sample(sample_rng(21, "train", 3), ShapesConfig(references="text"))
    assert parse_mentions(g.reasoning_long) == [] and "I see" in g.reasoning_long
    with pytest.raises(ValueError, match="references must be one of"):
        ShapesConfig(references="pixels")


def test_parse_mentions_reads_invented_colours_and_kinds_only() -> None:
    text = "stars: the red star [1, 2, 30, 40]; the pink circle [5,6,7,8]; a square at the top; circles [1, 2, 3]"
    found = parse_mentions(text)
    assert [(m.colour, m.kind, m.box) for m in found] == [
        ("red", "star", (1.0, 2.0, 30.0, 40.0)),
        ("pink", "circle", (5.0, 6.0, 7.0, 8.0)),
    ]
    scene = [("star", "red", (1, 2, 30, 40)), ("circle", "blue", (5, 6, 7, 8))]
    # pink is not the circle's colour: one of two mentions is real; the last mention is not the target
    assert faithfulness(text, scene, 1) == {"mentions": 2, "real": 1, "last_is_target": False}
    assert faithfulness("the blue circle", scene, 1) == {"mentions": 0, "real": 0, "last_is_target": None}


def test_sft_rows_move_the_chain_into_the_model_frame(tmp_path) -> None:
    from pixelthink.cli import main
    from pixelthink.train.config import DataConfig
    from pixelthink.train.data import sft_rows

    out = tmp_path / "b"
    assert (
        main(
            [
                "data",
                "shapes",
                "--out",
                str(out),
                "--train",
                "4",
                "--val",
                "0",
                "--test",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    ft = FrameTransform.for_size(256, 256, 224)
    rows = list(sft_rows(DataConfig(path=str(out), resolution=224, reasoning="short")))
    from pixelthink.data import Benchmark

    for row, sample in zip(rows, Benchmark(out), strict=True):
        text = row["completion"][0]["content"]
        think = text[len("<think>") : text.index("</think>")]
        assert think == rescale_mentions(sample.reasoning_short, ft.box_to_model)
        last = parse_mentions(think)[-1]
        answer_box = [round(v) for v in ft.box_to_model(tuple(float(v) for v in sample.bbox))]
        assert list(last.box) == answer_box and f'"bbox": {answer_box}' in text.replace(".0", "")


def test_pick_comparisons_decide_a_superlative_in_one_step() -> None:
    pick = ShapesConfig(comparisons="pick")
    shorter = 0
    for i in range(200):
        g = generate_sample(sample_rng(22, "train", i), pick)
        if g.family not in ("superlative", "multi_step"):
            continue
        f = faithfulness(g.reasoning_short, _scene(g), g.target)
        assert f["real"] == f["mentions"] and f["last_is_target"], g.reasoning_short
        assert " of the " not in g.reasoning_short  # no pairwise step ("lower of A and B: ..")
        pairwise = generate_sample(sample_rng(22, "train", i))
        assert pairwise.query == g.query and pairwise.target == g.target  # only the references differ
        shorter += len(g.reasoning_short) < len(pairwise.reasoning_short)
    assert shorter >= 20
    with pytest.raises(ValueError, match="comparisons must be one of"):
        ShapesConfig(comparisons="vote")


def _same_mentions_as_name_first(config: ShapesConfig, seed: int, n: int = 150) -> Iterator[tuple[Any, str]]:
    """``(sample, reference)`` for the short and long references of ``n`` samples generated with ``config``,
    each checked against the default (name first) generation of the same sample: the same query and
    target, every mention real, the last one the target, the same mentions in the same order."""
    for i in range(n):
        g = generate_sample(sample_rng(seed, "train", i), config)
        named = generate_sample(sample_rng(seed, "train", i))
        assert (g.query, g.target) == (named.query, named.target)  # only the references differ
        for ref, ref_named in (
            (g.reasoning_short, named.reasoning_short),
            (g.reasoning_long, named.reasoning_long),
        ):
            f = faithfulness(ref, _scene(g), g.target)
            assert f["real"] == f["mentions"] >= 1 and f["last_is_target"], ref
            assert [(m.kind, m.colour, m.box) for m in parse_mentions(ref)] == [
                (m.kind, m.colour, m.box) for m in parse_mentions(ref_named)
            ]
            yield g, ref


def test_box_first_mentions_put_the_position_before_the_attributes() -> None:
    """mentions="box_first" ([x1, y1, x2, y2] red star): the same scenes, queries and chains with every
    mention's words after its box; faithfulness, the last-mention rule and the rescaling read both orders."""
    for g, ref in _same_mentions_as_name_first(ShapesConfig(mentions="box_first"), seed=23):
        shapes = _scene(g)
        assert "the [" not in ref and not any(
            ref[m.start] != "[" for m in parse_mentions(ref)
        )  # every mention starts at its box
        if ref == g.reasoning_short:
            t = g.target_shape
            assert ref.endswith(
                "target: " + mention(t.kind, t.colour, shapes[g.target][2], order="box_first")
            )
    with pytest.raises(ValueError, match="mentions must be one of"):
        ShapesConfig(mentions="colour_first")


def test_lists_box_first_writes_the_scene_wide_lists_box_first_and_every_pick_name_first() -> None:
    """mentions="lists_box_first": a lookup over the whole scene (``circles: [..] red circle, ..``) is written
    box first, the anchor, filters, comparisons and the target name first; same scenes, queries, mentions."""
    both = 0
    for _g, ref in _same_mentions_as_name_first(ShapesConfig(mentions="lists_box_first"), seed=24):
        found = parse_mentions(ref)
        for step in ref.split("; "):
            label = step.split(": ", 1)[0]
            starts = {ref.index(step) + k for k, ch in enumerate(step) if ch == "["}
            box_first = [m for m in found if m.start in starts]  # mentions that start at their box
            if label in ("target", "only one") or label.startswith(("not ", "the ", "other ")):
                assert not box_first, step  # a pick: name first
            elif label.endswith("s") and " of " not in label and not label.startswith(("not", "other")):
                assert box_first, step  # a scene-wide lookup: box first
        both += "the " in ref and "] " in ref
    assert both >= 50
    with pytest.raises(ValueError, match="mentions must be one of"):
        ShapesConfig(mentions="lists_name_first")


def test_decisive_spans_are_the_chain_decisions_and_the_answer_not_the_scene_wide_lists() -> None:
    """``decisive_spans`` (the SFT loss weight ``data.decisive_weight``): the filters, anchors, comparisons,
    ``only one`` and the target step, and the answer block; never a scene-wide lookup's list."""
    text = (
        "<think>the circle: the red circle [1, 2, 3, 4]; stars: the red star [5, 6, 7, 8], the blue star [9, 9, 9, 9]; "
        "other red shapes: the red star [5, 6, 7, 8]; target: the red star [5, 6, 7, 8]</think>"
        '<answer>{"bbox": [5, 6, 7, 8]}</answer>'
    )
    got = [text[a:b] for a, b in decisive_spans(text)]
    assert got == [
        "the circle: the red circle [1, 2, 3, 4]",
        "other red shapes: the red star [5, 6, 7, 8]",
        "target: the red star [5, 6, 7, 8]",
        '<answer>{"bbox": [5, 6, 7, 8]}</answer>',
    ]
    seen: set[str] = set()
    for i in range(300):
        g = generate_sample(sample_rng(25, "train", i))
        text = f"<think>{g.reasoning_long}</think><answer>{{}}</answer>"
        labels = [text[a:b].split(":", 1)[0] for a, b in decisive_spans(text)]
        assert labels[-2:] == ["target", "<answer>{}</answer>"], g.reasoning_long
        steps = g.reasoning_long.split("; ")
        assert steps[0].startswith("shapes: ") and "shapes" not in labels  # the long chain's scene list
        kept = [s.split(":", 1)[0] for s in steps if s.split(":", 1)[0] in labels]
        assert kept == labels[:-1]  # the decisive steps, in order
        seen.update(labels[:-2])
    assert {"not red", "only one", "below it"} <= seen or len(seen) >= 10
    assert not any(lab.endswith("shapes") and not lab.startswith("other") for lab in seen)
    assert decisive_spans("no tags at all") == []


def test_mentions_of_either_order_are_parsed_and_rescaled_in_place() -> None:
    text = "circles: [10, 20, 30, 40] red circle, the blue circle [50, 60, 70, 80]; target: [10, 20, 30, 40] red circle"
    found = parse_mentions(text)
    assert [(m.kind, m.colour, m.box) for m in found] == [
        ("circle", "red", (10.0, 20.0, 30.0, 40.0)),
        ("circle", "blue", (50.0, 60.0, 70.0, 80.0)),
        ("circle", "red", (10.0, 20.0, 30.0, 40.0)),
    ]
    doubled = rescale_mentions(text, lambda b: [2 * v for v in b])
    assert doubled == (
        "circles: [20, 40, 60, 80] red circle, the blue circle [100, 120, 140, 160]; "
        "target: [20, 40, 60, 80] red circle"
    )
    # a box followed by words that are not a shape's name is no mention; "[..] and the star [..]" is one
    assert parse_mentions("[1, 2, 3, 4] and more") == []
    assert [m.box for m in parse_mentions("[1, 2, 3, 4] and the star [5, 6, 7, 8]")] == [(5.0, 6.0, 7.0, 8.0)]
