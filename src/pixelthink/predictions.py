"""``predictions.jsonl``: one JSON line per sample, written by ``pixelthink predict``, read by ``eval``.

Each line holds a ``Prediction`` with keys in this order::

    id, response, mask, bbox, points, reasoning_tokens, answer_tokens, uncertainty, latency, error, meta

``mask``, ``bbox`` and ``points`` are in the **original** frame of the benchmark image. The writer
appends and flushes one line per prediction, so a crash loses at most the line being written; on resume
it drops a truncated last line (with a warning) and skips ids already done.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pixelthink.jsonio import JsonlAppender, dumps_line, plain, scan_jsonl, to_number
from pixelthink.jsonio import (
    OutputLockedError as OutputLockedError,  # re-exported: raised by PredictionWriter
)
from pixelthink.jsonio import is_number as _is_number
from pixelthink.jsonio import rle_to_json as _rle_json
from pixelthink.masks import RLE, Box, Point, decode_rle, encode_rle, rle_problem

logger = logging.getLogger(__name__)

PREDICTION_KEYS: tuple[str, ...] = (
    "id",
    "response",
    "mask",
    "bbox",
    "points",
    "reasoning_tokens",
    "answer_tokens",
    "uncertainty",
    "latency",
    "error",
    "meta",
)


@dataclass
class Prediction:
    """The outcome of one sample. Geometry in the **original** frame.

    Attributes:
        id: the benchmark sample id.
        response: the reasoning model's raw text, or None when generation failed.
        mask: predicted mask as COCO RLE ``{"size": [H, W], "counts": str}``, or None (no mask).
        bbox: ``(x1, y1, x2, y2)`` parsed from the answer and scaled to the original frame, or None.
        points: 0..2 ``(x, y)`` points, original frame.
        reasoning_tokens: tokens inside ``<think>``; answer_tokens: the rest of the completion.
        uncertainty: mean token uncertainty U in 0..1, or None.
        latency: seconds per stage (``load``, ``prefill``, ``decode``, ``segment``, ``total``).
        error: what failed (the sample then scores as a failure), or None.
        meta: free-form extras (model name, settings, parse problems...).
    """

    id: str
    response: str | None = None
    mask: RLE | None = None
    bbox: Box | None = None
    points: list[Point] = field(default_factory=list)
    reasoning_tokens: int | None = None
    answer_tokens: int | None = None
    uncertainty: float | None = None
    latency: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def mask_array(self) -> np.ndarray | None:
        """The predicted mask as bool ``(H, W)``, or None."""
        return None if self.mask is None else decode_rle(self.mask)

    @classmethod
    def with_mask(cls, id: str, mask: np.ndarray | None, **kwargs: Any) -> Prediction:
        """Build a prediction from a bool ``(H, W)`` mask array (encoded to RLE)."""
        return cls(id=id, mask=None if mask is None else encode_rle(mask), **kwargs)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of one line, keys in ``PREDICTION_KEYS`` order; validates first."""
        obj = {
            "id": self.id,
            "response": self.response,
            "mask": None if self.mask is None else _rle_json(self.mask),
            "bbox": None if self.bbox is None else [_num(v) for v in self.bbox],
            "points": [[_num(p[0]), _num(p[1])] for p in self.points],
            "reasoning_tokens": None if self.reasoning_tokens is None else int(self.reasoning_tokens),
            "answer_tokens": None if self.answer_tokens is None else int(self.answer_tokens),
            "uncertainty": None if self.uncertainty is None else _num(self.uncertainty),
            "latency": {str(k): _num(v) for k, v in self.latency.items()},
            "error": self.error,
            "meta": _plain(self.meta),
        }
        _parse_fields(obj, f"prediction {self.id!r}")
        return obj

    def to_line(self) -> str:
        return dumps_line(self.to_json())

    @classmethod
    def from_json(cls, obj: Any, where: str = "prediction") -> Prediction:
        """Parse one line's object; errors read ``"{where}: field 'x': expected ..."``."""
        return cls(**_parse_fields(obj, where))


