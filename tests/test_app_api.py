"""`pixelthink app`'s HTTP API on REAL server processes on loopback.

The first process runs the shipped tiny model (the embedded default) with a token and small limits;
tests check the flow and the schema, never what the model answers. The second runs a scripted,
slow OpenAI-compatible reasoner to check streaming through that backend, failures recorded as HTTP 200,
and the bounded queue (429 with Retry-After).
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from _servers import (
    expect_body_timeouts,
    free_port,
    open_slow_bodies,
    png_bytes,
    png_header_only,
    start_server,
    stop_server,
)
from fake_openai import FakeOpenAI, Raw
from PIL import Image

from pixelthink.masks import decode_rle

TOKEN = "app-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STAGES = {"load", "preprocess", "prefill", "decode", "parse", "segment", "total"}


@pytest.fixture(scope="module")
def app():
    port = free_port()
    cmd = [sys.executable, "-m", "pixelthink.cli", "app", "--port", str(port), "--token", TOKEN,
           "--max-body-mb", "1", "--max-pixels", "1000000", "--max-new-tokens", "48", "--examples", "2",
           "--max-query-chars", "200", "--log-level", "warning"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    proc = start_server(cmd, f"{url}/health", headers=AUTH)
    yield url
    stop_server(proc)


def _post(url: str, path: str = "/v1/segment", headers=AUTH, **kw) -> httpx.Response:
    return httpx.post(f"{url}{path}", headers=headers, timeout=300, **kw)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _error(response: httpx.Response, status: int, words: str = "") -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert words.lower() in error["message"].lower(), error
    return error


def _alive(url: str) -> None:
    assert httpx.get(f"{url}/health", headers=AUTH, timeout=10).json()["status"] == "ok"


def _check_result(body: dict, size: tuple[int, int]) -> None:
    w, h = size
    assert body["model"] == "a" and body["model_name"] == "tiny_model"
    assert body["image_size"] == [w, h]
    assert isinstance(body["response"], str)
    assert set(body["timings"]) == STAGES
    assert body["timings"]["total"] > 0 and body["server"]["total"] >= body["server"]["queue"] >= 0
    assert isinstance(body["tokens"]["reasoning"], int) and isinstance(body["tokens"]["answer"], int)
    assert body["uncertainty"] is None or 0.0 <= body["uncertainty"] <= 1.0
    assert body["ok"] == (body["error"] is None)
    if body["bbox"] is not None:
        assert len(body["bbox"]) == 4
    assert all(len(p) == 2 for p in body["points"])
    if body["ok"]:
        mask = decode_rle(body["mask"])
        assert mask.shape == (h, w)
        assert int(mask.sum()) == body["mask_pixels"]


def test_models_examples_and_schema(app):
    info = httpx.get(f"{app}/v1/models", headers=AUTH).json()
    assert [m["id"] for m in info["models"]] == ["a"]
    assert info["models"][0]["embedded"] is True  # the shipped tiny model: the page says it is a miniature
    assert info["token_required"] is True and info["run_browser"] is False
    assert info["limits"]["max_pixels"] == 1_000_000 and info["limits"]["max_body_bytes"] == 2**20
    assert info["segmenter"] == "grabcut" and info["limits"]["segmenter_max_pixels"] == 2_000_000
    assert TOKEN not in json.dumps(info)
    examples = httpx.get(f"{app}/v1/examples", headers=AUTH).json()["examples"]
    assert len(examples) == 2 and all(1 <= e["difficulty"] <= 10 and e["query"] for e in examples)
    png = httpx.get(f"{app}/v1/examples/{examples[0]['name']}.png", headers=AUTH)
    assert Image.open(io.BytesIO(png.content)).size == (examples[0]["width"], examples[0]["height"])
    schema = httpx.get(f"{app}/openapi.json", headers=AUTH).json()
    post = schema["paths"]["/v1/segment"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"mask", "think", "bbox", "uncertainty", "tokens", "timings"} <= set(
        schema["components"]["schemas"]["SegmentResponse"]["properties"]
    )
    page = httpx.get(f"{app}/?token={TOKEN}")
    assert page.status_code == 200 and "pixelthink" in page.text and "/v1/segment/stream" in page.text
    assert "a miniature for the shapes world, not for photos" in page.text
    assert "Quick start with your own models" in page.text and "--segmenter sam2:" in page.text


def test_segment_base64_json(app):
    body = _post(app, json={"image": _b64(png_bytes(80, 60)), "query": "the blue square", "mask_png": True})
    assert body.status_code == 200, body.text
    result = body.json()
    _check_result(result, (80, 60))
    assert result["difficulty"] is None  # unknown for an uploaded image
    if result["ok"]:
        assert Image.open(io.BytesIO(base64.b64decode(result["mask_png"]))).size == (80, 60)
    # a data: URL works too
    data_url = "data:image/png;base64," + _b64(png_bytes(40, 30))
    _check_result(_post(app, json={"image": data_url, "query": "x"}).json(), (40, 30))


def test_segment_multipart_and_example(app):
    files = {"image": ("photo.png", png_bytes(64, 48), "image/png")}
    response = _post(app, files=files, data={"query": "the shape", "overlay_png": "true"})
    assert response.status_code == 200, response.text
    result = response.json()
    _check_result(result, (64, 48))
    for key in ("overlay_png", "overlay_plain_png"):
        assert Image.open(io.BytesIO(base64.b64decode(result[key]))).size == (64, 48)
    example = httpx.get(f"{app}/v1/examples", headers=AUTH).json()["examples"][1]
    result = _post(app, json={"example": example["name"], "query": example["query"]}).json()
    _check_result(result, (example["width"], example["height"]))
    assert result["difficulty"] == example["difficulty"]


def _events(response: httpx.Response) -> list[tuple[str, dict]]:
    out = []
    for block in response.text.split("\n\n"):
        if block.strip():
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_segment_stream_sends_the_reasoning_then_the_result(app):
    example = httpx.get(f"{app}/v1/examples", headers=AUTH).json()["examples"][0]
    response = _post(app, "/v1/segment/stream", json={"example": example["name"], "query": "the square"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _events(response)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "result" and set(kinds[1:-1]) <= {"token"}
    result = events[-1][1]
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    assert streamed == result["response"]
    assert kinds.count("token") >= 2 or len(result["response"]) < 8  # pieces, not one block


BAD_REQUESTS = [
    ({"json": {"query": "x"}}, 400, "exactly one of"),
    ({"json": {"image": _b64(png_bytes(8, 8))}}, 400, "query"),
    ({"json": {"image": _b64(png_bytes(8, 8)), "query": "   "}}, 400, "query"),
    ({"json": {"image": _b64(png_bytes(8, 8)), "query": "q" * 201}}, 400, "limit is 200"),
    ({"json": {"image": _b64(png_bytes(8, 8)), "example": "shapes-1", "query": "x"}}, 400, "exactly one"),
    ({"json": {"example": "../../../etc/passwd", "query": "x"}}, 400, "example: expected one of"),
    ({"json": {"image": _b64(png_bytes(8, 8)), "query": "x", "model": "b"}}, 400, "model"),
    ({"json": {"image": _b64(png_bytes(8, 8)), "query": "x", "model": ["a"]}}, 400, "model"),  # issue 26
    ({"json": {"image": _b64(png_bytes(8, 8)), "query": "x", "model": {"a": 1}}}, 400, "model"),
    (  # a lone surrogate, legal in JSON: this request's 400 (issue 26, item 2)
        {"content": b'{"example": "shapes-1", "query": "the \\ud800 one"}', "headers": AUTH},
        400,
        "surrogate",
    ),
    ({"json": {"image": _b64(png_bytes(8, 8)), "query": "x", "mask_png": "maybe"}}, 400, "true or false"),
    ({"json": {"image": "not base64 !!", "query": "x"}}, 400, "not valid base64"),
    ({"json": {"image": _b64(b"GIF89a but not really"), "query": "x"}}, 400, "cannot decode"),
    ({"json": {"image": _b64(png_header_only(12000, 12000)), "query": "x"}}, 413, "exceeds the limit"),
    ({"json": {"image": _b64(png_bytes(1200, 1000)), "query": "x"}}, 413, "exceeds the limit"),
    ({"json": ["a", "list"]}, 400, "json object"),
    ({"content": b"{oops", "headers": AUTH | {"content-type": "application/json"}}, 400, "not valid json"),
    ({"content": b"[" * 100_000, "headers": AUTH | {"content-type": "application/json"}}, 400, "nested"),
    ({"files": {"image": ("a.png", b"", "image/png")}, "data": {"query": "x"}}, 400, "empty"),
    (
        {"files": {"other": ("a.png", png_bytes(8, 8), "image/png")}, "data": {"query": "x"}},
        400,
        "file field",
    ),
    ({"files": {"image": ("a.txt", b"hello", "text/plain")}, "data": {"query": "x"}}, 400, "cannot decode"),
    ({"json": {"image": _b64(png_bytes(8, 8)) + "A" * (2 * 2**20), "query": "x"}}, 413, "request body"),
]


@pytest.mark.parametrize(("kwargs", "status", "words"), BAD_REQUESTS)
def test_bad_input_is_a_clear_error_and_the_server_stays_up(app, kwargs, status, words):
    for path in ("/v1/segment", "/v1/segment/stream"):
        _error(_post(app, path, **kwargs), status, words)
    _alive(app)


def test_token_is_required_everywhere(app):
    for path in ("/", "/health", "/v1/models", "/v1/examples", "/openapi.json", "/docs"):
        for headers in ({}, {"Authorization": "Bearer nope"}):
            _error(httpx.get(f"{app}{path}", headers=headers), 401, "token")
        assert httpx.get(f"{app}{path}", headers=AUTH).status_code == 200
        assert httpx.get(f"{app}{path}?token={TOKEN}").status_code == 200
    body = {"image": _b64(png_bytes(8, 8)), "query": "x"}
    _error(_post(app, json=body, headers={}), 401, "token")
    _error(_post(app, json=body, headers={"Authorization": f"Bearer {TOKEN}x"}), 401, "token")


def test_unknown_routes_and_no_run_loaded(app):
    _error(httpx.get(f"{app}/v1/nothing", headers=AUTH), 404, "no route")
    _error(httpx.get(f"{app}/v1/segment", headers=AUTH), 405, "not allowed")
    _error(httpx.get(f"{app}/v1/run/samples", headers=AUTH), 404, "no run loaded")
    _error(httpx.get(f"{app}/v1/run/image?id=x", headers=AUTH), 404, "no run loaded")
    _error(httpx.get(f"{app}/v1/examples/nope.png", headers=AUTH), 404, "no example")


def test_urls_and_paths_are_never_fetched_or_read(app, tmp_path):
    # a server that would serve the image to anyone who asked (its GETs recorded in server.gets)
    server = FakeOpenAI(
        lambda payload: (404, "no chat here"),
        get=lambda path: Raw(body=png_bytes(8, 8), content_type="image/png"),
    )
    secret = tmp_path / "server-side.png"
    secret.write_bytes(png_bytes(8, 8))
    try:
        url = server.url.removesuffix("/v1") + "/image.png"
        for image in (url, f"file://{secret}", str(secret), f"data:image/png,{url}"):
            response = _post(app, json={"image": image, "query": "x"})
            assert response.status_code == 400, (image, response.text)
            assert "never fetched or read" in response.json()["error"]["message"] or "base64" in response.text
            response = _post(app, files={"image": ("a.png", url.encode(), "image/png")}, data={"query": "x"})
            assert response.status_code == 400
        time.sleep(0.5)
        assert server.gets == []
    finally:
        server.close()
    _alive(app)


# --------------------------------------------------------------------------- scripted, slow reasoner
ANSWER = '<think>the red one is left</think><answer>{"bbox": [10, 10, 40, 40], "points_1": [20, 20], "points_2": [30, 30]}</answer>'


HELD = threading.Event()  # the scripted model received a "hold" query
RELEASE = threading.Event()  # ... and may answer it
PAUSED = threading.Event()  # the same for a "pause" query
RESUME = threading.Event()
BURST_HELD = threading.Event()  # the same for the burst test's "keep busy" query
BURST_RELEASE = threading.Event()


@pytest.fixture(scope="module")
def slow_app(scripted_server):
    def answer(prompt: str) -> str:
        if "hold" in prompt:
            HELD.set()
            RELEASE.wait(timeout=300)
        if "pause" in prompt:
            PAUSED.set()
            RESUME.wait(timeout=300)
        if "poison" in prompt:
            raise RuntimeError("the scripted model breaks on this query")  # the connection is dropped
        if "keep busy" in prompt:
            BURST_HELD.set()
            BURST_RELEASE.wait(timeout=300)
        time.sleep(0.4)  # a slow model, so that a burst fills the queue
        return "I refuse to answer" if "garbage" in prompt else ANSWER

    upstream = scripted_server(answer)
    port = free_port()
    cmd = [sys.executable, "-m", "pixelthink.cli", "app", "--reasoner", f"{upstream}?model=scripted",
           "--resolution", "native", "--segmenter", "box", "--port", str(port), "--max-queue", "3",
           "--max-retries", "0",
           "--examples", "0", "--log-level", "warning"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    proc = start_server(cmd, f"{url}/health")
    yield url
    stop_server(proc)


def test_openai_backend_streams_and_maps_the_answer(slow_app):
    body = {"image": _b64(png_bytes(100, 50)), "query": "the red one"}
    events = _events(_post(slow_app, "/v1/segment/stream", json=body, headers={}))
    result = events[-1][1]
    assert events[-1][0] == "result" and result["ok"] is True
    assert [kind for kind, _ in events].count("token") >= 5  # one word per chunk upstream
    assert "".join(d["text"] for kind, d in events if kind == "token") == ANSWER
    assert result["think"] == "the red one is left"
    assert result["bbox"] == [10.0, 10.0, 40.0, 40.0] and result["points"] == [[20.0, 20.0], [30.0, 30.0]]
    assert decode_rle(result["mask"])[10:41, 10:41].all() and result["mask_pixels"] == 31 * 31


def test_unusable_model_answer_is_200_with_the_failure(slow_app):
    response = _post(slow_app, json={"image": _b64(png_bytes(30, 30)), "query": "garbage"}, headers={})
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False and "no usable box" in result["error"]
    assert result["response"] == "I refuse to answer" and not np.any(decode_rle(result["mask"]))


def _health(url: str) -> dict:
    return httpx.get(f"{url}/health", timeout=60).json()


def test_waiting_requests_are_answered_as_one_batch(slow_app):
    """While the model holds one request, two more wait; released, they are answered as one batch."""
    body = {"image": _b64(png_bytes(64, 64)), "query": "the red one"}

    def health() -> dict:
        return _health(slow_app)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        first = pool.submit(_post, slow_app, json=body | {"query": "hold it"}, headers={})
        _until(HELD.is_set)  # the model is busy with the first request
        others = [pool.submit(_post, slow_app, json=body, headers={}) for _ in range(2)]
        _until(lambda: health()["waiting"] == 2)
        RELEASE.set()
        responses = [first.result(), *(f.result() for f in others)]
    assert [r.status_code for r in responses] == [200] * 3
    assert [r.json()["server"]["batch"] for r in responses] == [1, 2, 2]
    assert all(r.json()["bbox"] == [10.0, 10.0, 40.0, 40.0] for r in responses)


def _until(condition, seconds: float = 300) -> None:
    """Poll ``condition`` until it holds (a busy machine may take long; an event, not a fixed sleep)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"the app did not get there within {seconds} s"
        time.sleep(0.05)


