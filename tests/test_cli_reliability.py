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
from test_cli_hardening import _bench_with, _one_line_error, _run_cli
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


# ------------------------------------------------------------------------- 7. an output that is an input


@pytest.fixture
def run(tmp_path, server_url):
    """A benchmark B (3 samples), its predictions P and an evaluation, built fresh for each test."""
    root = _bench_with(tmp_path, {"a": "the block", "b": "the block?", "c": "the block!"})
    preds = tmp_path / "preds.jsonl"
    reasoner = ["--reasoner", server_url, "--model", "scripted", "--resolution", "112", "--no-progress"]
    assert main(["predict", "--data", str(root), "--out", str(preds), *reasoner]) == 0
    return {"bench": root, "preds": preds, "reasoner": reasoner, "image": root / "images" / "scene.png"}


def _unchanged(*paths: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


@pytest.mark.parametrize(
    "case",
    ["eval_samples", "eval_symlink", "eval_predictions", "annotate_export", "predict_overwrite",
     "segment_image", "export_difficulty", "import_into_itself"],
)  # fmt: skip
def test_an_output_that_is_an_input_is_refused(tmp_path, run, case, capsys) -> None:
    bench, preds = run["bench"], run["preds"]
    samples = bench / "samples.jsonl"
    (tmp_path / "link.jsonl").symlink_to(samples)
    eval_argv = ["eval", "--data", str(bench), "--predictions", str(preds), "--no-progress", "--out"]
    argv = {
        "eval_samples": [*eval_argv, str(samples)],
        "eval_symlink": [*eval_argv, str(tmp_path / "link.jsonl")],  # compared through the link
        "eval_predictions": [*eval_argv, str(preds)],
        "annotate_export": ["annotate", "difficulty", str(bench), "--method", "heuristic", "--no-progress",
                            "--export", str(samples)],
        "predict_overwrite": ["predict", "--data", str(bench), "--out", str(samples), "--overwrite",
                              *run["reasoner"]],
        "segment_image": ["segment", str(run["image"]), "the block", *run["reasoner"][:4], "--out",
                          str(run["image"])],
        "export_difficulty": ["data", "export", "difficulty", str(bench), "--out", str(samples)],
        "import_into_itself": ["data", "import", "segzero", str(bench), "--out", str(bench), "--overwrite"],
    }[case]  # fmt: skip
    before = _unchanged(samples, preds, run["image"], bench / "meta.json")
    assert main(argv) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "would destroy that input" in line, line
    assert _unchanged(*before) == before  # nothing was touched


def test_data_validate_flags_an_empty_benchmark(tmp_path, run, capsys) -> None:
    (run["bench"] / "samples.jsonl").write_text("", encoding="utf-8")
    assert main(["data", "validate", str(run["bench"])]) == 1
    assert "samples.jsonl: no samples (an empty benchmark" in capsys.readouterr().out


# ------------------------------------------------------------------------- 8. ordinary OS errors


def _os_error_argv(case: str, run: dict, tmp_path: Path) -> tuple[list[str], str, str]:
    """``(argv, path the error must name, cause)`` of each OS-error case.

    Tests run as root, whom a read-only directory does not stop: /sys refuses new files for everyone
    (PermissionError), /dev/full answers every write with ENOSPC (reached through a symlink, so nothing
    is created in /dev), a file stands where a directory is expected and the other way round.
    """
    bench, preds = str(run["bench"]), str(run["preds"])
    (tmp_path / "dir").mkdir(parents=True)
    (tmp_path / "file").write_text("x")
    full = tmp_path / "full.png"  # a name every command takes (segment wants an image suffix)
    full.symlink_to("/dev/full")
    eval_argv = ["eval", "--data", bench, "--predictions", preds, "--no-progress", "--out"]
    export = ["annotate", "difficulty", bench, "--method", "heuristic", "--no-progress", "--export"]
    segment = ["segment", str(run["image"]), "the block", *run["reasoner"][:4], "--out"]
    report = ["report", "--data", bench, "--predictions", preds, "--out"]
    predict = ["predict", "--data", bench, *run["reasoner"], "--out"]
    d, f = str(tmp_path / "dir"), str(tmp_path / "file")
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "index.html").symlink_to("/dev/full")
    cases = {
        "eval_dir": ([*eval_argv, d], d, "is a directory"),
        "eval_perm": ([*eval_argv, "/sys/pt_eval.json"], "/sys/pt_eval.json", "Permission denied"),
        "eval_full": ([*eval_argv, str(full)], str(full), "No space left on device"),
        "export_dir": ([*export, d], d, "is a directory"),
        "export_perm": ([*export, "/sys/pt_d.json"], "/sys/pt_d.json", "Permission denied"),
        "cache_perm": ([*export[:-1], "--cache-dir", "/sys/pt_c"], "/sys/pt_c", "not permitted"),
        "predict_perm": ([*predict, "/sys/pt_p.jsonl"], "/sys/pt_p", "Permission denied"),
        "predict_full": ([*predict, str(full)], str(full), "No space left on device"),
        "predict_dir_parent": ([*predict, f + "/p.jsonl"], f, "--out lies under a file, not a directory"),
        "segment_dir": ([*segment, d], d, "is a directory"),
        "segment_perm": ([*segment, "/sys/pt_o.png"], "/sys/pt_o.png", "Permission denied"),
        "segment_full": ([*segment, str(full), "--mask-out", str(tmp_path / "m.png")], str(full), "No space"),
        "report_perm": ([*report, "/sys/pt_r"], "/sys/pt_r", "not permitted"),
        "report_file": ([*report, f], f, "is a file, expected a directory"),
        "report_full": ([*report, str(tmp_path / "rep")], str(tmp_path / "rep" / "index.html"), "No space left"),
        "shapes_file": (["data", "shapes", "--out", f, "--train", "1", "--val", "0", "--test", "0"], f,
                        "is a file, expected a directory"),
        "shapes_perm": (["data", "shapes", "--out", "/sys/pt_s", "--train", "1", "--val", "0", "--test", "0"],
                        "/sys/pt_s", "not permitted"),
    }  # fmt: skip
    return cases[case]


