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

from pixelthink.frames import Box, Point

RLE = dict  # {"size": [h, w], "counts": str}

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
    "as_bool_mask",
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


def as_bool_mask(mask: Any, name: str = "mask") -> np.ndarray:
    """``mask`` as a bool ``(H, W)`` array (non-zero = foreground); ValueError naming ``name`` if not 2-D."""
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
    arr = as_bool_mask(mask)
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
    info = np.iinfo(np.int32)
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        worst = arr.flat[int(np.argmax(np.abs(arr)))]
        raise ValueError(
            f"polygon: vertex coordinate {worst:g} does not fit in int32 (vertices are cast to int32)"
        )
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

    Returns None for an empty mask. This is Seg-Zero's ground-truth box: in
    ``prepare_dataset/training_data_prepare_toturial.ipynb`` (repository ``Schiffer116/Seg-Zero``, a copy of
    the authors' tutorial) the box is ``[min x, min y, max x, max y]`` of the mask pixels, both ends
    inclusive (no ``cv2.boundingRect``, no ``+1``).
    """
    arr = as_bool_mask(mask)
    cols = np.flatnonzero(arr.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(arr.any(axis=1))
    return (float(cols[0]), float(rows[0]), float(cols[-1]), float(rows[-1]))


# Relative tolerance of cv2's precise L2 distance transform (float32 output). Measured error is ~1e-7
# relative; candidates within this band of a maximum are re-evaluated exactly.
_DIST_RTOL = 1e-5
_SEGZERO_WINDOW = 10  # half size of Seg-Zero's fallback window around the mask centroid


class _SegZeroDistance:
    """The distance map of Seg-Zero's ``scipy.ndimage.distance_transform_edt(mask)``, exact where it matters.

    Semantics (scipy's): each pixel gets the Euclidean distance to the nearest **background pixel of the
    image**; the outside of the image is not background (no padding). A mask with no background pixel at
    all makes scipy measure the distance to the virtual pixel (row -1, column 0), i.e.
    ``sqrt((y + 1)**2 + x**2)``; that artefact is reproduced so full masks give the same points.

    ``approx`` (float64 per pixel) comes from ``cv2.distanceTransform`` (L2, precise), which computes the
    same map up to float32 rounding; ``exact_sq`` returns the exact integer squared distance of given
    pixels, so arg-max decisions (ties included) are exact. Work is confined to the mask's bounding box
    grown by one pixel: the nearest background pixel of any pixel in that box lies inside it.
    """

    def __init__(self, arr: np.ndarray) -> None:
        h, w = arr.shape
        rows = np.flatnonzero(arr.any(axis=1))
        cols = np.flatnonzero(arr.any(axis=0))
        self.y0, self.x0 = max(int(rows[0]) - 1, 0), max(int(cols[0]) - 1, 0)
        y1, x1 = min(int(rows[-1]) + 2, h), min(int(cols[-1]) + 2, w)
        crop = arr[self.y0 : y1, self.x0 : x1]
        self.full = bool(crop.all())  # then the crop is the whole image
        ch, cw = crop.shape
        if self.full:
            yy, xx = np.mgrid[0:ch, 0:cw]
            self._sq_full = (yy.astype(np.int64) + 1) ** 2 + xx.astype(np.int64) ** 2
            crop_approx = np.sqrt(self._sq_full.astype(np.float64))
            self._gaps = None
        else:
            crop_approx = cv2.distanceTransform(crop.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            self._gaps = self._column_gaps(crop)
        self._approx = np.asarray(crop_approx, dtype=np.float32)

    def approx(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """cv2 distances (float64) of pixels ``(ys, xs)``, image coordinates; 0 outside the crop."""
        cy, cx = ys - self.y0, xs - self.x0
        ch, cw = self._approx.shape
        inside = (cy >= 0) & (cy < ch) & (cx >= 0) & (cx < cw)
        out = np.zeros(cy.shape, dtype=np.float64)
        out[inside] = self._approx[cy[inside], cx[inside]]
        return out

    @staticmethod
    def _column_gaps(crop: np.ndarray) -> np.ndarray:
        """int32 ``(h, w)``: distance along the column to the nearest background pixel (big if none)."""
        h, w = crop.shape
        big = 2 * (h + w) + 2
        rows = np.arange(h, dtype=np.int32)[:, None]
        background = ~crop
        above = np.where(background, rows, np.int32(-big)).astype(np.int32)
        np.maximum.accumulate(above, axis=0, out=above)
        gaps = rows - above
        below = np.where(background, rows, np.int32(h + big)).astype(np.int32)
        below = np.minimum.accumulate(below[::-1], axis=0)[::-1]
        np.minimum(gaps, below - rows, out=gaps)
        return gaps

    def exact_sq(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Exact squared distances (int64) of pixels ``(ys, xs)`` (image coordinates, inside the crop)."""
        if self.full:
            return self._sq_full[ys - self.y0, xs - self.x0]
        assert self._gaps is not None
        cy, cx = ys - self.y0, xs - self.x0
        if cy.size == 0:
            return np.zeros(0, dtype=np.int64)
        # The nearest background pixel is at most `radius` columns away: scan that window of columns,
        # with each column contributing its own vertical gap (exact, integer).
        radius = math.ceil(float(self.approx(ys, xs).max()) * (1.0 + _DIST_RTOL)) + 1
        cw = self._gaps.shape[1]
        best = np.full(cy.shape, np.iinfo(np.int64).max, dtype=np.int64)
        for k in range(-radius, radius + 1):
            col = cx + k
            ok = (col >= 0) & (col < cw)
            if not ok.any():
                continue
            g = self._gaps[cy[ok], col[ok]].astype(np.int64)
            best[ok] = np.minimum(best[ok], g * g + k * k)
        return best

    def first_argmax(self, ys: np.ndarray, xs: np.ndarray) -> int:
        """Index of the first pixel (in the given order) with the largest distance, decided exactly."""
        vals = self.approx(ys, xs)
        vmax = float(vals.max())
        if vmax <= 0.0:  # background only: all exactly 0
            return 0
        # vmax >= 1 here, so every candidate has approx > 0: a mask pixel, inside the crop
        near = np.flatnonzero(vals >= vmax * (1.0 - _DIST_RTOL))
        sq = self.exact_sq(ys[near], xs[near])
        return int(near[int(np.argmax(sq))])


def points_from_mask(mask: np.ndarray) -> list[Point]:
    """Two representative points of a mask, exactly as Seg-Zero's ground-truth preparation computes them.

    Followed: ``get_two_representative_points`` in ``prepare_dataset/training_data_prepare_toturial.ipynb``
    of Seg-Zero (read in the copy ``Schiffer116/Seg-Zero``). Original frame, pixel indices (x = column,
    y = row):

    1. ``D`` = Euclidean distance transform of the mask as ``scipy.ndimage.distance_transform_edt``
       computes it: distance to the nearest background pixel of the image, **no padding** (the image
       border does not bound anything). Computed here with ``cv2.distanceTransform`` and decided exactly
       with integer squared distances (see ``_SegZeroDistance``).
    2. Point 1: the maximum of ``D`` (first in row-major order on ties).
    3. ``d(q) = |q - p1|`` for every mask pixel ``q`` (float64); the "far" pixels are those with
       ``d(q) > median(d)`` (strict). Point 2: the far pixel with the largest ``D`` (first in row-major
       order on ties). No circle/overlap test, no suppression radius.
    4. Only when no pixel is far (a single-pixel mask): point 2 is the maximum of ``D`` in the window
       rows ``cy-10 .. cy+9``, columns ``cx-10 .. cx+9`` (clipped to the image), where
       ``(cx, cy) = (int(mean x), int(mean y))`` of the mask pixels.
    5. A point that is not on the mask is replaced by the nearest mask pixel (first in row-major order
       on ties). Kept for fidelity; with a non-empty mask it cannot trigger.

    Points 1 and 2 may coincide (single pixel) and may lie in different connected components.

    Returns:
        ``[(x1, y1), (x2, y2)]``, floats holding integer pixel indices, both on the mask.

    Raises:
        ValueError: the mask is empty (Seg-Zero returns ``(None, None)`` there).
    """
    arr = as_bool_mask(mask)
    if not arr.any():
        raise ValueError("points_from_mask: the mask is empty (no foreground pixel), no points exist")
    h, w = arr.shape
    dist = _SegZeroDistance(arr)
    ys, xs = np.nonzero(arr)  # row-major order, as np.where

    # 1. global maximum of D, first in row-major order: the maximum is on the mask (D > 0 there, 0 off it)
    i1 = dist.first_argmax(ys, xs)
    y1, x1 = int(ys[i1]), int(xs[i1])

    # 2. far half of the mask pixels, then the largest D among them
    gap = np.sqrt(((ys.astype(np.int64) - y1) ** 2 + (xs.astype(np.int64) - x1) ** 2).astype(np.float64))
    far = np.flatnonzero(gap > np.median(gap))
    if far.size:
        i2 = int(far[dist.first_argmax(ys[far], xs[far])])
        y2, x2 = int(ys[i2]), int(xs[i2])
    else:
        cy, cx = int(np.mean(ys)), int(np.mean(xs))
        wy0, wy1 = max(0, cy - _SEGZERO_WINDOW), min(h, cy + _SEGZERO_WINDOW)
        wx0, wx1 = max(0, cx - _SEGZERO_WINDOW), min(w, cx + _SEGZERO_WINDOW)
        wy, wx = np.mgrid[wy0:wy1, wx0:wx1]
        wy, wx = wy.ravel(), wx.ravel()
        if wy.size == 0:  # cannot happen for a non-empty mask (the window holds the centroid)
            y2, x2 = y1, x1
        else:
            j = dist.first_argmax(wy, wx)
            y2, x2 = int(wy[j]), int(wx[j])

    # 3. snap a point that is off the mask to the nearest mask pixel
    def on_mask(y: int, x: int) -> tuple[int, int]:
        if arr[y, x]:
            return y, x
        k = int(np.argmin((xs.astype(np.int64) - x) ** 2 + (ys.astype(np.int64) - y) ** 2))
        return int(ys[k]), int(xs[k])

    y1, x1 = on_mask(y1, x1)
    y2, x2 = on_mask(y2, x2)
    return [(float(x1), float(y1)), (float(x2), float(y2))]


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
    gt_arr = as_bool_mask(gt, "gt")
    pred_arr = np.zeros_like(gt_arr) if pred is None else as_bool_mask(pred, "pred")
    if pred_arr.shape != gt_arr.shape:
        raise ValueError(f"intersection_union: pred shape {pred_arr.shape} != gt shape {gt_arr.shape}")
    inter = pred_arr & gt_arr
    union = pred_arr | gt_arr
    if ignore is not None:
        ign = as_bool_mask(ignore, "ignore")
        if ign.shape != gt_arr.shape:
            raise ValueError(f"intersection_union: ignore shape {ign.shape} != gt shape {gt_arr.shape}")
        keep = ~ign
        inter &= keep
        union &= keep
    return int(np.count_nonzero(inter)), int(np.count_nonzero(union))
