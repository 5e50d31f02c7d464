"""HTTP safety shared by every pixelthink server (``pixelthink serve`` and ``pixelthink app``).

Layer 0 (imports only :mod:`pixelthink.images`; starlette/fastapi come with the servers' ``ml`` extra).
One place for what a server exposed to untrusted clients must hold, so both servers hold it alike:

* **Errors**: every error is a JSON body in OpenAI's format,
  ``{"error": {"message", "type", "param", "code"}}`` (:func:`error_response`), also for unknown
  routes, wrong methods, validation errors, JSON nested too deeply (``RecursionError``) and
  unexpected exceptions (500). Nothing answers in plain text.
* **Body size**: a request body larger than ``max_body_bytes`` gets 413 (from ``Content-Length``
  before anything is read, or while a chunked body streams in).
* **Token**: with a token, every request must send ``Authorization: Bearer TOKEN`` (or, where the
  server allows it, ``?token=TOKEN`` in the URL, for pages and ``<img>`` links); else 401.
  Compared in constant time.
* **Pixels**: uploaded images are decoded by :func:`pixelthink.images.decode_image` with a pixel limit
  read from the header (decompression bombs get 413 before any pixel is decoded), in a worker thread,
  never on the event loop (:func:`decode_upload`).
* **No fetching**: image fields take inline bytes only (base64 or a ``data:`` URL); a URL or a
  server path is refused with 400 and never fetched or opened (:func:`decode_base64_image`).
* **Bounded queue**: :class:`Gate` admits at most ``max_queue`` requests (running or waiting); one more
  gets 429 with a ``Retry-After`` estimated from recent service times.
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
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pixelthink.images import DEFAULT_MAX_PIXELS, ImageDecodeError, ImageTooLargeError, decode_image

__all__ = [
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
    "is_loopback",
    "read_json",
]

#: Default request-body limit: 25 MiB (a 40 MP PNG rarely exceeds it; base64 adds a third).
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
#: Default cap on the ``max_tokens`` a request to ``pixelthink serve`` may ask for.
DEFAULT_MAX_TOKENS_CAP = 4096
#: Default number of requests admitted at once (running + waiting); one more gets 429.
DEFAULT_MAX_QUEUE = 32

_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


@dataclass(frozen=True)
class ServerLimits:
    """Limits of a server; every field is a command-line flag of ``serve`` and ``app``.

    Attributes:
        max_body_bytes: largest request body accepted (413 above).
        max_pixels: largest decoded image, width x height (413 above; None/0 = no limit).
        max_queue: requests admitted at once, running or waiting (429 above).
        api_key: the token every request must carry, or None (no authentication).
        query_token: also accept the token as ``?token=`` in the URL (pages, image links).
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_queue: int = DEFAULT_MAX_QUEUE
    api_key: str | None = None
    query_token: bool = False

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError(f"max body size must be >= 1 byte, got {self.max_body_bytes}")
        if self.max_queue < 1:
            raise ValueError(f"max queue must be >= 1, got {self.max_queue}")
        if self.max_pixels is not None and self.max_pixels < 0:
            raise ValueError(f"max pixels must be >= 0, got {self.max_pixels}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("the API token must not be empty")


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
    """Pure ASGI middleware: token check and request-body limit, before any route runs."""

    def __init__(self, app: Callable[..., Awaitable[None]], limits: ServerLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not _authorized(scope, self.limits):
            how = "Authorization: Bearer TOKEN" + (" or ?token=TOKEN" if self.limits.query_token else "")
            response = error_response(
                401,
                f"missing or wrong token: this server needs {how}",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        limit = self.limits.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await error_response(400, "Content-Length is not an integer")(scope, receive, send)
                    return
                if declared > limit:
                    await error_response(413, str(_BodyTooLarge(limit)), code="request_too_large")(
                        scope, receive, send
                    )
                    return
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


def install(app: Any, limits: ServerLimits) -> None:
    """Add the guard middleware and JSON error handlers for every error to a FastAPI ``app``."""
    from fastapi.exceptions import RequestValidationError

    app.add_middleware(GuardMiddleware, limits=limits)

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
        return error_response(500, f"internal error: {type(exc).__name__}")

    app.add_exception_handler(HTTPError, on_http_error)
    app.add_exception_handler(StarletteHTTPException, on_starlette)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(RecursionError, on_recursion)
    app.add_exception_handler(Exception, on_unexpected)


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
    from the event loop only (no lock needed). ``Retry-After`` = ceil(mean recent service time x requests
    inside / workers), between 1 and 60 seconds.
    """

    def __init__(self, capacity: int, *, workers: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.workers = max(1, workers)
        self.inside = 0
        self.rejected = 0
        self._mean_s = 1.0

    def retry_after(self) -> int:
        return int(min(60, max(1, math.ceil(self._mean_s * self.inside / self.workers))))

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


def exposure_warning(host: str, api_key: str | None, flag: str) -> str | None:
    """The warning to print when ``host`` is reachable from other machines and no token is set."""
    if api_key or is_loopback(host):
        return None
    bar = "!" * 78
    return (
        f"{bar}\nWARNING: binding {host}, reachable from other machines, WITHOUT a token: anyone who can "
        f"reach this port can use the server.\nSet one with {flag} TOKEN (or the PIXELTHINK_TOKEN "
        f"environment variable); clients then send 'Authorization: Bearer TOKEN'.\n{bar}"
    )
