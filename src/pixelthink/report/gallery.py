"""Gallery of examples: which samples to show, and their pictures (prediction over the image, GT contour).

Selection is deterministic: per difficulty bucket, about half of the slots go to the best samples
(highest IoU, successful) and the rest to the worst (failures first, then the lowest IoU), so every
bucket shows what works and what does not.

Pictures are in the **original** frame of the image: the predicted mask outlined (``pixelthink.viz``: no
tint, so the shapes keep their colours),
the predicted box and points, and the ground-truth mask's contour in white over a dark halo; then the
picture is scaled down to at most ``max_side`` pixels for the page.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixelthink.answer import parse_lenient
from pixelthink.data import Benchmark, Sample
from pixelthink.evaluate.results import SampleResult
from pixelthink.evaluate.runner import prediction_frame
from pixelthink.frames import Box, FrameTransform, Point
from pixelthink.masks import decode_rle, mask_from_box
from pixelthink.predictions import Prediction
from pixelthink.viz import overlay

__all__ = ["GalleryItem", "draw_example", "render_example", "select_examples"]

GT_COLOR = (255, 255, 255)
HALO_COLOR = (20, 20, 20)


@dataclass
class GalleryItem:
    """One example of the gallery.

    Attributes:
        sample: the benchmark sample (query, image, GT mask).
        result: its evaluation result (IoU, failure reason, tokens, bucket).
        prediction: the prediction, or None when it is missing.
        kind: ``"good"`` or ``"bad"`` (how it was selected).
        image: path of the rendered picture relative to the report directory ("" until rendered).
        think: the reasoning text (inside ``<think>``), or None.
        render_error: why the picture could not be drawn (image missing or corrupt), or None.
    """

    sample: Sample
    result: SampleResult
    prediction: Prediction | None
    kind: str
    image: str = ""
    think: str | None = None
    render_error: str | None = None


def _iou_key(r: SampleResult) -> float:
    return -1.0 if r.iou is None else float(r.iou)


def select_examples(
    results: Sequence[SampleResult],
    per_bucket: int,
    buckets: Sequence[str] = ("easy", "medium", "hard", "unrated"),
) -> dict[str, list[tuple[SampleResult, str]]]:
    """Pick up to ``per_bucket`` samples per bucket: ``ceil(per_bucket / 2)`` best, the rest worst.

    Best = successful samples by decreasing IoU; worst = failures first (in file order), then the
    remaining samples by increasing IoU. A bucket with fewer samples than slots shows all of them.
    Returns bucket -> [(result, "good" | "bad")], good ones first; buckets with no samples are absent.
    """
    if per_bucket < 0:
        raise ValueError(f"gallery: per_bucket must be >= 0, got {per_bucket}")
    out: dict[str, list[tuple[SampleResult, str]]] = {}
    for b in buckets:
        pool = [r for r in results if r.bucket == b]
        if not pool or per_bucket == 0:
            continue
        n_good = math.ceil(per_bucket / 2)
        ok = sorted((r for r in pool if not r.failed), key=_iou_key, reverse=True)
        good = ok[:n_good]
        taken = {r.id for r in good}
        failed = [r for r in pool if r.failed and r.id not in taken]
        rest = sorted((r for r in pool if not r.failed and r.id not in taken), key=_iou_key)
        bad = (failed + rest)[: per_bucket - len(good)]
        if len(good) + len(bad) < per_bucket:  # few failures/low scores: fill with the next best
            taken |= {r.id for r in bad}
            more = [r for r in ok if r.id not in taken][: per_bucket - len(good) - len(bad)]
            good += more
        out[b] = [(r, "good") for r in good] + [(r, "bad") for r in bad]
    return out


def _contour(mask: np.ndarray, thickness: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (H, W) images of the GT contour line and of its wider dark halo."""
    import cv2

    m = np.ascontiguousarray(mask, dtype=np.uint8)  # decoded RLEs are column-major
    contours, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    line = np.zeros(m.shape, dtype=np.uint8)
    halo = np.zeros(m.shape, dtype=np.uint8)
    cv2.drawContours(halo, contours, -1, 1, thickness + 2)
    cv2.drawContours(line, contours, -1, 1, thickness)
    return line.astype(bool), halo.astype(bool)


def prediction_geometry(
    pred: Prediction | None, sample: Sample, response_frame: int | tuple[int, int] | str | None = "auto"
) -> tuple[np.ndarray | None, Box | None, list[Point]]:
    """What to draw for a prediction, original frame: (mask (H, W) bool or None, box or None, points).

    The mask is the one ``evaluate`` scored: ``Prediction.mask``; else the box filled as a rectangle
    (``Prediction.bbox``, or the box parsed from the response in ``response_frame``: a side, (w, h), None
    for the original frame, or ``"auto"``). Box and points are the prediction's, else those parsed from
    the response and mapped to the original frame.
    """
    if pred is None:
        return None, None, []
    h, w = int(sample.height), int(sample.width)
    box: Box | None = pred.bbox
    points: list[Point] = list(pred.points)
    if (box is None or not points) and pred.response is not None:
        frame = FrameTransform.for_size(w, h, prediction_frame(pred, response_frame)[0])
        parsed = parse_lenient(pred.response, image_size=frame.model_size)
        if box is None and parsed.bbox is not None:
            box = frame.box_to_original(parsed.bbox)
        if not points and parsed.points:
            points = frame.points_to_original(parsed.points)
    mask: np.ndarray | None = None
    if pred.error is None:
        if pred.mask is not None:
            mask = decode_rle(pred.mask)
            if mask.shape != (h, w):
                mask = None  # evaluate rejects such a file; never draw a mask of another image
        elif box is not None:
            mask = mask_from_box(box, h, w)
    return mask, box, points


