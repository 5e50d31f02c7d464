"""``evaluate(benchmark, predictions) -> EvalReport``: score a predictions file against a benchmark.

One pass over the benchmark (streaming: one sample and its prediction at a time; masks are compared as
RLEs with pycocotools when the prediction has one, decoded otherwise, and never kept). Per sample:

1. find the prediction by id; a missing one is a failure (reported by id);
2. pick the predicted mask: ``Prediction.mask``; else ``Prediction.bbox`` (original frame) filled as a
   rectangle (``masks.mask_from_box``); else the box of the raw response (``answer.parse_lenient``),
   read in ``response_frame`` (``"auto"``: the prediction's ``meta["model_size"]`` written by the
   pipeline, else 840) and mapped to the original frame with ``frames.FrameTransform``;
   nothing usable (or ``Prediction.error`` set) is a failure;
3. I / U under the convention (``metrics``), reasoning length, uncertainty, judge score, latency;
4. fold everything into the sample's difficulty bucket and into "all" (``EvalAccumulator``).

Shards can be evaluated separately and combined with ``EvalAccumulator.merge``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelthink.answer import extract_think, json_object_span, parse_lenient
from pixelthink.data import Benchmark, Sample
from pixelthink.data.resolve import open_benchmark
from pixelthink.evaluate.chance import SceneBaselines, cache_path, scene_baselines, segmenter_is_weight_free
from pixelthink.evaluate.efficiency import EfficiencyConfig, efficiency_scores
from pixelthink.evaluate.intervals import DEFAULT_RESAMPLES, bootstrap_ci
from pixelthink.evaluate.judges import Judge, get_judge, sample_references
from pixelthink.evaluate.metrics import (
    Convention,
    DistributionStat,
    IoUMetric,
    KeyedMeanStat,
    MeanStat,
    Metric,
    check_convention,
    intersection_union,
    intersection_union_rle,
)
from pixelthink.evaluate.results import BucketResult, EvalReport, SampleResult
from pixelthink.evaluate.shapes import is_shapes_sample, sample_faithfulness
from pixelthink.frames import FrameTransform
from pixelthink.jsonio import is_number, read_json_file
from pixelthink.masks import decode_rle, mask_from_box
from pixelthink.predictions import Prediction, predictions_by_id
from pixelthink.provenance import versions
from pixelthink.rewards import RewardConfig, box_iou, difficulty_bucket

BUCKETS: tuple[str, ...] = ("easy", "medium", "hard", "unrated")
DEFAULT_EFFICIENCY = EfficiencyConfig()
DEFAULT_REWARD_CONFIG = RewardConfig()

ResponseFrame = int | tuple[int, int] | str | None
"""A resolved response frame: an int side, (w, h), None (original frame) or "auto"."""
AUTO_FALLBACK_FRAME = 840


def parse_response_frame(value: str | int | tuple[int, int] | None) -> ResponseFrame:
    """Normalise a response frame: ``None`` / ``"original"`` / ``"native"`` -> ``None`` (identity),
    ``840`` / ``"840"`` -> 840 (a square model frame), ``"1024x768"`` / ``(1024, 768)`` -> (w, h),
    ``"auto"`` -> ``"auto"`` (per prediction: ``meta["model_size"]`` when present, else 840)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if value is None:
        return None
    if isinstance(value, tuple | list):
        if len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value):
            raise ValueError(f"response frame: expected (width, height) positive ints, got {value!r}")
        return (int(value[0]), int(value[1]))
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"response frame: expected a positive resolution, got {value}")
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("original", "native", "none"):
            return None
        m = re.fullmatch(r"(\d+)(?:x(\d+))?", text)
        if m and int(m.group(1)) > 0 and (m.group(2) is None or int(m.group(2)) > 0):
            return int(m.group(1)) if m.group(2) is None else (int(m.group(1)), int(m.group(2)))
    raise ValueError(f"response frame: expected 'original', a resolution like 840, or WxH; got {value!r}")


def response_frame_name(frame: ResponseFrame) -> str:
    """Display name of a response frame: ``"original"``, ``"840"`` or ``"1024x768"``."""
    if frame is None:
        return "original"
    if isinstance(frame, tuple):
        return f"{frame[0]}x{frame[1]}"
    return str(frame)


def prediction_frame(
    pred: Prediction, response_frame: ResponseFrame
) -> tuple[int | tuple[int, int] | None, str]:
    """The frame of ``pred``'s raw response and how it was chosen (``"meta"`` / ``"assumed"``)."""
    if response_frame != "auto":
        return response_frame, "assumed"  # type: ignore[return-value]
    size = pred.meta.get("model_size") if isinstance(pred.meta, Mapping) else None
    if (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and is_number(v) and v > 0 for v in size)
    ):
        return (int(size[0]), int(size[1])), "meta"
    return AUTO_FALLBACK_FRAME, "assumed"


_SEGZERO_THINK_RE = re.compile(r"<think>([^<]+)</think>")


