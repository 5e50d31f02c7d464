"""Helpers for tests that run real server processes on loopback (free ports, start/stop, test images)."""

from __future__ import annotations

import io
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Sequence

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (chosen by the OS)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    cmd: Sequence[str], ready_url: str, *, timeout: float = 300.0, headers: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start ``cmd`` and wait until ``GET ready_url`` answers 200; raises with its output if it dies.

    The generous default timeout is for shared, overloaded machines, where importing torch alone in a
    niced process has taken minutes."""
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(ready_url, timeout=2, headers=headers).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start within {timeout:.0f} s: {proc.stdout.read()}")  # type: ignore[union-attr]
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> str:
    """Terminate the process and return what it printed."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares ``width x height`` (a decompression bomb's header, ~70 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A real RGB PNG of one colour."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def open_slow_bodies(
    url: str, path: str, count: int, headers: dict[str, str] | None = None
) -> list[socket.socket]:
    """``count`` connections to ``url`` (``http://127.0.0.1:PORT``) that send a POST's headers
    announcing 1000 bytes of body, then 8 bytes of it, then nothing (a slow or stalled client)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: 1000\r\n{extra}\r\n"
    ).encode() + b'{"query"'
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(request)
        sockets.append(sock)
    return sockets


def read_status(sock: socket.socket, timeout: float) -> tuple[int, bytes]:
    """``(status, raw reply)`` of the HTTP reply on ``sock``, read until the server closes it;
    raises ``TimeoutError`` when nothing more arrives within ``timeout`` seconds."""
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    return int(data.split(b" ", 2)[1]), data


def expect_body_timeouts(sockets: list[socket.socket], timeout: float = 120.0) -> None:
    """Each of ``sockets`` (from :func:`open_slow_bodies`) gets a 408 ``body_timeout`` reply and is
    closed by the server within ``timeout`` seconds; all are closed here in any case."""
    try:
        for sock in sockets:
            status, raw = read_status(sock, timeout=timeout)
            assert status == 408 and b"body_timeout" in raw, raw
    finally:
        for sock in sockets:
            sock.close()