def draw_example(
    bench: Benchmark,
    sample: Sample,
    pred: Prediction | None,
    *,
    max_side: int = 480,
    response_frame: int | tuple[int, int] | str | None = "auto",
) -> Any:
    """One example as a PIL RGB picture: the prediction over the image, the GT contour, scaled down to
    at most ``max_side`` pixels (the report's gallery and the app's run browser draw with this).

    Raises:
        FileNotFoundError / ValueError: the sample's image is missing or cannot be decoded.
    """
    from PIL import Image

    image = bench.load_image(sample)
    mask, box, points = prediction_geometry(pred, sample, response_frame)
    pic = overlay(image, mask, box, points)  # outlined: the shapes keep their colours
    gt = sample.mask_array()
    thickness = max(1, round(max(sample.width, sample.height) / 250))
    line, halo = _contour(gt, thickness)
    arr = np.asarray(pic).copy()
    arr[halo & ~line] = HALO_COLOR
    arr[line] = GT_COLOR
    pic = Image.fromarray(arr, mode="RGB")
    scale = max_side / max(pic.size)
    if scale < 1.0:
        size = (max(1, round(pic.size[0] * scale)), max(1, round(pic.size[1] * scale)))
        pic = pic.resize(size, Image.Resampling.LANCZOS)
    return pic


def render_example(
    bench: Benchmark,
    sample: Sample,
    pred: Prediction | None,
    path: str | os.PathLike[str],
    *,
    max_side: int = 480,
    response_frame: int | tuple[int, int] | str | None = "auto",
) -> Path:
    """Draw one example (:func:`draw_example`) and save it (JPEG for ``.jpg``/``.jpeg``, PNG otherwise);
    returns the path.

    Raises:
        FileNotFoundError / ValueError: the sample's image is missing or cannot be decoded.
    """
    pic = draw_example(bench, sample, pred, max_side=max_side, response_frame=response_frame)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() in (".jpg", ".jpeg"):
        pic.save(p, format="JPEG", quality=88)
    else:
        pic.save(p, format="PNG", optimize=True)
    return p


def safe_file_stem(text: str, limit: int = 60) -> str:
    """A file-name-safe version of a sample id (ids may hold '/', '#', spaces...)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return (stem or "sample")[:limit]


def build_gallery(
    bench: Benchmark,
    results: Sequence[SampleResult],
    predictions: Mapping[str, Prediction],
    out_dir: str | os.PathLike[str],
    *,
    per_bucket: int = 4,
    rel_dir: str = "assets/gallery",
    response_frame: int | tuple[int, int] | str | None = "auto",
) -> dict[str, list[GalleryItem]]:
    """Select examples and draw their pictures under ``out_dir/rel_dir``.

    A picture that cannot be drawn (missing or corrupt image) does not stop the report: the item keeps
    ``render_error`` and the page shows it. Returns bucket -> items.
    """
    chosen = select_examples(results, per_bucket)
    gallery: dict[str, list[GalleryItem]] = {}
    for bucket, picks in chosen.items():
        items = []
        for k, (res, kind) in enumerate(picks):
            sample = bench.get(res.id)
            pred = predictions.get(res.id)
            think = None
            if pred is not None and pred.response is not None:
                think = parse_lenient(pred.response).think
            item = GalleryItem(sample=sample, result=res, prediction=pred, kind=kind, think=think)
            rel = f"{rel_dir}/{bucket}-{k:02d}-{safe_file_stem(res.id)}.jpg"
            try:
                render_example(bench, sample, pred, Path(out_dir) / rel, response_frame=response_frame)
                item.image = rel
            except (FileNotFoundError, ValueError) as exc:
                item.render_error = str(exc)
            items.append(item)
        gallery[bucket] = items
    return gallery


def describe_prediction(pred: Prediction | None) -> dict[str, Any]:
    """Small facts shown next to a picture: answer tokens, latency total, parse problems."""
    if pred is None:
        return {}
    out: dict[str, Any] = {}
    if pred.answer_tokens is not None:
        out["answer tokens"] = pred.answer_tokens
    if pred.uncertainty is not None:
        out["U"] = f"{pred.uncertainty:.3f}"
    if "total" in pred.latency:
        out["latency"] = f"{pred.latency['total']:.2f}s"
    problems = pred.meta.get("problems") if isinstance(pred.meta, dict) else None
    if problems:
        out["problems"] = "; ".join(str(p) for p in problems) if isinstance(problems, list) else str(problems)
    return out