def segzero_parse_problem(response: str) -> str | None:
    """Why Seg-Zero's evaluation extractor would fail on ``response`` (None = it succeeds).

    Mirrors ``extract_bbox_points_think`` of Seg-Zero's ``evaluation_scripts/evaluation.py``: the first
    ``{[^}]+}`` must be JSON with a key containing "bbox" holding 4 ``int()``-able values and at least
    two keys containing "points" holding 2 each, and ``<think>([^<]+)</think>`` must match (a think
    block containing '<' or an empty one fails the whole sample).
    """
    span = json_object_span(response)  # Seg-Zero's first ``{[^}]+}``, in linear time
    if span is None:
        return "no {...} object"
    try:
        data = json.loads(response[span[0] : span[1]])
    except ValueError as exc:
        return f"first {{...}} is not valid JSON ({exc})"
    if not isinstance(data, dict):
        return "first {...} is not an object"
    try:
        bbox_key = next((k for k in data if "bbox" in k.lower()), None)
        if bbox_key is None or len(data[bbox_key]) != 4:
            return "no bbox key with 4 values"
        [int(v) for v in data[bbox_key]]
        point_keys = [k for k in data if "points" in k.lower()][:2]
        if len(point_keys) != 2:
            return "fewer than two points keys"
        for k in point_keys:
            [int(data[k][0]), int(data[k][1])]
    # int() of JSON's Infinity or 1e309 (float('inf')) raises OverflowError
    except (TypeError, ValueError, OverflowError, IndexError, KeyError) as exc:
        return f"bad values ({type(exc).__name__}: {exc})"
    if _SEGZERO_THINK_RE.search(response) is None:
        return "no <think>...</think> without '<' inside"
    return None


def count_tokens(tokenizer: Any, text: str) -> int:
    """Number of tokenizer tokens of ``text`` (no special tokens). Accepts a transformers tokenizer
    (``__call__`` returning ``input_ids`` or ``encode``) or any callable returning a sequence."""
    if not text:
        return 0
    if hasattr(tokenizer, "encode"):
        try:
            return len(tokenizer.encode(text, add_special_tokens=False))
        except TypeError:
            return len(tokenizer.encode(text))
    encoded = tokenizer(text)
    ids = encoded["input_ids"] if isinstance(encoded, Mapping) or hasattr(encoded, "keys") else encoded
    return len(ids)


#: named conventions of the reasoning length (``pixelthink eval --tokens NAME``): papers count "tokens"
#: differently (Seg-Zero-7B: 90.58 in PixelThink's paper, 111.9 in WISE's), so every report names one.
TOKEN_CONVENTIONS: dict[str, str] = {
    "auto": "tokenizer tokens of the think text with --tokenizer, else Prediction.reasoning_tokens (the "
    "reasoner's own tokens inside <think>, counted at generation), else whitespace words of the think text",
    "model": "Prediction.reasoning_tokens: the reasoner's own tokenizer tokens inside <think>, counted at "
    "generation (samples without it are left out)",
    "paper": "whitespace-separated words of the whole response, think, answer and JSON included "
    "(PixelThink's reward length L: len(response.split()))",
    "wise": "tokenizer tokens (add_special_tokens=False) of the text of the first complete <think>...</think>, "
    "stripped; samples with an empty or missing think are left out (WISE's convention)",
}


def check_token_convention(name: str, tokenizer: Any) -> str:
    """``name`` when it is a :data:`TOKEN_CONVENTIONS` key usable with ``tokenizer``; ValueError otherwise."""
    if name not in TOKEN_CONVENTIONS:
        raise ValueError(f"token convention: expected one of {sorted(TOKEN_CONVENTIONS)}, got {name!r}")
    if name == "wise" and tokenizer is None:
        raise ValueError(
            "token convention 'wise' counts tokenizer tokens: give the tokenizer (--tokenizer PATH, "
            "e.g. Qwen2.5-VL-7B-Instruct's, as WISE does)"
        )
    return name


def reasoning_length(
    pred: Prediction, think: str | None, convention: str = "auto", tokenizer: Any = None
) -> tuple[float | None, str | None]:
    """``(length, unit)`` of one prediction's reasoning under a token convention (None = left out).

    Units: ``tokenizer``, ``reasoning_tokens``, ``words`` (of the think text), ``response_words``.
    ``think`` is the parsed think text of ``pred.response`` (used by ``auto``).
    """
    if convention == "model":
        return (
            (None, None)
            if pred.reasoning_tokens is None
            else (float(pred.reasoning_tokens), "reasoning_tokens")
        )
    if convention == "paper":
        return (
            (None, None) if pred.response is None else (float(len(pred.response.split())), "response_words")
        )
    if convention == "wise":
        text = extract_think(pred.response) if pred.response is not None else None
        return (None, None) if not text else (float(count_tokens(tokenizer, text)), "tokenizer")
    if tokenizer is not None and pred.response is not None:
        return float(count_tokens(tokenizer, think or "")), "tokenizer"
    if pred.reasoning_tokens is not None:
        return float(pred.reasoning_tokens), "reasoning_tokens"
    if pred.response is not None:
        return float(len((think or "").split())), "words"
    return None, None


class PolicyStat(Metric):
    """gIoU / cIoU of a fixed policy from per-sample expected counts (chance, oracle): sums of the
    per-sample IoU (the mean over the policy's choices), of the mean I and of the mean U."""

    def __init__(self) -> None:
        super().__init__()
        self.n: int
        self.iou_sum: float
        self.inter_sum: float
        self.union_sum: float
        self.add_state("n", 0)
        for name in ("iou_sum", "inter_sum", "union_sum"):
            self.add_state(name, 0.0)

    def add(self, iou: float, inter: float, union: float) -> None:
        self.n += 1
        self.iou_sum += iou
        self.inter_sum += inter
        self.union_sum += union

    def giou(self) -> float | None:
        return self.iou_sum / self.n if self.n else None

    def ciou(self) -> float | None:
        return self.inter_sum / self.union_sum if self.union_sum > 0 else None


_FAITH_COUNTS = ("n", "n_without", "mentions", "real", "n_with", "last_target", "n_hits", "last_target_hits")


