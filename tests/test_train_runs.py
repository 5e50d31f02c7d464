"""End-to-end training on CPU with a tiny Qwen2.5-VL: SFT warm start, GRPO with every reward,
uncertainty reaching the reward, reward shaping seen in the trainer's own advantages, resume.

One SFT warm start (module fixture) teaches the random tiny model the answer format, so GRPO rollouts
sampled at temperature 1 are sometimes well formed and rewards vary inside a group (non-zero
advantages, so parameters move).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from pixelthink.data import BenchmarkWriter
from pixelthink.frames import FrameTransform
from pixelthink.rewards import (
    RewardConfig,
    batch_rewards,
    difficulty_bucket,
    format_ground_truth,
    l1_target_length,
)
from pixelthink.train.config import load_recipe
from pixelthink.train.data import answer_json

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "recipes" / "tiny_cpu.yaml"
TINY_SFT = ROOT / "recipes" / "tiny_cpu_sft.yaml"
W, H, RES = 80, 60, 112
BOX = (20, 10, 59, 39)  # original frame, inclusive extremes of the rectangle mask below


def _write_benchmark(path: Path, n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    difficulties = [2.0, 4.0, 7.0, None]
    with BenchmarkWriter(path, name="tiny") as w:
        for i in range(n):
            img = Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
            mask = np.zeros((H, W), bool)
            mask[10:40, 20:60] = True
            w.add(
                {
                    "id": f"s{i}",
                    "query": f"the red box number {i}",
                    "mask": mask,
                    "difficulty": difficulties[i % 4],
                    "reasoning_short": "red box",
                    "reasoning_long": "I look at the image and the red box is the one",
                    "split": "train",
                },
                img,
            )
    return path


def _metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in sorted(directory.glob("*.safetensors")):
        out.update(load_file(str(f)))
    assert out, f"no safetensors in {directory}"
    return out


def _train_sft(bench: Path, out: Path, *overrides: str) -> int:
    """``pixelthink train sft`` on the tiny recipe (lr 1e-2) through the CLI; the exit status."""
    from pixelthink.cli import main

    args = ["train", "sft", "--config", str(TINY_SFT), f"data.path={bench}", f"output_dir={out}"]
    return main([*args, "trainer.learning_rate=1.0e-2", *overrides])


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_benchmark(tmp_path_factory.mktemp("bench") / "tiny")


@pytest.fixture(scope="module")
def sft_model(bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model warm-started with `pixelthink train sft` (through the CLI)."""
    out = tmp_path_factory.mktemp("sft") / "run"
    assert (
        _train_sft(bench, out, "data.reasoning=short", "trainer.max_steps=40", "trainer.save_steps=40") == 0
    )
    return out


def test_sft_saves_a_model_that_load_reasoner_runs(sft_model: Path, bench: Path) -> None:
    from pixelthink.models.registry import load_reasoner

    metrics = _metrics(sft_model / "metrics.jsonl")
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert len(losses) >= 2 and losses[-1] < losses[0]  # it learned something
    assert (sft_model / "pixelthink_recipe.yaml").is_file()
    reasoner = load_reasoner(str(sft_model), resolution=RES, max_new_tokens=60)
    img = Image.open(next((bench / "images").iterdir())).convert("RGB")
    (gen,) = reasoner.generate([img], ["the red box number 1"])
    # the warm start learned the target format: <think>red box</think><answer>{json}</answer>
    ft = FrameTransform.for_size(W, H, RES)
    target = answer_json(ft.box_to_model(BOX), ft.points_to_model([(34, 24), (54, 34)]))
    assert gen.text.startswith("<think>"), gen.text
    assert "<answer>" in gen.text and gen.frame.model_size == (RES, RES)
    del target


