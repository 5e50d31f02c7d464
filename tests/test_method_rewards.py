"""The field's length rewards (issue 27): each against its paper's formula, the group variants' refusal
where the group is not visible, and DAPO's penalty against TRL's own ``get_soft_overlong_punishment``."""

from __future__ import annotations

import pytest

from pixelthink.rewards import (
    GROUP_REWARDS,
    RewardConfig,
    batch_breakdowns,
    batch_rewards,
    dr2seg_length_reward,
    group_length_rewards,
    l1_exact_reward,
    l1_max_reward,
    l1_target_length,
    overlong_penalty,
    reward_breakdown,
    shorterbetter_target,
    thinkprune_limit_at,
)

GT = "<box>(10,10),(100,100)</box><points>(30,40),(50,60)</points>"
CFG = RewardConfig()


def _resp(think: str = "the red cup", box: str = "[10, 10, 100, 100]") -> str:
    return f'<think>{think}</think><answer>{{"bbox": {box}, "points_1": [30, 40], "points_2": [50, 60]}}</answer>'


HIT = _resp()  # all five terms: accuracy 5
MISS = _resp(box="[200, 200, 300, 300]")  # format terms only: accuracy 2


def _words(response: str) -> int:
    return len(response.split())


# -------------------------------------------------------------------------------------------- L1


def test_l1_exact_is_eq1_of_the_paper() -> None:
    # r = I(y = y_gold) - alpha |n_gold - n_y|
    assert l1_exact_reward(1.0, 120, 100, 0.0003) == pytest.approx(1 - 0.0003 * 20)
    assert l1_exact_reward(1.0, 80, 100, 0.0003) == pytest.approx(1 - 0.0003 * 20)  # undershoot too
    b = reward_breakdown(HIT, GT, variant="l1_exact", target_length=3)
    assert b["reward"] == pytest.approx(5.0 - 0.0003 * abs(3 - _words(HIT)))
    assert b["target_length"] == 3.0


def test_l1_max_is_eq2_of_the_paper() -> None:
    # r = I(y = y_gold) * clip(alpha (n_gold - n_y) + delta, 0, 1)
    assert l1_max_reward(1.0, 100, 100, 0.01, 0.5) == pytest.approx(0.5)
    assert l1_max_reward(1.0, 40, 100, 0.01, 0.5) == 1.0  # well under the target: clipped at 1
    assert l1_max_reward(1.0, 160, 100, 0.01, 0.5) == 0.0  # 60 over: clipped at 0
    assert l1_max_reward(0.0, 10, 100, 0.01, 0.5) == 0.0
    n = _words(HIT)
    b = reward_breakdown(HIT, GT, variant="l1_max", target_length=n + 10)
    assert b["reward"] == pytest.approx(5.0 * min(1.0, 0.01 * 10 + 0.5))


def test_l1_needs_the_target_length() -> None:
    with pytest.raises(ValueError, match=r"target length.*data\.target_length"):
        reward_breakdown(HIT, GT, variant="l1_exact")


def test_l1_target_length_is_fixed_by_the_sample_id_and_seed() -> None:
    values = [l1_target_length(f"s{i}", 10, 20) for i in range(200)]
    assert all(10 <= v <= 20 for v in values) and set(values) == set(range(10, 21))
    assert values == [l1_target_length(f"s{i}", 10, 20) for i in range(200)]
    assert values != [l1_target_length(f"s{i}", 10, 20, seed=1) for i in range(200)]
    with pytest.raises(ValueError, match="0 < low <= high"):
        l1_target_length("s", 20, 10)


# -------------------------------------------------------------------------------------------- DAPO


