"""Token-level uncertainty U of a generated response, from the top-2 probability margin.

PixelThink's uncertainty of one rollout is the mean over its generated tokens of
``clamp(1 - (p1 - p2), 0, 1)``, where p1 >= p2 are the two largest next-token probabilities.

How the authors compute it (songw-zju/PixelThink@69baad1,
``verl/workers/rollout/vllm_rollout/vllm_rollout_spmd.py``, ``compute_uncertainty_from_logprob_dict``):

* vLLM is asked for ``logprobs=5``; for every generated token the top-k dict is sorted by rank and
  ``p1 = exp(logprob of rank 1)``, ``p2 = exp(logprob of rank 2)``: only the top-k log-probs are
  used (no renormalisation over the k candidates);
* a token whose dict is missing/empty or has **fewer than two candidates is skipped** (it does not
  count in the mean; p2 is NOT taken as 0);
* the mean is over all generated tokens of the whole response (think, answer, and the final EOS
  token vLLM reports); a response with no usable token has U = 0.0;
* they compute exp and the clamp in float32 (``torch.tensor(logprob)``); we use float64, which
  differs by less than 1e-7 per token.

Here, a token that must be skipped gets a NaN margin; :func:`uncertainty_from_margins` ignores NaN
margins and returns 0.0 when nothing is left (the authors' behaviour). A NaN log-prob also yields a
NaN margin (skipped), where the authors' code would propagate NaN into U.

Inputs in the two shapes users have:

* :func:`margins_from_logits`: a ``[T, V]`` tensor/array of logits or scores (transformers
  ``generate(..., output_logits=True)`` or ``output_scores=True``). A full softmax over V is used.
  Scores after top-k/top-p warping contain ``-inf``: those entries have probability 0 (a row
  with a single finite entry has p1 = 1, p2 = 0, margin 1); a row that is entirely -inf/NaN gets
  a NaN margin (skipped). Raw logits (``output_logits``) match the authors' vLLM log-probs
  (which vLLM computes before temperature/top-p by default) better than warped scores.
* :func:`margins_from_top_logprobs`: one entry per generated token, each a ``{token: logprob}``
  mapping (vLLM ``Logprob`` objects with ``.logprob`` are accepted as values), an OpenAI-style
  list of ``{"token": ..., "logprob": ...}`` items or objects with ``.logprob``, a plain list of
  log-probs, or None.

torch is optional: it is never imported; tensors are converted through ``.detach().cpu()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "margins_from_logits",
    "margins_from_top_logprobs",
    "reasoning_token_mask",
    "uncertainty_from_logits",
    "uncertainty_from_margins",
    "uncertainty_from_top_logprobs",
]

_CHUNK_ROWS = 64  # rows converted to float64 at a time (bounded memory for V ~ 150k)


def _to_numpy(x: Any) -> np.ndarray:
    """numpy view of a numpy array or a torch tensor (any dtype, any device), without importing torch."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        t = x.detach().cpu()
        if hasattr(t, "float") and str(getattr(t, "dtype", "")) in {"torch.bfloat16", "torch.float16"}:
            t = t.float()
        return t.numpy()
    if isinstance(x, Sequence) and not isinstance(x, str | bytes):
        rows = [_to_numpy(r) for r in x]
        if not rows:
            return np.zeros((0, 0), dtype=np.float64)
        rows = [r.reshape(-1) if r.ndim == 2 and r.shape[0] == 1 else r for r in rows]
        if any(r.ndim != 1 for r in rows):
            raise ValueError(
                "margins_from_logits: a sequence input must hold 1-D rows [V] (or [1, V]); got shapes "
                f"{sorted({r.shape for r in rows})}"
            )
        return np.stack(rows)
    return np.asarray(x)


