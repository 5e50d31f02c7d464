"""Annotation and the LLM RScore judge end to end against REAL server processes on loopback.

* ``pixelthink serve`` with a tiny random Qwen2.5-VL: every backend path (judge difficulty, references,
  pass rate, RScore) talks to it over HTTP. Its replies are garbage, which must become recorded failures
  without stopping the run.
* ``kill -9``: a real ``pixelthink annotate`` process killed in the middle of a run against a slow judge;
  the resumed run loses nothing and duplicates nothing.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.annotate import JudgeDifficulty, JudgeReferences, cached_records, run_annotation
from pixelthink.data import Benchmark, BenchmarkWriter
from pixelthink.evaluate import evaluate
from pixelthink.evaluate.llm_judge import LLMJudge
from pixelthink.models.registry import load_chat_model
from pixelthink.predictions import Prediction, PredictionWriter

NAME = "tiny-judge"
W, H = 56, 56


def _bench(root: Path, n: int) -> Benchmark:
    rng = np.random.default_rng(0)
    with BenchmarkWriter(root, name="toy") as w:
        for i in range(n):
            mask = np.zeros((H, W), bool)
            mask[8 : 20 + 3 * i, 10 : 30 + 2 * i] = True
            sample = {
                "id": f"s{i}",
                "query": f"object number {i}",
                "mask": mask,
                "reasoning_short": "the object on the left",
            }
            w.add(sample, Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)))
    return Benchmark(root)


@pytest.fixture(scope="module")
def tiny_url(tiny_vl_dirs, serve_process):
    return serve_process(tiny_vl_dirs["qwen2_5_vl"], NAME)


def test_judge_difficulty_garbage_is_recorded(tiny_url, tmp_path):
    chat, name, backend = load_chat_model(tiny_url, model=NAME, max_new_tokens=12, concurrency=4)
    bench = _bench(tmp_path / "b", 3)
    judge = JudgeDifficulty(
        chat, model_name=name, backend=backend, votes=2, temperature=1.0, retries=1, resolution=56
    )
    summary = run_annotation(bench, judge, batch_size=2)
    assert (summary.written, summary.ok, summary.failed) == (3, 0, 3)
    records = cached_records(bench.root / "annotations", "difficulty", judge.key)
    for record in records.values():
        assert record["status"] == "failed" and record["n_failed_votes"] == 2 and record["difficulty"] is None
        assert record["failure"] == "reply"  # replies came, none parsed
        assert len(record["errors"]) == 4  # 2 votes x 2 attempts, each with its reason
        assert all(e.startswith(("no JSON object", "field ")) for e in record["errors"]), record["errors"]
    # a re-run resumes: nothing left to ask
    assert run_annotation(bench, judge).written == 0


def test_references_garbage_is_recorded(tiny_url, tmp_path):
    chat, name, _ = load_chat_model(tiny_url, model=NAME, max_new_tokens=12)
    bench = _bench(tmp_path / "b", 2)
    refs = JudgeReferences(chat, model_name=name, retries=1, resolution=56, max_new_tokens=12)
    summary = run_annotation(bench, refs)
    assert (summary.ok, summary.failed) == (0, 2)
    record = cached_records(bench.root / "annotations", "references", refs.key)["s0"]
    assert record["short"]["attempts"] == 2 and record["reasoning_short"] is None
    assert record["status"] == "failed" and record["failure"] == "reply"
    assert record["short"]["errors"][0].startswith(("format:", "length:", "answer:"))


def test_text_only_judge_on_a_one_image_server_fails_per_item(tiny_url, tmp_path):
    chat, _, _ = load_chat_model(tiny_url, model=NAME, max_new_tokens=4, max_retries=0)
    replies = chat.chat([None, Image.new("RGB", (56, 56))], ["grade this", "grade that"], temperature=0)
    assert isinstance(replies[0], Exception) and "HTTP 400" in str(replies[0])
    assert isinstance(replies[1], str)


def test_passrate_through_the_server(tiny_url, tmp_path):
    bench = _bench(tmp_path / "b", 2)
    from pixelthink.cli import main

    code = main(
        ["annotate", "difficulty", str(bench.root), "--method", "passrate", "--reasoner", tiny_url, "--model", NAME,
         "--votes", "3", "--max-new-tokens", "12", "--reasoner-resolution", "56", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    cache = next((bench.root / "annotations").glob("difficulty.passrate.*.jsonl"))
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"]
    for r in records:
        assert len(r["hits"]) == 3 and r["difficulty"] == pytest.approx(1 + 9 * (1 - r["pass_rate"]))
    assert [s.difficulty for s in Benchmark(bench.root)] == [r["difficulty"] for r in records]


def test_rscore_judge_through_the_server(tiny_url, tmp_path):
    bench = _bench(tmp_path / "b", 2)
    with PredictionWriter(tmp_path / "p.jsonl") as pw:
        pw.write(Prediction(id="s0", response="<think>the left object</think><answer>{}</answer>"))
        pw.write(Prediction(id="s1", response="<think></think><answer>{}</answer>"))
    chat, name, backend = load_chat_model(tiny_url, model=NAME, max_new_tokens=8)
    judge = LLMJudge(
        chat, model_name=name, backend=backend, cache=tmp_path / "c.jsonl", retries=1, resolution=56
    )
    report = evaluate(bench.root, tmp_path / "p.jsonl", judge=judge)
    rscores = {s.id: s.rscore for s in report.samples}
    assert rscores == {"s0": None, "s1": 0.0}  # garbage -> judge failure; empty think -> 0 without asking
    assert report.counts["judge_failures"] == 1 and report.settings["judge"] == f"llm:{NAME}"


# ----------------------------------------------------------------------------------- kill -9


def test_resume_after_kill_9_loses_and_duplicates_nothing(chat_server, tmp_path):
    n = 12
    bench = _bench(tmp_path / "b", n)
    gate = (
        threading.Event()
    )  # held shut until the kill: the run cannot finish first, however busy the machine

    def index(payload) -> int:
        text = next(p["text"] for p in payload["messages"][0]["content"] if p["type"] == "text")
        return int(re.search(r"object number (\d+)", text).group(1))

    def reply(payload):
        i = index(payload)
        if i >= 3:
            gate.wait(timeout=600)
        return f'{{"overall": {1 + i % 9}}}'

    url, requests = chat_server(reply)
    cmd = [sys.executable, "-m", "pixelthink.cli", "annotate", "difficulty", str(bench.root), "--judge", url,
           "--model", "judge", "--batch-size", "1", "--resolution", "56", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = bench.root / "annotations"
    deadline = time.monotonic() + 300  # a new process imports a lot; the machine may be busy
    cache: Path | None = None
    try:
        while time.monotonic() < deadline:  # polling for the file, not a sleep standing in for an event
            files = list(root.glob("difficulty.judge.*.jsonl")) if root.is_dir() else []
            if files and len(files[0].read_bytes().splitlines()) >= 3:
                cache = files[0]
                break
            if proc.poll() is not None:
                pytest.fail(f"annotate exited early: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.02)
        assert cache is not None, "no progress within 300 s"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        gate.set()
    assert proc.returncode == -signal.SIGKILL
    before = [json.loads(line)["id"] for line in cache.read_text().splitlines() if line.strip()]
    assert before == ["s0", "s1", "s2"]  # s3 was in flight (held at the server) when the run was killed

    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 already cached" in resumed.stdout
    ids = [json.loads(line)["id"] for line in cache.read_text().splitlines()]
    assert sorted(ids) == sorted(f"s{i}" for i in range(n)) and len(ids) == len(set(ids)) == n
    assert ids[:3] == before  # what was written before the kill is kept as it was
    # Counted per sample, not by position or total at a moment (the killed run's last request may reach
    # the server's list late): the cached samples were asked once, the rest once by the resumed run, and
    # at most one of them (the one in flight at the kill) once more.
    asks = Counter(index(r) for r in requests)
    assert [asks[i] for i in range(3)] == [1, 1, 1]
    assert all(1 <= asks[i] <= 2 for i in range(3, n)) and sum(asks[i] for i in range(3, n)) <= n - 3 + 1
    assert {s.id: s.difficulty for s in Benchmark(bench.root)} == {f"s{i}": 1 + i % 9 for i in range(n)}


def test_local_transformers_judge_backend(tiny_vl_dirs, tmp_path):
    """The same judge through the local backend (transformers in this process): garbage is recorded too."""
    chat, name, backend = load_chat_model(str(tiny_vl_dirs["qwen2_5_vl"]), max_new_tokens=6, device="cpu")
    assert name == "q25" and backend == str(tiny_vl_dirs["qwen2_5_vl"])
    replies = chat.chat([None, Image.new("RGB", (56, 56)), None], ["a", "b", "c"], temperature=0)
    assert len(replies) == 3 and all(isinstance(r, str) for r in replies)
    bench = _bench(tmp_path / "b", 2)
    judge = JudgeDifficulty(chat, model_name=name, retries=1, resolution=56, max_new_tokens=6)
    summary = run_annotation(bench, judge)
    assert (summary.ok, summary.failed) == (0, 2)
    records = cached_records(bench.root / "annotations", "difficulty", judge.key)
    assert all(len(r["errors"]) == 2 for r in records.values())
