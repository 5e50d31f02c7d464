"""Tests of pixelthink.answer: prompt, strict and lenient parsers."""

from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelthink.answer import (
    ANSWER_FORMAT_PROBLEM,
    DEFAULT_PROMPT_TEMPLATE,
    THINKING_FORMAT_PROBLEM,
    ParsedAnswer,
    build_prompt,
    extract_answer,
    extract_think,
    parse_lenient,
    parse_strict,
)
from pixelthink.rewards import accuracy_terms

# The authors' prompt, written out as in songw-zju/PixelThink@69baad1
# training_scripts/qwen3vl/convert_refcocog_to_verl.py (SEG_PROMPT, filled with SEG_PROMPT_ANSWER_HINT),
# identical to Seg-Zero's QUESTION_TEMPLATE: sentences concatenated without spaces.
AUTHORS_PROMPT_FOR_THE_CAT = (
    "Please find 'the cat' with bbox and points."
    "Compare the difference between objects and find the most closely matched one."
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
    "Output the one bbox and points of two largest inscribed circles inside the interested object in JSON format."
    "i.e., <think> thinking process here </think>"
    "<answer>{'bbox': [10,100,200,210], 'points_1': [30,110], 'points_2': [35,180]}</answer>"
)

CLEAN = '<think> the cat sits left </think><answer>{"bbox": [10, 20, 110, 220], "points_1": [40, 60], "points_2": [80, 150]}</answer>'


# ------------------------------------------------------------------------------------------------ prompt


def test_default_prompt_is_the_authors_text():
    assert build_prompt("The Cat.") == AUTHORS_PROMPT_FOR_THE_CAT
    assert DEFAULT_PROMPT_TEMPLATE.format(question="the cat") == AUTHORS_PROMPT_FOR_THE_CAT


def test_normalization_is_segzero_lower_strip_periods():
    # text.lower().strip("."): only periods at both ends go, inner ones and spaces stay.
    assert "'..x. y'" not in build_prompt("...X. Y..")
    assert "'x. y'" in build_prompt("...X. Y..")
    assert "' padded '" in build_prompt(" Padded ")
    assert "'The Cat.'" in build_prompt("The Cat.", normalize=False)


def test_custom_templates():
    assert build_prompt("A Dog", "Find {Question}; e.g. {Answer}") == (
        "Find a dog; e.g. {'bbox': [10,100,200,210], 'points_1': [30,110], 'points_2': [35,180]}"
    )
    assert build_prompt("x", "Q: {question} {{json}}") == "Q: x {json}"
    with pytest.raises(ValueError, match="no '\\{question\\}' field"):
        build_prompt("x", "no field here")
    with pytest.raises(ValueError, match="cannot fill template"):
        build_prompt("x", "{question} {other}")


# ------------------------------------------------------------------------------------------------ think


def test_extract_think():
    assert extract_think(CLEAN) == "the cat sits left"
    assert extract_think("<think>a</think><think>b</think>") == "a"
    assert extract_think("<think>\nmulti\nline\n</think>") == "multi\nline"
    assert extract_think("<think> cut off") is None
    assert extract_think("<think> cut off", partial=True) == "cut off"
    assert extract_think("reasoning first</think><answer>{}</answer>", partial=True) == "reasoning first"
    assert extract_think("no tags") is None
    assert extract_answer(CLEAN).startswith('{"bbox"')
    assert extract_answer("<answer>unterminated") is None


# ------------------------------------------------------------------------------------------------ strict


def test_strict_clean():
    p = parse_strict(CLEAN)
    assert p == ParsedAnswer(
        think="the cat sits left",
        bbox=(10.0, 20.0, 110.0, 220.0),
        points=[(40.0, 60.0), (80.0, 150.0)],
        problems=[],
    )
    assert p.ok


