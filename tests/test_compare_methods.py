"""scripts/compare_methods.sh shortened (a few methods, 1 GRPO step, tiny data), as tests/test_reproduce.py
runs scripts/reproduce_tiny.sh: every stage runs and hands its output to the next, the table reaches the docs.

The SFT start is a tiny model warm-started for 2 steps by `pixelthink train sft` (the script only needs a
trained checkpoint); the GRPO runs are shrunk with GRPO_ARGS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pixelthink.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "compare_methods.sh"
METHODS = "pixelthink l1_exact shorterbetter"  # a baseline recipe, L1 (prompt target), a group variant


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    return {
        **os.environ,
        "SFT_MODEL": str(tmp / "sft"),
        "TRAIN_BENCH": str(tmp / "bench"),
        "OUT": str(tmp / "methods"),
        "TEST_N": "4",
        "TEST_SEED": "7",
        "GRPO_STEPS": "1",
        "JOBS": "2",
        "METHODS": METHODS,
        "BUDGET": "3",
        "MAX_NEW_TOKENS": "24",
        "GRPO_ARGS": "trainer.num_generations=2 trainer.per_device_train_batch_size=2 "
        "trainer.max_completion_length=16 data.resolution=112 data.split=null",
        "DOCS": str(tmp / "METHODS.md"),
        "SHIP": "1",
        "SHIP_DIR": str(tmp / "model" / "methods"),
        "PIXELTHINK": str(bin_dir / "pixelthink"),
        "PYTHON": sys.executable,
        **extra,
    }


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False
    )


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("methods")
    args = ["data", "shapes", "--world", "simple", "--out", str(tmp / "bench"), "--seed", "0"]
    assert main([*args, "--train", "8", "--val", "0", "--test", "0", "--no-progress"]) == 0
    sft = [
        "train",
        "sft",
        "--config",
        str(ROOT / "recipes" / "tiny_cpu_sft.yaml"),
        f"data.path={tmp / 'bench'}",
    ]
    assert main([*sft, f"output_dir={tmp / 'sft'}", "trainer.max_steps=2", "trainer.save_steps=2"]) == 0
    (tmp / "METHODS.md").write_text((ROOT / "docs" / "METHODS.md").read_text())
    return tmp, _run(_env(tmp))


def test_every_stage_runs_and_the_table_reaches_the_docs(
    compared: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tmp, proc = compared
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for stage in ("1/4", "2/4", "3/4", "4/4"):
        assert stage in proc.stdout
    out = tmp / "methods"
    # the test split: its own seed, TEST_N samples
    meta = json.loads((out / "test" / "meta.json").read_text())
    assert meta["splits"] == {"test": 4} and meta["generator"]["seed"] == 7
    import yaml

    for m in METHODS.split():
        recipe = yaml.safe_load((out / m / "pixelthink_recipe.yaml").read_text())
        assert recipe["model"]["path"] == str(tmp / "sft") and recipe["reward"]["name"] == m  # one start
        assert recipe["data"]["path"] == str(tmp / "bench") and recipe["trainer"]["max_steps"] == 1
    runs = {"sft": {}, "sft_budget3": {"max_think_tokens": 3}, "sft_brevity": {"prompt_preset": "brevity"}}
    runs |= {
        "sft_no_think": {"prompt_preset": "no_think"},
        "l1_exact": {"prompt_suffix": " Think for 58 words."},  # L1_TARGET: the easy budget
    }
    for name, settings in runs.items():
        run = json.loads((out / "eval" / f"{name}.predictions.run.json").read_text())
        assert {k: run[k] for k in settings} == settings, name
        report = json.loads((out / "eval" / f"{name}.eval.json").read_text())
        assert report["buckets"]["all"]["n"] == 4 and report["settings"]["split"] == "test"
    table = (out / "compare" / "compare.md").read_text()
    for label in ("sft", "sft + budget 3", "sft + brevity prompt", "sft + no_think prompt", *METHODS.split()):
        assert f"| all | {label} |" in table, label
    assert (out / "compare" / "pareto.png").is_file() and (out / "compare" / "index.html").is_file()
    docs = (tmp / "METHODS.md").read_text()
    inside = docs.split("<!-- methods-table:start -->", 1)[1].split("<!-- methods-table:end -->", 1)[0]
    assert "Produced by scripts/compare_methods.sh (" in inside and "| all | l1_exact |" in inside
    per_run = [int(x.split(": ")[1].split()[0]) for x in (out / "train_seconds.txt").read_text().splitlines()]
    # from train_seconds.txt, true on a resume
    assert f"GRPO {min(per_run)}-{max(per_run)} s per run" in inside
    assert "(not yet run" not in inside
    # SHIP=1: the evaluations and an index naming the start model, as the demo reads them
    from pixelthink.commands.demo import method_evals, method_start

    shipped = method_evals(tmp / "model")
    assert set(shipped) == {f"method table: {label}" for label in ("sft", "sft + budget 3", "sft + brevity prompt",
                                                                  "sft + no_think prompt", *METHODS.split())}  # fmt: skip
    assert all("samples" not in json.loads(p.read_text()) for p in shipped.values())  # per bucket only
    assert method_start(tmp / "model") == f"sft ({tmp / 'sft'}), 1 GRPO steps per method"
    assert docs.endswith(
        (ROOT / "docs" / "METHODS.md").read_text().rsplit("<!-- methods-table:end -->", 1)[1]
    )


def test_rerun_skips_finished_runs(compared: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    tmp, _ = compared
    out = tmp / "methods"
    before = {m: (out / m / "model.safetensors").stat().st_mtime_ns for m in METHODS.split()}
    proc = _run(_env(tmp))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {m: (out / m / "model.safetensors").stat().st_mtime_ns for m in METHODS.split()} == before
    assert "resuming" in proc.stdout  # predictions already written are kept


def test_without_an_sft_model_it_says_how_to_make_one(tmp_path: Path) -> None:
    proc = _run(_env(tmp_path, SFT_MODEL=str(tmp_path / "none")))
    assert proc.returncode == 2 and "make reproduce" in proc.stderr
