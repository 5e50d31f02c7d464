"""jsonio.py: the crash-safe, resumable, locked JSONL writer and the JSON helpers every format uses."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pixelthink.jsonio import (
    JsonlAppender,
    OutputLockedError,
    dumps_line,
    is_number,
    plain,
    read_json_file,
    scan_jsonl,
    to_number,
)


def test_numbers_and_plain_types() -> None:
    assert to_number(3.0) == 3 and isinstance(to_number(3.0), int) and to_number(2.5) == 2.5
    with pytest.raises(ValueError, match="non-finite number nan cannot be written to report"):
        to_number(math.nan, "report")
    assert is_number(1) and is_number(1.5) and not is_number(True) and not is_number(math.inf)
    assert not is_number(10**400) and not is_number("1")
    assert plain({"a": np.float32(1.5), 2: (np.int64(3), np.array([1, 2]))}) == {"a": 1.5, "2": [3, [1, 2]]}
    assert plain([math.nan, 1.0], nonfinite_to_none=True) == [None, 1.0]
    assert dumps_line({"b": "é", "a": 1}) == '{"b":"é","a":1}'
    with pytest.raises(ValueError):
        dumps_line({"x": math.inf})


def test_read_json_file_names_the_path_and_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"recipe not found: .*missing\.json"):
        read_json_file(tmp_path / "missing.json", "recipe")
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": 1,\n  oops\n}')
    with pytest.raises(ValueError, match=r"bad.json: invalid JSON \(.* at line 3\)"):
        read_json_file(bad)


def test_scan_jsonl_tells_a_truncated_last_line_from_a_corrupt_one(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"i": 0}\n\n{"i": 1}\n{"i": 2, "cut')
    records, truncated = scan_jsonl(p)
    assert records == [(1, {"i": 0}), (3, {"i": 1})] and truncated == len(b'{"i": 0}\n\n{"i": 1}\n')
    p.write_bytes(b'{"i": 0}\nnot json\n{"i": 2}\n')
    with pytest.raises(ValueError, match=r"a.jsonl:2: invalid JSON"):
        scan_jsonl(p)


def test_readers_skip_a_leading_byte_order_mark(tmp_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    p = tmp_path / "a.jsonl"
    p.write_bytes(bom + b'{"i": 0}\n{"i": 1}\n')
    assert scan_jsonl(p) == ([(1, {"i": 0}), (2, {"i": 1})], None)
    with JsonlAppender(p) as w:  # resumed and appended to
        assert [obj["i"] for _, obj in w.records] == [0, 1]
        w.write({"i": 2})
    assert [obj["i"] for _, obj in scan_jsonl(p)[0]] == [0, 1, 2]
    j = tmp_path / "a.json"
    j.write_bytes(bom + b'{"a": 1}')
    assert read_json_file(j) == {"a": 1}
    p.write_bytes(bom + b"oops\n{}\n")  # the BOM is skipped, not the error
    with pytest.raises(ValueError, match=r"a.jsonl:1: invalid JSON"):
        scan_jsonl(p)


def test_appender_resumes_repairs_and_refuses_to_clobber(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "out.jsonl"
    with JsonlAppender(p) as w:  # creates the folder and the file
        w.write({"i": 0})
        w.write({"i": 1, "s": "two\nlines"})  # a newline inside a string stays inside its one line
    assert w.closed
    assert p.read_text() == '{"i":0}\n{"i":1,"s":"two\\nlines"}\n'
    with open(p, "a", encoding="utf-8") as fh:  # a crash in the middle of the third line
        fh.write('{"i": 2, "par')
    with JsonlAppender(p, resume=True) as w:
        assert w.repaired and [obj["i"] for _, obj in w.records] == [0, 1]
        w.write({"i": 2})
    assert [json.loads(line)["i"] for line in p.read_text().splitlines()] == [0, 1, 2]
    # a last line without its newline but valid is kept, and the next line starts on a new line
    p.write_text('{"i": 0}')
    with JsonlAppender(p) as w:
        assert not w.repaired and w.records == [(1, {"i": 0})]
        w.write({"i": 1})
    assert p.read_text() == '{"i": 0}\n{"i":1}\n'
    with pytest.raises(FileExistsError, match="resume it"):
        JsonlAppender(p, resume=False)
    assert p.read_text() == '{"i": 0}\n{"i":1}\n'  # the refusal did not touch it
    with JsonlAppender(p, resume=False, overwrite=True, fsync=True) as w:
        w.write({})
    assert p.read_text() == "{}\n"
    with pytest.raises(ValueError, match="is a directory"):
        JsonlAppender(tmp_path)


def test_a_second_writer_of_the_same_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "locked.jsonl"
    with JsonlAppender(p) as w:
        w.write({})
        # the lock is per open file description: another process must be refused while we hold it
        code = (
            "import sys\nfrom pixelthink.jsonio import JsonlAppender, OutputLockedError\n"
            "try:\n    JsonlAppender(sys.argv[1])\nexcept OutputLockedError as e:\n    print(e); sys.exit(3)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 3 and "being written by another process" in proc.stdout
    assert issubclass(OutputLockedError, FileExistsError)
    with JsonlAppender(p) as again:  # released when closed
        assert again.records == [(1, {})]


def test_is_number_and_clipped() -> None:
    from pixelthink.jsonio import clipped, is_number

    assert is_number(3) and is_number(2.5) and not is_number(True) and not is_number("3")
    assert not is_number(float("nan")) and is_number(float("nan"), finite=False)
    assert not is_number(10**400) and not is_number(10**400, finite=False)  # beyond float range either way
    assert clipped("abc", 3) == "abc" and clipped("abcd", 3) == "abc..."
