"""Binary masks: COCO RLE, polygon rasterisation, box and points from a mask, I/U pieces.

Conventions (see docs/ARCHITECTURE.md):

- A mask is a ``numpy.ndarray`` of dtype ``bool`` and shape ``(H, W)`` in the **original** frame
  (the image as stored on disk). Row index = y, column index = x.
- ``Box = (x1, y1, x2, y2)``: XYXY in pixels. Boxes derived from a mask use **inclusive pixel
  extremes**: ``x1`` is the column of the left-most mask pixel and ``x2`` the column of the right-most
  one, so a single pixel at (x, y) has the box ``(x, y, x, y)``.
- ``Point = (x, y)`` in pixels; points derived from a mask are pixel indices (integers stored as float).
- ``RLE`` is COCO's compressed run-length encoding with ``counts`` decoded to ``str`` so it is JSON-safe:
  ``{"size": [H, W], "counts": "..."}``. Runs are column-major (Fortran order), as in pycocotools.

Nothing here imports torch; everything is a pure function of its inputs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as _coco

RLE = dict  # {"size": [h, w], "counts": str}
Box = tuple[float, float, float, float]
Point = tuple[float, float]

TARGET_VALUE = 1
"""Label value of target polygons in a LISA label map."""
IGNORE_VALUE = 255
"""Label value of ignore polygons in a LISA label map (excluded from I and U at evaluation)."""

__all__ = [
    "IGNORE_VALUE",
    "RLE",
    "TARGET_VALUE",
    "Box",
    "Point",
    "box_from_mask",
    "decode_rle",
    "encode_rle",
    "intersection_union",
    "mask_from_box",
    "points_from_mask",
    "polygon_area",
    "rasterize_polygons",
    "rle_area",
    "rle_problem",
    "split_label_map",
    "target_and_ignore_from_polygons",
]


# --------------------------------------------------------------------------------------------- RLE


def _as_bool_mask(mask: Any, name: str = "mask") -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (H, W) array, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        arr = arr != 0
    return arr


def encode_rle(mask: np.ndarray) -> RLE:
    """Encode a binary mask as JSON-safe COCO compressed RLE.

    Args:
        mask: ``(H, W)`` array, bool or any numeric dtype (non-zero = foreground), original frame.

    Returns:
        ``{"size": [H, W], "counts": str}``; ``decode_rle`` inverts it exactly.
    """
    arr = _as_bool_mask(mask)
    encoded = _coco.encode(np.asfortranarray(arr.astype(np.uint8)))
    counts = encoded["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(arr.shape[0]), int(arr.shape[1])], "counts": counts}


def _run_lengths(counts: str) -> list[int]:
    """Run lengths of a COCO compressed counts string (the inverse of pycocotools' rleToString)."""
    runs: list[int] = []
    pos = 0
    n = len(counts)
    while pos < n:
        value = 0
        shift = 0
        more = True
        while more:
            if pos >= n:
                raise ValueError("counts string ends in the middle of a run")
            c = ord(counts[pos]) - 48
            if c < 0 or c > 63:
                raise ValueError(f"invalid character {counts[pos]!r} in counts at offset {pos}")
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if not more and (c & 0x10):
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def rle_problem(rle: Any, height: int | None = None, width: int | None = None) -> str | None:
    """Describe what is wrong with an RLE object, or return None when it is valid.

    Checks: a mapping with ``size`` = [H, W] (non-negative ints, equal to ``height``/``width`` when
    given) and ``counts`` either a compressed str/bytes whose runs are non-negative and sum to H*W, or an
    uncompressed list of non-negative ints summing to H*W.
    """
    if not isinstance(rle, Mapping):
        return f"expected an RLE object {{'size': [h, w], 'counts': str}}, got {type(rle).__name__}"
    size = rle.get("size")
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)
    ):
        return f"RLE 'size' must be [height, width] (two non-negative ints), got {size!r}"
    h, w = int(size[0]), int(size[1])
    if height is not None and width is not None and (h, w) != (height, width):
        return f"RLE size {[h, w]} does not match the image size [height, width] = {[height, width]}"
    counts = rle.get("counts")
    if isinstance(counts, bytes):
        try:
            counts = counts.decode("ascii")
        except UnicodeDecodeError:
            return "RLE 'counts' bytes are not ASCII"
    if isinstance(counts, str):
        try:
            runs = _run_lengths(counts)
        except ValueError as exc:
            return f"RLE 'counts' is not a valid compressed string: {exc}"
    elif isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            return "RLE 'counts' list must hold ints"
        runs = counts
    else:
        return f"RLE 'counts' must be a str (compressed) or a list of ints, got {type(counts).__name__}"
    if any(r < 0 for r in runs):
        return "RLE 'counts' holds a negative run length"
    total = sum(runs)
    if total != h * w:
        return f"RLE runs cover {total} pixels but size {[h, w]} has {h * w}"
    return None


def _to_coco(rle: Mapping[str, Any]) -> dict:
    counts = rle["counts"]
    h, w = int(rle["size"][0]), int(rle["size"][1])
    if isinstance(counts, list):
        return _coco.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [h, w], "counts": counts}


