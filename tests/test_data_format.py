"""Tests of the benchmark format: Sample, Benchmark, BenchmarkWriter, validate_benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.data import (
    SAMPLE_KEYS,
    Benchmark,
    BenchmarkWriter,
    Sample,
    rewrite_samples,
    validate_benchmark,
)
from pixelthink.masks import decode_rle, encode_rle


def _image(w: int = 10, h: int = 8, color=(200, 10, 10)) -> Image.Image:
    return Image.new("RGB", (w, h), color)


def _mask(h: int = 8, w: int = 10) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[2:5, 3:8] = True  # rows 2..4, cols 3..7
    return m


def _write(root: Path, n: int = 3) -> Path:
    with BenchmarkWriter(root, name="tiny", version="1") as w:
        for k in range(n):
            w.add(
                {
                    "id": f"s{k}",
                    "query": f"the red thing number {k}",
                    "is_sentence": k % 2 == 0,
                    "mask": _mask(),
                    "difficulty": 2.0 + 2 * k,  # 2, 4, 6
                    "source": {"dataset": "unit", "image_id": f"img{k}"},
                    "split": "val" if k < 2 else "test",
                },
                _image(color=(10 * k, 0, 0)),
            )
    return root


def _lines(root: Path) -> list[dict]:
    return [json.loads(x) for x in (root / "samples.jsonl").read_text().splitlines()]


def _rewrite_line(root: Path, idx: int, **changes) -> None:
    objs = _lines(root)
    objs[idx].update(changes)
    (root / "samples.jsonl").write_text("".join(json.dumps(o) + "\n" for o in objs))


# --------------------------------------------------------------------------------------- writing


def test_writer_derives_box_points_and_writes_meta(tmp_path):
    root = _write(tmp_path / "b")
    objs = _lines(root)
    assert len(objs) == 3
    assert tuple(objs[0]) == SAMPLE_KEYS  # stable key order
    first = objs[0]
    assert first["width"] == 10 and first["height"] == 8
    assert first["bbox"] == [3, 2, 7, 4]  # inclusive extremes of rows 2..4, cols 3..7
    # 3x5 block (rows 2..4, cols 3..7), Seg-Zero's points (unpadded Euclidean distance transform):
    # distance 2 only at the middle row's inner pixels (4,3), (5,3), (6,3); first max row-major = (4,3).
    # Distances of the 15 pixels to (4,3) have median 2; the "far" pixels (> 2) with the largest distance
    # value: (6,3) is the only one with value 2 -> second point (6,3).
    assert first["points"] == [[4, 3], [6, 3]]
    assert all(decode_rle(first["mask"])[y, x] for x, y in first["points"])
    assert first["image"].startswith("images/") and (root / first["image"]).is_file()
    meta = json.loads((root / "meta.json").read_text())
    assert meta["name"] == "tiny" and meta["version"] == "1" and meta["count"] == 3
    assert meta["splits"] == {"test": 1, "val": 2}
    assert meta["creator"].startswith("pixelthink")


def test_writer_is_deterministic(tmp_path):
    a = (_write(tmp_path / "a") / "samples.jsonl").read_bytes()
    b = (_write(tmp_path / "b") / "samples.jsonl").read_bytes()
    assert a == b and a.count(b"\n") == 3


def test_writer_refuses_duplicates_and_existing(tmp_path):
    root = _write(tmp_path / "b")
    with pytest.raises(FileExistsError):
        BenchmarkWriter(root)
    with pytest.raises(ValueError, match="duplicate id"), BenchmarkWriter(tmp_path / "c") as w:
        w.add({"id": "x", "query": "q", "mask": _mask()}, _image())
        w.add({"id": "x", "query": "q", "mask": _mask()}, _image())
    # the failed block left no samples.jsonl behind
    assert not (tmp_path / "c" / "samples.jsonl").exists()


def test_writer_shares_images_and_rejects_name_clash(tmp_path):
    src = tmp_path / "pic.png"
    _image().save(src)
    with BenchmarkWriter(tmp_path / "b") as w:
        s1 = w.add({"id": "a", "query": "q", "mask": _mask()}, src)
        s2 = w.add({"id": "b", "query": "q2", "mask": _mask()}, src)
        assert s1.image == s2.image == "images/pic.png"
        with pytest.raises(ValueError, match="different image"):
            w.add({"id": "c", "query": "q", "mask": _mask()}, _image(color=(1, 2, 3)), image_name="pic.png")
    assert len(list((tmp_path / "b" / "images").iterdir())) == 1


def test_writer_checks_mask_size_against_image(tmp_path):
    with pytest.raises(ValueError, match="field 'mask'"), BenchmarkWriter(tmp_path / "b") as w:
        w.add({"id": "a", "query": "q", "mask": np.ones((3, 3), bool)}, _image())


# --------------------------------------------------------------------------------------- reading


def test_benchmark_iterates_gets_and_filters(tmp_path):
    root = _write(tmp_path / "b")
    bench = Benchmark(root)
    samples = list(bench)
    assert [s.id for s in samples] == ["s0", "s1", "s2"]
    assert len(bench) == 3
    assert isinstance(samples[0], Sample) and samples[0].difficulty == 2.0
    assert samples[0].mask_array().sum() == 15  # 3 rows x 5 cols
    assert samples[0].ignore_array() is None
    assert bench.get("s2").split == "test"
    with pytest.raises(KeyError):
        bench.get("nope")
    val = Benchmark(root, split="val")
    assert [s.id for s in val] == ["s0", "s1"] and len(val) == 2
    assert bench.splits() == {"val": 2, "test": 1}
    img = bench.load_image(samples[1])
    assert img.mode == "RGB" and img.size == (10, 8) and img.getpixel((0, 0)) == (10, 0, 0)
    assert bench.name == "tiny"


def test_sample_json_roundtrip():
    m = _mask()
    s = Sample(
        id="a",
        image="images/a.png",
        query="q",
        is_sentence=True,
        width=10,
        height=8,
        mask=encode_rle(m),
        bbox=(3.0, 2.0, 7.0, 4.0),
        points=[(5.0, 3.0), (7.0, 3.0)],
        difficulty=5.5,
        reasoning_short="short",
        source={"dataset": "x"},
        split="test",
    )
    again = Sample.from_json(json.loads(s.to_line()))
    assert again == s


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"mask": {"size": [4, 4], "counts": "P2"}}, "mask", "does not match"),
        ({"difficulty": 11}, "difficulty", "1..10"),
        ({"bbox": [1, 2, 3]}, "bbox", "4 numbers"),
        ({"is_sentence": "yes"}, "is_sentence", "true or false"),
        ({"width": 0}, "width", "positive integer"),
        ({"points": [[1, 2, 3]]}, "points", "2 numbers"),
        ({"image": "/abs/x.png"}, "image", "relative"),
    ],
)
def test_load_errors_name_line_and_field(tmp_path, change, field, expected):
    root = _write(tmp_path / "b")
    _rewrite_line(root, 1, **change)
    with pytest.raises(ValueError) as info:
        list(Benchmark(root))
    msg = str(info.value)
    assert "samples.jsonl:2" in msg and f"'{field}'" in msg and expected in msg
    errors = validate_benchmark(root)
    assert len(errors) == 1 and "samples.jsonl:2" in errors[0]


def test_load_errors_duplicate_missing_image_bad_json(tmp_path):
    root = _write(tmp_path / "b")
    _rewrite_line(root, 2, id="s0")
    with pytest.raises(
        ValueError, match=r"samples.jsonl:3: field 'id': duplicate id 's0' \(first on line 1\)"
    ):
        list(Benchmark(root))
    root = _write(tmp_path / "c")
    first_image = _lines(root)[0]["image"]
    (root / first_image).unlink()
    with pytest.raises(FileNotFoundError, match=r"samples.jsonl:1: field 'image'"):
        list(Benchmark(root))
    root = _write(tmp_path / "d")
    with open(root / "samples.jsonl", "a") as fh:
        fh.write('{"id": "broken"\n')
    with pytest.raises(ValueError, match=r"samples.jsonl:4: invalid JSON"):
        list(Benchmark(root))
    root = _write(tmp_path / "e")
    _rewrite_line(root, 0, colour="red")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['colour'\]"):
        list(Benchmark(root))


def test_validate_lists_every_problem(tmp_path):
    root = _write(tmp_path / "b")
    assert validate_benchmark(root) == []
    _rewrite_line(root, 0, difficulty=0.5)
    _rewrite_line(root, 1, bbox=[0, 0, 9, 7])  # valid shape but not the mask extent [3, 2, 7, 4]
    _rewrite_line(root, 2, points=[[0, 0], [5, 3]])  # (0, 0) is far outside the mask
    errors = validate_benchmark(root)
    assert len(errors) == 3
    assert "samples.jsonl:1" in errors[0] and "difficulty" in errors[0]
    assert "samples.jsonl:2" in errors[1] and "mask extent [3.0, 2.0, 7.0, 4.0]" in errors[1]
    assert "samples.jsonl:3" in errors[2] and "outside the mask" in errors[2]
    assert "not a benchmark" in validate_benchmark(tmp_path)[0]


def test_load_image_corrupt_and_size_mismatch(tmp_path):
    root = _write(tmp_path / "b")
    bench = Benchmark(root)
    s0, s1 = list(bench)[:2]
    (root / s0.image).write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="cannot decode image"):
        bench.load_image(s0)
    _image(w=4, h=4).save(root / s1.image)
    with pytest.raises(ValueError, match="4x4"):
        bench.load_image(s1)
    errors = validate_benchmark(root, decode_images=True)
    assert len(errors) == 2 and all("field 'image'" in e for e in errors)


def test_a_leading_byte_order_mark_is_skipped(tmp_path):
    # Windows editors save UTF-8 with a BOM: samples.jsonl and meta.json still read, line numbers kept
    root = _write(tmp_path / "b")
    for name in ("samples.jsonl", "meta.json"):
        (root / name).write_bytes(b"\xef\xbb\xbf" + (root / name).read_bytes())
    bench = Benchmark(root)
    assert (
        [s.id for s in bench] == ["s0", "s1", "s2"] and len(bench) == 3 and bench.ids() == ["s0", "s1", "s2"]
    )
    assert bench.get("s0").id == "s0" and bench.get("s2").split == "test"  # the offset index skips it too
    assert bench.name == "tiny" and validate_benchmark(root) == []
    bad = _write(tmp_path / "bad")
    _rewrite_line(bad, 1, colour="red")  # an error on line 2 still names line 2
    (bad / "samples.jsonl").write_bytes(b"\xef\xbb\xbf" + (bad / "samples.jsonl").read_bytes())
    with pytest.raises(ValueError, match=r"samples.jsonl:2: unknown field"):
        list(Benchmark(bad))


def test_rewrite_samples_is_atomic(tmp_path):
    root = _write(tmp_path / "b")
    before = (root / "samples.jsonl").read_bytes()

    def bad(obj):
        obj["difficulty"] = 42  # invalid: outside 1..10
        return obj

    with pytest.raises(ValueError, match="difficulty"):
        rewrite_samples(root, bad)
    assert (root / "samples.jsonl").read_bytes() == before
    assert not (root / "samples.jsonl.tmp").exists()

    def good(obj):
        obj["difficulty"] = 9
        return obj

    assert rewrite_samples(root, good) == 3
    assert [s.difficulty for s in Benchmark(root)] == [9.0, 9.0, 9.0]