@pytest.mark.parametrize(
    "reward", ["pixelthink", "segzero", "naive_length", "difficulty_only", "uncertainty_only"]
)
def test_grpo_every_reward_logs_and_updates(
    reward: str, sft_model: Path, bench: Path, tmp_path: Path
) -> None:
    from pixelthink.train.grpo import run_grpo

    recipe = load_recipe(
        TINY,
        [
            f"model.path={sft_model}",
            f"data.path={bench}",
            f"output_dir={tmp_path / 'run'}",
            f"reward.name={reward}",
            "trainer.max_steps=2",
            "trainer.save_steps=100",
            "trainer.max_completion_length=72",  # the full target answer is ~60 tokens
            "trainer.learning_rate=1.0e-3",
        ],
    )
    run = run_grpo(recipe, resume=False)
    assert run.global_step == 2
    steps = [m for m in _metrics(run.metrics_file) if "reward" in m]
    assert len(steps) == 2
    for m in steps:
        assert f"rewards/{reward}/mean" in m
        for term in (
            "thinking_format",
            "answer_format",
            "iou",
            "box_l1",
            "point_l1",
            "accuracy",
            "length_score",
        ):
            assert f"pixelthink/{term}" in m
        assert 0.0 <= m["pixelthink/uncertainty"] <= 1.0
        assert 0.0 <= m["pixelthink/clipped_ratio"] <= 1.0
        assert any(k.startswith("pixelthink/length/") and k != "pixelthink/length/all" for k in m)
    # the warm-started policy produces well-formed answers at least sometimes
    assert max(m["pixelthink/thinking_format"] for m in steps) > 0
    # per-bucket lengths: the buckets seen are the ones of the sampled difficulties
    seen = {k.split("/")[-1] for m in steps for k in m if k.startswith("pixelthink/length/")} - {"all"}
    assert seen <= {"easy", "medium", "hard", "unrated"} and seen
    # parameters changed (the final weights differ from the warm start)
    before, after = _weights(sft_model), _weights(run.output_dir)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # rollout records carry the trainer's own advantages, one per completion
    rows = [json.loads(x) for x in run.rollouts_file.read_text().splitlines()]
    assert len(rows) == 2 * 4
    assert all({"advantage", "reward", "uncertainty", "bucket", "length"} <= r.keys() for r in rows)


METHODS = sorted((ROOT / "recipes" / "shapes_tiny" / "methods").glob("*.yaml"))


@pytest.mark.parametrize("recipe_path", METHODS, ids=[p.stem for p in METHODS])
def test_method_recipes_run_two_grpo_steps(
    recipe_path: Path, sft_model: Path, bench: Path, tmp_path: Path
) -> None:
    """Each method recipe of the harness (recipes/shapes_tiny/methods/) through the shipped code path:
    its own reward and settings, on the tiny warm-started model and benchmark, 2 steps."""
    from pixelthink.train.grpo import run_grpo

    overrides = [
        f"model.path={sft_model}",
        f"data.path={bench}",
        "data.split=null",
        "data.resolution=112",
        "data.prompt_template=null",
        f"output_dir={tmp_path / 'run'}",
        "trainer.max_steps=2",
        "trainer.save_steps=100",
        "trainer.num_generations=4",
        "trainer.per_device_train_batch_size=4",
        "trainer.max_completion_length=72",
        "trainer.logging_steps=1",
    ]
    if recipe_path.stem == "dapo_overlong":  # L_max follows the (shortened) maximum completion length
        overrides += ["reward.overlong_max_length=72", "reward.overlong_buffer=16"]
    recipe = load_recipe(recipe_path, overrides)
    name = recipe.reward.name
    assert name == recipe_path.stem
    run = run_grpo(recipe, resume=False)
    assert run.global_step == 2
    steps = [m for m in _metrics(run.metrics_file) if "reward" in m]
    assert len(steps) == 2 and all(f"rewards/{name}/mean" in m for m in steps)
    rows = [json.loads(x) for x in run.rollouts_file.read_text().splitlines()]
    assert len(rows) == 2 * 4 and all(name in r["rewards"] for r in rows)
    if name.startswith("l1_"):  # the target reached the reward (and was logged)
        assert all("pixelthink/target_length" in m for m in steps)
    # the trainer's rewards are the pure function's, fed what the rollout carried (per step: one prompt x 4)
    cfg = recipe.reward.reward_config()
    for k, step in enumerate((rows[:4], rows[4:])):
        lo_hi = recipe.data.target_length
        expected = batch_rewards(
            name,
            [r["completion"] for r in step],
            [_solution(bench, r["id"]) for r in step],
            [r["difficulty"] for r in step],
            [r["uncertainty"] for r in step],
            cfg,
            groups=[r["id"] for r in step],
            step=k,
            target_lengths=None if lo_hi is None else [l1_target_length(r["id"], *lo_hi) for r in step],
            num_tokens=[r["num_tokens"] for r in step],
            truncated=[r["num_tokens"] >= 72 for r in step],  # at the token limit (72): cut
        )
        got = [r["rewards"][name] for r in step]
        assert got == pytest.approx(expected, abs=1e-6), (name, k)
    # rewards that differ within a group move the parameters (GRPO's advantages are then non-zero)
    if any(abs(r["advantage"]) > 0 for r in rows):
        before, after = _weights(sft_model), _weights(run.output_dir)
        assert any(not torch.equal(before[k], after[k]) for k in before)


