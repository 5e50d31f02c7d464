"""GRPO on TRL 1.16's ``GRPOTrainer`` with per-rollout uncertainty and PixelThink rewards.

:class:`PixelThinkGRPOTrainer` subclasses (does not fork) ``trl.GRPOTrainer``:

* ``_generate_single_turn`` is wrapped so that the top-2 margin of every sampled token is kept:
  with transformers ``generate`` a :class:`~pixelthink.train.rollout_uncertainty.MarginRecorder`
  logits processor is appended for the call; with vLLM, top-k log-probs (``logprobs >= 2``) are
  requested and converted (and TRL still gets the sampled token's log-prob first).
* ``_calculate_rewards`` puts U of each completion into its input row, so every reward function
  receives ``uncertainty=[U_0, ..., U_{B-1}]`` aligned with ``completions`` (a ``rollout_func`` that
  returns an ``uncertainty`` key wins).
* ``_generate_and_score_completions`` keeps per-rollout records (reward, advantage, U, length,
  bucket) for :class:`~pixelthink.train.callbacks.RolloutJsonlCallback` and tests.

TRL 1.16 is pinned exactly because these private methods are not a stable API.

The reward functions (:func:`make_reward_function`) call :mod:`pixelthink.rewards` and log, per
step: each reward term (``pixelthink/<term>``), mean length per difficulty bucket
(``pixelthink/length/<bucket>``), mean U (``pixelthink/uncertainty``) and the clipped ratio
(``pixelthink/clipped_ratio``).
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from trl import GRPOConfig, GRPOTrainer

from pixelthink.rewards import RewardConfig

from .callbacks import MetricsJsonlCallback, RecipeCallback, RolloutJsonlCallback
from .common import (
    CheckpointWeightsMixin,
    cpu_defaults,
    find_resume_checkpoint,
    load_policy,
    lora_config,
    recipe_yaml,
    resolve_model_path,
    save_final,
)
from .config import Recipe, trainer_arguments
from .data import build_dataset
from .rollout_uncertainty import (
    MarginRecorder,
    completion_uncertainties,
    margins_from_vllm_topk,
    sampled_token_logprobs,
    sampling_warpers,
)

__all__ = [
    "GRPORun",
    "PixelThinkGRPOTrainer",
    "build_grpo_trainer",
    "completion_text",
    "make_reward_function",
    "run_grpo",
]

log = logging.getLogger(__name__)

#: numeric terms of rewards.reward_breakdown logged per step
_LOGGED_TERMS = ("thinking_format", "answer_format", "iou", "box_l1", "point_l1", "accuracy", "length_score")
#: terms of the field's reward variants, logged when present
_VARIANT_TERMS = (
    "target_length",
    "overlong_penalty",
    "no_think",
    "group_length_reward",
    "second_length",
    "length_self_reward",
)


def completion_text(completion: Any) -> str:
    """The text of one TRL completion: a string, or a list of chat messages (the last one's content)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # structured blocks
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return content or ""
    return ""


def make_reward_function(
    name: str,
    config: RewardConfig,
    *,
    tokenizer: Any = None,
    eos_token_ids: Sequence[int] = (),
    metric_prefix: str = "pixelthink",
) -> Any:
    """A TRL reward function for reward variant ``name`` of :data:`pixelthink.rewards.REWARDS`.

    Signature (TRL calls it with keywords): ``fn(prompts, completions, solution, difficulty=None,
    uncertainty=None, completion_ids=None, log_metric=None, **kwargs) -> list[float]``. ``solution``
    is the GT string in the model frame, ``difficulty`` 1..10 or None, ``uncertainty`` U per completion
    (from :class:`PixelThinkGRPOTrainer`). The function's ``__name__`` is ``name`` (TRL logs
    ``rewards/<name>/mean``).

    With ``config.difficulty_source == "online"`` the ``difficulty`` column is ignored: the rollouts of
    one prompt (same ``id`` column, else the same prompt) form a group whose pass rate sets their
    difficulty (:func:`pixelthink.rewards.online_difficulties`), logged as ``<prefix>/online_difficulty``.
    TRL scores the completions of each process separately: the group is the rollouts of the prompt that
    this process holds (all ``num_generations`` of them on one process, or when the per-device batch is a
    multiple of ``num_generations``).
    """
    from pixelthink import rewards

    rewards.get_reward(name)  # fail early on a bad name
    eos = set(int(i) for i in eos_token_ids)
    grouped = name in rewards.GROUP_REWARDS or name == "dr2seg" or config.difficulty_source == "online"
    soft_overlong = None
    if name == "dapo_overlong":  # TRL's own DAPO penalty (its parity with rewards.overlong_penalty is tested)
        from trl.rewards import get_soft_overlong_punishment

        soft_overlong = get_soft_overlong_punishment(
            max_completion_len=int(config.overlong_max_length), soft_punish_cache=int(config.overlong_buffer)
        )

    def reward_fn(
        prompts: list[Any],
        completions: list[Any],
        solution: list[str] | None = None,
        difficulty: list[float | None] | None = None,
        uncertainty: list[float | None] | None = None,
        completion_ids: list[list[int]] | None = None,
        log_metric: Any = None,
        **kwargs: Any,
    ) -> list[float]:
        if solution is None:
            raise ValueError(
                "reward function: the dataset has no 'solution' column (GT string in the model frame)"
            )
        texts = [completion_text(c) for c in completions]
        diffs = (
            [None if d is None or (isinstance(d, float) and math.isnan(d)) else float(d) for d in difficulty]
            if difficulty is not None
            else None
        )
        groups = None
        if grouped:
            ids = kwargs.get("id")
            groups = list(ids) if ids is not None else [repr(p) for p in prompts]
        state = kwargs.get("trainer_state")
        parts = rewards.batch_breakdowns(
            name,
            texts,
            list(solution),
            diffs,
            uncertainty,
            config,
            tokenizer,
            groups=groups,
            step=None if state is None else int(state.global_step),
            target_lengths=_nan_to_none(kwargs.get("target_length")),
            num_tokens=None if completion_ids is None else [len(ids) for ids in completion_ids],
            truncated=None
            if completion_ids is None or not eos
            else [not ids or int(ids[-1]) not in eos for ids in completion_ids],
            second_lengths=_nan_to_none(kwargs.get("second_length")),
        )
        if soft_overlong is not None:
            if completion_ids is None:
                raise ValueError("reward 'dapo_overlong' needs completion_ids (TRL passes them)")
            for p, value in zip(parts, soft_overlong(completion_ids=completion_ids), strict=True):
                p["overlong_penalty"] = config.overlong_penalty_factor * value
                p["reward"] = p["accuracy"] + p["overlong_penalty"]
        if log_metric is not None:
            _log_breakdowns(parts, uncertainty, completion_ids, eos, log_metric, metric_prefix)
            if config.difficulty_source == "online":
                log_metric(
                    f"{metric_prefix}/online_difficulty", float(np.mean([p["difficulty"] for p in parts]))
                )
        return [float(p["reward"]) for p in parts]

    reward_fn.__name__ = name
    reward_fn.__qualname__ = name
    return reward_fn


def _nan_to_none(values: Sequence[Any] | None) -> list[Any] | None:
    """A dataset column as a list, NaN / None meaning "missing" (datasets stores a missing float as None)."""
    if values is None:
        return None
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def _log_breakdowns(
    parts: list[dict[str, Any]],
    uncertainty: Sequence[float | None] | None,
    completion_ids: Sequence[Sequence[int]] | None,
    eos: set[int],
    log_metric: Any,
    prefix: str,
) -> None:
    n = len(parts)
    if n == 0:
        return
    for term in _LOGGED_TERMS:
        log_metric(f"{prefix}/{term}", float(np.mean([float(p[term]) for p in parts])))
    for term in _VARIANT_TERMS:  # the field's variants' own terms, where the variant has them
        values = [float(p[term]) for p in parts if p.get(term) is not None]
        if values:
            log_metric(f"{prefix}/{term}", float(np.mean(values)))
    by_bucket: dict[str, list[float]] = defaultdict(list)
    for p in parts:
        if p["length"] is not None:
            by_bucket[p["bucket"]].append(float(p["length"]))
    for bucket, lengths in sorted(by_bucket.items()):
        log_metric(f"{prefix}/length/{bucket}", float(np.mean(lengths)))
    all_lengths = [float(p["length"]) for p in parts if p["length"] is not None]
    if all_lengths:
        log_metric(f"{prefix}/length/all", float(np.mean(all_lengths)))
    us = [float(u) for u in (uncertainty or []) if u is not None]
    if us:
        log_metric(f"{prefix}/uncertainty", float(np.mean(us)))
    if completion_ids is not None and eos:
        clipped = [1.0 if (not ids or int(ids[-1]) not in eos) else 0.0 for ids in completion_ids]
        log_metric(f"{prefix}/clipped_ratio", float(np.mean(clipped)))


class PixelThinkGRPOTrainer(CheckpointWeightsMixin, GRPOTrainer):
    """``GRPOTrainer`` whose reward functions receive ``uncertainty`` (U per completion, from its own tokens).

    Extra constructor arguments:
        uncertainty_tokens: ``"all"`` (mean over every generated token, the authors') or
            ``"reasoning"`` (only tokens inside ``<think>``).
        record_rollouts: keep per-rollout records (:meth:`pop_rollout_records`).
        reward_config: the ``RewardConfig`` (for the bucket / length of each record).

    Attributes:
        last_uncertainties: U of the completions of the latest generation batch (local process).
        last_margins: the per-token margins behind them (list of float arrays, one per completion).
    """

    def __init__(
        self,
        *args: Any,
        uncertainty_tokens: str = "all",
        record_rollouts: bool = True,
        reward_config: RewardConfig | None = None,
        **kwargs: Any,
    ) -> None:
        if uncertainty_tokens not in ("all", "reasoning"):
            raise ValueError(f"uncertainty_tokens must be 'all' or 'reasoning', got {uncertainty_tokens!r}")
        super().__init__(*args, **kwargs)
        self.uncertainty_tokens = uncertainty_tokens
        self.record_rollouts = record_rollouts
        self.reward_config = reward_config
        self.last_uncertainties: list[float] | None = None
        self.last_margins: list[np.ndarray] | None = None
        self._pending_uncertainty: list[float] | None = None
        self._pending_record: dict[str, Any] | None = None
        self._rollout_records: list[dict[str, Any]] = []
        if self.use_transformers_continuous_batching:
            raise ValueError(
                "PixelThinkGRPOTrainer: use_transformers_paged (continuous batching) does not expose per-token "
                "scores; use regular transformers generation or vLLM"
            )
        if self.use_vllm and (self.vllm_generation.logprobs is None or self.vllm_generation.logprobs < 2):
            # top-2 log-probs per token are needed for the margin; TRL's own value is 0 (sampled token only)
            self.vllm_generation.logprobs = 2

    # ------------------------------------------------------------------ generation
    def _token_texts(self, completion_ids: Sequence[Sequence[int]]) -> list[list[str]] | None:
        if self.uncertainty_tokens != "reasoning":
            return None
        tok = self._tokenizer
        return [[tok.decode([int(t)]) for t in ids] for ids in completion_ids]

    def _generate_single_turn(
        self,
        prompt_ids: Any,
        images: Any,
        multimodal_fields: Any,
        num_generations: int,
        has_tool_images: bool = False,
    ) -> Any:
        if self.use_vllm:
            return self._generate_vllm_with_margins(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        from transformers import LogitsProcessorList

        recorder = MarginRecorder(sampling_warpers(self.generation_config))
        model = self.accelerator.unwrap_model(self.model_wrapped)  # the object TRL's context manager yields
        original = model.generate

        def generate(*args: Any, **kwargs: Any) -> Any:
            procs = kwargs.pop("logits_processor", None) or []
            return original(*args, logits_processor=LogitsProcessorList([*procs, recorder]), **kwargs)

        model.generate = generate  # instance attribute, removed below
        try:
            completion_ids, logprobs = super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        finally:
            del model.generate
        margins = recorder.margins()
        if margins.shape[0] != len(completion_ids):
            raise RuntimeError(
                f"uncertainty capture: {margins.shape[0]} rows of scores for {len(completion_ids)} completions "
                "(was generate called more than once, or not at all?)"
            )
        self.last_margins = [margins[b, : len(ids)] for b, ids in enumerate(completion_ids)]
        self._set_uncertainty(
            completion_uncertainties(margins, completion_ids, token_texts=self._token_texts(completion_ids))
        )
        return completion_ids, logprobs

    def _generate_vllm_with_margins(
        self,
        prompt_ids: Any,
        images: Any,
        multimodal_fields: Any,
        num_generations: int,
        has_tool_images: bool,
    ) -> Any:
        gen = self.vllm_generation
        original = gen.generate
        captured: dict[str, Any] = {}

        def generate(*args: Any, **kwargs: Any) -> Any:
            p_ids, c_ids, logprobs, token_ids = original(*args, **kwargs)
            if logprobs is None or token_ids is None:
                raise RuntimeError("vLLM returned no log-probs; the uncertainty needs logprobs >= 2")
            captured["margins"] = [margins_from_vllm_topk(seq) for seq in logprobs]
            return p_ids, c_ids, sampled_token_logprobs(logprobs, token_ids, c_ids), token_ids

        gen.generate = generate
        try:
            completion_ids, logprobs = super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        finally:
            del gen.generate
        seq_margins = captured["margins"]
        if len(seq_margins) != len(completion_ids):
            raise RuntimeError(
                f"uncertainty capture: {len(seq_margins)} vLLM sequences for {len(completion_ids)} completions"
            )
        width = max((len(m) for m in seq_margins), default=0)
        padded = np.ones((len(seq_margins), width), dtype=np.float64)
        for b, m in enumerate(seq_margins):
            padded[b, : len(m)] = m
        self.last_margins = [
            np.asarray(m[: len(ids)]) for m, ids in zip(seq_margins, completion_ids, strict=True)
        ]
        self._set_uncertainty(
            completion_uncertainties(padded, completion_ids, token_texts=self._token_texts(completion_ids))
        )
        return completion_ids, logprobs

    def _set_uncertainty(self, values: list[float]) -> None:
        self.last_uncertainties = list(values)
        self._pending_uncertainty = list(values)

    # ------------------------------------------------------------------ rewards and records
    def _calculate_rewards(
        self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any
    ) -> Any:
        if inputs and "uncertainty" not in inputs[0]:
            u = self._pending_uncertainty
            if u is None or len(u) != len(inputs):
                raise RuntimeError(
                    f"uncertainty capture: {0 if u is None else len(u)} values for {len(inputs)} completions"
                )
            for inp, value in zip(inputs, u, strict=True):
                inp["uncertainty"] = value
        self._pending_uncertainty = None
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.record_rollouts:
            n = len(prompts)
            start = self.accelerator.process_index * n
            local = rewards_per_func[start : start + n]
            weights = self.reward_weights.to(local.device)
            self._pending_record = {
                "inputs": inputs,
                "completions": completions,
                "completion_ids": completion_ids_list,
                "rewards_per_func": local.detach().cpu().numpy(),
                "reward": (local * weights.unsqueeze(0)).nansum(dim=1).detach().cpu().numpy(),
            }
        return rewards_per_func

    def _generate_and_score_completions(self, inputs: Any) -> Any:
        output = super()._generate_and_score_completions(inputs)
        rec = self._pending_record
        self._pending_record = None
        if self.record_rollouts and rec is not None:
            self._rollout_records.extend(self._make_records(rec, output["advantages"]))
        return output

    def _make_records(self, rec: dict[str, Any], advantages: Any) -> list[dict[str, Any]]:
        from pixelthink import rewards

        cfg = self.reward_config if self.reward_config is not None else rewards.RewardConfig()
        adv = advantages.detach().cpu().numpy().tolist()
        texts = [completion_text(c) for c in rec["completions"]]
        online = None
        if cfg.difficulty_source == "online":  # the difficulty the reward used: the group's pass rate
            inputs = rec["inputs"]
            online = rewards.online_difficulties(
                texts,
                [inp["solution"] for inp in inputs],
                [inp.get("id", repr(inp.get("prompt"))) for inp in inputs],
                cfg,
            )
        out = []
        for i, inp in enumerate(rec["inputs"]):
            text = texts[i]
            d = inp.get("difficulty") if online is None else online[i]
            out.append(
                {
                    "id": inp.get("id"),
                    "difficulty": d,
                    "bucket": rewards.difficulty_bucket(d, cfg),
                    "uncertainty": inp.get("uncertainty"),
                    "length": rewards.response_length(text, cfg, self._tokenizer),
                    "num_tokens": len(rec["completion_ids"][i]),
                    "rewards": {
                        n: float(v)
                        for n, v in zip(self.reward_func_names, rec["rewards_per_func"][i], strict=True)
                    },
                    "reward": float(rec["reward"][i]),
                    "advantage": float(adv[i]),
                    "completion": text,
                }
            )
        return out

    def pop_rollout_records(self) -> list[dict[str, Any]]:
        """Per-rollout records gathered since the last call (local process), then forgotten."""
        out, self._rollout_records = self._rollout_records, []
        return out


@dataclass
class GRPORun:
    """What :func:`run_grpo` did."""

    output_dir: Path
    model_path: Path
    global_step: int
    resumed_from: str | None
    seconds: float
    seconds_per_step: float | None
    metrics_file: Path
    rollouts_file: Path
    train_metrics: dict[str, Any] = field(default_factory=dict)


def build_grpo_trainer(
    recipe: Recipe,
    *,
    extra_callbacks: Sequence[Any] = (),
    rollout_func: Any = None,
    extra_reward_funcs: Sequence[Any] = (),
) -> tuple[PixelThinkGRPOTrainer, Any, Path]:
    """Model, processor, dataset, reward and trainer from a recipe: ``(trainer, processor, model_path)``.

    ``extra_reward_funcs`` are added after the recipe's reward (give ``reward_weights`` in
    ``recipe.trainer`` accordingly); ``rollout_func`` is passed to TRL unchanged.
    """
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = resolve_model_path(recipe.model, out, recipe.source, recipe.data)
    model, processor = load_policy(recipe.model, model_path, recipe.data.resolution, recipe.source)
    _check_frame(recipe, processor)
    reward_cfg = recipe.reward.reward_config()
    tokenizer = getattr(processor, "tokenizer", processor)
    gen_cfg = getattr(model, "generation_config", None)
    eos = getattr(gen_cfg, "eos_token_id", None) if gen_cfg is not None else None
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos_ids:
        eos_ids.append(tokenizer.eos_token_id)
    reward_fn = make_reward_function(
        recipe.reward.name, reward_cfg, tokenizer=tokenizer, eos_token_ids=eos_ids
    )
    dataset = build_dataset(recipe.data, "grpo", cache_dir=str(out / "data_cache"))
    args = trainer_arguments(recipe, GRPOConfig, output_dir=str(out), **cpu_defaults(recipe.trainer))
    trainer = PixelThinkGRPOTrainer(
        model=model,
        reward_funcs=[reward_fn, *extra_reward_funcs],
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=lora_config(recipe.lora),
        rollout_func=rollout_func,
        uncertainty_tokens=recipe.uncertainty.tokens,
        reward_config=reward_cfg,
    )
    trainer.add_callback(MetricsJsonlCallback(out / "metrics.jsonl"))
    trainer.add_callback(RolloutJsonlCallback(out / "rollouts.jsonl", trainer))
    trainer.add_callback(RecipeCallback(recipe_yaml(recipe)))
    for cb in extra_callbacks:
        trainer.add_callback(cb)
    return trainer, processor, model_path


def _check_frame(recipe: Recipe, processor: Any) -> None:
    """Warn when Qwen's processor would resize the model-frame image again (GT strings would be off)."""
    res = recipe.data.resolution
    if res is None:
        return
    from pixelthink.models.processors import processed_image_size

    w, h = (res, res) if isinstance(res, int) else (res[0], res[1])
    pw, ph = processed_image_size(processor.image_processor, w, h)
    if (pw, ph) != (w, h):
        log.warning(
            "data.resolution %sx%s is resized by the processor to %sx%s: the model sees a slightly different "
            "frame than the ground truth (use a multiple of patch_size*merge_size, e.g. 832 for Qwen3-VL)",
            w,
            h,
            pw,
            ph,
        )


def run_grpo(recipe: Recipe, *, resume: bool | str | None = None) -> GRPORun:
    """Train with GRPO as the recipe says; resume from the last checkpoint when there is one.

    Args:
        recipe: a ``kind: grpo`` recipe.
        resume: a checkpoint path, True (must find one), None (auto), False (fresh start).

    Returns:
        :class:`GRPORun`; the final model + processor are saved in ``recipe.output_dir`` and load with
        ``pixelthink.models.registry.load_reasoner``.
    """
    if recipe.kind != "grpo":
        raise ValueError(f"{recipe.source}: kind is {recipe.kind!r}, expected 'grpo'")
    checkpoint = find_resume_checkpoint(recipe.output_dir, resume)
    trainer, processor, model_path = build_grpo_trainer(recipe)
    start_step = 0
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - t0
    if checkpoint is not None:
        start_step = int(Path(checkpoint).name.rsplit("-", 1)[-1]) if "-" in Path(checkpoint).name else 0
    steps = trainer.state.global_step - start_step
    out = save_final(trainer, processor, recipe, recipe.output_dir)
    return GRPORun(
        output_dir=out,
        model_path=model_path,
        global_step=trainer.state.global_step,
        resumed_from=checkpoint,
        seconds=seconds,
        seconds_per_step=seconds / steps if steps > 0 else None,
        metrics_file=out / "metrics.jsonl",
        rollouts_file=out / "rollouts.jsonl",
        train_metrics=dict(result.metrics),
    )
