"""Inference-time baselines (issue 27): a think budget (``--max-think-tokens``) on the transformers reasoner
and on OpenAI-compatible servers (a loopback stand-in: the two-request continuation and the server's own
budget field), and the brevity / no-think prompt presets."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from fake_openai import FakeOpenAI
from PIL import Image

from pixelthink.answer import PROMPT_PRESETS, apply_prompt_preset
from pixelthink.models import load_reasoner
from pixelthink.models.reasoner_openai import OpenAIReasoner

ANSWER = '{"bbox": [1, 2, 30, 40], "points_1": [5, 6], "points_2": [7, 8]}</answer>'


def _image() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8))


# -------------------------------------------------------------------------------------------- transformers


@pytest.fixture(scope="module")
def model_dir(tiny_vl_dirs):
    return tiny_vl_dirs["qwen2_5_vl"]


def test_hf_budget_forces_the_close_after_n_tokens(model_dir) -> None:
    free = load_reasoner(str(model_dir), resolution=112, max_new_tokens=24)
    budget = load_reasoner(str(model_dir), resolution=112, max_new_tokens=24, max_think_tokens=5)
    (g_free,) = free.generate([_image()], ["the cup"])
    (g_cut,) = budget.generate([_image()], ["the cup"])
    tok = budget.tokenizer
    # the random model never writes <think>: the forced close opens and closes an empty think block
    assert "<think>" not in tok.decode(g_free.token_ids[:5])
    forced = tok("<think></think><answer>", add_special_tokens=False)["input_ids"]
    assert g_cut.token_ids[:5] == g_free.token_ids[:5]  # greedy: the same first N tokens
    k = 5 + len(forced) - 1
    assert (
        g_cut.token_ids[5:k] == forced[:-1]
    )  # forced, then the last one healed (any token starting with it)
    assert tok.decode(g_cut.token_ids[k : k + 1]).startswith(tok.decode(forced[-1:]))
    assert "<think></think><answer>" in g_cut.text


def test_hf_budget_zero_is_no_thinking(model_dir) -> None:
    reasoner = load_reasoner(str(model_dir), resolution=112, max_new_tokens=16, max_think_tokens=0)
    (g,) = reasoner.generate([_image()], ["the cup"])
    assert g.text.startswith("<think></think><answer>") and g.reasoning_tokens == 0


def test_hf_budget_leaves_a_closed_think_block_alone(model_dir) -> None:
    from pixelthink.models.reasoner_hf import ThinkBudgetProcessor

    reasoner = load_reasoner(str(model_dir), resolution=112, max_new_tokens=8)
    tok = reasoner.tokenizer
    prompt = torch.tensor([tok("user: find it", add_special_tokens=False)["input_ids"]])
    proc = ThinkBudgetProcessor(2, tok)
    vocab = len(tok)
    scores = torch.zeros(1, vocab)
    proc(prompt, scores.clone())  # first step: nothing generated yet
    closed = tok("<think>ab</think><answer>", add_special_tokens=False)["input_ids"]
    ids = torch.cat([prompt, torch.tensor([closed])], dim=1)
    assert torch.equal(proc(ids, scores.clone()), scores)  # over budget, but already closed: unchanged
    proc2 = ThinkBudgetProcessor(2, tok)
    proc2(prompt, scores.clone())
    ids = torch.cat([prompt, torch.tensor([tok("<think>abc", add_special_tokens=False)["input_ids"]])], dim=1)
    forced = proc2(ids, scores.clone())
    first = tok("</think><answer>", add_special_tokens=False)["input_ids"][0]
    assert int(forced[0].argmax()) == first and torch.isinf(forced[0]).sum() == vocab - 1
    with pytest.raises(ValueError, match="max_think_tokens must be >= 0"):
        ThinkBudgetProcessor(-1, tok)


def test_hf_budget_completes_a_close_the_model_began_and_heals_the_last_token(model_dir) -> None:
    """At the budget, ``<think>abc</think`` is completed with ``><answer>`` (not a second ``</think>``), and the
    last forced token lets the model choose any token that starts with its text (``>`` or ``>{"``...), so
    that a BPE model keeps the merges it learnt (the miniature's ``answer`` + ``>{"``)."""
    from pixelthink.models.reasoner_hf import ThinkBudgetProcessor, _tokens_starting_with
    from pixelthink.models.reasoners import think_budget_close
    from pixelthink.models.reasoners import unwritten_part as _unwritten

    assert _unwritten("<think>abc</think", "</think><answer>") == "><answer>"
    assert _unwritten("<think>abc <", "</think><answer>") == "/think><answer>"
    assert _unwritten("<think>abc", "</think><answer>") == "</think><answer>"
    assert (
        think_budget_close("<think>abc </th") == "ink><answer>"
        and think_budget_close("") == "<think></think><answer>"
    )
    tok = load_reasoner(str(model_dir), resolution=112, max_new_tokens=8).tokenizer
    prompt = torch.tensor([tok("user: find it", add_special_tokens=False)["input_ids"]])
    proc = ThinkBudgetProcessor(3, tok)
    scores = torch.randn(1, len(tok))
    proc(prompt, scores.clone())
    began = tok("<think>abc</think", add_special_tokens=False)["input_ids"]
    ids = torch.cat([prompt, torch.tensor([began])], dim=1)
    rest = tok("><answer>", add_special_tokens=False)["input_ids"]
    for token in rest[:-1]:
        out = proc(ids, scores.clone())
        assert int(out[0].argmax()) == token and torch.isinf(out[0]).sum() == len(tok) - 1
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    out = proc(ids, scores.clone())  # the healed last token: the model's own scores on every continuation
    allowed = _tokens_starting_with(tok, tok.decode(rest[-1:]))
    assert rest[-1] in allowed and len(allowed) > 1
    assert torch.equal(out[0, allowed], scores[0, allowed])
    assert torch.isinf(out[0]).sum() == len(tok) - len(allowed)
    assert all(tok.decode([i]).startswith(">") for i in allowed)
    ids = torch.cat([ids, torch.tensor([[int(out[0].argmax())]])], dim=1)
    assert torch.equal(proc(ids, scores.clone()), scores)  # closed: the answer is free


# -------------------------------------------------------------------------------------------- OpenAI servers


def _entries(tokens: list[str]) -> list[dict[str, Any]]:
    top = [{"token": "a", "logprob": math.log(0.5)}, {"token": "b", "logprob": math.log(0.25)}]
    return [{"token": t, "logprob": math.log(0.5), "top_logprobs": top} for t in tokens]


def _budgeted(payload: dict[str, Any]) -> dict[str, Any]:
    """Stand-in server: a first request (user turn last) thinks 'a b c d' and is cut by max_tokens; a
    continuation (assistant turn last) writes the answer; a request with thinking_token_budget answers
    in one go, its think block closed by the 'server'."""
    last = payload["messages"][-1]
    if last["role"] == "assistant":  # the continuation
        tokens, finish = (
            ['{"bbox": [1, 2, 30, 40], "points_1": [5, 6], "points_2": [7, 8]}', "</answer>"],
            "stop",
        )
    elif "thinking_token_budget" in payload:
        tokens, finish = ["<think>", "a", "</think>", "<answer>", ANSWER], "stop"
    else:
        tokens = ["<think>", "a", "b", "c", "d", "e"][: payload["max_tokens"]]
        finish = "length"
    return {
        "choices": [
            {
                "message": {"content": "".join(tokens)},
                "finish_reason": finish,
                "logprobs": {"content": _entries(tokens)},
            }
        ],
        "usage": {"completion_tokens": len(tokens)},
    }


@pytest.fixture(scope="module")
def budget_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(_budgeted) as server:
        yield server


def _remote(url: str, **kw: Any) -> OpenAIReasoner:
    return OpenAIReasoner(url, "m", check_model=False, backoff=0.01, max_new_tokens=64, **kw)


def test_openai_budget_by_two_requests(budget_server) -> None:
    budget_server.requests.clear()
    (g,) = _remote(budget_server.url, max_think_tokens=4).generate([_image()], ["the cup"])
    first, second = budget_server.requests
    assert first["max_tokens"] == 4 and first["stop"] == ["</think>"]
    assert second["messages"][-1] == {"role": "assistant", "content": "<think>abc</think><answer>"}
    assert second["continue_final_message"] is True and second["add_generation_prompt"] is False
    assert second["max_tokens"] == 64 - 4 - 1
    assert g.text == "<think>abc</think><answer>" + ANSWER
    assert g.reasoning_tokens == 3  # a b c; the forced close is one tag entry, the answer the rest
    # U over the real tokens only (margin 0.25 each): the forced entry has no top log-probs
    assert g.uncertainty == pytest.approx(0.75)
    assert g.error is None


def test_openai_budget_zero_and_server_budget(budget_server) -> None:
    budget_server.requests.clear()
    (g,) = _remote(budget_server.url, max_think_tokens=0).generate([_image()], ["q"])
    (only,) = budget_server.requests  # nothing to ask before the forced close: the continuation only
    assert only["messages"][-1]["content"] == "<think></think><answer>"
    assert g.text.startswith("<think></think><answer>") and g.reasoning_tokens == 0
    budget_server.requests.clear()
    (g,) = _remote(budget_server.url, max_think_tokens=7, think_budget_via="server").generate(
        [_image()], ["q"]
    )
    (only,) = budget_server.requests
    assert only["thinking_token_budget"] == 7 and "stop" not in only
    assert g.text == "<think>a</think><answer>" + ANSWER
    with pytest.raises(ValueError, match="think_budget_via"):
        _remote(budget_server.url, think_budget_via="guess")


# -------------------------------------------------------------------------------------------- prompt presets


def test_prompt_presets_append_to_the_models_template(model_dir) -> None:
    plain = load_reasoner(str(model_dir), resolution=112)
    brief = load_reasoner(str(model_dir), resolution=112, prompt_preset="brevity")
    assert brief.prompt_template == plain.prompt_template + PROMPT_PRESETS["brevity"]
    nothink = apply_prompt_preset("Find '{question}'.", "no_think")
    assert nothink.format(question="x").endswith("leave <think> </think> empty and give the answer directly.")
    with pytest.raises(ValueError, match="unknown prompt preset"):
        load_reasoner(str(model_dir), prompt_preset="terse")


def test_predict_records_the_baseline_settings(tmp_path, budget_server, capsys) -> None:
    from pixelthink.cli import main
    from pixelthink.data import BenchmarkWriter
    from pixelthink.predictions import read_predictions

    root = tmp_path / "bench"
    mask = np.zeros((60, 80), bool)
    mask[10:30, 10:40] = True
    with BenchmarkWriter(root, name="t") as w:
        w.add({"id": "a", "query": "the cup", "mask": mask, "split": "test"}, _image())
    out = tmp_path / "preds.jsonl"
    base = [
        "predict",
        "--data",
        str(root),
        "--out",
        str(out),
        "--reasoner",
        budget_server.url,
        "--model",
        "m",
    ]
    base += ["--prompt-preset", "brevity", "--prompt-suffix", " Think for {30} words.", "--segmenter", "box"]
    base += ["--no-progress"]
    budget_server.requests.clear()
    assert main([*base, "--max-think-tokens", "4"]) == 0
    text = budget_server.requests[0]["messages"][0]["content"][1]["text"]
    assert text.endswith(PROMPT_PRESETS["brevity"] + " Think for {30} words.")  # braces are text
    (pred,) = read_predictions(out)
    assert pred.response == "<think>abc</think><answer>" + ANSWER
    settings = json.loads((tmp_path / "preds.run.json").read_text())
    assert settings["max_think_tokens"] == 4 and settings["prompt_preset"] == "brevity"
    assert (
        settings["think_budget_via"] == "continue" and settings["prompt_suffix"] == " Think for {30} words."
    )
    # a resumed run with another budget is refused, naming the option
    assert main([*base, "--max-think-tokens", "8"]) == 2
    assert "--max-think-tokens 8 (was 4)" in capsys.readouterr().err
