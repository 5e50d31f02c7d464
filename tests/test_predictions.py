"""Tests of predictions.jsonl: Prediction, PredictionWriter (resume, crash repair), read_predictions."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from pixelthink.masks import encode_rle
from pixelthink.predictions import PREDICTION_KEYS, Prediction, PredictionWriter, read_predictions


def _pred(i: int) -> Prediction:
    m = np.zeros((4, 6), dtype=bool)
    m[1:3, i % 5 : i % 5 + 2] = True
    return Prediction(
        id=f"s{i}",
        response="<think>ok</think><answer>{}</answer>",
        mask=encode_rle(m),
        bbox=(1.0, 1.0, 2.5, 2.0),
        points=[(1.0, 1.0), (2.0, 2.0)],
        reasoning_tokens=12,
        answer_tokens=30,
        uncertainty=0.25,
        latency={"decode": 0.5, "total": 1.25},
        meta={"model": "tiny"},
    )


def test_roundtrip_and_key_order(tmp_path):
    path = tmp_path / "p" / "predictions.jsonl"
    with PredictionWriter(path) as w:
        for i in range(3):
            w.write(_pred(i))
    first = json.loads(path.read_text().splitlines()[0])
    assert tuple(first) == PREDICTION_KEYS
    preds = list(read_predictions(path))
    assert preds == [_pred(i) for i in range(3)]
    assert preds[0].mask_array().sum() == 4  # 2 rows x 2 cols


def test_failure_prediction_minimal():
    p = Prediction(id="x", error="parse failed")
    obj = json.loads(p.to_line())
    assert obj["mask"] is None and obj["points"] == [] and obj["error"] == "parse failed"
    assert Prediction.from_json(obj) == p
    assert Prediction.with_mask("y", None).mask is None


def test_writer_flushes_every_line(tmp_path):
    path = tmp_path / "predictions.jsonl"
    w = PredictionWriter(path)
    w.write(_pred(0))
    # not closed yet: the line is already readable by another reader
    assert [p.id for p in read_predictions(path)] == ["s0"]
    w.close()


def test_resume_skips_done_and_refuses_duplicates(tmp_path):
    path = tmp_path / "predictions.jsonl"
    with PredictionWriter(path) as w:
        w.write(_pred(0))
        with pytest.raises(ValueError, match="already written"):
            w.write(_pred(0))
    with PredictionWriter(path, resume=True) as w:
        assert w.done_ids == {"s0"}
        with pytest.raises(ValueError, match="already written"):
            w.write(_pred(0))
        w.write(_pred(1))
    assert [p.id for p in read_predictions(path)] == ["s0", "s1"]
    with pytest.raises(FileExistsError):
        PredictionWriter(path, resume=False)
    with PredictionWriter(path, resume=False, overwrite=True) as w:
        assert w.done_ids == set()
        w.write(_pred(5))
    assert [p.id for p in read_predictions(path)] == ["s5"]


def test_truncated_last_line_is_repaired(tmp_path, caplog):
    path = tmp_path / "predictions.jsonl"
    with PredictionWriter(path) as w:
        w.write(_pred(0))
        w.write(_pred(1))
    text = path.read_text()
    path.write_text(text + _pred(2).to_line()[:25])  # crash in the middle of line 3
    with caplog.at_level(logging.WARNING):
        assert [p.id for p in read_predictions(path)] == ["s0", "s1"]
    assert "truncated" in caplog.text
    with PredictionWriter(path) as w:
        assert w.repaired and w.done_ids == {"s0", "s1"}
        w.write(_pred(2))
    assert path.read_text().count("\n") == 3
    assert [p.id for p in read_predictions(path)] == ["s0", "s1", "s2"]


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text(_pred(0).to_line())  # valid JSON, newline missing
    with PredictionWriter(path) as w:
        assert w.done_ids == {"s0"} and not w.repaired
        w.write(_pred(1))
    assert [p.id for p in read_predictions(path)] == ["s0", "s1"]


def test_read_errors_name_line_and_field(tmp_path):
    path = tmp_path / "predictions.jsonl"
    good = _pred(0).to_json()
    bad = dict(_pred(1).to_json(), bbox=[1, 2])
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=r"predictions.jsonl:2: field 'bbox'"):
        list(read_predictions(path))
    path.write_text("{broken\n" + json.dumps(good) + "\n")
    with pytest.raises(ValueError, match=r"predictions.jsonl:1: invalid JSON"):
        list(read_predictions(path))
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(ValueError, match=r"predictions.jsonl:2: field 'id': duplicate"):
        list(read_predictions(path))
    path.write_text(json.dumps(dict(good, reasoning_tokens=-1)) + "\n")
    with pytest.raises(ValueError, match="reasoning_tokens"):
        list(read_predictions(path))
    path.write_text(json.dumps(dict(good, mask={"size": [2, 2], "counts": "0"})) + "\n")
    with pytest.raises(ValueError, match="field 'mask'"):
        list(read_predictions(path))
    with pytest.raises(FileNotFoundError):
        list(read_predictions(tmp_path / "missing.jsonl"))


def test_write_rejects_invalid_prediction(tmp_path):
    with PredictionWriter(tmp_path / "p.jsonl") as w:
        with pytest.raises(ValueError, match="non-finite"):
            w.write(Prediction(id="a", uncertainty=float("nan")))
        assert w.done_ids == set()
