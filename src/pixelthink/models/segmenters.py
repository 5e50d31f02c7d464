"""Prompted segmenters: turn a box and points (original image frame) into a mask.

A segmenter follows the SAM predictor pattern: :meth:`Segmenter.set_image` does the expensive
per-image work once (SAM2: the image embedding), :meth:`Segmenter.predict` is called per prompt.

Frames: every box and point given to or returned by a segmenter is in the **original** frame
(pixels of the image passed to ``set_image``); masks are ``bool`` arrays of shape ``(H, W)`` of
that image.

Backends, chosen by name with :func:`pixelthink.models.registry.load_segmenter`:

- ``"sam:PATH"`` / ``"sam2:PATH"``: :class:`pixelthink.models.sam.SamSegmenter` (the promptable SAM family
  of transformers: SAM, SAM-HQ, SAM2 / SAM2.1, SAM 3 tracker).
- ``"grabcut"``: :class:`GrabCutSegmenter`, OpenCV GrabCut seeded by the prompts (no weights).
- ``"box"``: :class:`BoxSegmenter`, the box itself (a lower-bound baseline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pixelthink.frames import Box, Point

Prompt = tuple["Box | None", Sequence[Point]]

__all__ = [
    "GRABCUT_MAX_PIXELS",
    "BaseSegmenter",
    "BoxSegmenter",
    "GrabCutSegmenter",
    "Segmenter",
    "check_image",
    "clip_box",
    "points_inside",
]

#: Largest image GrabCut runs on at full size (2 MP; benchmark images are rarely larger); larger ones are
#: segmented on a scaled-down copy and the mask is scaled back up (``bench/bench_grabcut_pixels.py``:
#: time and memory per size).
GRABCUT_MAX_PIXELS = 2_000_000


@runtime_checkable
class Segmenter(Protocol):
    """What the pipeline needs from a segmenter (all coordinates in the original frame)."""

    def set_image(self, image: np.ndarray) -> None:
        """Prepare for prompts on ``image`` (``(H, W, 3)`` uint8 RGB, original frame)."""

    def predict(self, box: Box | None, points: Sequence[Point]) -> tuple[np.ndarray, float]:
        """Mask ``bool (H, W)`` and a confidence score for one prompt (original frame)."""


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an RGB image array: ``(H, W, 3)``, dtype uint8, H and W >= 1. Returns it contiguous."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: expected a numpy array (H, W, 3) uint8 RGB, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image: expected shape (H, W, 3) with H, W >= 1, got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image: expected dtype uint8, got {image.dtype}")
    return np.ascontiguousarray(image)


def clip_box(box: Box | None, width: int, height: int) -> Box | None:
    """Clip an XYXY box (original frame, pixels) to the image ``[0, width] x [0, height]``.

    Swapped corners are reordered. Returns ``None`` for a missing box, a box with a non-finite
    coordinate, or one whose clipped area is zero (degenerate or entirely outside the image).
    """
    if box is None:
        return None
    if len(box) != 4 or not all(math.isfinite(float(v)) for v in box):
        return None
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = min(x1, x2), max(x1, x2)
    y1, y2 = min(y1, y2), max(y1, y2)
    x1, x2 = min(max(x1, 0.0), float(width)), min(max(x2, 0.0), float(width))
    y1, y2 = min(max(y1, 0.0), float(height)), min(max(y2, 0.0), float(height))
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def points_inside(points: Sequence[Point], width: int, height: int) -> list[Point]:
    """The points (original frame, (x, y) pixels) that are finite and lie inside the image."""
    kept: list[Point] = []
    for p in points:
        if len(p) != 2:
            continue
        x, y = float(p[0]), float(p[1])
        if math.isfinite(x) and math.isfinite(y) and 0.0 <= x < width and 0.0 <= y < height:
            kept.append((x, y))
    return kept


def _box_pixels(box: Box, width: int, height: int, margin: int = 0) -> tuple[int, int, int, int]:
    """Integer pixel range ``[c0, c1) x [r0, r1)`` of a (clipped) XYXY box grown by ``margin``, clipped.

    Inclusive-pixel convention (as :func:`pixelthink.masks.box_from_mask`): columns
    ``floor(x1) .. floor(x2)`` and rows ``floor(y1) .. floor(y2)`` are inside, e.g. the box
    (10.5, 20, 30, 40.9) with margin 2 gives columns 8..32 and rows 18..42, i.e. (8, 18, 33, 43).
    """
    x1, y1, x2, y2 = box
    c0 = max(math.floor(x1) - margin, 0)
    r0 = max(math.floor(y1) - margin, 0)
    c1 = min(math.floor(x2) + 1 + margin, width)
    r1 = min(math.floor(y2) + 1 + margin, height)
    return c0, r0, max(c1, c0 + 1), max(r1, r0 + 1)


class BaseSegmenter:
    """Shared plumbing: keeps the current image and gives a looping :meth:`predict_many`.

    The per-image state that :meth:`set_image` computes (the image; SAM2: its embedding) can be taken out
    with :meth:`image_state` and put back with :meth:`restore_image_state`, so that a caller handling
    several images at once (the streaming predict loop) encodes each image once.
    """

    name = "base"
    #: attributes holding what :meth:`set_image` computed (see :meth:`image_state`)
    state_attributes: tuple[str, ...] = ("_image",)
    #: True when copies of the segmenter may run in worker processes (pure CPU work, small to pickle)
    process_safe: bool = False

    def __init__(self) -> None:
        self._image: np.ndarray | None = None

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` of the current image; raises if :meth:`set_image` was not called."""
        image = self._require_image()
        return int(image.shape[1]), int(image.shape[0])

    def _require_image(self) -> np.ndarray:
        if self._image is None:
            raise RuntimeError(f"{type(self).__name__}.predict called before set_image")
        return self._image

    def set_image(self, image: np.ndarray) -> None:
        """Remember ``image`` (``(H, W, 3)`` uint8 RGB, original frame)."""
        self._image = check_image(image)

    def input_note(self, width: int, height: int) -> str | None:
        """What a mask of an image of this size should say about how it was made (None: nothing), e.g.
        that it came from a scaled-down copy; recorded in each result's ``problems``."""
        return None

    def image_state(self) -> tuple[Any, ...]:
        """What :meth:`set_image` computed for the current image (opaque; for :meth:`restore_image_state`)."""
        self._require_image()
        return tuple(getattr(self, name) for name in self.state_attributes)

    def restore_image_state(self, state: tuple[Any, ...]) -> None:
        """Make the image of an earlier :meth:`image_state` current again, without recomputing it."""
        for name, value in zip(self.state_attributes, state, strict=True):
            setattr(self, name, value)

    def predict(self, box: Box | None, points: Sequence[Point]) -> tuple[np.ndarray, float]:
        raise NotImplementedError

    def predict_many(self, prompts: Sequence[Prompt]) -> list[tuple[np.ndarray, float]]:
        """:meth:`predict` for several ``(box, points)`` prompts on the current image."""
        return [self.predict(box, points) for box, points in prompts]

    def _empty(self) -> np.ndarray:
        w, h = self.image_size
        return np.zeros((h, w), dtype=bool)


