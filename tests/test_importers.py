"""Tests of the importers (LISA folder, Seg-Zero parquet / datasets dir, difficulty file) and exporter."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pixelthink.data import Benchmark, BenchmarkWriter, validate_benchmark
from pixelthink.data.exporters import export_segzero, segzero_solution
from pixelthink.data.importers import (
    import_lisa,
    import_segzero,
    load_difficulty,
    merge_difficulty,
    read_lisa_json,
)
from pixelthink.images import ImageTooLargeError

BIG = [[2, 2], [12, 2], [12, 10], [2, 10]]  # x 2..12, y 2..10: 11 x 9 = 99 px
SMALL = [[5, 5], [8, 5], [8, 7], [5, 7]]  # x 5..8, y 5..7: 4 x 3 = 12 px
CORNER = [[0, 0], [3, 0], [3, 3], [0, 3]]  # x 0..3, y 0..3: 16 px


def _jpg(path: Path, w: int = 20, h: int = 16) -> None:
    Image.new("RGB", (w, h), (120, 30, 30)).save(path, format="JPEG")


def _lisa_folder(root: Path) -> Path:
    folder = root / "val"
    folder.mkdir(parents=True)
    _jpg(folder / "a.jpg")
    anno_a = {
        "text": ["What is the red region?", "Find the red region."],
        "is_sentence": True,
        "shapes": [
            {"label": "ignore", "points": SMALL},  # listed first, smaller: drawn last
            {"label": "target", "points": BIG},
            {"label": "flag", "points": [[0, 0], [19, 0], [19, 15], [0, 15]]},  # skipped
        ],
    }
    (folder / "a.json").write_text(json.dumps(anno_a), encoding="utf-8")
    _jpg(folder / "b.jpg")
    anno_b = {
        "text": ["the café table"],
        "is_sentence": False,
        "shapes": [{"label": "target", "points": CORNER}],
    }
    (folder / "b.json").write_bytes(json.dumps(anno_b, ensure_ascii=False).encode("cp1252"))
    return folder


# ------------------------------------------------------------------------------------------ LISA


def test_read_lisa_json_cp1252(tmp_path):
    folder = _lisa_folder(tmp_path)
    raw = (folder / "b.json").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the fixture really is not UTF-8
    assert read_lisa_json(folder / "b.json")["text"] == ["the café table"]


def test_import_lisa(tmp_path):
    folder = _lisa_folder(tmp_path)
    report = import_lisa(folder, tmp_path / "bench")
    assert report.written == 2 and report.images == 2 and report.splits == {"val": 2}
    bench = Benchmark(tmp_path / "bench")
    a, b = list(bench)
    assert a.id == "a" and a.query == "What is the red region?" and a.is_sentence and a.split == "val"
    assert (a.width, a.height) == (20, 16)
    mask, ignore = a.mask_array(), a.ignore_array()
    assert ignore is not None
    assert ignore.sum() == 12 and mask.sum() == 99 - 12  # the small ignore polygon overwrites the target
    assert not mask[0, 0]  # the "flag" shape was skipped
    assert a.bbox == (2.0, 2.0, 12.0, 10.0)
    assert all(mask[int(y), int(x)] for x, y in a.points)
    assert a.source == {
        "dataset": "ReasonSeg",
        "image_id": "a",
        "ann_id": "a",
        "file": "a.json",
        "text_index": 0,
    }
    assert b.query == "the café table" and not b.is_sentence and b.ignore is None
    assert b.mask_array().sum() == 16 and b.bbox == (0.0, 0.0, 3.0, 3.0)
    assert validate_benchmark(tmp_path / "bench") == []
    assert json.loads((tmp_path / "bench" / "meta.json").read_text())["name"] == "ReasonSeg-val"


@pytest.mark.parametrize(
    ("vertex", "shown"),
    [
        (["a", "b"], '["a", "b"]'),
        ([None, 1], "[null, 1]"),
        ([float("nan"), 1], "[NaN, 1]"),
        ([float("inf"), 1], "[Infinity, 1]"),
        ([10**400, 1], "[1000000000"),  # float() of it overflows
        ([True, False], "[true, false]"),
        ([[1], [2]], "[[1], [2]]"),
    ],
)
def test_a_bad_vertex_is_named_by_file_and_field(tmp_path, vertex, shown):
    # each once stopped the import with numpy's or cv2's words and no file name (one with a traceback)
    folder = _lisa_folder(tmp_path)
    anno = json.loads((folder / "a.json").read_text())
    anno["shapes"][1]["points"] = [[2, 2], vertex, [12, 10]]
    (folder / "a.json").write_text(json.dumps(anno), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        import_lisa(folder, tmp_path / "bench")
    message = str(err.value)
    assert message.startswith(
        f"{folder / 'a.json'}: field 'shapes[1].points[1]': expected two finite numbers [x, y]"
    )
    assert shown in message and len(message) < 250


def test_a_vertex_outside_int32_is_named_by_file(tmp_path):
    # LISA casts vertices to int32; -1e12 was cast to an undefined value with a RuntimeWarning
    folder = _lisa_folder(tmp_path)
    anno = json.loads((folder / "a.json").read_text())
    anno["shapes"][1]["points"] = [[2, 2], [-1e12, 5], [12, 10]]
    (folder / "a.json").write_text(json.dumps(anno), encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"a\.json: field 'shapes': polygon: vertex coordinate -1e\+12 does not fit"
    ):
        import_lisa(folder, tmp_path / "bench")
    anno["shapes"][1]["points"] = [[2, 2], [-2e9, 5], [12, 10]]  # inside int32: drawn as LISA draws it
    (folder / "a.json").write_text(json.dumps(anno), encoding="utf-8")
    assert import_lisa(folder, tmp_path / "bench2").written == 2


def test_import_lisa_all_texts_and_split(tmp_path):
    folder = _lisa_folder(tmp_path)
    report = import_lisa(folder, tmp_path / "bench", expand_texts=True, split="test")
    assert report.written == 3 and report.images == 2
    samples = list(Benchmark(tmp_path / "bench"))
    assert [s.id for s in samples] == ["a#0", "a#1", "b#0"]
    assert samples[1].query == "Find the red region." and samples[1].source["text_index"] == 1
    assert samples[0].image == samples[1].image  # one image file shared
    assert {s.split for s in samples} == {"test"}


def test_import_lisa_errors(tmp_path):
    folder = _lisa_folder(tmp_path)
    (folder / "b.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"b\.json: no image"):
        import_lisa(folder, tmp_path / "bench")
    (folder / "b.json").write_text(json.dumps({"text": [], "shapes": []}))
    with pytest.raises(ValueError, match="field 'text'"):
        read_lisa_json(folder / "b.json")
    with pytest.raises(ValueError, match=r"no \*\.json"):
        import_lisa(tmp_path / "bench", tmp_path / "bench2")


# -------------------------------------------------------------------------------------- Seg-Zero


def _segzero_rows() -> dict[str, list]:
    rows: dict[str, list] = {
        k: [] for k in ("image", "text", "mask", "image_id", "ann_id", "img_height", "img_width")
    }
    for k in range(3):
        buf = io.BytesIO()
        Image.new("RGB", (12, 8), (k * 50, 0, 0)).save(buf, format="PNG")
        m = np.zeros((8, 12), dtype=bool)
        m[1 + k : 4 + k, 2:6] = True  # 3 rows x 4 cols = 12 px
        rows["image"].append({"bytes": buf.getvalue(), "path": f"img{k}.png"})
        rows["text"].append(f"the object number {k} that is red?")
        rows["mask"].append(m.tolist())
        rows["image_id"].append(f"img{k}")
        rows["ann_id"].append(f"img{k}")
        rows["img_height"].append(8)
        rows["img_width"].append(12)
    return rows


def _segzero_dataset():
    from datasets import Dataset, Features, Sequence, Value
    from datasets import Image as HFImage

    features = Features(
        {
            "image": HFImage(),
            "text": Value("string"),
            "mask": Sequence(Sequence(Value("bool"))),
            "image_id": Value("string"),
            "ann_id": Value("string"),
            "img_height": Value("int64"),
            "img_width": Value("int64"),
        }
    )
    return Dataset.from_dict(_segzero_rows(), features=features)


def test_import_segzero_parquet(tmp_path):
    path = tmp_path / "test-00000-of-00001.parquet"
    _segzero_dataset().to_parquet(str(path))
    report = import_segzero(path, tmp_path / "bench", batch_size=2)
    assert report.written == 3 and report.images == 3 and report.splits == {"test": 3}
    samples = list(Benchmark(tmp_path / "bench"))
    assert [s.id for s in samples] == ["img0", "img1", "img2"]
    s1 = samples[1]
    assert s1.query == "the object number 1 that is red?" and s1.is_sentence  # inferred: a question
    assert s1.source["is_sentence_inferred"] is True and s1.source["row"] == 1
    assert s1.mask_array().sum() == 12 and s1.bbox == (2.0, 2.0, 5.0, 4.0)  # rows 2..4, cols 2..5
    assert s1.image == "images/img1.png"
    img = Benchmark(tmp_path / "bench").load_image(s1)
    assert img.getpixel((0, 0)) == (50, 0, 0)  # PNG bytes kept unchanged
    assert validate_benchmark(tmp_path / "bench") == []


def test_import_segzero_applies_the_pixel_limit(tmp_path):
    # a row whose image declares more pixels than max_pixels stops the import with a message naming
    # the file, row and field, before the image or its (H, W) mask is decoded
    path = tmp_path / "test-00000-of-00001.parquet"
    _segzero_dataset().to_parquet(str(path))
    with pytest.raises(ImageTooLargeError, match=r"row 0.*field 'image'.*96 pixels exceeds the limit of 50"):
        import_segzero(path, tmp_path / "bench", max_pixels=50)
    assert import_segzero(path, tmp_path / "ok", max_pixels=96).written == 3  # 12 x 8 = 96: at the limit


def test_import_segzero_save_to_disk_and_errors(tmp_path):
    from datasets import DatasetDict

    DatasetDict({"validation": _segzero_dataset()}).save_to_disk(str(tmp_path / "ds"))
    report = import_segzero(tmp_path / "ds", tmp_path / "bench")
    assert report.written == 3 and report.splits == {"val": 3}

    rows = _segzero_rows()
    rows["img_height"][2] = 9
    from datasets import Dataset

    Dataset.from_dict(rows, features=_segzero_dataset().features).to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(ValueError, match=r"bad.parquet: row 2: field 'img_height'"):
        import_segzero(tmp_path / "bad.parquet", tmp_path / "bench2")
    Dataset.from_dict({"text": ["a"]}).to_parquet(str(tmp_path / "nomask.parquet"))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['image', 'mask'\]"):
        import_segzero(tmp_path / "nomask.parquet", tmp_path / "bench3")


# ------------------------------------------------------------------------------------ difficulty


def test_difficulty_load_and_merge(tmp_path):
    folder = _lisa_folder(tmp_path)
    import_lisa(folder, tmp_path / "bench", expand_texts=True)
    dfile = tmp_path / "diff.json"
    dfile.write_text(
        json.dumps(
            [
                {"image_id": "a", "difficulty_score_model": 6.5},
                {"image_id": "zzz", "difficulty_score_model": 2},
            ]
        )
    )
    assert load_difficulty(dfile) == {"a": 6.5, "zzz": 2.0}
    report = merge_difficulty(tmp_path / "bench", dfile)
    # a#0 and a#1 match through source.image_id "a"; b#0 has no entry; "zzz" matches nothing
    assert (report.matched, report.unmatched_samples, report.unused_entries) == (2, 1, 1)
    assert report.unmatched_examples == ["b#0"]
    assert [s.difficulty for s in Benchmark(tmp_path / "bench")] == [6.5, 6.5, None]
    # matching by id (no source.image_id) and by file name with extension
    report = merge_difficulty(tmp_path / "bench", {"b.jpg": 3.0})
    assert report.matched == 1
    assert [s.difficulty for s in Benchmark(tmp_path / "bench")] == [6.5, 6.5, 3.0]


def test_difficulty_rejects_bad_scores(tmp_path):
    dfile = tmp_path / "diff.json"
    dfile.write_text(
        json.dumps(
            [{"image_id": "a", "difficulty_score_model": 5}, {"image_id": 7, "difficulty_score_model": 11}]
        )
    )
    with pytest.raises(
        ValueError, match=r"entry 1 \(image_id '7'\): field 'difficulty_score_model'.*1..10, got 11"
    ):
        load_difficulty(dfile)
    dfile.write_text(
        json.dumps(
            [{"image_id": "a", "difficulty_score_model": 5}, {"image_id": "a", "difficulty_score_model": 6}]
        )
    )
    with pytest.raises(ValueError, match="twice"):
        load_difficulty(dfile)
    dfile.write_text(json.dumps([{"difficulty_score_model": 5}]))
    with pytest.raises(ValueError, match="field 'image_id'"):
        load_difficulty(dfile)


# -------------------------------------------------------------------------------------- exporter


def _export_bench(root: Path) -> Path:
    mask = np.zeros((16, 20), dtype=bool)
    mask[2:5, 3:8] = True  # rows 2..4, cols 3..7
    with BenchmarkWriter(root) as w:
        w.add(
            {"id": "r", "query": "red block", "mask": mask, "difficulty": 4.0},
            Image.new("RGB", (20, 16), "red"),
        )
        w.add(
            {"id": "e", "query": "nothing", "mask": np.zeros((16, 20), bool)},
            Image.new("RGB", (20, 16), "blue"),
        )
    return root


def test_segzero_solution_hand_computed(tmp_path):
    bench = Benchmark(_export_bench(tmp_path / "b"))
    sample = bench.get("r")
    # bbox (3,2,7,4); points (4,3) and (6,3) (see test_data_format for the derivation).
    # x scale 840/20 = 42: 3->126, 7->294, 4->168, 6->252; y scale 840/16 = 52.5: 2->105, 4->210,
    # 3 -> 157.5 -> int(157.5 + 0.5) = 158.
    assert sample.points == [(4.0, 3.0), (6.0, 3.0)]
    assert segzero_solution(sample) == "<box>(126,105),(294,210)</box><points>(168,158),(252,158)</points>"
    with pytest.raises(ValueError, match="empty mask"):
        segzero_solution(bench.get("e"))


def test_export_segzero_parquet(tmp_path):
    from datasets import Features
    from datasets import Image as HFImage

    bench = _export_bench(tmp_path / "b")
    out = tmp_path / "train.parquet"
    report = export_segzero(bench, out)
    assert report.written == 1 and report.skipped == {"empty mask": 1}
    table = pq.read_table(out)
    assert table.column_names == [
        "id",
        "problem",
        "solution",
        "image",
        "img_height",
        "img_width",
        "difficulty",
    ]
    row = table.to_pylist()[0]
    assert row["id"] == "r" and row["problem"] == "red block"
    assert row["img_height"] == 16 and row["img_width"] == 20 and row["difficulty"] == 4.0
    assert row["solution"].startswith("<box>(126,105),(294,210)</box>")
    with Image.open(io.BytesIO(row["image"]["bytes"])) as im:
        assert im.size == (840, 840)
    assert isinstance(Features.from_arrow_schema(table.schema)["image"], HFImage)


def test_difficulty_summary_names_entries_and_samples_apart(tmp_path):
    folder = _lisa_folder(tmp_path)
    import_lisa(folder, tmp_path / "bench", expand_texts=True)
    report = merge_difficulty(tmp_path / "bench", {"a": 6.5, "zzz": 2.0})
    # b#0 is a sample without an entry; zzz an entry without a sample: each listed under its own kind
    assert report.unused_examples == ["zzz"] and report.unmatched_examples == ["b#0"]
    assert report.summary() == (
        "2 sample(s) rated from 2 entries; 1 sample(s) without an entry (sample ids: b#0); "
        "1 entry(ies) matched no sample (entry ids: zzz)"
    )


def test_difficulty_of_another_dataset_raises_and_writes_nothing(tmp_path):
    folder = _lisa_folder(tmp_path)
    bench = tmp_path / "bench"
    import_lisa(folder, bench, expand_texts=True)
    merge_difficulty(bench, {"a": 6.5})
    before = (bench / "samples.jsonl").read_bytes()
    with pytest.raises(ValueError, match=r"none of the 2 difficulty entries \(entry ids: x1, x2\) matches"):
        merge_difficulty(bench, {"x1": 3.0, "x2": 4.0}, keep_existing=False)
    # keep_existing=False would have cleared every difficulty: nothing was written
    assert (bench / "samples.jsonl").read_bytes() == before
