"""`pixelthink serve` limits (issue 18, items 6 and 4): a REAL server process on loopback.

Body size, pixel limit, max_tokens cap, finite temperature, deeply nested JSON, token, JSON error
bodies for every error, image decoding off the event loop, and the server staying up after each.
"""

from __future__ import annotations

import argparse
import base64
import sys
import threading

import httpx
import pytest
from _servers import free_port, png_bytes, png_header_only, start_server, stop_server

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
    from pixelthink.commands.serve import limits_from_args

    monkeypatch.delenv("PIXELTHINK_TOKEN", raising=False)
    base = dict(port=8000, max_body_mb=1.0, max_pixels=10, max_queue=2)
    limits_from_args(argparse.Namespace(host="0.0.0.0", token=None, **base))
    assert "WARNING" in capsys.readouterr().err
    for host, token in (("127.0.0.1", None), ("::1", None), ("localhost", None), ("0.0.0.0", "t")):
        limits = limits_from_args(argparse.Namespace(host=host, token=token, **base))
        assert capsys.readouterr().err == ""
        assert limits.api_key == token
    monkeypatch.setenv("PIXELTHINK_TOKEN", "from-env")
    assert limits_from_args(argparse.Namespace(host="0.0.0.0", token=None, **base)).api_key == "from-env"
    assert capsys.readouterr().err == ""


def test_image_is_decoded_off_the_event_loop(tiny_vl_dirs, monkeypatch):
    """The image of a request is decoded in a worker thread, not on the event loop's thread."""
    import asyncio

    from starlette.testclient import TestClient

    import pixelthink.models.server as server
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

    from pixelthink.httpsafety import Gate, HTTPError

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