def test_strict_thinking_format_only():
    p = parse_strict("Sure. " + CLEAN)
    assert p.problems == [THINKING_FORMAT_PROBLEM]
    assert p.bbox == (10.0, 20.0, 110.0, 220.0)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ("{'bbox': [1,2,3,4], 'points_1': [1,1], 'points_2': [2,2]}", "not valid JSON"),
        ('{"bbox_2d": [1,2,3,4], "points_1": [1,1], "points_2": [2,2]}', "key 'bbox' missing"),
        ('{"bbox": [1,2,3], "points_1": [1,1], "points_2": [2,2]}', "'bbox' is not a list of 4"),
        ('{"bbox": [1,2,3,4], "points_1": [1,1,1], "points_2": [2,2]}', "'points_1' is not a list of 2"),
        ("no braces", "no '{...}' object"),
        ('[{"bbox": [1,2,3,4], "points_1": [1,1], "points_2": [2,2]}] {"a": {"b": 1}}', None),
    ],
)
def test_strict_answer_format_problems(answer, fragment):
    p = parse_strict(f"<think>t</think><answer>{answer}</answer>")
    if fragment is None:  # a list around the object: the first {...} is still a valid answer
        assert p.problems == [] and p.ok
        return
    assert not p.ok and p.points == []
    assert (
        len(p.problems) == 1 and p.problems[0].startswith(ANSWER_FORMAT_PROBLEM) and fragment in p.problems[0]
    )


def test_strict_non_numeric_values_keep_the_format_valid():
    # The authors' format term only checks list lengths: strings pass the format but give no box.
    p = parse_strict(
        '<think>t</think><answer>{"bbox": ["1","2","3","4"], "points_1": [1,1], "points_2": [2,2]}</answer>'
    )
    assert p.bbox is None and p.points == [(1.0, 1.0), (2.0, 2.0)]
    assert len(p.problems) == 1 and p.problems[0].startswith("values:")


_fragments = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "{",
        "}",
        '"bbox": [1, 2, 30, 40]',
        '"points_1": [3, 4]',
        '"points_2": [5, 6]',
        ", ",
        "'bbox': [1,2,3,4]",
        "[",
        "]",
        " text ",
        "\n",
        "NaN",
        '"bbox_2d": [9, 8, 7, 6]',
        '"point_1": ["1", "2"]',
    ]
)
_soup = st.lists(st.one_of(_fragments, st.text(max_size=5)), max_size=14).map("".join)


@settings(max_examples=400, deadline=None)
@given(_soup)
def test_strict_problems_match_reward_format_terms(response):
    # parse_strict is the reward's definition: its two format problems are exactly the two 0 format terms.
    p = parse_strict(response)
    terms = accuracy_terms(response, "<box>(1,2),(30,40)</box><points>(3,4),(5,6)</points>")
    assert (THINKING_FORMAT_PROBLEM in p.problems) == (terms["thinking_format"] == 0.0)
    assert any(x.startswith(ANSWER_FORMAT_PROBLEM) for x in p.problems) == (terms["answer_format"] == 0.0)


# ------------------------------------------------------------------------------------------------ lenient


def test_lenient_clean_has_no_problems():
    p = parse_lenient(CLEAN, image_size=(840, 840))
    assert p.problems == []
    assert p.bbox == (10.0, 20.0, 110.0, 220.0) and p.points == [(40.0, 60.0), (80.0, 150.0)]


