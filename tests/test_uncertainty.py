"""Tests of pixelthink.uncertainty: top-2 margins, U, reasoning-span mask."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelthink.uncertainty import (
    margins_from_logits,
    margins_from_top_logprobs,
    reasoning_token_mask,
    uncertainty_from_logits,
    uncertainty_from_margins,
    uncertainty_from_top_logprobs,
)


@dataclass
class Logprob:
    """Stand-in for vllm.sequence.Logprob (fields logprob, rank, decoded_token)."""

    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


# REFERENCE TRANSCRIPTION (test-only). Source: songw-zju/PixelThink@69baad1ae34b9e1d342148b73db57768e7a5c012,
# verl/workers/rollout/vllm_rollout/vllm_rollout_spmd.py, compute_uncertainty_from_logprob_dict.
def ref_uncertainty(logprob_dict):
    if not logprob_dict or not isinstance(logprob_dict, list):
        return 0.0
    values = []
    for token_topk in logprob_dict:
        if not token_topk or not isinstance(token_topk, dict):
            continue
        items = sorted(token_topk.items(), key=lambda x: x[1].rank)
        if len(items) < 2:
            continue
        p1 = torch.exp(torch.tensor(items[0][1].logprob))
        p2 = torch.exp(torch.tensor(items[1][1].logprob))
        values.append(float(torch.clamp(1.0 - (p1 - p2), 0.0, 1.0).item()))
    if not values:
        return 0.0
    return float(sum(values) / len(values))


# ------------------------------------------------------------------------------------------------ logits


def test_golden_margins_from_logits():
    logits = np.log(
        np.array(
            [
                [0.5, 0.3, 0.2],  # margin 0.5 - 0.3 = 0.2 -> 1 - 0.2 = 0.8
                [0.1, 0.1, 0.8],  # margin 0.7 -> 0.3
                [0.25, 0.25, 0.5],  # margin 0.25 -> 0.75
            ]
        )
    )
    m = margins_from_logits(logits)
    assert m == pytest.approx([0.2, 0.7, 0.25])
    # U = (0.8 + 0.3 + 0.75) / 3 = 0.61666...
    assert uncertainty_from_margins(m) == pytest.approx(1.85 / 3)
    # Shift invariance of softmax: logits + 100 give the same margins.
    assert margins_from_logits(logits + 100.0) == pytest.approx([0.2, 0.7, 0.25])


def test_warped_scores_with_minus_inf():
    inf = float("inf")
    scores = np.array(
        [
            [0.0, -inf, -inf, -inf],  # one finite entry: p1 = 1, p2 = 0 -> margin 1 -> contributes 0
            [0.0, 0.0, -inf, -inf],  # two equal entries: p1 = p2 = 0.5 -> margin 0 -> contributes 1
            [-inf, -inf, -inf, -inf],  # nothing finite: skipped
            [np.nan, 0.0, 0.0, -inf],  # NaN treated as -inf: like row 2
        ]
    )
    m = margins_from_logits(scores)
    assert m[0] == 1.0 and m[1] == 0.0 and math.isnan(m[2]) and m[3] == 0.0
    # U = (0 + 1 + 1) / 3
    assert uncertainty_from_logits(scores) == pytest.approx(2 / 3)


def test_torch_inputs_and_row_sequences():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    assert margins_from_logits(logits) == pytest.approx([0.2, 0.7], abs=1e-6)
    assert margins_from_logits(logits.to(torch.bfloat16)) == pytest.approx([0.2, 0.7], abs=2e-2)
    assert margins_from_logits(logits.requires_grad_()) == pytest.approx([0.2, 0.7], abs=1e-6)
    # transformers generate(): a tuple of T tensors [batch=1, V]
    steps = tuple(logits.detach()[i : i + 1] for i in range(2))
    assert margins_from_logits(steps) == pytest.approx([0.2, 0.7], abs=1e-6)
    assert margins_from_logits(np.zeros((0, 5))).shape == (0,)
    with pytest.raises(ValueError, match=r"shape \[T, V\]"):
        margins_from_logits(np.zeros((2, 3, 4)))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(2, 40), st.integers(0, 2**31 - 1))
def test_logits_match_explicit_softmax(t, v, seed):
    x = np.random.default_rng(seed).normal(scale=5, size=(t, v))
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    top = np.sort(p, axis=1)
    assert margins_from_logits(x) == pytest.approx(top[:, -1] - top[:, -2], abs=1e-12)
    u = uncertainty_from_logits(x)
    assert 0.0 <= u <= 1.0


# ------------------------------------------------------------------------------------------------ top-k dicts


def test_golden_top_logprobs():
    top = [
        {"a": math.log(0.6), "b": math.log(0.3), "c": math.log(0.05)},  # 1 - (0.6 - 0.3) = 0.7
        {"x": math.log(0.9)},  # one candidate: skipped (the authors do not take p2 = 0)
        None,  # skipped
        {},  # skipped
        {"c": math.log(0.05), "b": math.log(0.45), "a": math.log(0.5)},  # unsorted: 1 - 0.05 = 0.95
    ]
    m = margins_from_top_logprobs(top)
    assert m[0] == pytest.approx(0.3) and m[4] == pytest.approx(0.05)
    assert np.isnan(m[1:4]).all()
    # U = (0.7 + 0.95) / 2 = 0.825
    assert uncertainty_from_top_logprobs(top) == pytest.approx(0.825)
    assert uncertainty_from_top_logprobs([]) == 0.0  # empty response
    assert uncertainty_from_top_logprobs([None, {"a": -0.1}, [-0.1, None]]) == 0.0  # nothing usable
    assert np.isnan(margins_from_top_logprobs([[-0.1, float("nan")]])[0])  # NaN log-prob: skipped


def test_top_logprob_shapes():
    # vLLM: {token_id: Logprob}; OpenAI: list of {"token", "logprob"} (dicts or objects)
    vllm = [{11: Logprob(math.log(0.6), 1), 12: Logprob(math.log(0.3), 2)}]
    openai = [[{"token": "a", "logprob": math.log(0.6)}, {"token": "b", "logprob": math.log(0.3)}]]
    objects = [[Logprob(math.log(0.3)), Logprob(math.log(0.6))]]
    plain = [[math.log(0.6), math.log(0.3), None]]  # TRL's vLLM layout; None = missing candidate
    for top in (vllm, openai, objects, plain):
        assert uncertainty_from_top_logprobs(top) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="OpenAI token record"):
        margins_from_top_logprobs([{"token": "a", "logprob": -0.1, "top_logprobs": []}])
    with pytest.raises(ValueError, match="entry 1"):
        margins_from_top_logprobs([None, 3.0])
    with pytest.raises(ValueError, match="one entry per token"):
        margins_from_top_logprobs({"a": -1.0})  # type: ignore[arg-type]


def test_positive_logprob_is_clamped():
    # A log-prob slightly above 0 (numerical noise) gives p1 > 1: 1 - margin < 0 is clamped to 0.
    top = [{"a": 1e-3, "b": math.log(1e-9)}]
    assert margins_from_top_logprobs(top)[0] > 1.0
    assert uncertainty_from_top_logprobs(top) == 0.0


_logprob = st.floats(-30, 0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.dictionaries(st.integers(0, 50), _logprob, max_size=6)),
        max_size=30,
    )
)
def test_equals_reference(tokens):
    # vLLM ranks follow the log-probs (rank 1 = most likely); build the Logprob objects accordingly.
    vllm_entries = []
    for entry in tokens:
        if entry is None:
            vllm_entries.append(None)
            continue
        order = sorted(entry.items(), key=lambda kv: -kv[1])
        vllm_entries.append({tok: Logprob(lp, rank + 1) for rank, (tok, lp) in enumerate(order)})
    expected = ref_uncertainty(vllm_entries)
    # The authors use float32 (torch.tensor of a Python float); we use float64.
    assert uncertainty_from_top_logprobs(vllm_entries) == pytest.approx(expected, abs=1e-6)
    assert uncertainty_from_top_logprobs(tokens) == pytest.approx(expected, abs=1e-6)


# ------------------------------------------------------------------------------------------------ masks


def test_uncertainty_from_margins_mask():
    m = np.array([0.0, 1.0, 0.5, np.nan])
    assert uncertainty_from_margins(m) == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    assert uncertainty_from_margins(m, np.array([True, False, False, True])) == 1.0
    assert uncertainty_from_margins(m, np.zeros(4, dtype=bool)) == 0.0
    with pytest.raises(ValueError, match="mask has 3 tokens but margins has 4"):
        uncertainty_from_margins(m, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="bool"):
        uncertainty_from_margins(m, np.ones(4))


def test_reasoning_token_mask():
    toks = ["<think>", " I", " see", "</think>", "<answer>", "{}", "</answer>"]
    assert reasoning_token_mask(toks).tolist() == [False, True, True, False, False, False, False]
    split = ["<", "think", ">", "a", "b", "</", "think", ">", "<answer>"]
    assert reasoning_token_mask(split).tolist() == [
        False,
        False,
        False,
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    straddle = ["<think>a", "b</think>", "c"]
    assert reasoning_token_mask(straddle).tolist() == [True, True, False]
    assert reasoning_token_mask(["<think>", "cut", " off"]).tolist() == [False, True, True]
    assert reasoning_token_mask(["reasoning", " here", "</think>", "x"]).tolist() == [
        True,
        True,
        False,
        False,
    ]
    assert reasoning_token_mask(["no", " tags"]).tolist() == [False, False]
    assert reasoning_token_mask([]).shape == (0,)
    with pytest.raises(ValueError, match="token 1"):
        reasoning_token_mask(["a", None])  # type: ignore[list-item]


def test_reasoning_only_uncertainty():
    toks = ["<think>", "a", "</think>", "<answer>"]
    margins = np.array([1.0, 0.2, 1.0, 0.6])
    # whole response: (0 + 0.8 + 0 + 0.4) / 4 = 0.3; reasoning span only: token "a" -> 0.8
    assert uncertainty_from_margins(margins) == pytest.approx(0.3)
    assert uncertainty_from_margins(margins, reasoning_token_mask(toks)) == pytest.approx(0.8)