def decode_rle(rle: RLE) -> np.ndarray:
    """Decode COCO RLE (compressed str/bytes, or uncompressed list counts) to a bool ``(H, W)`` mask.

    Raises:
        ValueError: the RLE is malformed (wrong keys, runs not summing to H*W, bad characters).
    """
    problem = rle_problem(rle)
    if problem is not None:
        raise ValueError(problem)
    h, w = int(rle["size"][0]), int(rle["size"][1])
    if h == 0 or w == 0:
        return np.zeros((h, w), dtype=bool)
    with warnings.catch_warnings():  # pycocotools + numpy 2: harmless "copy keyword" deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        return _coco.decode(_to_coco(rle)).astype(bool)


def rle_area(rle: RLE) -> int:
    """Number of foreground pixels of an RLE, without decoding it to a full array."""
    problem = rle_problem(rle)
    if problem is not None:
        raise ValueError(problem)
    if int(rle["size"][0]) == 0 or int(rle["size"][1]) == 0:
        return 0
    return int(_coco.area(_to_coco(rle)))


# ---------------------------------------------------------------------------------------- polygons


def _int_polygon(points: Any) -> np.ndarray:
    """Polygon vertices as int32 ``(N, 2)`` (x, y), truncated toward zero as LISA's ``np.int32`` cast."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ValueError(f"polygon: expected an (N, 2) array of (x, y) vertices, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("polygon: vertices must be finite numbers")
    return arr.astype(np.int32)


def _draw_polygon(canvas: np.ndarray, poly: np.ndarray, value: int) -> None:
    cv2.polylines(canvas, [poly], True, int(value), 1)
    cv2.fillPoly(canvas, [poly], int(value))


def polygon_area(points: Any, height: int, width: int) -> int:
    """Pixel count of one polygon rasterised on an ``(height, width)`` canvas (outline + fill).

    This is LISA's sort key: the polygon is drawn with ``cv2.polylines`` (thickness 1) then
    ``cv2.fillPoly``, with vertices cast to int32, and pixels outside the canvas are not counted.
    """
    canvas = np.zeros((height, width), dtype=np.uint8)
    _draw_polygon(canvas, _int_polygon(points), 1)
    return int(canvas.sum())


def rasterize_polygons(polygons: Sequence[tuple[np.ndarray, int]], height: int, width: int) -> np.ndarray:
    """Rasterise labelled polygons into a label map, LISA style.

    Args:
        polygons: ``(vertices, value)`` pairs; ``vertices`` is ``(N, 2)`` (x, y) in pixels of the original
            frame (cast to int32 by truncation, as LISA does), ``value`` in 0..255 (LISA: 1 = target,
            255 = ignore).
        height, width: size of the output.

    Returns:
        ``uint8`` array ``(height, width)``. Polygons are drawn in **decreasing area order** (area =
        pixel count of the polygon drawn alone), so a smaller polygon overwrites a larger one where they
        overlap. Ties keep LISA's order (a stable ascending sort reversed: among equal areas, the polygon
        listed first is drawn last). Each polygon is drawn as its 1-px outline plus its filled interior.
    """
    if height < 0 or width < 0:
        raise ValueError(f"rasterize_polygons: negative size {(height, width)}")
    prepared: list[tuple[np.ndarray, int]] = []
    for k, (points, value) in enumerate(polygons):
        if not 0 <= int(value) <= 255:
            raise ValueError(f"polygon {k}: value must be in 0..255, got {value}")
        prepared.append((_int_polygon(points), int(value)))
    areas = []
    for poly, _ in prepared:
        canvas = np.zeros((height, width), dtype=np.uint8)
        _draw_polygon(canvas, poly, 1)
        areas.append(int(canvas.sum()))
    order = np.argsort(np.asarray(areas, dtype=np.int64), kind="stable")[::-1]
    label = np.zeros((height, width), dtype=np.uint8)
    for idx in order:
        poly, value = prepared[int(idx)]
        _draw_polygon(label, poly, value)
    return label


def split_label_map(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a LISA label map into ``(target, ignore)`` bool masks: value 1 and value 255."""
    label = np.asarray(label)
    return label == TARGET_VALUE, label == IGNORE_VALUE


