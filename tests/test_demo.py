"""The README's main job (``pixelthink demo``) end to end on a few samples."""

from __future__ import annotations

import json
from pathlib import Path

from pixelthink.cli import main


def test_demo_runs_end_to_end_and_resumes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--samples", "6"]) == 0
    oracle = json.loads((out / "oracle.eval.json").read_text())
    tiny = json.loads((out / "tiny-random.eval.json").read_text())
    # The oracle answers with the ground-truth prompts: GrabCut on clean shapes is near perfect.
    assert oracle["buckets"]["all"]["n"] == 6
    assert oracle["buckets"]["all"]["giou"] > 0.8
    assert oracle["buckets"]["all"]["fail_rate"] == 0.0
    # The random model's outputs are recorded as failures, not dropped.
    assert tiny["buckets"]["all"]["n"] == 6
    assert tiny["settings"]["convention"] == "lisa"
    printed = capsys.readouterr().out
    assert "convention=lisa" in printed
    index = out / "report" / "index.html"
    assert f"report: {index}" in printed
    html = index.read_text()
    assert "oracle" in html.lower() and "tiny-random" in html

    # Re-running reuses the benchmark and every prediction already written.
    lines_before = (out / "tiny-random.preds.jsonl").read_text().count("\n")
    assert main(["demo", "--out", str(out), "--samples", "6"]) == 0
    assert (out / "tiny-random.preds.jsonl").read_text().count("\n") == lines_before
    assert "reusing benchmark" in capsys.readouterr().out