def _solution(bench: Path, sample_id: str) -> str:
    """The GRPO row's ground truth of a sample at the test's 112 frame."""
    from pixelthink.data import Benchmark

    s = Benchmark(bench).get(sample_id)
    ft = FrameTransform.for_size(s.width, s.height, RES)
    return format_ground_truth(ft.box_to_model(s.bbox), ft.points_to_model(s.points))


def test_reward_sees_the_uncertainty_of_its_own_completion(bench: Path, tmp_path: Path) -> None:
    """Recompute U by a forward pass of the policy on prompt+completion at the sampling temperature."""
    from pixelthink.train.grpo import build_grpo_trainer
    from pixelthink.uncertainty import margins_from_logits, uncertainty_from_margins

    temperature = 0.7
    seen: list[tuple[float, float]] = []
    holder: dict[str, Any] = {}

    def recorder(prompts, completions, completion_ids, uncertainty, **kwargs):
        trainer = holder["trainer"]
        model, proc = trainer.model, trainer.processing_class
        for prompt, ids, u in zip(prompts, completion_ids, uncertainty, strict=True):
            enc = proc.apply_chat_template(
                [prompt], add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
            )
            full = torch.cat([enc["input_ids"], torch.tensor([ids])], dim=1)
            extra = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask")}
            for k in ("mm_token_type_ids", "token_type_ids"):  # per-token fields: extend over the completion
                if k in extra:
                    extra[k] = torch.cat([extra[k], extra[k].new_zeros((1, len(ids)))], dim=1)
            with torch.no_grad():
                logits = model(input_ids=full, attention_mask=torch.ones_like(full), **extra).logits[0]
            p = enc["input_ids"].shape[1]
            step_logits = logits[p - 1 : p - 1 + len(ids)] / temperature  # logits that produced each token
            # the distribution TRL samples from: it also suppresses the image token (suppress_tokens)
            step_logits[:, model.config.image_token_id] = float("-inf")
            seen.append((u, uncertainty_from_margins(margins_from_logits(step_logits))))
        return [0.0] * len(prompts)

    recipe = load_recipe(
        TINY,
        [
            f"data.path={bench}",
            f"output_dir={tmp_path / 'run'}",
            "trainer.max_steps=1",
            f"trainer.temperature={temperature}",
            "trainer.max_completion_length=12",
            "trainer.reward_weights=[1.0, 0.0]",
        ],
    )
    trainer, _, _ = build_grpo_trainer(recipe, extra_reward_funcs=[recorder])
    holder["trainer"] = trainer
    trainer.train()
    assert len(seen) == 4
    for u_reward, u_forward in seen:
        assert u_reward == pytest.approx(u_forward, abs=2e-4)
    # different completions carry different U (the values are not one batch average)
    assert len({round(u, 6) for u, _ in seen}) > 1
    # the same U values are logged with the rollout records (rollouts.jsonl, written by the callback)
    rec = [
        json.loads(x)["uncertainty"] for x in (tmp_path / "run" / "rollouts.jsonl").read_text().splitlines()
    ]
    assert rec == pytest.approx([u for u, _ in seen])