class FaithStat(Metric):
    """Counts of the exact faithfulness of grounded mentions (see ``BucketResult.faith_*``)."""

    n: int
    n_without: int
    mentions: int
    real: int
    n_with: int
    last_target: int
    n_hits: int
    last_target_hits: int

    def __init__(self) -> None:
        super().__init__()
        for name in _FAITH_COUNTS:
            self.add_state(name, 0)

    def add(self, mentions: int, real: int, last_is_target: bool | None, hit: bool) -> None:
        self.n += 1
        self.mentions += mentions
        self.real += real
        self.n_without += int(mentions == 0)
        self.n_with += int(mentions > 0)
        self.last_target += int(bool(last_is_target))
        self.n_hits += int(hit)
        self.last_target_hits += int(hit and bool(last_is_target))


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


class BucketAccumulator(Metric):
    """Mergeable state of one bucket (see :class:`~pixelthink.evaluate.results.BucketResult`).

    Per-sample IoUs and hits are kept (one float each) for the bootstrap intervals."""

    CONFIG = ("convention", "n_resamples", "seed")

    def __init__(
        self, convention: Convention, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
    ) -> None:
        super().__init__()
        self.convention: Convention = check_convention(convention)
        self.n_resamples = n_resamples
        self.seed = seed
        self.iou: IoUMetric
        self.tokens: DistributionStat
        self.uncertainty: MeanStat
        self.rscore: MeanStat
        self.rscore_no_refs: int
        self.latency: KeyedMeanStat
        self.ious: list[float]
        self.hits: list[float]
        self.chance: PolicyStat
        self.oracle: PolicyStat
        self.faith: FaithStat
        self.add_state("iou", IoUMetric(convention))
        self.add_state("tokens", DistributionStat())
        self.add_state("uncertainty", MeanStat())
        self.add_state("rscore", MeanStat())
        self.add_state("rscore_no_refs", 0)
        self.add_state("latency", KeyedMeanStat())
        self.add_state("ious", [], reduce="cat")
        self.add_state("hits", [], reduce="cat")
        self.add_state("chance", PolicyStat())
        self.add_state("oracle", PolicyStat())
        self.add_state("faith", FaithStat())

    def add(
        self,
        rec: SampleResult,
        latency: Mapping[str, float],
        *,
        no_refs: bool,
        baselines: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None,
    ) -> None:
        """Fold one sample in; ``baselines``: its chance and oracle ``(IoU, I, U)``, when known."""
        self.iou.add(rec.intersection, rec.union, failed=rec.failed)
        if rec.iou is not None:
            self.ious.append(float(rec.iou))
        if rec.hit is not None:
            self.hits.append(1.0 if rec.hit else 0.0)
        if rec.tokens is not None:
            self.tokens.update(rec.tokens)
        if rec.uncertainty is not None:
            self.uncertainty.update(rec.uncertainty)
        if rec.rscore is not None:
            self.rscore.update(rec.rscore)
        self.rscore_no_refs += int(no_refs)
        if latency:
            self.latency.update(latency)
        if baselines is not None:
            self.chance.add(*baselines[0])
            self.oracle.add(*baselines[1])
        if rec.mentions is not None:
            self.faith.add(rec.mentions, rec.real_mentions or 0, rec.last_is_target, bool(rec.hit))

    def _ci(self, values: list[float]) -> list[float] | None:
        ci = bootstrap_ci(values, n_resamples=self.n_resamples, seed=self.seed)
        return None if ci is None else [ci[0], ci[1]]

    def result(self, efficiency: EfficiencyConfig = DEFAULT_EFFICIENCY) -> BucketResult:
        iou = self.iou.compute()
        tok = self.tokens.compute()
        rscore = self.rscore.compute()
        eff = efficiency_scores(iou.giou, rscore, tok.mean, efficiency)
        f = self.faith
        return BucketResult(
            n=iou.n,
            n_scored=iou.n_scored,
            n_failed=iou.n_failed,
            fail_rate=iou.n_failed / iou.n if iou.n else None,
            giou=iou.giou,
            ciou=iou.ciou,
            n_skipped_empty=iou.n_skipped,
            tokens_n=tok.n,
            tokens_mean=tok.mean,
            tokens_median=tok.median,
            tokens_p90=tok.p90,
            uncertainty_mean=self.uncertainty.compute(),
            uncertainty_n=self.uncertainty.count,
            rscore=rscore,
            rscore_n=self.rscore.count,
            rscore_no_refs=self.rscore_no_refs,
            sat=eff["sat"],
            rst=eff["rst"],
            urss=eff["urss"],
            latency=self.latency.compute(),
            giou_ci=self._ci(self.ious),
            hit_n=len(self.hits),
            hit_rate=_ratio(sum(self.hits), len(self.hits)),
            hit_rate_ci=self._ci(self.hits),
            chance_n=self.chance.n,
            chance_giou=self.chance.giou(),
            chance_ciou=self.chance.ciou(),
            oracle_n=self.oracle.n,
            oracle_giou=self.oracle.giou(),
            oracle_ciou=self.oracle.ciou(),
            faith_n=f.n,
            faith_n_without_mentions=f.n_without,
            faith_mentions_mean=_ratio(f.mentions, f.n),
            faith_real=_ratio(f.real, f.mentions),
            faith_n_with_mentions=f.n_with,
            faith_last_is_target=_ratio(f.last_target, f.n_with),
            faith_n_hits=f.n_hits,
            faith_last_is_target_hits=_ratio(f.last_target_hits, f.n_hits),
        )


Baselines = tuple[tuple[float, float, float], tuple[float, float, float]]
"""A sample's chance and oracle ``(IoU, I, U)`` (see :func:`baseline_values`)."""


