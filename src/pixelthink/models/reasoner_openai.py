"""OpenAI-compatible chat-completions backend (vLLM, SGLang, ``pixelthink serve``, ...).

Each (image, query) pair becomes one ``POST {base_url}/chat/completions`` request: the image, resized
to the working resolution with :meth:`FrameTransform.image_to_model`, is sent as a lossless PNG
``data:`` URL, the prompt is filled with :func:`pixelthink.answer.build_prompt`, and
``logprobs=true, top_logprobs=k`` is requested for the uncertainty U. Up to ``concurrency`` requests
are in flight at once (asyncio + httpx); transient failures (connection errors, timeouts, HTTP 5xx)
are retried with exponential back-off (``Retry-After`` honoured), up to ``max_retries`` times.

``timeout`` is a deadline: it bounds each whole request (connecting, sending, and the reply's last byte,
streamed or not), not only the gaps between bytes, so a server that trickles its reply cannot hold a
request longer (the attempt then counts as a timeout and is retried like one).

A busy server (HTTP 429) is a signal to slow down, not a failure: the number of requests in flight
adapts as in TCP (AIMD): it is halved on a 429 (once per round of requests) and grows back by one per
window of successful replies, up to ``concurrency``. The request waits ``Retry-After`` (or the
back-off) and is sent again; 429s do not count against ``max_retries``, only against a budget of
``busy_budget_s`` seconds of waiting per request (default 10 minutes), after which the run stops.

Failures are sorted by scope. A reply that concerns one request only (HTTP 400 / 413 / 422, a 200 reply
that is not JSON or lacks a string ``content``, malformed ``logprobs`` or ``usage``) gives that sample a
:class:`Generation` with ``error`` set, and the batch goes on. A failure of the server (unreachable,
HTTP 5xx or 429 after every retry, 401/403) raises :class:`ReasonerServerError` (a ``ConnectionError``):
the run stops with one line and can be resumed.

Before the first batch, ``GET {base_url}/models`` checks that the server is reachable and serves
the model, so a wrong URL or model name fails fast with a clear message.

Model frame: the server's processor may snap the image to its own patch grid (Qwen3-VL: multiples of
32 pixels, so 840 becomes 832); this client cannot see that. For Qwen2.5-VL, 840 is kept exactly
(840 = 30 * 28); for Qwen3-VL servers pass ``resolution=832``.

Streaming (``generate(..., on_text=callback)``): requests ask for ``stream=true`` (with
``stream_options.include_usage``) and read the server-sent events, handing each content delta to the
callback; the chunks' logprob entries and usage are put together into the same :class:`Generation` as
without streaming. A server that refuses ``stream`` (HTTP 400, e.g. ``pixelthink serve``) is asked
again without it, and the whole text is handed to the callback at once.

Token counts: from the returned per-token logprob entries (a final end-of-sequence entry, such as
``<|im_end|>``, is not counted). When the server returns no logprobs, ``usage.completion_tokens``
is split by the character share of the ``<think>`` block (an estimate) and U is None.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import io
import json
import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import httpx

from pixelthink.answer import DEFAULT_PROMPT_TEMPLATE, build_prompt, extract_think
from pixelthink.frames import FrameTransform
from pixelthink.handoff import END, Raised, receive
from pixelthink.models.reasoners import (
    Generation,
    TextCallback,
    check_think_budget,
    count_reasoning_tokens,
    think_budget_close,
)

__all__ = ["END_TOKENS", "OpenAIReasoner", "ReasonerServerError", "image_to_data_url"]

logger = logging.getLogger(__name__)

#: Token texts that mark the end of a response in logprob entries (not counted as answer tokens).
END_TOKENS: frozenset[str] = frozenset({"", "<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end|>"})

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

#: longest wait for one 429 back-off, whatever ``Retry-After`` says
_MAX_BUSY_DELAY_S = 60.0


#: HTTP statuses that concern one request (its prompt or image), not the server: a per-sample failure.
_SAMPLE_STATUS = frozenset({400, 413, 422})
THINK_BUDGET_VIA = ("continue", "server")


class ReasonerServerError(ConnectionError):
    """The server failed in a way that retrying did not fix (e.g. HTTP 500 on every attempt).

    A :class:`ConnectionError`, so the command line reports it in one line (exit 2): the whole run
    stops, since every other sample would fail the same way, and a re-run resumes it.
    """


class _SampleFailure(Exception):
    """One request failed for a reason of its own (malformed reply, HTTP 400): a per-sample failure."""


def image_to_data_url(image: Any) -> str:
    """Encode a PIL image as a lossless ``data:image/png;base64,...`` URL."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and "message" in err:
            return str(err["message"])
        if isinstance(err, str):
            return err
        if "detail" in body:
            return str(body["detail"])
    return str(body)[:500]


