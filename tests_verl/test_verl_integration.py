"""pixelthink in verl 0.9.1 (run with .venv-verl: `.venv-verl/bin/python -m pytest tests_verl`).

Converts a generated benchmark to verl's parquet, loads it with verl's own RLHFDataset, and scores
rollout-shaped DataProto batches through verl's reward loop (RewardLoopWorker -> reward manager ->
assemble_rm_scores) with our `pixelthink` manager and with our compute_score in verl's naive manager.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import verl
from omegaconf import OmegaConf
from PIL import Image
from tensordict import TensorDict
from verl import DataProto

from pixelthink.data import BenchmarkWriter
from pixelthink.integrations.verl import compute_score, convert_benchmark

ROOT = Path(__file__).resolve().parents[1]
W, H, RES = 80, 60, 112
# model-frame GT at 112 (x * 1.4, y * 112/60): box (20,10,59,39) -> (28,19),(83,73);
# points (34,24) -> (48,45), (54,34) -> (76,63)
GT = "<box>(28,19),(83,73)</box><points>(48,45),(76,63)</points>"
ANSWER = '<answer>{"bbox": [28, 19, 83, 73], "points_1": [48, 45], "points_2": [76, 63]}</answer>'
SHORT = "<think>red box</think>" + ANSWER
LONG = "<think>" + " ".join(["word"] * 200) + "</think>" + ANSWER
# words (whitespace split of the whole response): the 200 reasoning words (the first glued to <think>, the
# last to </think><answer>{"bbox":) + the 10 remaining pieces of the answer JSON = 210; SHORT has 12


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pixelthink.miniature.model import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("m") / "tiny", hidden_size=32, num_layers=1)


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    with BenchmarkWriter(root / "bench", name="tiny") as w:
        for i, d in enumerate([2.0, 4.0, 7.0, None]):
            mask = np.zeros((H, W), bool)
            mask[10:40, 20:60] = True
            w.add(
                {
                    "id": f"s{i}",
                    "query": f"The red box {i}.",
                    "mask": mask,
                    "bbox": [20, 10, 59, 39],
                    "points": [[34, 24], [54, 34]],
                    "difficulty": d,
                    "split": "train",
                },
                Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)),
            )
    rep = convert_benchmark(root / "bench", root / "verl" / "train.parquet", resolution=RES)
    assert rep.rows == 4 and rep.stats.kept == 4
    return rep.out


def test_verl_rlhf_dataset_reads_the_converted_parquet(parquet: Path, tiny: Path) -> None:
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from pixelthink.models.processors import load_processor

    proc = load_processor(tiny)
    cfg = OmegaConf.create(
        {
            "image_key": "images",
            "max_prompt_length": 1024,
            "filter_overlong_prompts": False,
            "cache_dir": str(parquet.parent / "cache"),
        }
    )
    ds = RLHFDataset(str(parquet), proc.tokenizer, cfg, processor=proc)
    assert len(ds) == 4
    row = ds[0]
    assert row["data_source"] == "pixelthink/bench"
    assert row["reward_model"] == {"style": "rule", "ground_truth": GT}
    assert row["extra_info"]["difficulty"] == 2.0 and row["extra_info"]["index"] == 0
    assert math.isnan(ds[3]["extra_info"]["difficulty"])  # unrated
    content = row["raw_prompt"][0]["content"]
    assert [c["type"] for c in content] == ["image", "text"]
    assert content[0]["image"].size == (RES, RES)  # already in the model frame
    assert "the red box 0" in content[1]["text"]
    # the processor turns the message into 16 merged image tokens (112 / 14 / 2 = 4 -> 4 x 4)
    text = proc.apply_chat_template(row["raw_prompt"], tokenize=False, add_generation_prompt=True)
    enc = proc(text=[text], images=[content[0]["image"]], return_tensors="pt")
    assert int((enc["input_ids"] == proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum()) == 16


def _config(tiny: Path, **reward_kwargs: object) -> object:
    from hydra import compose, initialize_config_dir
    from verl.experimental.reward_loop.reward_loop import migrate_legacy_reward_impl

    import pixelthink.integrations.verl.reward_manager as rm

    cfg_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    overrides = [
        f"actor_rollout_ref.model.path={tiny}",
        "reward.reward_manager.source=importlib",
        "reward.reward_manager.name=PixelThinkRewardManager",
        f"reward.reward_manager.module.path={rm.__file__}",
    ] + [f"+reward.reward_kwargs.{k}={v}" for k, v in reward_kwargs.items()]
    with initialize_config_dir(config_dir=cfg_dir, version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=overrides)
    return migrate_legacy_reward_impl(cfg)


def _batch(tok, texts: list[str], difficulties: list[float], **non_tensor: object) -> DataProto:
    prompt = tok("<|im_start|>user\nfind it<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)[
        "input_ids"
    ]
    responses = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in texts]
    width = max(len(r) for r in responses) + 3  # right padding, as verl pads responses
    resp = torch.zeros(len(texts), width, dtype=torch.long)
    mask = torch.zeros(len(texts), len(prompt) + width, dtype=torch.long)
    mask[:, : len(prompt)] = 1
    for i, r in enumerate(responses):
        resp[i, : len(r)] = torch.tensor(r)
        mask[i, len(prompt) : len(prompt) + len(r)] = 1
    prompts = torch.tensor([prompt] * len(texts))
    batch = TensorDict(
        {
            "prompts": prompts,
            "responses": resp,
            "attention_mask": mask,
            "input_ids": torch.cat([prompts, resp], 1),
        },
        batch_size=len(texts),
    )
    nt = {
        "data_source": np.array(["pixelthink/bench"] * len(texts), dtype=object),
        "reward_model": np.array([{"style": "rule", "ground_truth": GT}] * len(texts), dtype=object),
        "extra_info": np.array(
            [{"difficulty": d, "index": i} for i, d in enumerate(difficulties)], dtype=object
        ),
        **{k: np.array(v, dtype=object) for k, v in non_tensor.items()},
    }
    return DataProto(batch=batch, non_tensor_batch=nt)


def _score(cfg: object, data: DataProto) -> tuple[list[dict], torch.Tensor]:
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.trainer.ppo.reward import resolve_reward_manager_cls

    worker = RewardLoopWorker(cfg)
    # verl's managers bind to the worker's event loop (a Ray actor runs it); drive that loop here
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    rm_scores = resolve_reward_manager_cls(cfg).assemble_rm_scores(data, [o["reward_score"] for o in outputs])
    return outputs, rm_scores


def test_reward_manager_scores_rollouts_with_their_uncertainty(tiny: Path) -> None:
    from pixelthink.models.processors import load_processor

    tok = load_processor(tiny).tokenizer
    cfg = _config(tiny, reward_name="pixelthink")
    # top-2 log-probs per token: margins 0.6 - 0.3 = 0.3 and 0.5 - 0.5 = 0 -> U = mean(0.7, 1.0) = 0.85
    top = [{"a": math.log(0.6), "b": math.log(0.3)}, {"a": math.log(0.5), "b": math.log(0.5)}]
    texts = [SHORT, LONG, LONG, LONG]
    data = _batch(
        tok,
        texts,
        [2.0, 2.0, 7.0, 7.0],
        uncertainty=[None, None, 0.4, None],
        tool_extra_fields=[{}, {}, {}, {"top_logprobs": top}],
    )
    outputs, rm = _score(cfg, data)
    rewards = [o["reward_score"] for o in outputs]
    # easy, 12 words <= 96: 5; easy, 210 words: 5 * (1 - (210 - 96) / 500) = 5 * 0.772 = 3.86
    assert rewards[0] == pytest.approx(5.0)
    assert rewards[1] == pytest.approx(3.86)
    # hard: budgets 256 + 25 * 0.4 = 266 and 256 + 25 * 0.85 = 277.25 -> 210 words within: 5
    assert rewards[2] == pytest.approx(5.0) and rewards[3] == pytest.approx(5.0)
    infos = [o["reward_extra_info"] for o in outputs]
    assert [i["uncertainty_source"] for i in infos] == [3.0, 3.0, 0.0, 1.0]
    assert infos[2]["uncertainty"] == pytest.approx(0.4) and infos[3]["uncertainty"] == pytest.approx(0.85)
    assert infos[3]["budget"] == pytest.approx(277.25) and infos[0]["budget"] == pytest.approx(96)
    # verl places each reward on the last valid response token
    last = data.batch["attention_mask"][:, data.batch["prompts"].shape[1] :].sum(1) - 1
    assert torch.allclose(rm[torch.arange(4), last], torch.tensor(rewards, dtype=torch.float32))
    assert float(rm.sum()) == pytest.approx(sum(rewards), rel=1e-6)


def test_sampled_logprob_fallback_and_settings(tiny: Path) -> None:
    from pixelthink.models.processors import load_processor

    tok = load_processor(tiny).tokenizer
    # a tighter hard budget so U matters: 150 + 100 * U
    cfg = _config(
        tiny,
        reward_name="pixelthink",
        uncertainty_fallback="sampled_logprob",
        budget_hard=150,
        uncertainty_scale=100,
    )
    data = _batch(tok, [LONG], [7.0])
    n = int(data.batch["attention_mask"][0, data.batch["prompts"].shape[1] :].sum())
    lp = torch.zeros(1, data.batch["responses"].shape[1])
    lp[0, :n] = math.log(0.75)  # p = 0.75 -> two-token approximation U_t = 1 - |2 * 0.75 - 1| = 0.5
    data.batch["rollout_log_probs"] = lp
    outputs, _ = _score(cfg, data)
    info = outputs[0]["reward_extra_info"]
    assert info["uncertainty_source"] == 2.0 and info["uncertainty"] == pytest.approx(0.5)
    # budget 150 + 100 * 0.5 = 200 < 210 words: 5 * (1 - 10 / 500) = 4.9
    assert outputs[0]["reward_score"] == pytest.approx(4.9)
    with pytest.raises(ValueError, match="uncertainty_fallback"):
        from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

        RewardLoopWorker(_config(tiny, uncertainty_fallback="guess"))


def test_compute_score_in_verls_naive_manager(tiny: Path) -> None:
    from hydra import compose, initialize_config_dir
    from verl.experimental.reward_loop.reward_loop import migrate_legacy_reward_impl

    import pixelthink.integrations.verl.reward as reward_module
    from pixelthink.models.processors import load_processor

    tok = load_processor(tiny).tokenizer
    cfg_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=cfg_dir, version_base=None):
        cfg = compose(
            config_name="ppo_trainer",
            overrides=[
                f"actor_rollout_ref.model.path={tiny}",
                f"reward.custom_reward_function.path={reward_module.__file__}",
                "reward.custom_reward_function.name=compute_score",
                "+reward.custom_reward_function.reward_kwargs.reward_name=naive_length",
            ],
        )
    cfg = migrate_legacy_reward_impl(cfg)
    outputs, _ = _score(cfg, _batch(tok, [SHORT, LONG], [7.0, 7.0]))
    # naive_length: one budget 176 for every sample: 210 words -> 5 * (1 - 34 / 500) = 4.66
    assert outputs[0]["reward_score"] == pytest.approx(5.0)
    assert outputs[1]["reward_score"] == pytest.approx(4.66)
    direct = compute_score("pixelthink/bench", LONG, GT, {"difficulty": 7.0}, reward_name="naive_length")
    assert direct["score"] == pytest.approx(outputs[1]["reward_score"])
    assert compute_score("x", "garbage", GT, {"difficulty": float("nan")})["score"] == 0.0


def test_launch_script_composes_a_valid_verl_config(tmp_path: Path, tiny: Path) -> None:
    env = {
        **os.environ,
        "PY": sys.executable,
        "MODEL": str(tiny),
        "TRAIN": str(tmp_path / "t.parquet"),
        "NNODES": "2",
    }
    script = ROOT / "src" / "pixelthink" / "integrations" / "verl" / "launch_grpo.sh"
    out = subprocess.run(
        ["bash", str(script), "--cfg", "job"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    cfg = OmegaConf.create(out.stdout)
    assert cfg.reward.reward_manager.name == "PixelThinkRewardManager"
    assert cfg.reward.reward_kwargs.reward_name == "pixelthink"
    assert cfg.actor_rollout_ref.rollout.n == 8 and cfg.actor_rollout_ref.actor.kl_loss_type == "low_var_kl"
    assert cfg.actor_rollout_ref.actor.kl_loss_coef == pytest.approx(5e-3)
    assert cfg.trainer.nnodes == 2 and cfg.data.max_response_length == 1300


def _converter(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pixelthink.cli", "data", "verl", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_converter_command_line(parquet: Path, tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    bench = parquet.parent.parent / "bench"
    out = tmp_path / "cli" / "train.parquet"
    ok = _converter(bench, out, "--resolution", str(RES))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["rows"] == 4 and pq.read_table(out).num_rows == 4

    (tmp_path / "empty").mkdir()
    for args, needle in (
        ((tmp_path / "missing", out), "missing: not found (expected a benchmark directory"),
        ((tmp_path / "empty", out), "empty: cannot tell the data format"),
        ((bench, out, "--difficulty-file", tmp_path / "nope.json"), "nope.json: difficulty file not found"),
        ((bench, out, "--split", "test"), "no usable samples for verl in split 'test'"),
    ):
        bad = _converter(*args)
        assert bad.returncode == 2, bad.stderr
        assert needle in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert "Traceback" not in bad.stderr and "data.path" not in bad.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["train.parquet"]  # no .tmp left behind


def test_package_imports_its_parts_lazily() -> None:
    code = (
        "import sys, pixelthink.integrations.verl as v\n"
        "assert 'pixelthink.integrations.verl.parquet' not in sys.modules\n"
        "assert callable(v.convert_benchmark) and callable(v.compute_score)\n"
        "assert 'pixelthink.integrations.verl.parquet' in sys.modules\n"
        "try:\n    v.nothing\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "has no attribute 'nothing'" in out.stdout


def test_online_difficulty_through_verls_batch_manager(tiny: Path) -> None:
    """difficulty_source=online in verl: the legacy `batch` manager hands compute_score_batch whole groups."""
    from verl.workers.reward_manager.batch import BatchRewardManager

    from pixelthink.integrations.verl import reward as reward_module
    from pixelthink.models.processors import load_processor

    tok = load_processor(tiny).tokenizer
    miss = LONG.replace("[28, 19, 83, 73]", "[0, 0, 5, 5]")
    data = _batch(tok, [LONG, LONG, LONG, miss], [2.0, 2.0, 2.0, 2.0])
    # two prompts of two rollouts each: index 0 hits twice (pass rate 1), index 1 once (0.5)
    data.non_tensor_batch["extra_info"] = np.array(
        [{"difficulty": 2.0, "index": i // 2} for i in range(4)], dtype=object
    )
    manager = BatchRewardManager(
        tok, 0, reward_module.compute_score_batch, difficulty_source="online", reward_name="pixelthink"
    )
    out = manager(data, return_dict=True)
    info = out["reward_extra_info"]
    assert info["difficulty"] == [1.0, 1.0, 5.5, 5.5]
    # index 0: easy, budget 96 < 210 words -> 5 * 0.772; index 1: hard (5.5 >= 5), budget 256 (U = 0)
    assert info["score"][:3] == [pytest.approx(3.86), pytest.approx(3.86), pytest.approx(5.0)]
    assert info["budget"] == [96.0, 96.0, 256.0, 256.0]
    assert float(out["reward_tensor"].sum()) == pytest.approx(sum(info["score"]), rel=1e-6)


# ---------------------------------------------------------------------------------------------- issue 27


def test_dapo_overlong_equals_verls_own_dapo_manager(tiny: Path) -> None:
    """rewards.dapo_overlong through our manager == verl's DAPO manager (overlong_buffer_cfg) on segzero."""
    from hydra import compose, initialize_config_dir
    from verl.experimental.reward_loop.reward_loop import migrate_legacy_reward_impl

    import pixelthink.integrations.verl.reward as reward_module
    from pixelthink.models.processors import load_processor

    tok = load_processor(tiny).tokenizer
    texts = [SHORT, LONG, LONG[:-40] + ANSWER, "<think>x</think>"]
    data = _batch(tok, texts, [2.0] * 4)
    n_tokens = data.batch["attention_mask"][:, data.batch["prompts"].shape[1] :].sum(1).tolist()
    max_len, buffer = (
        max(n_tokens) + 5,
        max(n_tokens) - min(n_tokens),
    )  # every length but the shortest in the buffer
    cfg_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=cfg_dir, version_base=None):
        dapo = compose(
            config_name="ppo_trainer",
            overrides=[
                f"actor_rollout_ref.model.path={tiny}",
                "reward.reward_manager.name=dapo",
                f"reward.custom_reward_function.path={reward_module.__file__}",
                "reward.custom_reward_function.name=compute_score",
                "+reward.custom_reward_function.reward_kwargs.reward_name=segzero",
                "+reward.reward_kwargs.overlong_buffer_cfg.enable=true",
                f"+reward.reward_kwargs.overlong_buffer_cfg.len={buffer}",
                "+reward.reward_kwargs.overlong_buffer_cfg.penalty_factor=0.5",
                "+reward.reward_kwargs.overlong_buffer_cfg.log=false",
                f"+reward.reward_kwargs.max_resp_len={max_len}",
            ],
        )
    theirs, _ = _score(migrate_legacy_reward_impl(dapo), data)
    ours_cfg = _config(
        tiny,
        reward_name="dapo_overlong",
        overlong_max_length=max_len,
        overlong_buffer=buffer,
        overlong_penalty_factor=0.5,
    )
    ours, _ = _score(ours_cfg, data)
    expected = [float(t["reward_score"]) for t in theirs]
    assert [o["reward_score"] for o in ours] == pytest.approx(expected, abs=1e-6)
    assert len({round(x, 6) for x in expected}) > 2  # the penalty varies across the batch
    assert [o["reward_extra_info"]["uncertainty_source"] for o in ours] == [3.0] * 4


