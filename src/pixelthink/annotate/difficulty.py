"""Difficulty 1..10 of benchmark samples, three ways (``pixelthink annotate difficulty --method ...``).

* ``judge`` (:class:`JudgeDifficulty`): an MLLM judge (e.g. Qwen2.5-VL-72B on vLLM, as ReasonSeg-Diff was
  made) sees the image with the target drawn on it and the query, and rates scene complexity,
  segmentation challenge, linguistic ambiguity and an overall difficulty, 1-10 each, as JSON (prompt
  ``difficulty``, :mod:`pixelthink.judging.templates`). ``votes`` answers per sample (temperature > 0) are
  aggregated (mean or median of ``overall``; the spread is kept). A vote whose reply does not parse is
  asked again up to ``retries`` times, then dropped and counted; a sample without any valid vote is a
  recorded failure.
* ``heuristic`` (:func:`heuristic_difficulty`): a free, instant estimate from what the benchmark holds
  (mask area, connected parts, shape, ignore region, query length, sentence or phrase, image clutter).
  Version :data:`HEURISTIC_VERSION`; the formula is in :func:`heuristic_terms` and docs/ANNOTATE.md.
* ``passrate`` (:class:`PassrateDifficulty`): ``votes`` sampled answers of a reasoning model; the fraction
  whose box hits the target (the reward's IoU term: box IoU > 0.5) is mapped to 1..10 by
  :func:`pixelthink.rewards.passrate_difficulty` (``1 + 9 * (1 - p)``): difficulty as the model itself
  experiences it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pixelthink.annotate.records import failed_record
from pixelthink.annotate.run import job_key
from pixelthink.annotate.view import ask_about_samples
from pixelthink.data.exporters import segzero_solution
from pixelthink.data.format import Benchmark, Sample
from pixelthink.judging import ReplyField, load_prompt, parse_judge_reply
from pixelthink.judging.ask import ChatModel
from pixelthink.rewards import accuracy_terms, passrate_difficulty

__all__ = [
    "AGGREGATES",
    "AXES",
    "DIFFICULTY_FIELDS",
    "HEURISTIC_VERSION",
    "HEURISTIC_WEIGHTS",
    "HeuristicDifficulty",
    "JudgeDifficulty",
    "PassrateDifficulty",
    "aggregate_votes",
    "heuristic_difficulty",
    "heuristic_features",
    "heuristic_terms",
    "hits_target",
]

AXES: tuple[str, ...] = ("scene_complexity", "segmentation_challenge", "linguistic_ambiguity")
#: the reply of the difficulty prompt: three axes (optional) and ``overall`` (required; when missing,
#: the mean of the three axes)
DIFFICULTY_FIELDS: tuple[ReplyField, ...] = (
    ReplyField(
        "scene_complexity", 1, 10, aliases=("scene", "complexity", "scene_difficulty"), required=False
    ),
    ReplyField(
        "segmentation_challenge",
        1,
        10,
        aliases=("segmentation", "segmentation_difficulty", "segmentation_complexity"),
        required=False,
    ),
    ReplyField(
        "linguistic_ambiguity",
        1,
        10,
        aliases=("linguistic", "ambiguity", "language", "query_ambiguity", "linguistic_complexity"),
        required=False,
    ),
    ReplyField(
        "overall",
        1,
        10,
        aliases=("difficulty", "overall_difficulty", "difficulty_score", "score", "overall_score"),
        derive_from_mean=AXES,
    ),
)
AGGREGATES: tuple[str, ...] = ("mean", "median")


def _round(value: float) -> float:
    return round(float(value), 3)


def aggregate_votes(values: Sequence[float], how: str = "mean") -> tuple[float, dict[str, float]]:
    """``(aggregate, spread)`` of the valid votes: mean or median, and ``{"std", "min", "max"}``
    (population standard deviation; 0 for one vote).

    Raises:
        ValueError: no votes, or an unknown ``how``.
    """
    if how not in AGGREGATES:
        raise ValueError(f"aggregate: expected one of {AGGREGATES}, got {how!r}")
    if not values:
        raise ValueError("aggregate_votes: no votes")
    vals = [float(v) for v in values]
    center = statistics.fmean(vals) if how == "mean" else statistics.median(vals)
    spread = {"std": _round(statistics.pstdev(vals)), "min": min(vals), "max": max(vals)}
    return _round(center), spread


def hits_target(response: str, sample: Sample, frame: Any) -> bool:
    """Whether a response's box hits ``sample``'s target: the reward's ``iou`` term (box IoU > 0.5 with the
    integer-pixel convention) against the ground truth in the response's frame (``frame.model_size``)."""
    if sample.bbox is None or len(sample.points) != 2:
        return False
    ground_truth = segzero_solution(sample, frame.model_size)  # type: ignore[arg-type]
    return accuracy_terms(response, ground_truth)["iou"] == 1.0