def test_burst_gets_429_with_retry_after_and_the_server_recovers(slow_app):
    body = {"image": _b64(png_bytes(20, 20)), "query": "the red one"}
    started = time.monotonic()
    # The model is kept busy while the burst arrives, so the queue is full whatever the machine's load
    # (before: 12 threads racing a 0.4 s model; a slow start of the threads let every request through).
    with concurrent.futures.ThreadPoolExecutor(13) as pool:
        busy = pool.submit(_post, slow_app, json=body | {"query": "keep busy"}, headers={})
        _until(BURST_HELD.is_set)
        burst = [pool.submit(_post, slow_app, json=body, headers={}) for _ in range(12)]
        _until(lambda: any(f.done() for f in burst))  # the queue is full: the first 429 is back
        BURST_RELEASE.set()
        responses = [f.result() for f in burst]
    assert busy.result().status_code == 200
    elapsed = time.monotonic() - started
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429}, codes
    # --max-queue 3: the busy request and 2 of the burst get places; the rest 429 (or, arriving after the
    # release, a place again)
    assert 2 <= codes.count(200) <= 11 and codes.count(429) >= 1, codes
    for r in responses:
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["error"]["code"] == "queue_full"
    assert elapsed < 240  # a loose bound (shared machines): admitted requests only, no backlog
    assert _post(slow_app, json=body, headers={}).status_code == 200