def test_group_variants_are_refused_by_the_reward_loop_and_scored_by_the_batch_manager(tiny: Path) -> None:
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.workers.reward_manager.batch import BatchRewardManager

    from pixelthink.integrations.verl import reward as reward_module
    from pixelthink.models.processors import load_processor
    from pixelthink.rewards import batch_rewards

    with pytest.raises(ValueError, match="compares the rollouts of one prompt"):
        RewardLoopWorker(_config(tiny, reward_name="shorterbetter"))
    with pytest.raises(ValueError, match="compares the rollouts of one prompt"):
        compute_score("x", SHORT, GT, {"difficulty": 2.0}, reward_name="group_length")
    tok = load_processor(tiny).tokenizer
    texts = [SHORT, LONG, LONG, SHORT]
    data = _batch(tok, texts, [2.0] * 4)
    data.non_tensor_batch["extra_info"] = np.array([{"index": i // 2} for i in range(4)], dtype=object)
    manager = BatchRewardManager(tok, 0, reward_module.compute_score_batch, reward_name="shorterbetter")
    scores = manager(data, return_dict=True)["reward_extra_info"]["score"]
    assert scores == pytest.approx(batch_rewards("shorterbetter", texts, [GT] * 4, groups=[0, 0, 1, 1]))
    assert scores[0] == 5.0 and scores[1] < 5.0  # the longer hit of a group is penalised


def test_l1_target_length_reaches_prompt_and_reward(tmp_path: Path, parquet: Path) -> None:
    import pyarrow.parquet as pq

    from pixelthink.rewards import l1_target_length

    bench = parquet.parent.parent / "bench"
    out = convert_benchmark(bench, tmp_path / "l1.parquet", resolution=RES, target_length=(5, 50)).out
    rows = pq.read_table(out).to_pylist()
    for row in rows:
        target = l1_target_length(row["extra_info"]["id"], 5, 50)
        assert row["extra_info"]["target_length"] == target
        assert row["prompt"][0]["content"].endswith(f"Think for {target} words.")
    info = rows[0]["extra_info"]
    got = compute_score("x", SHORT, GT, info, reward_name="l1_exact")["score"]
    assert got == pytest.approx(5.0 - 0.0003 * abs(info["target_length"] - 12))  # SHORT has 12 words
    assert math.isnan(pq.read_table(parquet).to_pylist()[0]["extra_info"]["target_length"])


VERL_METHODS = sorted((ROOT / "recipes" / "qwen25vl_7b_methods" / "verl").glob("*.env"))


@pytest.mark.parametrize("recipe", VERL_METHODS, ids=[p.stem for p in VERL_METHODS])
def test_verl_method_recipes_compose_a_config_our_manager_accepts(
    recipe: Path, tmp_path: Path, tiny: Path
) -> None:
    """Each verl method recipe, sourced before launch_grpo.sh, gives a verl config whose reward settings
    the pixelthink manager accepts (a valid variant and RewardConfig)."""
    from pixelthink.integrations.verl.reward import reward_settings

    script = ROOT / "src" / "pixelthink" / "integrations" / "verl" / "launch_grpo.sh"
    env = {**os.environ, "PY": sys.executable, "MODEL": str(tiny), "TRAIN": str(tmp_path / "t.parquet")}
    cmd = f"set -a; . '{recipe}'; set +a; bash '{script}' --cfg job"
    out = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    cfg = OmegaConf.create(out.stdout)
    kwargs = dict(cfg.reward.reward_kwargs)
    assert kwargs["reward_name"] == recipe.stem
    kwargs.pop("uncertainty_fallback")
    name, config = reward_settings(kwargs)
    assert name == recipe.stem and config.length_mode == "words"
    if name == "dapo_overlong":  # L_max is the response length verl generates
        assert config.overlong_max_length == cfg.data.max_response_length
