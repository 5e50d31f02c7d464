"""Session-wide fixtures: the tiny random checkpoints, built once per test session.

The directories are shared by every test module that asks for them, so tests must only read them
(copy a directory under ``tmp_path`` before changing any file in it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_vl_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"qwen2_5_vl": dir, "qwen3_vl": dir}``: tiny Qwen2.5-VL / Qwen3-VL checkpoints with the builders'
    default settings (seed 0, hidden size 64, stock image bounds) and one default tiny tokenizer."""
    from pixelthink.miniature.model import build_tiny_qwen2_5_vl, build_tiny_qwen3_vl, build_tiny_tokenizer

    root = tmp_path_factory.mktemp("tiny_vl")
    tok = build_tiny_tokenizer()
    return {
        "qwen2_5_vl": build_tiny_qwen2_5_vl(root / "q25", tokenizer=tok),
        "qwen3_vl": build_tiny_qwen3_vl(root / "q3", tokenizer=tok),
    }


@pytest.fixture(scope="session")
def tiny_sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SAM2 checkpoint with a 128x128 image encoder input (seed 0)."""
    from pixelthink.miniature.model import build_tiny_sam2

    return build_tiny_sam2(tmp_path_factory.mktemp("tiny_sam2") / "sam2", image_size=128)


@pytest.fixture(scope="session")
def tiny_models(tiny_vl_dirs: dict[str, Path], tiny_sam2_dir: Path) -> tuple[Path, Path]:
    """``(qwen2_5_vl_dir, sam2_dir)`` for end-to-end pipeline tests."""
    return tiny_vl_dirs["qwen2_5_vl"], tiny_sam2_dir


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[Callable[..., str]]:
    """Start OpenAI chat-completions stand-ins on loopback: ``start(answer_for, usage=None) -> base URL``.

    ``answer_for(prompt_text) -> str`` gives the assistant message for a request's text part; the model
    list serves one model, ``scripted``; with ``stream: true`` the answer comes as server-sent events,
    one word per chunk. The real ``OpenAIReasoner`` talks to it over HTTP, so tests can
    check the success path of the pipeline with exact answers. Servers stop at the end of the module.
    """
    servers: list[ThreadingHTTPServer] = []

    def start(answer_for: Callable[[str], str], usage: dict[str, Any] | None = None) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, obj: dict[str, Any]) -> None:
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = payload["messages"][0]["content"][1]["text"]
                message = {"role": "assistant", "content": answer_for(prompt)}
                reply: dict[str, Any] = {
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]
                }
                if usage is not None:
                    reply["usage"] = usage
                if payload.get("stream"):
                    self._send_stream(message["content"], usage)
                else:
                    self._send(reply)

            def _send_stream(self, text: str, usage: dict[str, Any] | None) -> None:
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
                chunks.append({"choices": [], "usage": usage} if usage is not None else {"choices": []})
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chat_server() -> Iterator[Callable[..., tuple[str, list[dict[str, Any]]]]]:
    """OpenAI chat-completions stand-ins for LLM judges: ``start(reply, delay=0.0) -> (base URL, requests)``.

    ``reply(payload) -> str`` gives the assistant message for a request (its whole JSON body, so a test can
    read the text part, the image part, the temperature...); a ``(status, message)`` tuple answers with
    that HTTP error instead. ``requests`` collects every chat request's payload, in arrival order. The model
    list serves one model, ``judge``. Text-only requests are accepted. Servers stop at the end of the module.
    """
    servers: list[ThreadingHTTPServer] = []

    def start(reply: Callable[[dict[str, Any]], Any], delay: float = 0.0) -> tuple[str, list[dict[str, Any]]]:
        import time

        seen: list[dict[str, Any]] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, obj: dict[str, Any], status: int = 200) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": "judge", "object": "model"}]})

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    seen.append(payload)
                if delay:
                    time.sleep(delay)
                answer = reply(payload)
                if isinstance(answer, tuple):
                    self._send({"error": {"message": answer[1]}}, status=answer[0])
                    return
                message = {"role": "assistant", "content": answer}
                self._send({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def serve_process() -> Iterator[Callable[..., str]]:
    """Start real ``pixelthink serve`` processes on loopback: ``start(model_dir, name) -> base URL``.

    Each server binds a free port chosen at run time and is polled until ``GET /v1/models`` answers
    (:func:`_servers.start_server`: 300 s at most, for busy machines); servers stop at the end of
    the module.
    """
    import subprocess
    import sys

    from _servers import free_port, start_server, stop_server

    procs: list[subprocess.Popen[str]] = []

    def start(model_dir: Path, name: str) -> str:
        port = free_port()
        cmd = [sys.executable, "-m", "pixelthink.cli", "serve", str(model_dir), "--port", str(port),
               "--model-name", name, "--log-level", "warning"]  # fmt: skip
        url = f"http://127.0.0.1:{port}/v1"
        procs.append(start_server(cmd, f"{url}/models"))
        return url

    yield start
    for proc in procs:
        stop_server(proc)
