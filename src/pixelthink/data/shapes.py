"""Procedural, difficulty-graded reasoning-segmentation benchmark of coloured shapes ("shapes").

A seeded generator draws scenes of coloured shapes (circle, ellipse, square, triangle, hexagon, star,
cross; seven colours; three sizes; plain, textured or noisy backgrounds; overlaps at higher
difficulty), asks one query of a graded family about each scene, checks with a small query evaluator
that exactly one shape answers it, and writes the sample in the pixelthink benchmark format: the exact
mask of the target's *visible* pixels, a difficulty score 1..10, and short and long reference reasoning.
See docs/SHAPES.md.

All geometry is in the original image frame: pixels, (x, y) with the origin at the top-left corner.

    >>> import numpy as np
    >>> s = generate_sample(np.random.default_rng(0))
    >>> s.mask.shape, s.mask.dtype
    ((256, 256), dtype('bool'))
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pixelthink.data.shapes_queries import (
    COLOURS,
    ENUMERATORS,
    FAMILIES,
    KINDS,
    LONG_OPENINGS,
    SIZES,
    Candidate,
    Query,
    difficulty,
    evaluate,
    references,
)

GENERATOR = "pixelthink.data.shapes"
GENERATOR_VERSION = 3  # 2: source.shapes (every shape's attributes and visible box); articles.
#                       3: long references open with what the query asks (``long_opening``)
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}

# Equal-area radius of each size class, as a fraction of min(width, height): a shape of radius s has
# the area of a circle of radius s, whatever its kind.
SIZE_RANGES: dict[str, tuple[float, float]] = {
    "small": (0.05, 0.065),
    "medium": (0.08, 0.10),
    "large": (0.12, 0.15),
}
MIN_VISIBLE_FRACTION = 0.5  # every shape keeps at least half of its pixels visible
MAX_SHAPE_SCALE = 2.5  # the largest shape_scale at which a "large" shape still fits in the image


def check_shape_scale(value: float, what: str = "shape_scale") -> None:
    """Raise ValueError naming ``what`` unless ``value`` is a usable shape scale (0.25..MAX_SHAPE_SCALE)."""
    if not 0.25 <= value <= MAX_SHAPE_SCALE:
        raise ValueError(f"{what} must be in [0.25, {MAX_SHAPE_SCALE}], got {value}")


def check_crop(window: float | None, jitter: float, max_shapes: int | None, what: str) -> None:
    """Raise ValueError naming ``what`` unless (crop_window, crop_jitter, max_shapes) make sense."""
    if window is None:
        if jitter != 0:
            raise ValueError(f"{what}: crop_jitter needs crop_window (got crop_jitter={jitter})")
        return
    if not (isinstance(window, int | float) and 1.0 <= window <= 8.0):
        raise ValueError(f"{what}: crop_window must be a number in [1, 8] (shape sizes), got {window!r}")
    if not (isinstance(jitter, int | float) and 0.0 <= jitter <= 4.0):
        raise ValueError(f"{what}: crop_jitter must be a number in [0, 4] (shape sizes), got {jitter!r}")
    if max_shapes != 1:
        raise ValueError(
            f"{what}: crop_window needs max_shapes=1 (a crop around one shape would cut others), "
            f"got max_shapes={max_shapes}"
        )


_SHIFT = 4  # cv2 sub-pixel bits for fillPoly


# ------------------------------------------------------------------------------------ geometry


def _shoelace(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _regular(n: int, radius: float = 1.0, start: float = -90.0) -> np.ndarray:
    a = np.deg2rad(start + 360.0 * np.arange(n) / n)
    return np.stack([radius * np.cos(a), radius * np.sin(a)], axis=1)


def _unit_polygons() -> dict[str, np.ndarray]:
    star = _regular(10)
    star[1::2] *= 0.45
    w = 1.0 / 3.0
    cross = np.array(
        [
            (-w, -1),
            (w, -1),
            (w, -w),
            (1, -w),
            (1, w),
            (w, w),
            (w, 1),
            (-w, 1),
            (-w, w),
            (-1, w),
            (-1, -w),
            (-w, -w),
        ],
        dtype=float,
    )
    ellipse = _regular(64)
    ellipse[:, 0] *= 1.3
    ellipse[:, 1] /= 1.3
    raw = {
        "circle": _regular(64),
        "ellipse": ellipse,
        "square": np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=float),
        "triangle": _regular(3),
        "hexagon": _regular(6, start=0.0),
        "star": star,
        "cross": cross,
    }
    # normalise to area pi: a unit "radius" means the area of the unit circle
    return {k: v * math.sqrt(math.pi / _shoelace(v)) for k, v in raw.items()}


UNIT_POLYGONS: dict[str, np.ndarray] = _unit_polygons()
_ROTATION: dict[str, tuple[float, float]] = {  # degrees, uniform range
    "circle": (0.0, 0.0),
    "ellipse": (0.0, 180.0),
    "square": (-15.0, 15.0),
    "triangle": (-12.0, 12.0),
    "hexagon": (0.0, 60.0),
    "star": (-15.0, 15.0),
    "cross": (-15.0, 15.0),
}
_BOUND = {k: float(np.linalg.norm(v, axis=1).max()) for k, v in UNIT_POLYGONS.items()}


def shape_polygon(kind: str, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    """Vertices ``[N, 2]`` float64, (x, y) pixels in the original frame, of a shape of equal-area
    ``radius`` centred at (cx, cy) and rotated by ``angle`` degrees (clockwise on screen)."""
    if kind not in UNIT_POLYGONS:
        raise ValueError(f"unknown shape kind {kind!r}; expected one of {list(KINDS)}")
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return UNIT_POLYGONS[kind] @ rot.T * radius + np.array([cx, cy])


def rasterize(poly: np.ndarray, height: int, width: int) -> np.ndarray:
    """Filled polygon as a bool ``(height, width)`` mask (no anti-aliasing, so it is exact)."""
    canvas = np.zeros((height, width), np.uint8)
    pts = np.round(poly * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return canvas.astype(bool)


# ------------------------------------------------------------------------------------- scenes


@dataclass(frozen=True)
class Shape:
    """One shape of a scene, in drawing order (``index`` 0 is drawn first, i.e. at the bottom).

    ``cx, cy``: centre, pixels, original frame. ``radius``: equal-area radius (pixels). ``area``: pixels
    of the whole shape; ``visible_area``: pixels not covered by shapes drawn later; ``occluded`` =
    1 - visible_area / area; ``covered_by``: indices of later shapes overlapping it.
    """

    index: int
    kind: str
    colour: str
    size: str
    cx: float
    cy: float
    radius: float
    angle: float
    rgb: tuple[int, int, int]
    area: int
    visible_area: int
    occluded: float
    covered_by: tuple[int, ...]


@dataclass
class Scene:
    """A rendered scene. ``image``: uint8 ``(height, width, 3)`` RGB. ``masks[i]``: bool
    ``(height, width)`` visible pixels of shape i (exactly the pixels painted in its colour);
    ``full_masks[i]``: all its pixels, hidden ones included."""

    width: int
    height: int
    background: str
    shapes: tuple[Shape, ...]
    image: np.ndarray
    masks: list[np.ndarray]
    full_masks: list[np.ndarray]


Forced = tuple[str | None, str | None, str | None]


@dataclass(frozen=True)
class SceneConfig:
    """How to draw one scene.

    Attributes:
        width, height: image size in pixels.
        n_shapes: inclusive range of the number of shapes.
        overlap: probability that a shape is placed overlapping an earlier one (0 = never overlap).
        backgrounds: weights of the "plain", "textured" and "noisy" backgrounds.
        forced: (kind, colour, size) of the first shapes, None meaning random; placed in random order.
        shape_scale: factor on every size class's radius (1 = the benchmark's sizes); > 1 draws large
            shapes, e.g. a recognition warm-up set where one shape fills much of the image.
    """

    width: int = 256
    height: int = 256
    n_shapes: tuple[int, int] = (3, 6)
    overlap: float = 0.0
    backgrounds: tuple[float, float, float] = (1.0, 0.0, 0.0)
    forced: tuple[Forced, ...] = ()
    shape_scale: float = 1.0

    def __post_init__(self) -> None:
        check_shape_scale(self.shape_scale, "SceneConfig: shape_scale")
        if self.width < 64 or self.height < 64:
            raise ValueError(
                f"SceneConfig: image size must be at least 64x64, got {self.width}x{self.height}"
            )
        lo, hi = self.n_shapes
        if not 1 <= lo <= hi <= 16:
            raise ValueError(f"SceneConfig: n_shapes must satisfy 1 <= lo <= hi <= 16, got {self.n_shapes}")
        if not 0.0 <= self.overlap <= 1.0:
            raise ValueError(f"SceneConfig: overlap must be in [0, 1], got {self.overlap}")


BACKGROUNDS = ("plain", "textured", "noisy")


def _background(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    dark = rng.random() < 0.12
    level = float(rng.integers(35, 71)) if dark else float(rng.integers(200, 246))
    base = np.clip(level + rng.integers(-8, 9, 3), 0, 255).astype(np.float32)
    img = np.broadcast_to(base, (h, w, 3)).astype(np.float32)
    if kind == "textured":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        amp = float(rng.uniform(8, 18))
        pattern = int(rng.integers(3))
        if pattern == 0:  # diagonal stripes
            period = float(rng.uniform(10, 24))
            tex = np.sign(np.sin(2 * np.pi * (xx + yy) / period))
        elif pattern == 1:  # checkerboard
            cell = int(rng.integers(12, 28))
            tex = ((xx // cell + yy // cell) % 2) * 2 - 1
        else:  # smooth gradient
            ang = rng.uniform(0, 2 * np.pi)
            tex = (np.cos(ang) * xx / w + np.sin(ang) * yy / h) * 2 - 1
            amp *= 1.5
        img = img + (amp * tex)[..., None] * (-1 if dark else 1) * np.sign(rng.random() - 0.5 + 1e-9)
    return img


def _sample_size(rng: np.random.Generator, size: str | None) -> str:
    return size if size is not None else SIZES[int(rng.choice(3, p=[0.35, 0.4, 0.25]))]


def _try_scene(rng: np.random.Generator, config: SceneConfig) -> Scene | None:
    w, h = config.width, config.height
    side = min(w, h)
    n = int(rng.integers(config.n_shapes[0], config.n_shapes[1] + 1))
    forced = list(config.forced[:n])
    specs: list[Forced] = forced + [(None, None, None)] * (n - len(forced))
    order = rng.permutation(n)
    specs = [specs[i] for i in order]
    gap = 0.02 * side
    placed: list[dict[str, Any]] = []
    full: list[np.ndarray] = []
    scale = config.shape_scale
    min_area = math.pi * (SIZE_RANGES["small"][0] * scale * side) ** 2 * MIN_VISIBLE_FRACTION
    for kind, colour, size in specs:
        kind = kind if kind is not None else KINDS[int(rng.integers(len(KINDS)))]
        colour = colour if colour is not None else list(COLOURS)[int(rng.integers(len(COLOURS)))]
        size = _sample_size(rng, size)
        ok = False
        for _ in range(60):
            lo, hi = SIZE_RANGES[size]
            radius = float(rng.uniform(lo, hi)) * scale * side
            bound = _BOUND[kind] * radius
            overlap = bool(placed) and rng.random() < config.overlap
            if overlap:
                anchor = placed[int(rng.integers(len(placed)))]
                dist = float(rng.uniform(0.55, 0.95)) * (anchor["bound"] + bound)
                theta = float(rng.uniform(0, 2 * np.pi))
                cx, cy = anchor["cx"] + dist * math.cos(theta), anchor["cy"] + dist * math.sin(theta)
            else:
                cx = float(rng.uniform(bound + 2, w - bound - 2)) if w > 2 * bound + 4 else -1.0
                cy = float(rng.uniform(bound + 2, h - bound - 2)) if h > 2 * bound + 4 else -1.0
            if not (bound + 1 <= cx <= w - bound - 1 and bound + 1 <= cy <= h - bound - 1):
                continue
            too_close = False
            for p in placed:
                d = math.hypot(p["cx"] - cx, p["cy"] - cy)
                if (not overlap and d < p["bound"] + bound + gap) or d < 0.45 * (p["bound"] + bound):
                    too_close = True
                    break
            if too_close:
                continue
            lo_a, hi_a = _ROTATION[kind]
            angle = float(rng.uniform(lo_a, hi_a)) if hi_a > lo_a else 0.0
            mask = rasterize(shape_polygon(kind, cx, cy, radius, angle), h, w)
            # every earlier shape must keep enough visible pixels once this one is drawn on top
            covered = mask.copy()
            fine = True
            for j in range(len(placed) - 1, -1, -1):
                vis = int(np.count_nonzero(full[j] & ~covered))
                if vis < MIN_VISIBLE_FRACTION * placed[j]["area"] or vis < min_area:
                    fine = False
                    break
                covered |= full[j]
            if not fine:
                continue
            placed.append(
                {
                    "kind": kind,
                    "colour": colour,
                    "size": size,
                    "cx": cx,
                    "cy": cy,
                    "radius": radius,
                    "angle": angle,
                    "bound": bound,
                    "area": int(np.count_nonzero(mask)),
                }
            )
            full.append(mask)
            ok = True
            break
        if not ok:
            return None

    bg_kind = BACKGROUNDS[int(rng.choice(3, p=np.asarray(config.backgrounds) / sum(config.backgrounds)))]
    img = _background(rng, bg_kind, h, w)
    shapes: list[Shape] = []
    visible: list[np.ndarray] = [np.zeros((h, w), bool)] * len(placed)
    covered = np.zeros((h, w), bool)
    for i in range(len(placed) - 1, -1, -1):
        visible[i] = full[i] & ~covered
        covered |= full[i]
    for i, p in enumerate(placed):
        rgb = tuple(
            int(v) for v in np.clip(np.asarray(COLOURS[p["colour"]]) + rng.integers(-12, 13, 3), 0, 255)
        )
        img[full[i]] = rgb
        vis_area = int(np.count_nonzero(visible[i]))
        cov = tuple(j for j in range(i + 1, len(placed)) if (full[j] & full[i]).any())
        shapes.append(
            Shape(
                i,
                p["kind"],
                p["colour"],
                p["size"],
                p["cx"],
                p["cy"],
                p["radius"],
                p["angle"],
                rgb,  # type: ignore[arg-type]
                p["area"],
                vis_area,
                1.0 - vis_area / p["area"],
                cov,
            )
        )
    if bg_kind == "noisy":
        img = img + rng.normal(0.0, float(rng.uniform(6, 12)), img.shape)
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return Scene(w, h, bg_kind, tuple(shapes), image, visible, full)


def generate_scene(rng: np.random.Generator, config: SceneConfig | None = None) -> Scene:
    """Draw one scene with ``rng`` (numpy Generator): same generator state -> identical scene.

    Shapes are placed by rejection sampling; a layout that cannot be completed is redrawn.
    """
    config = config or SceneConfig()
    for _ in range(200):
        scene = _try_scene(rng, config)
        if scene is not None:
            return scene
    raise RuntimeError(f"could not place {config.n_shapes} shapes in a {config.width}x{config.height} image")


def _warp_mask(mask: np.ndarray, affine: np.ndarray, scene: Scene) -> np.ndarray:
    out = cv2.warpAffine(mask.astype(np.uint8), affine, (scene.width, scene.height), flags=cv2.INTER_NEAREST)
    return out > 0


def crop_scene(
    scene: Scene, rng: np.random.Generator, window: float, jitter: float = 0.0, index: int = 0
) -> Scene:
    """Zoom ``scene`` onto shape ``index``: a square of ``window`` times the shape's size (the longer
    side of its visible box) around it, its centre moved by up to ``jitter`` sizes per axis, scaled
    back to the scene's size (an aspect-preserving crop when the scene is not square). Pixels outside
    the original image are black. Image, masks and the shapes' centres, radii and areas follow the
    crop, so queries, references and difficulty computed on the result describe what it shows.

    Raises ValueError when the crop would miss the shape (after 20 jitter draws).
    """
    ys, xs = np.nonzero(scene.masks[index])
    if xs.size == 0:
        raise ValueError(f"crop_scene: shape {index} has no visible pixel")
    size = float(max(xs.max() - xs.min(), ys.max() - ys.min()) + 1)
    m = min(scene.width, scene.height)
    scale = m / (window * size)
    for _ in range(20):
        cx = (xs.min() + xs.max()) / 2 + rng.uniform(-jitter, jitter) * size
        cy = (ys.min() + ys.max()) / 2 + rng.uniform(-jitter, jitter) * size
        x0, y0 = cx - scene.width / (2 * scale), cy - scene.height / (2 * scale)
        affine = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
        masks = [_warp_mask(k, affine, scene) for k in scene.masks]
        if masks[index].any():
            break
    else:
        raise ValueError(f"crop_scene: window {window} with jitter {jitter} keeps missing shape {index}")
    full_masks = [_warp_mask(k, affine, scene) for k in scene.full_masks]
    shapes = tuple(
        replace(
            sh,
            cx=(sh.cx - x0) * scale,
            cy=(sh.cy - y0) * scale,
            radius=sh.radius * scale,
            area=int(fm.sum()),
            visible_area=int(vm.sum()),
        )
        for sh, fm, vm in zip(scene.shapes, full_masks, masks, strict=True)
    )
    image = cv2.warpAffine(scene.image, affine, (scene.width, scene.height), flags=cv2.INTER_LINEAR)
    return Scene(scene.width, scene.height, scene.background, shapes, image, masks, full_masks)


# ------------------------------------------------------------------------------------ samples


@dataclass(frozen=True)
class ShapesConfig:
    """Benchmark-level settings: image size and the query families drawn (with their weights).

    ``family_weights`` maps a family name to a sampling weight; None uses each family's default weight
    (``shapes_queries.FAMILIES``).
    """

    width: int = 256
    height: int = 256
    family_weights: dict[str, float] | None = None
    max_attempts: int = 60
    #: cap on the number of shapes per scene (None = each family's own range); e.g. 2 for a simple
    #: grounding warm-up set. Families that need more shapes (e.g. ``distractors``) are refused.
    max_shapes: int | None = None
    #: factor on every shape's size (1 = the benchmark's); see SceneConfig.shape_scale
    shape_scale: float = 1.0
    #: recognition crops (needs ``max_shapes=1``): each image becomes a square of ``crop_window`` times
    #: the shape's size around it, resized back to the image size (None = whole scenes); see crop_scene
    crop_window: float | None = None
    #: with ``crop_window``: the crop's centre moves by up to this many shape sizes (uniform, per axis)
    crop_jitter: float = 0.0
    #: where the long reference says what the query asks: ``"query"`` first, before the scene
    #: inventory (the default), or ``"scene"`` after it (generator version 2); see references()
    long_opening: str = "query"

    def __post_init__(self) -> None:
        if self.long_opening not in LONG_OPENINGS:
            raise ValueError(
                f"ShapesConfig.long_opening must be one of {LONG_OPENINGS}, got {self.long_opening!r}"
            )
        if self.max_shapes is not None and self.max_shapes < 1:
            raise ValueError(f"ShapesConfig.max_shapes must be >= 1 or None, got {self.max_shapes}")
        check_shape_scale(self.shape_scale, "ShapesConfig.shape_scale")
        check_crop(self.crop_window, self.crop_jitter, self.max_shapes, "ShapesConfig")

    def weights(self) -> tuple[list[str], np.ndarray]:
        table = self.family_weights or {k: v.weight for k, v in FAMILIES.items()}
        unknown = sorted(set(table) - set(FAMILIES))
        if unknown:
            raise ValueError(
                f"ShapesConfig.family_weights: unknown families {unknown}; known: {list(FAMILIES)}"
            )
        names = [k for k in FAMILIES if table.get(k, 0) > 0]
        if not names:
            raise ValueError("ShapesConfig.family_weights: at least one family needs a positive weight")
        p = np.array([table[k] for k in names], dtype=float)
        return names, p / p.sum()


@dataclass
class GeneratedSample:
    """One generated sample: the scene, the query and its unique target, and the annotations."""

    scene: Scene
    target: int
    family: str
    query: str
    is_sentence: bool
    ast: Query
    difficulty: float
    reasoning_short: str
    reasoning_long: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """Target mask: bool ``(H, W)``, the target's visible pixels, original frame."""
        return self.scene.masks[self.target]

    @property
    def target_shape(self) -> Shape:
        return self.scene.shapes[self.target]

    def pil_image(self) -> Any:
        from PIL import Image

        return Image.fromarray(self.scene.image, mode="RGB")