@pytest.mark.parametrize(("max_len", "cache", "factor"), [(100, 20, 1.0), (1300, 260, 1.0), (64, 64, 0.5)])
def test_dapo_penalty_equals_trl_soft_overlong_punishment(max_len: int, cache: int, factor: float) -> None:
    """verl's overlong_buffer semantics (this module) == TRL's function, on every length up to L_max."""
    from trl.rewards import get_soft_overlong_punishment

    trl_fn = get_soft_overlong_punishment(max_completion_len=max_len, soft_punish_cache=cache)
    lengths = list(range(max_len + 1))
    trl_values = trl_fn(completion_ids=[[1] * n for n in lengths])
    ours = [overlong_penalty(n, max_len, cache, factor) for n in lengths]
    assert ours == pytest.approx([factor * v for v in trl_values], abs=1e-12)
    assert ours[max_len - cache] == 0.0 and ours[max_len] == pytest.approx(-factor)


def test_dapo_overlong_adds_the_penalty_to_the_accuracy() -> None:
    cfg = RewardConfig(overlong_max_length=100, overlong_buffer=20)
    assert reward_breakdown(HIT, GT, config=cfg, variant="dapo_overlong", num_tokens=80)["reward"] == 5.0
    b = reward_breakdown(HIT, GT, config=cfg, variant="dapo_overlong", num_tokens=90)
    assert b["reward"] == pytest.approx(4.5) and b["overlong_penalty"] == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="num_tokens"):
        reward_breakdown(HIT, GT, config=cfg, variant="dapo_overlong")
    with pytest.raises(ValueError, match="overlong_buffer"):
        RewardConfig(overlong_max_length=10, overlong_buffer=20)


# -------------------------------------------------------------------------------------------- ThinkPrune


def test_thinkprune_scores_over_limit_and_truncated_responses_zero() -> None:
    n = _words(HIT)
    assert (
        reward_breakdown(HIT, GT, config=RewardConfig(thinkprune_limit=n), variant="thinkprune")["reward"]
        == 5
    )
    assert (
        reward_breakdown(HIT, GT, config=RewardConfig(thinkprune_limit=n - 1), variant="thinkprune")["reward"]
        == 0
    )
    b = reward_breakdown(
        HIT, GT, config=RewardConfig(thinkprune_limit=n), variant="thinkprune", truncated=True
    )
    assert b["reward"] == 0.0 and b["length_score"] == 0.0


def test_thinkprune_schedule_tightens_the_limit_by_rounds() -> None:
    cfg = RewardConfig(
        thinkprune_limit=40, thinkprune_decrement=10, thinkprune_round_steps=100, thinkprune_limit_min=20
    )
    assert [thinkprune_limit_at(s, cfg) for s in (None, 0, 99, 100, 250, 10_000)] == [40, 40, 40, 30, 20, 20]
    assert thinkprune_limit_at(500, RewardConfig(thinkprune_limit=40)) == 40  # no schedule
    long = _resp(think="w " * 25)  # ~ 30 words
    n = _words(long)
    cfg = RewardConfig(thinkprune_limit=n, thinkprune_decrement=5, thinkprune_round_steps=10)
    assert reward_breakdown(long, GT, config=cfg, variant="thinkprune", step=9)["reward"] == 5.0
    b = reward_breakdown(long, GT, config=cfg, variant="thinkprune", step=10)
    assert b["reward"] == 0.0 and b["budget"] == n - 5


# -------------------------------------------------------------------------------------------- group variants


def test_shorterbetter_target_is_the_shortest_correct_length() -> None:
    assert shorterbetter_target([30, 10, 20], [1, 0, 1]) == 20  # 10 is wrong
    assert shorterbetter_target([30, 10, 20], [0, 0, 0]) == 20  # none correct: the mean