class BoxSegmenter(BaseSegmenter):
    """The (clipped) box itself as the mask: a lower bound for any prompted segmenter.

    Uses :func:`pixelthink.masks.mask_from_box` for the pixel convention. Points are ignored; a
    missing or degenerate box gives an empty mask with score 0.0, otherwise score 1.0.
    """

    name = "box"

    def predict(self, box: Box | None, points: Sequence[Point]) -> tuple[np.ndarray, float]:
        from pixelthink.masks import mask_from_box

        w, h = self.image_size
        clipped = clip_box(box, w, h)
        if clipped is None:
            return self._empty(), 0.0
        mask = np.asarray(mask_from_box(clipped, h, w), dtype=bool)
        return mask, 1.0 if mask.any() else 0.0


class GrabCutSegmenter(BaseSegmenter):
    """OpenCV GrabCut seeded with the box (grown by ``margin`` px) and the points as sure foreground.

    Seeding (original frame): pixels outside the grown box are sure background, pixels inside are
    probable foreground, and a disc of radius ``point_radius`` around each point inside the image is
    sure foreground. With no usable box but some points, the box is the points' bounding box grown by
    ``max(16, 25% of the longer image side)``. GrabCut needs background samples: when the grown box
    covers the whole image, the outer ``margin`` ring of the image is used as probable background.

    Returns the GrabCut foreground (sure + probable) and a score of 1.0, or an empty mask and 0.0 for
    a prompt with neither a usable box nor a point inside the image. The result is deterministic
    (OpenCV's RNG is re-seeded with ``seed`` before each call).

    Large images: GrabCut's time and memory grow with the pixels (measured: 20 MP took 30 s and 4.7 GB,
    40 MP 67 s and 8.8 GB). An image of more than ``max_pixels`` (default
    :data:`GRABCUT_MAX_PIXELS`, 2 MP) is segmented on a copy scaled down to fit (area
    interpolation, the prompts scaled alike), and the mask is scaled back up to the original size
    (nearest neighbour), so the mask is as coarse as the scaled copy. ``max_pixels=None``: never scale.
    """

    name = "grabcut"
    state_attributes = ("_image", "_bgr")
    process_safe = True

    def __init__(
        self,
        iterations: int = 5,
        margin: int = 2,
        point_radius: int = 3,
        seed: int = 0,
        max_pixels: int | None = None,
    ) -> None:
        super().__init__()
        if max_pixels is None:
            max_pixels = GRABCUT_MAX_PIXELS
        if max_pixels < 1:
            raise ValueError(f"GrabCutSegmenter: max_pixels must be >= 1, got {max_pixels}")
        self.max_pixels = int(max_pixels)
        if iterations < 1:
            raise ValueError(f"GrabCutSegmenter: iterations must be >= 1, got {iterations}")
        if margin < 0 or point_radius < 0:
            raise ValueError(
                f"GrabCutSegmenter: margin and point_radius must be >= 0, got {margin}, {point_radius}"
            )
        self.iterations = int(iterations)
        self.margin = int(margin)
        self.point_radius = int(point_radius)
        self.seed = int(seed)
        self._bgr: np.ndarray | None = None

    def input_note(self, width: int, height: int) -> str | None:
        if width * height <= self.max_pixels:
            return None
        return (
            f"segmenter: GrabCut ran on a copy scaled down to at most {self.max_pixels:,} pixels "
            f"(the image has {width * height:,}); the mask was scaled back up"
        )

    def set_image(self, image: np.ndarray) -> None:
        """Remember ``image``; GrabCut's BGR copy is scaled down to ``max_pixels`` when it is larger."""
        super().set_image(image)
        rgb = self._require_image()
        h, w = rgb.shape[:2]
        if w * h > self.max_pixels:
            import cv2

            scale = math.sqrt(self.max_pixels / (w * h))
            size = (max(1, math.floor(w * scale)), max(1, math.floor(h * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        self._bgr = np.ascontiguousarray(rgb[:, :, ::-1])

    def seed_mask(self, box: Box | None, points: Sequence[Point]) -> np.ndarray | None:
        """The GrabCut initial label map (uint8 ``(H, W)``, values ``cv2.GC_*``, original frame), or
        ``None`` if unusable."""
        w, h = self.image_size
        return self._seed(box, points, w, h)

    def _seed(self, box: Box | None, points: Sequence[Point], w: int, h: int) -> np.ndarray | None:
        import cv2

        pts = points_inside(points, w, h)
        clipped = clip_box(box, w, h)
        if clipped is None and pts:
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            grow = max(16.0, 0.25 * max(w, h))
            clipped = clip_box((min(xs) - grow, min(ys) - grow, max(xs) + grow, max(ys) + grow), w, h)
        if clipped is None:
            return None
        c0, r0, c1, r1 = _box_pixels(clipped, w, h, self.margin)
        seed = np.full((h, w), cv2.GC_BGD, dtype=np.uint8)
        seed[r0:r1, c0:c1] = cv2.GC_PR_FGD
        if not (seed == cv2.GC_BGD).any():
            ring = max(self.margin, 1)
            if h > 2 * ring and w > 2 * ring:
                seed[:ring, :] = cv2.GC_PR_BGD
                seed[-ring:, :] = cv2.GC_PR_BGD
                seed[:, :ring] = cv2.GC_PR_BGD
                seed[:, -ring:] = cv2.GC_PR_BGD
        for x, y in pts:
            cv2.circle(seed, (int(x), int(y)), self.point_radius, int(cv2.GC_FGD), thickness=-1)
        return seed

    def predict(self, box: Box | None, points: Sequence[Point]) -> tuple[np.ndarray, float]:
        import cv2

        self._require_image()
        assert self._bgr is not None
        w, h = self.image_size
        small_h, small_w = self._bgr.shape[:2]
        if (small_w, small_h) != (w, h):  # scaled down (max_pixels): prompts in the scaled frame
            sx, sy = small_w / w, small_h / h
            if box is not None:
                box = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
            points = [(x * sx, y * sy) for x, y in points]
        seed = self._seed(box, points, small_w, small_h)
        if seed is None:
            return self._empty(), 0.0
        background = np.isin(seed, (cv2.GC_BGD, cv2.GC_PR_BGD))
        foreground = np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD))
        if not background.any() or not foreground.any():
            # Too small an image for a background model: the seed region is the best we can do.
            return self._full_size(foreground), 1.0 if foreground.any() else 0.0
        bgd_model = np.zeros((1, 65), np.float64)
        fgd_model = np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(self.seed)
        labels, _, _ = cv2.grabCut(
            self._bgr, seed, None, bgd_model, fgd_model, self.iterations, cv2.GC_INIT_WITH_MASK
        )
        mask = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        return self._full_size(mask), 1.0 if mask.any() else 0.0

    def _full_size(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` (bool, the frame GrabCut ran in) at the original image size (nearest neighbour)."""
        w, h = self.image_size
        if mask.shape == (h, w):
            return mask
        import cv2

        return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
