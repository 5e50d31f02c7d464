"""Reasoning judges: score a response's ``<think>`` text against a sample, in [0, 1].

The paper's RScore comes from a judge whose method is **not known** (see docs/PAPER.md). pixelthink
ships one deterministic reference-overlap scorer, ``rougeL-ref``: ROUGE-L F1 between the reasoning and
each of the sample's reference chains (``reasoning_short``, ``reasoning_long``), keeping the max. It is
a cheap, reproducible proxy, *not* the paper's RScore; numbers are not comparable with the paper's.

``llm`` (:mod:`pixelthink.evaluate.llm_judge`) asks an LLM judge for a 0-10 grade of the reasoning
against the references (RScore = grade / 10): ``--judge llm:http://HOST:PORT/v1?model=NAME`` or
``--judge llm:/path/to/checkpoint``.

Judges are pluggable: anything with ``name``, ``requires_references`` and
``score(response_think, sample) -> float | None`` satisfies :class:`Judge`; register a factory with
:func:`register_judge` to make it selectable by name (``pixelthink eval --judge NAME``, or
``NAME:ARGUMENT``, which calls ``factory(ARGUMENT, **options)``). Optional methods the evaluator uses
when a judge has them: ``prepare(benchmark, [(reasoning, sample), ...], progress=)`` (judge everything
at once before the scoring pass, e.g. concurrently on a server) and ``describe() -> dict`` (settings for
the report).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from pixelthink.backends import Backend, Registry

_WORD_RE = re.compile(r"[a-z0-9]+")


@runtime_checkable
class Judge(Protocol):
    """A reasoning scorer.

    ``score(response_think, sample)`` returns a float in [0, 1], or None when the judge failed on this
    sample (the sample then has no RScore and is counted as a judge failure); ``response_think`` is the
    text inside ``<think>...</think>`` ("" when the response had none) and ``sample`` a benchmark ``Sample``.
    When ``requires_references`` is True the evaluator only calls it for samples that have references
    (see :func:`sample_references`) and reports the others as "no references".
    """

    name: str
    requires_references: bool

    def score(self, response_think: str, sample: Any) -> float | None: ...


def word_tokens(text: str) -> list[str]:
    """Lowercase word tokens: runs of ``[a-z0-9]`` after lowercasing, other characters separate words
    (the tokenisation of Google's ``rouge-score`` without stemming)."""
    return _WORD_RE.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (O(len(a) * len(b)) time,
    O(min) memory)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            cur[j] = prev[j - 1] + 1 if x == y else (prev[j] if prev[j] >= cur[j - 1] else cur[j - 1])
        prev = cur
    return prev[-1]


def rouge_l_f1(candidate: str, reference: str) -> float:
    """ROUGE-L F1 of ``candidate`` against ``reference`` on :func:`word_tokens`.

    P = LCS / |candidate|, R = LCS / |reference|, F1 = 2PR / (P + R); 0.0 when either side has no
    tokens or nothing is shared.
    """
    c, r = word_tokens(candidate), word_tokens(reference)
    if not c or not r:
        return 0.0
    lcs = lcs_length(c, r)
    if lcs == 0:
        return 0.0
    p, rec = lcs / len(c), lcs / len(r)
    return 2 * p * rec / (p + rec)


def sample_references(sample: Any) -> list[str]:
    """The non-empty reference reasoning chains of a sample (``reasoning_short``, ``reasoning_long``)."""
    refs = []
    for field in ("reasoning_short", "reasoning_long"):
        value = getattr(sample, field, None)
        if isinstance(value, str) and value.strip():
            refs.append(value)
    return refs


class RougeLRefJudge:
    """``rougeL-ref``: max ROUGE-L F1 of the reasoning against the sample's short and long references."""

    name = "rougeL-ref"
    requires_references = True

    def score(self, response_think: str, sample: Any) -> float:
        refs = sample_references(sample)
        if not refs:
            raise ValueError(
                f"judge {self.name}: sample {getattr(sample, 'id', '?')!r} has no reasoning_short / reasoning_long"
            )
        return max(rouge_l_f1(response_think or "", ref) for ref in refs)


JudgeFactory = Callable[..., Judge]


def _llm_judge(spec: str | None = None, **options: Any) -> Judge:
    from pixelthink.evaluate.llm_judge import LLMJudge  # lazily: HTTP client, models

    return LLMJudge.from_spec(spec, **options)


def _plain(factory: JudgeFactory) -> Callable[..., Judge]:
    """A registry factory for a judge that takes no argument: ``NAME`` -> ``factory(**options)``."""

    def make(argument: str | None, **options: Any) -> Judge:
        return factory(**options) if argument is None else factory(argument, **options)

    return make


JUDGES = Registry("judge")
"""Judges by name (:class:`pixelthink.backends.Registry`, the mechanism of ``--reasoner`` and ``--segmenter``)."""
JUDGES.register(Backend("rougeL-ref", "rougeL-ref", "ROUGE-L F1 against the sample's reference reasoning",
                        _plain(RougeLRefJudge)))  # fmt: skip
JUDGES.register(Backend("llm", "llm:URL?model=NAME | llm:CHECKPOINT", "an LLM grades the reasoning (0-10)",
                        lambda argument, **options: _llm_judge(argument, **options)))  # fmt: skip


def register_judge(name: str, factory: JudgeFactory) -> None:
    """Make ``factory()`` available as ``get_judge(name)`` (and ``factory(ARGUMENT)`` as
    ``get_judge("name:ARGUMENT")``); re-registering a name replaces it."""
    if not name or name == "none" or ":" in name:
        raise ValueError(
            f"judge name: expected a non-empty name other than 'none', without ':', got {name!r}"
        )
    JUDGES.register(Backend(name, name, "registered with register_judge", _plain(factory)))


def get_judge(name: str | Judge | None, **options: Any) -> Judge | None:
    """A judge by registry name; ``None`` / ``"none"`` disables judging; a Judge instance is returned as is.

    ``"NAME:ARGUMENT"`` (e.g. ``llm:http://127.0.0.1:8000/v1?model=judge``) calls the factory of NAME
    with ARGUMENT; ``options`` are passed to the factory as keyword arguments.
    """
    if name is None or name == "none":
        return None
    if not isinstance(name, str):
        if isinstance(name, Judge):
            return name
        raise ValueError(f"judge: expected a name or a Judge, got {type(name).__name__}")
    return JUDGES.load(name, **options)
