"""Per-rollout uncertainty U from the tokens the policy actually sampled.

U of one completion = mean over its generated tokens of ``clamp(1 - (p1 - p2), 0, 1)``, with p1, p2 the
two largest probabilities of the distribution the token was *sampled from* (after temperature and any
top-k / top-p warping: the "processed" distribution, as vLLM reports it with
``logprobs_mode="processed_logprobs"``, which TRL uses). With TRL's defaults (top_k=0, top_p=1) that is
``softmax(logits / temperature)`` with the image-pad token masked (TRL passes
``suppress_tokens=[image_token_id]`` for processors); at temperature 1.0 it is the model's own
distribution up to that masked token.

Two capture paths, both used by :class:`pixelthink.train.grpo.PixelThinkGRPOTrainer`:

* transformers ``generate``: :class:`MarginRecorder` is a ``LogitsProcessor`` passed to the call.
  transformers runs user processors before its sampling warpers, so the recorder applies the same
  warpers (temperature, top-k, top-p, min-p) to a copy of the scores: it sees exactly the distribution
  the sampler draws from. It keeps only the top-2 margin per row and step (``B x T`` floats on the
  device, not ``B x T x V`` logits).
* vLLM (``use_vllm=True``): the top-k log-probs vLLM returns per token (``logprobs >= 2``);
  :func:`margins_from_vllm_topk` turns them into margins and :func:`sampled_token_logprobs` gives TRL
  back the sampled token's log-prob that its importance-sampling correction expects.

Both feed :func:`pixelthink.uncertainty.uncertainty_from_margins` (one definition of U for training,
verl and inference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "MarginRecorder",
    "completion_uncertainties",
    "margins_from_vllm_topk",
    "sampled_token_logprobs",
    "sampling_warpers",
]


def sampling_warpers(generation_config: Any) -> list[Any]:
    """The sampling warpers ``generate`` applies for ``generation_config`` (temperature, top-k, top-p, min-p).

    transformers 5.x runs user ``logits_processor`` entries *before* these warpers, so
    :class:`MarginRecorder` re-applies them to see the distribution the token is sampled from.
    """
    from transformers.generation.logits_process import (
        MinPLogitsWarper,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    gc = generation_config
    out: list[Any] = []
    if not getattr(gc, "do_sample", False):
        return out
    if gc.temperature is not None and gc.temperature != 1.0:
        out.append(TemperatureLogitsWarper(gc.temperature))
    if gc.top_k is not None and gc.top_k != 0:
        out.append(TopKLogitsWarper(top_k=gc.top_k))
    if gc.top_p is not None and gc.top_p < 1.0:
        out.append(TopPLogitsWarper(top_p=gc.top_p))
    if gc.min_p is not None:
        out.append(MinPLogitsWarper(min_p=gc.min_p))
    return out


class MarginRecorder:
    """``LogitsProcessor`` that records the top-2 probability margin of every sampling step.

    ``__call__(input_ids [B, L], scores [B, V]) -> scores`` (unchanged). It runs where transformers
    puts user processors (after e.g. ``suppress_tokens``, before the sampling warpers), so it applies
    ``warpers`` (:func:`sampling_warpers`) to a copy of the scores first. After generation,
    :meth:`margins` returns a float32 array ``[B, T]``: ``p1 - p2`` of the sampling distribution at each
    generated position (T = number of generation steps; positions after a row's EOS are padding).
    """

    def __init__(self, warpers: Sequence[Any] = ()) -> None:
        self.warpers = list(warpers)
        self._steps: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        with torch.no_grad():
            warped = scores.float()
            for warper in self.warpers:
                warped = warper(input_ids, warped.clone())
            probs = torch.softmax(warped, dim=-1)
            k = min(2, probs.shape[-1])
            top = probs.topk(k, dim=-1).values
            margin = top[:, 0] - top[:, 1] if k == 2 else top[:, 0]
            # a fully masked row (all -inf) gives NaN, which uncertainty_from_margins skips
            self._steps.append(margin)
        return scores

    def reset(self) -> None:
        self._steps.clear()

    def margins(self) -> np.ndarray:
        """``[B, T]`` float32 margins (T = 0 when nothing was generated)."""
        import torch

        if not self._steps:
            return np.zeros((0, 0), dtype=np.float32)
        return torch.stack(self._steps, dim=1).cpu().numpy().astype(np.float32)


def completion_uncertainties(
    margins: np.ndarray,
    completion_ids: Sequence[Sequence[int]],
    *,
    token_texts: Sequence[Sequence[str]] | None = None,
) -> list[float]:
    """U per completion from a ``[B, T]`` margin array and the (EOS-truncated) completion ids.

    Row ``b`` uses the first ``len(completion_ids[b])`` margins (the EOS token included, as vLLM's
    per-token log-probs do). With ``token_texts`` (decoded tokens per completion), only tokens inside
    ``<think>`` count (:func:`pixelthink.uncertainty.reasoning_token_mask`); a completion with no
    reasoning token then falls back to all its tokens.
    """
    from pixelthink.uncertainty import reasoning_token_mask, uncertainty_from_margins

    if margins.shape[0] != len(completion_ids):
        raise ValueError(f"{margins.shape[0]} margin rows for {len(completion_ids)} completions")
    out = []
    for b, ids in enumerate(completion_ids):
        n = len(ids)
        if n > margins.shape[1]:
            raise ValueError(f"completion {b} has {n} tokens but only {margins.shape[1]} steps were recorded")
        m = margins[b, :n]
        mask = None
        if token_texts is not None and n:
            mask = np.asarray(reasoning_token_mask(token_texts[b]), dtype=bool)[:n]
            if not mask.any():
                mask = None
        out.append(float(uncertainty_from_margins(m, mask)) if n else 0.0)
    return out


def margins_from_vllm_topk(logprobs: Sequence[Sequence[float | None]]) -> np.ndarray:
    """Margins ``[T]`` of one sequence from vLLM top-k log-probs (TRL's ``extract_logprobs`` layout).

    ``logprobs[t]`` holds the log-probs of step t sorted by rank (plus the sampled token when it is
    outside the top-k). Delegates to :func:`pixelthink.uncertainty.margins_from_top_logprobs`:
    ``exp(lp1) - exp(lp2)`` of the two largest; NaN (skipped in U) where fewer than two are known.
    """
    from pixelthink.uncertainty import margins_from_top_logprobs

    return margins_from_top_logprobs([list(step) if step is not None else None for step in logprobs])


def sampled_token_logprobs(
    logprobs: Sequence[Sequence[Sequence[float | None]]],
    logprob_token_ids: Sequence[Sequence[Sequence[int]]],
    completion_ids: Sequence[Sequence[int]],
) -> list[list[list[float | None]]]:
    """Reorder vLLM top-k log-probs so that each step's first entry is the *sampled* token's log-prob.

    TRL keeps ``lp[0]`` of every step as the sampling log-prob; with ``logprobs=0`` vLLM returns only
    the sampled token, but with ``logprobs >= 2`` entry 0 is the rank-1 token. Raises ValueError when
    the sampled token is missing from a step (vLLM always includes it).
    """
    out: list[list[list[float | None]]] = []
    for b, (seq_lp, seq_ids, comp) in enumerate(
        zip(logprobs, logprob_token_ids, completion_ids, strict=True)
    ):
        rows: list[list[float | None]] = []
        for t, (lps, ids) in enumerate(zip(seq_lp, seq_ids, strict=True)):
            tok = comp[t] if t < len(comp) else None
            if tok is None:
                rows.append(list(lps))
                continue
            try:
                j = list(ids).index(tok)
            except ValueError as exc:
                raise ValueError(
                    f"vLLM log-probs of sequence {b}, step {t} lack the sampled token {tok}"
                ) from exc
            rows.append([lps[j], *[v for i, v in enumerate(lps) if i != j]])
        out.append(rows)
    return out
