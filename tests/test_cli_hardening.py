"""Regression tests of issue 18 (a newcomer's and an adversary's probe) at the command line.

Concurrent writers of one predictions file, over-long queries, decompression bombs, integers beyond
float range, invalid UTF-8, garbage RLE, ``--out`` pointing at a directory. Each user error must be one
line on stderr with exit 2 (no traceback); each per-sample failure must be recorded while the rest of
the run is written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Raw, Reply, prompt_text

# The scene of test_cli_segment_predict (160x120, block at x 30..99, y 40..89) and its answer in the
# 840x840 model frame. The runs here use --resolution 112 (the answer is then clipped to the frame; the
# tests only need a box): the client's lossless PNG of an 840x840 image costs ~0.3 s per request.
from test_cli_segment_predict import GOOD, _scene

from pixelthink.cli import main
from pixelthink.data import BenchmarkWriter
from pixelthink.predictions import PredictionWriter, read_predictions


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
                 "--model", "scripted", "--limit", "1", "--resolution", "112", "--no-progress"]) == 0  # fmt: skip
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
                            "--model", "scripted", "--resolution", "112", "--no-progress", *extra)  # fmt: skip
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
                 "--model", "scripted", "--resolution", "112", "--no-progress"]) == 0  # fmt: skip
    assert sorted(p.id for p in read_predictions(out)) == ["a", "b", "c"]


def test_two_predict_processes_racing_on_one_file_leave_it_valid(tmp_path, bench, server_url) -> None:
    out = tmp_path / "race.jsonl"
    argv = ["predict", "--data", str(bench), "--out", str(out), "--reasoner", server_url, "--model",
            "scripted", "--resolution", "112", "--no-progress", "--batch-size", "1"]  # fmt: skip
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


@pytest.mark.parametrize("value", ["99999x99999", "6325"])
def test_a_model_frame_over_the_image_limit_is_refused_before_anything_runs(
    tmp_path, bench, capsys, value
) -> None:
    # a mistyped --resolution once ended in a MemoryError inside the first image's resize
    with pytest.raises(SystemExit) as stop:  # argparse's own error (usage line, exit 2)
        main(["predict", "--data", str(bench), "--out", str(tmp_path / "p.jsonl"), "--reasoner",
              "http://127.0.0.1:9/v1", "--model", "x", "--resolution", value, "--no-progress"])  # fmt: skip
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --resolution: a model frame of" in err and "over the limit of 40,000,000 pixels" in err
    assert not (tmp_path / "p.jsonl").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["data", "export", "segzero", "B", "--out", "x.parquet", "--resolution", "99999"],
            "a model frame of 99999x",
        ),
        (
            ["data", "export", "segzero", "B", "--out", "x.parquet", "--resolution", "-5"],
            "expected a positive integer",
        ),
        (["data", "verl", "B", "v.parquet", "--resolution", "99999"], "a model frame of 99999x"),
    ],
)
def test_the_exporters_refuse_a_frame_over_the_image_limit(argv, needle, capsys) -> None:
    # each would have resized the first image to 10 gigapixels (export segzero also took a negative side)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and needle in capsys.readouterr().err


def test_generated_images_over_the_image_limit_are_refused(tmp_path, capsys) -> None:
    rc = main(["data", "shapes", "--out", str(tmp_path / "s"), "--size", "99999x99999", "--train", "1",
               "--val", "0", "--test", "0"])  # fmt: skip
    assert (
        rc == 2 and "--size: 99999x99999 = 9,999,800,001 pixels is over the limit" in capsys.readouterr().err
    )
    assert not (tmp_path / "s").exists()
    # 0 stays the native size for data verl: the run goes past the option (and stops at the missing data)
    assert (
        main(["data", "verl", str(tmp_path / "none"), str(tmp_path / "v.parquet"), "--resolution", "0"]) == 2
    )
    err = capsys.readouterr().err
    assert "--resolution" not in err and "none" in err


def test_the_pipeline_refuses_a_model_frame_over_the_image_limit() -> None:
    from pixelthink.models.segmenters import BoxSegmenter
    from pixelthink.pipeline import Pipeline

    with pytest.raises(ValueError, match=r"Pipeline: resolution: a model frame of 7000x7000"):
        Pipeline(object(), BoxSegmenter(), resolution=7000)  # type: ignore[arg-type]
    assert Pipeline(object(), BoxSegmenter(), resolution=(6000, 6000)).resolution == (6000, 6000)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- 3. over-long queries


def _bench_with(tmp_path: Path, queries: dict[str, str]) -> Path:
    root = tmp_path / "bench"
    image, obj = _scene()
    with BenchmarkWriter(root, name="q") as writer:
        for sample_id, query in queries.items():
            writer.add({"id": sample_id, "query": query, "mask": obj}, image, image_name="scene.png")
    return root


def test_an_over_long_query_fails_alone_and_the_batch_is_written(tmp_path, scripted_server, capsys) -> None:
    prompts: list[int] = []
    url = scripted_server(lambda prompt: prompts.append(len(prompt)) or GOOD)
    root = _bench_with(tmp_path, {"a": "the block", "long": "the block " * 10_000, "c": "the block?"})
    out = tmp_path / "preds.jsonl"
    rc = main(["predict", "--data", str(root), "--out", str(out), "--reasoner", url, "--model", "scripted",
               "--batch-size", "8", "--resolution", "112", "--no-progress"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    preds = {p.id: p for p in read_predictions(out)}
    assert sorted(preds) == ["a", "c", "long"]  # the rest of the batch is written
    assert preds["a"].error is None and preds["c"].error is None
    error = preds["long"].error
    assert error.startswith("query: ") and "100,000 characters exceeds the limit of 4,096" in error
    assert "--max-query-chars" in error and preds["long"].response is None
    assert len(prompts) == 2 and max(prompts) < 2000  # the long query never reached the reasoner
    assert json.loads((tmp_path / "preds.run.json").read_text())["max_query_chars"] == 4096
    # the limit is configurable: a new run with a higher one sends it
    out2 = tmp_path / "preds2.jsonl"
    rc = main(["predict", "--data", str(root), "--out", str(out2), "--reasoner", url, "--model", "scripted",
               "--max-query-chars", "200000", "--resolution", "112", "--no-progress"])  # fmt: skip
    assert rc == 0 and all(p.error is None for p in read_predictions(out2))
    assert max(prompts) > 100_000


def test_data_validate_warns_about_over_long_queries(tmp_path, capsys) -> None:
    root = _bench_with(tmp_path, {"a": "the block", "long": "x" * 5000})
    assert main(["data", "validate", str(root)]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    warning = next(line for line in out.splitlines() if line.startswith("warning:"))
    assert (
        "samples.jsonl:2: field 'query'" in warning
        and "5,000 characters exceeds the limit of 4,096" in warning
    )
    assert "valid (1 warning(s))" in out
    assert main(["data", "validate", str(root), "--max-query-chars", "0"]) == 0
    assert "warning" not in capsys.readouterr().out


def test_segment_refuses_an_over_long_query_in_one_line(tmp_path, capsys) -> None:
    image, _ = _scene()
    image.save(tmp_path / "scene.png")
    rc = main(["segment", str(tmp_path / "scene.png"), "q" * 5000, "--reasoner", "http://127.0.0.1:9/v1",
               "--model", "x", "--out", str(tmp_path / "o.png")])  # fmt: skip
    assert rc == 2
    assert "exceeds the limit of 4,096 characters" in _one_line_error(capsys.readouterr().err)


# ------------------------------------------------------------------------- 4. decompression bombs


def png_bomb(width: int, height: int) -> bytes:
    """A valid, fully decodable 1-bit PNG of ``width x height`` black pixels: ~50 KB for 20000x20000."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = png_bomb(20000, 20000)
    assert len(data) < 100_000
    return data