class EvalAccumulator:
    """Per-bucket accumulators (easy, medium, hard, unrated) plus "all", and one per query family (when
    samples record one); merge shards with ``merge``."""

    def __init__(
        self, convention: Convention, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
    ) -> None:
        self.convention = check_convention(convention)
        self.n_resamples = n_resamples
        self.seed = seed
        self.buckets = {name: self._new() for name in (*BUCKETS, "all")}
        self.families: dict[str, BucketAccumulator] = {}

    def _new(self) -> BucketAccumulator:
        return BucketAccumulator(self.convention, n_resamples=self.n_resamples, seed=self.seed)

    def add(
        self,
        rec: SampleResult,
        latency: Mapping[str, float] | None = None,
        *,
        no_refs: bool = False,
        baselines: Baselines | None = None,
    ) -> None:
        if rec.bucket not in self.buckets:
            raise ValueError(f"sample {rec.id!r}: unknown bucket {rec.bucket!r}; expected one of {BUCKETS}")
        targets = [self.buckets[rec.bucket], self.buckets["all"]]
        if rec.family is not None:
            targets.append(self.families.setdefault(rec.family, self._new()))
        for acc in targets:
            acc.add(rec, latency or {}, no_refs=no_refs, baselines=baselines)

    def merge(self, other: EvalAccumulator) -> EvalAccumulator:
        if other.convention != self.convention:
            raise ValueError(f"cannot merge {other.convention!r} results into {self.convention!r} results")
        for name, acc in other.buckets.items():
            self.buckets[name].merge(acc)
        for name, acc in other.families.items():
            self.families.setdefault(name, self._new()).merge(acc)
        return self

    def results(self, efficiency: EfficiencyConfig = DEFAULT_EFFICIENCY) -> dict[str, BucketResult]:
        return {name: acc.result(efficiency) for name, acc in self.buckets.items()}

    def family_results(self, efficiency: EfficiencyConfig = DEFAULT_EFFICIENCY) -> dict[str, BucketResult]:
        return {name: acc.result(efficiency) for name, acc in sorted(self.families.items())}


def baseline_values(counts: SceneBaselines, convention: Convention) -> Baselines | None:
    """A sample's chance ``(mean IoU over the scene's shapes, mean I, mean U)`` and oracle ``(IoU, I, U)``
    under ``convention``; None for a scene without a visible shape."""
    if not counts.shapes:
        return None
    probe = IoUMetric(convention)

    def iou(i: int, u: int) -> float:
        value = probe.sample_iou(i, u)
        return 0.0 if value is None else value  # segzero: an empty union cannot happen with a target

    k = len(counts.shapes)
    chance = (
        sum(iou(i, u) for i, u in counts.shapes) / k,
        sum(i for i, _ in counts.shapes) / k,
        sum(u for _, u in counts.shapes) / k,
    )
    oi, ou = counts.oracle
    return chance, (iou(oi, ou), float(oi), float(ou))


@dataclass
class _SampleOutcome:
    record: SampleResult
    latency: dict[str, float]
    no_refs: bool
    length_source: str | None
    response_frame: str | None = None
    judge_failed: bool = False


@dataclass
class _PredictedMask:
    """What :func:`score_sample` takes from one prediction: its mask (an RLE, an array, or none: then
    ``failure`` says why), the parsed raw answer and the frame it was read in."""

    failure: str | None = None
    source: str | None = None
    rle: Mapping[str, Any] | None = None
    array: Any = None
    parsed: Any = None
    frame: FrameTransform | None = None
    frame_used: str | None = None

    @property
    def think(self) -> str | None:
        return None if self.parsed is None else self.parsed.think


def _predicted_mask(
    sample: Sample,
    pred: Prediction | None,
    convention: Convention,
    response_frame: ResponseFrame,
    strict_parse: bool,
) -> _PredictedMask:
    """Step 2 of the module docstring: the mask of ``pred`` in ``sample``'s original frame, or why none."""
    h, w = int(sample.height), int(sample.width)
    out = _PredictedMask()
    if pred is None:
        out.failure = "missing"
        return out
    if pred.response is not None:
        resolution, how = prediction_frame(pred, response_frame)
        out.frame = FrameTransform.for_size(w, h, resolution)
        # Seg-Zero never clips answer coordinates before rescaling; clipping there would change
        # their numbers for boxes that overshoot the image (mask_from_box clips afterwards anyway).
        clip_to = None if convention == "segzero" else out.frame.model_size
        out.parsed = parse_lenient(pred.response, image_size=clip_to)
    if pred.error is not None:
        out.failure = "error"
    elif strict_parse and pred.response is not None and segzero_parse_problem(pred.response) is not None:
        out.failure = "strict_parse"
    elif pred.mask is not None:
        out.rle, out.source = pred.mask, "mask"
        size = [int(v) for v in pred.mask.get("size", [])]
        if size != [h, w]:
            raise ValueError(
                f"prediction {pred.id!r}: field 'mask': size {size} does not match the sample's "
                f"[height, width] = [{h}, {w}] (masks must be in the original frame)"
            )
    elif pred.bbox is not None:
        out.array, out.source = mask_from_box(pred.bbox, h, w), "bbox"
    elif out.parsed is not None and out.parsed.bbox is not None and out.frame is not None:
        out.frame_used = f"{response_frame_name(resolution)} ({how})"
        box = out.frame.box_to_original(out.parsed.bbox, segzero_rounding=convention == "segzero")
        out.array, out.source = mask_from_box(box, h, w), "response"
    else:
        out.failure = "no_mask" if pred.response is None else "unparsable"
    return out


def _intersection_union(sample: Sample, mask: _PredictedMask, convention: Convention) -> tuple[int, int]:
    if mask.rle is not None:
        return intersection_union_rle(mask.rle, sample.mask, sample.ignore, convention=convention)
    if mask.array is not None:
        return intersection_union(
            mask.array, decode_rle(sample.mask), sample.ignore_array(), convention=convention
        )
    return intersection_union_rle(None, sample.mask, sample.ignore, convention=convention)


