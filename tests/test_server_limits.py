"""`pixelthink serve` limits (issue 18, items 6 and 4): a REAL server process on loopback.

Body size, pixel limit, max_tokens cap, finite temperature, deeply nested JSON, token, JSON error
bodies for every error, image decoding off the event loop, and the server staying up after each.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import socket
import sys
import threading
import urllib.error
import urllib.request

import httpx
import pytest
from _servers import (
    expect_body_timeouts,
    free_port,
    open_slow_bodies,
    png_bytes,
    png_header_only,
    read_status,
    start_server,
    stop_server,
)

NAME = "tiny-qwen"
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def serve(tiny_vl_dirs):
    port = free_port()
    cmd = [sys.executable, "-m", "pixelthink.cli", "serve", str(tiny_vl_dirs["qwen2_5_vl"]),
           "--port", str(port), "--model-name", NAME, "--log-level", "warning", "--token", TOKEN,
           "--max-body-mb", "1", "--max-pixels", "1000000", "--max-tokens-cap", "64",
           "--max-new-tokens", "8"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    proc = start_server(cmd, f"{url}/health", headers=AUTH)
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def plain(tiny_vl_dirs):
    """`pixelthink serve` with its default limits and no token (the flags of the first fixture did not
    exist before issue 18; these defaults are what every user gets)."""
    port = free_port()
    cmd = [sys.executable, "-m", "pixelthink.cli", "serve", str(tiny_vl_dirs["qwen2_5_vl"]),
           "--port", str(port), "--model-name", NAME, "--log-level", "warning", "--max-new-tokens", "8"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    proc = start_server(cmd, f"{url}/health")
    yield url
    stop_server(proc)


def _chat(image: bytes = b"", **extra) -> dict:
    data_url = "data:image/png;base64," + base64.b64encode(image or png_bytes(32, 32)).decode()
    content = [{"type": "image_url", "image_url": {"url": data_url}}, {"type": "text", "text": "the box"}]
    return {"model": NAME, "messages": [{"role": "user", "content": content}], **extra}


def _post(url: str, *, headers=AUTH, **kw) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers=headers, timeout=300, **kw)


def _assert_error(response: httpx.Response, status: int, words: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert words.lower() in error["message"].lower()
    return error


def _alive(url: str, headers=AUTH) -> None:
    assert httpx.get(f"{url}/v1/models", headers=headers, timeout=10).status_code == 200


def test_valid_request_still_works(serve):
    body = _post(serve, json=_chat(max_tokens=4)).json()
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] <= 4


def test_body_over_the_limit_gets_413(serve):
    big = _chat(png_bytes(32, 32)) | {"padding": "x" * (2 * 2**20)}
    _assert_error(_post(serve, json=big), 413, "request body exceeds")
    # a chunked body (no Content-Length) is counted as it streams in
    chunks = (b"x" * 65536 for _ in range(40))
    _assert_error(_post(serve, content=chunks), 413, "request body exceeds")
    _alive(serve)


def test_decompression_bomb_gets_413_without_decoding(plain):
    error = _assert_error(_post(plain, json=_chat(png_header_only(12000, 12000))), 413, "exceeds the limit")
    assert error["code"] == "image_too_large"
    _assert_error(_post(plain, json=_chat(b"not an image at all")), 400, "cannot decode")
    _alive(plain)


def test_max_tokens_is_capped(plain):
    error = _assert_error(_post(plain, json=_chat(max_tokens=10**9)), 400, "exceeds this server's limit")
    assert error["param"] == "max_tokens"
    _assert_error(_post(plain, json=_chat(max_tokens=True)), 400, "positive integer")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_temperature_must_be_finite(plain, value):
    raw = httpx.Request("POST", "/", json=_chat()).content.decode()
    raw = raw[:-1] + f', "temperature": {value}}}'
    error = _assert_error(
        _post(plain, content=raw, headers={"Content-Type": "application/json"}), 400, "finite"
    )
    assert error["param"] == "temperature"


def test_deeply_nested_json_gets_a_json_400(plain):
    deep = "[" * 200_000 + "]" * 200_000
    _assert_error(_post(plain, content=deep, headers={"Content-Type": "application/json"}), 400, "nested")
    _alive(plain)


def test_every_error_has_an_openai_body(plain):
    _assert_error(httpx.get(f"{plain}/nope", headers={}), 404, "no route")
    _assert_error(httpx.get(f"{plain}/v1/chat/completions", headers={}), 405, "not allowed")
    _assert_error(_post(plain, content=b"{not json", headers={}), 400, "not valid json")
    error = _assert_error(_post(plain, json=_chat() | {"model": "other"}), 404, "does not exist")
    assert error["code"] == "model_not_found"


def test_token_is_required(serve):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        error = _assert_error(_post(serve, json=_chat(), headers=headers), 401, "token")
        assert error["type"] == "authentication_error"
        _assert_error(httpx.get(f"{serve}/v1/models", headers=headers), 401, "token")
    # serve does not take the token from the URL (only the app does, for pages and image links)
    _assert_error(httpx.get(f"{serve}/v1/models?token={TOKEN}"), 401, "token")
    _alive(serve)


def test_non_loopback_without_token_warns(capsys, monkeypatch):
    from pixelthink.commands.serve import TOKEN_ENV, limits_from_args

    assert TOKEN_ENV == "PIXELTHINK_TOKEN"  # the documented name (docs/APP.md)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    base = dict(port=8000, max_body_mb=1.0, max_pixels=10, max_queue=2)
    limits_from_args(argparse.Namespace(host="0.0.0.0", token=None, **base))
    err = capsys.readouterr().err
    assert "WARNING" in err and "--token TOKEN (or the PIXELTHINK_TOKEN environment variable)" in err
    for host, token in (("127.0.0.1", None), ("::1", None), ("localhost", None), ("0.0.0.0", "t")):
        limits = limits_from_args(argparse.Namespace(host=host, token=token, **base))
        assert capsys.readouterr().err == ""
        assert limits.api_key == token
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert limits_from_args(argparse.Namespace(host="0.0.0.0", token=None, **base)).api_key == "from-env"
    assert capsys.readouterr().err == ""


def test_image_is_decoded_off_the_event_loop(tiny_vl_dirs, monkeypatch):
    """The image of a request is decoded in a worker thread, not on the event loop's thread."""
    import asyncio

    from starlette.testclient import TestClient

    import pixelthink.serving.openai_server as server
    from pixelthink.images import decode_image
    from pixelthink.models.reasoner_hf import TransformersReasoner

    seen: list[bool] = []

    def spy(*args, **kwargs):
        try:
            asyncio.get_running_loop()
            seen.append(True)  # on the loop
        except RuntimeError:
            seen.append(False)
        return decode_image(*args, **kwargs)

    monkeypatch.setattr(server, "decode_image", spy)
    reasoner = TransformersReasoner.from_pretrained(
        tiny_vl_dirs["qwen2_5_vl"], resolution=None, max_new_tokens=2
    )
    with TestClient(server.create_app(reasoner, NAME)) as client:
        assert client.post("/v1/chat/completions", json=_chat(max_tokens=2)).status_code == 200
    assert seen == [False]
    assert threading.current_thread() is threading.main_thread()


