"""Prompt template and parsers of the ``<think>...</think><answer>{...}</answer>`` protocol.

The reasoning model answers with::

    <think> reasoning </think><answer>{"bbox": [x1,y1,x2,y2], "points_1": [x,y], "points_2": [x,y]}</answer>

All coordinates in a response are in the **model** frame (the image the MLLM saw, e.g. 840x840);
use :class:`pixelthink.frames.FrameTransform` to map them to the original image.

Two parsers:

* :func:`parse_strict` is the definition used by the reward (the authors' format check): the
  first ``{[^}]+}`` match parsed with ``json.loads``, keys ``bbox`` (4 values), ``points_1`` and
  ``points_2`` (2 values each).
* :func:`parse_lenient` is for inference: it accepts the many ways real models deviate from the
  format (single quotes, Python literals, trailing commas, ``bbox_2d`` / ``point_1`` keys, lists of
  objects, swapped corners, missing think block, ...) and lists what it had to repair.

Neither parser ever raises on a model response: problems are reported in
:attr:`ParsedAnswer.problems`.
"""

from __future__ import annotations

import ast
import json
import math
import numbers
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pixelthink.frames import Box, Point

__all__ = [
    "ANSWER_FORMAT_PROBLEM",
    "DEFAULT_ANSWER_HINT",
    "DEFAULT_MAX_QUERY_CHARS",
    "DEFAULT_PROMPT_TEMPLATE",
    "JSON_OBJECT_RE",
    "THINKING_FORMAT_PROBLEM",
    "THINKING_FORMAT_RE",
    "ParsedAnswer",
    "build_prompt",
    "check_query",
    "extract_answer",
    "extract_think",
    "find_block",
    "find_json_objects",
    "is_thinking_format",
    "json_object_span",
    "normalize_query",
    "parse_lenient",
    "parse_strict",
    "query_length_problem",
    "query_problem",
]

# --------------------------------------------------------------------------------------------------
# Prompt
# --------------------------------------------------------------------------------------------------

DEFAULT_ANSWER_HINT = "{'bbox': [10,100,200,210], 'points_1': [30,110], 'points_2': [35,180]}"
"""The example answer shown in the prompt (Seg-Zero / PixelThink: "just an example, not the real answer")."""

# Source: the single-object Seg-Zero inference/evaluation scripts (QUESTION_TEMPLATE) and the
# PixelThink training code, songw-zju/PixelThink@69baad1 ``training_scripts/qwen3vl/
# convert_refcocog_to_verl.py`` (SEG_PROMPT) and ``verl/utils/rl_dataset.py``
# (SEG_PROMPT_WITH_IMAGE_TAG, which adds a leading "<image>" placeholder for the chat template).
# The sentences are concatenated WITHOUT separating spaces, exactly as in those files. The answer
# hint is pre-filled (braces doubled for str.format); the query goes into "{question}".
DEFAULT_PROMPT_TEMPLATE = (
    "Please find '{question}' with bbox and points."
    "Compare the difference between objects and find the most closely matched one."
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
    "Output the one bbox and points of two largest inscribed circles inside the interested object in JSON format."
    "i.e., <think> thinking process here </think>"
    "<answer>" + DEFAULT_ANSWER_HINT.replace("{", "{{").replace("}", "}}") + "</answer>"
)
"""Seg-Zero / PixelThink user prompt with a ``{question}`` field (a ``str.format`` template)."""


DEFAULT_MAX_QUERY_CHARS = 4096
"""Longest query, in characters, sent to a reasoner (``--max-query-chars``; ``0``/``None``: no limit).

Reasoning-segmentation queries are a phrase or a few sentences (ReasonSeg's longest are under 1,000
characters); a query of 100,000 characters made a batch of 8 grow to 20 GB and die. A longer query is a
per-sample failure naming this limit (:func:`query_length_problem`), and ``data validate`` warns about it.
"""


def query_length_problem(query: object, max_chars: int | None = DEFAULT_MAX_QUERY_CHARS) -> str | None:
    """Why ``query`` cannot be sent to a reasoner (not a string, or longer than ``max_chars``), or None."""
    if not isinstance(query, str):
        return f"query must be a string, got {type(query).__name__}"
    if max_chars and len(query) > max_chars:
        return (
            f"query of {len(query):,} characters exceeds the limit of {max_chars:,} characters "
            "(raise it with --max-query-chars)"
        )
    return None


