"""Session-wide fixtures: the tiny random checkpoints, built once per test session.

The directories are shared by every test module that asks for them, so tests must only read them
(copy a directory under ``tmp_path`` before changing any file in it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, prompt_text


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
    check the success path of the pipeline with exact answers. Servers (``fake_openai.FakeOpenAI``) stop
    at the end of the module.
    """
    servers: list[FakeOpenAI] = []

    def start(answer_for: Callable[[str], str], usage: dict[str, Any] | None = None) -> str:
        servers.append(
            FakeOpenAI(lambda payload: answer_for(prompt_text(payload)), model="scripted", usage=usage)
        )
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def chat_server() -> Iterator[Callable[..., tuple[str, list[dict[str, Any]]]]]:
    """OpenAI chat-completions stand-ins for LLM judges: ``start(reply, delay=0.0) -> (base URL, requests)``.

    ``reply(payload) -> str`` gives the assistant message for a request (its whole JSON body, so a test can
    read the text part, the image part, the temperature...); a ``(status, message)`` tuple answers with
    that HTTP error instead. ``requests`` collects every chat request's payload, in arrival order. The model
    list serves one model, ``judge``. Text-only requests are accepted. Servers (``fake_openai.FakeOpenAI``)
    stop at the end of the module.
    """
    servers: list[FakeOpenAI] = []

    def start(reply: Callable[[dict[str, Any]], Any], delay: float = 0.0) -> tuple[str, list[dict[str, Any]]]:
        servers.append(FakeOpenAI(reply, model="judge", delay=delay))
        return servers[-1].url, servers[-1].requests

    yield start
    for server in servers:
        server.close()


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
