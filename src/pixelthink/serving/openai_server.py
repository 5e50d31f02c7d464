"""A small OpenAI-compatible chat-completions server around :class:`TransformersReasoner`.

Endpoints:

* ``GET /v1/models`` -> ``{"object": "list", "data": [{"id": NAME, "object": "model", ...}]}``
* ``POST /v1/chat/completions`` with one user turn holding one ``image_url`` part (a ``data:`` URL,
  base64 PNG/JPEG) and text parts. Supported fields: ``model``, ``messages``, ``max_tokens`` /
  ``max_completion_tokens``, ``temperature`` (0 or absent = greedy), ``top_p``, ``logprobs``,
  ``top_logprobs`` (0..20), ``n`` (1 only). The response follows OpenAI's format, including
  ``choices[0].logprobs.content[i] = {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}``
  (one entry per generated token, the end-of-sequence token included) and ``usage``.
* Errors use OpenAI's body ``{"error": {"message", "type", "param", "code"}}`` for every error: 404
  for an unknown model or route, 400 for a malformed request (also JSON nested too deeply, a
  ``temperature`` that is not a finite number, ``max_tokens`` above the server's cap), 401 without the
  token, 413 for a body or an image over the limits, 429 with ``Retry-After`` when the queue is full.

Limits and the token are :class:`pixelthink.serving.httpsafety.ServerLimits` (shared with ``pixelthink app``):
the request body size, the decoded pixels of the image (checked from its header, decoded in a worker
thread, never on the event loop), the requests admitted at once, and ``max_tokens``
(``max_tokens_cap``).

The image is used as sent (native resolution); the processor may snap it to its patch grid (see
:mod:`pixelthink.models.reasoner_hf`). Requests with the same decoding settings that arrive together
are batched (up to ``batch_size``) into one left-padded ``generate`` call on a single worker thread;
when a batched call fails, each of its requests is tried alone, so only a request that fails alone gets
the error (400 for a ``ValueError``, else 500 with an error id; the details go to the server log).
A text part that is not text UTF-8 can encode (a lone surrogate such as ``"\\ud800"``) is a 400.

Run it with ``pixelthink serve MODEL_PATH --host 127.0.0.1 --port 8000``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

from pixelthink.answer import check_query
from pixelthink.images import DEFAULT_MAX_PIXELS, ImageDecodeError, ImageTooLargeError, decode_image
from pixelthink.models.reasoner_hf import ChatOutput, TransformersReasoner
from pixelthink.serving.httpsafety import (
    DEFAULT_MAX_TOKENS_CAP,
    Gate,
    HTTPError,
    ServerLimits,
    decode_base64_image,
    error_response,
    install,
    internal_error,
    read_json,
)

__all__ = ["RequestError", "create_app", "parse_chat_request"]

logger = logging.getLogger(__name__)

MAX_TOP_LOGPROBS = 20


class RequestError(ValueError):
    """A malformed request (HTTP 400, or the given status)."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400, code: str | None = None):
        super().__init__(message)
        self.param = param
        self.status = status
        self.code = code


def _decode_image(url: str, max_pixels: int | None) -> Image.Image:
    try:
        raw = decode_base64_image(url, param="messages", require_data_url=True)
    except HTTPError as exc:
        raise RequestError(exc.message, param="messages") from None
    try:
        return decode_image(raw, max_pixels=max_pixels, name="image_url")
    except ImageTooLargeError as exc:
        raise RequestError(str(exc), param="messages", status=413, code="image_too_large") from None
    except ImageDecodeError as exc:
        raise RequestError(f"cannot decode the image data URL: {exc}", param="messages") from None


def _text(text: str, where: str) -> str:
    """``text`` if it is text UTF-8 can encode (no lone surrogate such as ``"\\ud800"``), else a 400."""
    try:
        return check_query(text, None)
    except ValueError as exc:
        raise RequestError(f"{where}: {str(exc).removeprefix('query: ')}", param="messages") from None


