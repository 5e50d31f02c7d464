"""The ``pixelthink`` reward manager for verl 0.9.1's reward loop (a plugin, verl is not forked).

Registered with ``verl.experimental.reward_loop.reward_manager.register("pixelthink")``. Select it in
verl's config either by name after importing this module, or (robust in Ray workers, which do not
import it) by file::

    reward.reward_manager.source=importlib
    reward.reward_manager.name=PixelThinkRewardManager
    reward.reward_manager.module.path=$(python -c "import pixelthink.integrations.verl.reward_manager as m; print(m.__file__)")

Settings: ``+reward.reward_kwargs.reward_name=pixelthink`` (any name of ``pixelthink.rewards.REWARDS``),
any ``RewardConfig`` field (``+reward.reward_kwargs.tau_hard=5.0``), and
``+reward.reward_kwargs.uncertainty_fallback=sampled_logprob|zero|error``.

Uncertainty U of a rollout, first source found (``uncertainty_source`` in the logged extra info):

0. ``non_tensor_batch["uncertainty"]`` or the rollout server's ``extra_fields["uncertainty"]``
   (reaches the manager as ``tool_extra_fields``): U computed by the rollout;
1. per-token top-k log-probs (``non_tensor_batch["rollout_top_logprobs"]`` or
   ``extra_fields["top_logprobs"]``: one ``{token: logprob}`` dict or list of log-probs per generated
   token, as vLLM returns with ``logprobs >= 2``): the paper's U via
   :func:`pixelthink.uncertainty.margins_from_top_logprobs`;
2. ``batch["rollout_log_probs"]`` (verl's ``rollout.calculate_log_probs=True``: the *sampled* token's
   log-prob only) with ``uncertainty_fallback=sampled_logprob``: the two-token approximation
   ``U_t = 1 - |2 p_t - 1|`` (exact when the next-token distribution has two tokens; for ``p_t >= 0.5``
   it is an upper bound of ``1 - (p1 - p2)`` because ``p2 <= 1 - p_t``); only the non-streaming reward
   path carries it;
3. otherwise U = 0 (``uncertainty_fallback=zero``, the default; the authors' manager does the same):
   hard samples then get the base budget ``budget_hard`` (256 words) instead of up to
   ``budget_hard + uncertainty_scale`` (281), i.e. a slightly stricter length penalty for hard samples;
   easy and medium samples are unaffected. ``error`` raises instead.

verl 0.9.1's vLLM server keeps only the sampled token's log-prob, so sources 0/1 need a rollout that
asks vLLM for ``logprobs >= 2`` and puts U (or the top-k lists) in ``TokenOutput.extra_fields``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from pixelthink.integrations.verl.reward import _float_or_none, reward_settings, rollout_values, score_dict

__all__ = ["UNCERTAINTY_SOURCES", "PixelThinkRewardManager", "uncertainty_of_rollout"]

#: code logged as ``uncertainty_source`` -> meaning
UNCERTAINTY_SOURCES = {
    0: "rollout value",
    1: "top-k log-probs",
    2: "sampled-token log-probs",
    3: "none (U=0)",
}
_FALLBACKS = ("zero", "sampled_logprob", "error")


def _get(mapping: Any, key: str) -> Any:
    if mapping is None:
        return None
    try:
        return mapping.get(key)
    except AttributeError:
        return None


def uncertainty_of_rollout(
    non_tensor: Any, batch: Any, response_length: int, fallback: str = "zero"
) -> tuple[float, int]:
    """``(U, source code)`` of one rollout (see the module docstring for the order of sources).

    Args:
        non_tensor: the item's ``non_tensor_batch`` (dict-like).
        batch: the item's tensor batch (``TensorDict``), may lack ``rollout_log_probs``.
        response_length: number of valid response tokens (trims padded per-token arrays).
        fallback: ``zero`` | ``sampled_logprob`` | ``error``.
    """
    from pixelthink.uncertainty import margins_from_top_logprobs, uncertainty_from_margins

    if fallback not in _FALLBACKS:
        raise ValueError(f"uncertainty_fallback must be one of {_FALLBACKS}, got {fallback!r}")
    extra = _get(non_tensor, "tool_extra_fields")
    for value in (_get(non_tensor, "uncertainty"), _get(extra, "uncertainty")):
        u = _float_or_none(value)
        if u is not None:
            return u, 0
    for top in (_get(non_tensor, "rollout_top_logprobs"), _get(extra, "top_logprobs")):
        if top is not None and len(top) > 0:
            steps = [
                None if step is None else (dict(step) if hasattr(step, "items") else list(step))
                for step in top
            ]
            return uncertainty_from_margins(margins_from_top_logprobs(steps[:response_length])), 1
    if fallback == "sampled_logprob" and batch is not None and "rollout_log_probs" in batch.keys():  # noqa: SIM118 (TensorDict has no `in`)
        lp = np.asarray(batch["rollout_log_probs"].float().cpu().numpy(), dtype=np.float64)[:response_length]
        p = np.exp(lp)
        margins = np.abs(2.0 * p - 1.0)
        return uncertainty_from_margins(margins), 2
    if fallback == "error":
        raise ValueError(
            "pixelthink reward manager: no per-rollout uncertainty (no 'uncertainty', top-k log-probs or "
            "usable rollout_log_probs); set reward.reward_kwargs.uncertainty_fallback=zero to use U=0"
        )
    return 0.0, 3


@register("pixelthink")
class PixelThinkRewardManager(RewardManagerBase):
    """verl reward-loop manager computing ``pixelthink.rewards`` with per-rollout uncertainty."""

    def __init__(
        self,
        config: Any,
        tokenizer: Any,
        compute_score: Any = None,
        reward_router_address: str | None = None,
        reward_model_tokenizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, tokenizer, compute_score)
        settings = dict(config.reward.get("reward_kwargs", None) or {})
        self.uncertainty_fallback = str(settings.pop("uncertainty_fallback", "zero"))
        if self.uncertainty_fallback not in _FALLBACKS:
            raise ValueError(
                f"reward.reward_kwargs.uncertainty_fallback: expected one of {_FALLBACKS}, got {self.uncertainty_fallback!r}"
            )
        self.reward_name, self.reward_config = reward_settings(settings)
        from pixelthink.rewards import GROUP_REWARDS

        if self.reward_name in GROUP_REWARDS or (
            self.reward_name == "dr2seg" and self.reward_config.dr2seg_second_stage == "group_mean"
        ):
            raise ValueError(
                f"pixelthink reward manager: reward {self.reward_name!r} compares the rollouts of one prompt, and "
                "verl's reward loop scores one rollout at a time; use compute_score_batch with verl's batch "
                "reward manager (pixelthink.integrations.verl.reward)"
            )

    async def run_single(self, data: DataProto) -> dict:
        item = data[-1:][0]  # multi-sequence outputs: the last sequence carries the answer
        response_ids = item.batch["responses"]
        response_length = response_ids.shape[-1]
        valid = int(item.batch["attention_mask"][-response_length:].sum())
        valid_ids = response_ids[:valid]
        nt = item.non_tensor_batch
        ground_truth = nt["reward_model"]["ground_truth"]
        extra_info = nt.get("extra_info", None) or {}
        difficulty = _float_or_none(_get(extra_info, "difficulty"))
        uncertainty, source = uncertainty_of_rollout(nt, item.batch, valid, self.uncertainty_fallback)
        # the rollout's own values (a rollout server's extra fields, e.g. DR2Seg's second_length), then the
        # dataset's (L1's target_length); the token count and truncation are the manager's own
        rollout = rollout_values(_get(nt, "tool_extra_fields") or {}, extra_info)
        rollout.update(num_tokens=valid, truncated=valid >= response_length)
        loop = asyncio.get_running_loop()  # the loop running this coroutine (verl's or the caller's)
        text = await loop.run_in_executor(
            None, lambda: self.tokenizer.decode(valid_ids, skip_special_tokens=True)
        )
        scores = await loop.run_in_executor(
            None,
            lambda: score_dict(
                text,
                ground_truth,
                difficulty,
                uncertainty,
                self.reward_name,
                self.reward_config,
                self.tokenizer,
                step=_get(data.meta_info, "global_steps"),
                **rollout,
            ),
        )
        reward = scores.pop("score")
        if math.isnan(reward):
            raise ValueError(f"pixelthink reward manager: NaN reward for response {text[:80]!r}")
        scores["uncertainty_source"] = float(source)
        return {"reward_score": reward, "reward_extra_info": scores}