def _box_hit(sample: Sample, pred: Prediction | None, mask: _PredictedMask) -> bool | None:
    """Whether the predicted box has IoU > 0.5 with the target's (None: the sample has no box)."""
    if sample.bbox is None:
        return None
    parsed = mask.parsed
    if parsed is not None and parsed.bbox is not None and mask.frame is not None:
        gt_box = mask.frame.box_to_model(
            sample.bbox, segzero_rounding=True
        )  # as the reward: the answer's frame
        return box_iou(parsed.bbox, gt_box) > 0.5
    if pred is not None and pred.bbox is not None:  # no raw answer: the original frame
        return box_iou(pred.bbox, sample.bbox) > 0.5
    return False


def _judge_score(
    judge: Judge | None, sample: Sample, pred: Prediction | None, think: str | None
) -> tuple[float | None, bool, bool]:
    """``(RScore, no references, judge failed)`` of one sample."""
    if judge is None:
        return None, False, False
    if judge.requires_references and not sample_references(sample):
        return None, True, False
    if pred is None:
        return 0.0, False, False  # a missing prediction has no reasoning: scored 0, like its IoU
    if pred.response is None:
        return None, False, False
    value = judge.score(think or "", sample)
    if value is None:
        return None, False, True
    rscore = float(value)
    if not 0.0 <= rscore <= 1.0:
        raise ValueError(f"judge {judge.name!r} returned {rscore} for sample {sample.id!r}; expected [0, 1]")
    return rscore, False, False


def score_sample(
    sample: Sample,
    pred: Prediction | None,
    *,
    convention: Convention = "lisa",
    config: RewardConfig = DEFAULT_REWARD_CONFIG,
    judge: Judge | None = None,
    tokenizer: Any = None,
    response_frame: ResponseFrame = "auto",
    strict_parse: bool = False,
    tokens: str = "auto",
) -> _SampleOutcome:
    """Score one sample against its prediction (``None`` = missing). See the module docstring.

    ``tokens`` is the reasoning-length convention (:data:`TOKEN_CONVENTIONS`)."""
    mask = _predicted_mask(sample, pred, convention, response_frame, strict_parse)
    think = mask.think
    inter, union = _intersection_union(sample, mask, convention)
    faith: dict[str, Any] = {}
    if pred is not None and pred.response is not None and is_shapes_sample(sample) and mask.frame is not None:
        faith = sample_faithfulness(sample, think or "", mask.frame)
    failed = mask.failure is not None
    length, length_source = (None, None) if pred is None else reasoning_length(pred, think, tokens, tokenizer)
    rscore, no_refs, judge_failed = _judge_score(judge, sample, pred, think)
    record = SampleResult(
        id=sample.id,
        bucket=difficulty_bucket(sample.difficulty, config),
        difficulty=sample.difficulty,
        intersection=inter,
        union=union,
        iou=IoUMetric(convention).sample_iou(inter, union, failed=failed),
        failed=failed,
        failure=mask.failure,
        mask_source=mask.source,
        tokens=length,
        rscore=rscore,
        uncertainty=None if pred is None else pred.uncertainty,
        family=family if isinstance(family := sample.source.get("family"), str) else None,
        hit=_box_hit(sample, pred, mask),
        mentions=faith.get("mentions"),
        real_mentions=faith.get("real"),
        last_is_target=faith.get("last_is_target"),
    )
    latency = {} if pred is None else {str(k): float(v) for k, v in pred.latency.items()}
    return _SampleOutcome(record, latency, no_refs, length_source, mask.frame_used, judge_failed)


def _load_predictions(
    predictions: str | os.PathLike[str] | Iterable[Prediction] | Mapping[str, Prediction],
) -> tuple[dict[str, Prediction], str]:
    if isinstance(predictions, str | os.PathLike):
        name = str(predictions)
    elif isinstance(predictions, list | tuple) and all(isinstance(p, str | os.PathLike) for p in predictions):
        name = ", ".join(str(p) for p in predictions)
    else:
        name = "<in-memory>"
    return predictions_by_id(predictions), name


def check_prediction_ids(bench: Benchmark, preds: Mapping[str, Prediction]) -> None:
    """Fail fast when predictions exist but none of their ids is a sample of ``bench`` (of its split).

    A predictions file of another benchmark (or split) would otherwise score as all-missing, an
    all-zero table. Some extra ids among matching ones are fine (reported as ``extra_ids``).

    Raises:
        ValueError: ``"none of the N prediction ids is in BENCH (split S): wrong --data or --split?"``.
    """
    if not preds:
        return
    ids = set(bench.ids())
    if any(pid in ids for pid in preds):
        return
    split = f"split {bench.split}" if bench.split is not None else "all splits"
    examples = ", ".join(sorted(preds)[:3]) + (", ..." if len(preds) > 3 else "")
    raise ValueError(
        f"none of the {len(preds)} prediction ids ({examples}) is in {bench.root} ({split}, "
        f"{len(ids)} samples): wrong --data or --split?"
    )


_LENGTH_UNITS = {
    "tokenizer": "tokenizer tokens of the think text",
    "reasoning_tokens": "Prediction.reasoning_tokens",
    "words": "whitespace words of the think text",
    "response_words": "whitespace words of the whole response",
}


def _judge_items(bench: Benchmark, preds: Mapping[str, Prediction], judge: Judge) -> list[tuple[str, Sample]]:
    """``(think text, sample)`` of every prediction the judge will score (for ``judge.prepare``)."""
    items = []
    for sample in bench:
        pred = preds.get(sample.id)
        if pred is None or pred.response is None:
            continue
        if judge.requires_references and not sample_references(sample):
            continue
        items.append((parse_lenient(pred.response).think or "", sample))
    return items