def test_pixelthink_reward_shaping_in_trainer_advantages(bench: Path, tmp_path: Path) -> None:
    """Easy samples: an over-budget correct completion gets a lower advantage than an under-budget one
    with the same accuracy; hard samples (budget 256 + 25U) do not separate them."""
    from pixelthink.train.grpo import build_grpo_trainer

    ft = FrameTransform.for_size(W, H, RES)
    answer = answer_json(ft.box_to_model(BOX), ft.points_to_model([(34, 24), (54, 34)]))
    short = f"<think>red box</think><answer>{answer}</answer>"
    # 200 words of reasoning: > 96 (easy budget), < 256 (hard budget)
    long = "<think>" + " ".join(["word"] * 200) + f"</think><answer>{answer}</answer>"

    def rollout_func(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        prompt_ids, _, _ = trainer._tokenize_prompts(prompts)
        tok = trainer.processing_class.tokenizer
        texts = [short if i % 2 == 0 else long for i in range(len(prompts))]
        completion_ids = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in texts]
        return {
            "prompt_ids": [list(p) for p in prompt_ids],
            "completion_ids": completion_ids,
            "logprobs": None,
            "uncertainty": [0.5] * len(prompts),
        }

    recipe = load_recipe(
        TINY,
        [
            f"data.path={bench}",
            f"output_dir={tmp_path / 'run'}",
            "trainer.max_steps=4",  # one prompt (4 completions) per step: s0..s3 = easy, medium, hard, unrated
            "trainer.shuffle_dataset=false",
            "trainer.learning_rate=0.0",
        ],
    )
    trainer, _, _ = build_grpo_trainer(recipe, rollout_func=rollout_func)
    trainer.train()
    records = [json.loads(x) for x in (tmp_path / "run" / "rollouts.jsonl").read_text().splitlines()]
    assert len(records) == 16
    cfg = RewardConfig()
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        assert r["uncertainty"] == 0.5
        by_id.setdefault(r["id"], []).append(r)
    checked_easy = checked_flat = 0
    for group in by_id.values():
        s = [r for r in group if r["length"] < 50]
        lo = [r for r in group if r["length"] > 150]
        assert s and lo
        bucket = difficulty_bucket(group[0]["difficulty"], cfg)
        if bucket in ("easy", "unrated"):  # unrated -> default difficulty 3.0 = easy
            # reward: 5 * 1 vs 5 * (1 - (L - 96) / 500): strictly lower, so is the advantage
            assert all(a["reward"] == pytest.approx(5.0) for a in s)
            assert all(b["reward"] < 5.0 for b in lo)
            assert max(b["advantage"] for b in lo) < min(a["advantage"] for a in s)
            checked_easy += 1
        else:  # medium: no budget; hard: 256 + 25 * 0.5 > 205 words
            assert all(r["reward"] == pytest.approx(5.0) for r in group)
            assert all(r["advantage"] == pytest.approx(0.0, abs=1e-6) for r in group)
            checked_flat += 1
    assert checked_easy == 2 and checked_flat == 2
    gt = format_ground_truth(ft.box_to_model(BOX), ft.points_to_model([(34, 24), (54, 34)]))
    assert gt.startswith("<box>")


def test_grpo_resumes_from_last_checkpoint(bench: Path, tmp_path: Path) -> None:
    from pixelthink.cli import main

    out = tmp_path / "run"
    common = [
        "train",
        "grpo",
        "--config",
        str(TINY),
        f"data.path={bench}",
        f"output_dir={out}",
        "trainer.save_steps=1",
    ]
    assert main([*common, "trainer.max_steps=1"]) == 0
    assert (out / "checkpoint-1").is_dir()
    # an intermediate checkpoint carries the recipe, so inference uses its frame and prompt
    from pixelthink.models.reasoners import checkpoint_defaults

    saved = yaml.safe_load((out / "checkpoint-1" / "pixelthink_recipe.yaml").read_text())
    assert saved["output_dir"] == str(out) and saved["data"]["path"] == str(bench)
    defaults = checkpoint_defaults(out / "checkpoint-1")
    assert defaults["resolution"] == saved["data"]["resolution"]
    # second invocation: auto-detects checkpoint-1 and continues to step 2
    assert main([*common, "trainer.max_steps=2"]) == 0
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    steps = [m["step"] for m in _metrics(out / "metrics.jsonl") if "reward" in m]
    assert steps == [1, 2]  # step 1 was not re-run
    # an explicit checkpoint that does not exist is a user error (exit status 2)
    assert main([*common, "--resume", str(out / "checkpoint-99")]) == 2


