"""Scenes of the shapes benchmark: the shapes' geometry, the scene model (``Shape``, ``Scene``), the
placement (rejection sampling, or exact free-space placement in worlds without overlap), the rendering (backgrounds, flat colours, exact masks) and recognition
crops. All geometry is in the original image frame: pixels, (x, y) with the origin at the top-left
corner."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from pixelthink.miniature.shapes.world import DEFAULT_WORLD, KINDS, SIZES, WORLDS, World

MIN_VISIBLE_FRACTION = 0.5  # every shape keeps at least half of its pixels visible
RESIZE_AFTER = 25  # "free" placement: failed layouts of a set of shapes before its sizes are redrawn
FREE_TRIES = 40  # "free" placement: random positions tested before the map of free positions is made


def check_shape_scale(value: float, what: str = "shape_scale", world: World = WORLDS[DEFAULT_WORLD]) -> None:
    """Raise ValueError naming ``what`` unless ``value`` is a usable shape scale in ``world``
    (0.25 .. ``world.max_shape_scale``, where a large shape still fits in the image)."""
    if not 0.25 <= value <= world.max_shape_scale:
        raise ValueError(
            f"{what} must be in [0.25, {world.max_shape_scale}] in the {world.name} world, got {value}"
        )


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


def cell_owners(scene: Scene, cell: int) -> np.ndarray:
    """Which shape covers the centre of each ``cell`` x ``cell`` pixel cell of the image.

    Returns an int array ``(height // cell, width // cell)`` (rows top to bottom, columns left to right)
    holding the index of the shape whose visible pixels include the cell's centre pixel
    ``(c * cell + cell // 2, r * cell + cell // 2)``, or -1 for background. With ``cell`` = the vision
    tower's patch x merge size (28 for Qwen2.5-VL), cell ``(r, c)`` is the merged image token of row r,
    column c: the dense targets of the tower's pretraining (``pixelthink.train.tower``).
    """
    if cell < 1:
        raise ValueError(f"cell_owners: cell must be >= 1 pixel, got {cell}")
    rows, cols = scene.height // cell, scene.width // cell
    ys = np.arange(rows) * cell + cell // 2
    xs = np.arange(cols) * cell + cell // 2
    owners = np.full((rows, cols), -1, np.int64)
    for i, mask in enumerate(scene.masks):
        owners[mask[np.ix_(ys, xs)]] = i
    return owners


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
        world: what the shapes may be and how they are placed and drawn (``WORLDS``); ``overlap`` and
            textured / noisy ``backgrounds`` need a world that allows them.
    """

    width: int = 256
    height: int = 256
    n_shapes: tuple[int, int] = (3, 6)
    overlap: float = 0.0
    backgrounds: tuple[float, float, float] = (1.0, 0.0, 0.0)
    forced: tuple[Forced, ...] = ()
    shape_scale: float = 1.0
    world: World = WORLDS[DEFAULT_WORLD]

    def __post_init__(self) -> None:
        check_shape_scale(self.shape_scale, "SceneConfig: shape_scale", self.world)
        if self.overlap > 0 and not self.world.overlap:
            raise ValueError(
                f"SceneConfig: the {self.world.name} world does not overlap shapes (overlap > 0)"
            )
        if any(self.backgrounds[1:]) and not self.world.textured_backgrounds:
            raise ValueError(
                f"SceneConfig: the {self.world.name} world has plain backgrounds only, got {self.backgrounds}"
            )
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


def _background(rng: np.random.Generator, kind: str, h: int, w: int, world: World) -> np.ndarray:
    dark = rng.random() < world.dark_background
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


def _draw_specs(rng: np.random.Generator, config: SceneConfig) -> list[Forced]:
    """The number of shapes and, in a random order, the forced (kind, colour, size) of each (None =
    random); attributes not forced are drawn by the placement."""
    n = int(rng.integers(config.n_shapes[0], config.n_shapes[1] + 1))
    forced = list(config.forced[:n])
    specs: list[Forced] = forced + [(None, None, None)] * (n - len(forced))
    order = rng.permutation(n)
    return [specs[i] for i in order]


def _draw_attributes(rng: np.random.Generator, spec: Forced, world: World) -> tuple[str, str, str]:
    """(kind, colour, size) of a shape: the forced ones, the others drawn from ``world``."""
    kind, colour, size = spec
    kind = kind if kind is not None else world.kinds[int(rng.integers(len(world.kinds)))]
    colour = colour if colour is not None else list(world.colours)[int(rng.integers(len(world.colours)))]
    size = size if size is not None else _draw_size(rng, world)
    return kind, colour, size


def _draw_size(rng: np.random.Generator, world: World) -> str:
    return SIZES[int(rng.choice(3, p=world.size_weights))]


def _placed(
    kind: str, colour: str, size: str, cx: float, cy: float, radius: float, angle: float, mask: np.ndarray
) -> dict[str, Any]:
    """A placed shape, as the placements hand it to ``_render``."""
    return {
        "kind": kind,
        "colour": colour,
        "size": size,
        "cx": cx,
        "cy": cy,
        "radius": radius,
        "angle": angle,
        "bound": _BOUND[kind] * radius,
        "area": int(np.count_nonzero(mask)),
    }


def _try_scene(rng: np.random.Generator, config: SceneConfig) -> Scene | None:
    """One try of the "bounds" placement: shapes one after another, each centre drawn until its
    bounding circle keeps the gap (or, with the overlap probability, overlaps an earlier shape while
    every shape keeps MIN_VISIBLE_FRACTION of its pixels); None when a shape finds no place."""
    w, h = config.width, config.height
    side = min(w, h)
    world = config.world
    specs = _draw_specs(rng, config)
    gap = world.gap * side
    placed: list[dict[str, Any]] = []
    full: list[np.ndarray] = []
    scale = config.shape_scale
    min_area = math.pi * (world.size_ranges["small"][0] * scale * side) ** 2 * MIN_VISIBLE_FRACTION
    for spec in specs:
        kind, colour, size = _draw_attributes(rng, spec, world)
        ok = False
        for _ in range(60):
            lo, hi = world.size_ranges[size]
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
            placed.append(_placed(kind, colour, size, cx, cy, radius, angle, mask))
            full.append(mask)
            ok = True
            break
        if not ok:
            return None
    return _render(rng, config, placed, full)


def _place_free(
    rng: np.random.Generator, config: SceneConfig, specs: list[tuple[str, str, str]]
) -> tuple[list[dict[str, Any]], list[np.ndarray]] | None:
    """One try of the "free" placement (worlds without overlap): the shapes, largest first, each at a
    position drawn uniformly among those where every pixel of it lies inside the image and at least
    the world's gap from every shape placed before (its footprint dilated by the gap meets no occupied
    pixel). Positions are drawn at random and tested (FREE_TRIES of them); when all are taken, the map
    of every free position (the occupied pixels correlated with the footprint) gives one: uniform over
    the free positions either way, and exact. None when a shape finds no place."""
    w, h = config.width, config.height
    side = min(w, h)
    world = config.world
    g = max(1, round(world.gap * side))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1, 2 * g + 1))
    radii = [float(rng.uniform(*world.size_ranges[size])) * config.shape_scale * side for _, _, size in specs]
    occupied = np.zeros((h, w), bool)
    placed: list[dict[str, Any] | None] = [None] * len(specs)
    full: list[np.ndarray | None] = [None] * len(specs)
    for i in sorted(range(len(specs)), key=lambda j: -radii[j]):
        kind, colour, size = specs[i]
        radius = radii[i]
        lo_a, hi_a = _ROTATION[kind]
        angle = float(rng.uniform(lo_a, hi_a)) if hi_a > lo_a else 0.0
        fx, fy = (float(v) for v in rng.random(2))  # sub-pixel offset of the centre
        pad = math.ceil(_BOUND[kind] * radius) + g + 2
        # the footprint in a local frame: its centre at pixel (pad + fx, pad + fy); a whole-pixel move
        # of the centre moves the rasterised mask by exactly as many pixels
        local = rasterize(shape_polygon(kind, pad + fx, pad + fy, radius, angle), 2 * pad + 1, 2 * pad + 1)
        ys, xs = np.nonzero(local)
        # centre (X + fx, Y + fy): pixel (x, y) of the local frame lands on (X - pad + x, Y - pad + y)
        x_lo, x_hi = pad + 1 - int(xs.min()), w - 2 + pad - int(xs.max())
        y_lo, y_hi = pad + 1 - int(ys.min()), h - 2 + pad - int(ys.max())
        if x_lo > x_hi or y_lo > y_hi:
            return None
        kernel = cv2.dilate(local.astype(np.uint8), disc).astype(bool)
        for _ in range(FREE_TRIES):
            x, y = int(rng.integers(x_lo, x_hi + 1)), int(rng.integers(y_lo, y_hi + 1))
            if not _touches(occupied, kernel, x - pad, y - pad):
                break
        else:
            hits = cv2.filter2D(
                occupied.astype(np.float32),
                -1,
                kernel.astype(np.float32),
                anchor=(pad, pad),
                borderType=cv2.BORDER_CONSTANT,
            )
            free = hits[y_lo : y_hi + 1, x_lo : x_hi + 1] < 0.5
            choices = np.flatnonzero(free)
            if choices.size == 0:
                return None
            k = int(choices[int(rng.integers(choices.size))])
            x, y = x_lo + k % free.shape[1], y_lo + k // free.shape[1]
        cx, cy = x + fx, y + fy
        mask = rasterize(shape_polygon(kind, cx, cy, radius, angle), h, w)
        occupied |= mask
        placed[i] = _placed(kind, colour, size, cx, cy, radius, angle, mask)
        full[i] = mask
    return [p for p in placed if p is not None], [m for m in full if m is not None]