@dataclass(frozen=True)
class EvalOptions:
    """How :func:`evaluate` scores (every field is a keyword argument of ``evaluate``).

    Attributes:
        convention: ``"lisa"`` or ``"segzero"`` (see ``pixelthink.evaluate.metrics``).
        config: bucket thresholds ``tau_medium`` / ``tau_hard`` (``rewards.difficulty_bucket``).
        tokenizer: the tokenizer of the ``auto`` and ``wise`` token conventions (see ``tokens``).
        judge: judge name (``"rougeL-ref"``, ``"llm:URL?model=NAME"``), a ``Judge``, or ``None`` /
            ``"none"`` for no RScore. A judge with a ``prepare`` method judges every sample first.
        response_frame: frame of boxes in raw responses, used only for predictions with neither mask nor
            bbox: ``"auto"`` (default: the prediction's ``meta["model_size"]``, written by the pipeline,
            else 840, Seg-Zero's model frame), an int side such as ``840``, ``(w, h)``, or ``"original"``.
        strict_parse: also count as failures responses Seg-Zero's evaluation extractor rejects
            (``segzero_parse_problem``), even when a mask is present.
        efficiency: SAT / RST / URSS parameters.
        progress: show a tqdm progress bar over samples.
        keep_samples: keep per-sample results (no masks) in the report.
        tokens: reasoning-length convention, a key of :data:`TOKEN_CONVENTIONS`: ``auto`` (default:
            tokenizer tokens of the think text when ``tokenizer`` is given, else
            ``Prediction.reasoning_tokens`` when present, else whitespace words of the think text),
            ``model``, ``paper`` or ``wise`` (needs ``tokenizer``).
        chance: compute the chance level and the oracle of a shapes benchmark (``evaluate.chance``;
            segments every scene shape, cached next to the benchmark); None (default): when the
            benchmark has shapes samples and the segmenter is weight-free (``grabcut``, ``box``).
        segmenter: the segmenter of the chance level and oracle; None (default): the one the run used
            (``segmenter`` in ``STEM.run.json`` next to the predictions file), else ``grabcut``.
        chance_cache: their cache (``"auto"``: ``BENCH/annotations/chance-<segmenter>.jsonl``; None: none).
        n_resamples, seed: bootstrap resamples and seed of the 95 % intervals (``evaluate.intervals``).
    """

    convention: Convention = "lisa"
    config: RewardConfig = DEFAULT_REWARD_CONFIG
    tokenizer: Any = None
    judge: str | Judge | None = "rougeL-ref"
    response_frame: str | int | tuple[int, int] | None = "auto"
    strict_parse: bool = False
    efficiency: EfficiencyConfig = DEFAULT_EFFICIENCY
    progress: bool = False
    keep_samples: bool = True
    tokens: str = "auto"
    chance: bool | None = None
    segmenter: str | None = None
    chance_cache: str | os.PathLike[str] | None = "auto"
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = 0


@dataclass
class _EvalRun:
    """The checked inputs of one :func:`evaluate` call."""

    options: EvalOptions
    bench: Benchmark
    preds: dict[str, Prediction]
    preds_name: str
    n_predictions: int
    judge: Judge | None
    frame: ResponseFrame
    tokens: str
    seg_spec: str
    seg_source: str
    shapes_bench: bool
    use_chance: bool
    baselines: dict[str, SceneBaselines]


def _open_run(
    benchmark: Benchmark | str | os.PathLike[str],
    predictions: str | os.PathLike[str] | Iterable[Prediction] | Mapping[str, Prediction],
    opts: EvalOptions,
) -> _EvalRun:
    """Check the options, read the predictions, let the judge prepare, compute the chance baselines."""
    convention = check_convention(opts.convention)
    frame = parse_response_frame(opts.response_frame)
    tokens = check_token_convention(opts.tokens, opts.tokenizer)
    judge = get_judge(opts.judge)
    bench = benchmark if isinstance(benchmark, Benchmark) else open_benchmark(benchmark)
    preds, preds_name = _load_predictions(predictions)
    n_predictions = len(preds)
    check_prediction_ids(bench, preds)
    prepare = getattr(judge, "prepare", None)
    if judge is not None and callable(prepare):
        prepare(bench, _judge_items(bench, preds, judge), progress=opts.progress)
    seg_spec, seg_source = (opts.segmenter, "given") if opts.segmenter else run_segmenter(predictions)
    shapes_bench = any(is_shapes_sample(s) for s in bench)
    use_chance = shapes_bench and (segmenter_is_weight_free(seg_spec) if opts.chance is None else opts.chance)
    baselines: dict[str, SceneBaselines] = {}
    if use_chance:
        baselines = scene_baselines(
            bench, seg_spec, convention=convention, cache=opts.chance_cache, progress=opts.progress
        )
    return _EvalRun(
        options=dataclasses.replace(opts, convention=convention),
        bench=bench,
        preds=preds,
        preds_name=preds_name,
        n_predictions=n_predictions,
        judge=judge,
        frame=frame,
        tokens=tokens,
        seg_spec=seg_spec,
        seg_source=seg_source,
        shapes_bench=shapes_bench,
        use_chance=use_chance,
        baselines=baselines,
    )


