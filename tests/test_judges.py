"""The rougeL-ref judge: tokenisation, LCS, ROUGE-L F1 (hand-computed), registry."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixelthink.evaluate.judges import (
    JUDGES,
    Judge,
    RougeLRefJudge,
    get_judge,
    lcs_length,
    register_judge,
    rouge_l_f1,
    sample_references,
    word_tokens,
)


@dataclass
class Refs:
    """A stand-in with the two reference fields of a benchmark Sample."""

    id: str = "s"
    reasoning_short: str | None = None
    reasoning_long: str | None = None


def test_word_tokens():
    assert word_tokens("The CAT, sat-on 2 mats!") == ["the", "cat", "sat", "on", "2", "mats"]
    assert word_tokens("") == []


def test_lcs():
    # a b c d vs a c d e: common subsequence a c d -> 3
    assert lcs_length(["a", "b", "c", "d"], ["a", "c", "d", "e"]) == 3
    assert lcs_length([], ["a"]) == 0
    # b a vs a b: 1
    assert lcs_length(["b", "a"], ["a", "b"]) == 1


def test_rouge_l_hand_computed():
    # LCS 3, P = 3/4, R = 3/4 -> F1 = 0.75
    assert rouge_l_f1("a b c d", "a c d e") == pytest.approx(0.75)
    # candidate "the cat sat" vs "the cat sat on the mat": LCS 3, P = 1, R = 0.5 -> F1 = 2*0.5/1.5 = 2/3
    assert rouge_l_f1("The cat sat.", "the cat sat on the mat") == pytest.approx(2 / 3)
    assert rouge_l_f1("", "a b") == 0.0
    assert rouge_l_f1("x y", "a b") == 0.0


def test_judge_takes_max_of_references():
    judge = RougeLRefJudge()
    sample = Refs(reasoning_short="the cat sat on the mat", reasoning_long="a b c d")
    # against short: 2/3 (above); against long: 0 -> max 2/3
    assert judge.score("the cat sat", sample) == pytest.approx(2 / 3)
    assert judge.score("a b c d", sample) == pytest.approx(1.0)
    assert isinstance(judge, Judge)
    assert sample_references(Refs(reasoning_short="  ", reasoning_long=None)) == []
    with pytest.raises(ValueError, match="no reasoning_short"):
        judge.score("x", Refs())


@given(st.text(max_size=60), st.text(max_size=60))
def test_rouge_l_range_and_symmetry(a, b):
    f = rouge_l_f1(a, b)
    assert 0.0 <= f <= 1.0
    assert f == pytest.approx(rouge_l_f1(b, a))
    if word_tokens(a):
        assert rouge_l_f1(a, a) == pytest.approx(1.0)


def test_registry():
    assert get_judge("none") is None
    assert get_judge(None) is None
    assert isinstance(get_judge("rougeL-ref"), RougeLRefJudge)
    with pytest.raises(
        ValueError, match=r"unknown judge 'gpt-judge': expected one of 'rougeL-ref', 'llm:URL"
    ):
        get_judge("gpt-judge")

    class LengthJudge:
        name = "length"
        requires_references = False

        def score(self, response_think, sample):
            return min(1.0, len(response_think.split()) / 10)

    register_judge("length", LengthJudge)
    try:
        judge = get_judge("length")
        assert judge is not None and judge.score("a b c", None) == pytest.approx(0.3)
        instance = LengthJudge()
        assert get_judge(instance) is instance
    finally:
        JUDGES.unregister("length")
    with pytest.raises(ValueError, match="non-empty"):
        register_judge("none", LengthJudge)
