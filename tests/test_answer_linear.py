"""The linear-time matchers of pixelthink.answer equal the authors' regexes on random and adversarial text.

The authors' patterns (``<think>(.*?)</think>``, ``<answer>(.*?)</answer>``, ``{[^}]+}`` and the
full-match thinking format) backtrack quadratically on adversarial model output; pixelthink matches
them with ``str.find``. These properties compare both on text built to hit every corner of
leftmost-match semantics: nested, repeated, unclosed and overlapping tags, runs of braces, Unicode
whitespace between the blocks. The time bound is measured by ``bench/bench_parsers.py`` (a table
up to 1 MB); the one test with a clock here only guards against a hang, with a margin of ~1000x.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pixelthink.answer import (
    JSON_OBJECT_RE,
    THINKING_FORMAT_RE,
    extract_answer,
    extract_think,
    find_block,
    is_thinking_format,
    json_object_span,
)

# The specification: the authors' regexes, used as-is.
THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def spec_block(text: str, regex: re.Pattern[str]) -> tuple[int, int] | None:
    m = regex.search(text)
    return m.span(1) if m else None


def spec_json_span(text: str) -> tuple[int, int] | None:
    m = JSON_OBJECT_RE.search(text)
    return m.span() if m else None


# Pieces that make the matchers' decisions interesting: whole tags, tag fragments (so tags form
# across pieces), braces, ASCII and Unicode whitespace (\s in a str pattern is Unicode-aware), a
# zero-width space (not whitespace), and JSON-ish text.
_PIECES = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<",
    ">",
    "/",
    "think",
    "answer",
    "</",
    "<think",
    "answer>",
    "{",
    "}",
    "{}",
    "{{",
    "}}",
    '{"bbox": [1, 2, 3, 4], "points_1": [1, 2], "points_2": [3, 4]}',
    " ",
    "\n",
    "\t",
    "\u00a0",
    "\u2028",
    "\u3000",
    "\x1c",
    "\x85",
    "\u200b",
    "a",
    "xyz",
    ":",
    ",",
]
pieces_text = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)
char_text = st.text(alphabet=st.sampled_from("<>/{}thinkaswer \n\u00a0\u2028x"), max_size=60)


@st.composite
def thinking_shaped(draw):
    """Near-miss and valid full responses: <think>A</think>W<answer>B</answer> with noisy parts."""
    a = draw(pieces_text)
    w = draw(
        st.text(alphabet=st.sampled_from(" \n\t\r\x0b\x0c\u00a0\u2028\u3000\x1c\x85\u200bx"), max_size=5)
    )
    b = draw(pieces_text)
    head = draw(st.sampled_from(["<think>", "<think>", "<think", " <think>", "<answer>"]))
    tail = draw(st.sampled_from(["</answer>", "</answer>", "</answer> ", "</answer", "</think>"]))
    middle = draw(st.sampled_from(["</think>", "</think>", "</think><think>", "</answer>"]))
    sep = draw(st.sampled_from(["<answer>", "<answer>", "<answer></answer>", "<think>"]))
    return head + a + middle + w + sep + b + tail


@st.composite
def repeated(draw):
    """Adversarial repetition: a unit (often a tag) repeated up to a few thousand times, with edits."""
    unit = draw(st.one_of(st.sampled_from(_PIECES[:18]), pieces_text.filter(bool)))
    text = unit * draw(st.integers(1, 3000 // max(1, len(unit))))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_PIECES)) + text[at:]
    return text


any_text = st.one_of(pieces_text, char_text, thinking_shaped(), repeated())
PROPS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ADVERSARIAL = [
    "<think>" * 500,
    "<think>" * 500 + "</think>",
    "</think>" + "<think>" * 50,
    "<answer>" * 500 + "</answer>",
    "{" * 2000,
    "{" * 2000 + "}",
    "{}" * 1000 + "{x}",
    "{}" * 1000,
    "}" * 10 + "{" * 10,
    "<think></think><answer>" * 300,
    "<think></think><answer>" * 300 + "</answer>",
    "<think>" + "</think> " * 300 + "<answer></answer>",
    "<think>" + "</think>\u00a0\u2028\n<answer>" * 200 + "</answer>",
    "<think></think>" + " " * 500 + "<answer></answer>",
    "<think></think>" + " " * 500 + "\u200b<answer></answer>",
    "<think></think><answer></answer>",
    "<think></think><answer>",
    "<think></think><answer></answer></answer>",
    "<think></think><answer</answer>",
    "<think></think></answer>",
    "<think><answer></answer></think><answer></answer>",
]


@PROPS
@given(any_text)
@example("")
@example("<think></think>")
@example("<think>a</think><think>b</think>")
def test_find_block_equals_the_lazy_regex(text):
    assert find_block(text, "<think>", "</think>") == spec_block(text, THINK_RE)
    assert find_block(text, "<answer>", "</answer>") == spec_block(text, ANSWER_RE)
    m = THINK_RE.search(text)
    assert extract_think(text) == (m.group(1).strip() if m else None)
    m = ANSWER_RE.search(text)
    assert extract_answer(text) == (m.group(1) if m else None)


@PROPS
@given(any_text)
@example("{}")
@example("{}}")
@example("{{}")
@example("{}{a}")
@example("{\n}")
def test_json_object_span_equals_the_authors_regex(text):
    assert json_object_span(text) == spec_json_span(text)


@PROPS
@given(any_text)
def test_thinking_format_equals_the_authors_fullmatch(text):
    assert is_thinking_format(text) == (THINKING_FORMAT_RE.fullmatch(text) is not None)


def test_adversarial_inputs_match_the_regexes():
    for text in ADVERSARIAL:
        assert find_block(text, "<think>", "</think>") == spec_block(text, THINK_RE), text[:40]
        assert find_block(text, "<answer>", "</answer>") == spec_block(text, ANSWER_RE), text[:40]
        assert json_object_span(text) == spec_json_span(text), text[:40]
        assert is_thinking_format(text) == (THINKING_FORMAT_RE.fullmatch(text) is not None), text[:40]


def test_every_unicode_whitespace_between_the_blocks():
    # \s of a str pattern is Unicode-aware: every code point it matches separates the blocks, and
    # nothing else does (the matcher must agree on all of them, not only on ASCII whitespace).
    spaces = [chr(c) for c in range(0x3100) if re.fullmatch(r"\s", chr(c))]
    assert {" ", "\n", "\u00a0", "\u2028", "\x1c", "\x85"} <= set(spaces)
    for c in [*spaces, "\u200b", "x", "\ufeff"]:
        text = f"<think>a</think>{c}{c}<answer>b</answer>"
        assert is_thinking_format(text) == (THINKING_FORMAT_RE.fullmatch(text) is not None), repr(c)


def test_megabyte_adversarial_responses_finish():
    """A hang guard, not a speed test: each of these took minutes to hours with the regexes
    (quadratic: ``"<think>" * 16000`` took 7.7 s); bench/bench_parsers.py measures the times."""
    script = textwrap.dedent(
        """
        from pixelthink.answer import parse_lenient, parse_strict
        from pixelthink.evaluate.runner import segzero_parse_problem
        from pixelthink.rewards import accuracy_terms, pixelthink_reward

        gt = "<box>(1,1),(20,20)</box><points>(5,5),(6,6)</points>"
        for unit in ("<think>", "<answer>", "{", "<think></think><answer>", "{1}"):
            text = unit * (1_000_000 // len(unit))
            parse_strict(text)
            parse_lenient(text, (840, 840))
            accuracy_terms(text, gt)
            pixelthink_reward(text, gt, 6.0, 0.5)
            segzero_parse_problem(text)
        print("done")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "done"