def _touches(occupied: np.ndarray, kernel: np.ndarray, x0: int, y0: int) -> bool:
    """Whether ``kernel`` (bool) with its top-left pixel at (x0, y0) meets ``occupied`` (bool)."""
    h, w = occupied.shape
    ya, xa, yb, xb = max(0, y0), max(0, x0), min(h, y0 + kernel.shape[0]), min(w, x0 + kernel.shape[1])
    return bool((occupied[ya:yb, xa:xb] & kernel[ya - y0 : yb - y0, xa - x0 : xb - x0]).any())


def _render(
    rng: np.random.Generator, config: SceneConfig, placed: list[dict[str, Any]], full: list[np.ndarray]
) -> Scene:
    """Draw the placed shapes, in order, on a background: the image, each shape's visible pixels and
    what covers it."""
    w, h = config.width, config.height
    world = config.world
    bg_kind = BACKGROUNDS[int(rng.choice(3, p=np.asarray(config.backgrounds) / sum(config.backgrounds)))]
    img = _background(rng, bg_kind, h, w, world)
    shapes: list[Shape] = []
    visible: list[np.ndarray] = [np.zeros((h, w), bool)] * len(placed)
    covered = np.zeros((h, w), bool)
    for i in range(len(placed) - 1, -1, -1):
        visible[i] = full[i] & ~covered
        covered |= full[i]
    for i, p in enumerate(placed):
        jitter = rng.integers(-world.rgb_jitter, world.rgb_jitter + 1, 3)
        rgb = tuple(int(v) for v in np.clip(np.asarray(world.colours[p["colour"]]) + jitter, 0, 255))
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

    Shapes are placed as the world says (``World.placement``): by rejection sampling of centres
    ("bounds") or exactly among the free positions ("free"); a layout that cannot be completed is
    redrawn (in the "free" placement with the same shapes).
    """
    config = config or SceneConfig()
    if config.world.placement == "free":
        # the shape count and attributes are drawn once, so that failed layouts do not favour fewer
        # shapes; a set that finds no layout in RESIZE_AFTER tries (e.g. four large stars) gets new
        # sizes for the shapes whose size is not forced
        forced = _draw_specs(rng, config)
        specs = [_draw_attributes(rng, spec, config.world) for spec in forced]
        for attempt in range(200):
            if attempt and attempt % RESIZE_AFTER == 0:
                specs = [
                    (k, c, s if f[2] is not None else _draw_size(rng, config.world))
                    for (k, c, s), f in zip(specs, forced, strict=True)
                ]
            layout = _place_free(rng, config, specs)
            if layout is not None:
                return _render(rng, config, *layout)
    else:
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
