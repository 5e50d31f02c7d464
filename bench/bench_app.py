"""Throughput and latency of ``POST /v1/segment`` (a script, not a test): prints a Markdown table.

Starts ``pixelthink app`` (default: the shipped tiny model + GrabCut) on a free loopback port and, for
each number of concurrent clients, sends ``--requests`` requests per client (base64 PNGs of the
embedded examples, their queries), each client waiting for its answer before the next. Reports
requests/s (completed / wall time), client-side latency p50 / p99, the model's own time per request
(the answer's ``timings.total``) and how many requests got 429 (the queue, ``--max-queue``, is set
above the largest client count, so there should be none).

Usage: ``.venv/bin/python bench/bench_app.py [--clients 1,4,16] [--requests 4] [--reasoner PATH_OR_URL]``
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def start_app(args: argparse.Namespace, port: int, max_queue: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pixelthink.cli", "app", "--port", str(port), "--log-level", "warning",
           "--max-queue", str(max_queue), "--max-new-tokens", str(args.max_new_tokens)]  # fmt: skip
    if args.reasoner:
        cmd += ["--reasoner", args.reasoner]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"pixelthink app exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("pixelthink app did not start within 180 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", default="1,4,16", help="concurrent clients per level (default: %(default)s)"
    )
    parser.add_argument("--requests", type=int, default=4, help="requests per client (default: %(default)s)")
    parser.add_argument("--reasoner", default=None, help="default: the shipped tiny model")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    port = free_port()
    proc = start_app(args, port, max_queue=max(levels) + 1)
    url = f"http://127.0.0.1:{port}"
    try:
        examples = httpx.get(f"{url}/v1/examples").json()["examples"]
        bodies = [
            {
                "image": base64.b64encode(httpx.get(f"{url}/v1/examples/{e['name']}.png").content).decode(),
                "query": e["query"],
            }
            for e in examples
        ]
        httpx.post(f"{url}/v1/segment", json=bodies[0], timeout=300)  # warm-up

        def client(index: int) -> list[tuple[int, float, float]]:
            out = []
            with httpx.Client(timeout=600) as http:
                for k in range(args.requests):
                    body = bodies[(index + k) % len(bodies)]
                    t0 = time.perf_counter()
                    response = http.post(f"{url}/v1/segment", json=body)
                    latency = time.perf_counter() - t0
                    model = response.json()["timings"]["total"] if response.status_code == 200 else 0.0
                    out.append((response.status_code, latency, model))
            return out

        print(f"pixelthink app, {args.reasoner or 'shipped tiny model'} + GrabCut, CPU, {os.cpu_count()} cores, "
              f"max-new-tokens {args.max_new_tokens}, {args.requests} requests per client; one model worker\n")  # fmt: skip
        print(
            "| clients | requests | ok | 429 | requests/s | p50 latency s | p99 latency s | model s/request |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for n in levels:
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(n) as pool:
                rows = [r for part in pool.map(client, range(n)) for r in part]
            wall = time.perf_counter() - started
            ok = [r for r in rows if r[0] == 200]
            latencies = [r[1] for r in ok]
            print(
                f"| {n} | {len(rows)} | {len(ok)} | {sum(r[0] == 429 for r in rows)} | {len(ok) / wall:.2f} | "
                f"{percentile(latencies, 50):.2f} | {percentile(latencies, 99):.2f} | "
                f"{statistics.mean(r[2] for r in ok):.2f} |",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
