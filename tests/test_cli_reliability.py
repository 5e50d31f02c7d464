"""Regression tests of issue 26 (reliability, round 2), part A, at the command line.

A lone surrogate in a query, an output path that is one of the command's inputs, ordinary OS errors
(a directory where a file is expected, a full disk, a path that cannot be written), broken annotation
caches, non-positive timeouts. Each user error must be one line on stderr with exit 2 (no traceback);
each per-sample problem must be a recorded failure while the rest of the run is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli_hardening import _bench_with, _one_line_error
from test_cli_segment_predict import GOOD, _scene

from pixelthink.cli import main
from pixelthink.predictions import read_predictions

SURROGATE = "\ud800"  # legal in JSON ("\\ud800"), not encodable as UTF-8


@pytest.fixture(scope="module")
def server_url(scripted_server) -> str:
    return scripted_server(lambda prompt: GOOD, usage={"completion_tokens": 30})


def _bench_with_surrogate(tmp_path: Path) -> Path:
    """Samples a, bad, c; bad's query holds a lone surrogate, written as JSON writes it (an escape)."""
    root = _bench_with(tmp_path, {"a": "the block", "bad": "the MARK block", "c": "the block?"})
    samples = root / "samples.jsonl"
    samples.write_text(samples.read_text(encoding="utf-8").replace("MARK", "\\ud800"), encoding="utf-8")
    return root


# ------------------------------------------------------------------------- 1. a lone surrogate in a query


def test_check_query_names_the_lone_surrogate() -> None:
    from pixelthink.answer import check_query, query_problem

    assert check_query("the block") == "the block"
    assert query_problem("the block") is None
    with pytest.raises(
        ValueError, match=r"^query: not valid Unicode text: a lone surrogate '\\ud800' at character 4"
    ):
        check_query("the " + SURROGATE)
    with pytest.raises(ValueError, match=r"^query: .*exceeds the limit of 4,096"):
        check_query("x" * 5000)
    assert query_problem("x" * 5000, None) is None
    with pytest.raises(ValueError, match=r"^query: query must be a string, got int"):
        check_query(3)


def test_data_validate_reports_a_lone_surrogate_in_a_query(tmp_path, capsys) -> None:
    root = _bench_with_surrogate(tmp_path)
    assert main(["data", "validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "samples.jsonl:2: field 'query': not valid Unicode text: a lone surrogate '\\ud800'" in out, out


def test_predict_records_a_lone_surrogate_query_as_a_failure(tmp_path, server_url, capsys) -> None:
    root = _bench_with_surrogate(tmp_path)
    out = tmp_path / "preds.jsonl"
    argv = ["predict", "--data", str(root), "--out", str(out), "--reasoner", server_url, "--model",
            "scripted", "--resolution", "112", "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    preds = {p.id: p for p in read_predictions(out)}
    assert sorted(preds) == ["a", "bad", "c"]  # the rest of the run is written
    assert preds["a"].error is None and preds["c"].error is None
    assert preds["bad"].error.startswith("query: not valid Unicode text: a lone surrogate")
    # a resume does not stop on it: the failure is recorded, nothing is left to do
    assert main(argv) == 0
    assert "3 of 3 selected samples already done" in capsys.readouterr().out


def test_segment_refuses_a_lone_surrogate_query_in_one_line(tmp_path, server_url, capsys) -> None:
    image, _ = _scene()
    image.save(tmp_path / "scene.png")
    rc = main(["segment", str(tmp_path / "scene.png"), "the " + SURROGATE, "--reasoner", server_url,
               "--model", "scripted", "--out", str(tmp_path / "o.png")])  # fmt: skip
    assert rc == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "query: not valid Unicode text: a lone surrogate '\\ud800' at character 4" in line, line


def test_annotate_records_a_lone_surrogate_query_as_a_failure(tmp_path, capsys) -> None:
    root = _bench_with_surrogate(tmp_path)
    argv = ["annotate", "difficulty", str(root), "--method", "heuristic", "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "(2 ok, 1 failed" in out and "failures: query 1" in out, out
    (cache,) = (root / "annotations").glob("difficulty.heuristic.*.jsonl")
    records = {r["id"]: r for r in map(json.loads, cache.read_text(encoding="utf-8").splitlines())}
    assert records["bad"]["status"] == "failed"
    assert records["bad"]["errors"][0].startswith("query: not valid Unicode text: a lone surrogate")
    # the other samples are rated, and the bad query is kept as it was (an escape in the file)
    samples = [json.loads(line) for line in (root / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [s["difficulty"] is not None for s in samples] == [True, False, True]
    assert samples[1]["query"] == "the " + SURROGATE + " block"


def test_report_shows_a_lone_surrogate_query_escaped(tmp_path, server_url, capsys) -> None:
    root = _bench_with_surrogate(tmp_path)
    preds = tmp_path / "preds.jsonl"
    assert main(["predict", "--data", str(root), "--out", str(preds), "--reasoner", server_url, "--model",
                 "scripted", "--resolution", "112", "--no-progress"]) == 0  # fmt: skip
    report = tmp_path / "report"
    assert main(["report", "--data", str(root), "--predictions", str(preds), "--out", str(report)]) == 0, (
        capsys.readouterr().err
    )
    page = (report / "index.html").read_text(encoding="utf-8")
    assert '<div class="query">the \\ud800 block</div>' in page
