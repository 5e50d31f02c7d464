"""verl ``custom_reward_function``: one call into :mod:`pixelthink.rewards` (no copy of the reward).

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

__all__ = ["EXTRA_KEYS", "compute_score", "reward_settings", "score_dict"]

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


def _float_or_none(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def score_dict(
    solution_str: str,
    ground_truth: Any,
    difficulty: float | None,
    uncertainty: float | None,
    name: str,
    config: Any,
    tokenizer: Any = None,
) -> dict[str, float]:
    """verl's result dict: ``score`` plus :data:`EXTRA_KEYS` (floats; -1.0 for "no budget"/"unknown")."""
    from pixelthink.rewards import reward_breakdown

    b = reward_breakdown(solution_str, ground_truth, difficulty, uncertainty, config, tokenizer, variant=name)
    out = {"score": float(b["reward"])}
    for key in EXTRA_KEYS:
        v = b.get(key)
        out[key] = -1.0 if v is None else float(v)
    return out


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
    settings = {k: v for k, v in kwargs.items() if k not in ("uncertainty", "tokenizer")}
    # keys verl itself may pass (reward router etc.) are not reward settings
    for k in ("reward_router_address", "reward_model_tokenizer"):
        settings.pop(k, None)
    name, config = reward_settings(settings)
    u = kwargs.get("uncertainty", info.get("uncertainty"))
    return score_dict(
        solution_str,
        ground_truth,
        _float_or_none(info.get("difficulty")),
        _float_or_none(u),
        name,
        config,
        kwargs.get("tokenizer"),
    )