def test_shorterbetter_reward_over_a_group() -> None:
    short, long = _resp(think="a"), _resp(think="a " * 40)
    responses = [long, short, MISS]
    cfg = RewardConfig(shorterbetter_beta=0.01)
    parts = batch_breakdowns("shorterbetter", responses, [GT] * 3, config=cfg, groups=[0, 0, 0])
    sol = _words(short)
    for p, r in zip(parts, responses, strict=True):
        assert p["target_length"] == sol
        assert p["reward"] == pytest.approx(p["accuracy"] - 0.01 * abs(_words(r) - sol))
    # two groups are scored separately: alone, the long response is its group's shortest hit
    alone = batch_breakdowns("shorterbetter", responses, [GT] * 3, config=cfg, groups=[1, 0, 0])
    assert alone[0]["reward"] == 5.0


def test_group_length_is_kimi_k15_length_reward() -> None:
    # lambda = 0.5 - (len - min) / (max - min); correct: lambda, wrong: min(0, lambda)
    assert group_length_rewards([10, 20, 30], [1, 1, 1]) == pytest.approx([0.5, 0.0, -0.5])
    assert group_length_rewards([10, 20, 30], [0, 0, 0]) == pytest.approx([0.0, 0.0, -0.5])
    assert group_length_rewards([7, 7], [1, 0]) == [0.0, 0.0]
    short, long = _resp(think="a"), _resp(think="a " * 40)
    cfg = RewardConfig(group_length_weight=2.0)
    rewards = batch_rewards("group_length", [short, long, MISS], [GT] * 3, config=cfg, groups=["p"] * 3)
    lengths = [_words(r) for r in (short, long, MISS)]
    lam = [0.5 - (n - min(lengths)) / (max(lengths) - min(lengths)) for n in lengths]
    assert rewards == pytest.approx([5 + 2 * lam[0], 5 + 2 * lam[1], 2 + 2 * min(0.0, lam[2])])


@pytest.mark.parametrize("name", sorted(GROUP_REWARDS))
def test_group_variants_are_refused_without_the_group(name: str) -> None:
    with pytest.raises(ValueError, match="compares the rollouts of one prompt"):
        reward_breakdown(HIT, GT, variant=name)
    with pytest.raises(ValueError, match="needs groups="):
        batch_rewards(name, [HIT], [GT])


# -------------------------------------------------------------------------------------------- think or not


def test_think_or_not_bonus_for_correct_answers_without_thinking() -> None:
    empty = _resp(think="")
    cfg = RewardConfig(no_think_bonus=0.25)
    b = reward_breakdown(empty, GT, config=cfg, variant="think_or_not")
    assert (
        b["thinking_format"] == 1.0 and b["no_think"] == 1.0 and b["reward"] == 5.25
    )  # empty think is valid
    assert reward_breakdown(_resp(think=" \n "), GT, config=cfg, variant="think_or_not")["reward"] == 5.25
    assert reward_breakdown(HIT, GT, config=cfg, variant="think_or_not")["reward"] == 5.0  # thought: no bonus
    empty_miss = _resp(think="", box="[200, 200, 300, 300]")
    assert reward_breakdown(empty_miss, GT, config=cfg, variant="think_or_not")["reward"] == 2.0
    every = RewardConfig(no_think_bonus=0.25, no_think_bonus_needs_hit=False)  # AdaptThink: every NoThinking
    assert reward_breakdown(empty_miss, GT, config=every, variant="think_or_not")["reward"] == 2.25
    with pytest.raises(ValueError, match="true or false"):
        RewardConfig(no_think_bonus_needs_hit=1)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------- DR2Seg


def test_dr2seg_length_self_reward_formula() -> None:
    # clip(1[N2 < N1] - gamma * max(0, N1 - N0), 0, 1)
    assert dr2seg_length_reward(50, 30, 100, 0.01) == 1.0
    assert dr2seg_length_reward(150, 30, 100, 0.01) == pytest.approx(0.5)
    assert dr2seg_length_reward(300, 30, 100, 0.01) == 0.0
    assert dr2seg_length_reward(30, 50, 100, 0.01) == 0.0  # N2 >= N1
    assert dr2seg_length_reward(30, 30, 100, 0.01) == 0.0


