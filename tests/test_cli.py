"""The CLI front: discovery of sub-commands and one-line user errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from PIL import Image

from pixelthink.cli import build_parser, main


def test_every_command_is_registered() -> None:
    text = build_parser().format_help()
    for name in ("data", "demo", "eval", "predict", "report", "segment", "serve", "train"):
        assert name in text


def test_parser_is_built_without_the_servers_web_framework() -> None:
    """The command line reads the servers' limits while it builds its parser; without the ``ml`` extra's
    web framework (starlette, fastapi, uvicorn) it must still start (it imported starlette through
    httpsafety before the limits moved to ``serving.limits``)."""
    code = (
        "import sys\n"
        "for name in ('starlette', 'fastapi', 'uvicorn'):\n"
        "    sys.modules[name] = None  # 'import starlette' now raises ImportError\n"
        "from pixelthink.cli import build_parser\n"
        "text = build_parser().format_help()\n"
        "assert 'serve' in text and 'app' in text, text\n"
        "assert 'starlette.requests' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_no_command_prints_help_and_fails(capsys) -> None:
    assert main([]) == 2
    assert "usage: pixelthink" in capsys.readouterr().out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_unreachable_server_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    image = tmp_path / "x.png"
    Image.new("RGB", (32, 24), "red").save(image)
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    rc = main(
        [
            "segment",
            str(image),
            "the red thing",
            "--reasoner",
            url,
            "--model",
            "m",
            "--out",
            str(tmp_path / "o.png"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "cannot reach" in err and "is the server running?" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
