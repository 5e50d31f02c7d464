"""HTTP safety shared by every pixelthink server (``pixelthink serve`` and ``pixelthink app``).

The ground floor of :mod:`pixelthink.serving`: it imports starlette (with fastapi and uvicorn, the
servers' ``ml`` extra), :mod:`pixelthink.images` and :mod:`pixelthink.serving.limits` (the limits and their
defaults, which need no web framework: the command line reads them while it builds its parser).
One place for what a server exposed to untrusted clients must hold, so both servers hold it alike:

* **Errors**: every error is a JSON body in OpenAI's format,
  ``{"error": {"message", "type", "param", "code"}}`` (:func:`error_response`), also for unknown
  routes, wrong methods, validation errors, JSON nested too deeply (``RecursionError``) and
  unexpected exceptions (500), and malformed HTTP that uvicorn itself refuses (:func:`run_server`).
  Nothing answers in plain text. A 500 / 502 body says what failed in a few words and an error id;
  the details (paths, tracebacks) go to the server log under that id (:func:`internal_error`).
* **Body first, with a deadline**: the whole request body is read (at most ``max_body_bytes``, within
  ``body_timeout_s`` seconds) before any route runs, so a request takes its place in the queue only once
  its body has arrived; a body that does not arrive in time gets 408 and the connection is closed.
* **Body size**: a request body larger than ``max_body_bytes`` gets 413 (from ``Content-Length``, or
  while a chunked body streams in). Before a refusal (413, 401) the server reads and discards what the
  client sends, up to a bound (:data:`DRAIN_BYTES`, ``body_timeout_s``), as common servers do, so that
  clients that send the whole body before reading (Python's urllib) see the answer, not a reset.
* **Token**: with a token, every request must send ``Authorization: Bearer TOKEN`` (or, where the
  server allows it, ``?token=TOKEN`` in the URL, for pages and ``<img>`` links); else 401.
  Compared in constant time.
* **Pixels**: uploaded images are decoded by :func:`pixelthink.images.decode_image` with a pixel limit
  read from the header (decompression bombs get 413 before any pixel is decoded), in a worker thread,
  never on the event loop (:func:`decode_upload`).
* **No fetching**: image fields take inline bytes only (base64 or a ``data:`` URL); a URL or a
  server path is refused with 400 and never fetched or opened (:func:`decode_base64_image`).
* **Bounded queue**: :class:`Gate` admits at most ``max_queue`` requests (running or waiting); one more
  gets 429 with a ``Retry-After`` estimated from recent service times (time at the model, not time
  spent waiting in the queue).
* **Exposure**: :func:`exposure_warning` is the loud warning printed when a server binds a
  non-loopback address without a token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from pixelthink.images import ImageDecodeError, ImageTooLargeError, decode_image
from pixelthink.serving.limits import (
    DEFAULT_APP_MAX_QUEUE,
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_TOKENS_CAP,
    ServerLimits,
)

__all__ = [
    "DEFAULT_APP_MAX_QUEUE",
    "DEFAULT_BODY_TIMEOUT_S",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_TOKENS_CAP",
    "Gate",
    "HTTPError",
    "ServerLimits",
    "decode_base64_image",
    "decode_upload",
    "error_body",
    "error_response",
    "exposure_warning",
    "install",
    "internal_error",
    "is_loopback",
    "read_json",
    "run_server",
]

logger = logging.getLogger(__name__)

#: Most bytes read and discarded from a refused request's body before the refusal is sent.
DRAIN_BYTES = 32 * 1024 * 1024

_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


class HTTPError(Exception):
    """An error answered as ``status`` with an OpenAI-style JSON body (never a ValueError subclass,
    so a route's ``except ValueError`` cannot swallow it)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = dict(headers or {})


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict:
    """``{"error": {"message", "type", "param", "code"}}`` as OpenAI's API writes it."""
    kind = _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response (see :func:`error_body`)."""
    return JSONResponse(
        error_body(status, message, param=param, code=code), status_code=status, headers=dict(headers or {})
    )


# ---------------------------------------------------------------------------------------------- token
def _token_of(scope: Mapping[str, Any], query_token: bool) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = value.decode("latin-1").strip()
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
    if query_token:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        if values:
            return values[-1]
    return None


def _authorized(scope: Mapping[str, Any], limits: ServerLimits) -> bool:
    if limits.api_key is None:
        return True
    given = _token_of(scope, limits.query_token)
    return given is not None and hmac.compare_digest(given.encode(), limits.api_key.encode())


# -------------------------------------------------------------------------------- body limit + token
class _BodyTooLarge(HTTPError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"request body exceeds the limit of {limit:,} bytes (the server's --max-body-mb)",
            code="request_too_large",
        )


class GuardMiddleware:
    """Pure ASGI middleware, before any route runs: the token check, then the whole request body read
    (at most ``max_body_bytes``, within ``body_timeout_s``) and handed to the route from memory."""

    def __init__(self, app: Callable[..., Awaitable[None]], limits: ServerLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        if not _authorized(scope, self.limits):
            how = "Authorization: Bearer TOKEN" + (" or ?token=TOKEN" if self.limits.query_token else "")
            response = error_response(
                401,
                f"missing or wrong token: this server needs {how}",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await self._refuse(response, headers, scope, receive, send)
            return
        limit = self.limits.max_body_bytes
        too_large = error_response(413, str(_BodyTooLarge(limit)), code="request_too_large")
        if b"content-length" in headers:
            try:
                declared = int(headers[b"content-length"])
            except ValueError:
                await self._refuse(
                    error_response(400, "Content-Length is not an integer"), headers, scope, receive, send
                )
                return
            if declared > limit:
                await self._refuse(too_large, headers, scope, receive, send)
                return
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                body = await _read_body(receive, limit)
        except TimeoutError:
            message = (
                f"the request body did not arrive within {self.limits.body_timeout_s:g} s "
                "(the server's --body-timeout)"
            )
            await error_response(408, message, code="body_timeout", headers={"Connection": "close"})(
                scope, receive, send
            )
            return
        if body is None:  # the client went away
            return
        if len(body) > limit:
            await self._refuse(too_large, headers, scope, receive, send)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: waits for the client to disconnect

        await self.app(scope, replay, send)

    async def _refuse(
        self,
        response: Response,
        headers: Mapping[bytes, bytes],
        scope: dict,
        receive: Callable,
        send: Callable,
    ) -> None:
        """Send ``response`` and close the connection, after reading and discarding what the client
        sends of its body (up to :data:`DRAIN_BYTES`, within ``body_timeout_s``), so that a client that
        sends its whole body before reading the answer gets the answer rather than a reset connection.
        A client that waits for ``100 Continue`` has sent nothing: nothing to drain."""
        if headers.get(b"expect", b"").lower() != b"100-continue":
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.limits.body_timeout_s):
                    await _read_body(receive, DRAIN_BYTES, keep=False)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def _read_body(receive: Callable, limit: int, *, keep: bool = True) -> bytearray | None:
    """The request body, read until it ends or has grown past ``limit`` bytes (then what was read,
    longer than ``limit``); None when the client disconnected. ``keep=False`` discards it (draining)."""
    body = bytearray()
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        received += len(chunk)
        if keep:
            body += chunk
        if not message.get("more_body", False) or received > limit:
            return body


def install(app: Any, limits: ServerLimits) -> None:
    """Add the guard middleware, JSON error handlers for every error and the offline ``/docs`` page to
    a FastAPI ``app`` (created with ``docs_url=None, redoc_url=None``: FastAPI's pages load Swagger UI
    and ReDoc from a CDN)."""
    from fastapi.exceptions import RequestValidationError

    app.add_middleware(GuardMiddleware, limits=limits)

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        return HTMLResponse(
            _docs_page(app.openapi(), request.url.query), headers={"Cache-Control": "no-store"}
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPError)
        return error_response(exc.status, exc.message, param=exc.param, code=exc.code, headers=exc.headers)

    async def on_starlette(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        message = str(exc.detail)
        if status == 404:
            message = f"no route {request.method} {request.url.path}"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return error_response(status, message, headers=getattr(exc, "headers", None))

    async def on_validation(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors]
        param = ".".join(str(p) for p in errors[0].get("loc", ())) if errors else None
        return error_response(400, "invalid request: " + "; ".join(parts), param=param)

    async def on_recursion(request: Request, exc: Exception) -> Response:
        return error_response(400, "request JSON is nested too deeply")

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        error = internal_error(500, "internal error", exc)
        return error_response(error.status, error.message, code=error.code)

    app.add_exception_handler(HTTPError, on_http_error)
    app.add_exception_handler(StarletteHTTPException, on_starlette)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(RecursionError, on_recursion)
    app.add_exception_handler(Exception, on_unexpected)


def internal_error(status: int, what: str, exc: BaseException) -> HTTPError:
    """A 500 / 502 that tells the client ``what`` failed, the exception's type and an error id, and
    nothing else (no message, which may hold server paths); the details go to the server log under
    that id."""
    error_id = uuid.uuid4().hex[:12]
    logger.error("%s (error id %s)", what, error_id, exc_info=(type(exc), exc, exc.__traceback__))
    return HTTPError(
        status,
        f"{what}: {type(exc).__name__} (error id {error_id}; the details are in the server log)",
        code="model_error" if status == 502 else "internal_error",
    )


def run_server(app: Any, *, host: str, port: int, log_level: str) -> None:
    """``uvicorn.run`` with the h11 protocol answering malformed HTTP with a JSON 400 too (uvicorn's own
    answer is plain text)."""
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class JSONErrorH11Protocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            import h11

            body = json.dumps(error_body(400, f"malformed HTTP request: {msg}")).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            for event in (
                h11.Response(status_code=400, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event))
            self.transport.close()

    uvicorn.run(app, host=host, port=port, log_level=log_level, http=JSONErrorH11Protocol)


def _docs_page(schema: Mapping[str, Any], query: str) -> str:
    """A self-contained HTML page listing the API's endpoints (no scripts, nothing loaded from elsewhere)."""
    from html import escape

    rows = []
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            text = operation.get("summary") or operation.get("description") or ""
            rows.append(
                f"<tr><td><code>{escape(method.upper())}</code></td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(text.strip().splitlines()[0] if text.strip() else '')}</td></tr>"
            )
    info = schema.get("info", {})
    link = "openapi.json" + (f"?{escape(query)}" if query else "")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{escape(str(info.get('title', 'API')))}</title></head><body>"
        f"<h1>{escape(str(info.get('title', 'API')))}</h1>"
        f"<p>The OpenAPI schema: <a href='{link}'>openapi.json</a> (load it into any OpenAPI viewer). "
        'Every error is a JSON body <code>{"error": {"message", "type", "param", "code"}}</code>.'
        "</p><table border='1' cellpadding='4'><tr><th>method</th><th>path</th><th>what</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


# --------------------------------------------------------------------------------------- request body
async def read_json(request: Request) -> Any:
    """The request body parsed as JSON; 400 (JSON body) when it is not JSON or is nested too deeply."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except RecursionError:
        raise HTTPError(400, "request JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise HTTPError(400, "request body is not valid JSON") from None


def decode_base64_image(text: Any, *, param: str, require_data_url: bool = False) -> bytes:
    """The bytes of an inline image: ``data:image/...;base64,...`` or plain base64.

    URLs (``http://``, ``file://``, ...) and server paths are refused with 400, never fetched or read.
    """
    if not isinstance(text, str) or not text:
        raise HTTPError(400, f"{param}: expected a base64 string or a data: URL", param=param)
    head = text[:16].lower()
    if "://" in text[:64] or (require_data_url and not head.startswith("data:")):
        raise HTTPError(
            400,
            f"{param}: only inline images are accepted (data:image/png;base64,... or base64); "
            "URLs and server paths are never fetched or read",
            param=param,
        )
    data = text
    if head.startswith("data:"):
        header, _, data = text.partition(",")
        if ";base64" not in header.lower():
            raise HTTPError(400, f"{param}: the image data URL must be base64-encoded", param=param)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPError(
            400,
            f"{param}: not valid base64 (send the image bytes base64-encoded, or as a data: URL; "
            "URLs and server paths are never fetched or read)",
            param=param,
        ) from None


async def decode_upload(data: bytes, *, max_pixels: int | None, param: str = "image") -> Any:
    """A PIL RGB image from uploaded bytes, decoded in a worker thread with the pixel limit.

    Raises:
        HTTPError: 413 over the pixel limit (checked from the header, nothing decoded), 400 not an image.
    """
    try:
        return await asyncio.to_thread(decode_image, bytes(data), max_pixels=max_pixels, name=param)
    except ImageTooLargeError as exc:
        raise HTTPError(413, str(exc), param=param, code="image_too_large") from None
    except ImageDecodeError as exc:
        raise HTTPError(400, str(exc), param=param, code="invalid_image") from None


# ------------------------------------------------------------------------------------------ the queue
class Gate:
    """Admission control: at most ``capacity`` requests inside at once (running or waiting).

    ``async with gate.slot():`` (or :meth:`enter` / :meth:`leave`, to keep a request admitted until work
    it started in a thread is done) raises :class:`HTTPError` 429 with ``Retry-After`` when full. Used
    from the event loop only (no lock needed). ``Retry-After`` = ceil(mean service time of a request x
    requests inside / workers), between 1 and 60 seconds: the time the queue takes to drain. The service
    time is what the server reports with :meth:`observe` (the model's time per request, e.g. a batch's
    seconds divided by its size), not the time from admission to the answer, which includes the wait
    in the queue and would count it twice; without :meth:`observe`, :meth:`leave` measures the latter.
    """

    def __init__(self, capacity: int, *, workers: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.workers = max(1, workers)
        self.inside = 0
        self.rejected = 0
        self._mean_s = 1.0
        self._observed = False

    def retry_after(self) -> int:
        return int(min(60, max(1, math.ceil(self._mean_s * self.inside / self.workers))))

    def observe(self, service_s: float) -> None:
        """One request's service time: seconds of the model's work for it (queue wait excluded)."""
        self._observed = True
        self._mean_s = 0.8 * self._mean_s + 0.2 * max(float(service_s), 0.0)

    def enter(self) -> float:
        """Admit one request (its start time, for :meth:`leave`), or raise 429 when full."""
        if self.inside >= self.capacity:
            self.rejected += 1
            wait = self.retry_after()
            raise HTTPError(
                429,
                f"server busy: {self.inside} requests running or queued (limit {self.capacity}, the "
                f"server's --max-queue); retry after {wait} s",
                code="queue_full",
                headers={"Retry-After": str(wait)},
            )
        self.inside += 1
        return time.monotonic()

    def leave(self, started: float) -> None:
        """A request admitted at ``started`` is done (call exactly once per :meth:`enter`)."""
        self.inside -= 1
        if not self._observed:
            self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - started)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """``enter`` on the way in, ``leave`` on the way out."""
        started = self.enter()
        try:
            yield
        finally:
            self.leave(started)


# ------------------------------------------------------------------------------------------- exposure
def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, api_key: str | None, flag: str, env: str) -> str | None:
    """The warning to print when ``host`` is reachable from other machines and no token is set
    (``flag`` and ``env``: the option and the environment variable that set one)."""
    if api_key or is_loopback(host):
        return None
    bar = "!" * 78
    return (
        f"{bar}\nWARNING: binding {host}, reachable from other machines, WITHOUT a token: anyone who can "
        f"reach this port can use the server.\nSet one with {flag} TOKEN (or the {env} "
        f"environment variable); clients then send 'Authorization: Bearer TOKEN'.\n{bar}"
    )