# ----------------------------------------------------------------------------------------- judge


def _parse_vote(text: str) -> tuple[dict[str, Any] | None, str | None]:
    reply = parse_judge_reply(text, DIFFICULTY_FIELDS)
    if not reply.ok:
        return None, reply.error
    vote: dict[str, Any] = dict(reply.values)
    if reply.rationale:
        vote["rationale"] = reply.rationale[:500]
    if reply.problems:
        vote["problems"] = reply.problems
    return vote, None


class JudgeDifficulty:
    """Difficulty from an MLLM judge (see the module docstring).

    Args:
        chat_model: the judge (``chat(images, prompts, ...)``; both reasoner backends).
        model_name: the judge's name (cache key, outputs).
        prompt: a prompt file, a shipped prompt name, or None (``difficulty``).
        votes: answers per sample (use ``temperature > 0`` for more than one).
        temperature, max_new_tokens: the judge's decoding.
        aggregate: ``mean`` or ``median`` of the votes' ``overall``.
        retries: re-asks of a vote whose reply does not parse.
        resolution: the judge frame (square side, or None for native images).
        show_target: how the target is shown (:data:`pixelthink.annotate.view.SHOW_TARGET`).
    """

    task = "difficulty"

    def __init__(
        self,
        chat_model: ChatModel,
        *,
        model_name: str,
        backend: str = "",
        prompt: str | None = None,
        votes: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 256,
        aggregate: str = "mean",
        retries: int = 2,
        resolution: int | tuple[int, int] | None = 840,
        show_target: str = "both",
    ) -> None:
        if votes < 1:
            raise ValueError(f"votes must be >= 1, got {votes}")
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate: expected one of {AGGREGATES}, got {aggregate!r}")
        self.chat_model = chat_model
        self.prompt = load_prompt(prompt, "difficulty")
        self.votes = votes
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.aggregate = aggregate
        self.retries = retries
        self.resolution = resolution
        self.show_target = show_target
        answers = {"votes": votes, "temperature": temperature, "max_new_tokens": max_new_tokens}
        answers |= {"resolution": resolution, "show_target": show_target, "prompt": self.prompt.id}
        self.settings: dict[str, Any] = {
            "method": "judge",
            "judge": model_name,
            "backend": backend,
            "prompt": self.prompt.describe(),
            "aggregate": aggregate,
            "retries": retries,
            **{k: v for k, v in answers.items() if k != "prompt"},
        }
        self.key = job_key("judge", model_name, self.prompt.id, settings=answers)

    def prompt_for(self, sample: Sample, view: Any) -> str:
        """The filled prompt of one sample."""
        return self.prompt.render(
            query=sample.query,
            target=view.target,
            width=view.width,
            height=view.height,
            is_sentence="a full-sentence question" if sample.is_sentence else "a short referring phrase",
        )

    def annotate(self, samples: Sequence[Sample], bench: Benchmark) -> list[dict[str, Any]]:
        answers = ask_about_samples(
            self.chat_model,
            samples,
            bench,
            lambda sample, view: [(self.prompt_for(sample, view), _parse_vote)] * self.votes,
            resolution=self.resolution,
            show_target=self.show_target,
            retries=self.retries,
            temperature=self.temperature,
            max_new_tokens=self.max_new_tokens,
        )
        return [
            {"method": "judge", **answer} if isinstance(answer, dict) else self._record(answer)
            for answer in answers
        ]

    def _record(self, results: Sequence[Any]) -> dict[str, Any]:
        votes = [dict(r.value, attempts=r.attempts) for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        record: dict[str, Any] = {
            "method": "judge",
            "judge": self.settings["judge"],
            "prompt": self.prompt.id,
        }
        record |= {"votes": votes, "n_votes": len(votes), "n_failed_votes": len(failed)}
        if failed:
            record["errors"] = [err for r in failed for err in r.errors]
            record["failed_replies"] = [r.reply[:1000] for r in failed]
        if not votes:  # every vote failed: what the last one failed at
            errors = record.pop("errors", [])
            return failed_record(failed[-1].failure or "reply", errors, difficulty=None, **record)
        difficulty, spread = aggregate_votes([v["overall"] for v in votes], self.aggregate)
        axes = {
            axis: _round(statistics.fmean(v[axis] for v in votes if axis in v))
            for axis in AXES
            if any(axis in v for v in votes)
        }
        return {"status": "ok", "difficulty": difficulty, "spread": spread, "axes": axes, **record}


# ------------------------------------------------------------------------------------- heuristic

HEURISTIC_VERSION = 1
#: weights of the heuristic's terms (sum 1); difficulty = 1 + 9 * sum(weight * term)
HEURISTIC_WEIGHTS: dict[str, float] = {
    "size": 0.25,
    "parts": 0.10,
    "shape": 0.05,
    "ignore": 0.05,
    "query": 0.25,
    "sentence": 0.10,
    "clutter": 0.20,
}


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, float(x)))