def _bench_with_bomb(tmp_path: Path, bomb: bytes) -> Path:
    """a, c: the scene; b: its image file replaced by a 20000x20000 PNG bomb."""
    root = tmp_path / "bench"
    image, obj = _scene()
    with BenchmarkWriter(root, name="bomb") as writer:
        for sample_id in "abc":
            writer.add(
                {"id": sample_id, "query": "the block", "mask": obj}, image, image_name=f"{sample_id}.png"
            )
    (root / "images" / "b.png").write_bytes(bomb)
    return root


def test_predict_records_a_bomb_as_a_failure_and_finishes(tmp_path, bomb, server_url, capsys) -> None:
    root = _bench_with_bomb(tmp_path, bomb)
    out = tmp_path / "preds.jsonl"
    argv = ["predict", "--data", str(root), "--out", str(out), "--reasoner", server_url, "--model", "scripted",
            "--resolution", "112", "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    preds = {p.id: p for p in read_predictions(out)}
    assert sorted(preds) == ["a", "b", "c"]
    assert preds["a"].error is None and preds["c"].error is None
    assert preds["b"].error.startswith("image: ImageTooLargeError")
    assert "400,000,000 pixels exceeds the limit of 40,000,000" in preds["b"].error
    assert "sample 'b'" in preds["b"].error and "b.png" in preds["b"].error
    capsys.readouterr()
    assert main(argv) == 0  # a resume has nothing left to do: the run is finished
    assert "resuming" in capsys.readouterr().out and len(list(read_predictions(out))) == 3


def test_predict_max_pixels_is_configurable(tmp_path, server_url) -> None:
    root = _bench_with(tmp_path, {"a": "the block"})  # 160 x 120 = 19,200 pixels
    out = tmp_path / "small.jsonl"
    assert main(["predict", "--data", str(root), "--out", str(out), "--reasoner", server_url, "--model",
                 "scripted", "--max-pixels", "10000", "--resolution", "112", "--no-progress"]) == 0  # fmt: skip
    (pred,) = read_predictions(out)
    assert "19,200 pixels exceeds the limit of 10,000" in pred.error


def test_data_validate_images_reports_a_bomb(tmp_path, bomb, capsys) -> None:
    root = _bench_with_bomb(tmp_path, bomb)
    assert main(["data", "validate", str(root), "--images"]) == 1
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "b.png" in x]
    assert "samples.jsonl:2: field 'image'" in line and "exceeds the limit of 40,000,000" in line


