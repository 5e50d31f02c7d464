"""verl ``custom_reward_function``: one call into :mod:`pixelthink.rewards` (no copy of the reward).

:func:`compute_score_batch` is the same for verl's ``batch`` reward manager, and the path for
``difficulty_source=online`` (the per-sample functions cannot see a rollout's group and refuse it).

``compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)`` returns verl's
dict form ``{"score": reward, ...numeric terms...}``. Settings come as keyword arguments
(``custom_reward_function.reward_kwargs`` in verl's config): ``reward_name`` (a name of
``pixelthink.rewards.REWARDS``, default ``pixelthink``) and any ``RewardConfig`` field
(``tau_hard``, ``budget_easy``, ``length_mode``, ...). Difficulty is ``extra_info["difficulty"]``
(NaN / missing = unrated -> ``RewardConfig.default_difficulty``); uncertainty is
``kwargs["uncertainty"]`` or ``extra_info["uncertainty"]`` (missing = 0.0: a plain
``custom_reward_function`` cannot see the rollout's log-probs; use the ``pixelthink`` reward
manager for U from the rollout).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["EXTRA_KEYS", "compute_score", "compute_score_batch", "reward_settings", "score_dict"]

#: numeric keys returned next to "score" (the same for every sample, as verl requires)
EXTRA_KEYS = (
    "accuracy",
    "thinking_format",
    "answer_format",
    "iou",
    "box_l1",
    "point_l1",
    "length",
    "budget",
    "length_score",
    "difficulty",
    "uncertainty",
)


@lru_cache(maxsize=32)
def _config(items: tuple[tuple[str, Any], ...]) -> Any:
    from pixelthink.rewards import RewardConfig

    return RewardConfig.from_dict(dict(items))


def reward_settings(kwargs: Mapping[str, Any]) -> tuple[str, Any]:
    """``(reward_name, RewardConfig)`` from keyword settings; unknown keys raise ValueError."""
    from pixelthink.rewards import get_reward

    params = {k: v for k, v in kwargs.items() if k != "reward_name"}
    name = str(kwargs.get("reward_name", "pixelthink"))
    get_reward(name)
    return name, _config(tuple(sorted(params.items())))


def _settings_of_call(kwargs: Mapping[str, Any]) -> tuple[str, Any]:
    """:func:`reward_settings` of a ``compute_score`` call's keyword arguments (data keys removed)."""
    # keys verl itself may pass (reward router etc.) and per-rollout data are not reward settings
    skip = (
        "uncertainty",
        "tokenizer",
        "reward_router_address",
        "reward_model_tokenizer",
        "step",
        *ROLLOUT_KEYS,
    )
    return reward_settings({k: v for k, v in kwargs.items() if k not in skip})


