"""CLI tests of ``pixelthink data`` through ``pixelthink.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image

from pixelthink.cli import main
from pixelthink.data import Benchmark

BIG = [[2, 2], [12, 2], [12, 10], [2, 10]]  # 99 px
SMALL = [[5, 5], [8, 5], [8, 7], [5, 7]]  # 12 px


def _lisa(root: Path) -> Path:
    folder = root / "test"
    folder.mkdir()
    for stem, shapes, sentence in (
        ("a", [{"label": "target", "points": BIG}, {"label": "ignore", "points": SMALL}], True),
        ("b", [{"label": "target", "points": SMALL}], False),
        ("c", [{"label": "target", "points": [[0, 0], [19, 0], [19, 15], [0, 15]]}], False),
    ):
        Image.new("RGB", (20, 16), "green").save(folder / f"{stem}.jpg")
        (folder / f"{stem}.json").write_text(
            json.dumps({"text": [f"query {stem}"], "is_sentence": sentence, "shapes": shapes})
        )
    return folder


def test_cli_full_flow(tmp_path, capsys):
    folder = _lisa(tmp_path)
    bench = tmp_path / "bench"
    assert main(["data", "import", "lisa", str(folder), "--out", str(bench), "--no-progress"]) == 0
    assert "3 samples from 3 images" in capsys.readouterr().out
    assert main(["data", "validate", str(bench)]) == 0
    assert "valid" in capsys.readouterr().out

    dfile = tmp_path / "d.json"
    dfile.write_text(
        json.dumps(
            [{"image_id": "a", "difficulty_score_model": 6}, {"image_id": "b", "difficulty_score_model": 4}]
        )
    )
    assert main(["data", "import", "difficulty", str(bench), str(dfile)]) == 0
    assert (
        "2 sample(s) rated from 2 entries; 1 sample(s) without an entry (sample ids: c); "
        "0 entry(ies) matched no sample" in capsys.readouterr().out
    )

    assert main(["data", "stats", str(bench), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["samples"] == 3 and stats["splits"] == {"test": 3}
    assert stats["difficulty"] == {"easy": 0, "medium": 1, "hard": 1, "unrated": 1}
    assert stats["queries"] == {"sentence": 1, "phrase": 2}
    # mask areas over 20*16 = 320 px: b = 12/320 = 0.0375, a = 87/320 = 0.271875, c = 320/320 = 1
    assert stats["mask_area_fraction"] == {"min": 0.0375, "median": 0.271875, "max": 1.0}
    assert stats["with_ignore"] == 1
    assert main(["data", "stats", str(bench)]) == 0
    text = capsys.readouterr().out
    assert "easy(<3.5)=0 medium=1 hard(>=5)=1 unrated=1" in text

    out = tmp_path / "train.parquet"
    assert main(["data", "export", "segzero", str(bench), "--out", str(out), "--no-progress"]) == 0
    assert "3 rows written" in capsys.readouterr().out
    table = pq.read_table(out)
    assert table.num_rows == 3 and table.column("difficulty").to_pylist() == [6.0, 4.0, None]


def test_cli_validate_reports_errors(tmp_path, capsys):
    bench = tmp_path / "bench"
    assert main(["data", "import", "lisa", str(_lisa(tmp_path)), "--out", str(bench), "--no-progress"]) == 0
    lines = (bench / "samples.jsonl").read_text().splitlines()
    obj = json.loads(lines[1])
    obj["difficulty"] = 12
    lines[1] = json.dumps(obj)
    (bench / "samples.jsonl").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["data", "validate", str(bench)]) == 1
    out = capsys.readouterr()
    assert "samples.jsonl:2: field 'difficulty'" in out.out and "1 problem(s)" in out.err


def test_cli_user_errors_exit_2(tmp_path, capsys):
    assert main(["data", "import", "lisa", str(tmp_path / "missing"), "--out", str(tmp_path / "b")]) == 2
    assert "LISA folder not found" in capsys.readouterr().err
    bench = tmp_path / "bench"
    main(["data", "import", "lisa", str(_lisa(tmp_path)), "--out", str(bench), "--no-progress"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": "a", "difficulty_score_model": 0}]))
    before = (bench / "samples.jsonl").read_bytes()
    assert main(["data", "import", "difficulty", str(bench), str(bad)]) == 2
    assert "difficulty_score_model" in capsys.readouterr().err
    assert (bench / "samples.jsonl").read_bytes() == before
    # importing over an existing benchmark needs --overwrite
    folder = tmp_path / "test"
    assert main(["data", "import", "lisa", str(folder), "--out", str(bench), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"pixelthink data: error: {bench}: a benchmark already exists here; pass --overwrite to replace it"
    )
    assert (
        main(["data", "import", "lisa", str(folder), "--out", str(bench), "--overwrite", "--no-progress"])
        == 0
    )
    assert len(Benchmark(bench)) == 3
    assert main(["data"]) == 2


def test_cli_difficulty_of_another_dataset_exit_2(tmp_path, capsys):
    bench = tmp_path / "bench"
    assert main(["data", "import", "lisa", str(_lisa(tmp_path)), "--out", str(bench), "--no-progress"]) == 0
    before = (bench / "samples.jsonl").read_bytes()
    dfile = tmp_path / "other.json"
    dfile.write_text(json.dumps([{"image_id": "zzz", "difficulty_score_model": 4}]))
    capsys.readouterr()
    assert main(["data", "import", "difficulty", str(bench), str(dfile), "--clear-unmatched"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert f"none of the 1 difficulty entries of {dfile} (entry ids: zzz) matches a sample" in captured.err
    assert "(3 samples, ids: a, b, c)" in captured.err
    assert (bench / "samples.jsonl").read_bytes() == before


def test_cli_validate_images_decodes_every_image(tmp_path, capsys):
    bench = tmp_path / "bench"
    assert main(["data", "import", "lisa", str(_lisa(tmp_path)), "--out", str(bench), "--no-progress"]) == 0
    image = bench / list(Benchmark(bench))[1].image
    image.write_bytes(b"not a jpeg")  # present on disk, so the cheap check passes
    capsys.readouterr()
    assert main(["data", "validate", str(bench)]) == 0
    assert main(["data", "validate", str(bench), "--images"]) == 1
    out = capsys.readouterr().out
    assert "samples.jsonl:2" in out and image.name in out