def test_a_failing_request_fails_alone_not_its_batch(slow_app):
    """Issue 26 item 2: one request that breaks the model fails alone (502, with an error id and no
    details); the requests batched with it are answered."""
    body = {"image": _b64(png_bytes(64, 64)), "query": "the red one"}
    queries = ["poison pill", "the red one"]  # with the paused one: the 3 places of --max-queue 3
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        first = pool.submit(_post, slow_app, json=body | {"query": "pause it"}, headers={})
        _until(PAUSED.is_set)  # the model is busy: the next two wait and form one batch
        others = [pool.submit(_post, slow_app, json=body | {"query": q}, headers={}) for q in queries]
        _until(lambda: _health(slow_app)["waiting"] == 2)
        RESUME.set()
        responses = [first.result(), *(f.result() for f in others)]
    assert [r.status_code for r in responses] == [200, 502, 200], [r.text for r in responses]
    assert responses[2].json()["bbox"] == [10.0, 10.0, 40.0, 40.0]
    error = _error(responses[1], 502, "error id")
    assert error["code"] == "model_error"
    assert "127.0.0.1" not in error["message"] and "/" not in error["message"]  # no URL, no path


def test_slow_bodies_do_not_take_queue_slots(slow_app):
    """Issue 26 item 3: connections that send headers and 8 bytes of body and then nothing do not hold
    places in the queue (--max-queue 3 here); they get 408 when the body timeout (10 s) has passed."""
    slow = open_slow_bodies(slow_app, "/v1/segment", 4)
    body = {"image": _b64(png_bytes(20, 20)), "query": "the red one"}
    response = _post(slow_app, json=body, headers={})
    expect_body_timeouts(slow)
    assert response.status_code == 200, response.text
    assert _post(slow_app, json=body, headers={}).status_code == 200


def test_docs_page_works_offline(app):
    """Issue 26 item 13: /docs loads nothing from elsewhere (FastAPI's loads Swagger UI from a CDN)."""
    page = httpx.get(f"{app}/docs?token={TOKEN}", timeout=60)
    assert page.status_code == 200 and "/v1/segment" in page.text
    assert "http://" not in page.text and "https://" not in page.text and "<script" not in page.text
    assert f"openapi.json?token={TOKEN}" in page.text
