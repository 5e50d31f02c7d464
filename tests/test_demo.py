"""The README's main job (``pixelthink demo``) end to end on the shipped tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelthink.cli import main
from pixelthink.commands.demo import SHIPPED_EVALS
from pixelthink.miniature.model import shipped_model_dir
from pixelthink.models.reasoners import checkpoint_defaults


def test_shipped_model_and_its_evaluation_are_in_the_package() -> None:
    model = shipped_model_dir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "pixelthink_recipe.yaml", "README.md"):
        assert (model / name).is_file(), name
    size = sum(f.stat().st_size for f in model.rglob("*") if f.is_file())
    assert size < 12e6  # issue 22 allows up to ~30 MB of weights; the shipped model is ~8 MB
    shipped = {p.name.removesuffix(".eval.json") for p in (model / "eval").glob("*.eval.json")}
    # every evaluation make reproduce packages, the no-reasoning baseline included (issue 30)
    assert shipped == set(SHIPPED_EVALS)
    data = json.loads((model / "training" / "data.json").read_text())  # the test split it was evaluated on
    assert data["references"] == "grounded" and data["test"]["seed"] not in (
        data[k]["seed"] for k in ("bench", "direct", "task")
    )
    for name in shipped:
        report = json.loads((model / "eval" / f"{name}.eval.json").read_text())
        assert report["settings"]["convention"] == "lisa" and report["settings"]["split"] == "test"
        assert report["buckets"]["all"]["n"] == data["test"]["test"] >= 1000  # issue 30: >= 1,000 samples
    assert "## Targets" in (model / "README.md").read_text()


def test_demo_runs_end_to_end_and_resumes(tmp_path: Path, capsys, monkeypatch) -> None:
    from pixelthink.evaluate import chance

    def not_cached(*args, **kwargs):
        raise AssertionError(
            "the demo recomputed a chance level: refresh src/pixelthink/assets/demo/chance-grabcut.jsonl "
            "(commands/demo.py, SHIPPED_CHANCE)"
        )

    monkeypatch.setattr(chance, "compute_baselines", not_cached)  # the shipped cache covers the demo
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--samples", "8", "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "convention=lisa" in printed
    index = out / "report" / "index.html"
    assert f"report: {index}" in printed
    report = json.loads((out / "pixelthink-tiny.eval.json").read_text())
    assert report["buckets"]["all"]["n"] == 8
    # chance level and oracle (GrabCut, from the shipped cache), intervals and the hit rate
    a = report["buckets"]["all"]
    assert a["chance_n"] == a["oracle_n"] == a["hit_n"] == 8 and a["oracle_giou"] > 0.95
    assert a["giou_ci"] is not None and report["settings"]["chance"]["segmenter"] == "grabcut"
    assert (out / "bench" / "annotations" / "chance-grabcut.jsonl").is_file()
    assert "chance gIoU" in printed and "per query family" in printed
    # the shipped model was trained on this format: its answers parse (a failure here means the
    # shipped weights or the inference settings read from pixelthink_recipe.yaml are broken)
    preds = [json.loads(line) for line in (out / "pixelthink-tiny.preds.jsonl").read_text().splitlines()]
    assert sum(p.get("bbox") is not None for p in preds) >= 6
    res = checkpoint_defaults(shipped_model_dir())["resolution"]  # the frame it was trained at
    assert all(p["meta"]["model_size"] == [res, res] for p in preds)
    html = index.read_text()
    shipped = {n for n in SHIPPED_EVALS if (shipped_model_dir() / "eval" / f"{n}.eval.json").is_file()}
    for name, label in SHIPPED_EVALS.items():  # every evaluation the package has, no other
        assert (f'data-run="{label}"' in html) == (name in shipped), label
    from pixelthink.commands.demo import method_evals

    methods = method_evals(shipped_model_dir())  # the method table (docs/METHODS.md) shipped with the model
    assert len(methods) == 14 and "method table: thinkprune" in methods
    for label in methods:
        assert f'data-run="{label}"' in html, label
    from pixelthink.commands.demo import method_start

    assert f"efficient-reasoning methods trained from {method_start(shipped_model_dir())}" in html
    # above the table: what the model is and what its numbers mean
    assert html.index('id="about"') < html.index('id="results"') < html.index('id="compare"')
    assert "A miniature." in html and "M-parameter model of the Qwen2.5-VL architecture" in html
    assert (
        "say nothing about real images" in html
        and f"the {len(shipped)} evaluations shipped with the model" in html
    )
    from pixelthink.commands.demo import card_targets

    targets = card_targets(shipped_model_dir())  # issue 30's targets, from the model card, in the report
    assert len(targets) == 9 and targets[0][0].startswith("reasoning SFT all gIoU >= chance + 25")
    met = sum(ok for *_, ok in targets)
    assert f"{met} of 9 met" in html and "reasoning pays" in html and f"{met} of 9 met" in printed
    assert html.index('id="results"') < html.index('id="chance"') < html.index('id="compare"')
    compare = html.split('<section id="compare">', 1)[1].split("</section>", 1)[0]
    assert '<td data-col="all.n">8</td>' in compare and '<td data-col="all.n">1000</td>' in compare
    assert "is measured on 8 samples" in compare  # and the shipped rows on their own n
    # Re-running reuses the benchmark and every prediction already written.
    lines_before = (out / "pixelthink-tiny.preds.jsonl").read_text().count("\n")
    assert main(args) == 0
    assert (out / "pixelthink-tiny.preds.jsonl").read_text().count("\n") == lines_before
    assert "reusing 8 test samples" in capsys.readouterr().out


def test_demo_falls_back_to_the_references_of_packages_without_a_data_record() -> None:
    """RScore of the demo run is compared with the shipped evaluations, so the demo regenerates the test
    split with the references the package records (training/data.json, written by reproduce_tiny.sh);
    a package made before that record existed was made with text references, the demo's fallback."""
    import re

    from pixelthink.commands.demo import DEMO_REFERENCES, DEMO_WORLD
    from pixelthink.miniature.shapes.world import WORLDS

    script = (Path(__file__).resolve().parents[1] / "scripts" / "reproduce_tiny.sh").read_text()
    default = re.search(r"^REFERENCES=\$\{REFERENCES:-(\w+)\}", script, re.M)
    assert default is not None and default.group(1) == WORLDS[DEMO_WORLD].references == "grounded"
    assert '"references": "$REFERENCES"' in script  # recorded in data.json, which the demo reads
    assert DEMO_REFERENCES == "text"  # the fallback: packages from before the record


