"""Regression tests of issue 18 (a newcomer's and an adversary's probe) at the command line.

Concurrent writers of one predictions file, over-long queries, decompression bombs, integers beyond
float range, invalid UTF-8, garbage RLE, ``--out`` pointing at a directory. Each user error must be one
line on stderr with exit 2 (no traceback); each per-sample failure must be recorded while the rest of
the run is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.cli import main
from pixelthink.data import BenchmarkWriter
from pixelthink.predictions import PredictionWriter, read_predictions

# 160x120 scene, block at x 30..99, y 40..89; in the 840x840 model frame the answer below is that block.
GOOD = (
    "<think>The bright block.</think>"
    '<answer>{"bbox": [157.5, 280, 519.75, 623], "points_1": [336, 448], "points_2": [262.5, 560]}</answer>'
)


def _scene() -> tuple[Image.Image, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(60, 15, (120, 160, 3))
    obj = np.zeros((120, 160), bool)
    obj[40:90, 30:100] = True
    image[obj] = rng.normal([200, 90, 50], 15, (int(obj.sum()), 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)), obj


@pytest.fixture(scope="module")
def server_url(scripted_server) -> str:
    return scripted_server(lambda prompt: GOOD, usage={"completion_tokens": 30})


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    """3 samples on one scene: ids a, b, c."""
    root = tmp_path_factory.mktemp("bench") / "bench"
    image, obj = _scene()
    with BenchmarkWriter(root, name="tiny") as writer:
        for sample_id in "abc":
            writer.add({"id": sample_id, "query": f"the block {sample_id}", "mask": obj}, image)
    return root


def _run_cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``pixelthink ARGV`` in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "pixelthink.cli", *argv], capture_output=True, text=True, timeout=timeout
    )


def _one_line_error(proc: subprocess.CompletedProcess[str] | str) -> str:
    err = proc if isinstance(proc, str) else proc.stderr
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------------- 2. concurrent writers


def test_a_second_writer_of_the_same_predictions_file_is_refused(tmp_path, bench, server_url) -> None:
    out = tmp_path / "preds.jsonl"
    assert main(["predict", "--data", str(bench), "--out", str(out), "--reasoner", server_url,
                 "--model", "scripted", "--limit", "1", "--no-progress"]) == 0  # fmt: skip
    before = out.read_bytes()
    # process 1 holds the file as a running `predict` does (a writer open for the whole run) ...
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from pixelthink.predictions import PredictionWriter
            with PredictionWriter({str(out)!r}):
                print("locked", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        # ... process 2, a real `pixelthink predict` on the same --out, resuming or overwriting, stops at once
        for extra in ([], ["--overwrite"]):
            proc = _run_cli("predict", "--data", str(bench), "--out", str(out), "--reasoner", server_url,
                            "--model", "scripted", "--no-progress", *extra)  # fmt: skip
            assert proc.returncode == 2, proc.stderr
            line = _one_line_error(proc)
            assert str(out) in line and "being written by another process" in line, line
            assert out.read_bytes() == before  # not truncated, nothing appended
        # an in-process writer is refused too (the lock is per open file, not per process)
        with pytest.raises(FileExistsError, match="another process"):
            PredictionWriter(out)
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    # once the first writer is done, the run resumes normally and every id is there exactly once
    assert main(["predict", "--data", str(bench), "--out", str(out), "--reasoner", server_url,
                 "--model", "scripted", "--no-progress"]) == 0  # fmt: skip
    assert sorted(p.id for p in read_predictions(out)) == ["a", "b", "c"]


def test_two_predict_processes_racing_on_one_file_leave_it_valid(tmp_path, bench, server_url) -> None:
    out = tmp_path / "race.jsonl"
    argv = ["predict", "--data", str(bench), "--out", str(out), "--reasoner", server_url, "--model",
            "scripted", "--no-progress", "--batch-size", "1"]  # fmt: skip
    procs = [
        subprocess.Popen([sys.executable, "-m", "pixelthink.cli", *argv], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    codes = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        codes.append(proc.returncode)
        if proc.returncode:
            assert "being written by another process" in _one_line_error(err)
    assert 0 in codes and set(codes) <= {0, 2}
    # valid JSON lines and no duplicate id (read_predictions checks both), every id once: the loser
    # stopped before writing, or (when it started after the winner finished) resumed with nothing to do
    ids = [p.id for p in read_predictions(out)]
    assert sorted(ids) == ["a", "b", "c"]


# ------------------------------------------------------------------------- 8. --out is a directory


def test_predict_out_pointing_at_a_directory_is_a_one_line_error(tmp_path, bench, capsys) -> None:
    (tmp_path / "preds").mkdir()
    rc = main(["predict", "--data", str(bench), "--out", str(tmp_path / "preds"), "--reasoner",
               "http://127.0.0.1:9/v1", "--model", "x", "--no-progress"])  # fmt: skip
    assert rc == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "is a directory" in line and "preds" in line
    assert os.listdir(tmp_path / "preds") == []