def test_dr2seg_with_the_second_stage_length_given() -> None:
    n1 = _words(HIT)
    cfg = RewardConfig(dr2seg_anchor=n1, dr2seg_weight=0.5)
    b = reward_breakdown(HIT, GT, config=cfg, variant="dr2seg", second_length=n1 - 1)
    assert b["length_self_reward"] == 1.0 and b["reward"] == 5.5
    assert reward_breakdown(HIT, GT, config=cfg, variant="dr2seg", second_length=n1 + 1)["reward"] == 5.0
    with pytest.raises(ValueError, match="second stage"):
        reward_breakdown(HIT, GT, variant="dr2seg")
    with pytest.raises(ValueError, match="second stage"):
        batch_rewards("dr2seg", [HIT], [GT], groups=[0])


def test_dr2seg_group_mean_stand_in() -> None:
    short, long = _resp(think="a"), _resp(think="a " * 40)
    cfg = RewardConfig(dr2seg_second_stage="group_mean", dr2seg_anchor=1000)
    parts = batch_breakdowns("dr2seg", [short, long], [GT] * 2, config=cfg, groups=[0, 0])
    mean = (_words(short) + _words(long)) / 2
    assert [p["second_length"] for p in parts] == [mean, mean]
    assert [p["reward"] for p in parts] == [5.0, 6.0]  # only the rollout longer than N2 earns it
    with pytest.raises(ValueError, match="needs groups="):
        batch_rewards("dr2seg", [short], [GT], config=cfg)


def test_unknown_rollout_values_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown rollout value"):
        reward_breakdown(HIT, GT, variant="segzero", target_lenght=3)


# -------------------------------------------------------------------------------------------- TRL path


def test_trl_reward_function_feeds_each_variant_what_it_needs() -> None:
    from types import SimpleNamespace

    from pixelthink.train.grpo import make_reward_function

    short, long = _resp(think="a"), _resp(think="a " * 40)
    texts = [short, long, long, short]
    ids = [[5] * 10 + [0], [5] * 30 + [0], [5] * 40, [5] * 12 + [0]]  # EOS id 0; the third is truncated
    common = {"prompts": ["p"] * 4, "completions": texts, "solution": [GT] * 4, "completion_ids": ids}
    common["id"] = ["a", "a", "b", "b"]
    cfg = RewardConfig(overlong_max_length=40, overlong_buffer=20, overlong_penalty_factor=0.5)
    dapo = make_reward_function("dapo_overlong", cfg, eos_token_ids=[0])(**common)
    assert dapo == pytest.approx([5.0, 5.0 - 0.5 * 11 / 20, 4.5, 5.0])  # TRL's penalty on the token counts
    assert dapo == pytest.approx(
        batch_rewards("dapo_overlong", texts, [GT] * 4, config=cfg, num_tokens=[11, 31, 40, 13])
    )
    sb = make_reward_function("shorterbetter", CFG, eos_token_ids=[0])(**common)  # groups from the id column
    assert sb == pytest.approx(batch_rewards("shorterbetter", texts, [GT] * 4, groups=["a", "a", "b", "b"]))
    state = SimpleNamespace(global_step=10)
    tp_cfg = RewardConfig(thinkprune_limit=1000)
    tp = make_reward_function("thinkprune", tp_cfg, eos_token_ids=[0])(**common, trainer_state=state)
    assert tp == [5.0, 5.0, 0.0, 5.0]  # the truncated rollout scores 0
    l1_fn = make_reward_function("l1_exact", CFG)
    l1 = l1_fn(**common, target_length=[10.0, 20.0, 30.0, 40.0])
    assert l1 == pytest.approx(
        [5.0 - 0.0003 * abs(t - _words(r)) for t, r in zip((10, 20, 30, 40), texts, strict=True)]
    )
    with pytest.raises(ValueError, match="target length"):  # a row without its target (NaN) is refused
        l1_fn(**common, target_length=[10.0, 10.0, float("nan"), 10.0])