def query_problem(query: object, max_chars: int | None = DEFAULT_MAX_QUERY_CHARS) -> str | None:
    """Why ``query`` cannot be sent to a reasoner, or None: not a string, longer than ``max_chars``
    (:func:`query_length_problem`), or not valid Unicode text.

    A lone surrogate (``"\\ud800"``: legal as a JSON escape, and what Python makes of undecodable bytes
    in a command-line argument) cannot be encoded as UTF-8, so no tokenizer, HTTP client or output file
    can take it. The one check every entry point (``predict``, ``segment``, ``data validate``, the app,
    ``serve``) applies to a query; :func:`check_query` raises its message.
    """
    problem = query_length_problem(query, max_chars)
    if problem is not None:
        return problem
    assert isinstance(query, str)
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = query[exc.start]
        return (
            f"not valid Unicode text: a lone surrogate {bad!r} at character {exc.start} "
            "(it cannot be encoded as UTF-8)"
        )
    return None


def check_query(query: object, max_chars: int | None = DEFAULT_MAX_QUERY_CHARS) -> str:
    """Return ``query`` if a reasoner can take it, else raise ``ValueError("query: ...")``
    (:func:`query_problem`: not a string, over ``max_chars``, or a lone surrogate)."""
    problem = query_problem(query, max_chars)
    if problem is not None:
        raise ValueError(f"query: {problem}")
    assert isinstance(query, str)
    return query


def normalize_query(query: str) -> str:
    """Seg-Zero's query normalisation: ``query.lower().strip(".")`` (only periods are stripped)."""
    return query.lower().strip(".")


def build_prompt(query: str, template: str = DEFAULT_PROMPT_TEMPLATE, *, normalize: bool = True) -> str:
    """Fill the prompt template with a query.

    Args:
        query: the referring expression or question.
        template: a ``str.format`` template with a ``{question}`` field (the authors' spelling
            ``{Question}`` is accepted too). ``{answer}`` / ``{Answer}`` are filled with
            :data:`DEFAULT_ANSWER_HINT`. Literal braces must be doubled (``{{`` / ``}}``).
        normalize: apply Seg-Zero's ``text.lower().strip(".")`` to the query first.

    Raises:
        ValueError: if the template has no question field or another unknown field.
    """
    if not isinstance(query, str):
        raise ValueError(f"build_prompt: query must be a str, got {type(query).__name__}")
    if "{question}" not in template and "{Question}" not in template:
        raise ValueError(
            "build_prompt: template has no '{question}' field (literal braces must be doubled); "
            f"template starts with {template[:80]!r}"
        )
    text = normalize_query(query) if normalize else query
    try:
        return template.format(
            question=text, Question=text, answer=DEFAULT_ANSWER_HINT, Answer=DEFAULT_ANSWER_HINT
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"build_prompt: cannot fill template ({type(exc).__name__}: {exc}); the supported fields are "
            "{question}, {Question}, {answer}, {Answer}; literal braces must be doubled"
        ) from exc


# --------------------------------------------------------------------------------------------------
# The authors' patterns, matched in linear time
# --------------------------------------------------------------------------------------------------
#
# Model output is untrusted input: a backtracking regex such as ``<think>(.*?)</think>`` takes time
# quadratic in the response length on adversarial text (``"<think>" * 16000`` took 7.7 s). The
# authors' patterns below are kept as the *specification*; the functions after them compute the same
# match with ``str.find`` in time linear in the length (tests/test_answer_linear.py compares them on
# random and adversarial text; bench/bench_parsers.py measures both). Never call the patterns on
# model output.

THINKING_FORMAT_RE = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
"""Authors' thinking-format check (specification; use :func:`is_thinking_format`): the WHOLE
response must ``fullmatch`` this pattern."""

JSON_OBJECT_RE = re.compile(r"{[^}]+}")
"""Authors' answer extraction (specification; use :func:`json_object_span`): the first
brace-delimited run without a closing brace inside."""