def test_segment_refuses_a_bomb_in_one_line(tmp_path, bomb, capsys) -> None:
    (tmp_path / "bomb.png").write_bytes(bomb)
    rc = main(["segment", str(tmp_path / "bomb.png"), "the block", "--reasoner", "http://127.0.0.1:9/v1",
               "--model", "x", "--out", str(tmp_path / "o.png")])  # fmt: skip
    assert rc == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "bomb.png" in line and "400,000,000 pixels exceeds the limit" in line


def test_lisa_import_refuses_a_bomb_in_one_line(tmp_path, bomb, capsys) -> None:
    folder = tmp_path / "lisa"
    folder.mkdir()
    (folder / "x.png").write_bytes(bomb)
    anno = {"text": ["the square"], "shapes": [{"label": "target", "points": [[1, 1], [9, 1], [9, 9]]}]}
    (folder / "x.json").write_text(json.dumps(anno), encoding="utf-8")
    rc = main(["data", "import", "lisa", str(folder), "--out", str(tmp_path / "b"), "--no-progress"])
    assert rc == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "x.png" in line and "exceeds the limit" in line


# ------------------------------------------------------------------------- 5. integers beyond float range

BIG = "9" * 400


def _edit_line(path: Path, lineno: int, pattern: str, new: str) -> None:
    """Replace the first match of the regex ``pattern`` in line ``lineno`` with ``new`` (taken literally)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[lineno - 1], n = re.subn(pattern, lambda m: new, lines[lineno - 1], count=1)
    assert n == 1, (pattern, lines[lineno - 1][:300])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    "field,old,new",
    [
        ("bbox", r'"bbox":\[30', f'"bbox":[{BIG}'),
        ("points", r'"points":\[\[54', f'"points":[[{BIG}'),
        ("difficulty", '"difficulty":null', f'"difficulty":{BIG}'),
        ("width", '"width":160', f'"width":{BIG}'),
    ],
)
def test_a_huge_integer_in_samples_is_a_field_error(tmp_path, field, old, new, capsys) -> None:
    root = _bench_with(tmp_path, {"a": "the block", "b": "the block?"})
    _edit_line(root / "samples.jsonl", 2, old, new)
    where = f"samples.jsonl:2: field '{field}'"
    assert main(["data", "validate", str(root)]) == 1
    assert where in capsys.readouterr().out
    assert main(["data", "stats", str(root)]) == 2
    assert where in _one_line_error(capsys.readouterr().err)
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id":"a"}\n')
    assert main(["eval", "--data", str(root), "--predictions", str(preds), "--out", str(tmp_path / "e.json"),
                 "--no-progress"]) == 2  # fmt: skip
    assert where in _one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize(
    "field,old,new",
    [
        ("bbox", r'"bbox":\[[-\d.]+', f'"bbox":[{BIG}'),
        ("points", r'"points":\[\[[-\d.]+', f'"points":[[{BIG}'),
        ("uncertainty", '"uncertainty":null', f'"uncertainty":{BIG}'),
        ("reasoning_tokens", '"reasoning_tokens":4', f'"reasoning_tokens":{BIG}'),
        ("latency", '"latency":{', f'"latency":{{"x":{BIG},'),
    ],
)
def test_a_huge_integer_in_predictions_is_a_field_error(
    tmp_path, server_url, field, old, new, capsys
) -> None:
    root = _bench_with(tmp_path, {"a": "the block", "b": "the block?"})
    out = tmp_path / "p.jsonl"
    argv = ["predict", "--data", str(root), "--out", str(out), "--reasoner", server_url, "--model", "scripted",
            "--resolution", "112", "--no-progress"]  # fmt: skip
    assert main([*argv, "--limit", "1"]) == 0
    _edit_line(out, 1, old, new)
    capsys.readouterr()
    where = f"p.jsonl:1: field '{field}'"
    assert main(["eval", "--data", str(root), "--predictions", str(out), "--out", str(tmp_path / "e.json"),
                 "--no-progress"]) == 2  # fmt: skip
    assert where in _one_line_error(capsys.readouterr().err)
    assert main(argv) == 2  # resume
    assert where in _one_line_error(capsys.readouterr().err)


def test_a_huge_model_size_in_prediction_meta_is_ignored(tmp_path, server_url, capsys) -> None:
    root = _bench_with(tmp_path, {"a": "the block"})
    out = tmp_path / "p.jsonl"
    assert main(["predict", "--data", str(root), "--out", str(out), "--reasoner", server_url, "--model",
                 "scripted", "--resolution", "112", "--no-progress"]) == 0  # fmt: skip
    _edit_line(out, 1, r'"model_size":\[112,112\]', f'"model_size":[{BIG},112]')
    report = tmp_path / "e.json"
    assert main(["eval", "--data", str(root), "--predictions", str(out), "--out", str(report),
                 "--no-progress"]) == 0, capsys.readouterr().err  # fmt: skip


# ------------------------------------------------------------------------- 8. errors without file and line


def test_invalid_utf8_in_samples_names_the_line(tmp_path, capsys) -> None:
    root = _bench_with(tmp_path, {"a": "the block", "b": "the café"})
    data = (root / "samples.jsonl").read_bytes()
    (root / "samples.jsonl").write_bytes(data.replace("café".encode(), b"caf\xe9"))  # cp1252, not UTF-8
    for argv in (["data", "validate", str(root)], ["data", "stats", str(root)]):
        assert main(argv) == 2
        line = _one_line_error(capsys.readouterr().err)
        assert "samples.jsonl:2: invalid UTF-8" in line, line
    from pixelthink.data import Benchmark

    with pytest.raises(ValueError, match=r"samples\.jsonl:2: invalid UTF-8"):
        Benchmark(root).get("b")


def test_garbage_rle_in_data_stats_names_the_line_and_field(tmp_path, capsys) -> None:
    root = _bench_with(tmp_path, {"a": "the block", "b": "the block?"})
    lines = (root / "samples.jsonl").read_text().splitlines()
    obj = json.loads(lines[1])
    obj["mask"]["counts"] = "garbage!!"
    lines[1] = json.dumps(obj)
    (root / "samples.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["data", "stats", str(root)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "samples.jsonl:2: field 'mask'" in line, line


# ------------------------------------------------------------------------- 7. a misbehaving server

TOP_LOGPROBS = [{"token": "a", "logprob": -int("9" * 400)}, {"token": "b", "logprob": -2}]
MALFORMED = {  # by keyword in the prompt (x_...: words the prompt template does not hold): the malformed replies real servers have sent
    "x_ints": {"choices": [{"message": {"content": GOOD}, "logprobs": {"content": [1, 2, 3]}}]},
    "x_nonstring": {"choices": [{"message": {"content": 123}}]},
    "x_nochoices": {"choices": []},
    "x_nomessage": {"choices": [{"text": GOOD}]},
    "x_toplogprobs": {"choices": [{"message": {"content": GOOD}, "logprobs": {"content": [
        {"token": "a", "logprob": -1, "top_logprobs": TOP_LOGPROBS}]}}]},
    "x_usage": {"choices": [{"message": {"content": GOOD}}], "usage": {"completion_tokens": "many"}},
}  # fmt: skip


def _misbehaving(mode: str) -> Callable[[dict[str, Any]], Reply]:
    def respond(payload: dict[str, Any]) -> Reply:
        prompt = prompt_text(payload)
        if mode == "500":
            return Raw(500, b"Internal Server Error", "text/plain")
        if "x_notjson" in prompt:
            return Raw(200, b"<html>gateway says hi</html>", "text/html")
        if "x_badrequest" in prompt:
            return 400, "this prompt is too long for the context"
        key = next((k for k in MALFORMED if k in prompt), None)
        return MALFORMED[key] if key else {"choices": [{"message": {"content": GOOD}}]}

    return respond


@pytest.fixture
def misbehaving_server() -> Iterator[Callable[[str], str]]:
    """``start(mode) -> base URL``: a misbehaving OpenAI-style server on loopback (``fake_openai``)."""
    servers: list[FakeOpenAI] = []

    def start(mode: str) -> str:
        servers.append(FakeOpenAI(_misbehaving(mode)))
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


def test_malformed_server_replies_are_per_sample_failures(tmp_path, misbehaving_server, capsys) -> None:
    url = misbehaving_server("mixed")
    keys = [
        "good",
        "ints",
        "nonstring",
        "nochoices",
        "nomessage",
        "toplogprobs",
        "usage",
        "notjson",
        "badrequest",
    ]
    root = _bench_with(tmp_path, {k: f"the x_{k} block" for k in keys})
    out = tmp_path / "preds.jsonl"
    rc = main(["predict", "--data", str(root), "--out", str(out), "--reasoner", url, "--model", "m",
               "--batch-size", "16", "--resolution", "112", "--no-progress"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    preds = {p.id: p for p in read_predictions(out)}
    assert sorted(preds) == sorted(keys)  # every sample written, the good one segmented
    assert preds["good"].error is None and preds["good"].bbox is not None
    expected = {
        "ints": "'logprobs.content' entries",
        "nonstring": "'choices[0].message.content' is not a string",
        "nochoices": "'choices' is not a non-empty list",
        "nomessage": "'choices[0].message.content' is not a string",
        "toplogprobs": "'top_logprobs' unusable",
        "usage": "'usage.completion_tokens'",
        "notjson": "not JSON",
        "badrequest": "HTTP 400: this prompt is too long",
    }
    for key, fragment in expected.items():
        error = preds[key].error or ""
        assert error.startswith("reasoner: ") and fragment in error, (key, error)
        assert preds[key].mask is not None and not preds[key].mask_array().any()
    assert "failures by stage: reasoner 8" in capsys.readouterr().out


def test_a_persistent_http_500_stops_the_run_in_one_line(tmp_path, misbehaving_server) -> None:
    url = misbehaving_server("500")
    root = _bench_with(tmp_path, {"a": "the block", "b": "the block?"})
    out = tmp_path / "preds.jsonl"
    proc = _run_cli("predict", "--data", str(root), "--out", str(out), "--reasoner", url, "--model", "m",
                    "--max-retries", "1", "--resolution", "112", "--no-progress")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr  # and no chained "no running event loop" error
    errors = [x for x in proc.stderr.splitlines() if not x.startswith(("INFO ", "WARNING ", "DEBUG "))]
    assert len(errors) == 1 and errors[0].startswith("pixelthink predict: error: "), proc.stderr
    line = errors[0]
    assert "HTTP 500 after 2 attempt(s)" in line and "Internal Server Error" in line, line
    assert "event loop" not in proc.stderr
    assert list(read_predictions(out)) == []  # nothing recorded: a re-run resumes every sample

    # the same through the Python API: a ConnectionError (a CLI user error), not chained to the
    # RuntimeError("no running event loop") of the event-loop probe
    from pixelthink.models.reasoner_openai import OpenAIReasoner

    image, _ = _scene()
    with pytest.raises(ConnectionError, match="HTTP 500 after 1 attempt") as info:
        OpenAIReasoner(url, "m", max_retries=0).generate([image], ["the block"])
    assert info.value.__context__ is None and info.value.__cause__ is None
