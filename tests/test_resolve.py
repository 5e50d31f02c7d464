"""``--data`` accepts a LISA ReasonSeg folder (and Seg-Zero parquet) directly, imported once into a cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.cli import main
from pixelthink.data.resolve import detect_layout, open_benchmark, resolve_benchmark_dir
from pixelthink.masks import encode_rle
from pixelthink.predictions import Prediction, PredictionWriter

TARGET = [[2, 2], [9, 2], [9, 7], [2, 7]]  # filled with its boundary: x 2..9, y 2..7 -> 8 * 6 = 48 px
IGNORE = [[12, 2], [15, 2], [15, 5], [12, 5]]  # x 12..15, y 2..5 -> 4 * 4 = 16 px


@pytest.fixture()
def lisa_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIXELTHINK_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "ReasonSeg" / "val"
    folder.mkdir(parents=True)
    Image.new("RGB", (20, 10), "gray").save(folder / "img1.jpg")
    shapes = [{"label": "target", "points": TARGET}, {"label": "ignore", "points": IGNORE}]
    (folder / "img1.json").write_text(
        json.dumps({"text": ["the thing"], "is_sentence": False, "shapes": shapes})
    )
    return folder


def _predictions(path: Path) -> Path:
    pred = np.zeros((10, 20), dtype=bool)
    pred[2:5, 2:10] = True  # rows 2..4 of the target: 3 * 8 = 24 px
    pred[2:6, 12:16] = True  # the whole ignore region: 16 px
    with PredictionWriter(path) as w:
        w.write(Prediction(id="img1", response=None, mask=encode_rle(pred)))
    return path


def test_detect_layout(lisa_folder: Path, tmp_path: Path) -> None:
    assert detect_layout(lisa_folder) == "lisa"
    (tmp_path / "x.parquet").write_bytes(b"")
    assert detect_layout(tmp_path / "x.parquet") == "segzero"
    assert detect_layout(tmp_path / "nothing-here") is None


def test_eval_on_a_lisa_folder_both_conventions(lisa_folder: Path, tmp_path: Path) -> None:
    bench = open_benchmark(lisa_folder)
    sample = bench.get("img1")
    assert int(sample.mask_array().sum()) == 48 and int(sample.ignore_array().sum()) == 16
    preds = _predictions(tmp_path / "preds.jsonl")

    out = tmp_path / "lisa.json"
    assert main(["eval", "--data", str(lisa_folder), "--predictions", str(preds), "--out", str(out)]) == 0
    lisa = json.loads(out.read_text())["buckets"]["all"]
    # lisa: ignore pixels leave I and U: I = 24, U = 48; IoU = 24 / (48 + 1e-5); gIoU divides by n + 1e-5.
    assert lisa["giou"] == pytest.approx((24 / (48 + 1e-5)) / (1 + 1e-5), abs=1e-12)
    assert lisa["ciou"] == pytest.approx(24 / 48, abs=1e-9)

    out = tmp_path / "segzero.json"
    argv = ["eval", "--data", str(lisa_folder), "--predictions", str(preds), "--out", str(out)]
    assert main([*argv, "--convention", "segzero"]) == 0
    segzero = json.loads(out.read_text())["buckets"]["all"]
    # segzero: ignore counts as target: GT 48 + 16 = 64 px, prediction 24 + 16 = 40 px, all inside: 40 / 64.
    assert segzero["giou"] == pytest.approx(40 / 64) and segzero["ciou"] == pytest.approx(40 / 64)


def test_import_is_cached_and_refreshed_on_change(lisa_folder: Path) -> None:
    first = resolve_benchmark_dir(lisa_folder)
    assert first != lisa_folder and (first / "samples.jsonl").is_file()
    assert resolve_benchmark_dir(lisa_folder) == first  # reused, not imported again
    data = json.loads((lisa_folder / "img1.json").read_text())
    data["text"] = ["another query, longer"]
    (lisa_folder / "img1.json").write_text(json.dumps(data))
    second = resolve_benchmark_dir(lisa_folder)
    assert second != first
    assert open_benchmark(lisa_folder).get("img1").query == "another query, longer"


def test_unrecognised_folder_gets_the_benchmark_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"samples\.jsonl is missing"):
        open_benchmark(tmp_path / "empty")
