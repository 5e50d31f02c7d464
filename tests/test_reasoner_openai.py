"""OpenAIReasoner against a REAL `pixelthink serve` process (uvicorn on loopback) on a tiny model."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from _servers import free_port
from fake_openai import FakeOpenAI, Raw
from PIL import Image

from pixelthink.models import load_reasoner
from pixelthink.models.reasoner_openai import OpenAIReasoner, ReasonerServerError, image_to_data_url
from pixelthink.models.reasoners import parse_openai_spec

MAX_NEW = 16
NAME = "tiny-qwen"


@pytest.fixture(scope="module")
def model_dir(tiny_vl_dirs):
    return tiny_vl_dirs["qwen2_5_vl"]


@pytest.fixture(scope="module")
def server(model_dir, serve_process):
    return serve_process(model_dir, NAME)


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for w, h in [(320, 240), (200, 300)]
    ]


QUERIES = ["cup", "what is the largest animal in the picture that could carry a person"]


def test_models_endpoint(server):
    body = httpx.get(f"{server}/models").json()
    assert body["object"] == "list" and [m["id"] for m in body["data"]] == [NAME]


def test_openai_backend_matches_local_backend(server, model_dir):
    remote = load_reasoner(f"{server}?model={NAME}", resolution=224, max_new_tokens=MAX_NEW, concurrency=4)
    assert isinstance(remote, OpenAIReasoner)
    local = load_reasoner(str(model_dir), resolution=224, max_new_tokens=MAX_NEW)
    got, ref = remote.generate(_images(), QUERIES), local.generate(_images(), QUERIES)
    for g, r in zip(got, ref, strict=True):
        assert g.text == r.text
        assert g.frame == r.frame
        # same tokens (EOS included) -> same U from the served top-2 log-probs
        assert g.uncertainty == pytest.approx(r.uncertainty, abs=1e-5)
        assert (g.reasoning_tokens, g.answer_tokens) == (r.reasoning_tokens, r.answer_tokens)
        assert g.timings["request"] > 0 and g.timings["decode"] == g.timings["request"]


def test_chat_completion_logprobs_format(server):
    image = Image.new("RGB", (224, 224), (0, 128, 255))
    payload = {
        "model": NAME,
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": image_to_data_url(image)}},
            {"type": "text", "text": "find the sky"}]}],
        "max_tokens": 5, "temperature": 0, "logprobs": True, "top_logprobs": 3,
    }  # fmt: skip
    body = httpx.post(f"{server}/chat/completions", json=payload, timeout=60).json()
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    content = choice["logprobs"]["content"]
    usage = body["usage"]
    assert usage["completion_tokens"] == len(content) <= 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # 224x224 image -> 64 image tokens, so the prompt is longer than that
    assert usage["prompt_tokens"] > 64
    assert choice["finish_reason"] == ("length" if len(content) == 5 else "stop")
    for entry in content:
        assert set(entry) == {"token", "logprob", "bytes", "top_logprobs"}
        tops = [t["logprob"] for t in entry["top_logprobs"]]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True)
        assert sum(math.exp(t) for t in tops) <= 1 + 1e-6
        assert entry["logprob"] == pytest.approx(tops[0])  # greedy: the chosen token is the top-1
        assert entry["bytes"] == list(entry["token"].encode("utf-8"))


def test_wrong_model_name(server):
    with pytest.raises(ValueError, match=r"'nope' is not served .* \['tiny-qwen'\]") as info:
        load_reasoner(server, model="nope").generate(_images()[:1], QUERIES[:1])
    # the CLI flag and the Python keyword are both named
    assert "--model NAME" in str(info.value) and "model=NAME" in str(info.value)
    response = httpx.post(f"{server}/chat/completions", json={"model": "nope", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_to_data_url(_images()[0])}}]}]})  # fmt: skip
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model" and "nope" in error["message"]
    # without the /models check, the 404 of the completion itself is reported as a wrong model name
    with pytest.raises(ValueError, match=r"HTTP 404 \(wrong model name 'nope'\? .*--model NAME"):
        OpenAIReasoner(server, "nope", check_model=False).generate(_images()[:1], QUERIES[:1])


def test_bad_request_gets_openai_error_body(server):
    response = httpx.post(f"{server}/chat/completions", json={"model": NAME, "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,!!"}}]}]})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unreachable_server():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ConnectionError, match="is the server running"):
        OpenAIReasoner(url, "m", max_retries=0).generate(_images()[:1], QUERIES[:1])
    with pytest.raises(ConnectionError, match="is the server running"):
        OpenAIReasoner(url, "m", max_retries=1, backoff=0.01, check_model=False).generate(
            _images()[:1], QUERIES[:1]
        )


def test_retries_transient_errors_then_succeeds():
    def flaky(payload: dict) -> Raw | dict:
        """Answers 503 twice, then a valid completion with log-probs."""
        if len(server.requests) <= 2:
            return Raw(503, {"error": {"message": "busy"}}, headers={"Retry-After": "0"})
        top = [{"token": "a", "logprob": math.log(0.5)}, {"token": "b", "logprob": math.log(0.25)}]
        return {"choices": [{"message": {"content": "<think>a</think>"}, "logprobs": {"content": [
            {"token": "<think>", "logprob": math.log(0.5), "top_logprobs": top},
            {"token": "a", "logprob": math.log(0.5), "top_logprobs": top},
            {"token": "</think>", "logprob": math.log(0.5), "top_logprobs": top},
            {"token": "<|im_end|>", "logprob": math.log(0.5), "top_logprobs": top}]}}]}  # fmt: skip

    with FakeOpenAI(flaky) as server:
        g = OpenAIReasoner(server.url, "m", check_model=False, backoff=0.01).generate(_images()[:1], ["q"])[0]
        assert len(server.requests) == 3
        # margins 0.5 - 0.25 = 0.25 for all 4 tokens -> U = 1 - 0.25 = 0.75
        assert g.uncertainty == pytest.approx(0.75)
        # "a" is inside <think>; the tags are not; the final <|im_end|> is not counted
        assert (g.reasoning_tokens, g.answer_tokens) == (1, 2)
        server.requests.clear()
        with pytest.raises(ReasonerServerError, match="HTTP 503 after 2 attempt"):
            OpenAIReasoner(server.url, "m", check_model=False, backoff=0.01, max_retries=1).generate(
                _images()[:1], ["q"]
            )


def test_parse_openai_spec():
    assert parse_openai_spec("http://h:8000?model=m") == ("http://h:8000/v1", "m")
    assert parse_openai_spec("https://h/v1/", model="x") == ("https://h/v1", "x")
    assert parse_openai_spec("http://h:1/v1?model=a", model="b") == ("http://h:1/v1", "b")
    with pytest.raises(ValueError, match="no model name"):
        parse_openai_spec("http://h:8000/v1")


def _within(fn, seconds: float):
    """``fn()``'s result (or exception), or a failure when it has not returned within ``seconds``."""
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds:.0f} s: the timeout is not a deadline"
    if "error" in box:
        raise box["error"]
    return box["result"]