def test_demo_regenerates_the_test_split_the_package_records(tmp_path: Path) -> None:
    """A package made by reproduce_tiny.sh records its test split (training/data.json: own seed, issue 30);
    the demo regenerates exactly that split, and falls back to its constants for an older package."""
    from pixelthink.commands._errors import CommandError
    from pixelthink.commands.demo import DEMO_SEED, demo_data

    assert demo_data(tmp_path)["seed"] == DEMO_SEED  # no record: the shipped model's own (seed 0) split
    (tmp_path / "training").mkdir()
    record = tmp_path / "training" / "data.json"
    record.write_text(
        json.dumps({"world": "simple", "references": "grounded", "test": {"seed": 1000, "test": 1000}})
    )
    spec = demo_data(tmp_path)
    assert spec["seed"] == 1000 and spec["references"] == "grounded" and spec["world"] == "simple"
    record.write_text(json.dumps({"test": {"test": 1000}}))
    with pytest.raises(CommandError, match=r"data\.json.*test\.seed"):
        demo_data(tmp_path)


def test_method_table_index_errors_name_the_file(tmp_path: Path) -> None:
    from pixelthink.commands._errors import CommandError
    from pixelthink.commands.demo import method_evals

    assert method_evals(tmp_path) == {}  # a model without a method table
    (tmp_path / "methods").mkdir()
    index = tmp_path / "methods" / "index.json"
    index.write_text(json.dumps({"runs": [{"name": "segzero", "label": "segzero"}]}))
    with pytest.raises(CommandError, match=r"index\.json: names evaluations that are not there"):
        method_evals(tmp_path)
    (tmp_path / "methods" / "segzero.eval.json").write_text("{}")
    assert method_evals(tmp_path) == {"method table: segzero": tmp_path / "methods" / "segzero.eval.json"}
    from pixelthink.commands.demo import method_start

    assert (
        method_start(tmp_path) == "this model"
    )  # an index without "start": trained from the model it ships with
    index.write_text(
        json.dumps({"start": "the old miniature", "runs": [{"name": "segzero", "label": "segzero"}]})
    )
    assert method_start(tmp_path) == "the old miniature"
    index.write_text(json.dumps({"runs": [{"label": "no name"}]}))
    with pytest.raises(CommandError, match=r"index\.json: expected"):
        method_evals(tmp_path)


def test_card_targets_reads_the_packages_targets(tmp_path: Path) -> None:
    from pixelthink.commands._errors import CommandError
    from pixelthink.commands.demo import card_targets, targets_text

    assert card_targets(tmp_path) == []  # no targets file
    (tmp_path / "eval").mkdir()
    path = tmp_path / "eval" / "targets.json"
    path.write_text(json.dumps([
        {"target": "a >= b", "measured": "+1 (x)", "met": True},
        {"target": "c", "measured": "-2", "met": False},
        {"target": "d", "measured": "–", "met": None},
    ]))  # fmt: skip
    rows = card_targets(tmp_path)
    assert rows == [("a >= b", "+1 (x)", True), ("c", "-2", False)]  # the ones the evaluations can tell
    assert targets_text(rows).startswith(
        "Targets (issue 30; the model card"
    ) and "1 of 2 met" in targets_text(rows)
    path.write_text(json.dumps([{"target": "a"}]))
    with pytest.raises(CommandError, match=r"targets\.json: expected"):
        card_targets(tmp_path)