def _num(v: Any) -> int | float:
    return to_number(v, "predictions.jsonl")


def _plain(obj: Any) -> Any:
    return plain(obj, nonfinite_to_none=True)


def _parse_fields(obj: Any, where: str) -> dict[str, Any]:
    def err(name: str, expected: str, got: Any) -> ValueError:
        return ValueError(f"{where}: field '{name}': expected {expected}, got {got!r}"[:400])

    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(PREDICTION_KEYS))
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {unknown}; allowed: {list(PREDICTION_KEYS)} (use 'meta')"
        )
    if "id" not in obj:
        raise ValueError(f"{where}: missing required field 'id'")
    out: dict[str, Any] = {}
    if not isinstance(obj["id"], str) or not obj["id"]:
        raise err("id", "a non-empty string", obj["id"])
    out["id"] = obj["id"]
    for name in ("response", "error"):
        v = obj.get(name)
        if v is not None and not isinstance(v, str):
            raise err(name, "null or a string", v)
        out[name] = v
    mask = obj.get("mask")
    if mask is not None:
        problem = rle_problem(mask)
        if problem is not None:
            raise ValueError(f"{where}: field 'mask': expected null or COCO RLE ({problem})")
        mask = _rle_json(mask)
    out["mask"] = mask
    bbox = obj.get("bbox")
    if bbox is not None:
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
            raise err("bbox", "null or 4 numbers [x1, y1, x2, y2] (original frame)", bbox)
        bbox = tuple(float(v) for v in bbox)
    out["bbox"] = bbox
    pts = obj.get("points", [])
    if pts is None:
        pts = []
    if not isinstance(pts, (list, tuple)) or len(pts) > 2:
        raise err("points", "a list of at most 2 points [[x, y], ...]", pts)
    points: list[Point] = []
    for p in pts:
        if not isinstance(p, (list, tuple)) or len(p) != 2 or not all(_is_number(v) for v in p):
            raise err("points", "each point 2 numbers [x, y]", p)
        points.append((float(p[0]), float(p[1])))
    out["points"] = points
    for name in ("reasoning_tokens", "answer_tokens"):
        v = obj.get(name)
        if v is not None and (not isinstance(v, int) or not _is_number(v) or v < 0):
            raise err(name, "null or a non-negative integer", v)
        out[name] = v
    u = obj.get("uncertainty")
    if u is not None:
        if not _is_number(u):
            raise err("uncertainty", "null or a finite number", u)
        u = float(u)
    out["uncertainty"] = u
    lat = obj.get("latency", {})
    if lat is None:
        lat = {}
    if not isinstance(lat, Mapping) or not all(isinstance(k, str) and _is_number(v) for k, v in lat.items()):
        raise err("latency", "an object of stage name -> seconds", lat)
    out["latency"] = {k: float(v) for k, v in lat.items()}
    meta = obj.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise err("meta", "a JSON object", meta)
    out["meta"] = dict(meta)
    return out


# ------------------------------------------------------------------------------------- reading