def margins_from_logits(logits: Any) -> np.ndarray:
    """Top-2 probability margins ``p1 - p2`` per generated token.

    Args:
        logits: ``[T, V]`` logits or scores (numpy array or torch tensor, any float dtype), or a
            sequence of T rows of shape ``[V]`` / ``[1, V]`` (e.g. ``generate(...).logits`` for one
            sequence). Probabilities are ``softmax`` over V; ``-inf`` entries have probability 0.

    Returns:
        float64 array ``[T]`` in [0, 1]; NaN for rows without any finite value (skipped by
        :func:`uncertainty_from_margins`).

    Raises:
        ValueError: if the input is not 2-D.
    """
    arr = _to_numpy(logits)
    if arr.ndim != 2:
        raise ValueError(
            f"margins_from_logits: expected logits of shape [T, V], got shape {tuple(arr.shape)}"
        )
    t, v = arr.shape
    out = np.full(t, np.nan, dtype=np.float64)
    if t == 0 or v == 0:
        return out
    for start in range(0, t, _CHUNK_ROWS):
        block = np.asarray(arr[start : start + _CHUNK_ROWS], dtype=np.float64)
        block = np.where(np.isnan(block), -np.inf, block)
        row_max = block.max(axis=1)
        valid = np.isfinite(row_max)
        if not valid.any():
            continue
        b = block[valid] - row_max[valid, None]
        with np.errstate(under="ignore"):
            e = np.exp(b)
        z = e.sum(axis=1)
        if v >= 2:
            top2 = np.partition(e, v - 2, axis=1)[:, v - 2 :]
            p1 = top2[:, 1] / z
            p2 = top2[:, 0] / z
        else:
            p1 = e[:, 0] / z
            p2 = np.zeros_like(p1)
        idx = np.nonzero(valid)[0] + start
        out[idx] = p1 - p2
    return out


def _logprob_of(value: Any) -> float | None:
    """The log-prob of one candidate; None for a missing candidate, NaN for an unusable value."""
    if isinstance(value, Mapping):
        value = value.get("logprob")
    elif value is not None and not isinstance(value, int | float) and hasattr(value, "logprob"):
        value = value.logprob
    if value is None:
        return None
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _candidates(entry: Any, position: int) -> list[float]:
    if isinstance(entry, Mapping):
        if "logprob" in entry and (isinstance(entry.get("token"), str) or "top_logprobs" in entry):
            raise ValueError(
                f"margins_from_top_logprobs: entry {position} looks like one OpenAI token record "
                "({'token', 'logprob', 'top_logprobs'}); pass its 'top_logprobs' list instead"
            )
        values = [_logprob_of(v) for v in entry.values()]
    elif isinstance(entry, Sequence) and not isinstance(entry, str | bytes):
        values = [_logprob_of(v) for v in entry]
    else:
        raise ValueError(
            f"margins_from_top_logprobs: entry {position} must be a {{token: logprob}} mapping, a list of "
            f"{{'token', 'logprob'}} items, a list of log-probs, or None; got {type(entry).__name__}"
        )
    return [v for v in values if v is not None]


def margins_from_top_logprobs(top: Sequence[Mapping[Any, Any] | Sequence[Any] | None]) -> np.ndarray:
    """Top-2 probability margins from per-token top-k log-probs (vLLM / OpenAI ``top_logprobs``).

    Args:
        top: one entry per generated token: a ``{token: logprob}`` mapping (values may be floats or
            vLLM ``Logprob`` objects), a list of ``{"token", "logprob"}`` dicts / objects with
            ``.logprob`` (OpenAI ``top_logprobs``), a plain list of log-probs (TRL's vLLM layout),
            or None. None candidates inside an entry are ignored (missing).

    Returns:
        float64 array ``[T]``: ``exp(lp1) - exp(lp2)`` of the two largest log-probs; NaN where the
        authors skip the token (None or empty entry, fewer than two candidates, NaN log-prob).
    """
    if isinstance(top, str | bytes | Mapping) or not isinstance(top, Sequence):
        raise ValueError(
            f"margins_from_top_logprobs: expected a sequence with one entry per token, got {type(top).__name__}"
        )
    out = np.full(len(top), np.nan, dtype=np.float64)
    for i, entry in enumerate(top):
        if entry is None:
            continue
        lps = _candidates(entry, i)
        if len(lps) < 2 or any(math.isnan(lp) for lp in lps):
            continue
        lps.sort(reverse=True)
        out[i] = math.exp(lps[0]) - math.exp(lps[1])
    return out