_WHITESPACE_RUN = re.compile(r"\s*")  # a single greedy run: linear, and the same ``\s`` as the patterns

THINKING_FORMAT_PROBLEM = "thinking format: response is not exactly <think>...</think> <answer>...</answer>"
ANSWER_FORMAT_PROBLEM = "answer format"


def find_block(text: str, open_tag: str, close_tag: str) -> tuple[int, int] | None:
    """Span ``(start, end)`` of the content of the first ``open_tag ... close_tag`` block, or None.

    Equal to ``re.search(re.escape(open_tag) + "(.*?)" + re.escape(close_tag), text, re.DOTALL).span(1)``
    in linear time. The regex returns the leftmost start that has a match and, from there, the
    shortest one. Only occurrences of ``open_tag`` can start a match, and a later occurrence can only
    see the closing tags the first one sees: so the match starts at the FIRST ``open_tag`` when a
    ``close_tag`` follows it (the first such closing tag ends it) and there is none otherwise.
    """
    start = text.find(open_tag)
    if start < 0:
        return None
    start += len(open_tag)
    end = text.find(close_tag, start)
    return None if end < 0 else (start, end)


def json_object_span(text: str) -> tuple[int, int] | None:
    """Span of the first match of the authors' ``{[^}]+}`` (:data:`JSON_OBJECT_RE`), in linear time.

    A match starts at a ``{`` whose next character is not ``}`` and runs to the first ``}`` after it
    (``[^}]+`` is greedy and stops only at a ``}``; a shorter run cannot end in a ``}``). A ``{``
    followed by ``}`` cannot start a match; when no ``}`` follows a ``{``, none follows a later one.
    """
    start = text.find("{")
    while start >= 0:
        close = text.find("}", start + 1)
        if close < 0:
            return None
        if close > start + 1:
            return start, close + 1
        start = text.find("{", close + 1)  # text[start + 1] is that "}"
    return None


def is_thinking_format(text: str) -> bool:
    """``THINKING_FORMAT_RE.fullmatch(text)`` (the authors' thinking-format check) in linear time.

    The whole text must be ``<think>`` A ``</think>`` W ``<answer>`` B ``</answer>`` with W
    whitespace (the pattern's ``\\s*``) and A, B anything (DOTALL, lazy quantifiers only choose among
    decompositions; ``fullmatch`` needs one to exist). So the text starts with ``<think>``, ends with
    ``</answer>``, and some ``</think>`` after the opening tag is followed by a whitespace run and an
    ``<answer>`` that ends before the final ``</answer>``. Each candidate ``</think>`` is checked once,
    and the whitespace runs after distinct candidates do not overlap: linear.
    """
    if not (text.startswith("<think>") and text.endswith("</answer>")):
        return False
    last_answer = len(text) - len("</answer>") - len("<answer>")  # the latest start of "<answer>"
    close = text.find("</think>", len("<think>"))
    while 0 <= close <= last_answer - len("</think>"):
        after = _WHITESPACE_RUN.match(text, close + len("</think>")).end()  # type: ignore[union-attr]
        if after <= last_answer and text.startswith("<answer>", after):
            return True
        close = text.find("</think>", after)
    return False


def extract_think(response: str, *, partial: bool = False) -> str | None:
    """Text of the first ``<think>...</think>`` block, stripped; ``None`` when there is none.

    This is the span the authors count in their ``reasoning_tokens`` length mode
    (``extract_reasoning`` in songw-zju/PixelThink ``verl/utils/reward_score/length.py``:
    first non-greedy match of ``<think>(.*?)</think>``, DOTALL, ``.strip()``; found here in linear
    time with :func:`find_block`).

    Args:
        partial: also accept an unterminated block (generation cut at ``max_new_tokens``: the
            text after ``<think>``), and a block closed but never opened (Qwen3-style chat
            templates put ``<think>`` in the prompt: the text before ``</think>``). The authors'
            reward uses ``partial=False``.
    """
    if not isinstance(response, str):
        return None
    span = find_block(response, "<think>", "</think>")
    if span is not None:
        return response[span[0] : span[1]].strip()
    if partial:
        start = response.find("<think>")
        if start >= 0:
            return response[start + len("<think>") :].strip()
        end = response.find("</think>")
        if end >= 0:
            return response[:end].strip()
    return None