def test_number_init_recodes_the_coordinate_rows_of_a_trained_model(
    sft_model: Path, bench: Path, tmp_path: Path
) -> None:
    """``model.number_init: fourier`` on a trained checkpoint: only the number rows change, to Fourier
    codes of their value in the data.resolution frame, on the scale of the other rows."""
    from pixelthink.miniature.model import fourier_number_rows
    from pixelthink.train.config import RecipeError
    from pixelthink.train.sft import build_sft_trainer

    args = [f"model.path={sft_model}", f"data.path={bench}", f"output_dir={tmp_path / 'run'}"]
    trainer, processor = build_sft_trainer(load_recipe(TINY_SFT, [*args, "model.number_init=fourier"]))
    after = trainer.model.get_input_embeddings().weight.detach()
    before = _weights(sft_model)["model.embed_tokens.weight"]  # the saved checkpoint layout
    codes = fourier_number_rows(processor.tokenizer, RES, after.shape[1])
    assert len(codes) > 10  # the built-in corpus spells 0..16, 20, 25, ...
    others = [i for i in range(after.shape[0]) if i not in codes]
    assert torch.equal(after[others], before[others])
    norm = float(before[others].norm(dim=1).median())
    for idx, code in codes.items():
        assert torch.allclose(after[idx], code * norm / 0.25, atol=1e-6), idx
    with pytest.raises(RecipeError, match=r"model.number_init.*integer resolution"):
        build_sft_trainer(load_recipe(TINY_SFT, [*args, "model.number_init=fourier", "data.resolution=null"]))
    with pytest.raises(RecipeError, match=r"model.number_init.*'fourier'"):
        load_recipe(TINY_SFT, [*args, "model.number_init=gauss"])


