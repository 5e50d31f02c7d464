"""Recipe loading: shipped recipes, overrides, and errors that name the YAML key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelthink.rewards import RewardConfig
from pixelthink.train.config import (
    RecipeError,
    apply_overrides,
    check_trainer,
    load_recipe,
    recipe_from_dict,
    trainer_arguments,
)

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))  # shapes_tiny/ too


def _minimal(**extra):
    return {"kind": "grpo", "model": "m", "data": {"path": "d"}, "output_dir": "o", **extra}


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(ROOT / "recipes")) for p in RECIPES])
def test_shipped_recipes_load_and_map_to_trl(path: Path) -> None:
    from trl import GRPOConfig, SFTConfig

    from pixelthink.train.config import TowerArguments

    recipe = load_recipe(path)
    cfg_cls = {"grpo": GRPOConfig, "sft": SFTConfig, "tower": TowerArguments}[recipe.kind]
    names = {f.name for f in __import__("dataclasses").fields(cfg_cls)}
    assert set(recipe.trainer) <= names
    assert check_trainer(recipe, cfg_cls) == recipe.trainer  # every value already has the field's type
    recipe.reward.reward_config()  # valid RewardConfig


def test_authors_hyperparameters_in_the_7b_and_3b_recipes() -> None:
    for name in ("qwen25vl_7b_pixelthink.yaml", "qwen25vl_3b_pixelthink.yaml"):
        r = load_recipe(ROOT / "recipes" / name)
        t = r.trainer
        assert t["num_generations"] == 8 and t["temperature"] == 1.0
        assert t["learning_rate"] == 1e-6 and t["weight_decay"] == 1e-2 and t["max_grad_norm"] == 1.0
        assert t["beta"] == 5e-3 and t["max_completion_length"] == 1300 and t["num_train_epochs"] == 1
        # 8 GPUs x per-device completions x accumulation = 16 prompts x 8 rollouts
        assert 8 * t["per_device_train_batch_size"] * t["gradient_accumulation_steps"] == 16 * 8
        assert r.reward.reward_config() == RewardConfig()  # the paper's reward parameters
    lora = load_recipe(ROOT / "recipes" / "qwen25vl_7b_lora_1gpu.yaml")
    assert lora.lora.enabled
    assert lora.trainer["per_device_train_batch_size"] * lora.trainer["gradient_accumulation_steps"] == 128


def test_overrides_parse_yaml_values_and_nest() -> None:
    data = apply_overrides(
        _minimal(),
        ["trainer.max_steps=3", "reward.tau_hard=4.5", "data.resolution=[640, 480]", "model.path=/x"],
    )
    r = recipe_from_dict(data)
    assert r.trainer["max_steps"] == 3
    assert r.reward.reward_config().tau_hard == 4.5
    assert r.data.resolution == [640, 480]
    assert r.model.path == "/x"


def test_yes_no_on_off_stay_strings_in_recipes_and_overrides(tmp_path: Path) -> None:
    # YAML 1.1 (PyYAML's default) reads `no` as False, which TRL rejects for save_strategy.
    data = apply_overrides(
        _minimal(), ["trainer.save_strategy=no", "trainer.bf16=false", "lora.enabled=true"]
    )
    assert data["trainer"]["save_strategy"] == "no"
    assert data["trainer"]["bf16"] is False and data["lora"]["enabled"] is True
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        (ROOT / "recipes" / "tiny_cpu.yaml").read_text().replace("save_strategy: steps", "save_strategy: no")
    )
    assert load_recipe(recipe).trainer["save_strategy"] == "no"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (_minimal(reward={"name": "pixelthink", "tau_hrad": 5}), "reward.tau_hrad"),
        (_minimal(reward={"name": "nope"}), "reward.name"),
        (_minimal(data={"path": "d", "resolution": "big"}), "data.resolution"),
        (_minimal(data={"path": "d", "reasoning": "medium"}), "data.reasoning"),
        (_minimal(lora={"r": "eight"}), "lora.r"),
        (_minimal(modle="x"), "modle"),
        ({"kind": "grpo", "data": {"path": "d"}, "output_dir": "o"}, "'model'"),
        (_minimal(reward={"tau_hard": 3.0, "tau_medium": 3.5}), "tau_hard"),
    ],
)
def test_errors_name_the_yaml_key(data: dict, needle: str) -> None:
    with pytest.raises(RecipeError) as exc:
        recipe_from_dict(data, source="r.yaml")
    assert needle in str(exc.value) and "r.yaml" in str(exc.value)


def test_unknown_trainer_key_is_reported_with_a_suggestion() -> None:
    from trl import GRPOConfig

    r = recipe_from_dict(_minimal(trainer={"learnig_rate": 1e-6}), source="r.yaml")
    with pytest.raises(RecipeError, match=r"trainer\.learnig_rate.*learning_rate"):
        trainer_arguments(r, GRPOConfig, output_dir="o", use_cpu=True, bf16=False)
    # YAML 1.1 reads 1e-6 (no dot) as a string: coerced for float fields
    r = recipe_from_dict(_minimal(trainer={"learning_rate": "1e-6"}))
    assert trainer_arguments(r, GRPOConfig, output_dir="o", use_cpu=True, bf16=False).learning_rate == 1e-6


def test_kind_mismatch_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="kind"):
        load_recipe(ROOT / "recipes" / "tiny_cpu.yaml", kind="sft")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: grpo\nmodel: [unclosed\n")
    with pytest.raises(RecipeError, match="invalid YAML"):
        load_recipe(bad)
    with pytest.raises(FileNotFoundError):
        load_recipe(tmp_path / "missing.yaml")
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        load_recipe(ROOT / "recipes" / "tiny_cpu.yaml", ["trainer.max_steps"])


def test_cli_dry_run_prints_the_checked_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from pixelthink.cli import main

    rc = main(
        [
            "train",
            "grpo",
            "--config",
            str(ROOT / "recipes" / "tiny_cpu.yaml"),
            "reward.name=segzero",
            "--dry-run",
        ]
    )
    assert rc == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["reward"]["name"] == "segzero" and out["kind"] == "grpo"
    assert (
        main(
            [
                "train",
                "grpo",
                "--config",
                str(ROOT / "recipes" / "tiny_cpu.yaml"),
                "reward.nme=x",
                "--dry-run",
            ]
        )
        == 2
    )


@pytest.mark.parametrize(
    ("trainer", "needle"),
    [
        ({"max_steps": "abc"}, r"trainer\.max_steps: invalid int value: 'abc'"),
        ({"learning_rate": "fast"}, r"trainer\.learning_rate: invalid float value: 'fast'"),
        ({"learning_rat": 1e-5}, r"unknown key trainer\.learning_rat \(did you mean 'learning_rate'\?\)"),
    ],
)
def test_trainer_keys_and_values_are_read_by_trl_parser(trainer: dict, needle: str) -> None:
    """TRL owns the trainer section: keys must be fields of its config class, values are read by TRL's
    own parser (TrlParser, as TRL's scripts and open-r1 read YAML), errors name the key on one line."""
    from trl import GRPOConfig

    r = recipe_from_dict(_minimal(trainer=trainer), source="r.yaml")
    with pytest.raises(RecipeError, match=needle) as exc:
        check_trainer(r)
    assert str(exc.value).startswith("r.yaml: ") and "\n" not in str(exc.value)
    # a real run stops at the same check, before TRL's class sees the values
    with pytest.raises(RecipeError, match=needle):
        trainer_arguments(r, GRPOConfig, output_dir="o", use_cpu=True, bf16=False)


@pytest.mark.parametrize(
    ("trainer", "needle"),
    [
        ({"save_strategy": "stepz"}, r"stepz is not a valid SaveStrategy"),
        ({"lr_scheduler_type": "constnt"}, r"constnt is not a valid SchedulerType"),
        ({"per_device_train_batch_size": 2.5}, r"generation_batch_size \(2\.5\) must be divisible"),
    ],
)
def test_values_trl_rejects_are_reported_with_trl_message(trainer: dict, needle: str) -> None:
    from trl import GRPOConfig

    r = recipe_from_dict(_minimal(trainer=trainer), source="r.yaml")
    assert check_trainer(r) == trainer  # passed to TRL as written: its class judges them
    with pytest.raises(
        RecipeError, match=r"r\.yaml: trainer: TRL's GRPOConfig rejected the values: " + needle
    ):
        trainer_arguments(r, GRPOConfig, output_dir="o", use_cpu=True, bf16=False)


def test_trainer_values_that_fit_are_kept_or_coerced() -> None:
    r = recipe_from_dict(
        _minimal(
            kind="sft",
            trainer={
                "learning_rate": "1e-6",
                "logging_steps": 1,
                "save_strategy": "no",
                "report_to": ["none"],
            },
        )
    )
    out = check_trainer(r)  # kind sft -> SFTConfig
    assert out["learning_rate"] == 1e-6 and isinstance(out["learning_rate"], float)
    # logging_steps is a float field in transformers (a ratio or a step count): the int stays an int
    assert out["logging_steps"] == 1 and type(out["logging_steps"]) is int
    assert out["save_strategy"] == "no" and out["report_to"] == ["none"]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("trainer.max_steps=abc", "tiny_cpu.yaml: trainer.max_steps: invalid int value: 'abc'"),
        ("trainer.learning_rat=1e-5", "tiny_cpu.yaml: unknown key trainer.learning_rat"),
    ],
)
def test_cli_dry_run_checks_trainer_values(
    override: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pixelthink.cli import main

    rc = main(["train", "grpo", "--config", str(ROOT / "recipes" / "tiny_cpu.yaml"), override, "--dry-run"])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err and len(err.strip().splitlines()) == 1
    # a real run stops at the same check, before building the model (output_dir is never created)
    out = tmp_path / "run"
    rc = main(
        ["train", "grpo", "--config", str(ROOT / "recipes" / "tiny_cpu.yaml"), override, f"output_dir={out}"]
    )
    assert rc == 2 and needle in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("key", ["long_fraction", "caption_fraction", "name_fraction"])
def test_data_fractions_must_be_in_0_1(key: str) -> None:
    with pytest.raises(RecipeError, match=rf"r\.yaml: data\.{key}: expected a number in \[0, 1\], got 1\.5"):
        recipe_from_dict({**_minimal(), "data": {"path": "d", key: 1.5}}, source="r.yaml")


def test_data_resolution_over_the_image_limit_is_refused() -> None:
    with pytest.raises(RecipeError, match=r"r\.yaml: data\.resolution: a model frame of 99999x99999 = "):
        recipe_from_dict({**_minimal(), "data": {"path": "d", "resolution": [99999, 99999]}}, source="r.yaml")


@pytest.mark.parametrize("value", [0, -5, [224, 0], [224, 224, 3]])
def test_data_resolution_must_be_positive(value) -> None:
    # a zero or negative frame was accepted by --dry-run and failed later, inside the data pipeline
    with pytest.raises(
        RecipeError, match=r"r\.yaml: data\.resolution: expected a positive int, \[width, height\]"
    ):
        recipe_from_dict({**_minimal(), "data": {"path": "d", "resolution": value}}, source="r.yaml")


@pytest.mark.parametrize("value", [224, [320, 240], None])
def test_data_resolution_accepts_a_side_a_pair_or_null(value) -> None:
    assert (
        recipe_from_dict({**_minimal(), "data": {"path": "d", "resolution": value}}).data.resolution == value
    )


def test_resumed_run_sets_aside_the_rows_of_steps_it_repeats(tmp_path: Path) -> None:
    """metrics.jsonl stays one row per step after an interrupted attempt; its later rows are kept aside."""
    from types import SimpleNamespace

    from pixelthink.train.callbacks import MetricsJsonlCallback

    path = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3, 4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    cb = MetricsJsonlCallback(path)
    resumed = SimpleNamespace(global_step=2, is_world_process_zero=True)
    cb.on_train_begin(None, resumed, None)
    cb.on_log(None, SimpleNamespace(global_step=3, is_world_process_zero=True), None, logs={"loss": 0.5})
    kept = path.read_text().splitlines()
    assert [json.loads(x)["step"] for x in kept if x.startswith("{")] == [1, 2, 3]
    assert "not json" in kept  # not ours to judge: left in place
    aside = tmp_path / "metrics.abandoned.jsonl"
    assert [json.loads(x) for x in aside.read_text().splitlines()] == rows[2:]
    # a fresh run (step 0) touches nothing
    MetricsJsonlCallback(path).on_train_begin(
        None, SimpleNamespace(global_step=0, is_world_process_zero=True), None
    )
    assert path.read_text().splitlines() == kept


METHOD_RECIPES = sorted((ROOT / "recipes").glob("*/methods/*.yaml")) + sorted(
    (ROOT / "recipes" / "qwen25vl_7b_methods" / "trl").glob("*.yaml")
)


@pytest.mark.parametrize(
    "path", METHOD_RECIPES, ids=[str(p.relative_to(ROOT / "recipes")) for p in METHOD_RECIPES]
)
def test_method_recipes_build_their_reward_function(path: Path) -> None:
    """Every method recipe (miniature and 7B TRL) builds the TRL reward function of its variant, which scores
    a group of rollouts with the values the trainer hands it."""
    from pixelthink.rewards import REWARDS, batch_rewards
    from pixelthink.train.grpo import make_reward_function

    recipe = load_recipe(path)
    assert recipe.reward.name == path.stem and recipe.reward.name in REWARDS
    cfg = recipe.reward.reward_config()
    fn = make_reward_function(recipe.reward.name, cfg, eos_token_ids=[0])
    gt = "<box>(10,10),(100,100)</box><points>(30,40),(50,60)</points>"
    answer = '<answer>{"bbox": [10, 10, 100, 100], "points_1": [30, 40], "points_2": [50, 60]}</answer>'
    texts = ["<think>" + "w " * n + "</think>" + answer for n in (1, 20, 60, 0)]
    kwargs = {"id": ["a", "a", "b", "b"], "target_length": [30.0] * 4, "completion_ids": [[5] * 20 + [0]] * 4}
    got = fn(prompts=["p"] * 4, completions=texts, solution=[gt] * 4, **kwargs)
    assert len(got) == 4 and all(isinstance(v, float) for v in got)
    if recipe.reward.name not in ("dapo_overlong",):  # the pure function, fed the same values, agrees
        expected = batch_rewards(
            recipe.reward.name, texts, [gt] * 4, config=cfg, groups=kwargs["id"],
            target_lengths=kwargs["target_length"], num_tokens=[21] * 4, truncated=[False] * 4,
        )  # fmt: skip
        assert got == pytest.approx(expected)
    if recipe.data.target_length is not None:
        assert "{target}" in recipe.data.target_length_prompt


def test_l1_needs_a_target_and_dapo_its_maximum_length() -> None:
    base = ROOT / "recipes" / "shapes_tiny" / "methods"
    with pytest.raises(RecipeError, match=r"needs data\.target_length"):
        load_recipe(base / "l1_exact.yaml", ["data.target_length=null"])
    with pytest.raises(RecipeError, match=r"must contain '\{target\}'"):
        load_recipe(base / "l1_exact.yaml", ["data.target_length_prompt=Think briefly."])
    with pytest.raises(
        RecipeError, match=r"overlong_max_length \(448\) must equal trainer.max_completion_length"
    ):
        load_recipe(base / "dapo_overlong.yaml", ["trainer.max_completion_length=100"])


def test_reward_section_is_parsed_by_the_verl_parser_aliases_included() -> None:
    """The recipe's reward section and verl's reward_kwargs go through RewardConfig.from_dict: an authors'
    alias accepted by verl is accepted by a recipe, and both give the same RewardConfig."""
    from pixelthink.integrations.verl.reward import reward_settings

    aliases = {"hard_difficulty_threshold": 6.0, "easy_token_budget": 64, "length_mode": "reward_word_tokens"}
    _, verl_config = reward_settings({"reward_name": "pixelthink", **aliases})
    recipe = recipe_from_dict(_minimal(reward={"name": "pixelthink", **aliases}), source="r.yaml")
    assert recipe.reward.reward_config() == verl_config
    assert (verl_config.tau_hard, verl_config.budget_easy, verl_config.length_mode) == (6.0, 64, "words")
    # the recipe echoed by --dry-run names the fields, which load again to the same config
    echoed = recipe.to_dict()["reward"]
    assert echoed == {"name": "pixelthink", "tau_hard": 6.0, "budget_easy": 64, "length_mode": "words"}
    assert recipe_from_dict(_minimal(reward=echoed)).reward.reward_config() == verl_config
    # one parser, one message: the recipe's names the file and the dotted key
    with pytest.raises(RecipeError, match=r"r\.yaml: reward\.hard_difficulty_treshold: unknown field"):
        recipe_from_dict(_minimal(reward={"hard_difficulty_treshold": 6.0}), source="r.yaml")
    with pytest.raises(RecipeError, match=r"r\.yaml: reward: RewardConfig\.budget_easy must be > 0"):
        recipe_from_dict(_minimal(reward={"easy_token_budget": 0}), source="r.yaml")
    # YAML 1.1 reads 2e-3 (no dot) as a string: a number for a numeric field, on both paths
    assert recipe_from_dict(_minimal(reward={"beta": "2e-3"})).reward.reward_config().beta == 2e-3
    assert reward_settings({"beta": "2e-3"})[1].beta == 2e-3