def is_unique(query: Query, scene: Scene) -> int | None:
    """The target index when exactly one shape satisfies ``query`` and none is borderline, else None."""
    values = evaluate(query, scene)
    if any(v is None for v in values):
        return None
    hits = [i for i, v in enumerate(values) if v]
    return hits[0] if len(hits) == 1 else None


def generate_sample(
    rng: np.random.Generator, config: ShapesConfig | None = None, *, family: str | None = None
) -> GeneratedSample:
    """Draw a family (unless given), a scene set up for it, and one of its grounded queries with a
    unique target. Scenes without any valid query of the family are redrawn (``config.max_attempts``)."""
    config = config or ShapesConfig()
    if family is None:
        names, p = config.weights()
        family = names[int(rng.choice(len(names), p=p))]
    if family not in FAMILIES:
        raise ValueError(f"unknown query family {family!r}; expected one of {list(FAMILIES)}")
    spec = FAMILIES[family]
    cap = config.max_shapes if config.max_shapes is not None else spec.n_shapes[1]
    for _ in range(config.max_attempts):
        n_hi = min(spec.n_shapes[1], cap)
        forced = tuple(spec.force(rng, n_hi)) if spec.force is not None else ()
        n_lo = min(max(spec.n_shapes[0], min(len(forced), n_hi)), n_hi)
        scene_cfg = SceneConfig(
            width=config.width,
            height=config.height,
            n_shapes=(n_lo, n_hi),
            overlap=spec.overlap,
            backgrounds=spec.backgrounds,
            forced=forced,
            shape_scale=config.shape_scale,
        )
        scene = generate_scene(rng, scene_cfg)
        if config.crop_window is not None:
            scene = crop_scene(scene, rng, config.crop_window, config.crop_jitter)
        cands: list[tuple[Candidate, int]] = []
        for c in ENUMERATORS[family](scene, rng):
            t = is_unique(c.ast, scene)
            if t is not None:
                cands.append((c, t))
        if not cands:
            continue
        cand, target = cands[int(rng.integers(len(cands)))]
        short, long = references(scene, cand, target, opening=config.long_opening)
        return GeneratedSample(
            scene=scene,
            target=target,
            family=family,
            query=cand.text,
            is_sentence=cand.is_sentence,
            ast=cand.ast,
            difficulty=difficulty(family, scene, target, cand.is_sentence),
            reasoning_short=short,
            reasoning_long=long,
            info=dict(cand.info),
        )
    hint = f" with at most {config.max_shapes} shapes" if config.max_shapes is not None else ""
    raise RuntimeError(
        f"family {family!r}: no scene{hint} with a unique query in {config.max_attempts} attempts"
    )


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of ``split``: independent of every other sample."""
    return np.random.default_rng([int(seed), SPLIT_CODES.get(split, 3), int(index)])


def scene_shapes(scene: Scene) -> list[dict[str, Any]]:
    """Every shape of ``scene`` in drawing order: kind, colour, size, occluded fraction and the box of
    its visible pixels (XYXY, inclusive pixel extremes, original frame); e.g. for caption pre-training."""
    out = []
    for shape, mask in zip(scene.shapes, scene.masks, strict=True):
        ys, xs = np.nonzero(mask)
        box = [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())] if xs.size else None
        out.append(
            {
                "kind": shape.kind,
                "colour": shape.colour,
                "size": shape.size,
                "occluded": round(shape.occluded, 3),
                "bbox": box,
            }
        )
    return out


def sample_record(
    gen: GeneratedSample, *, sample_id: str, split: str, seed: int, index: int
) -> dict[str, Any]:
    """The mapping handed to ``BenchmarkWriter.add`` (bbox/points/width/height are derived by it)."""
    t = gen.target_shape
    return {
        "id": sample_id,
        "query": gen.query,
        "is_sentence": gen.is_sentence,
        "mask": gen.mask,
        "difficulty": gen.difficulty,
        "reasoning_short": gen.reasoning_short,
        "reasoning_long": gen.reasoning_long,
        "source": {
            "dataset": "shapes",
            "generator": GENERATOR,
            "generator_version": GENERATOR_VERSION,
            "seed": int(seed),
            "split": split,
            "index": int(index),
            "image_id": sample_id,
            "family": gen.family,
            "n_shapes": len(gen.scene.shapes),
            "background": gen.scene.background,
            "target": {"kind": t.kind, "colour": t.colour, "size": t.size, "occluded": round(t.occluded, 3)},
            "shapes": scene_shapes(gen.scene),
        },
        "split": split,
    }


def generate_benchmark(
    out_dir: str | os.PathLike[str],
    *,
    n_train: int = 1000,
    n_val: int = 100,
    n_test: int = 200,
    seed: int = 0,
    image_size: tuple[int, int] = (256, 256),
    progress: bool = True,
    overwrite: bool = False,
    config: ShapesConfig | None = None,
) -> Path:
    """Write a shapes benchmark (train, val, test splits) to ``out_dir`` through ``BenchmarkWriter``.

    ``image_size`` is (width, height). Sample ``i`` of split ``s`` depends only on (seed, s, i), so the
    same arguments give a byte-identical ``samples.jsonl``. Returns the benchmark directory.
    """
    from pixelthink.data.format import BenchmarkWriter

    counts = {"train": n_train, "val": n_val, "test": n_test}
    for split, n in counts.items():
        if n < 0:
            raise ValueError(f"generate_benchmark: n_{split} must be >= 0, got {n}")
    width, height = (int(v) for v in image_size)
    cfg = replace(config or ShapesConfig(), width=width, height=height)
    names, p = cfg.weights()
    meta = {
        "generator": {
            "name": GENERATOR,
            "version": GENERATOR_VERSION,
            "seed": int(seed),
            "image_size": [width, height],
            "families": dict(zip(names, (round(float(v), 4) for v in p), strict=True)),
            "max_shapes": cfg.max_shapes,
            "shape_scale": cfg.shape_scale,
            "long_opening": cfg.long_opening,
            **({"crop_window": cfg.crop_window, "crop_jitter": cfg.crop_jitter} if cfg.crop_window else {}),
        }
    }
    out = Path(out_dir)
    total = sum(counts.values())
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="shapes", unit="sample")
    try:
        with BenchmarkWriter(
            out, name="shapes", version=str(GENERATOR_VERSION), overwrite=overwrite, extra_meta=meta
        ) as writer:
            for split, n in counts.items():
                for i in range(n):
                    gen = generate_sample(sample_rng(seed, split, i), cfg)
                    sid = f"shapes-{split}-{i:06d}"
                    rec = sample_record(gen, sample_id=sid, split=split, seed=seed, index=i)
                    writer.add(rec, gen.pil_image(), image_name=f"{sid}.png")
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return out


# ------------------------------------------------------------------------------------------ CLI


def parse_size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> (320, 240) (width, height)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--size: expected WIDTHxHEIGHT such as 256x256, got {text!r}")
    w, h = int(parts[0]), int(parts[1])
    if w < 64 or h < 64:
        raise ValueError(f"--size: width and height must be at least 64, got {text!r}")
    return w, h


def parse_families(text: str) -> dict[str, float]:
    """``"direct_kind=1,direct_attr=2"`` (or ``"direct_kind,direct_attr"``, weight 1) -> weights."""
    out: dict[str, float] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, weight = item.partition("=")
        name = name.strip()
        if name not in FAMILIES:
            raise ValueError(f"--families: unknown family {name!r}; known: {', '.join(FAMILIES)}")
        try:
            w = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ValueError(f"--families: weight of {name!r} must be a number, got {weight!r}") from None
        if not w >= 0:
            raise ValueError(f"--families: weight of {name!r} must be >= 0, got {weight!r}")
        out[name] = w
    if not any(v > 0 for v in out.values()):
        raise ValueError(f"--families: expected NAME[=WEIGHT],... with a positive weight, got {text!r}")
    return out


def _cli_shapes(args: argparse.Namespace) -> int:
    size = parse_size(args.size)
    families = parse_families(args.families) if args.families else None
    if args.max_shapes is not None and args.max_shapes < 1:
        raise ValueError(f"--max-shapes must be >= 1, got {args.max_shapes}")
    check_shape_scale(args.shape_scale, "--shape-scale")
    check_crop(args.crop_window, args.crop_jitter, args.max_shapes, "--crop-window/--crop-jitter")
    progress = not args.no_progress and sys.stderr.isatty()
    from pixelthink.data.format import BenchmarkExistsError

    try:
        out = generate_benchmark(
            args.out,
            n_train=args.train,
            n_val=args.val,
            n_test=args.test,
            seed=args.seed,
            image_size=size,
            progress=progress,
            overwrite=args.overwrite,
            config=ShapesConfig(
                family_weights=families,
                max_shapes=args.max_shapes,
                shape_scale=args.shape_scale,
                crop_window=args.crop_window,
                crop_jitter=args.crop_jitter,
                long_opening=args.long_opening,
            ),
        )
    except BenchmarkExistsError:  # the writer's own check; here it names the CLI flag
        raise ValueError(
            f"--out {args.out}: a benchmark already exists there (pass --overwrite to replace it)"
        ) from None
    print(
        f"wrote shapes benchmark to {out}: train={args.train} val={args.val} test={args.test} "
        f"seed={args.seed} size={size[0]}x{size[1]}"
    )
    return 0


def register_cli(data_sub: Any) -> None:
    """Add ``pixelthink data shapes --out DIR [--train N --val N --test N --seed S --size WxH]``."""
    p = data_sub.add_parser(
        "shapes",
        help="generate the procedural shapes benchmark (difficulty-graded, with references)",
        description="Generate a seeded benchmark of coloured-shape scenes with graded queries, exact "
        "masks, difficulty 1..10 and short/long reference reasoning (docs/SHAPES.md).",
    )
    p.add_argument("--out", required=True, help="benchmark directory to create")
    p.add_argument("--train", type=int, default=1000, help="training samples (default 1000)")
    p.add_argument("--val", type=int, default=100, help="validation samples (default 100)")
    p.add_argument("--test", type=int, default=200, help="test samples (default 200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", default="256x256", help="image size WIDTHxHEIGHT (default 256x256)")
    p.add_argument(
        "--families",
        default=None,
        metavar="NAME[=W],...",
        help="query families and their weights, e.g. direct_kind=1,direct_attr=1 (default: all, "
        "with the weights of docs/SHAPES.md)",
    )
    p.add_argument(
        "--max-shapes",
        type=int,
        default=None,
        metavar="N",
        help="at most N shapes per scene (default: each family's own range), e.g. 2 for a simple "
        "grounding warm-up set",
    )
    p.add_argument(
        "--shape-scale",
        type=float,
        default=1.0,
        metavar="F",
        help=f"multiply every shape's size by F (default 1, at most {MAX_SHAPE_SCALE}), e.g. 2.5 with "
        "--max-shapes 1 for a recognition warm-up set where the shape fills much of the image",
    )
    p.add_argument(
        "--crop-window",
        type=float,
        default=None,
        metavar="W",
        help="recognition crops (needs --max-shapes 1): zoom every image onto its shape, a square of W "
        "times the shape's size, e.g. 2 for a frame-filling shape (default: whole scenes)",
    )
    p.add_argument(
        "--crop-jitter",
        type=float,
        default=0.0,
        metavar="J",
        help="with --crop-window: move the crop's centre by up to J shape sizes per axis (default 0)",
    )
    p.add_argument(
        "--long-opening",
        choices=LONG_OPENINGS,
        default="query",
        help="where the long reference says what the query asks: 'query' opens with it, before the "
        "scene inventory (default); 'scene' puts it after the inventory (generator version 2)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing benchmark at --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_shapes)


__all__: Sequence[str] = (
    "BACKGROUNDS",
    "GeneratedSample",
    "Scene",
    "SceneConfig",
    "Shape",
    "ShapesConfig",
    "check_crop",
    "crop_scene",
    "generate_benchmark",
    "generate_sample",
    "generate_scene",
    "is_unique",
    "parse_families",
    "parse_size",
    "register_cli",
    "sample_rng",
    "scene_shapes",
)