@dataclass
class _Tally:
    """What the scoring loop counts besides the metrics (the report's ``counts`` and notes)."""

    samples: list[SampleResult] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mask_sources: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    length_sources: Counter[str] = field(default_factory=Counter)
    response_frames: Counter[str] = field(default_factory=Counter)
    n_samples: int = 0
    n_left_out: int = 0
    judge_failures: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def add(self, sample: Sample, pred: Prediction | None, out: _SampleOutcome, keep: bool) -> None:
        rec = out.record
        self.n_samples += 1
        if pred is None:
            self.missing.append(sample.id)
        if rec.mask_source:
            self.mask_sources[rec.mask_source] += 1
        if rec.failure:
            self.failures[rec.failure] += 1
        if out.response_frame:
            self.response_frames[out.response_frame] += 1
        if out.length_source:
            self.length_sources[out.length_source] += 1
        elif pred is not None and pred.response is not None:
            self.n_left_out += 1
        if out.judge_failed:
            self.judge_failures.append(sample.id)
        if keep:
            self.samples.append(rec)

    def length_unit(self) -> str:
        if len(self.length_sources) == 1:
            return next(iter(self.length_sources))
        return "mixed" if self.length_sources else "none"


def _score_all(run: _EvalRun) -> tuple[EvalAccumulator, _Tally]:
    """Score every sample of the benchmark (step 1-4 of the module docstring)."""
    from tqdm import tqdm

    opts = run.options
    acc = EvalAccumulator(opts.convention, n_resamples=opts.n_resamples, seed=opts.seed)
    tally = _Tally()
    desc = f"eval ({opts.convention})"
    with tqdm(total=len(run.bench), desc=desc, unit="sample", disable=not opts.progress) as bar:
        for sample in run.bench:
            pred = run.preds.pop(sample.id, None)
            out = score_sample(
                sample,
                pred,
                convention=opts.convention,
                config=opts.config,
                judge=run.judge,
                tokenizer=opts.tokenizer,
                response_frame=run.frame,
                strict_parse=opts.strict_parse,
                tokens=run.tokens,
            )
            counts = run.baselines.get(sample.id)
            values = None if counts is None else baseline_values(counts, opts.convention)
            if values is not None:
                out.record.chance_iou, out.record.oracle_iou = values[0][0], values[1][0]
            acc.add(out.record, out.latency, no_refs=out.no_refs, baselines=values)
            tally.add(sample, pred, out, opts.keep_samples)
            bar.update(1)
    tally.extra = sorted(run.preds)
    return acc, tally


def _source_notes(run: _EvalRun, tally: _Tally, everything: BucketResult) -> list[str]:
    """Notes on the chance level, faithfulness, intervals, mask sources and reasoning lengths."""
    opts = run.options
    notes: list[str] = []
    if run.use_chance:
        notes.append(
            f"chance = picking one of the scene's shapes uniformly at random, its exact box and centre given to "
            f"the segmenter {run.seg_spec} ({run.seg_source}); oracle = the true box and points through the same "
            "segmenter (shapes benchmarks only; evaluate.chance)"
        )
    elif run.shapes_bench:
        why = (
            "--no-chance"
            if opts.chance is False
            else f"the segmenter {run.seg_spec} needs weights (use --chance)"
        )
        notes.append(f"chance level and oracle not computed: {why}")
    if everything.faith_n:
        notes.append(
            "faithfulness is exact, shapes benchmarks only: grounded mentions 'red star [x1, y1, x2, y2]' "
            "(answer frame) in the think text checked against the scene (data.shapes.grounding); samples "
            "without a mention count as not faithful"
        )
    notes.append(
        f"intervals: bootstrap 95 % (percentile, {opts.n_resamples} resamples, seed {opts.seed}) of gIoU and of the "
        "box-on-target hit rate (predicted box IoU > 0.5 with the target's, the reward's box_iou)"
    )
    if tally.mask_sources.get("bbox"):
        notes.append(
            f"{tally.mask_sources['bbox']} prediction(s) had no mask: their Prediction.bbox (original frame) was "
            "filled as a rectangle mask (masks.mask_from_box)"
        )
    if tally.mask_sources.get("response"):
        notes.append(
            f"{tally.mask_sources['response']} prediction(s) had neither mask nor bbox: the box parsed from the raw "
            "response was read in the model frame "
            + ", ".join(f"{k}: {n}" for k, n in sorted(tally.response_frames.items()))
            + " (assumed = from --response-frame, meta = Prediction.meta['model_size']), mapped to the "
            "original frame with FrameTransform and filled as a rectangle mask"
        )
    if len(tally.length_sources) > 1:
        notes.append(
            "reasoning lengths mix units: "
            + ", ".join(f"{n} from {_LENGTH_UNITS[k]}" for k, n in sorted(tally.length_sources.items()))
        )
    if tally.n_left_out:
        notes.append(
            f"{tally.n_left_out} prediction(s) with a response have no reasoning length under the "
            f"{run.tokens!r} token convention (e.g. an empty think for 'wise'): left out of the length statistics"
        )
    return notes


def _judge_notes(
    judge: Judge, details: Mapping[str, Any] | None, tally: _Tally, everything: BucketResult
) -> list[str]:
    """Notes on what RScore is, the judge's failures and the samples without references."""
    notes: list[str] = []
    if judge.name == "rougeL-ref":
        notes.append(
            "RScore here is rougeL-ref (max ROUGE-L F1 against the reference reasoning chains), a "
            "reference-overlap proxy, not the paper's RScore (its method is unknown)"
        )
    elif details is not None:
        prompt = details.get("prompt")
        prompt_id = prompt.get("id") if isinstance(prompt, Mapping) else prompt
        notes.append(
            f"RScore here is from the LLM judge {details.get('model', judge.name)} with prompt "
            f"{prompt_id}: {details.get('scale', '')}; not the paper's RScore (its method is unknown)"
        )
    failures = tally.judge_failures
    if failures:
        notes.append(
            f"{len(failures)} sample(s) got no usable judge answer (recorded as judge failures, "
            "left out of RScore): " + ", ".join(failures[:5]) + (", ..." if len(failures) > 5 else "")
        )
    if everything.rscore_no_refs:
        notes.append(
            f"{everything.rscore_no_refs} sample(s) have no reference reasoning: RScore not computed for them"
        )
    return notes