def test_gate_rejects_past_capacity_with_retry_after():
    import asyncio

    from pixelthink.serving.httpsafety import Gate, HTTPError

    async def scenario() -> tuple[int, str]:
        gate = Gate(2)
        async with gate.slot(), gate.slot():
            with pytest.raises(HTTPError) as info:
                async with gate.slot():
                    pass
        async with gate.slot():  # free again
            pass
        return info.value.status, info.value.headers["Retry-After"]

    status, retry = asyncio.run(scenario())
    assert status == 429 and int(retry) >= 1


# ------------------------------------------------------------------------------ issue 26 (round 2)
def _raw_chat(text_json: str) -> bytes:
    """A chat body whose text part is ``text_json``, a JSON string literal written by hand (so that it
    can hold escapes a Python str cannot encode, such as a lone surrogate)."""
    body = json.dumps(_chat()).replace('"the box"', text_json)
    assert text_json in body
    return body.encode()


def test_lone_surrogate_fails_only_its_own_request(plain):
    """Item 2: a text with a lone surrogate ("\\ud800", legal JSON) is that request's 400; the 7 good
    requests sent with it are answered (they got 500 with it in their batch)."""
    bad = _raw_chat('"the box \\ud800"')
    headers = {"Content-Type": "application/json"}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(_post, plain, content=bad, headers=headers)]
        futures += [pool.submit(_post, plain, json=_chat(max_tokens=2), headers={}) for _ in range(7)]
        responses = [f.result() for f in futures]
    error = _assert_error(responses[0], 400, "surrogate")
    assert error["param"] == "messages"
    assert [r.status_code for r in responses[1:]] == [200] * 7, [r.text for r in responses[1:]]


def test_slow_bodies_do_not_take_queue_slots(plain):
    """Item 3: connections that send headers and a few bytes of body, then nothing, do not hold places
    in the queue (65: more than the default --max-queue), and get 408 when the body timeout passes."""
    slow = open_slow_bodies(plain, "/v1/chat/completions", 65)
    response = _post(plain, json=_chat(max_tokens=2), headers={})
    expect_body_timeouts(slow)
    assert response.status_code == 200, response.text
    _alive(plain, headers={})