@pytest.mark.parametrize(
    ("response", "bbox", "points", "problem"),
    [
        (
            "<think>t</think><answer>{'bbox': [1, 2, 30, 40], 'points_1': [3, 4], 'points_2': [5, 6]}</answer>",
            (1, 2, 30, 40),
            [(3, 4), (5, 6)],
            "Python literal",
        ),
        (
            '<think>t</think><answer>{"bbox": [1, 2, 30, 40,], "points_1": [3, 4], "points_2": [5, 6],}</answer>',
            (1, 2, 30, 40),
            [(3, 4), (5, 6)],
            "Python literal",
        ),
        (
            '<think>t</think><answer>{"bbox_2d": [1.5, 2, 30, 40.25], "point_1": [3, 4], "point_2": [5, 6]}</answer>',
            (1.5, 2, 30, 40.25),
            [(3, 4), (5, 6)],
            "box under key 'bbox_2d'",
        ),
        (
            '<think>t</think><answer>[{"bbox_2d": [1, 2, 30, 40], "point_2d": [3, 4]}, {"bbox_2d": [0, 0, 1, 1]}]</answer>',
            (1, 2, 30, 40),
            [(3, 4)],
            "list of 2 items; used the first",
        ),
        (
            '<think>t</think><answer>{"bbox": [30, 40, 1, 2], "points": [[3, 4], [5, 6]]}</answer>',
            (1, 2, 30, 40),
            [(3, 4), (5, 6)],
            "corners swapped",
        ),
        (
            '<answer>{"bbox": [1, 2, 30, 40], "points_1": [3, 4], "points_2": [5, 6]}</answer>',
            (1, 2, 30, 40),
            [(3, 4), (5, 6)],
            "missing <think> block",
        ),
        (
            '<think>t</think> {"bbox": ["1", "2", "30", "40"], "points_1": [3, 4], "points_2": [5, 6]}',
            (1, 2, 30, 40),
            [(3, 4), (5, 6)],
            "numbers given as strings",
        ),
        (
            '<think>t</think><answer>```json\n{"bbox": [[1, 2], [30, 40]], "points_1": [3, 4], "points_2": [5, 6]}\n```</answer>',
            (1, 2, 30, 40),
            [(3, 4), (5, 6)],
            "removed code fence",
        ),
        (
            "<think>t</think><answer>{bbox: [1, 2, 30, 40], points_1: [3, 4], points_2: [5, 6]}</answer>",
            (1, 2, 30, 40),
            [(3, 4), (5, 6)],
            "quoted bare keys",
        ),
        (
            '<think>t</think><answer>{"bbox": [1, 2, 30, 40], "points_1": [3, 4], "points_2": [5, 6]}',
            (1, 2, 30, 40),
            [(3, 4), (5, 6)],
            "unterminated <answer>",
        ),
    ],
)
def test_lenient_repairs(response, bbox, points, problem):
    p = parse_lenient(response)
    assert p.bbox == tuple(float(v) for v in bbox)
    assert p.points == [(float(x), float(y)) for x, y in points]
    assert p.ok
    if problem is not None:
        assert any(problem in x for x in p.problems), p.problems
    else:
        assert p.problems == []


def test_lenient_clipping_to_image_size():
    r = '<think>t</think><answer>{"bbox": [-5, 10, 900, 90], "points_1": [850, 5], "points_2": [5, -1]}</answer>'
    p = parse_lenient(r, image_size=(840, 100))
    # x in [0, 839], y in [0, 99]
    assert p.bbox == (0.0, 10.0, 839.0, 90.0)
    assert p.points == [(839.0, 5.0), (5.0, 0.0)]
    assert any("box clipped" in x for x in p.problems) and any("point(s) clipped" in x for x in p.problems)
    # Without image_size nothing is clipped.
    assert parse_lenient(r).bbox == (-5.0, 10.0, 900.0, 90.0)
    with pytest.raises(ValueError, match="image_size"):
        parse_lenient(r, image_size=(0, 10))


def test_lenient_failures_are_reported():
    p = parse_lenient("<think>I cannot find it.</think><answer>none</answer>")
    assert not p.ok and p.think == "I cannot find it." and "no parsable answer object found" in p.problems
    p = parse_lenient('<think>t</think><answer>{"bbox": [1, 2, "x", 4]}</answer>')
    assert not p.ok and any("non-numeric" in x for x in p.problems)
    p = parse_lenient('<think>t</think><answer>{"bbox": [1, 2, NaN, 4], "points_1": [1, 1]}</answer>')
    assert not p.ok and p.points == [(1.0, 1.0)]
    p = parse_lenient("<think> truncated reasoning")
    assert p.think == "truncated reasoning" and "unterminated <think> block" in p.problems and not p.ok
    assert parse_lenient(None).problems == ["response is not a string (NoneType)"]  # type: ignore[arg-type]


