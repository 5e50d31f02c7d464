"""Online difficulty (reward.difficulty_source: online): the rollout group's pass rate sets the budget."""

from __future__ import annotations

import pytest

from pixelthink.rewards import (
    RewardConfig,
    batch_breakdowns,
    batch_rewards,
    online_difficulties,
    passrate_difficulty,
    reward_breakdown,
)

GT = "<box>(10,10),(100,100)</box><points>(30,40),(50,60)</points>"
ONLINE = RewardConfig(difficulty_source="online")


def _resp(box, words=0):
    think = "the cup " + "w " * words
    return f'<think>{think}</think><answer>{{"bbox": {box}, "points_1": [30, 40], "points_2": [50, 60]}}</answer>'


HIT = [10, 10, 100, 100]
MISS = [200, 200, 300, 300]


def test_passrate_difficulty_formula_and_buckets():
    assert passrate_difficulty(1.0) == 1.0 and passrate_difficulty(0.0) == 10.0
    assert passrate_difficulty(0.5) == pytest.approx(5.5)
    # with 8 rollouts: 6..8 hits easy (< 3.5), 5 medium, 0..4 hard (>= 5.0)
    buckets = {k: passrate_difficulty(k / 8) for k in range(9)}
    assert all(buckets[k] < 3.5 for k in (6, 7, 8))
    assert 3.5 <= buckets[5] < 5.0
    assert all(buckets[k] >= 5.0 for k in range(5))
    for bad in (-0.1, 1.01, float("nan")):
        with pytest.raises(ValueError, match="pass rate"):
            passrate_difficulty(bad)


def test_online_difficulties_per_group():
    responses = [_resp(HIT), _resp(HIT), _resp(MISS), _resp(MISS), _resp(HIT), "garbage"]
    groups = ["a", "a", "b", "b", "c", "c"]
    d = online_difficulties(responses, [GT] * 6, groups)
    assert d == [1.0, 1.0, 10.0, 10.0, 5.5, 5.5]
    with pytest.raises(ValueError, match="groups"):
        online_difficulties(responses, [GT] * 6, groups[:2])


def test_online_budgets_follow_the_group_not_the_annotation():
    # 200 filler words per rollout (about 210 words in all): over the easy budget (96), under the hard one.
    long_hit, long_miss = _resp(HIT, words=200), _resp(MISS, words=200)
    responses = [long_hit] * 8 + [long_hit] * 5 + [long_miss] * 3 + [long_hit] * 2 + [long_miss] * 6
    groups = ["easy"] * 8 + ["medium"] * 8 + ["hard"] * 8
    annotated = [9.0] * 8 + [1.0] * 8 + [1.0] * 8  # the dataset's difficulty is ignored online
    parts = batch_breakdowns("pixelthink", responses, [GT] * 24, annotated, [0.4] * 24, ONLINE, groups=groups)
    budgets = [p["budget"] for p in parts]
    assert budgets[:8] == [96] * 8  # 8/8 hits -> D = 1 -> easy budget
    assert budgets[8:16] == [None] * 8  # 5/8 -> D = 4.375 -> medium, no penalty
    assert budgets[16:] == [pytest.approx(256 + 25 * 0.4)] * 8  # 2/8 -> D = 7.75 -> hard, U-modulated
    assert [p["difficulty"] for p in parts[8:10]] == [pytest.approx(1 + 9 * 3 / 8)] * 2
    # the same responses with the annotated difficulty: every budget differs from the online ones
    annotated_parts = batch_breakdowns(
        "pixelthink", responses, [GT] * 24, annotated, [0.4] * 24, RewardConfig()
    )
    assert annotated_parts[0]["budget"] == pytest.approx(266.0) and annotated_parts[8]["budget"] == 96
    # rewards: the long correct answers of the all-hit group are penalised online (easy budget 96)
    online_rewards = batch_rewards(
        "pixelthink", responses, [GT] * 24, annotated, [0.4] * 24, ONLINE, groups=groups
    )
    assert online_rewards[0] < 5.0 and online_rewards[8] == 5.0