def _number(value: Any) -> bool:
    """A finite JSON number (not a bool, not NaN or infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class ChatRequest:
    """A parsed chat-completions request: one conversation with exactly one image."""

    model: str
    messages: list[dict[str, Any]]
    image: Image.Image
    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    logprobs: bool
    top_logprobs: int
    key: tuple[Any, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.key = (self.max_tokens, self.temperature, self.top_p)


def parse_chat_request(
    body: Any,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_tokens_cap: int | None = DEFAULT_MAX_TOKENS_CAP,
) -> ChatRequest:
    """Validate an OpenAI chat-completions body and turn image_url parts into ``{"type": "image"}``.

    Decodes the image (CPU work: call it off the event loop). Raises :class:`RequestError` (400, or
    413 for an image over ``max_pixels``; ``max_tokens`` above ``max_tokens_cap`` is a 400).
    """
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("field 'model' must be a non-empty string", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("field 'messages' must be a non-empty list", param="messages")
    if body.get("n", 1) != 1:
        raise RequestError("only n=1 is supported", param="n")
    if body.get("stream"):
        raise RequestError("stream=true is not supported", param="stream")
    images: list[Image.Image] = []
    converted: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(f"messages[{i}] must be an object with a 'role'", param="messages")
        content = message.get("content")
        if isinstance(content, str):
            text = _text(content, f"messages[{i}].content")
            converted.append({"role": message["role"], "content": [{"type": "text", "text": text}]})
            continue
        if not isinstance(content, list):
            raise RequestError(f"messages[{i}].content must be a string or a list of parts", param="messages")
        parts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append(
                    {"type": "text", "text": _text(part["text"], f"messages[{i}].content[{j}].text")}
                )
            elif kind == "image_url":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if not isinstance(url, str):
                    raise RequestError(
                        f"messages[{i}].content[{j}].image_url.url must be a string", param="messages"
                    )
                images.append(_decode_image(url, max_pixels))
                parts.append({"type": "image"})
            else:
                raise RequestError(
                    f"messages[{i}].content[{j}]: expected a 'text' or 'image_url' part, got {kind!r}",
                    param="messages",
                )
        converted.append({"role": message["role"], "content": parts})
    if len(images) != 1:
        raise RequestError(f"exactly one image per request is supported, got {len(images)}", param="messages")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise RequestError("max_tokens must be a positive integer", param="max_tokens")
    if max_tokens is not None and max_tokens_cap and max_tokens > max_tokens_cap:
        raise RequestError(
            f"max_tokens {max_tokens} exceeds this server's limit of {max_tokens_cap} "
            "(pixelthink serve --max-tokens-cap)",
            param="max_tokens",
        )
    temperature = body.get("temperature")
    if temperature is not None and (not _number(temperature) or temperature < 0):
        raise RequestError("temperature must be a finite number >= 0", param="temperature")
    top_p = body.get("top_p")
    if top_p is not None and (not _number(top_p) or not 0 < top_p <= 1):
        raise RequestError("top_p must be a number in (0, 1]", param="top_p")
    logprobs = bool(body.get("logprobs", False))
    top_logprobs = body.get("top_logprobs") or 0
    if not isinstance(top_logprobs, int) or not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
        raise RequestError(f"top_logprobs must be an integer in 0..{MAX_TOP_LOGPROBS}", param="top_logprobs")
    if top_logprobs and not logprobs:
        raise RequestError("top_logprobs requires logprobs=true", param="top_logprobs")
    return ChatRequest(
        model=model,
        messages=converted,
        image=images[0],
        max_tokens=max_tokens,
        temperature=None if temperature is None else float(temperature),
        top_p=None if top_p is None else float(top_p),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
    )


class _Batcher:
    """Collects concurrent requests and runs them as batched ``generate_chat`` calls on one thread."""

    def __init__(
        self, reasoner: TransformersReasoner, batch_size: int, wait_s: float, gate: Gate | None = None
    ) -> None:
        self.reasoner = reasoner
        self.gate = gate
        self.batch_size = batch_size
        self.wait_s = wait_s
        self.queue: asyncio.Queue[tuple[ChatRequest, asyncio.Future[ChatOutput]]] | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixelthink-generate")
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, request: ChatRequest) -> ChatOutput:
        assert self.queue is not None, "batcher not started"
        future: asyncio.Future[ChatOutput] = asyncio.get_running_loop().create_future()
        await self.queue.put((request, future))
        return await future

    async def _run(self) -> None:
        assert self.queue is not None
        pending: list[tuple[ChatRequest, asyncio.Future[ChatOutput]]] = []
        while True:
            if not pending:
                pending.append(await self.queue.get())
                await asyncio.sleep(self.wait_s)  # let requests sent together arrive
            while not self.queue.empty():
                pending.append(self.queue.get_nowait())
            key = pending[0][0].key
            batch = [item for item in pending if item[0].key == key][: self.batch_size]
            pending = [item for item in pending if not any(item is b for b in batch)]
            batch = [item for item in batch if not item[1].cancelled()]
            if not batch:
                continue
            started = time.monotonic()
            answers = await self._answers([request for request, _ in batch])
            if self.gate is not None:  # the model's time per request, for the gate's Retry-After
                self.gate.observe((time.monotonic() - started) / len(batch))
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    async def _answers(self, requests: list[ChatRequest]) -> list[ChatOutput | Exception]:
        """The outputs of one batch; when the batched call fails, each request is tried alone, so
        that only the request that fails alone gets the error."""
        loop = asyncio.get_running_loop()
        top_k = max(2, *(r.top_logprobs for r in requests))
        try:
            return list(await loop.run_in_executor(self.executor, self._generate, requests, top_k))
        except Exception as exc:
            if len(requests) == 1:
                logger.warning("generation failed for one request: %s: %s", type(exc).__name__, exc)
                return [exc]
            logger.warning(
                "generation failed for a batch of %d (%s: %s); trying each request alone",
                len(requests),
                type(exc).__name__,
                exc,
            )
        answers: list[ChatOutput | Exception] = []
        for request in requests:
            answers.extend(await self._answers([request]))
        return answers

    def _generate(self, requests: list[ChatRequest], top_k: int) -> list[ChatOutput]:
        images, frames = [], []
        for request in requests:
            frame = self.reasoner.frame_for(*request.image.size)
            frames.append(frame)
            images.append(frame.image_to_model(request.image))
        first = requests[0]
        return self.reasoner.generate_chat(
            [r.messages for r in requests],
            images,
            frames,
            top_k=top_k,
            max_new_tokens=first.max_tokens,
            temperature=first.temperature,
            top_p=first.top_p,
        )


def _token_entry(text: str, logprob: float) -> dict[str, Any]:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}


def _response(
    request: ChatRequest, output: ChatOutput, reasoner: TransformersReasoner, name: str
) -> dict[str, Any]:
    generation = output.generation
    logprobs = None
    if request.logprobs:
        decode = reasoner.tokenizer.decode
        content = []
        for tid, lp, tops in zip(
            generation.token_ids, output.token_logprobs, output.top_logprobs, strict=True
        ):
            entry = _token_entry(decode([tid]), lp)
            entry["top_logprobs"] = [_token_entry(decode([t]), v) for t, v in tops[: request.top_logprobs]]
            content.append(entry)
        logprobs = {"content": content}
    completion = len(generation.token_ids)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": generation.text},
                "logprobs": logprobs,
                "finish_reason": "stop" if output.finished else "length",
            }
        ],
        "usage": {
            "prompt_tokens": output.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": output.prompt_tokens + completion,
        },
    }


def create_app(
    reasoner: TransformersReasoner,
    model_name: str,
    *,
    batch_size: int | None = None,
    batch_wait_s: float = 0.01,
    limits: ServerLimits | None = None,
    max_tokens_cap: int | None = DEFAULT_MAX_TOKENS_CAP,
) -> FastAPI:
    """The FastAPI application serving ``reasoner`` under the name ``model_name``.

    Args:
        reasoner: a loaded :class:`TransformersReasoner` (its ``resolution`` should be None: images are
            used as sent).
        model_name: the id clients must pass as ``model``.
        batch_size: most requests per ``generate`` call (default: ``reasoner.batch_size``).
        batch_wait_s: how long the batcher waits after the first request for others to arrive.
        limits: body size, pixel limit, queue bound and token (:class:`ServerLimits` defaults when None).
        max_tokens_cap: largest ``max_tokens`` a request may ask for (None = no cap).
    """
    limits = limits or ServerLimits()
    gate = Gate(limits.max_queue)
    batcher = _Batcher(reasoner, batch_size or reasoner.batch_size, batch_wait_s, gate)
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="pixelthink reasoner server", lifespan=lifespan, docs_url=None, redoc_url=None)
    install(app, limits)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": model_name, "object": "model", "created": created, "owned_by": "pixelthink"}],
        }

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        async with gate.slot():  # 429 when full, before the body is decoded
            body = await read_json(request)
            model = body.get("model") if isinstance(body, dict) else None
            if isinstance(model, str) and model and model != model_name:
                return error_response(
                    404, f"The model `{model}` does not exist.", param="model", code="model_not_found"
                )
            try:  # decoding the image is CPU work: off the event loop
                parsed = await asyncio.to_thread(
                    parse_chat_request, body, max_pixels=limits.max_pixels, max_tokens_cap=max_tokens_cap
                )
            except RequestError as exc:
                return error_response(exc.status, str(exc), param=exc.param, code=exc.code)
            try:
                output = await batcher.submit(parsed)
            except ValueError as exc:
                return error_response(400, str(exc))
            except Exception as exc:  # not the request's fault: no details (paths) in the answer
                raise internal_error(500, "generation failed", exc) from None
            return JSONResponse(_response(parsed, output, reasoner, model_name))

    return app
