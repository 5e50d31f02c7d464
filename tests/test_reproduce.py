"""The tiny-model reproduction (scripts/reproduce_tiny.sh), shortened to a few steps per stage, then
the demo on the model it packaged.

Same commands, recipes and stages as ``make reproduce``; only the data sizes and step counts are
cut (environment variables of the script), so this checks that every stage runs and hands its output
to the next: data -> tower -> referring SFT -> task SFT -> GRPO (segzero, pixelthink) -> predict/eval
-> package.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pixelthink.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "reproduce_tiny.sh"


def _run_script(out: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "OUT": str(out),
        "TRAIN_N": "24",
        "TEST_N": "6",
        "DIRECT_N": "16",
        "TASK_N": "16",
        "TOWER_STEPS": "1",
        "REFER_STEPS": "1",
        "SFT_STEPS": "2",
        "GRPO_STEPS": "1",
        "PARALLEL": "1",
        "PIXELTHINK": str(bin_dir / "pixelthink"),
        "PYTHON": sys.executable,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False
    )


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("reproduce") / "run"
    proc = _run_script(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_every_stage_runs_and_feeds_the_next(reproduced: tuple[Path, str]) -> None:
    import yaml

    out, log = reproduced
    for stage in ("1/7", "2/7", "3/7", "4/7", "5/7", "6/7", "7/7"):
        assert stage in log
    chain = ("tower", "refer", "sft")
    for run in (*chain, "sft_name", "grpo_segzero", "grpo_pixelthink"):
        assert (out / run / "model.safetensors").is_file(), run
    recipes = {
        r: yaml.safe_load((out / r / "pixelthink_recipe.yaml").read_text())
        for r in (*chain, "grpo_pixelthink")
    }
    # one chain: the tower stage builds the model, every next stage starts from the one before
    assert recipes["tower"]["kind"] == "tower" and recipes["tower"]["model"]["path"] == "tiny:qwen2_5_vl"
    assert recipes["tower"]["trainer"]["box_code"] == "fourier"
    assert (out / "tower" / "tower_heads.safetensors").is_file()
    for before, after in itertools.pairwise(chain):
        assert recipes[after]["model"]["path"] == str(out / before), after
        assert recipes[after]["model"]["freeze_vision_tower"] is True
    # referring: the task's prompt, the target's name as the reasoning, on direct queries only
    assert recipes["refer"]["data"]["reasoning"] == "name" and recipes["refer"]["data"]["path"] == str(
        out / "direct"
    )
    direct = json.loads((out / "direct" / "meta.json").read_text())["generator"]
    assert direct["world"] == "simple" and set(direct["families"]) == {"direct_kind", "direct_attr"}
    assert recipes["sft"]["data"]["reasoning"] == "mix" and recipes["sft"]["data"]["path"] == str(
        out / "task"
    )
    # the no-reasoning baseline: the task SFT's start, data and steps, the name as the whole reasoning
    name = yaml.safe_load((out / "sft_name" / "pixelthink_recipe.yaml").read_text())
    assert name["data"]["reasoning"] == "name" and name["model"]["path"] == str(out / "refer")
    assert {k: v for k, v in name["trainer"].items()} == recipes["sft"]["trainer"]
    assert name["data"]["path"] == recipes["sft"]["data"]["path"]
    assert recipes["grpo_pixelthink"]["model"]["path"] == str(out / "sft")
    assert recipes["grpo_pixelthink"]["reward"]["name"] == "pixelthink"
    seg = yaml.safe_load((out / "grpo_segzero" / "pixelthink_recipe.yaml").read_text())
    assert seg["reward"]["name"] == "segzero"
    # the two GRPO runs differ only in the reward and the output directory
    strip = {"output_dir", "reward"}
    assert {k: v for k, v in seg.items() if k not in strip} == {
        k: v for k, v in recipes["grpo_pixelthink"].items() if k not in strip
    }
    assert {k: v for k, v in seg["reward"].items() if k != "name"} == {
        k: v for k, v in recipes["grpo_pixelthink"]["reward"].items() if k != "name"
    }
    # training data and the test split are separate benchmarks; the test split has its own seed (issue 30)
    meta = json.loads((out / "bench" / "meta.json").read_text())
    assert meta["splits"] == {"train": 24} and meta["generator"]["world"] == "simple"
    test = json.loads((out / "test" / "meta.json").read_text())
    assert test["splits"] == {"test": 6} and test["generator"]["seed"] == 1000
    data = json.loads((out / "data.json").read_text())
    assert data["test"] == {"seed": 1000, "test": 6} and data["bench"] == {"seed": 0, "train": 24}
    for run in ("sft", "sft_name", "grpo_segzero", "grpo_pixelthink"):
        report = json.loads((out / "eval" / f"{run}.eval.json").read_text())
        assert report["buckets"]["all"]["n"] == 6 and report["settings"]["convention"] == "lisa"
        assert report["settings"]["split"] == "test" and report["settings"]["benchmark"] == str(out / "test")


def test_package_has_model_eval_and_card(reproduced: tuple[Path, str]) -> None:
    from pixelthink.models.registry import load_reasoner

    out, log = reproduced
    pkg = out / "package"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "pixelthink_recipe.yaml", "README.md"):
        assert (pkg / name).is_file(), name
    for name in ("sft", "no_reasoning", "segzero", "pixelthink"):
        data = json.loads((pkg / "eval" / f"{name}.eval.json").read_text())
        assert "samples" not in data and data["buckets"]["all"]["n"] == 6
    assert json.loads((pkg / "training" / "data.json").read_text())["test"]["seed"] == 1000
    card = (pkg / "README.md").read_text()
    assert "## Targets (issue 30)" in card and "| pixelthink |" in card and "| segzero |" in card
    assert "| no_reasoning |" in card and "reasoning pays" in card and "chance + 25" in card
    assert "What this is: a miniature" in card and "simple world" in card
    assert "both with a KL anchor to the SFT model (beta 0.04)" in card  # read from the GRPO runs' recipes
    assert "[ok]" in log or "[MISSED]" in log  # the targets are checked and printed
    rows = json.loads((pkg / "eval" / "targets.json").read_text())  # and packaged as data, for the demo
    assert len(rows) == 9 and all(r["target"] in card for r in rows)
    size = sum(f.stat().st_size for f in pkg.rglob("*") if f.is_file())
    assert size < 12e6  # issue 22 allows up to ~30 MB of weights; this one is ~8 MB
    reasoner = load_reasoner(str(pkg), max_new_tokens=8)
    trained = yaml.safe_load((ROOT / "recipes/shapes_tiny/task.yaml").read_text())["data"]["resolution"]
    assert reasoner.resolution == trained  # the frame it was trained at, from pixelthink_recipe.yaml
    assert "Find '{question}'" in reasoner.prompt_template


def test_rerun_skips_finished_stages(reproduced: tuple[Path, str]) -> None:
    out, _ = reproduced
    before = {
        r: (out / r / "model.safetensors").stat().st_mtime_ns
        for r in ("tower", "refer", "sft", "sft_name", "grpo_segzero")
    }
    proc = _run_script(out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = {r: (out / r / "model.safetensors").stat().st_mtime_ns for r in before}
    assert after == before
    assert "resuming" in proc.stdout  # predictions already written are kept


def test_demo_runs_on_the_packaged_model(reproduced: tuple[Path, str], tmp_path: Path, capsys) -> None:
    out, _ = reproduced
    demo = tmp_path / "demo"
    args = ["demo", "--model", str(out / "package"), "--samples", "4", "--out", str(demo), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    index = demo / "report" / "index.html"
    assert f"report: {index}" in printed
    html = index.read_text(encoding="utf-8")
    labels = ("SFT (shipped eval)", "no-reasoning SFT (shipped eval)", "segzero GRPO (shipped eval)")
    for label in (*labels, "pixelthink GRPO (shipped eval)"):
        assert f'data-run="{label}"' in html
    report = json.loads((demo / "pixelthink-tiny.eval.json").read_text())
    assert report["buckets"]["all"]["n"] == 4
    assert report["settings"]["length_unit"] == "tokenizer"
    # the demo's 4 samples are the first 4 of the reproduction's test split (its seed, from data.json)
    demo_ids = [
        json.loads(line)["id"] for line in (demo / "bench" / "samples.jsonl").read_text().splitlines()
    ]
    bench = [json.loads(line) for line in (out / "test" / "samples.jsonl").read_text().splitlines()]
    test = {r["id"]: r for r in bench if r["split"] == "test"}
    demo_rows = [json.loads(line) for line in (demo / "bench" / "samples.jsonl").read_text().splitlines()]
    assert all(r["query"] == test[r["id"]]["query"] and r["mask"] == test[r["id"]]["mask"] for r in demo_rows)
    assert len(demo_ids) == 4
    # again: everything is reused
    assert main(args) == 0
    assert "reusing 4 test samples" in capsys.readouterr().out


def test_demo_without_a_model_says_how_to_make_one(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "d")]) == 2
    assert "make reproduce" in capsys.readouterr().err