def test_413_reaches_a_client_that_sends_its_whole_body_first(serve):
    """Item 12: urllib sends the whole body before it reads; the 413 must reach it (not a reset)."""
    body = json.dumps(_chat() | {"padding": "x" * (4 * 2**20)}).encode()
    request = urllib.request.Request(
        f"{serve}/v1/chat/completions", data=body, headers=AUTH | {"Content-Type": "application/json"}
    )
    for _ in range(3):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=300)
        assert info.value.code == 413
        assert json.loads(info.value.read())["error"]["code"] == "request_too_large"
    _alive(serve)


def test_malformed_http_gets_a_json_400(plain):
    """Item 13: what uvicorn refuses itself (not HTTP at all) is answered in JSON too."""
    host, port = plain.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        status, raw = read_status(sock, timeout=60)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert status == 400 and b"application/json" in head.lower(), raw
    assert set(json.loads(body)["error"]) == {"message", "type", "param", "code"}


def test_docs_page_works_offline(plain):
    """Item 13: /docs loads nothing from elsewhere (FastAPI's page loads Swagger UI from a CDN)."""
    page = httpx.get(f"{plain}/docs", timeout=60)
    assert page.status_code == 200 and "/v1/chat/completions" in page.text and "openapi.json" in page.text
    assert "http://" not in page.text and "https://" not in page.text and "<script" not in page.text
    assert httpx.get(f"{plain}/redoc", timeout=60).status_code == 404


def test_defaults_fit_each_other():
    """Item 11: a default `predict` (its --concurrency) against a default `serve` (its --max-queue) is
    not refused: the queue admits every request the client keeps in flight."""
    from pixelthink.cli import build_parser
    from pixelthink.pipeline.streaming import DEFAULT_CONCURRENCY
    from pixelthink.serving.httpsafety import DEFAULT_MAX_QUEUE

    parser = build_parser()
    predict = parser.parse_args(["predict", "--data", "d", "--out", "o.jsonl", "--reasoner", "r"])
    serve = parser.parse_args(["serve", "m"])
    assert predict.concurrency == DEFAULT_CONCURRENCY <= serve.max_queue == DEFAULT_MAX_QUEUE
    assert serve.body_timeout > 0


def test_retry_after_is_the_time_the_queue_takes_to_drain(monkeypatch):
    """Item 11: Retry-After said 15 s while the queue drained in 2.5 s: it counted each request's wait
    in the queue as service time. With the model's time per request observed, it is the drain time."""
    import pixelthink.serving.httpsafety as hs

    clock = [0.0]
    monkeypatch.setattr(hs.time, "monotonic", lambda: clock[0])
    gate = hs.Gate(8)
    for _ in range(3):  # rounds of 8 requests admitted together, served one after another, 0.5 s each
        started = [gate.enter() for _ in range(8)]
        for t in started:
            clock[0] += 0.5
            gate.observe(0.5)
            gate.leave(t)
    started = [gate.enter() for _ in range(8)]
    with pytest.raises(hs.HTTPError) as info:
        gate.enter()
    assert int(info.value.headers["Retry-After"]) <= 5  # 8 x 0.5 s = 4 s to drain (1 s rounding)


def test_batch_failure_is_retried_one_request_at_a_time():
    """Item 2: when a batched generation fails, each request is tried alone: only the one that fails
    alone gets the error."""
    import asyncio

    from pixelthink.serving.openai_server import _Batcher

    calls: list[list[str]] = []

    class Reasoner:
        def frame_for(self, w, h):
            class Frame:
                def image_to_model(self, image):
                    return image

            return Frame()

        def generate_chat(self, messages, images, frames, **kwargs):
            texts = [m[0]["content"][0]["text"] for m in messages]
            calls.append(texts)
            if "poison" in texts:
                raise RuntimeError("a bad input broke the batch")
            return [f"out:{t}" for t in texts]

    class Request:
        def __init__(self, text):
            self.messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
            self.image = type("Image", (), {"size": (4, 4)})()
            self.key = (None, None, None)
            self.top_logprobs = 0
            self.max_tokens = self.temperature = self.top_p = None

    async def scenario():
        batcher = _Batcher(Reasoner(), batch_size=8, wait_s=0.05)
        batcher.start()
        try:
            return await asyncio.gather(
                *(batcher.submit(Request(t)) for t in ("a", "poison", "b")), return_exceptions=True
            )
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert results[0] == "out:a" and results[2] == "out:b"
    assert isinstance(results[1], RuntimeError)
    assert calls == [["a", "poison", "b"], ["a"], ["poison"], ["b"]]