def target_and_ignore_from_polygons(
    polygons: Sequence[tuple[np.ndarray, int]], height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """``rasterize_polygons`` then ``split_label_map``: bool ``(H, W)`` target and ignore masks."""
    return split_label_map(rasterize_polygons(polygons, height, width))


# ------------------------------------------------------------------------------------ box / points


def box_from_mask(mask: np.ndarray) -> Box | None:
    """Extent of a mask as ``(x1, y1, x2, y2)``, inclusive pixel extremes, original frame.

    Returns None for an empty mask. Seg-Zero's ground-truth box is exactly this (extreme mask pixels).
    """
    arr = _as_bool_mask(mask)
    cols = np.flatnonzero(arr.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(arr.any(axis=1))
    return (float(cols[0]), float(rows[0]), float(cols[-1]), float(rows[-1]))


def points_from_mask(mask: np.ndarray) -> list[Point]:
    """Centres of the two largest inscribed circles of a mask, as Seg-Zero's data preparation does.

    Algorithm (original frame, pixel indices):

    1. Euclidean distance transform of the mask (``cv2.distanceTransform``, L2, precise), with the mask
       zero-padded by one pixel so the image border also bounds the circles. ``r(p)`` is the radius of
       the largest circle centred at mask pixel ``p`` that stays in the mask.
    2. First point: the distance-transform maximum (first in row-major order on ties).
    3. Second point: the best far-away point: the largest ``r(q)`` among mask pixels whose circle does
       not overlap the first one (``|q - p1| >= r(p1) + r(q)``); ties go to the pixel farthest from
       ``p1``. If no such pixel exists (thin or tiny masks), the largest ``r(q)`` among pixels outside
       the first circle (``|q - p1| >= r(p1)``); if none either, the mask pixel farthest from ``p1``.
       A single-pixel mask returns that pixel twice. Components are not treated specially: the second
       point may lie in another connected component when that one holds the second largest circle.

    Returns:
        ``[(x1, y1), (x2, y2)]``, floats holding integer pixel indices, both inside the mask.

    Raises:
        ValueError: the mask is empty.
    """
    arr = _as_bool_mask(mask)
    if not arr.any():
        raise ValueError("points_from_mask: the mask is empty (no foreground pixel), no points exist")
    padded = np.pad(arr.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    flat = int(np.argmax(dist))
    y1, x1 = divmod(flat, arr.shape[1])
    r1 = float(dist[y1, x1])

    ys, xs = np.nonzero(arr)
    radii = dist[ys, xs].astype(np.float64)
    gap = np.hypot(xs - x1, ys - y1)
    eps = 1e-6
    for candidates in (gap + eps >= r1 + radii, gap + eps >= r1):
        candidates &= gap > 0
        if candidates.any():
            best_r = radii[candidates].max()
            chosen = candidates & (radii >= best_r - eps)
            break
    else:
        chosen = gap > 0
        if not chosen.any():  # single pixel
            return [(float(x1), float(y1)), (float(x1), float(y1))]
        chosen = chosen & (gap >= gap[chosen].max() - eps)
    idx = np.flatnonzero(chosen)
    pick = idx[int(np.argmax(gap[idx]))]
    return [(float(x1), float(y1)), (float(xs[pick]), float(ys[pick]))]


def mask_from_box(box: Box, height: int, width: int) -> np.ndarray:
    """Filled rectangle mask for a box in the original frame.

    The box is read with the inclusive-pixel convention of ``box_from_mask``: pixels with
    ``round(x1) <= x <= round(x2)`` and ``round(y1) <= y <= round(y2)`` are set, clipped to the image,
    so ``mask_from_box(box_from_mask(m))`` covers ``m``. A box with ``x2 < x1`` or ``y2 < y1`` gives an
    empty mask.

    Returns:
        bool ``(height, width)``.
    """
    if len(box) != 4:
        raise ValueError(f"mask_from_box: expected 4 numbers (x1, y1, x2, y2), got {box!r}")
    if not all(math.isfinite(float(v)) for v in box):
        raise ValueError(f"mask_from_box: box coordinates must be finite, got {box!r}")
    x1, y1, x2, y2 = (math.floor(float(v) + 0.5) for v in box)
    out = np.zeros((height, width), dtype=bool)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2, width - 1), min(y2, height - 1)
    if x2 >= x1 and y2 >= y1:
        out[y1 : y2 + 1, x1 : x2 + 1] = True
    return out


# -------------------------------------------------------------------------------------------- I / U


def intersection_union(
    pred: np.ndarray | None, gt: np.ndarray, ignore: np.ndarray | None = None
) -> tuple[int, int]:
    """Intersection and union pixel counts of a prediction against the ground truth.

    Args:
        pred: bool ``(H, W)`` predicted mask, or None for a failed prediction (counts as empty).
        gt: bool ``(H, W)`` ground-truth mask.
        ignore: optional bool ``(H, W)``; ignored pixels are removed from both I and U (LISA convention).
            Pass None to count every pixel (Seg-Zero convention, which merges ignore into ``gt`` first).

    Returns:
        ``(I, U)`` as Python ints. IoU conventions for ``U == 0`` are left to the caller.
    """
    gt_arr = _as_bool_mask(gt, "gt")
    pred_arr = np.zeros_like(gt_arr) if pred is None else _as_bool_mask(pred, "pred")
    if pred_arr.shape != gt_arr.shape:
        raise ValueError(f"intersection_union: pred shape {pred_arr.shape} != gt shape {gt_arr.shape}")
    inter = pred_arr & gt_arr
    union = pred_arr | gt_arr
    if ignore is not None:
        ign = _as_bool_mask(ignore, "ignore")
        if ign.shape != gt_arr.shape:
            raise ValueError(f"intersection_union: ignore shape {ign.shape} != gt shape {gt_arr.shape}")
        keep = ~ign
        inter &= keep
        union &= keep
    return int(np.count_nonzero(inter)), int(np.count_nonzero(union))