@pytest.mark.parametrize(
    "case",
    ["eval_dir", "eval_perm", "eval_full", "export_dir", "export_perm", "cache_perm", "predict_perm",
     "predict_full", "predict_dir_parent", "segment_dir", "segment_perm", "segment_full", "report_perm",
     "report_file", "report_full", "shapes_file", "shapes_perm"],
)  # fmt: skip
def test_os_errors_are_one_line_naming_the_path(tmp_path, run, case, capsys) -> None:
    argv, path, cause = _os_error_argv(case, run, tmp_path / "os")
    assert main(argv) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith(f"pixelthink {argv[0]}: error: ") and path in line and cause in line, line


def test_eval_on_a_full_disk_keeps_the_previous_report_whole(tmp_path, run, monkeypatch, capsys) -> None:
    import errno
    import os

    out = tmp_path / "eval.json"
    argv = ["eval", "--data", str(run["bench"]), "--predictions", str(run["preds"]), "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()

    def full(fd: int) -> None:  # the file system reports a full disk when the data reaches it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert main([*argv, "--out", str(out), "--tau-hard", "6"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line == f"pixelthink eval: error: {out}: No space left on device", line
    assert out.read_bytes() == before and json.loads(before)  # the old report, whole
    assert sorted(p.name for p in tmp_path.iterdir() if "eval" in p.name) == ["eval.json"]  # no temp left


# ------------------------------------------------------------------------- 10. broken annotation caches


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("deep", "invalid JSON (nested too deeply)"),
        ("nan", "field 'difficulty': expected null or a number in 1..10, got nan"),
        ("digits", "invalid JSON (Exceeds the limit (4300 digits)"),
        ("huge", "field 'difficulty': expected null or a number in 1..10, got 99999999999999999999..."),
        ("word", "field 'difficulty': expected null or a number in 1..10, got 'hard'"),
    ],
)
def test_a_broken_annotation_cache_line_is_named(tmp_path, kind, message, capsys) -> None:
    root = _bench_with(tmp_path, {"a": "the block", "b": "the block?", "c": "the block!"})
    argv = ["annotate", "difficulty", str(root), "--method", "heuristic", "--no-progress"]
    assert main([*argv, "--no-apply"]) == 0
    (cache,) = (root / "annotations").glob("difficulty.heuristic.*.jsonl")
    lines = cache.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[1])
    value = {"nan": "NaN", "digits": "9" * 5000, "huge": "9" * 400, "word": '"hard"'}.get(kind)
    lines[1] = (
        "[" * 100_000 + "]" * 100_000
        if kind == "deep"
        else lines[1].replace(f'"difficulty":{json.dumps(record["difficulty"])}', f'"difficulty":{value}')
    )
    assert lines[1] != json.dumps(record, separators=(",", ":"))
    cache.write_text("\n".join(lines) + "\n", encoding="utf-8")
    samples_before = (root / "samples.jsonl").read_bytes()
    for command in (
        argv,
        ["annotate", "agreement", str(cache), str(root)],
        [*argv, "--calibrate", str(cache)],
    ):
        assert main(command) == 2, command
        line = _one_line_error(capsys.readouterr().err)
        assert f"{cache}:2: {message}" in line, line
    assert (root / "samples.jsonl").read_bytes() == samples_before  # nothing applied, no line of it blamed


# ------------------------------------------------------------------------- 13. timeouts and log noise


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf"])
@pytest.mark.parametrize("task", ["difficulty", "references"])
def test_a_non_positive_timeout_is_refused_at_parsing(tmp_path, task, value, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["annotate", task, str(tmp_path), "--judge", "http://127.0.0.1:9/v1", "--timeout", value])
    assert info.value.code == 2
    assert f"--timeout: expected a positive number, got '{value}'" in capsys.readouterr().err


def test_annotate_logs_no_request_lines_unless_verbose(tmp_path, chat_server) -> None:
    url, requests = chat_server(lambda payload: '{"overall": 3}')
    root = _bench_with(tmp_path, {"a": "the block", "b": "the block?"})
    argv = ["annotate", "difficulty", str(root), "--judge", url, "--model", "judge", "--no-progress"]
    quiet = _run_cli(*argv)
    assert quiet.returncode == 0, quiet.stderr
    assert len(requests) == 2 and "httpx" not in quiet.stderr and "HTTP Request" not in quiet.stderr
    verbose = _run_cli("-v", *argv, "--retry-failed", "--cache-dir", str(tmp_path / "cache2"))
    assert verbose.returncode == 0 and "HTTP Request: POST" in verbose.stderr  # still there with -v