def uncertainty_from_margins(margins: Any, mask: Any = None) -> float:
    """U = mean of ``clamp(1 - margin, 0, 1)`` over the selected tokens with a finite margin.

    Args:
        margins: ``[T]`` margins (NaN = token skipped, as the authors skip tokens with fewer than
            two candidates).
        mask: optional ``[T]`` bool array selecting tokens (e.g. :func:`reasoning_token_mask`);
            default: the whole response (the authors' choice).

    Returns:
        U in [0, 1]; 0.0 when no token is left (the authors' value for an empty response).
    """
    m = np.asarray(margins, dtype=np.float64).reshape(-1)
    if mask is not None:
        mk = np.asarray(mask)
        if mk.dtype != np.bool_:
            raise ValueError(f"uncertainty_from_margins: mask must be a bool array, got dtype {mk.dtype}")
        mk = mk.reshape(-1)
        if mk.shape != m.shape:
            raise ValueError(
                f"uncertainty_from_margins: mask has {mk.shape[0]} tokens but margins has {m.shape[0]}"
            )
        m = m[mk]
    m = m[~np.isnan(m)]
    if m.size == 0:
        return 0.0
    return float(np.clip(1.0 - m, 0.0, 1.0).mean())


def uncertainty_from_logits(logits: Any, mask: Any = None) -> float:
    """Shortcut: :func:`uncertainty_from_margins` of :func:`margins_from_logits`."""
    return uncertainty_from_margins(margins_from_logits(logits), mask)


def uncertainty_from_top_logprobs(
    top: Sequence[Mapping[Any, Any] | Sequence[Any] | None], mask: Any = None
) -> float:
    """Shortcut: :func:`uncertainty_from_margins` of :func:`margins_from_top_logprobs`."""
    return uncertainty_from_margins(margins_from_top_logprobs(top), mask)


def reasoning_token_mask(token_texts: Sequence[str]) -> np.ndarray:
    """True for the tokens inside the first ``<think> ... </think>`` block.

    Tags are found in the concatenation of the decoded token strings, so a tag split over several
    tokens (``"<"``, ``"think"``, ``">"``) is handled. A token is True when any of its characters
    lies strictly between the end of ``<think>`` and the start of ``</think>``; tokens made only of
    tag characters are False.

    * no ``</think>``: the block runs to the end (a generation cut at ``max_new_tokens``);
    * ``</think>`` without ``<think>``: the block starts at the first token (chat templates such as
      Qwen3's put ``<think>`` in the prompt);
    * neither tag: all False.

    Args:
        token_texts: decoded text of each generated token, in order.

    Returns:
        bool array ``[T]``.
    """
    texts = list(token_texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"reasoning_token_mask: token {i} is not a string: {t!r}")
    mask = np.zeros(len(texts), dtype=bool)
    full = "".join(texts)
    open_at = full.find("<think>")
    if open_at >= 0:
        start = open_at + len("<think>")
        close_at = full.find("</think>", start)
        end = close_at if close_at >= 0 else len(full)
    else:
        close_at = full.find("</think>")
        if close_at < 0:
            return mask
        start, end = 0, close_at
    pos = 0
    for i, t in enumerate(texts):
        tok_start, tok_end = pos, pos + len(t)
        pos = tok_end
        if tok_start < end and tok_end > start:
            mask[i] = True
    return mask