def heuristic_features(sample: Sample, image: Any = None) -> dict[str, float]:
    """What the heuristic reads from a sample (and, for ``clutter``, its image; None leaves it out).

    * ``area``: target pixels / image pixels;
    * ``parts``: connected parts of the mask (8-connectivity) holding at least 1 % of its pixels;
    * ``fill``: target pixels / pixels of its bounding box (1 for a rectangle, low for thin or ragged shapes);
    * ``ignore``: 1 when the sample has an ignore region;
    * ``query_words``: whitespace words of the query; ``sentence``: 1 for a full-sentence query;
    * ``edges``: fraction of Canny edge pixels of the image (grey, longer side resized to 256).
    """
    import cv2

    mask = sample.mask_array()
    area = int(mask.sum())
    total = float(mask.size)
    parts = 0
    if area:
        n, _labels, stats, _centroids = cv2.connectedComponentsWithStats(
            mask.astype(np.uint8), connectivity=8
        )
        sizes = stats[1:n, cv2.CC_STAT_AREA]
        parts = int((sizes >= max(1.0, 0.01 * area)).sum())
    box_area = 0.0
    if sample.bbox is not None:
        x1, y1, x2, y2 = sample.bbox
        box_area = (x2 - x1 + 1) * (y2 - y1 + 1)
    features = {
        "area": area / total if total else 0.0,
        "parts": float(parts),
        "fill": area / box_area if box_area else 0.0,
        "ignore": 1.0 if sample.ignore is not None else 0.0,
        "query_words": float(len(sample.query.split())),
        "sentence": 1.0 if sample.is_sentence else 0.0,
    }
    if image is not None:
        grey = np.asarray(image.convert("L"))
        scale = 256.0 / max(grey.shape)
        if scale < 1.0:
            grey = cv2.resize(
                grey,
                (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale))),
                interpolation=cv2.INTER_AREA,
            )
        features["edges"] = float((cv2.Canny(grey, 100, 200) > 0).mean())
    return features


def heuristic_terms(features: Mapping[str, float]) -> dict[str, float]:
    """Each term in [0, 1] (1 = hardest), from :func:`heuristic_features`:

    * ``size``: ``log10(0.25 / area) / log10(250)``: 0 at a quarter of the image or more, 1 at 0.1 %;
    * ``parts``: ``(parts - 1) / 3``: 0 for one part, 1 for four or more (0 for an empty mask: size says it);
    * ``shape``: ``(0.8 - fill) / 0.6``: 0 for compact shapes (fill >= 0.8), 1 at fill 0.2;
    * ``ignore``: 1 with an ignore region;
    * ``query``: ``(query_words - 2) / 18``: 0 for two words or fewer, 1 for 20 or more;
    * ``sentence``: 1 for a full-sentence query;
    * ``clutter``: ``(edges - 0.02) / 0.13``: 0 for a plain image, 1 when 15 % of the pixels are edges.
    All clipped to [0, 1]; ``clutter`` only when ``edges`` was measured.
    """
    area = max(features["area"], 1e-6)
    terms = {
        "size": _clip01(math.log10(0.25 / area) / math.log10(250.0)),
        "parts": _clip01((features["parts"] - 1.0) / 3.0),
        "shape": _clip01((0.8 - features["fill"]) / 0.6) if features["fill"] > 0 else 0.0,
        "ignore": _clip01(features["ignore"]),
        "query": _clip01((features["query_words"] - 2.0) / 18.0),
        "sentence": _clip01(features["sentence"]),
    }
    if "edges" in features:
        terms["clutter"] = _clip01((features["edges"] - 0.02) / 0.13)
    return terms


def heuristic_difficulty(
    sample: Sample, image: Any = None, weights: Mapping[str, float] = HEURISTIC_WEIGHTS
) -> tuple[float, dict[str, float], dict[str, float]]:
    """``(difficulty, features, terms)``: ``1 + 9 * sum(w_t * term_t) / sum(w_t)`` over the terms present
    (without an image the ``clutter`` weight is left out and the others renormalised), rounded to 0.01."""
    features = heuristic_features(sample, image)
    terms = heuristic_terms(features)
    total = sum(weights[t] for t in terms)
    score = sum(weights[t] * v for t, v in terms.items()) / total if total else 0.0
    return round(1.0 + 9.0 * score, 2), features, terms