def read_predictions(path: str | os.PathLike[str]) -> Iterator[Prediction]:
    """Yield the predictions of a ``predictions.jsonl`` file in file order.

    A truncated last line (a crash mid-write) is skipped with a warning; any other invalid line raises
    ``ValueError`` naming ``FILE:LINE`` and the field. Duplicate ids raise too.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"predictions file not found: {p}")
    records, truncated = scan_jsonl(p)
    if truncated is not None:
        logger.warning("%s: ignoring a truncated last line (interrupted write) at byte %d", p, truncated)
    seen: dict[str, int] = {}
    for lineno, obj in records:
        pred = Prediction.from_json(obj, f"{p}:{lineno}")
        if pred.id in seen:
            raise ValueError(
                f"{p}:{lineno}: field 'id': duplicate id {pred.id!r} (first on line {seen[pred.id]})"
            )
        seen[pred.id] = lineno
        yield pred


def predictions_by_id(
    source: str
    | os.PathLike[str]
    | Sequence[str | os.PathLike[str]]
    | Mapping[str, Prediction]
    | Iterable[Prediction],
) -> dict[str, Prediction]:
    """Predictions keyed by id, from a ``predictions.jsonl`` path, a list of paths (shards, merged), a
    mapping or an iterable of ``Prediction``.

    A path is read with :func:`read_predictions` (missing file, invalid line or duplicate id raise);
    a mapping is copied as is; an iterable must hold ``Prediction`` objects with distinct ids.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an invalid line, an item that is not a ``Prediction``, or a duplicate id.
    """
    if isinstance(source, str | os.PathLike):
        return {pred.id: pred for pred in read_predictions(source)}
    if isinstance(source, list | tuple) and source and all(isinstance(s, str | os.PathLike) for s in source):
        # shards written by ``predict --shard i/n``: merged; an id in two files is an error naming both
        merged: dict[str, Prediction] = {}
        where: dict[str, str] = {}
        for path in source:
            for pred in read_predictions(path):
                if pred.id in merged:
                    raise ValueError(f"predictions: id {pred.id!r} is in both {where[pred.id]} and {path}")
                merged[pred.id], where[pred.id] = pred, str(path)
        return merged
    if isinstance(source, Mapping):
        return dict(source)
    out: dict[str, Prediction] = {}
    for pred in source:
        if not isinstance(pred, Prediction):
            raise ValueError(f"predictions: expected Prediction objects, got {type(pred).__name__}")
        if pred.id in out:
            raise ValueError(f"predictions: duplicate id {pred.id!r}")
        out[pred.id] = pred
    return out


# ------------------------------------------------------------------------------------- writing


class PredictionWriter:
    """Append-only, crash-safe writer of ``predictions.jsonl``, exclusive to one process (a
    :class:`~pixelthink.jsonio.JsonlAppender` that validates the lines it resumes from).

    ``PredictionWriter(path, resume=True)``: with ``resume`` an existing file is read first
    (``done_ids`` holds its ids, a truncated last line is cut off with a warning) and new predictions are
    appended; without ``resume`` an existing file is an error unless ``overwrite=True``. ``write`` refuses
    an id already written, writes one line and flushes it (``fsync=True`` also forces it to disk).
    Usable as a context manager; ``close()`` otherwise.

    The writer holds an exclusive ``flock`` on the file from before it reads it until ``close()``: a
    second writer of the same file (another ``pixelthink predict --out`` on it) gets
    :class:`OutputLockedError` instead of interleaving lines or writing the same ids again. Readers are
    not blocked. Shards run in parallel must write separate files.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        resume: bool = True,
        *,
        overwrite: bool = False,
        fsync: bool = False,
    ) -> None:
        self._out = JsonlAppender(path, resume, overwrite=overwrite, fsync=fsync)
        self.path = self._out.path
        self.fsync = fsync
        self.done_ids: set[str] = set()
        try:
            for lineno, obj in self._out.records:
                pred = Prediction.from_json(obj, f"{self.path}:{lineno}")
                if pred.id in self.done_ids:
                    raise ValueError(f"{self.path}:{lineno}: field 'id': duplicate id {pred.id!r}")
                self.done_ids.add(pred.id)
        except ValueError:
            self._out.close()
            raise
        self.repaired = self._out.repaired

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the file and release its lock."""
        self._out.close()

    def write(self, pred: Prediction) -> None:
        """Append one prediction (one line, flushed). ValueError for a duplicate id or invalid fields."""
        if pred.id in self.done_ids:
            raise ValueError(f"{self.path}: prediction for id {pred.id!r} was already written")
        self._out.write(pred.to_json())
        self.done_ids.add(pred.id)
