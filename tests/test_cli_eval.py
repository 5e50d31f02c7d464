"""``pixelthink eval``: table on stdout, JSON report, errors in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.cli import main
from pixelthink.data import BenchmarkWriter
from pixelthink.predictions import Prediction, PredictionWriter


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    bench = tmp_path / "bench"
    gt = np.zeros((8, 8), dtype=bool)
    gt[2:6, 2:6] = True  # 16 px
    image = Image.new("RGB", (8, 8))
    with BenchmarkWriter(bench) as w:
        for i, diff in enumerate([2.0, 4.0, 6.0]):
            w.add({"id": f"s{i}", "query": "q", "mask": gt, "difficulty": diff}, image, image_name="a.png")
        for i in range(3, 10):  # seven more hard samples without predictions
            w.add({"id": f"s{i}", "query": "q", "mask": gt, "difficulty": 9.0}, image, image_name="a.png")
    preds = tmp_path / "preds.jsonl"
    half = np.zeros((8, 8), dtype=bool)
    half[2:6, 2:4] = True  # 8 px inside the GT: IoU 8/16
    with PredictionWriter(preds) as pw:
        pw.write(Prediction.with_mask("s0", gt, response="<think>a b c</think><answer></answer>"))
        pw.write(Prediction.with_mask("s1", half, response="<think>a</think><answer></answer>"))
        pw.write(Prediction(id="s2", bbox=(2.0, 2.0, 5.0, 5.0)))
    return bench, preds


def test_eval_prints_table_and_writes_json(files, tmp_path, capsys):
    bench, preds = files
    out = tmp_path / "report.json"
    rc = main(
        [
            "eval",
            "--data",
            str(bench),
            "--predictions",
            str(preds),
            "--convention",
            "segzero",
            "--out",
            str(out),
            "--judge",
            "none",
            "--no-progress",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "convention=segzero" in text.splitlines()[0]
    assert "missing 7" in text
    # first five missing ids, then the count of the rest
    assert "s3, s4, s5, s6, s7 (+2 more)" in text
    data = json.loads(out.read_text())
    # segzero: s0 16/16, s1 8/16, s2 box = GT 16/16, 7 missing at 0/16 -> gIoU = 2.5 / 10
    assert data["buckets"]["all"]["giou"] == pytest.approx(0.25)
    # cIoU = (16 + 8 + 16) / (16 * 10) = 0.25
    assert data["buckets"]["all"]["ciou"] == pytest.approx(0.25)
    assert data["buckets"]["hard"]["n"] == 8 and data["buckets"]["hard"]["n_failed"] == 7
    assert len(data["missing_ids"]) == 7 and len(data["samples"]) == 10


def test_eval_lisa_default_and_no_samples(files, tmp_path, capsys):
    bench, preds = files
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "eval",
                "--data",
                str(bench),
                "--predictions",
                str(preds),
                "--out",
                str(out),
                "--no-samples",
                "--tau-hard",
                "3.0",
                "--tau-medium",
                "1.0",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "convention=lisa" in text
    data = json.loads(out.read_text())
    assert "samples" not in data
    assert data["settings"]["tau_hard"] == 3.0
    # with tau_medium 1.0 and tau_hard 3.0, difficulty 2.0 is medium and nothing is easy
    assert data["buckets"]["easy"]["n"] == 0 and data["buckets"]["medium"]["n"] == 1
    assert data["settings"]["judge"] == "rougeL-ref"


def test_eval_errors_are_one_line(files, tmp_path, capsys):
    bench, _ = files
    rc = main(["eval", "--data", str(bench), "--predictions", str(tmp_path / "none.jsonl")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "pixelthink eval: error:" in err and "none.jsonl" in err
    rc = main(
        ["eval", "--data", str(bench), "--predictions", str(tmp_path / "none.jsonl"), "--judge", "nope"]
    )
    assert rc == 2 and "unknown judge 'nope'" in capsys.readouterr().err


def test_eval_predictions_of_another_benchmark_exit_2(files, tmp_path, capsys):
    bench, _ = files
    other = tmp_path / "other.jsonl"
    with PredictionWriter(other) as pw:
        for i in range(3):
            pw.write(Prediction(id=f"coco_{i}", bbox=(0.0, 0.0, 1.0, 1.0)))
    rc = main(["eval", "--data", str(bench), "--predictions", str(other), "--judge", "none", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""  # no all-zero table
    err = captured.err.strip()
    assert len(err.splitlines()) == 1
    assert "none of the 3 prediction ids" in err and f"is in {bench} (all splits" in err
    assert err.endswith("wrong --data or --split?")