class HeuristicDifficulty:
    """The heuristic as an annotator (``use_image=False``: no image is read, ``clutter`` left out)."""

    task = "difficulty"

    def __init__(self, *, use_image: bool = True, weights: Mapping[str, float] = HEURISTIC_WEIGHTS) -> None:
        unknown = sorted(set(weights) ^ set(HEURISTIC_WEIGHTS))
        if unknown:
            raise ValueError(
                f"heuristic weights: expected the terms {sorted(HEURISTIC_WEIGHTS)}, got {sorted(weights)}"
            )
        self.use_image = use_image
        self.weights = dict(weights)
        answers = {"version": HEURISTIC_VERSION, "use_image": use_image, "weights": self.weights}
        self.settings: dict[str, Any] = {"method": "heuristic", **answers}
        self.key = job_key("heuristic", f"v{HEURISTIC_VERSION}", settings=answers)

    def annotate(self, samples: Sequence[Sample], bench: Benchmark) -> list[dict[str, Any]]:
        out = []
        for sample in samples:
            try:
                image = bench.load_image(sample) if self.use_image else None
            except (OSError, ValueError) as exc:
                out.append(failed_record("image", [f"image: {exc}"], method="heuristic"))
                continue
            difficulty, features, terms = heuristic_difficulty(sample, image, self.weights)
            rounded = {k: _round(v) for k, v in features.items()}
            out.append(
                {
                    "status": "ok",
                    "method": "heuristic",
                    "difficulty": difficulty,
                    "features": rounded,
                    "terms": {k: _round(v) for k, v in terms.items()},
                }
            )
        return out


# -------------------------------------------------------------------------------------- passrate


class PassrateDifficulty:
    """Difficulty from a reasoning model's pass rate over ``votes`` sampled answers (see the module docstring).

    Args:
        reasoner: a :class:`~pixelthink.models.reasoners.Reasoner` that samples (temperature > 0), e.g.
            ``load_reasoner(spec, do_sample=True, temperature=1.0)`` for a local model.
        name: the reasoner's name (cache key, outputs).
        votes: answers per sample.
        settings: what else changes the answers (temperature, resolution, ...), for the cache key.
    """

    task = "difficulty"

    def __init__(
        self, reasoner: Any, *, name: str, votes: int = 8, settings: Mapping[str, Any] | None = None
    ) -> None:
        if votes < 1:
            raise ValueError(f"votes must be >= 1, got {votes}")
        self.reasoner = reasoner
        self.votes = votes
        answers = {"votes": votes, **dict(settings or {})}
        self.settings: dict[str, Any] = {"method": "passrate", "reasoner": name, **answers}
        self.key = job_key("passrate", name, settings=answers)

    def _generate(self, images: list[Any], queries: list[str]) -> list[Any]:
        from pixelthink.models.reasoner_openai import ReasonerServerError

        try:
            return list(self.reasoner.generate(images, queries))
        except ReasonerServerError as exc:  # one failed request must not lose the batch's other samples
            if len(images) <= self.votes:
                return [exc] * len(images)
            out: list[Any] = []
            for start in range(0, len(images), self.votes):
                out.extend(
                    self._generate(images[start : start + self.votes], queries[start : start + self.votes])
                )
            return out

    def annotate(self, samples: Sequence[Sample], bench: Benchmark) -> list[dict[str, Any]]:
        images: list[Any] = []
        queries: list[str] = []
        slots: list[dict[str, Any] | Sample] = []  # a failed record, or a sample waiting for its answers
        for sample in samples:
            if sample.bbox is None or len(sample.points) != 2:
                slots.append(failed_record("target", ["target: empty mask"], method="passrate"))
                continue
            try:
                image = bench.load_image(sample)
            except (OSError, ValueError) as exc:
                slots.append(failed_record("image", [f"image: {exc}"], method="passrate"))
                continue
            slots.append(sample)
            images.extend([image] * self.votes)
            queries.extend([sample.query] * self.votes)
        generations = self._generate(images, queries) if images else []
        out: list[dict[str, Any]] = []
        pos = 0
        for sample in slots:
            if isinstance(sample, dict):
                out.append(sample)
                continue
            mine = generations[pos : pos + self.votes]
            pos += self.votes
            errors = [f"request: {type(g).__name__}: {g}"[:300] for g in mine if isinstance(g, BaseException)]
            if errors:
                out.append(failed_record("request", errors, method="passrate"))
                continue
            hits = [int(hits_target(g.text, sample, g.frame)) for g in mine]
            rate = sum(hits) / len(hits)
            out.append(
                {
                    "status": "ok",
                    "method": "passrate",
                    "difficulty": _round(passrate_difficulty(rate)),
                    "pass_rate": _round(rate),
                    "hits": hits,
                    "responses": [g.text[:300] for g in mine],
                }
            )
        return out
