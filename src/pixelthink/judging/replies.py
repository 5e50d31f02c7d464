"""Lenient parsing of LLM judge replies: scores from a JSON object, wherever the judge put it.

:func:`parse_judge_reply` never raises on a reply. It accepts what real judges write: plain JSON, JSON in a
```` ```json ```` fence, JSON with prose before or after it, single quotes / Python literals / trailing
commas (:func:`pixelthink.answer.find_json_objects`), keys in other spellings (``"Overall"``,
``"scene complexity"``, aliases), numbers given as text (``"7"``, ``"7/10"``, ``"7 out of 10"``) and, when
there is no JSON at all, ``key: number`` lines. It refuses (the field is invalid, with the reason in
``problems``) booleans, lists, objects, words and non-finite numbers, and a score outside its range
(it is never clipped: a judge answering on another scale must be noticed, not silently squashed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pixelthink.jsonio import clipped

__all__ = ["JudgeReply", "ReplyField", "parse_judge_reply"]


@dataclass(frozen=True)
class ReplyField:
    """One numeric field a judge must return.

    Attributes:
        name: the key in the reply (compared after lower-casing and turning spaces / hyphens into ``_``).
        lo, hi: the inclusive range; values outside it make the field invalid.
        aliases: other accepted keys (normalised the same way).
        required: a reply without a valid value is unusable.
        derive_from_mean: when missing, the mean of these (valid) fields is used instead, noted in
            ``problems`` (e.g. ``overall`` from the three axes).
    """

    name: str
    lo: float
    hi: float
    aliases: tuple[str, ...] = ()
    required: bool = True
    derive_from_mean: tuple[str, ...] = ()


@dataclass
class JudgeReply:
    """What :func:`parse_judge_reply` found.

    Attributes:
        values: the valid fields, name -> float.
        problems: what was repaired or wrong (empty for a clean reply).
        error: why the reply is unusable (a required field missing or invalid), or None.
        rationale: the reply's ``rationale`` / ``reason`` / ``explanation`` text, when there is one.
    """

    values: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    rationale: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_RATIONALE_KEYS = ("rationale", "reason", "reasoning", "explanation", "justification")
_TEXT_NUMBER_RE = re.compile(
    r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:(?:/|out of|of)\s*(\d+(?:\.\d+)?))?\s*(?:points?)?\s*\.?\s*$",
    re.IGNORECASE,
)


def _norm(key: str) -> str:
    return re.sub(r"[\s\-]+", "_", key.strip().lower())


def _number(value: Any, name: str, spec: ReplyField, problems: list[str], invalid: list[str]) -> float | None:
    """The value of one field as a float in range, or None with the reason in ``problems`` and ``invalid``."""
    n_before = len(problems)
    number = _checked_number(value, name, spec, problems)
    if number is None:
        invalid.extend(problems[n_before:])
    return number


def _checked_number(value: Any, name: str, spec: ReplyField, problems: list[str]) -> float | None:
    if isinstance(value, bool) or value is None:
        problems.append(f"field '{name}': expected a number, got {value!r}")
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # a JSON integer of hundreds of digits
            problems.append(f"field '{name}': not a finite number ({clipped(str(value), 40)})")
            return None
    elif isinstance(value, str):
        m = _TEXT_NUMBER_RE.match(value)
        if m is None:
            problems.append(f"field '{name}': expected a number, got the text {clipped(value, 40)!r}")
            return None
        number = float(m.group(1))
        if m.group(2) is not None and float(m.group(2)) != spec.hi:
            problems.append(
                f"field '{name}': {clipped(value, 40)!r} is on a scale to {clipped(m.group(2), 40)}, not to {spec.hi:g}"
            )
            return None
        problems.append(f"field '{name}': number given as text {clipped(value, 40)!r}")
    else:
        problems.append(
            f"field '{name}': expected a number, got {type(value).__name__} {clipped(str(value), 40)}"
        )
        return None
    if not math.isfinite(number):
        problems.append(f"field '{name}': not a finite number ({clipped(repr(value), 40)})")
        return None
    if not spec.lo <= number <= spec.hi:
        problems.append(f"field '{name}': {number:g} is outside {spec.lo:g}..{spec.hi:g}")
        return None
    return number


def _lookup(obj: Mapping[Any, Any], spec: ReplyField) -> tuple[bool, Any, str]:
    keys = {_norm(k): k for k in obj if isinstance(k, str)}
    for candidate in (spec.name, *spec.aliases):
        original = keys.get(_norm(candidate))
        if original is not None:
            return True, obj[original], str(original)
    return False, None, spec.name


def _prose_values(text: str, fields: Sequence[ReplyField]) -> dict[str, str]:
    """``key: value`` pairs written as prose (``Overall difficulty: 7/10``), for replies without JSON."""
    found: dict[str, str] = {}
    for spec in fields:
        for candidate in (spec.name, *spec.aliases):
            words = r"[\s_\-]+".join(re.escape(w) for w in re.split(r"[\s_\-]+", candidate))
            m = re.search(
                rf"\b{words}\b[^\n:=\d]{{0,20}}[:=]\s*\**\s*([-+]?\d+(?:\.\d+)?(?:\s*(?:/|out of)\s*\d+)?)",
                text,
                re.IGNORECASE,
            )
            if m:
                found[spec.name] = m.group(1)
                break
    return found


def _pick(candidates: list[tuple[Any, str | None]], fields: Sequence[ReplyField]) -> tuple[Any, str | None]:
    """The first parsed object holding at least one of the fields (lists: their first such object)."""
    for value, note in candidates:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, Mapping) and any(_lookup(item, spec)[0] for spec in fields):
                return item, note
    return None, None


def parse_judge_reply(text: Any, fields: Sequence[ReplyField]) -> JudgeReply:
    """Read the numeric ``fields`` from a judge's reply. Never raises.

    Args:
        text: the reply (anything: a non-string is an error reply).
        fields: what to read (names, ranges, aliases, which are required).

    Returns:
        A :class:`JudgeReply`; ``ok`` is False when a required field is missing or invalid.
    """
    from pixelthink.answer import find_json_objects

    reply = JudgeReply()
    if not isinstance(text, str) or not text.strip():
        reply.error = "empty reply" if isinstance(text, str) else f"reply is {type(text).__name__}, not text"
        return reply
    obj, note = _pick(find_json_objects(text), fields)
    if obj is None:
        prose = _prose_values(text, fields)
        if not prose:
            wanted = ", ".join(spec.name for spec in fields)
            reply.error = f"no JSON object with {wanted} in the reply"
            return reply
        reply.problems.append("no JSON object; read 'key: value' text")
        obj = prose
    elif note:
        reply.problems.append(note)
    rationale = next((obj[k] for k in obj if isinstance(k, str) and _norm(k) in _RATIONALE_KEYS), None)
    if isinstance(rationale, str):
        reply.rationale = rationale
    missing: list[ReplyField] = []
    invalid: list[str] = []
    for spec in fields:
        present, value, key = _lookup(obj, spec)
        if not present:
            missing.append(spec)
            continue
        if key != spec.name:
            reply.problems.append(f"field '{spec.name}' read from key {key!r}")
        number = _number(value, spec.name, spec, reply.problems, invalid)
        if number is not None:
            reply.values[spec.name] = number
    errors: list[str] = []
    for spec in missing:
        parts = [reply.values.get(name) for name in spec.derive_from_mean]
        if spec.derive_from_mean and all(p is not None for p in parts):
            reply.values[spec.name] = sum(p for p in parts if p is not None) / len(parts)
            reply.problems.append(
                f"field '{spec.name}' missing; used the mean of {list(spec.derive_from_mean)}"
            )
        elif spec.required:
            errors.append(f"field '{spec.name}' missing")
        else:
            reply.problems.append(f"field '{spec.name}' missing")
    for spec in fields:
        if spec.required and spec.name not in reply.values and spec not in missing:
            errors.append(f"field '{spec.name}' invalid")
    if errors:
        reply.error = "; ".join(errors) + (f" ({'; '.join(invalid)})" if invalid else "")
    return reply