def _json_body(response: httpx.Response) -> Any:
    """The JSON body of an HTTP 200 reply; :class:`_SampleFailure` when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise _SampleFailure(f"malformed reply: not JSON: {response.text[:200]!r}") from None


def _completion_tokens(body: Any) -> int:
    """Generated tokens of a reply: ``usage.completion_tokens``, else its log-prob entries (0 if neither)."""
    with contextlib.suppress(AttributeError, KeyError, IndexError, TypeError):
        n = body["usage"]["completion_tokens"]
        if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
            return n
    with contextlib.suppress(AttributeError, KeyError, IndexError, TypeError):
        return len(body["choices"][0]["logprobs"]["content"] or [])
    return 0


def _joined_reply(first: Any, forced: str, second: Any, prefix: str) -> Any:
    """One chat-completions reply from a budgeted first request, the forced text and the continuation."""
    try:
        choice = second["choices"][0]
        rest = str(choice["message"]["content"] or "")
    except (KeyError, IndexError, TypeError):
        return second  # malformed: _to_generation reports it
    entries: list[Any] = []
    for part, body in ((None, first), (forced, None), (None, second)):
        if part:  # one entry per forced tag: tag-only tokens count as neither reasoning nor answer
            entries.extend(
                {"token": tag, "logprob": 0.0, "top_logprobs": []} for tag in re.findall(r"<[^>]*>", part)
            )
        elif body is not None:
            with contextlib.suppress(AttributeError, KeyError, IndexError, TypeError):
                entries.extend(body["choices"][0]["logprobs"]["content"] or [])
    joined = {
        "choices": [
            {
                "message": {"role": "assistant", "content": prefix + rest},
                "finish_reason": choice.get("finish_reason"),
                "logprobs": {"content": entries} if entries else None,
            }
        ],
        "usage": {"completion_tokens": _completion_tokens(first) + _completion_tokens(second)},
        "think_budget": {"forced": forced, "requests": 2},
    }
    return joined


async def _read_stream(response: httpx.Response, on_text: Callable[[str], None]) -> dict[str, Any]:
    """Read a ``stream=true`` chat completion (server-sent events) into the body of a non-streamed one,
    handing each content delta to ``on_text``."""
    text: list[str] = []
    entries: list[Any] = []
    usage: dict[str, Any] | None = None
    finish = None
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            continue  # a keep-alive or a malformed event: the final text is checked by the parser
        if not isinstance(chunk, dict):
            continue
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = (choice.get("delta") or {}).get("content")
            if isinstance(delta, str) and delta:
                text.append(delta)
                on_text(delta)
            content = (choice.get("logprobs") or {}).get("content")
            if isinstance(content, list):
                entries.extend(content)
            finish = choice.get("finish_reason") or finish
    message = {"role": "assistant", "content": "".join(text)}
    body: dict[str, Any] = {
        "choices": [
            {"index": 0, "message": message, "logprobs": {"content": entries}, "finish_reason": finish}
        ]
    }
    if usage is not None:
        body["usage"] = usage
    return body


def _run_sync(coroutine: Any) -> Any:
    """Run a coroutine to completion from synchronous code, also when called inside an event loop."""
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:  # the usual case; run outside this handler so errors do not chain to it
        in_loop = False
    if not in_loop:
        return asyncio.run(coroutine)
    # Called from inside an event loop (e.g. a notebook): run in a helper thread.
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["result"] = asyncio.run(coroutine)
        except BaseException as exc:  # re-raised in the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def _in_daemon_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], Any]) -> asyncio.Future[Any]:
    """Run the blocking ``fn()`` in a new daemon thread; a future of ``loop`` gets its result (a daemon,
    so that a call blocked forever never keeps the interpreter from exiting)."""
    future: asyncio.Future[Any] = loop.create_future()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def work() -> None:
        try:
            value = fn()
        except BaseException as exc:
            setter, value = future.set_exception, exc
        else:
            setter = future.set_result
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, setter, value)

    threading.Thread(target=work, name="pixelthink-request-feed", daemon=True).start()
    return future


def _deadline_error(exc: BaseException, timeout: float) -> Exception:
    """``exc`` itself, or for the deadline (a bare ``TimeoutError``) an ``httpx.ReadTimeout`` saying so."""
    if isinstance(exc, httpx.TransportError):
        return exc
    return httpx.ReadTimeout(f"no complete reply within the {timeout:g} s deadline (timeout)")


async def _gather_or_cancel(tasks: list[asyncio.Task[Any]]) -> list[Any]:
    """The tasks' results in order; when one raises, the others are cancelled and the error re-raised."""
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class _Window:
    """AIMD window of requests in flight: at most ``floor(limit)`` at once, ``1 <= limit <= maximum``.

    :meth:`busy` (a 429) halves ``limit``, once per round: a 429 on a request sent before the last
    decrease does not decrease it again. :meth:`ok` (a reply) adds ``1 / limit`` (one per window of
    replies). Used from one event loop.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self.inflight = 0
        self.round = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def slot(self) -> Any:
        """Wait for room in the window; yields the round the request is sent in (for :meth:`busy`)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.inflight < int(self.limit))
            self.inflight += 1
        try:
            yield self.round
        finally:
            async with self._changed:
                self.inflight -= 1
                self._changed.notify_all()

    def busy(self, sent_in: int) -> None:
        if sent_in == self.round:
            self.limit = max(1.0, self.limit / 2)
            self.round += 1

    def ok(self) -> None:
        self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)