def test_resumed_sft_continues_from_the_checkpoint_weights(bench: Path, tmp_path: Path) -> None:
    """A run resumed from checkpoint-1 ends with the weights of the uninterrupted run.

    transformers' own resume loads ``model.safetensors`` non-strictly under the runtime key names, which
    for Qwen2.5-VL match none of the saved ones: without the trainer's checkpoint loading fix the resumed
    run continues from the initial weights.
    """
    import shutil

    def run(out: Path) -> int:
        return _train_sft(bench, out, "trainer.max_steps=3", "trainer.save_steps=1")

    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert run(whole) == 0
    # an interruption after step 1: the resumed run finds checkpoint-1 (and rebuilds the same tiny base)
    resumed.mkdir()
    shutil.copytree(whole / "checkpoint-1", resumed / "checkpoint-1")
    assert run(resumed) == 0
    state = json.loads((resumed / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    first, moved, final = _weights(whole / "checkpoint-1"), _weights(whole), _weights(resumed)
    assert any(not torch.equal(first[k], moved[k]) for k in first)  # steps 2-3 changed the weights
    assert final.keys() == moved.keys()
    for key, value in moved.items():
        assert torch.allclose(final[key], value, atol=1e-5), key


def test_decisive_weight_weights_the_loss_on_the_chain_decisions_and_the_answer(tmp_path: Path) -> None:
    """``data.decisive_weight: 4``: the collator marks the completion's decisive tokens (the target step and
    the answer, not the ``squares:`` list) with 4; the loss is sum(w * ce) / sum(w), which with every weight
    1 is TRL's own token mean."""
    from pixelthink.train.sft import DecisiveWeights, build_sft_trainer

    chain = "squares: the red square [20, 10, 59, 39], the blue square [1, 1, 9, 9]; target: the red square [20, 10, 59, 39]"
    bench = tmp_path / "bench"
    rng = np.random.default_rng(0)
    with BenchmarkWriter(bench, name="chains") as w:
        for i in range(4):
            mask = np.zeros((H, W), bool)
            mask[10:40, 20:60] = True
            img = Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
            w.add({"id": f"c{i}", "query": "the red square", "mask": mask, "reasoning_short": chain,
                   "reasoning_long": chain, "split": "train"}, img)  # fmt: skip
    args = [f"data.path={bench}", f"output_dir={tmp_path / 'run'}", "data.reasoning=short"]
    trainer, processor = build_sft_trainer(load_recipe(TINY_SFT, [*args, "data.decisive_weight=4"]))
    assert isinstance(trainer.data_collator, DecisiveWeights)
    assert trainer.loss_is_scaled_for_ga is False  # gradient accumulation averages the micro-batch means
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    weights, labels = batch["loss_weights"], batch["labels"]
    tok = processor.tokenizer
    for row in range(2):
        cols = (labels[row] != -100).nonzero().flatten().tolist()
        heavy = "".join(tok.decode([int(batch["input_ids"][row, c])]) for c in cols if weights[row, c] == 4)
        light = "".join(tok.decode([int(batch["input_ids"][row, c])]) for c in cols if weights[row, c] == 1)
        assert "target: the red square [" in heavy and '"bbox"' in heavy
        assert "squares: the red square" in light and "blue square" in light and "target" not in light
    plain, _ = build_sft_trainer(load_recipe(TINY_SFT, args))
    assert not isinstance(plain.data_collator, DecisiveWeights)
    model = trainer.model.eval()
    inputs = {k: v for k, v in batch.items() if k != "loss_weights"}
    with torch.no_grad():
        reference = float(plain.compute_loss(model, dict(inputs)))
        ones = float(trainer.compute_loss(model, {**inputs, "loss_weights": torch.ones_like(weights)}))
        weighted = float(trainer.compute_loss(model, {**inputs, "loss_weights": weights}))
        logits = model(**{k: v for k, v in inputs.items() if k != "labels"}).logits[:, :-1].float()
    ce = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), labels[:, 1:].clamp(min=0), reduction="none"
    )
    w = weights[:, 1:] * (labels[:, 1:] != -100)
    assert ones == pytest.approx(reference, rel=1e-4)
    assert weighted == pytest.approx(float((ce * w).sum() / w.sum()), rel=1e-4)
    assert weighted != pytest.approx(ones, rel=1e-3)
    with pytest.raises(Exception, match=r"data.decisive_weight: expected a number > 0"):
        load_recipe(TINY_SFT, [*args, "data.decisive_weight=0"])


def test_token_weights_take_any_weigh_function_over_the_completion_tokens(tmp_path: Path) -> None:
    """``TokenWeights`` hands each row's completion tokens (exactly those the loss sees) to ``weigh`` and
    puts its weights there; ``weigh_tokens`` installs it and turns off the Trainer's own GA scaling."""
    from pixelthink.train.sft import TokenWeights, build_sft_trainer, weigh_tokens

    bench = tmp_path / "bench"
    with BenchmarkWriter(bench, name="w") as w:
        for i in range(2):
            mask = np.zeros((H, W), bool)
            mask[10:40, 20:60] = True
            w.add({"id": f"w{i}", "query": "the red square", "mask": mask, "reasoning_short": "the red square",
                   "split": "train"}, Image.new("RGB", (W, H)))  # fmt: skip
    args = [f"data.path={bench}", f"output_dir={tmp_path / 'run'}", "data.reasoning=short"]
    trainer, processor = build_sft_trainer(load_recipe(TINY_SFT, args))
    seen: list[str] = []

    def weigh(pieces: list[str]) -> list[float]:  # 0 up to the end of the think block, 3 after it
        seen.append("".join(pieces))
        text, pos, out = "".join(pieces), 0, []
        for piece in pieces:
            out.append(0.0 if pos < text.index("</think>") else 3.0)
            pos += len(piece)
        return out

    weigh_tokens(trainer, TokenWeights(trainer.data_collator, processor.tokenizer, weigh))
    assert trainer.loss_is_scaled_for_ga is False
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    assert len(seen) == 2 and all(s.startswith("<think>the red square</think><answer>") for s in seen)
    weights, labels = batch["loss_weights"], batch["labels"]
    assert set(weights[labels == -100].tolist()) == {1.0}  # the prompt keeps 1 (and the loss ignores it)
    assert set(weights[labels != -100].tolist()) == {0.0, 3.0}
