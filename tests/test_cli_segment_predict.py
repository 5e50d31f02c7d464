"""``pixelthink segment`` and ``pixelthink predict`` end to end.

Two reasoners: the tiny random Qwen2.5-VL (real transformers backend; its answers are noise, so its
samples are recorded failures) and a scripted OpenAI-compatible HTTP server standing in for vLLM
(the real OpenAI backend talks to it), which gives exact answers so the success path can be checked.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pixelthink.cli import main
from pixelthink.data import BenchmarkWriter
from pixelthink.predictions import read_predictions

# Scene: 160x120, bright block at x 30..99, y 40..89. In the 840x840 model frame x * 5.25, y * 7:
# box (30, 40, 99, 89) -> (157.5, 280, 519.75, 623); points (64, 64) -> (336, 448), (50, 80) -> (262.5, 560).
GOOD = (
    "<think>The bright block.</think>"
    '<answer>{"bbox": [157.5, 280, 519.75, 623], "points_1": [336, 448], "points_2": [262.5, 560]}</answer>'
)
BAD = "<think>hmm</think><answer>no idea</answer>"
SCRIPT = {"block": GOOD, "nonsense": BAD}


def _scene() -> tuple[Image.Image, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(60, 15, (120, 160, 3))
    obj = np.zeros((120, 160), bool)
    obj[40:90, 30:100] = True
    image[obj] = rng.normal([200, 90, 50], 15, (int(obj.sum()), 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)), obj


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


@pytest.fixture(scope="module")
def server_url(scripted_server):
    """Answers by the first SCRIPT key found in the prompt (BAD otherwise)."""
    return scripted_server(
        lambda prompt: next((answer for key, answer in SCRIPT.items() if key in prompt), BAD),
        usage={"completion_tokens": 40},
    )


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """4 samples: two answerable queries, one that gets a malformed answer, one corrupt image file."""
    root = tmp_path_factory.mktemp("bench") / "bench"
    image, obj = _scene()
    with BenchmarkWriter(root, name="tiny") as writer:
        writer.add(
            {"id": "a", "query": "the block", "mask": obj, "split": "test"}, image, image_name="scene.png"
        )
        writer.add(
            {"id": "b", "query": "the nonsense", "mask": obj, "split": "test"}, image, image_name="scene.png"
        )
        writer.add(
            {"id": "c", "query": "the block?", "mask": obj, "split": "test"}, image, image_name="c.png"
        )
        writer.add(
            {"id": "d", "query": "the block!", "mask": obj, "split": "test"}, image, image_name="d.png"
        )
    (root / "images" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated garbage")
    return root, obj


# ---------------------------------------------------------------------------------------------- segment
def test_segment_prints_the_answer_and_writes_mask_and_overlay(tmp_path, server_url, capsys) -> None:
    image, obj = _scene()
    image.save(tmp_path / "scene.png")
    out, mask_out = tmp_path / "o" / "overlay.png", tmp_path / "mask.png"
    rc = main(
        ["segment", str(tmp_path / "scene.png"), "the block", "--reasoner", server_url, "--model", "scripted",
         "--segmenter", "grabcut", "--out", str(out), "--mask-out", str(mask_out)]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0
    assert "The bright block." in text
    assert "box: [30.0, 40.0, 99.0, 89.0]" in text and "points: [64.0, 64.0], [50.0, 80.0]" in text
    assert "model frame 840x840" in text and "timings (s):" in text
    mask = np.asarray(Image.open(mask_out)) > 0
    assert mask.shape == (120, 160) and _iou(mask, obj) > 0.8
    with Image.open(out) as overlay:
        assert overlay.size == (160, 120)
        drawn = np.asarray(overlay.convert("RGB"))
    assert not np.array_equal(drawn, np.asarray(image))  # tint, box and points were drawn


def test_segment_json_with_tiny_models(tmp_path, tiny_models, capsys) -> None:
    qwen, sam2 = tiny_models
    image, _ = _scene()
    image.save(tmp_path / "scene.jpg")
    rc = main(
        ["segment", str(tmp_path / "scene.jpg"), "the block", "--reasoner", str(qwen), "--segmenter",
         f"sam2:{sam2}", "--resolution", "112", "--max-new-tokens", "8", "--device", "cpu", "--json",
         "--out", str(tmp_path / "ov.png"), "--mask-out", str(tmp_path / "m.png")]
    )  # fmt: skip
    payload = json.loads(capsys.readouterr().out)
    assert rc == (0 if payload["error"] is None else 1)
    assert payload["model_size"] == [112, 112] and payload["image_size"] == [160, 120]
    assert 1 <= payload["reasoning_tokens"] + payload["answer_tokens"] <= 8
    assert set(payload["timings"]) >= {"load", "prefill", "decode", "segment", "total"}
    assert Image.open(tmp_path / "m.png").size == (160, 120) and (tmp_path / "ov.png").is_file()


def test_segment_reports_bad_inputs(tmp_path, capsys) -> None:
    assert main(["segment", str(tmp_path / "none.png"), "q", "--reasoner", str(tmp_path)]) == 2
    assert "image file not found" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["segment", str(tmp_path / "bad.png"), "q", "--reasoner", str(tmp_path)]) == 2
    assert "cannot decode image" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["segment", "x.png", "q", "--reasoner", "r", "--resolution", "huge"])


# ---------------------------------------------------------------------------------------------- predict
def _predict(bench_dir, out, reasoner, *extra: str) -> int:
    return main(["predict", "--data", str(bench_dir), "--out", str(out), "--reasoner", reasoner,
                 "--no-progress", *extra])  # fmt: skip


def test_predict_resumes_and_records_failures(tmp_path, bench, server_url, capsys) -> None:
    root, obj = bench
    out = tmp_path / "preds.jsonl"
    assert _predict(root, out, server_url, "--model", "scripted", "--limit", "2", "--batch-size", "2") == 0
    first = [p.id for p in read_predictions(out)]
    assert first == ["a", "b"]
    assert _predict(root, out, server_url, "--model", "scripted", "--split", "test") == 0
    assert "resuming" in capsys.readouterr().out
    preds = {p.id: p for p in read_predictions(out)}
    assert sorted(preds) == ["a", "b", "c", "d"]
    assert [p.id for p in read_predictions(out)][:2] == first  # earlier lines untouched

    for good in ("a", "d"):
        p = preds[good]
        assert p.error is None and p.bbox == pytest.approx((30.0, 40.0, 99.0, 89.0))
        assert _iou(p.mask_array(), obj) > 0.8
        assert set(p.latency) >= {"load", "prefill", "decode", "segment", "total"}
    assert preds["b"].error.startswith("answer: no usable box or points")
    assert not preds["b"].mask_array().any() and preds["b"].response == BAD
    assert "cannot decode image" in preds["c"].error and "c.png" in preds["c"].error
    assert preds["c"].mask is None

    settings = json.loads((tmp_path / "preds.run.json").read_text())
    assert (
        settings["segmenter"] == "grabcut" and settings["resolution"] == 840 and settings["split"] == "test"
    )

    # a third run has nothing left to do
    assert _predict(root, out, server_url, "--model", "scripted") == 0
    assert len(list(read_predictions(out))) == 4


def test_predict_refuses_to_resume_with_other_model_settings(tmp_path, bench, server_url, capsys) -> None:
    root, _ = bench
    out = tmp_path / "preds.jsonl"
    run_file = tmp_path / "preds.run.json"
    assert _predict(root, out, server_url, "--model", "scripted", "--limit", "2") == 0
    lines, first_settings = out.read_text(), run_file.read_text()
    assert json.loads(first_settings)["answer_frame"] == "input"
    capsys.readouterr()

    changed = ("--max-new-tokens", "8", "--answer-frame", "vision", "--segmenter", "box")
    assert _predict(root, out, server_url, "--model", "scripted", *changed) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for needle in (
        "has 2 predictions made with other settings",
        '--segmenter "box" (was "grabcut")',
        '--answer-frame "vision" (was "input")',
        "--max-new-tokens 8 (was 1024)",
        "new --out",
        "--overwrite",
    ):
        assert needle in err, (needle, err)
    assert "--model" not in err.split("settings (", 1)[1].split(")", 1)[0]  # unchanged settings not listed
    assert out.read_text() == lines and run_file.read_text() == first_settings  # nothing touched
    # another server / model name is a different reasoner too
    assert _predict(root, out, server_url + "?model=x", "--model", "other") == 2
    assert '--model "other" (was "scripted")' in capsys.readouterr().err

    # --allow-mixed adds to the file and records both settings
    assert _predict(root, out, server_url, "--model", "scripted", *changed, "--allow-mixed") == 0
    assert sorted(p.id for p in read_predictions(out)) == ["a", "b", "c", "d"]
    settings = json.loads(run_file.read_text())
    assert settings["max_new_tokens"] == 8 and settings["written"] == 2
    mixed = settings["mixed_settings"]
    assert [m["max_new_tokens"] for m in mixed] == [1024, 8]
    assert [m["segmenter"] for m in mixed] == ["grabcut", "box"]

    # --overwrite starts over with the new settings: no mixed record left
    assert _predict(root, out, server_url, "--model", "scripted", "--max-new-tokens", "8", "--overwrite") == 0
    settings = json.loads(run_file.read_text())
    assert "mixed_settings" not in settings and settings["written"] == 4


def test_predict_repairs_a_truncated_last_line(tmp_path, bench, server_url) -> None:
    root, _ = bench
    out = tmp_path / "preds.jsonl"
    assert _predict(root, out, server_url, "--model", "scripted", "--limit", "3") == 0
    data = out.read_bytes()
    out.write_bytes(data[: len(data) - 25])  # a crash in the middle of writing line 3
    assert _predict(root, out, server_url, "--model", "scripted") == 0
    ids = [p.id for p in read_predictions(out)]
    assert sorted(ids) == ["a", "b", "c", "d"] and len(ids) == 4


def test_predict_shards_partition_the_ids(tmp_path, bench, server_url) -> None:
    root, _ = bench
    ids = []
    for i in range(2):
        out = tmp_path / f"shard{i}.jsonl"
        assert _predict(root, out, server_url, "--model", "scripted", "--shard", f"{i}/2") == 0
        ids.append({p.id for p in read_predictions(out)})
    assert ids[0].isdisjoint(ids[1]) and ids[0] | ids[1] == {"a", "b", "c", "d"}

    # eval merges the shards: the same numbers as one unsharded run
    whole = tmp_path / "whole.jsonl"
    assert _predict(root, whole, server_url, "--model", "scripted") == 0
    reports = {}
    for name, preds in (
        ("sharded", [tmp_path / "shard0.jsonl", tmp_path / "shard1.jsonl"]),
        ("whole", [whole]),
    ):
        reports[name] = tmp_path / f"{name}.json"
        argv = ["eval", "--data", str(root), "--predictions", *map(str, preds), "--out", str(reports[name])]
        assert main([*argv, "--judge", "none", "--no-progress"]) == 0
    sharded, whole_report = (
        json.loads(reports[k].read_text())["buckets"]["all"] for k in ("sharded", "whole")
    )
    assert (
        sharded["n"] == 4
        and sharded["giou"] == whole_report["giou"]
        and sharded["ciou"] == whole_report["ciou"]
    )
    # a prediction in two shards is an error naming both files
    argv = ["eval", "--data", str(root), "--predictions", str(whole), str(tmp_path / "shard0.jsonl")]
    assert main([*argv, "--no-progress"]) == 2


def test_predict_with_tiny_models(tmp_path, bench, tiny_models) -> None:
    root, _ = bench
    qwen, sam2 = tiny_models
    out = tmp_path / "tiny.jsonl"
    rc = _predict(root, out, str(qwen), "--segmenter", f"sam2:{sam2}", "--resolution", "112",
                  "--max-new-tokens", "8", "--batch-size", "3", "--device", "cpu")  # fmt: skip
    assert rc == 0
    preds = {p.id: p for p in read_predictions(out)}
    assert sorted(preds) == ["a", "b", "c", "d"]
    assert "cannot decode image" in preds["c"].error
    for key in ("a", "b", "d"):
        p = preds[key]
        assert p.response is not None and p.latency["decode"] > 0
        assert 1 <= p.reasoning_tokens + p.answer_tokens <= 8
        assert p.mask is not None and p.mask["size"] == [120, 160]
        assert p.meta["model_size"] == [112, 112]


def test_predict_rejects_bad_arguments(tmp_path, bench, capsys) -> None:
    root, _ = bench
    assert _predict(root, tmp_path / "p.jsonl", "http://127.0.0.1:9/v1", "--split", "train") == 2
    assert "no samples in split 'train'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _predict(root, tmp_path / "p.jsonl", "x", "--shard", "2/2")


def test_predict_then_eval(tmp_path, bench, server_url, capsys) -> None:
    root, _ = bench
    out = tmp_path / "preds.jsonl"
    assert _predict(root, out, server_url, "--model", "scripted") == 0
    report = tmp_path / "report.json"
    rc = main(["eval", "--data", str(root), "--predictions", str(out), "--out", str(report), "--judge", "none",
               "--no-progress"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    text = report.read_text()
    # a, d segmented (IoU > 0.8 each), b and c failed (IoU 0): gIoU is between 2*0.8/4 and 2/4
    data = json.loads(text)
    giou = _find_number(data, "giou")
    assert giou is not None and 0.4 < giou <= 0.5 + 1e-9


def _find_number(obj, key: str):
    """First numeric value under a key named ``key`` (case-insensitive) anywhere in a JSON report."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.lower() == key and isinstance(v, int | float):
                return float(v)
        for v in obj.values():
            found = _find_number(v, key)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = _find_number(v, key)
            if found is not None:
                return found
    return None