#: the window of the requests of the current run (set by each run's coroutine, inherited by its tasks)
_WINDOW: contextvars.ContextVar[_Window | None] = contextvars.ContextVar("pixelthink_window", default=None)


class OpenAIReasoner:
    """Reasoner backed by an OpenAI-compatible chat-completions server.

    A :class:`~pixelthink.models.reasoners.StreamingReasoner`: it resizes to ``resolution`` itself, streams
    text (``on_text``: ``stream=true``) and many samples (:meth:`generate_stream`: a window of requests).

    Args:
        base_url: server URL ending in ``/v1`` (e.g. ``http://127.0.0.1:8000/v1``).
        model: model name as the server lists it in ``GET /v1/models``.
        concurrency: maximum number of requests in flight (fewer while the server answers 429).
        timeout: deadline in seconds for each whole request (connect, send, the complete reply).
        max_retries: retries after the first attempt for transient errors (HTTP 429 aside).
        resolution: working resolution (int = square, (width, height), None = native).
        max_new_tokens: ``max_tokens`` of each request.
        temperature: sampling temperature (0 = greedy).
        top_logprobs: top log-probs requested per token (>= 2 for U; 0 disables logprobs).
        prompt_template: prompt with a ``{question}`` field.
        check_model: query ``GET /models`` once before the first request.
        api_key: sent as ``Authorization: Bearer ...`` when given.
        busy_budget_s: seconds a request may spend waiting out HTTP 429s before the run stops.
        max_think_tokens: a think budget (``--max-think-tokens``; None = none): the reasoning stops after
            this many generated tokens and ``</think><answer>`` is forced (:meth:`_complete`).
        think_budget_via: ``continue`` (default: two requests, the second continuing the first's text
            plus the forced close, with vLLM's ``continue_final_message``) or ``server`` (one request with
            the server's own ``thinking_token_budget`` field, e.g. vLLM started with ``--reasoning-config``;
            the server then closes the think block itself).
    """

    resolution: int | tuple[int, int] | None

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 4,
        resolution: int | tuple[int, int] | None = 840,
        max_new_tokens: int = 1024,
        temperature: float = 0.0,
        top_logprobs: int = 2,
        prompt_template: str = DEFAULT_PROMPT_TEMPLATE,
        check_model: bool = True,
        api_key: str | None = None,
        backoff: float = 0.5,
        busy_budget_s: float = 600.0,
        max_think_tokens: int | None = None,
        think_budget_via: str = "continue",
    ) -> None:
        if not 0 < timeout < float("inf"):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
        check_think_budget(max_think_tokens)
        if think_budget_via not in THINK_BUDGET_VIA:
            raise ValueError(f"think_budget_via must be one of {THINK_BUDGET_VIA}, got {think_budget_via!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if top_logprobs == 1 or top_logprobs < 0:
            raise ValueError(
                f"top_logprobs must be 0 (off) or >= 2 (U needs the top-2 margin), got {top_logprobs}"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.resolution = resolution
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_logprobs = top_logprobs
        self.prompt_template = prompt_template
        self.check_model = check_model
        self.backoff = backoff
        self.busy_budget_s = busy_budget_s
        self.max_think_tokens = max_think_tokens
        self.think_budget_via = think_budget_via
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._checked = False
        self._stream_refused = False

    # ------------------------------------------------------------------ public API
    def generate(
        self, images: Sequence[Any], queries: Sequence[str], *, on_text: TextCallback | None = None
    ) -> list[Generation]:
        """Generate one response per (image, query) pair, in input order.

        Images are PIL images in the *original* frame. ``on_text(i, text)`` receives the response of
        input ``i`` piece by piece (``stream=true``) while it is generated. Raises ``ConnectionError`` when the server
        cannot be reached, ``ValueError`` for an unknown model name, :class:`ReasonerServerError`
        when a request still fails after the retries.
        """
        if len(images) != len(queries):
            raise ValueError(f"got {len(images)} images but {len(queries)} queries")
        if not images:
            return []
        return _run_sync(self._generate_all(list(images), list(queries), on_text))

    def generate_stream(
        self, requests: Iterable[tuple[int, Any, str]], *, window: int | None = None
    ) -> Iterator[tuple[int, Generation]]:
        """Generate for a stream of ``(index, image, query)`` requests and yield ``(index, Generation)``
        as each reply arrives (completion order), with up to ``window`` (default ``concurrency``)
        requests in flight.

        ``requests`` is pulled lazily from a helper thread, one request whenever a slot frees up (so it
        may block, e.g. while the caller loads images); it must end when the caller stops consuming.
        Images are PIL images in the original frame, resized and encoded in that helper thread.
        Per-sample failures come as generations with ``error`` set; a failure of the server raises here,
        after the replies that arrived before it were yielded. Closing the iterator cancels the
        requests in flight. ``timings["queue"]`` is 0: a request is sent as soon as it is pulled.
        """
        window = self.concurrency if window is None else window
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        out: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def runner() -> None:
            try:
                asyncio.run(self._stream_all(iter(requests), window, out, stop))
            except BaseException as exc:  # handed to the consumer's thread below
                out.put(Raised(exc))
            else:
                out.put(END)

        thread = threading.Thread(target=runner, name="pixelthink-openai-stream", daemon=True)
        thread.start()
        try:
            yield from receive(out)
        finally:
            stop.set()
            thread.join()

    def chat(
        self,
        images: Sequence[Any],
        prompts: Sequence[str],
        *,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
    ) -> list[str | Exception]:
        """Send free-form prompts (LLM judges): one user turn per item, the image (if any) then the text.

        Images are sent as they are (no resizing: the caller chooses the frame its prompt describes);
        ``images[i] = None`` sends a text-only request. No prompt template, no log-probs. Requests run
        concurrently with the same retries and timeouts as :meth:`generate`.

        Returns:
            Per item, in order: the reply text, or the :class:`ReasonerServerError` of a request that
            still failed after the retries (HTTP error, malformed body), so one bad item does not stop
            the others.

        Raises:
            ConnectionError: the server cannot be reached. ValueError: the model is not served.
        """
        if len(images) != len(prompts):
            raise ValueError(f"got {len(images)} images but {len(prompts)} prompts")
        if not prompts:
            return []
        return _run_sync(self._chat_all(list(images), list(prompts), temperature, max_new_tokens))

    def list_models(self) -> list[str]:
        """Model names served at ``base_url`` (``GET /models``, within ``timeout`` seconds)."""
        return _run_sync(self._list_models())

    async def _list_models(self) -> list[str]:
        async with httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client:
            return self._parse_models(await self._get_models(client))

    # ------------------------------------------------------------------ internals
    def _unreachable(self, exc: Exception) -> ConnectionError:
        return ConnectionError(
            f"cannot reach {self.base_url} ({type(exc).__name__}: {exc}); is the server running?"
        )

    async def _get_models(self, client: httpx.AsyncClient) -> httpx.Response:
        """``GET /models`` within the deadline (``timeout``)."""
        try:
            async with asyncio.timeout(self.timeout):
                return await client.get(f"{self.base_url}/models")
        except (httpx.TransportError, TimeoutError) as exc:
            raise self._unreachable(_deadline_error(exc, self.timeout)) from exc

    def _parse_models(self, response: httpx.Response) -> list[str]:
        if response.status_code != 200:
            raise ReasonerServerError(
                f"GET {self.base_url}/models: HTTP {response.status_code}: {_error_message(response)}"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ReasonerServerError(
                f"GET {self.base_url}/models: not an OpenAI model list ({response.text[:200]!r}); is this "
                "an OpenAI-compatible server?"
            )
        return [str(entry.get("id")) for entry in data if isinstance(entry, dict)]

    async def _check(self, client: httpx.AsyncClient) -> None:
        if self._checked or not self.check_model:
            return
        names = self._parse_models(await self._get_models(client))
        if self.model not in names:
            raise ValueError(
                f"model {self.model!r} is not served at {self.base_url}; the server lists {names} "
                "(name one with --model NAME on the command line, or model=NAME in Python)"
            )
        self._checked = True

    async def _generate_all(
        self, images: list[Any], queries: list[str], on_text: TextCallback | None = None
    ) -> list[Generation]:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        _WINDOW.set(_Window(self.concurrency))
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits, headers=self.headers) as client:
            await self._check(client)
            semaphore = asyncio.Semaphore(self.concurrency)
            tasks = [
                asyncio.create_task(self._one(client, semaphore, i, image, query, on_text))
                for i, (image, query) in enumerate(zip(images, queries, strict=True))
            ]
            return await _gather_or_cancel(tasks)

    async def _chat_all(
        self, images: list[Any], prompts: list[str], temperature: float | None, max_new_tokens: int | None
    ) -> list[str | Exception]:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        _WINDOW.set(_Window(self.concurrency))
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits, headers=self.headers) as client:
            await self._check(client)
            semaphore = asyncio.Semaphore(self.concurrency)
            tasks = [
                asyncio.create_task(
                    self._chat_one(client, semaphore, i, image, prompt, temperature, max_new_tokens)
                )
                for i, (image, prompt) in enumerate(zip(images, prompts, strict=True))
            ]
            return await _gather_or_cancel(tasks)

    async def _chat_one(
        self,
        client: httpx.AsyncClient,
        semaphore: asyncio.Semaphore,
        index: int,
        image: Any,
        prompt: str,
        temperature: float | None,
        max_new_tokens: int | None,
    ) -> str | Exception:
        content: list[dict[str, Any]] = []
        if image is not None:
            content.append({"type": "image_url", "image_url": {"url": image_to_data_url(image)}})
        content.append({"type": "text", "text": prompt})
        payload = {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": self.max_new_tokens if max_new_tokens is None else max_new_tokens,
            "temperature": self.temperature if temperature is None else temperature,
        }
        async with semaphore:
            try:
                body = await self._post(client, payload, index)
            except ReasonerServerError as exc:
                return exc
            except _SampleFailure as exc:  # HTTP 400/413/422 or a body that is not JSON
                return ReasonerServerError(f"sample {index}: {exc}")
        try:
            text = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            text = None
        if not isinstance(text, str):
            return ReasonerServerError(
                f"sample {index}: malformed chat-completions response: {str(body)[:300]}"
            )
        return text

    def _payload(self, data_url: str, query: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": data_url}},
                        {"type": "text", "text": build_prompt(query, self.prompt_template)},
                    ],
                }
            ],
            "max_tokens": self.max_new_tokens,
            "temperature": self.temperature,
        }
        if self.top_logprobs:
            payload["logprobs"] = True
            payload["top_logprobs"] = self.top_logprobs
        return payload

    async def _complete(
        self,
        client: httpx.AsyncClient,
        payload: dict[str, Any],
        index: int,
        on_text: Callable[[str], None] | None,
    ) -> Any:
        """One sample's reply, with the think budget applied (see ``max_think_tokens``).

        ``continue``: request 1 asks for at most N tokens, stopping at ``</think>``. Cut by the budget
        (``finish_reason: length``), the text is continued after :func:`think_budget_close`'s forced
        ``</think><answer>``; closed by the model, after its own ``</think>``; a reply that already holds
        ``</answer>`` (or ended without a think block) is final. Request 2 sends the first text as a
        partial assistant message (``continue_final_message: true, add_generation_prompt: false``) with
        the remaining ``max_tokens``. The combined reply's log-probs are request 1's, one entry for the
        forced text (no top log-probs: not in U, a tag for the token counts), then request 2's.
        """
        budget = self.max_think_tokens
        if budget is None:
            return await self._post(client, payload, index, on_text)
        if self.think_budget_via == "server":
            return await self._post(client, payload | {"thinking_token_budget": budget}, index, on_text)
        if budget == 0:  # no reasoning at all: nothing to ask before the forced close
            first: Any = {"choices": [{"message": {"content": ""}, "finish_reason": "length"}], "usage": {}}
        else:
            first = await self._post(
                client, payload | {"max_tokens": budget, "stop": ["</think>"]}, index, on_text
            )
        try:
            choice = first["choices"][0]
            text = str(choice["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            return first  # malformed: _to_generation reports it
        if "</answer>" in text:
            return first
        if "</think>" in text:  # a server that keeps the stop string
            forced = ""
        elif choice.get("finish_reason") == "length":
            forced = think_budget_close(text)
        elif "<think>" in text:  # stopped at the model's own </think> (stop strings are not returned)
            forced = "</think>"
        else:  # ended without a think block
            return first
        used = _completion_tokens(first)
        if on_text is not None and forced:
            on_text(forced)
        prefix = text + forced
        messages = [*payload["messages"], {"role": "assistant", "content": prefix}]
        second = await self._post(
            client,
            payload
            | {
                "messages": messages,
                "max_tokens": max(self.max_new_tokens - used - 1, 1),
                "continue_final_message": True,
                "add_generation_prompt": False,
            },
            index,
            on_text,
        )
        return _joined_reply(first, forced, second, prefix)

    async def _send(
        self,
        client: httpx.AsyncClient,
        url: str,
        payload: dict[str, Any],
        on_text: Callable[[str], None] | None,
    ) -> tuple[httpx.Response, Any]:
        """One POST: (response, body when HTTP 200). Streams when ``on_text`` is given."""
        if on_text is None or self._stream_refused:
            response = await client.post(url, json=payload)
            body = _json_body(response) if response.status_code == 200 else None
            if body is not None and on_text is not None:
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    on_text(str(body["choices"][0]["message"]["content"] or ""))
            return response, body
        streamed = payload | {"stream": True, "stream_options": {"include_usage": True}}
        async with client.stream("POST", url, json=streamed) as response:
            if response.status_code != 200:
                await response.aread()
                if response.status_code == 400 and "stream" in _error_message(response).lower():
                    self._stream_refused = True
                    return await self._send(client, url, payload, on_text)
                return response, None
            if "text/event-stream" not in response.headers.get("content-type", ""):
                await response.aread()  # a server that ignored stream=true: one JSON body
                body = _json_body(response)
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    on_text(str(body["choices"][0]["message"]["content"] or ""))
                return response, body
            return response, await _read_stream(response, on_text)

    async def _post(
        self,
        client: httpx.AsyncClient,
        payload: dict[str, Any],
        index: int,
        on_text: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/chat/completions"
        window = _WINDOW.get() or _Window(self.concurrency)
        attempt = 0
        busy_count, busy_waited = 0, 0.0
        while True:
            delay = self.backoff * (2**attempt) * (1 + 0.25 * random.random())
            async with window.slot() as sent_in:
                try:
                    async with asyncio.timeout(self.timeout):
                        response, body = await self._send(client, url, payload, on_text)
                except (httpx.TransportError, TimeoutError) as exc:
                    error: Exception | None = _deadline_error(exc, self.timeout)
                else:
                    error = None
            if error is not None:
                if attempt >= self.max_retries:
                    if isinstance(error, httpx.ConnectError):
                        raise self._unreachable(error) from error
                    raise ReasonerServerError(
                        f"sample {index}: POST {url} failed after {attempt + 1} attempts: "
                        f"{type(error).__name__}: {error}"
                    ) from error
                logger.warning(
                    "sample %d: %s: %s; retrying in %.1fs", index, type(error).__name__, error, delay
                )
            else:
                if body is not None:
                    window.ok()
                    return body
                message = _error_message(response)
                if response.status_code in _SAMPLE_STATUS:
                    raise _SampleFailure(f"HTTP {response.status_code}: {message}")
                if response.status_code == 404:
                    raise ValueError(
                        f"POST {url}: HTTP 404 (wrong model name {self.model!r}? name the served one with "
                        f"--model NAME, or model=NAME in Python): {message}"
                    )
                busy = response.status_code == 429
                if busy:  # the server is full: fewer in flight, and wait (no retry counted)
                    window.busy(sent_in)
                    delay = self.backoff * (2 ** min(busy_count, 4)) * (1 + 0.25 * random.random())
                if (
                    not busy and (response.status_code not in _RETRY_STATUS or attempt >= self.max_retries)
                ) or (busy and busy_waited >= self.busy_budget_s):
                    spent = f" ({busy_waited:.0f} s waited for a busy server)" if busy else ""
                    raise ReasonerServerError(
                        f"sample {index}: POST {url}: HTTP {response.status_code} after {attempt + 1} "
                        f"attempt(s){spent}: {message}"
                    )
                retry_after = response.headers.get("retry-after")
                if retry_after is not None:
                    with contextlib.suppress(ValueError):  # an HTTP date: keep the exponential delay
                        delay = max(delay, min(float(retry_after), _MAX_BUSY_DELAY_S))
                logger.warning(
                    "sample %d: HTTP %d (%s); retrying in %.1fs", index, response.status_code, message, delay
                )
                if busy:
                    busy_count += 1
                    busy_waited += delay
                    await asyncio.sleep(delay)
                    continue
            attempt += 1
            await asyncio.sleep(delay)

    def _prepare(self, image: Any) -> tuple[FrameTransform, str, float]:
        """The model frame of ``image``, its resized PNG ``data:`` URL and the seconds that took."""
        t0 = time.perf_counter()
        frame = FrameTransform.for_size(image.size[0], image.size[1], self.resolution)
        data_url = image_to_data_url(frame.image_to_model(image))
        return frame, data_url, time.perf_counter() - t0

    async def _one(
        self,
        client: httpx.AsyncClient,
        semaphore: asyncio.Semaphore,
        index: int,
        image: Any,
        query: str,
        on_text: TextCallback | None = None,
    ) -> Generation:
        frame, data_url, preprocess = self._prepare(image)
        return await self._request(client, semaphore, index, frame, data_url, query, preprocess, on_text)

    async def _request(
        self,
        client: httpx.AsyncClient,
        semaphore: asyncio.Semaphore | None,
        index: int,
        frame: FrameTransform,
        data_url: str,
        query: str,
        preprocess: float,
        on_text: TextCallback | None = None,
    ) -> Generation:
        """One sample's request (after ``semaphore``, when given): its Generation, ``error`` set for a
        per-sample failure. ``queue`` is the time spent waiting for the semaphore."""
        t1 = time.perf_counter()
        async with semaphore if semaphore is not None else contextlib.nullcontext():
            t2 = time.perf_counter()
            failure: str | None = None
            callback = None if on_text is None else (lambda text: on_text(index, text))
            try:
                body: Any = await self._complete(client, self._payload(data_url, query), index, callback)
            except _SampleFailure as exc:
                body, failure = None, str(exc)
            t3 = time.perf_counter()
        timings = {
            "preprocess": preprocess,
            "prefill": 0.0,
            "decode": t3 - t2,
            "request": t3 - t2,
            "queue": t2 - t1,
        }
        if failure is None:
            try:
                return self._to_generation(body, frame, timings)
            except _SampleFailure as exc:
                failure = str(exc)
        logger.warning("sample %d: %s", index, failure)
        return Generation(
            text="",
            reasoning_tokens=0,
            answer_tokens=0,
            uncertainty=None,
            frame=frame,
            timings=timings,
            error=failure,
        )

    async def _stream_all(
        self,
        requests: Iterator[tuple[int, Any, str]],
        window: int,
        out: queue.Queue[Any],
        stop: threading.Event,
    ) -> None:
        """:meth:`generate_stream`'s event loop: keep ``window`` requests in flight, put each
        ``(index, Generation)`` on ``out`` as it completes. Pulling the next request (which may block)
        and preparing its image run in a helper thread, so replies keep arriving meanwhile."""
        limits = httpx.Limits(max_connections=window, max_keepalive_connections=window)
        loop = asyncio.get_running_loop()

        def pull() -> tuple[int, FrameTransform, str, str, float] | None:
            item = next(requests, None)
            if item is None:
                return None
            index, image, query = item
            frame, data_url, seconds = self._prepare(image)
            return index, frame, data_url, query, seconds

        pending: dict[asyncio.Task[Generation], int] = {}
        fetch: asyncio.Future[Any] | None = None
        _WINDOW.set(_Window(window))
        try:
            async with httpx.AsyncClient(timeout=self.timeout, limits=limits, headers=self.headers) as client:
                await self._check(client)
                exhausted = False
                while not stop.is_set():
                    if fetch is None and not exhausted and len(pending) < window:
                        fetch = _in_daemon_thread(loop, pull)
                    waiting: set[asyncio.Future[Any]] = set(pending)
                    if fetch is not None:
                        waiting.add(fetch)
                    if not waiting:
                        break
                    done, _ = await asyncio.wait(waiting, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                    if fetch is not None and fetch in done:
                        item, fetch = fetch.result(), None
                        if item is None:
                            exhausted = True
                        else:
                            index, frame, data_url, query, seconds = item
                            task = asyncio.create_task(
                                self._request(client, None, index, frame, data_url, query, seconds)
                            )
                            pending[task] = index
                    for task in [t for t in done if t in pending]:
                        out.put((pending.pop(task), task.result()))  # a server failure raises here
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if fetch is not None:
                fetch.cancel()

    def _to_generation(self, body: Any, frame: FrameTransform, timings: dict[str, float]) -> Generation:
        """A Generation from a chat-completions reply; :class:`_SampleFailure` when it is malformed."""
        from pixelthink.uncertainty import margins_from_top_logprobs, uncertainty_from_margins

        def malformed(what: str) -> _SampleFailure:
            return _SampleFailure(f"malformed reply: {what}: {str(body)[:200]}")

        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise malformed("'choices' is not a non-empty list of objects")
        choice = choices[0]
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(text, str | None):
            raise malformed("'choices[0].message.content' is not a string or null")
        text = text or ""
        logprobs = choice.get("logprobs") or {}
        content = logprobs.get("content") if isinstance(logprobs, dict) else None
        if not isinstance(logprobs, dict) or not isinstance(content, list | None):
            raise malformed("'logprobs.content' is not a list")
        content = content or []
        if not all(isinstance(e, dict) and isinstance(e.get("token", ""), str) for e in content):
            raise malformed("'logprobs.content' entries are not {token, logprob, top_logprobs} objects")
        tokens = [entry.get("token", "") for entry in content]
        uncertainty: float | None = None
        if content:
            # OpenAI-style lists of {"token", "logprob"}; tokens with < 2 candidates are skipped in U.
            tops = [entry.get("top_logprobs") or None for entry in content]
            if self.top_logprobs >= 2:
                try:
                    uncertainty = float(uncertainty_from_margins(margins_from_top_logprobs(tops)))
                except (ValueError, TypeError, OverflowError) as exc:
                    raise malformed(f"'top_logprobs' unusable ({exc})") from None
            counted = tokens[:-1] if tokens and tokens[-1] in END_TOKENS else tokens
            reasoning, answer = count_reasoning_tokens(counted)
        else:
            usage = body.get("usage") or {}
            completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
            completion = completion or 0
            if not isinstance(completion, int) or isinstance(completion, bool) or not 0 <= completion < 2**31:
                raise malformed("'usage.completion_tokens' is not a non-negative integer")
            think = extract_think(text, partial=True) or ""
            reasoning = round(completion * len(think) / len(text)) if text else 0
            answer = max(completion - reasoning, 0)
        return Generation(
            text=text,
            reasoning_tokens=reasoning,
            answer_tokens=answer,
            uncertainty=uncertainty,
            frame=frame,
            timings=timings,
            tokens=tokens,
        )