def _settings(run: _EvalRun, tally: _Tally, judge_details: Mapping[str, Any] | None) -> dict[str, Any]:
    """The report's ``settings``: everything that produced its numbers."""
    opts = run.options
    config, tokenizer, cache = opts.config, opts.tokenizer, opts.chance_cache
    return {
        "convention": opts.convention,
        "response_frame": response_frame_name(run.frame),
        "strict_parse": opts.strict_parse,
        "buckets": {
            "easy": f"difficulty < {config.tau_medium}",
            "medium": f"{config.tau_medium} <= difficulty < {config.tau_hard}",
            "hard": f"difficulty >= {config.tau_hard}",
            "unrated": "no difficulty",
        },
        "tau_medium": config.tau_medium,
        "tau_hard": config.tau_hard,
        "judge": None if run.judge is None else run.judge.name,
        "judge_details": judge_details,
        "token_convention": run.tokens,
        "token_convention_text": TOKEN_CONVENTIONS[run.tokens],
        "length_unit": tally.length_unit(),
        "tokenizer": None
        if tokenizer is None
        else str(getattr(tokenizer, "name_or_path", type(tokenizer).__name__)),
        "efficiency": opts.efficiency.to_dict(),
        "chance": {
            "computed": run.use_chance,
            "segmenter": run.seg_spec if run.shapes_bench else None,
            "segmenter_source": run.seg_source if run.shapes_bench else None,
            "cache": str(cache_path(run.bench.root, run.seg_spec))
            if run.use_chance and cache == "auto"
            else (None if cache in (None, "auto") else str(cache)),
        },
        "bootstrap": {
            "n_resamples": opts.n_resamples,
            "seed": opts.seed,
            "level": 0.95,
            "method": "percentile",
        },
        "benchmark": str(run.bench.root),
        "benchmark_name": run.bench.name,
        "split": run.bench.split,
        "predictions": run.preds_name,
        "versions": versions(("pycocotools",)),
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def _counts(run: _EvalRun, tally: _Tally) -> dict[str, Any]:
    return {
        "n_samples": tally.n_samples,
        "n_predictions": run.n_predictions,
        "n_missing": len(tally.missing),
        "n_extra": len(tally.extra),
        "mask_sources": dict(tally.mask_sources),
        "failures": dict(tally.failures),
        "response_frames": dict(tally.response_frames),
        "length_sources": dict(tally.length_sources),
        "length_left_out": tally.n_left_out,
        "judge_failures": len(tally.judge_failures),
    }


def evaluate(
    benchmark: Benchmark | str | os.PathLike[str],
    predictions: str | os.PathLike[str] | Iterable[Prediction] | Mapping[str, Prediction],
    options: EvalOptions | None = None,
    **settings: Any,
) -> EvalReport:
    """Evaluate predictions against a benchmark.

    Args:
        benchmark: a ``Benchmark`` or its directory (images are not read).
        predictions: a ``predictions.jsonl`` path, an iterable of ``Prediction`` or a mapping id -> Prediction.
        options: how to score (:class:`EvalOptions`; default: its defaults).
        **settings: :class:`EvalOptions` fields overriding ``options`` (``convention="segzero"``, ...).

    Returns:
        EvalReport (``to_dict()`` for JSON, ``report.format_table`` to print).

    Raises:
        TypeError: a keyword that is not an :class:`EvalOptions` field.
        ValueError / FileNotFoundError: unreadable inputs, or a predicted mask whose size differs from
            the sample's image (named by id).
    """
    run = _open_run(benchmark, predictions, dataclasses.replace(options or EvalOptions(), **settings))
    acc, tally = _score_all(run)
    buckets = acc.results(run.options.efficiency)
    notes = _source_notes(run, tally, buckets["all"])
    judge = run.judge
    judge_details = judge.describe() if judge is not None and hasattr(judge, "describe") else None
    if judge is not None:
        notes.extend(_judge_notes(judge, judge_details, tally, buckets["all"]))
    if tally.missing:
        notes.append(f"{len(tally.missing)} sample(s) have no prediction: scored as failures")
    if tally.extra:
        notes.append(f"{len(tally.extra)} prediction(s) have ids that are not in the benchmark: ignored")
    return EvalReport(
        settings=_settings(run, tally, judge_details),
        buckets=buckets,
        counts=_counts(run, tally),
        missing_ids=tally.missing,
        extra_ids=tally.extra[:100],
        notes=notes,
        samples=tally.samples,
        families=acc.family_results(run.options.efficiency),
    )


def run_segmenter(
    predictions: str | os.PathLike[str] | Iterable[Prediction] | Mapping[str, Prediction],
) -> tuple[str, str]:
    """``(segmenter spec, how it was found)``: the ``segmenter`` that ``pixelthink predict`` wrote in
    ``STEM.run.json`` next to the (first) predictions file (``"run.json"``), else ``("grabcut", "assumed")``."""
    first: Any = predictions
    if (
        isinstance(predictions, list | tuple)
        and predictions
        and isinstance(predictions[0], str | os.PathLike)
    ):
        first = predictions[0]
    if isinstance(first, str | os.PathLike):
        p = Path(first)
        run_file = p.with_name(p.stem + ".run.json")
        try:
            data = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("segmenter"), str) and data["segmenter"].strip():
            return data["segmenter"].strip(), "run.json"
    return "grabcut", "assumed"


def load_report(path: str | os.PathLike[str]) -> EvalReport:
    """Read a report written by ``EvalReport.save`` / ``pixelthink eval --out``."""
    p = Path(path)
    data = read_json_file(p, "report")
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a pixelthink eval report (a JSON object)")
    try:
        return EvalReport.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{p}: not a pixelthink eval report ({exc})") from None