def extract_answer(response: str) -> str | None:
    """Text of the first ``<answer>...</answer>`` block (not stripped); ``None`` when absent.

    The first match of ``<answer>(.*?)</answer>`` (DOTALL), found in linear time (:func:`find_block`).
    """
    if not isinstance(response, str):
        return None
    span = find_block(response, "<answer>", "</answer>")
    return None if span is None else response[span[0] : span[1]]


# --------------------------------------------------------------------------------------------------
# Result type
# --------------------------------------------------------------------------------------------------


@dataclass
class ParsedAnswer:
    """A parsed model response.

    Attributes:
        think: text inside ``<think>...</think>`` (stripped), or None.
        bbox: XYXY box in the frame of the response (the **model** frame), or None.
        points: 0..2 (x, y) points, same frame.
        problems: human-readable list of what was wrong or repaired (empty = clean).
    """

    think: str | None = None
    bbox: Box | None = None
    points: list[Point] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when a usable box is present."""
        return self.bbox is not None


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _finite_numbers(values: object, n: int) -> tuple[float, ...] | None:
    if not isinstance(values, list | tuple) or len(values) != n:
        return None
    if not all(_is_number(v) for v in values):
        return None
    try:
        out = tuple(float(v) for v in values)
    except OverflowError:
        return None
    return out if all(math.isfinite(v) for v in out) else None


# --------------------------------------------------------------------------------------------------
# Strict parser (the reward's definition)
# --------------------------------------------------------------------------------------------------


def _strict_format_problem(response: str) -> tuple[str | None, Any]:
    """The authors' answer-format check. Returns (problem or None, parsed JSON or None)."""
    span = json_object_span(response)
    if span is None:
        return f"{ANSWER_FORMAT_PROBLEM}: no '{{...}}' object found", None
    try:
        data = json.loads(response[span[0] : span[1]])
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        return (
            f"{ANSWER_FORMAT_PROBLEM}: first '{{...}}' is not valid JSON ({type(exc).__name__}: {exc})",
            None,
        )
    for key in ("bbox", "points_1", "points_2"):
        if key not in data:
            return f"{ANSWER_FORMAT_PROBLEM}: key {key!r} missing", data
    if not isinstance(data["bbox"], list) or len(data["bbox"]) != 4:
        return f"{ANSWER_FORMAT_PROBLEM}: 'bbox' is not a list of 4 values: {data['bbox']!r}", data
    for key in ("points_1", "points_2"):
        if not isinstance(data[key], list) or len(data[key]) != 2:
            return f"{ANSWER_FORMAT_PROBLEM}: {key!r} is not a list of 2 values: {data[key]!r}", data
    return None, data


def parse_strict(response: str) -> ParsedAnswer:
    """Parse a response with the authors' reward definition; never raises.

    * thinking format: the whole response must match ``<think>.*?</think>\\s*<answer>.*?</answer>``
      (DOTALL); otherwise :data:`THINKING_FORMAT_PROBLEM` is listed.
    * answer format: ``json.loads`` of the first ``{[^}]+}`` match must be an object with
      ``bbox`` (a list of 4), ``points_1`` and ``points_2`` (lists of 2); otherwise a problem
      starting with ``"answer format"`` is listed. These two problems correspond one-to-one to
      the two format terms of the reward being 0.
    * The box and points are only returned when the format is valid and their values are finite
      numbers (the authors' format check does not look at the values; non-numeric values are
      listed as a ``"values: ..."`` problem). The box is returned as written (no reordering).

    Returns:
        ParsedAnswer with ``bbox`` / ``points`` in the model frame.
    """
    if not isinstance(response, str):
        return ParsedAnswer(problems=[f"response is not a string ({type(response).__name__})"])
    out = ParsedAnswer(think=extract_think(response))
    if not is_thinking_format(response):
        out.problems.append(THINKING_FORMAT_PROBLEM)
    problem, data = _strict_format_problem(response)
    if problem is not None:
        out.problems.append(problem)
        return out
    box = _finite_numbers(data["bbox"], 4)
    p1 = _finite_numbers(data["points_1"], 2)
    p2 = _finite_numbers(data["points_2"], 2)
    if box is None:
        out.problems.append(f"values: 'bbox' has non-numeric or non-finite values: {data['bbox']!r}")
    else:
        out.bbox = (box[0], box[1], box[2], box[3])
    for key, p in (("points_1", p1), ("points_2", p2)):
        if p is None:
            out.problems.append(f"values: {key!r} has non-numeric or non-finite values: {data[key]!r}")
        else:
            out.points.append((p[0], p[1]))
    return out


# --------------------------------------------------------------------------------------------------
# Lenient parser (inference)
# --------------------------------------------------------------------------------------------------

_MAX_LITERAL_CHARS = 20_000  # do not hand huge strings to ast.literal_eval
_MAX_CANDIDATES = 256  # flat {...} objects tried per region (bounds the work on adversarial text)
_TRAILING_COMMA_RE = re.compile(r",\s*([}\]])")
_BARE_KEY_RE = re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:)")
_FENCE_RE = re.compile(r"```(?:json|python)?", re.IGNORECASE)
_FLAT_OBJECT_RE = re.compile(r"{[^{}]*}")


def _loads_loose(text: str) -> tuple[Any, str | None]:
    """Parse JSON or a Python literal. Returns (value or None, repair note or None)."""
    text = text.strip()
    if not text or len(text) > _MAX_LITERAL_CHARS:
        return None, None
    attempts: list[tuple[str, str | None]] = [(text, None)]
    no_trailing = _TRAILING_COMMA_RE.sub(r"\1", text)
    if no_trailing != text:
        attempts.append((no_trailing, "removed trailing comma(s)"))
    quoted = _BARE_KEY_RE.sub(r'\1"\2"\3', no_trailing)
    if quoted != no_trailing:
        attempts.append((quoted, "quoted bare keys"))
    for candidate, note in attempts:
        try:
            return json.loads(candidate), note
        except (ValueError, RecursionError):
            pass
        try:
            # compile() warns (SyntaxWarning "invalid decimal literal" for ``1a``...) before it fails;
            # the failure is reported through ParsedAnswer.problems, so keep the warning off stderr.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = ast.literal_eval(candidate)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        return value, (note + "; " if note else "") + "parsed as a Python literal (not strict JSON)"
    return None, None


def _to_float(v: object) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        try:
            f = float(v)
        except OverflowError:
            return None
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _flatten_numbers(value: object) -> list[object] | None:
    """[a,b,c,d] -> itself; [[a,b],[c,d]] -> [a,b,c,d]; anything else -> None."""
    if not isinstance(value, list | tuple):
        return None
    if all(isinstance(v, list | tuple) for v in value) and value:
        flat: list[object] = []
        for v in value:
            flat.extend(v)
        return flat
    return list(value)


def _coerce(values: list[object], what: str, problems: list[str]) -> list[float] | None:
    out: list[float] = []
    converted = False
    for v in values:
        f = _to_float(v)
        if f is None:
            problems.append(f"{what}: non-numeric or non-finite value {v!r}")
            return None
        converted |= isinstance(v, str)
        out.append(f)
    if converted:
        problems.append(f"{what}: numbers given as strings")
    return out


def _pick_object(value: Any, problems: list[str]) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, list | tuple):
        dicts = [v for v in value if isinstance(v, Mapping)]
        if dicts:
            if len(value) > 1:
                problems.append(f"answer is a list of {len(value)} items; used the first object")
            return dicts[0]
    return None


def _candidate_objects(region: str, problems: list[str]) -> Iterator[tuple[Any, str | None]]:
    """Parsed values found in ``region``, lazily: the whole region first, then each flat {...}.

    At most :data:`_MAX_CANDIDATES` flat objects are tried (a note goes to ``problems`` when more
    exist), so a response made of thousands of ``{...}`` costs a bounded number of parses.
    """
    cleaned = _FENCE_RE.sub("", region).strip()
    fence = "removed code fence" if cleaned != region.strip() else None
    value, note = _loads_loose(cleaned)
    if value is not None:
        yield value, "; ".join(x for x in (fence, note) if x) or None
    for i, m in enumerate(_FLAT_OBJECT_RE.finditer(cleaned)):
        if i == _MAX_CANDIDATES:
            problems.append(f"gave up after {_MAX_CANDIDATES} '{{...}}' candidates")
            return
        value, note = _loads_loose(m.group(0))
        if value is not None:
            yield value, "; ".join(x for x in (fence, note) if x) or None


def find_json_objects(text: str) -> list[tuple[Any, str | None]]:
    """Every JSON-like value in ``text``, leniently parsed: ``[(value, repair note or None), ...]``.

    The whole text first (code fences removed), then each flat ``{...}`` in it (at most 256 of them);
    each is read as JSON, else with trailing commas removed / bare keys quoted, else as a Python literal
    (the note says which).
    The parser behind :func:`parse_lenient`, shared with the LLM-judge reply parser
    (:func:`pixelthink.judging.replies.parse_judge_reply`). Never raises.
    """
    if not isinstance(text, str):
        return []
    return list(_candidate_objects(text, []))


_POINT_KEYS: tuple[str, str] = ("points_1", "points_2")


def _extract_box_points(
    obj: Mapping[str, Any], problems: list[str]
) -> tuple[list[float] | None, list[list[float]]]:
    keys = [k for k in obj if isinstance(k, str)]
    box_key = next((k for k in keys if k == "bbox"), None)
    box_key = box_key or next((k for k in keys if "bbox" in k.lower()), None)
    box_key = box_key or next((k for k in keys if "box" in k.lower()), None)
    box: list[float] | None = None
    if box_key is None:
        problems.append("no key containing 'bbox'")
    else:
        if box_key != "bbox":
            problems.append(f"box under key {box_key!r} instead of 'bbox'")
        flat = _flatten_numbers(obj[box_key])
        if flat is not None and len(flat) == 4 and isinstance(obj[box_key][0], list | tuple):
            problems.append(f"{box_key!r} given as two corner points")
        if flat is None or len(flat) != 4:
            problems.append(f"{box_key!r} is not 4 numbers: {obj[box_key]!r}")
        else:
            box = _coerce(flat, repr(box_key), problems)

    point_keys = [k for k in keys if "point" in k.lower()]
    if point_keys and point_keys[:2] != list(_POINT_KEYS):
        unexpected = [k for k in point_keys if k not in _POINT_KEYS]
        missing = [k for k in _POINT_KEYS if k not in point_keys]
        parts = []
        if unexpected:
            parts.append(f"points under key(s) {unexpected}")
        if missing:
            parts.append("missing key(s) " + ", ".join(repr(k) for k in missing))
        if not parts:
            parts.append(f"point keys in the order {point_keys}")
        problems.append("; ".join(parts) + " (expected 'points_1', 'points_2')")
    points: list[list[float]] = []
    for k in point_keys:
        value = obj[k]
        if isinstance(value, list | tuple) and value and all(isinstance(v, list | tuple) for v in value):
            items = list(value)
        else:
            items = [value]
        for item in items:
            if not isinstance(item, list | tuple) or len(item) != 2:
                problems.append(f"{k!r}: not an (x, y) pair: {item!r}")
                continue
            p = _coerce(list(item), repr(k), problems)
            if p is not None:
                points.append(p)
    if not point_keys:
        problems.append("no key containing 'point'")
    if len(points) > 2:
        problems.append(f"{len(points)} points given; kept the first 2")
        points = points[:2]
    elif len(points) < 2 and point_keys:
        problems.append(f"only {len(points)} valid point(s)")
    return box, points


def _clip(v: float, hi: float) -> float:
    return min(max(v, 0.0), hi)


def _parse_lenient(response: str, image_size: tuple[float, float] | None) -> ParsedAnswer:
    problems: list[str] = []
    think = extract_think(response)
    if think is None:
        think = extract_think(response, partial=True)
        if think is None:
            problems.append("missing <think> block")
        elif "<think>" in response:
            problems.append("unterminated <think> block")
        else:
            problems.append("missing <think> opening tag")

    answer = extract_answer(response)
    regions: list[str] = []
    if answer is None:
        start = response.find("<answer>")
        if start >= 0:
            problems.append("unterminated <answer> block")
            regions.append(response[start + len("<answer>") :])
        else:
            problems.append("missing <answer> block")
            end_think = response.find("</think>")
            if end_think >= 0:
                regions.append(response[end_think + len("</think>") :])
            regions.append(response)
    else:
        regions.append(answer)

    obj: Mapping[str, Any] | None = None
    for region in regions:
        for value, note in _candidate_objects(region, problems):
            local: list[str] = []
            picked = _pick_object(value, local)
            if picked is None:
                continue
            obj = picked
            if note:
                problems.append(note)
            problems.extend(local)
            break
        if obj is not None:
            break
    if obj is None:
        problems.append("no parsable answer object found")
        return ParsedAnswer(think=think, problems=problems)

    box_values, point_values = _extract_box_points(obj, problems)
    bbox: Box | None = None
    if box_values is not None:
        x1, y1, x2, y2 = box_values
        if x1 > x2 or y1 > y2:
            problems.append("box corners swapped; reordered to x1 <= x2, y1 <= y2")
            x1, x2 = min(x1, x2), max(x1, x2)
            y1, y2 = min(y1, y2), max(y1, y2)
        bbox = (x1, y1, x2, y2)
    points: list[Point] = [(p[0], p[1]) for p in point_values]

    if image_size is not None:
        w_max, h_max = float(image_size[0]) - 1.0, float(image_size[1]) - 1.0
        if bbox is not None:
            clipped = (
                _clip(bbox[0], w_max),
                _clip(bbox[1], h_max),
                _clip(bbox[2], w_max),
                _clip(bbox[3], h_max),
            )
            if clipped != bbox:
                problems.append(f"box clipped to the image {image_size[0]}x{image_size[1]}")
                bbox = clipped
        new_points = [(_clip(x, w_max), _clip(y, h_max)) for x, y in points]
        if new_points != points:
            problems.append(f"point(s) clipped to the image {image_size[0]}x{image_size[1]}")
            points = new_points
    return ParsedAnswer(think=think, bbox=bbox, points=points, problems=problems)


def parse_lenient(response: str, image_size: tuple[int, int] | None = None) -> ParsedAnswer:
    """Parse a response as robustly as possible, for inference; never raises on any response.

    Accepted deviations (each one listed in ``problems``):

    * missing / unterminated ``<think>`` or ``<answer>`` blocks (the JSON is then searched after
      ``</think>`` and in the whole text);
    * single-quoted or Python-literal dicts (``ast.literal_eval``), trailing commas, bare keys,
      code fences, numbers given as strings, floats;
    * keys that merely contain ``bbox`` / ``box`` (``bbox_2d``) or ``point`` (``point_1``,
      ``point_2d``, ``points: [[x, y], [x, y]]``); a box given as ``[[x1, y1], [x2, y2]]``;
    * a list of objects (the first object is used);
    * a box with x1 > x2 or y1 > y2 (corners reordered);
    * with ``image_size=(w, h)``: coordinates outside the image are clipped to ``[0, w-1]`` and
      ``[0, h-1]``.

    Args:
        response: the decoded model output.
        image_size: (width, height) of the frame the response refers to (the **model** frame),
            used only for clipping.

    Returns:
        ParsedAnswer; ``bbox`` / ``points`` in the model frame, the think text, and problems.

    Raises:
        ValueError: only for a bad ``image_size`` argument (never because of the response).
    """
    if image_size is not None:
        ok = (
            isinstance(image_size, tuple | list)
            and len(image_size) == 2
            and all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                for v in image_size
            )
        )
        if not ok:
            raise ValueError(f"parse_lenient: image_size must be (width, height) > 0, got {image_size!r}")
    if not isinstance(response, str):
        return ParsedAnswer(problems=[f"response is not a string ({type(response).__name__})"])
    try:
        return _parse_lenient(response, image_size)  # type: ignore[arg-type]
    except Exception as exc:  # never raise on model output; the failure is reported, not hidden
        return ParsedAnswer(
            think=extract_think(response),
            problems=[f"internal parser error ({type(exc).__name__}: {exc}); response not parsed"],
        )