def test_online_needs_groups_and_refuses_single_samples():
    with pytest.raises(ValueError, match="needs groups="):
        batch_rewards("pixelthink", [_resp(HIT)], [GT], None, None, ONLINE)
    with pytest.raises(ValueError, match="rollout group"):
        reward_breakdown(_resp(HIT), GT, 3.0, 0.0, ONLINE)
    with pytest.raises(ValueError, match="difficulty_source"):
        RewardConfig(difficulty_source="file")


def test_default_path_ignores_groups():
    responses = [_resp(HIT, 150), _resp(MISS, 150)]
    plain = batch_rewards("pixelthink", responses, [GT] * 2, [6.0, 2.0], [0.1, 0.9])
    grouped = batch_rewards("pixelthink", responses, [GT] * 2, [6.0, 2.0], [0.1, 0.9], groups=["a", "a"])
    assert plain == grouped
    assert RewardConfig().difficulty_source == "annotation"


def test_trl_reward_function_groups_by_prompt_id():
    pytest.importorskip("trl")
    from pixelthink.train.grpo import make_reward_function

    logged = {}
    fn = make_reward_function("pixelthink", ONLINE)
    responses = [_resp(HIT, 200)] * 4 + [_resp(MISS, 200)] * 4
    out = fn(
        prompts=["p1"] * 4 + ["p2"] * 4,
        completions=responses,
        solution=[GT] * 8,
        difficulty=[9.0] * 8,
        uncertainty=[0.0] * 8,
        id=["s1"] * 4 + ["s2"] * 4,
        log_metric=lambda k, v: logged.__setitem__(k, v),
    )
    # s1: 4/4 hits -> easy budget 96, long answers penalised; s2: 0/4 -> hard, accuracy without the IoU terms
    expected = batch_rewards(
        "pixelthink", responses, [GT] * 8, None, [0.0] * 8, ONLINE, groups=["s1"] * 4 + ["s2"] * 4
    )
    assert out == pytest.approx(expected)
    annotated = make_reward_function("pixelthink", RewardConfig())(
        prompts=["p1"] * 8,
        completions=responses,
        solution=[GT] * 8,
        difficulty=[9.0] * 8,
        uncertainty=[0.0] * 8,
    )
    assert out[0] < annotated[0]  # online: easy (96 words), annotated: hard (256 words)
    assert logged["pixelthink/online_difficulty"] == pytest.approx((1.0 + 10.0) / 2)


def test_recipe_accepts_online_difficulty(tmp_path):
    from pixelthink.train.config import RecipeError, load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "kind: grpo\nmodel: {path: m}\ndata: {path: d}\noutput_dir: out\nreward: {difficulty_source: online}\n"
    )
    assert load_recipe(recipe).reward.reward_config().difficulty_source == "online"
    recipe.write_text(
        "kind: grpo\nmodel: {path: m}\ndata: {path: d}\noutput_dir: out\nreward: {difficulty_source: x}\n"
    )
    with pytest.raises(RecipeError, match="difficulty_source"):
        load_recipe(recipe)


def test_verl_batch_compute_score_groups_by_index():
    from pixelthink.integrations.verl.reward import compute_score, compute_score_batch

    responses = [_resp(HIT, 200)] * 2 + [_resp(MISS, 200)] * 2
    infos = [{"index": 0, "difficulty": 9.0}] * 2 + [{"index": 1, "difficulty": 9.0}] * 2
    out = compute_score_batch(["shapes"] * 4, responses, [GT] * 4, infos, difficulty_source="online")
    assert [o["difficulty"] for o in out] == [1.0, 1.0, 10.0, 10.0]
    assert out[0]["budget"] == 96 and out[2]["budget"] == 256
    annotated = compute_score_batch(["shapes"] * 4, responses, [GT] * 4, infos)
    assert [o["difficulty"] for o in annotated] == [9.0] * 4
    assert annotated[0] == compute_score("shapes", responses[0], GT, infos[0])
    with pytest.raises(ValueError, match="rollout group"):
        compute_score("shapes", responses[0], GT, infos[0], difficulty_source="online")