def test_lenient_more_than_two_points():
    r = '<think>t</think><answer>{"bbox": [0, 0, 9, 9], "points": [[1, 1], [2, 2], [3, 3]]}</answer>'
    p = parse_lenient(r)
    assert p.points == [(1.0, 1.0), (2.0, 2.0)] and any("kept the first 2" in x for x in p.problems)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.text(max_size=200), _soup),
    st.one_of(st.none(), st.tuples(st.integers(1, 2000), st.integers(1, 2000))),
)
def test_parsers_never_raise(response, image_size):
    for p in (parse_lenient(response, image_size), parse_strict(response)):
        assert isinstance(p, ParsedAnswer)
        assert all(isinstance(x, str) for x in p.problems)
        assert len(p.points) <= 2
        if p.bbox is not None:
            assert len(p.bbox) == 4
    lenient = parse_lenient(response, image_size)
    if lenient.bbox is not None:
        x1, y1, x2, y2 = lenient.bbox
        assert x1 <= x2 and y1 <= y2
        if image_size is not None:
            assert x1 >= 0 and y1 >= 0 and x2 <= image_size[0] - 1 and y2 <= image_size[1] - 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 839), min_size=4, max_size=4),
    st.lists(st.tuples(st.integers(0, 839), st.integers(0, 839)), min_size=2, max_size=2),
    st.text(alphabet="abc .,", max_size=30),
)
def test_lenient_agrees_with_strict_on_clean_answers(box, points, think):
    x1, x2 = sorted(box[0::2])
    y1, y2 = sorted(box[1::2])
    body = json.dumps({"bbox": [x1, y1, x2, y2], "points_1": list(points[0]), "points_2": list(points[1])})
    r = f"<think>{think}</think><answer>{body}</answer>"
    s, lenient = parse_strict(r), parse_lenient(r, (840, 840))
    assert s.problems == [] and lenient.problems == []
    assert (s.bbox, s.points, s.think) == (lenient.bbox, lenient.points, lenient.think)


@pytest.mark.parametrize(
    "answer",
    [
        '{"bbox": [1a, 2]}',  # a SyntaxError (no warning) on 3.11; the audit's example
        # Python's tokenizer warns "invalid decimal literal" on 1and / 1or before failing
        '{"bbox": [1, 2, 3, 4], "points_1": [1and 2], "points_2": [3, 4]}',
        "{'bbox': [0x1for, 2, 3, 4]}",
    ],
)
def test_lenient_parser_emits_no_syntax_warning(answer):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = parse_lenient(f"<think>t</think><answer>{answer}</answer>")
    assert [str(w.message) for w in caught] == []
    assert not p.ok


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ('{"bbox": [0, 0, 9, 9], "points_1": [1, 1]}', "missing key(s) 'points_2'"),
        ('{"bbox": [0, 0, 9, 9], "points_2": [1, 1]}', "missing key(s) 'points_1'"),
        (
            '{"bbox": [0, 0, 9, 9], "point_1": [1, 1], "point_2": [2, 2]}',
            "points under key(s) ['point_1', 'point_2']; missing key(s) 'points_1', 'points_2'",
        ),
        (
            '{"bbox": [0, 0, 9, 9], "points_2": [1, 1], "points_1": [2, 2]}',
            "in the order ['points_2', 'points_1']",
        ),
    ],
)
def test_lenient_point_key_problem_says_what_is_missing(answer, fragment):
    p = parse_lenient(f"<think>t</think><answer>{answer}</answer>")
    assert any(fragment in x for x in p.problems), p.problems
    # the old wording blamed 'points_1' for 'points_2' being absent
    assert not any("['points_1'] instead of" in x for x in p.problems)