def _float_or_none(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


#: per-rollout values some reward variants need (rewards.reward_breakdown's ``rollout`` keywords), read
#: from the call's keyword arguments or ``extra_info``
ROLLOUT_KEYS = ("target_length", "num_tokens", "truncated", "second_length")


def rollout_values(kwargs: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`ROLLOUT_KEYS` present (keyword argument first, then ``extra_info``; NaN = absent)."""
    out: dict[str, Any] = {}
    for key in ROLLOUT_KEYS:
        value = kwargs.get(key, info.get(key))
        if key == "truncated":
            if value is not None:
                out[key] = bool(value)
        elif (v := _float_or_none(value)) is not None:
            out[key] = v
    return out


def score_dict(
    solution_str: str,
    ground_truth: Any,
    difficulty: float | None,
    uncertainty: float | None,
    name: str,
    config: Any,
    tokenizer: Any = None,
    *,
    step: int | None = None,
    **rollout: Any,
) -> dict[str, float]:
    """verl's result dict: ``score`` plus :data:`EXTRA_KEYS` (floats; -1.0 for "no budget"/"unknown").

    ``rollout``: :data:`ROLLOUT_KEYS` values (``dapo_overlong`` without ``num_tokens`` counts the response's
    tokens with ``tokenizer``).
    """
    from pixelthink.rewards import reward_breakdown

    if name == "dapo_overlong" and "num_tokens" not in rollout and tokenizer is not None:
        rollout["num_tokens"] = len(tokenizer(solution_str, add_special_tokens=False)["input_ids"])
    b = reward_breakdown(
        solution_str,
        ground_truth,
        difficulty,
        uncertainty,
        config,
        tokenizer,
        variant=name,
        step=step,
        **rollout,
    )
    return _verl_dict(b)


def _verl_dict(breakdown: Mapping[str, Any]) -> dict[str, float]:
    out = {"score": float(breakdown["reward"])}
    for key in EXTRA_KEYS:
        v = breakdown.get(key)
        out[key] = -1.0 if v is None else float(v)
    return out


_PLURALS = ("target_lengths", "num_tokens", "truncated", "second_lengths")


def compute_score_batch(
    data_sources: list[str],
    solution_strs: list[str],
    ground_truths: list[Any],
    extra_infos: list[Mapping[str, Any] | None],
    **kwargs: Any,
) -> list[dict[str, float]]:
    """:func:`compute_score` for a whole batch at once, with the signature of verl's ``batch`` reward manager
    (``verl.workers.reward_manager.batch.BatchRewardManager``: the legacy reward path; verl 0.9.1's reward
    loop scores one rollout at a time instead).

    The one verl function that accepts ``difficulty_source=online``: the rollouts of one prompt (same
    data source and ``extra_info["index"]``, which the converter writes per row) form a group whose pass
    rate sets their difficulty (:func:`pixelthink.rewards.online_difficulties`). Uncertainty:
    ``kwargs["uncertainty"]`` (a list) or ``extra_info["uncertainty"]``, else 0.0.
    """
    from pixelthink.rewards import batch_breakdowns

    n = len(solution_strs)
    name, config = _settings_of_call(kwargs)
    infos = [dict(info or {}) for info in extra_infos]
    given = kwargs.get("uncertainty")
    us = [
        _float_or_none(given[i] if given is not None else info.get("uncertainty"))
        for i, info in enumerate(infos)
    ]
    groups = [
        (str(src), info.get("index", info.get("id", i)))
        for i, (src, info) in enumerate(zip(data_sources, infos, strict=True))
    ]
    given_extra = {k: kwargs[k] for k in ROLLOUT_KEYS if k in kwargs}  # lists, one value per rollout
    per = [rollout_values({k: v[i] for k, v in given_extra.items()}, info) for i, info in enumerate(infos)]
    parts = batch_breakdowns(
        name,
        list(solution_strs),
        list(ground_truths),
        [_float_or_none(info.get("difficulty")) for info in infos],
        us,
        config,
        kwargs.get("tokenizer"),
        groups=groups,
        step=kwargs.get("step"),
        **{
            plural: [p.get(key) for p in per] if any(key in p for p in per) else None
            for key, plural in zip(ROLLOUT_KEYS, _PLURALS, strict=True)
        },
    )
    if len(parts) != n:  # pragma: no cover - batch_breakdowns checks the lengths
        raise ValueError(f"compute_score_batch: {len(parts)} results for {n} responses")
    return [_verl_dict(b) for b in parts]


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """verl custom reward: PixelThink reward of one decoded response (see the module docstring)."""
    del data_source  # one reward for every source
    info = dict(extra_info or {})
    name, config = _settings_of_call(kwargs)
    u = kwargs.get("uncertainty", info.get("uncertainty"))
    return score_dict(
        solution_str,
        ground_truth,
        _float_or_none(info.get("difficulty")),
        _float_or_none(u),
        name,
        config,
        kwargs.get("tokenizer"),
        step=kwargs.get("step", info.get("step")),
        **rollout_values(kwargs, info),
    )
