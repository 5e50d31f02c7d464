"""The one fake OpenAI-compatible server of the tests and benches (``bench/`` imports it from ``tests/``).

``FakeOpenAI(respond)`` serves ``GET /v1/models`` (one model) and ``POST /v1/chat/completions`` on
127.0.0.1 (a free port), in a thread of this process, until :meth:`FakeOpenAI.close` (or the end of a
``with`` block). Every chat request's JSON body is kept in :attr:`FakeOpenAI.requests`, in arrival
order; ``respond(payload)`` runs in the request's own thread (requests are served concurrently) and
returns the reply:

* a ``str``: the assistant message (``finish_reason`` ``"stop"``, plus ``usage`` when given); with
  ``"stream": true`` in the request it comes as server-sent events, one word per chunk, then ``[DONE]``;
* a ``dict``: the JSON body of a 200 reply, sent as it is (log-probs, odd shapes, ...);
* a ``(status, message)`` tuple: an OpenAI-style error ``{"error": {"message": message}}``;
* a :class:`Raw` reply: any status, headers, content type and body, or a body written in pieces.

``get`` answers the other GET paths (default: 404); :attr:`FakeOpenAI.gets` records every GET path.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "Raw", "Reply", "completion", "prompt_text"]


@dataclass
class Raw:
    """A reply as it is: ``body`` (bytes, or an object sent as JSON), or ``chunks`` written one by one
    (flushed; a client that leaves ends the reply) after a declared ``length``."""

    status: int = 200
    body: bytes | Mapping[str, Any] | list[Any] = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None
    length: int | None = None


Reply = str | Mapping[str, Any] | tuple[int, str] | Raw


def prompt_text(payload: Mapping[str, Any]) -> str:
    """The text part of the first message of a chat request (the reasoner's prompt)."""
    content = payload["messages"][0]["content"]
    return next(part["text"] for part in content if part.get("type") == "text")


def completion(text: str, usage: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A chat completion whose assistant message is ``text`` (``finish_reason`` ``"stop"``)."""
    message = {"role": "assistant", "content": text}
    reply: dict[str, Any] = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    if usage is not None:
        reply["usage"] = dict(usage)
    return reply


class FakeOpenAI:
    """An OpenAI-compatible stand-in on loopback (see the module docstring).

    Args:
        respond: ``payload -> reply`` for every chat request.
        model: the id the model list serves.
        usage: the ``usage`` object added to string replies (and to the last chunk of a stream).
        delay: seconds each chat request waits after it is recorded, before ``respond`` runs.
        get: ``path -> Raw`` for GET paths other than the model list (default: 404).
    """

    def __init__(
        self,
        respond: Callable[[dict[str, Any]], Reply],
        *,
        model: str = "m",
        usage: Mapping[str, Any] | None = None,
        delay: float = 0.0,
        get: Callable[[str], Raw] | None = None,
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.gets: list[str] = []
        self._lock = threading.Lock()
        handler = _handler(self, respond, model, usage, delay, get)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        #: the base URL, ``http://127.0.0.1:PORT/v1``
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def record(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(payload)

    def record_get(self, path: str) -> None:
        with self._lock:
            self.gets.append(path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler(
    fake: FakeOpenAI,
    respond: Callable[[dict[str, Any]], Reply],
    model: str,
    usage: Mapping[str, Any] | None,
    delay: float,
    get: Callable[[str], Raw] | None,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            fake.record_get(self.path)
            if self.path.rstrip("/").endswith("/models"):
                self._send(Raw(body={"object": "list", "data": [{"id": model, "object": "model"}]}))
            elif get is not None:
                self._send(get(self.path))
            else:
                self._send(Raw(404, {"error": {"message": f"no route {self.path}"}}))

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.record(payload)
            if delay:
                time.sleep(delay)
            reply = respond(payload)
            if isinstance(reply, Raw):
                self._send(reply)
            elif isinstance(reply, tuple):
                self._send(Raw(reply[0], {"error": {"message": reply[1]}}))
            elif isinstance(reply, str) and payload.get("stream"):
                self._send_stream(reply)
            elif isinstance(reply, str):
                self._send(Raw(body=completion(reply, usage)))
            else:
                self._send(Raw(body=dict(reply)))

        def _send(self, reply: Raw) -> None:
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(reply.length if reply.length is not None else len(body)))
            self.end_headers()
            if reply.chunks is None:
                self.wfile.write(body)
                return
            for chunk in reply.chunks:
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except OSError:  # the client left
                    return

        def _send_stream(self, text: str) -> None:
            """``stream=true``: the text as server-sent events, one word per chunk, then [DONE]."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            pieces = [w + " " for w in text.split(" ")]
            pieces[-1] = pieces[-1][:-1]
            chunks: list[dict[str, Any]] = [
                {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                for piece in pieces
            ]
            chunks.append({"choices": [], "usage": dict(usage)} if usage is not None else {"choices": []})
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler
