"""PixelThink rewards: accuracy terms, difficulty/uncertainty length budgets, reward variants.

One source of truth for TRL, verl and evaluation. The values equal the authors' implementation
(songw-zju/PixelThink@69baad1: ``verl/utils/reward_score/seg_pixelthink.py`` and
``length.py``; the Qwen3-VL copy ``training_scripts/qwen3vl/pixelthink_seg_reward.py`` computes
the same values with the default parameters) for every response, malformed ones included:

accuracy (0..5) = the sum of five binary terms
    1. ``thinking_format``: the whole response ``fullmatch``-es
       ``<think>.*?</think>\\s*<answer>.*?</answer>`` (DOTALL);
    2. ``answer_format``: ``json.loads`` of the first ``{[^}]+}`` match has ``bbox`` (a list of 4),
       ``points_1`` and ``points_2`` (lists of 2); the values are not checked;
    3. ``iou``: IoU(pred bbox, GT box) > ``iou_threshold`` with the +1 pixel convention
       (``(x2 - x1 + 1) * (y2 - y1 + 1)``; the intersection counts only when strictly positive
       before the +1);
    4. ``box_l1``: mean absolute coordinate difference < ``box_l1_threshold``;
    5. ``point_l1``: both points, truncated with ``int()``, lie inside the predicted box
       (inclusive) and the mean matched distance to the two GT points (best of the two
       pairings) < ``point_l1_threshold``.
    Terms 3-5 only need ``bbox`` (and ``points_1`` / ``points_2`` for 5); they do not require
    term 2. Any failure (no JSON, invalid JSON, missing key, non-numeric value, a GT that does not
    parse, a zero union) makes the term 0; the reason is reported in :func:`reward_breakdown`.

length score (0..1) for a length L and a budget B: ``1`` when B is None, else
``max(0, min(1, 1 - beta * (L - B)))`` when L > B and 1 otherwise.

budget: D >= ``tau_hard``: ``budget_hard + uncertainty_scale * U``; ``tau_medium`` <= D <
``tau_hard``: None (no penalty); D < ``tau_medium``: ``budget_easy``. A missing difficulty is
``default_difficulty`` (3.0, the authors' fallback, i.e. easy); a missing uncertainty is 0.0.

reward = accuracy * length score (the format terms are scaled too).

The field's efficient-reasoning methods are variants of :data:`REWARDS` too (``l1_exact``, ``l1_max``,
``dapo_overlong``, ``thinkprune``, ``shorterbetter``, ``group_length``, ``think_or_not``, ``dr2seg``): one
pure function each (:func:`l1_exact_reward`, :func:`overlong_penalty`, :func:`shorterbetter_target`, ...),
documented with its paper and equation, applied to the same accuracy; the group variants
(:data:`GROUP_REWARDS`) are scored by the batch functions over rollout groups. docs/METHODS.md.

The authors' patterns are matched in time linear in the response length
(:func:`pixelthink.answer.is_thinking_format`, :func:`~pixelthink.answer.json_object_span`), with the
same result as their backtracking regexes, which are quadratic on adversarial text.

Ground truth: Seg-Zero's string ``<box>(x1,y1),(x2,y2)</box><points>(x,y),(x,y)</points>`` in the
**model** frame (integers, no spaces), or a structured object in the model frame (see
:func:`ground_truth_string`).

Divergences from the authors' code (inputs their pipeline never produces; all documented):
non-finite difficulty / uncertainty raise ValueError here (theirs silently take the easy
branch or a NaN budget); a ``None`` response scores 0 here (theirs raises in the thinking-format
regex). verl stores difficulty as float32 before comparing it with the thresholds; we compare the
given float (only values within float32 rounding of a threshold can differ).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol

from pixelthink.answer import extract_think, is_thinking_format, json_object_span
from pixelthink.frames import Box, Point

__all__ = [
    "BUDGET_REWARDS",
    "DIFFICULTY_SOURCES",
    "DR2SEG_SECOND_STAGES",
    "GROUP_REWARDS",
    "LENGTH_MODES",
    "REWARDS",
    "REWARD_BREAKDOWNS",
    "TERM_NAMES",
    "RewardConfig",
    "RewardFn",
    "accuracy_reward",
    "accuracy_terms",
    "batch_breakdowns",
    "batch_rewards",
    "difficulty_bucket",
    "difficulty_only_reward",
    "dr2seg_length_reward",
    "format_ground_truth",
    "get_reward",
    "get_reward_breakdown",
    "ground_truth_string",
    "group_length_rewards",
    "l1_exact_reward",
    "l1_max_reward",
    "l1_target_length",
    "length_budget",
    "length_score",
    "naive_length_reward",
    "online_difficulties",
    "overlong_penalty",
    "passrate_difficulty",
    "pixelthink_reward",
    "response_length",
    "reward_breakdown",
    "segzero_reward",
    "shorterbetter_target",
    "thinkprune_limit_at",
    "uncertainty_only_reward",
]

TERM_NAMES: tuple[str, ...] = ("thinking_format", "answer_format", "iou", "box_l1", "point_l1")
"""Keys of :func:`accuracy_terms`, in the authors' order of definition."""

LENGTH_MODES: tuple[str, ...] = ("words", "reasoning_tokens")
DIFFICULTY_SOURCES: tuple[str, ...] = ("annotation", "online")
_LENGTH_MODE_ALIASES = {"reward_word_tokens": "words", "reward_reasoning_tokens": "reasoning_tokens"}

# The authors' GT patterns (``\d`` is Unicode-aware, exactly like theirs).
_GT_BOX_RE = re.compile(r"<box>\((\d+),(\d+)\),\((\d+),(\d+)\)</box>")
_GT_POINTS_RE = re.compile(r"<points>\((\d+),(\d+)\),\((\d+),(\d+)\)</points>")

# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------

_NON_NEGATIVE = (
    "uncertainty_scale",
    "beta",
    "box_l1_threshold",
    "point_l1_threshold",
    "l1_alpha_exact",
    "l1_alpha_max",
    "overlong_penalty_factor",
    "thinkprune_decrement",
    "thinkprune_round_steps",
    "shorterbetter_beta",
    "group_length_weight",
    "no_think_bonus",
    "dr2seg_gamma",
    "dr2seg_anchor",
    "dr2seg_weight",
)
# a zero budget penalises every token
_POSITIVE = (
    "budget_hard",
    "budget_easy",
    "budget_uniform",
    "overlong_max_length",
    "overlong_buffer",
    "thinkprune_limit",
    "thinkprune_limit_min",
)
_BOOLEAN = ("no_think_bonus_needs_hit",)
_NON_NUMERIC = ("length_mode", "difficulty_source", "dr2seg_second_stage", *_BOOLEAN)
DR2SEG_SECOND_STAGES: tuple[str, ...] = ("given", "group_mean")
_DIFFICULTY_SCALE = (1.0, 10.0)  # the difficulty model's 1..10 scale (data.format.DIFFICULTY_RANGE)
_AUTHOR_PARAM_ALIASES = {  # PixelThinkRewardParams field names in the authors' verl fork
    "hard_difficulty_threshold": "tau_hard",
    "medium_difficulty_threshold": "tau_medium",
    "hard_token_budget": "budget_hard",
    "easy_token_budget": "budget_easy",
    "uncertainty_budget_scale": "uncertainty_scale",
    "length_penalty_beta": "beta",
}


def _number_from_text(value: Any) -> Any:
    """``float(value)`` for a string that reads as a finite number, else ``value`` unchanged."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


@dataclass(frozen=True)
class RewardConfig:
    """Parameters of the PixelThink reward (paper names in brackets).

    Attributes:
        tau_hard: difficulty at or above which a sample is hard [tau1 = 5.0].
        tau_medium: difficulty at or above which a sample is medium (no length penalty) [tau2 = 3.5].
        budget_hard: base budget of hard samples [L_base = 256].
        uncertainty_scale: budget added per unit of uncertainty on hard samples [alpha = 25].
        budget_easy: budget of easy samples [L_low = 96]. Budgets must be > 0.
        beta: penalty per unit of length over the budget [beta = 1/500].
        iou_threshold, box_l1_threshold, point_l1_threshold: accuracy-term thresholds
            (0.5, 10 px, 100 px, in the model frame).
        length_mode: ``"words"`` (default, the authors' default: whitespace-separated words of the
            whole decoded response) or ``"reasoning_tokens"`` (tokenizer tokens of the stripped
            text inside the first ``<think>...</think>``; needs a tokenizer). The authors' names
            ``reward_word_tokens`` / ``reward_reasoning_tokens`` are accepted.
        default_difficulty: difficulty of a sample without one (3.0 = easy, the authors' fallback);
            within the 1..10 difficulty scale.
        budget_uniform: the single budget of the ``naive_length`` baseline (not in the paper).
            Default 176 = (96 + 256) / 2, the midpoint of the paper's easy and hard budgets, so
            the naive baseline is neither stricter than the easy nor looser than the hard budget.
        difficulty_source: ``"annotation"`` (default, the paper: each sample's difficulty from the
            dataset or a difficulty file) or ``"online"`` (an extension beyond the paper: the
            difficulty of every rollout is :func:`passrate_difficulty` of its rollout group's pass
            rate, see :func:`online_difficulties`; needs the group of each response, so only the
            batch functions support it).

    The field's length rewards (the ``REWARDS`` beyond PixelThink's; lengths L are in ``length_mode``
    units unless said otherwise; "hit" = the ``iou`` accuracy term, the correctness of a rollout):
        l1_alpha_exact: L1-Exact's alpha (arXiv 2503.04697 eq. 1: 0.0003).
        l1_alpha_max, l1_delta: L1-Max's alpha and delta (eq. 2: 0.01 and 0.5).
        overlong_max_length, overlong_buffer, overlong_penalty_factor: DAPO's soft overlong punishment
            (arXiv 2503.14476 eq. 13): L_max (tokens of the whole completion; must equal the trainer's
            maximum completion length), L_cache (verl's ``overlong_buffer.len``) and verl's
            ``overlong_buffer.penalty_factor``. Defaults: 1300 (the authors' max response length)
            and 260 (DAPO's 4096 / 20480 = 0.2 of it).
        thinkprune_limit: ThinkPrune's hard length limit (arXiv 2504.01296: over the limit the reward
            is 0). With ``thinkprune_round_steps`` > 0 the limit in force at training step s is
            ``max(thinkprune_limit_min, thinkprune_limit - thinkprune_decrement * floor(s / round_steps))``
            (the paper's rounds 4k -> 3k -> 2k, as one run); 0 = a fixed limit.
        shorterbetter_beta: ShorterBetter's beta (arXiv 2504.21370: 0.001).
        group_length_weight: weight of Kimi k1.5's length reward (arXiv 2501.12599, section 2.3.3).
        no_think_bonus: AdaptThink's delta (arXiv 2505.13417 eq. 7: 0.05 on a 0..1 accuracy), in
            this module's 0..5 accuracy units (default 0.25 = 5 x 0.05).
        no_think_bonus_needs_hit: the bonus only for hits (the issue's "correct answers without
            thinking"); False = every empty-think response, as AdaptThink's objective.
        dr2seg_gamma, dr2seg_anchor, dr2seg_weight: DR²Seg's gamma and N0 (arXiv 2601.09981; their
            values are not public: documented guesses) and the weight of the length self-reward.
        dr2seg_second_stage: where N2 comes from: ``given`` (per rollout, from the rollout: a
            ``second_length`` column / rollout key / extra info) or ``group_mean`` (a one-stage
            stand-in: the mean length of the rollout's group; not DR²Seg's second stage).
    """

    tau_hard: float = 5.0
    tau_medium: float = 3.5
    budget_hard: float = 256
    uncertainty_scale: float = 25
    budget_easy: float = 96
    beta: float = 1 / 500
    iou_threshold: float = 0.5
    box_l1_threshold: float = 10
    point_l1_threshold: float = 100
    length_mode: str = "words"
    default_difficulty: float = 3.0
    budget_uniform: float = 176
    difficulty_source: str = "annotation"
    # --- the field's length rewards (docs/METHODS.md; each variant's docstring cites its equation) ---
    l1_alpha_exact: float = 0.0003
    l1_alpha_max: float = 0.01
    l1_delta: float = 0.5
    overlong_max_length: float = 1300
    overlong_buffer: float = 260
    overlong_penalty_factor: float = 1.0
    thinkprune_limit: float = 256
    thinkprune_limit_min: float = 1
    thinkprune_decrement: float = 0
    thinkprune_round_steps: float = 0
    shorterbetter_beta: float = 0.001
    group_length_weight: float = 1.0
    no_think_bonus: float = 0.25
    no_think_bonus_needs_hit: bool = True
    dr2seg_gamma: float = 0.01
    dr2seg_anchor: float = 96
    dr2seg_weight: float = 1.0
    dr2seg_second_stage: str = "given"

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in _NON_NUMERIC:
                if f.name in _BOOLEAN and not isinstance(getattr(self, f.name), bool):
                    raise ValueError(
                        f"RewardConfig.{f.name} must be true or false, got {getattr(self, f.name)!r}"
                    )
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"RewardConfig.{f.name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"RewardConfig.{f.name} must be finite, got {value!r}")
        for name in _NON_NEGATIVE:
            if getattr(self, name) < 0:
                raise ValueError(f"RewardConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"RewardConfig.{name} must be > 0 (a length budget), got {getattr(self, name)!r}"
                )
        lo, hi = _DIFFICULTY_SCALE
        if not lo <= self.default_difficulty <= hi:
            raise ValueError(
                f"RewardConfig.default_difficulty must be in [{lo:g}, {hi:g}] (the difficulty scale), "
                f"got {self.default_difficulty!r}"
            )
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise ValueError(f"RewardConfig.iou_threshold must be in [0, 1], got {self.iou_threshold!r}")
        if self.tau_hard < self.tau_medium:
            raise ValueError(
                f"RewardConfig.tau_hard ({self.tau_hard}) must be >= RewardConfig.tau_medium ({self.tau_medium})"
            )
        mode = _LENGTH_MODE_ALIASES.get(self.length_mode, self.length_mode)
        if mode not in LENGTH_MODES:
            raise ValueError(
                f"RewardConfig.length_mode must be one of {list(LENGTH_MODES)}, got {self.length_mode!r}"
            )
        object.__setattr__(self, "length_mode", mode)
        if self.difficulty_source not in DIFFICULTY_SOURCES:
            raise ValueError(
                f"RewardConfig.difficulty_source must be one of {list(DIFFICULTY_SOURCES)}, "
                f"got {self.difficulty_source!r}"
            )
        if self.overlong_buffer > self.overlong_max_length:
            raise ValueError(
                f"RewardConfig.overlong_buffer ({self.overlong_buffer}) must be <= overlong_max_length "
                f"({self.overlong_max_length})"
            )
        if self.dr2seg_second_stage not in DR2SEG_SECOND_STAGES:
            raise ValueError(
                f"RewardConfig.dr2seg_second_stage must be one of {list(DR2SEG_SECOND_STAGES)}, "
                f"got {self.dr2seg_second_stage!r}"
            )

    @staticmethod
    def field_name(key: str) -> str:
        """The field a settings key names: the key itself, or the field an authors' alias stands for."""
        return _AUTHOR_PARAM_ALIASES.get(key, key)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, where: str | None = None) -> RewardConfig:
        """Build from a mapping: the one parser of reward settings (a recipe's ``reward:`` section,
        verl's ``reward_kwargs``). Unknown keys raise ValueError.

        The authors' ``PixelThinkRewardParams`` names (``hard_difficulty_threshold``, ...) and length
        modes (``reward_word_tokens``, ...) are accepted as aliases. A string that reads as a number is
        one for a numeric field (YAML 1.1 reads ``1e-6``, without a dot, as a string). ``where`` starts
        every error message (``"r.yaml: reward"`` -> ``"r.yaml: reward.tau_hrad: unknown field ..."``;
        default ``RewardConfig``).
        """
        prefix = where or "RewardConfig"
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError(f"{prefix}: expected a mapping, got {type(data).__name__}")
        valid = [f.name for f in fields(cls)]
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = cls.field_name(key)
            if name not in valid:
                close = difflib.get_close_matches(str(key), [*valid, *_AUTHOR_PARAM_ALIASES], n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"{prefix}.{key}: unknown field {key!r}{hint}; valid fields: {sorted(valid)}"
                )
            if name in kwargs:
                raise ValueError(f"{prefix}.{key}: field {name!r} given twice (via {key!r})")
            kwargs[name] = _number_from_text(value) if name not in _NON_NUMERIC else value
        try:
            return cls(**kwargs)
        except ValueError as exc:
            if where is None:
                raise
            raise ValueError(f"{where}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (round-trips through :meth:`from_dict`)."""
        return asdict(self)


DEFAULT_CONFIG = RewardConfig()

# --------------------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------------------


def _gt_int(v: object, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"ground truth {what} must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v) or v < 0:
        raise ValueError(
            f"ground truth {what} must be a finite, non-negative model-frame pixel value, got {v!r}"
        )
    return math.floor(v + 0.5)


def _values(x: object) -> list[Any] | None:
    """Items of a list / tuple / numpy array (not of a string or a mapping); None otherwise."""
    if isinstance(x, str | bytes | Mapping) or not hasattr(x, "__iter__") or not hasattr(x, "__len__"):
        return None
    return list(x)  # type: ignore[call-overload]


def format_ground_truth(box: Box | Sequence[float], points: Sequence[Point | Sequence[float]]) -> str:
    """Seg-Zero's ground-truth string, in the **model** frame.

    ``<box>(x1,y1),(x2,y2)</box><points>(x,y),(x,y)</points>``: integers, no spaces. Values are
    rounded half up (``floor(v + 0.5)``, Seg-Zero's ``int(v + 0.5)`` for non-negative v).

    Args:
        box: XYXY box in the model frame.
        points: exactly two (x, y) points in the model frame.

    Raises:
        ValueError: wrong number of values, negative or non-finite values.
    """
    box_values = _values(box)
    if box_values is None or len(box_values) != 4:
        raise ValueError(f"format_ground_truth: box must have 4 values (x1, y1, x2, y2), got {box!r}")
    point_list = _values(points)
    if point_list is None or len(point_list) != 2:
        raise ValueError(f"format_ground_truth: exactly 2 points are needed, got {points!r}")
    b = [_gt_int(v, f"box[{i}]") for i, v in enumerate(box_values)]
    pts: list[int] = []
    for i, p in enumerate(point_list):
        xy = _values(p)
        if xy is None or len(xy) != 2:
            raise ValueError(f"format_ground_truth: point {i} must be (x, y), got {p!r}")
        pts.extend(_gt_int(v, f"points[{i}][{j}]") for j, v in enumerate(xy))
    return (
        f"<box>({b[0]},{b[1]}),({b[2]},{b[3]})</box><points>({pts[0]},{pts[1]}),({pts[2]},{pts[3]})</points>"
    )


def ground_truth_string(ground_truth: object) -> str:
    """The ground truth as Seg-Zero's string (model frame).

    Accepted forms:

    * a ``str``: returned unchanged (parsed later with the authors' regexes; a string that does
      not parse makes the GT-dependent terms 0, as in the authors' code);
    * a mapping with ``"bbox"`` (4 values) and ``"points"`` (2 points) or ``"points_1"`` /
      ``"points_2"``;
    * an object with ``.bbox`` and ``.points`` attributes (e.g. a benchmark sample whose box and
      points were mapped to the model frame).

    Structured ground truth is formatted with :func:`format_ground_truth`; with fewer than two
    points only the ``<box>`` part is written (the point term is then 0).

    Raises:
        ValueError: for other types or malformed structured values (data errors, not model errors).
    """
    if isinstance(ground_truth, str):
        return ground_truth
    if isinstance(ground_truth, Mapping):
        box = ground_truth.get("bbox")
        if "points" in ground_truth:
            points = ground_truth["points"]
        elif "points_1" in ground_truth or "points_2" in ground_truth:
            points = [
                p for p in (ground_truth.get("points_1"), ground_truth.get("points_2")) if p is not None
            ]
        else:
            points = []
    elif hasattr(ground_truth, "bbox") and hasattr(ground_truth, "points"):
        box = ground_truth.bbox  # type: ignore[attr-defined]
        points = ground_truth.points  # type: ignore[attr-defined]
    else:
        raise ValueError(
            "ground truth must be a Seg-Zero string, a mapping with 'bbox' and 'points', or an object with "
            f".bbox/.points; got {type(ground_truth).__name__}: {ground_truth!r:.200}"
        )
    if box is None:
        raise ValueError(f"structured ground truth has no 'bbox': {ground_truth!r:.200}")
    points = _values(points) if points is not None else []
    if points is None:
        raise ValueError(
            f"structured ground truth: 'points' must be a list of (x, y), got {ground_truth!r:.200}"
        )
    if len(points) == 2:
        return format_ground_truth(box, points)
    if len(points) > 2:
        raise ValueError(f"structured ground truth has {len(points)} points, expected 2")
    full = format_ground_truth(box, [(0, 0), (0, 0)])
    return full[: full.index("<points>")]


def _parse_gt(gt: str) -> tuple[list[int] | None, list[list[int]] | None]:
    m = _GT_BOX_RE.search(gt.strip())
    box = [int(m.group(i)) for i in range(1, 5)] if m else None
    m = _GT_POINTS_RE.search(gt)
    points = [[int(m.group(1)), int(m.group(2))], [int(m.group(3)), int(m.group(4))]] if m else None
    return box, points


# --------------------------------------------------------------------------------------------------
# Accuracy terms
# --------------------------------------------------------------------------------------------------

_ARITHMETIC_ERRORS = (ZeroDivisionError, OverflowError, ValueError)


def _is_real(v: object) -> bool:
    # JSON gives int, float or bool for numbers/booleans; the authors' arithmetic accepts all
    # three (True == 1) and fails with TypeError on anything else.
    return isinstance(v, int | float)


def _real_list(v: object, n: int) -> bool:
    return isinstance(v, list) and len(v) == n and all(_is_real(x) for x in v)


def _box_iou(pred: list[Any], gt: list[int]) -> float:
    """The authors' integer-pixel IoU (+1 on widths/heights), same operations in the same order."""
    ix1 = max(pred[0], gt[0])
    iy1 = max(pred[1], gt[1])
    ix2 = min(pred[2], gt[2])
    iy2 = min(pred[3], gt[3])
    inter = (ix2 - ix1 + 1) * (iy2 - iy1 + 1) if (ix1 < ix2 and iy1 < iy2) else 0
    area_pred = (pred[2] - pred[0] + 1) * (pred[3] - pred[1] + 1)
    area_gt = (gt[2] - gt[0] + 1) * (gt[3] - gt[1] + 1)
    return float(inter) / (area_pred + area_gt - inter)


def box_iou(pred: Sequence[float], gt: Sequence[float]) -> float:
    """Box IoU (XYXY pixels) in the reward's convention: the ``iou`` term's integer-pixel IoU (+1 on
    widths and heights). The one box IoU of the project: a box "hits" a shape when this is > 0.5.

    A box with swapped corners (x2 < x1 or y2 < y1, as a model may write one) has a negative "area" in
    that formula, so the union can be zero or negative: then this is 0.0, as the reward's ``iou`` term
    scores such a box (the authors' ``try/except`` around the same arithmetic), never an error."""
    try:
        iou = _box_iou(list(pred), list(gt))  # type: ignore[arg-type]
    except ZeroDivisionError:
        return 0.0
    return max(iou, 0.0)  # a negative union with no intersection gives -0.0


def _box_l1(pred: list[Any], gt: list[int]) -> float:
    return (abs(pred[0] - gt[0]) + abs(pred[1] - gt[1]) + abs(pred[2] - gt[2]) + abs(pred[3] - gt[3])) / 4


def _in_box(p: list[int], box: list[Any]) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def _matched_point_distance(pred: list[list[int]], gt: list[list[int]]) -> float:
    """Mean distance of the better of the two pairings (the authors' sqrt of integer squares)."""
    straight = math.sqrt((pred[0][0] - gt[0][0]) ** 2 + (pred[0][1] - gt[0][1]) ** 2) + math.sqrt(
        (pred[1][0] - gt[1][0]) ** 2 + (pred[1][1] - gt[1][1]) ** 2
    )
    crossed = math.sqrt((pred[0][0] - gt[1][0]) ** 2 + (pred[0][1] - gt[1][1]) ** 2) + math.sqrt(
        (pred[1][0] - gt[0][0]) ** 2 + (pred[1][1] - gt[0][1]) ** 2
    )
    return min(straight, crossed) / 2


def _int_point(v: object) -> list[int]:
    # The authors' ``[int(p[0]), int(p[1])]``: works on longer lists and on digit strings
    # ("12" -> [1, 2]) too; raises TypeError / ValueError / KeyError / IndexError / OverflowError.
    return [int(v[0]), int(v[1])]  # type: ignore[index]


def _accuracy(
    response: object, ground_truth: object, config: RewardConfig
) -> tuple[dict[str, float], list[str]]:
    """The five terms and, for every 0 term, the reason."""
    terms = dict.fromkeys(TERM_NAMES, 0.0)
    notes: list[str] = []
    gt_text = ground_truth_string(ground_truth)
    if not isinstance(response, str):
        notes.append(f"response is not a string ({type(response).__name__}); all terms 0")
        return terms, notes

    # 1. thinking format
    if is_thinking_format(response):
        terms["thinking_format"] = 1.0
    else:
        notes.append("thinking_format: response is not exactly <think>...</think> <answer>...</answer>")

    # the answer object (shared by terms 2-5)
    data: dict[str, Any] | None = None
    span = json_object_span(response)
    if span is None:
        notes.append("answer: no '{...}' object found")
    else:
        try:
            data = json.loads(response[span[0] : span[1]])
        except (ValueError, RecursionError) as exc:
            notes.append(f"answer: first '{{...}}' is not valid JSON ({type(exc).__name__})")

    # 2. answer format (keys and list lengths only)
    if data is not None:
        bad = [k for k in ("bbox", "points_1", "points_2") if k not in data]
        if bad:
            notes.append(f"answer_format: missing key(s) {bad}")
        elif not (isinstance(data["bbox"], list) and len(data["bbox"]) == 4):
            notes.append("answer_format: 'bbox' is not a list of 4")
        elif not all(isinstance(data[k], list) and len(data[k]) == 2 for k in ("points_1", "points_2")):
            notes.append("answer_format: 'points_1'/'points_2' are not lists of 2")
        else:
            terms["answer_format"] = 1.0

    gt_box, gt_points = _parse_gt(gt_text)
    if gt_box is None:
        notes.append("ground truth: no '<box>(x1,y1),(x2,y2)</box>'; iou and box_l1 are 0")
    if gt_points is None:
        notes.append("ground truth: no '<points>(x,y),(x,y)</points>'; point_l1 is 0")
    if data is None:
        return terms, notes
    pred_box = data.get("bbox")
    box_ok = _real_list(pred_box, 4)
    if not box_ok:
        notes.append(f"bbox: not a list of 4 numbers ({pred_box!r:.80}); iou, box_l1 and point_l1 are 0")

    # 3. IoU and 4. box L1
    if box_ok and gt_box is not None:
        try:
            if _box_iou(pred_box, gt_box) > config.iou_threshold:  # type: ignore[arg-type]
                terms["iou"] = 1.0
        except _ARITHMETIC_ERRORS as exc:
            notes.append(f"iou: {type(exc).__name__}: {exc}")
        try:
            if _box_l1(pred_box, gt_box) < config.box_l1_threshold:  # type: ignore[arg-type]
                terms["box_l1"] = 1.0
        except _ARITHMETIC_ERRORS as exc:
            notes.append(f"box_l1: {type(exc).__name__}: {exc}")

    # 5. points: int-truncated, inside the predicted box, mean matched distance
    if box_ok and gt_points is not None:
        try:
            p1 = _int_point(data["points_1"])
            p2 = _int_point(data["points_2"])
        except (KeyError, IndexError, TypeError, ValueError, OverflowError) as exc:
            notes.append(f"point_l1: points not usable ({type(exc).__name__}: {exc})")
        else:
            if not (_in_box(p1, pred_box) and _in_box(p2, pred_box)):  # type: ignore[arg-type]
                notes.append("point_l1: a point lies outside the predicted box")
            else:
                try:
                    if _matched_point_distance([p1, p2], gt_points) < config.point_l1_threshold:
                        terms["point_l1"] = 1.0
                except _ARITHMETIC_ERRORS as exc:
                    notes.append(f"point_l1: {type(exc).__name__}: {exc}")
    return terms, notes


def accuracy_terms(
    response: str, ground_truth: object, config: RewardConfig = DEFAULT_CONFIG
) -> dict[str, float]:
    """The five binary accuracy terms (0.0 / 1.0).

    Args:
        response: decoded model output (coordinates in the model frame).
        ground_truth: Seg-Zero GT string or structured GT, **model** frame (:func:`ground_truth_string`).

    Returns:
        ``{"thinking_format", "answer_format", "iou", "box_l1", "point_l1"}`` -> 0.0 or 1.0.
    """
    return _accuracy(response, ground_truth, config)[0]


def accuracy_reward(response: str, ground_truth: object, config: RewardConfig = DEFAULT_CONFIG) -> float:
    """Sum of the five accuracy terms, in [0, 5] (the Seg-Zero reward)."""
    terms = accuracy_terms(response, ground_truth, config)
    return sum(terms[k] for k in TERM_NAMES)


# --------------------------------------------------------------------------------------------------
# Length
# --------------------------------------------------------------------------------------------------


class _Tokenizer(Protocol):  # pragma: no cover - typing only
    def __call__(self, text: str, **kwargs: Any) -> Any: ...


def _token_count(tokenizer: Any, text: str) -> int:
    # The authors call tokenizer(text, add_special_tokens=False)["input_ids"] and fall back to
    # tokenizer(text) when the tokenizer does not take the keyword.
    try:
        encoded = tokenizer(text, add_special_tokens=False)
    except TypeError:
        encoded = tokenizer(text)
    ids = encoded["input_ids"] if isinstance(encoded, Mapping) or hasattr(encoded, "keys") else encoded
    return len(ids)


def response_length(response: str, config: RewardConfig = DEFAULT_CONFIG, tokenizer: Any = None) -> int:
    """Length L used by the length score.

    * ``words``: ``len(response.split())``, the whitespace-separated words of the whole response
      (think, answer and JSON included), exactly as the authors count.
    * ``reasoning_tokens``: number of tokenizer tokens (``add_special_tokens=False``) of the
      stripped text of the first *complete* ``<think>...</think>`` block; 0 when there is none
      (as in the authors' code: an unterminated think block counts 0).

    Raises:
        ValueError: ``reasoning_tokens`` mode without a tokenizer.
    """
    if not isinstance(response, str) or not response:
        return 0
    if config.length_mode == "words":
        return len(response.split())
    if tokenizer is None:
        raise ValueError("RewardConfig.length_mode='reasoning_tokens' needs a tokenizer (pass tokenizer=...)")
    reasoning = extract_think(response)
    if not reasoning:
        return 0
    return _token_count(tokenizer, reasoning)


def _difficulty(difficulty: object, config: RewardConfig) -> float:
    if difficulty is None:
        return float(config.default_difficulty)
    try:
        d = float(difficulty)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"difficulty must be a number or None, got {difficulty!r}") from exc
    if math.isnan(d):
        raise ValueError("difficulty is NaN; pass None for a missing difficulty")
    return d


def _uncertainty(uncertainty: object) -> float:
    if uncertainty is None:
        return 0.0
    try:
        u = float(uncertainty)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"uncertainty must be a number or None, got {uncertainty!r}") from exc
    if not math.isfinite(u):
        raise ValueError(f"uncertainty must be finite, got {u!r}; pass None when it is unknown")
    return u


def length_budget(
    difficulty: float | None, uncertainty: float | None, config: RewardConfig = DEFAULT_CONFIG
) -> float | None:
    """PixelThink's length budget (None = no length penalty).

    D >= tau_hard: ``budget_hard + uncertainty_scale * U``; tau_medium <= D < tau_hard: None;
    D < tau_medium: ``budget_easy``. ``difficulty=None`` uses ``config.default_difficulty``;
    ``uncertainty=None`` means 0.0 (the authors' reward-manager fallback).
    """
    d = _difficulty(difficulty, config)
    if d >= config.tau_hard:
        return config.budget_hard + config.uncertainty_scale * _uncertainty(uncertainty)
    if d >= config.tau_medium:
        return None
    return config.budget_easy


def length_score(length: float, budget: float | None, config: RewardConfig = DEFAULT_CONFIG) -> float:
    """Soft length penalty in [0, 1]: 1 within the budget, then decreasing by ``beta`` per unit."""
    if budget is None:
        return 1.0
    delta = length - budget
    step = -config.beta * delta if delta > 0 else config.beta * abs(delta)
    return max(0.0, min(1.0, 1 + step))


def difficulty_bucket(difficulty: float | None, config: RewardConfig = DEFAULT_CONFIG) -> str:
    """``"easy"`` (D < tau_medium), ``"medium"``, ``"hard"`` (D >= tau_hard) or ``"unrated"`` (None/NaN).

    For evaluation: a missing difficulty is ``"unrated"`` here, while the reward uses
    ``config.default_difficulty``.
    """
    if difficulty is None:
        return "unrated"
    d = float(difficulty)
    if math.isnan(d):
        return "unrated"
    if d >= config.tau_hard:
        return "hard"
    if d >= config.tau_medium:
        return "medium"
    return "easy"


def passrate_difficulty(pass_rate: float) -> float:
    """Difficulty 1..10 of a sample a model solves with probability ``pass_rate``: ``1 + 9 * (1 - p)``.

    Not in the paper (whose difficulty comes from a 72B judge): difficulty as the model itself
    experiences it. A sample every attempt solves is 1 (easy), one no attempt solves is 10 (hard). With
    the paper's thresholds a pass rate above 13/18 (0.722) is easy (D < 3.5), 5/9 (0.556) or below is
    hard (D >= 5.0), in between medium; with 8 rollouts: 6-8 hits easy, 5 medium, 0-4 hard.
    Used by ``pixelthink annotate difficulty --method passrate`` and by ``difficulty_source: online``.

    Raises:
        ValueError: ``pass_rate`` outside [0, 1] or not finite.
    """
    p = float(pass_rate)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"pass rate must be in [0, 1], got {pass_rate!r}")
    return 1.0 + 9.0 * (1.0 - p)


def online_difficulties(
    responses: Sequence[str],
    ground_truths: Sequence[object],
    groups: Sequence[Any],
    config: RewardConfig = DEFAULT_CONFIG,
) -> list[float]:
    """Per response, the difficulty of its rollout group: :func:`passrate_difficulty` of the group's pass rate.

    A response passes when its ``iou`` accuracy term is 1 (box IoU > ``config.iou_threshold`` against
    the ground truth, the hit of :func:`accuracy_terms`). Responses with equal ``groups[i]`` (e.g. the
    prompt id: GRPO's rollouts of one prompt) form a group; its pass rate is the mean over the group's
    responses in this call.

    Raises:
        ValueError: lists of different lengths.
    """
    n = len(responses)
    if len(ground_truths) != n or len(groups) != n:
        raise ValueError(
            f"online_difficulties: {n} responses, {len(ground_truths)} ground truths and {len(groups)} groups"
        )
    hits = [accuracy_terms(r, g, config)["iou"] for r, g in zip(responses, ground_truths, strict=True)]
    members: dict[Any, list[float]] = {}
    for group, hit in zip(groups, hits, strict=True):
        members.setdefault(group, []).append(hit)
    rate = {group: sum(h) / len(h) for group, h in members.items()}
    return [passrate_difficulty(rate[group]) for group in groups]


# --------------------------------------------------------------------------------------------------
# Reward variants
# --------------------------------------------------------------------------------------------------

RewardFn = Callable[..., float]
"""``fn(response, ground_truth, difficulty, uncertainty, config=RewardConfig(), tokenizer=None) -> float``."""

BreakdownFn = Callable[..., dict[str, Any]]

_BUDGET_RULES: dict[str, Callable[[float | None, float | None, RewardConfig], float | None] | None] = {
    "pixelthink": length_budget,
    "segzero": None,
    "naive_length": lambda d, u, c: c.budget_uniform,
    "difficulty_only": lambda d, u, c: length_budget(d, 0.0, c),
    "uncertainty_only": lambda d, u, c: c.budget_hard + c.uncertainty_scale * _uncertainty(u),
}


def l1_exact_reward(accuracy: float, length: float, target: float, alpha: float) -> float:
    """L1-Exact (LCPO, Aggarwal & Welleck, arXiv 2503.04697, eq. 1): ``r = I(y = y_gold) - alpha |n_gold - n_y|``.

    ``I(y = y_gold)`` is this module's accuracy (0..5, the Seg-Zero sum), ``n_gold`` the target length
    written in the prompt, ``n_y`` the response's length.
    """
    return accuracy - alpha * abs(target - length)


def l1_max_reward(accuracy: float, length: float, target: float, alpha: float, delta: float) -> float:
    """L1-Max (arXiv 2503.04697, eq. 2): ``r = I(y = y_gold) * clip(alpha (n_gold - n_y) + delta, 0, 1)``."""
    return accuracy * min(1.0, max(0.0, alpha * (target - length) + delta))


def overlong_penalty(num_tokens: float, max_length: float, buffer: float, factor: float = 1.0) -> float:
    """DAPO's soft overlong punishment (arXiv 2503.14476, eq. 13) with verl's ``overlong_buffer_cfg`` semantics.

    verl (``reward_manager=dapo``): ``expected = max_resp_len - buffer.len``,
    ``min(-(L - expected) / buffer.len * penalty_factor, 0)``: 0 up to ``L_max - L_cache``, then linear
    down to ``-factor`` at ``L_max`` (and on below it past ``L_max``, which a trainer never produces;
    TRL's ``get_soft_overlong_punishment`` is -1 there). L counts the completion's tokens.
    """
    return min(-(num_tokens - (max_length - buffer)) / buffer * factor, 0.0)


def thinkprune_limit_at(step: int | None, config: RewardConfig = DEFAULT_CONFIG) -> float:
    """ThinkPrune's length limit in force at training step ``step`` (None: the initial limit)."""
    limit = config.thinkprune_limit
    if step is None or config.thinkprune_round_steps <= 0 or config.thinkprune_decrement <= 0:
        return limit
    rounds = math.floor(int(step) / config.thinkprune_round_steps)
    return max(config.thinkprune_limit_min, limit - config.thinkprune_decrement * rounds)


def shorterbetter_target(lengths: Sequence[float], hits: Sequence[float]) -> float:
    """ShorterBetter's Sample Optimal Length (arXiv 2504.21370, eq. 3): the length of the group's shortest
    correct response; the group's mean length when none is correct."""
    correct = [length for length, hit in zip(lengths, hits, strict=True) if hit]
    return float(min(correct)) if correct else float(sum(lengths)) / len(lengths)


def group_length_rewards(lengths: Sequence[float], hits: Sequence[float]) -> list[float]:
    """Kimi k1.5's length reward (arXiv 2501.12599, section 2.3.3) of every response of one group.

    ``lambda = 0.5 - (len(i) - min_len) / (max_len - min_len)``; ``lambda`` for a correct response,
    ``min(0, lambda)`` for a wrong one. When every length is equal (``max_len == min_len``) the
    fraction is 0/0: every response gets 0 (no length signal).
    """
    lo, hi = min(lengths), max(lengths)
    out = []
    for length, hit in zip(lengths, hits, strict=True):
        lam = 0.0 if hi == lo else 0.5 - (length - lo) / (hi - lo)
        out.append(lam if hit else min(0.0, lam))
    return out


def dr2seg_length_reward(n1: float, n2: float, n0: float, gamma: float) -> float:
    """DR²Seg's length self-reward (arXiv 2601.09981): ``clip(1[N2 < N1] - gamma * max(0, N1 - N0), 0, 1)``.

    N1: the first-stage rollout's reasoning length, N2: the second stage's, N0: the length anchor.
    """
    return min(1.0, max(0.0, (1.0 if n2 < n1 else 0.0) - gamma * max(0.0, n1 - n0)))


def l1_target_length(sample_id: str, low: int, high: int, seed: int = 0) -> int:
    """The L1 target length of a sample: uniform in [low, high] (inclusive), fixed by (seed, sample id).

    L1 samples the target uniformly per training example (arXiv 2503.04697, section 3: n_gold ~ U(100,
    4000) tokens); here it is a function of the sample id so that the TRL dataset, the verl converter and
    a re-run agree, whatever the order of the rows.
    """
    if not 0 < low <= high:
        raise ValueError(f"target length range must satisfy 0 < low <= high, got [{low}, {high}]")
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low + 1)


def _empty_think(response: object) -> bool:
    """The response opens with a think block that holds only whitespace (AdaptThink's NoThinking mode)."""
    if not isinstance(response, str):
        return False
    think = extract_think(response)
    return think is not None and think == "" and response.lstrip().startswith("<think>")


_ROLLOUT_EXTRAS = ("target_length", "num_tokens", "truncated", "second_length")


def _shape(name: str, b: dict[str, Any], response: object, config: RewardConfig, ex: dict[str, Any]) -> None:
    """Set ``b["reward"]`` (and what the variant logs) for the per-sample variants of the field."""
    acc, length = b["accuracy"], b["length"]
    if name in ("l1_exact", "l1_max"):
        target = ex.get("target_length")
        if target is None:
            raise ValueError(
                f"reward {name!r} needs the target length of each sample (the 'target_length' column / "
                "extra_info key that the prompt states; set data.target_length in the recipe)"
            )
        b["target_length"] = float(target)
        if name == "l1_exact":
            b["reward"] = l1_exact_reward(acc, length, float(target), config.l1_alpha_exact)
        else:
            b["reward"] = l1_max_reward(acc, length, float(target), config.l1_alpha_max, config.l1_delta)
    elif name == "dapo_overlong":
        tokens = ex.get("num_tokens")
        if tokens is None:
            raise ValueError(
                "reward 'dapo_overlong' needs the number of completion tokens of each response (num_tokens)"
            )
        penalty = overlong_penalty(
            tokens, config.overlong_max_length, config.overlong_buffer, config.overlong_penalty_factor
        )
        b["num_tokens"], b["overlong_penalty"] = int(tokens), penalty
        b["reward"] = acc + penalty
    elif name == "thinkprune":
        limit = thinkprune_limit_at(ex.get("step"), config)
        over = length > limit or bool(ex.get("truncated"))
        b["budget"], b["length_score"] = limit, 0.0 if over else 1.0
        b["reward"] = 0.0 if over else acc
    elif name == "think_or_not":
        empty = _empty_think(response)
        earned = empty and (b["iou"] == 1.0 or not config.no_think_bonus_needs_hit)
        b["no_think"] = 1.0 if empty else 0.0
        b["reward"] = acc + (config.no_think_bonus if earned else 0.0)
    elif name == "dr2seg" and ex.get("second_length") is not None:
        _dr2seg(b, float(ex["second_length"]), config)


def _dr2seg(b: dict[str, Any], n2: float, config: RewardConfig) -> None:
    r_len = dr2seg_length_reward(b["length"], n2, config.dr2seg_anchor, config.dr2seg_gamma)
    b["second_length"], b["length_self_reward"] = n2, r_len
    b["reward"] = b["accuracy"] + config.dr2seg_weight * r_len


def _needs_group(name: str, config: RewardConfig, extras: Mapping[str, Any]) -> bool:
    if name in GROUP_REWARDS:
        return True
    return name == "dr2seg" and extras.get("second_length") is None


def _group_error(name: str, config: RewardConfig) -> str:
    if name == "dr2seg" and config.dr2seg_second_stage == "given":
        return (
            "reward 'dr2seg' needs N2, the length of each rollout's second stage (a 'second_length' value from "
            "the rollout), or dr2seg_second_stage=group_mean (a one-stage stand-in scored over rollout groups)"
        )
    return (
        f"reward {name!r} compares the rollouts of one prompt: score whole groups with batch_rewards / "
        "batch_breakdowns(..., groups=...) (TRL's reward function and verl's compute_score_batch do; verl's "
        "per-rollout compute_score and reward manager cannot see the group)"
    )


def reward_breakdown(
    response: str,
    ground_truth: object,
    difficulty: float | None = None,
    uncertainty: float | None = None,
    config: RewardConfig = DEFAULT_CONFIG,
    tokenizer: Any = None,
    *,
    variant: str = "pixelthink",
    length: int | None = None,
    step: int | None = None,
    **rollout: Any,
) -> dict[str, Any]:
    """Every term of a reward variant, for logging.

    Args:
        response: decoded model output.
        ground_truth: GT in the model frame (string or structured, :func:`ground_truth_string`).
        difficulty: 1..10 or None (``config.default_difficulty``).
        uncertainty: U in [0, 1] or None (0.0).
        variant: a name of :data:`REWARDS`.
        length: precomputed length L (skips :func:`response_length`), e.g. a reasoning-token
            count taken from the generated ids.
        step: the training step (ThinkPrune's schedule).
        rollout: what some variants need of the rollout: ``target_length`` (L1: the target stated in
            the prompt), ``num_tokens`` (DAPO: the completion's token count), ``truncated`` (ThinkPrune:
            the generation hit the token limit), ``second_length`` (DR²Seg: N2).

    Returns:
        dict with the five terms, ``accuracy``, ``length`` (int or None when not computed),
        ``budget`` (float or None), ``length_score``, ``reward``, ``difficulty``,
        ``uncertainty``, ``bucket``, ``variant`` and ``notes`` (why each 0 term is 0), plus the
        variant's own terms (``target_length``, ``overlong_penalty``, ``no_think``, ...).

    Raises:
        ValueError: unknown variant or rollout key; a group variant (:data:`GROUP_REWARDS`: score it
            with :func:`batch_breakdowns` and ``groups``); a missing value the variant needs.
    """
    if variant not in _BUDGET_RULES and variant not in _FIELD_DOCS:
        raise ValueError(f"unknown reward {variant!r}; valid names: {sorted(REWARDS)}")
    if _needs_group(variant, config, rollout):
        raise ValueError(_group_error(variant, config))
    return _breakdown(
        response, ground_truth, difficulty, uncertainty, config, tokenizer, variant, length, step, rollout
    )


def _breakdown(
    response: Any,
    ground_truth: object,
    difficulty: Any,
    uncertainty: Any,
    config: RewardConfig,
    tokenizer: Any,
    variant: str,
    length: int | None,
    step: int | None,
    rollout: Mapping[str, Any],
) -> dict[str, Any]:
    unknown = set(rollout) - set(_ROLLOUT_EXTRAS)
    if unknown:
        raise ValueError(
            f"reward_breakdown: unknown rollout value(s) {sorted(unknown)}; known: {list(_ROLLOUT_EXTRAS)}"
        )
    if config.difficulty_source != "annotation":
        raise ValueError(
            f"RewardConfig.difficulty_source={config.difficulty_source!r} sets the difficulty from the rollout "
            "group: score whole groups with batch_rewards / batch_breakdowns(..., groups=...)"
        )
    d = None if difficulty is None else _difficulty(difficulty, config)  # validated for every variant
    u = None if uncertainty is None else _uncertainty(uncertainty)
    terms, notes = _accuracy(response, ground_truth, config)
    accuracy = sum(terms[k] for k in TERM_NAMES)
    rule = _BUDGET_RULES.get(variant)
    budget = rule(d, u, config) if rule is not None else None
    field_variant = variant in _FIELD_DOCS
    if length is None and (
        budget is not None or field_variant or config.length_mode == "words" or tokenizer is not None
    ):
        length = response_length(response, config, tokenizer)
    score = length_score(length if length is not None else 0, budget, config)
    b = {
        **terms,
        "accuracy": accuracy,
        "length": length,
        "budget": budget,
        "length_score": score,
        "reward": accuracy * score,
        "difficulty": d,
        "uncertainty": u,
        "bucket": difficulty_bucket(d, config),
        "variant": variant,
        "notes": notes,
    }
    if field_variant:
        _shape(variant, b, response, config, {**rollout, "step": step})
    return b


def _variant_functions(name: str, doc: str) -> tuple[RewardFn, BreakdownFn]:
    """The reward and the breakdown function of variant ``name`` (one body for every variant)."""

    def breakdown(
        response: str,
        ground_truth: object,
        difficulty: float | None = None,
        uncertainty: float | None = None,
        config: RewardConfig = DEFAULT_CONFIG,
        tokenizer: Any = None,
        *,
        length: int | None = None,
        step: int | None = None,
        **rollout: Any,
    ) -> dict[str, Any]:
        return reward_breakdown(
            response,
            ground_truth,
            difficulty,
            uncertainty,
            config,
            tokenizer,
            variant=name,
            length=length,
            step=step,
            **rollout,
        )

    def reward(
        response: str,
        ground_truth: object,
        difficulty: float | None = None,
        uncertainty: float | None = None,
        config: RewardConfig = DEFAULT_CONFIG,
        tokenizer: Any = None,
        *,
        length: int | None = None,
        step: int | None = None,
        **rollout: Any,
    ) -> float:
        return breakdown(
            response,
            ground_truth,
            difficulty,
            uncertainty,
            config,
            tokenizer,
            length=length,
            step=step,
            **rollout,
        )["reward"]

    reward.__name__ = reward.__qualname__ = f"{name}_reward"
    reward.__doc__ = doc
    breakdown.__name__ = breakdown.__qualname__ = f"{name}_breakdown"
    breakdown.__doc__ = f"Terms of the {name!r} reward (see :func:`reward_breakdown`)."
    return reward, breakdown


_VARIANT_DOCS: dict[str, str] = {
    "pixelthink": "PixelThink: ``accuracy * length_score(L, length_budget(D, U))``, in [0, 5].",
    "segzero": "Seg-Zero baseline: the accuracy only (difficulty, uncertainty and length are ignored).",
    "naive_length": (
        "Naive length-penalty baseline: one budget ``config.budget_uniform`` (default 176) for every sample."
    ),
    "difficulty_only": (
        "Ablation: PixelThink's difficulty-dependent budget with the uncertainty ignored (U = 0)."
    ),
    "uncertainty_only": """Ablation: difficulty ignored, every sample gets the uncertainty-modulated budget.

    ``B = budget_hard + uncertainty_scale * U`` (the paper's hard-sample formula applied to all
    samples, i.e. PixelThink with every sample treated as hard); U = None counts as 0.
    """,
}

_FIELD_DOCS: dict[str, str] = {
    "l1_exact": """L1-Exact (LCPO, arXiv 2503.04697, eq. 1): ``accuracy - l1_alpha_exact * |target - L|``.

    The target length is stated in the prompt (``data.target_length``) and reaches the reward as the
    ``target_length`` column (TRL) or ``extra_info["target_length"]`` (verl). See :func:`l1_exact_reward`.
    """,
    "l1_max": """L1-Max (arXiv 2503.04697, eq. 2): ``accuracy * clip(l1_alpha_max * (target - L) + l1_delta, 0, 1)``.

    Only the overshoot is penalised (a shorter response keeps its accuracy once ``alpha (target - L) +
    delta >= 1``). See :func:`l1_max_reward`.
    """,
    "dapo_overlong": """DAPO's soft overlong punishment (arXiv 2503.14476, eq. 13) added to the accuracy.

    ``accuracy + overlong_penalty(num_tokens)`` (:func:`overlong_penalty`: 0 up to ``overlong_max_length -
    overlong_buffer`` completion tokens, then linear down to ``-overlong_penalty_factor``). The TRL path
    takes the penalty from ``trl.rewards.get_soft_overlong_punishment``, the verl path from this module
    (verl's ``overlong_buffer_cfg`` semantics); the two agree on every length up to the maximum (tested).
    """,
    "thinkprune": """ThinkPrune (arXiv 2504.01296, section 3): the accuracy, or 0 when the response is over the limit.

    Over the limit: L > :func:`thinkprune_limit_at` (step) or the generation was truncated (hit the token
    limit before its end). The limit tightens over training steps with ``thinkprune_round_steps``.
    """,
    "shorterbetter": """ShorterBetter (arXiv 2504.21370, eq. 4): ``accuracy - shorterbetter_beta * |L - SOL|``.

    SOL (:func:`shorterbetter_target`) is the length of the shortest hit of the rollout's group (the mean
    length when none hits): a group variant. The paper's ``alpha * I(correct)`` is this module's 0..5
    accuracy.
    """,
    "group_length": """Kimi k1.5's group length reward (arXiv 2501.12599, 2.3.3): ``accuracy + w * len_reward``.

    ``len_reward`` (:func:`group_length_rewards`) is min/max-normalised within the rollout's group:
    ``lambda = 0.5 - (L - min) / (max - min)`` for hits, ``min(0, lambda)`` for misses; a group variant.
    """,
    "think_or_not": """AdaptThink (arXiv 2505.13417, eq. 7) / TON (arXiv 2505.16854): thinking is optional.

    An empty think block (``<think></think><answer>...``) is a well-formed answer (it already is for the
    thinking-format term); ``accuracy + no_think_bonus`` when the think block is empty (and, with
    ``no_think_bonus_needs_hit``, the box hits). AdaptThink's ``- R_ref(x)`` term is a per-prompt
    constant, which GRPO's group normalisation removes: not computed.
    """,
    "dr2seg": """DR²Seg (arXiv 2601.09981): ``accuracy + dr2seg_weight * clip(1[N2 < N1] - gamma max(0, N1 - N0), 0, 1)``.

    N1 = L of this (first-stage) rollout, N2 = the length of its second-stage rollout (``second_length``
    from the rollout), N0 = ``dr2seg_anchor``. The trainers' rollout hooks produce one stage; without
    N2, ``dr2seg_second_stage=group_mean`` uses the mean length of the rollout's group instead (a
    documented one-stage stand-in, scored over groups; docs/METHODS.md says what differs).
    """,
}

GROUP_REWARDS: frozenset[str] = frozenset({"shorterbetter", "group_length"})
"""Variants whose reward compares the rollouts of one prompt (need ``groups=`` in the batch functions;
``dr2seg`` too when N2 is not given and ``dr2seg_second_stage == "group_mean"``)."""

BUDGET_REWARDS: tuple[str, ...] = tuple(_VARIANT_DOCS)
"""PixelThink's variants and ablations: ``accuracy * length_score(L, budget)``, in [0, 5]."""

_VARIANTS: dict[str, tuple[RewardFn, BreakdownFn]] = {
    name: _variant_functions(name, doc) for name, doc in {**_VARIANT_DOCS, **_FIELD_DOCS}.items()
}

# Every variant has the signature
# ``fn(response, ground_truth, difficulty=None, uncertainty=None, config=DEFAULT_CONFIG, tokenizer=None,
# *, length=None, step=None, **rollout) -> float`` and returns ``reward_breakdown(..., variant=name)["reward"]``.
pixelthink_reward: RewardFn = _VARIANTS["pixelthink"][0]
segzero_reward: RewardFn = _VARIANTS["segzero"][0]
naive_length_reward: RewardFn = _VARIANTS["naive_length"][0]
difficulty_only_reward: RewardFn = _VARIANTS["difficulty_only"][0]
uncertainty_only_reward: RewardFn = _VARIANTS["uncertainty_only"][0]

REWARDS: dict[str, RewardFn] = {name: fns[0] for name, fns in _VARIANTS.items()}
"""Reward variants by name; all share :func:`pixelthink_reward`'s signature."""

REWARD_BREAKDOWNS: dict[str, BreakdownFn] = {name: fns[1] for name, fns in _VARIANTS.items()}
"""Per-variant breakdown functions (same arguments as the reward, returning :func:`reward_breakdown`'s dict)."""


def get_reward(name: str) -> RewardFn:
    """The reward function registered as ``name``; ValueError listing the valid names otherwise."""
    try:
        return REWARDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown reward {name!r}; valid names: {sorted(REWARDS)}") from None


def get_reward_breakdown(name: str) -> BreakdownFn:
    """The breakdown function of the reward ``name`` (see :data:`REWARD_BREAKDOWNS`)."""
    try:
        return REWARD_BREAKDOWNS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown reward {name!r}; valid names: {sorted(REWARDS)}") from None


def _apply_group(name: str, parts: list[dict[str, Any]], groups: Sequence[Any], config: RewardConfig) -> None:
    """The group variants' rewards, per rollout group (``parts`` hold the accuracy and length of each)."""
    members: dict[Any, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    for idx in members.values():
        lengths = [float(parts[i]["length"]) for i in idx]
        hits = [parts[i]["iou"] for i in idx]
        if name == "shorterbetter":
            sol = shorterbetter_target(lengths, hits)
            for i, length in zip(idx, lengths, strict=True):
                parts[i]["target_length"] = sol
                parts[i]["reward"] = parts[i]["accuracy"] - config.shorterbetter_beta * abs(length - sol)
        elif name == "group_length":
            for i, bonus in zip(idx, group_length_rewards(lengths, hits), strict=True):
                parts[i]["group_length_reward"] = bonus
                parts[i]["reward"] = parts[i]["accuracy"] + config.group_length_weight * bonus
        else:  # dr2seg, group_mean stand-in for N2
            mean = sum(lengths) / len(lengths)
            for i in idx:
                if parts[i].get("second_length") is None:
                    _dr2seg(parts[i], mean, config)


def _column(values: Sequence[Any] | None, n: int, what: str) -> Sequence[Any]:
    if values is None:
        return [None] * n
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"batch_rewards: {what} must be a list (or None), got {type(values).__name__}")
    if len(values) != n:
        raise ValueError(f"batch_rewards: {what} has {len(values)} items but responses has {n}")
    return values


def batch_breakdowns(
    name: str,
    responses: Sequence[str],
    ground_truths: Sequence[object],
    difficulties: Sequence[float | None] | None = None,
    uncertainties: Sequence[float | None] | None = None,
    config: RewardConfig = DEFAULT_CONFIG,
    tokenizer: Any = None,
    *,
    lengths: Sequence[int | None] | None = None,
    groups: Sequence[Any] | None = None,
    step: int | None = None,
    target_lengths: Sequence[float | None] | None = None,
    num_tokens: Sequence[int | None] | None = None,
    truncated: Sequence[bool | None] | None = None,
    second_lengths: Sequence[float | None] | None = None,
) -> list[dict[str, Any]]:
    """:func:`reward_breakdown` for lists of samples (one dict per response).

    With ``config.difficulty_source == "online"`` the ``difficulties`` are ignored and replaced by
    :func:`online_difficulties` over ``groups`` (required then: the rollout group of each response). The
    group variants (:data:`GROUP_REWARDS`, and ``dr2seg`` with ``dr2seg_second_stage=group_mean``) need
    ``groups`` too. ``target_lengths`` / ``num_tokens`` / ``truncated`` / ``second_lengths`` are the
    per-rollout values of :func:`reward_breakdown`'s ``rollout`` keywords; ``step`` the training step.
    """
    get_reward(name)
    if isinstance(responses, str) or not isinstance(responses, Sequence):
        raise ValueError(
            f"batch_rewards: responses must be a list of strings, got {type(responses).__name__}"
        )
    n = len(responses)
    gts = _column(ground_truths, n, "ground_truths")
    ds = _column(difficulties, n, "difficulties")
    us = _column(uncertainties, n, "uncertainties")
    ls = _column(lengths, n, "lengths")
    extras = {
        key: _column(values, n, what)
        for key, values, what in (
            ("target_length", target_lengths, "target_lengths"),
            ("num_tokens", num_tokens, "num_tokens"),
            ("truncated", truncated, "truncated"),
            ("second_length", second_lengths, "second_lengths"),
        )
    }
    grouped = name in GROUP_REWARDS or (name == "dr2seg" and any(v is None for v in extras["second_length"]))
    if name == "dr2seg" and grouped and config.dr2seg_second_stage == "given":
        raise ValueError(_group_error(name, config))
    if groups is None and (grouped or config.difficulty_source == "online"):
        what = (
            "RewardConfig.difficulty_source='online'" if not grouped else f"reward {name!r} (a group variant)"
        )
        raise ValueError(
            f"batch_rewards: {what} needs groups= (the rollout group of each response, e.g. its prompt id)"
        )
    if config.difficulty_source == "online":
        ds = online_difficulties(responses, gts, _column(groups, n, "groups"), config)
        config = replace(config, difficulty_source="annotation")
    parts = [
        _breakdown(
            r,
            g,
            d,
            u,
            config,
            tokenizer,
            name,
            length,
            step,
            {k: v[i] for k, v in extras.items() if v[i] is not None},
        )
        for i, (r, g, d, u, length) in enumerate(zip(responses, gts, ds, us, ls, strict=True))
    ]
    if grouped:
        _apply_group(name, parts, _column(groups, n, "groups"), config)
    return parts


def batch_rewards(
    name: str,
    responses: Sequence[str],
    ground_truths: Sequence[object],
    difficulties: Sequence[float | None] | None = None,
    uncertainties: Sequence[float | None] | None = None,
    config: RewardConfig = DEFAULT_CONFIG,
    tokenizer: Any = None,
    **kwargs: Any,
) -> list[float]:
    """Rewards of variant ``name`` for lists of samples (:func:`batch_breakdowns`' keywords).

    ``difficulties`` / ``uncertainties`` / ``lengths`` may be None (every sample missing); ``groups``
    (the rollout group of each response) is needed when ``config.difficulty_source == "online"`` and by
    the group variants.

    Raises:
        ValueError: unknown name, or a list whose length differs from ``responses``.
    """
    return [
        b["reward"]
        for b in batch_breakdowns(
            name, responses, ground_truths, difficulties, uncertainties, config, tokenizer, **kwargs
        )
    ]