def test_timeout_is_a_deadline_for_a_trickling_server():
    """Issue 26 item 5: a judge trickling its reply byte by byte (each byte well inside httpx's read
    timeout) held each request ~40 s with --timeout 5. The timeout bounds the whole request."""
    stop = threading.Event()

    def trickle() -> Iterator[bytes]:
        while not stop.wait(0.2):  # one byte every 0.2 s, until the test ends or the client leaves
            yield b" "

    server = FakeOpenAI(lambda payload: Raw(length=10**6, chunks=trickle()))  # a reply that never ends
    try:
        judge = OpenAIReasoner(server.url, "m", timeout=2, max_retries=1, backoff=0.01)
        replies = _within(lambda: judge.chat([None], ["rate this"]), 120)
        assert isinstance(replies[0], ReasonerServerError)
        assert "deadline" in str(replies[0]) and "2 attempts" in str(replies[0])
        with pytest.raises(ReasonerServerError, match="deadline"):
            _within(lambda: judge.generate(_images()[:1], ["q"]), 120)
    finally:
        stop.set()
        server.close()


def test_busy_server_429_shrinks_the_window_and_does_not_use_up_retries():
    """Issue 26 item 11: HTTP 429 is a signal to send fewer requests at once, not a failure: with no
    retries for errors at all (max_retries=0), every request still succeeds against a server that
    takes 2 at a time and answers 429 with Retry-After to the others (the window's halving and
    growth are checked in the next test)."""
    capacity = 2
    lock = threading.Lock()
    state = {"inflight": 0, "busy": 0, "ok": 0}
    refused = threading.Event()

    def busy(payload: dict) -> Raw | str:
        with lock:
            full = state["inflight"] >= capacity
            if full:
                state["busy"] += 1
            else:
                state["inflight"] += 1
        if full:
            refused.set()
            body = {"error": {"message": "queue full", "type": "rate_limit_error"}}
            return Raw(429, body, headers={"Retry-After": "0"})
        refused.wait(60)  # hold the admitted ones until the burst was refused once
        with lock:
            state["inflight"] -= 1
            state["ok"] += 1
        return "<think>a</think>"

    with FakeOpenAI(busy) as server:
        client = OpenAIReasoner(
            server.url, "m", check_model=False, concurrency=8, max_retries=0, backoff=0.01
        )
        replies = _within(lambda: client.chat([None] * 24, [f"q{i}" for i in range(24)]), 300)
    assert replies == ["<think>a</think>"] * 24
    assert state["ok"] == 24 and state["busy"] >= 1


def test_window_halves_on_429_once_per_round_and_grows_back():
    from pixelthink.models.reasoner_openai import _Window

    window = _Window(16)
    window.busy(0)
    window.busy(0)  # sent in the same round: one halving only
    assert window.limit == 8
    window.busy(1)
    assert window.limit == 4
    for _ in range(4):
        window.ok()
    assert 4.9 < window.limit < 5.1  # one more per window of replies
    for _ in range(10_000):
        window.ok()
    assert window.limit == 16
