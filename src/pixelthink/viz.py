"""Pictures of a prediction: the mask outlined over the image, the box and the points drawn on top.

The mask is drawn as an outline (a band along its inner edge) and sparse diagonal hatching, not as a
tint, by default: on a benchmark whose queries are about colour ("the green circle"), a tint changes the
apparent colour of the shape it covers (a green circle under a red tint looks olive), while an outline and
one pixel in ``hatch`` leave the shape's colour readable. ``alpha`` adds a tint when wanted.

Everything here is in the **original** frame: the image as stored, a bool ``(H, W)`` mask of it,
an XYXY box and (x, y) points in its pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pixelthink.frames import Box, Point

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["mask_image", "mask_outline", "overlay"]

MASK_COLOR = (255, 64, 32)
BOX_COLOR = (32, 224, 64)
POINT_COLORS = ((255, 255, 0), (0, 200, 255))


def _rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    from PIL import Image as PILImage

    if isinstance(image, PILImage.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"image: expected (H, W, 3) uint8 RGB, got shape {array.shape} dtype {array.dtype}")
    return array


def overlay(
    image: Image.Image | np.ndarray,
    mask: np.ndarray | None = None,
    box: Box | None = None,
    points: Sequence[Point] = (),
    *,
    alpha: float = 0.0,
    mask_color: tuple[int, int, int] = MASK_COLOR,
    outline: int | None = None,
    hatch: int = 10,
) -> Image.Image:
    """The image with the mask outlined (and tinted when ``alpha`` > 0) and the box and points drawn.

    Args:
        image: PIL image or ``(H, W, 3)`` uint8 RGB array, original frame.
        mask: bool ``(H, W)`` of the same image, or None.
        box: XYXY in original pixels, or None (outline drawn, clipped by PIL to the image).
        points: (x, y) in original pixels, drawn as filled discs with a dark outline.
        alpha: weight of a ``mask_color`` tint inside the mask (0, the default: no tint, the colours of the
            image stay as they are; 1 = opaque).
        outline: width in pixels of the mask's outline, drawn in ``mask_color`` along the inside of its
            edge (None: ``max(2, longer side / 100)``; 0: no outline).
        hatch: spacing in pixels of one-pixel diagonal lines drawn in ``mask_color`` inside the mask (so a
            mask whose outline is hidden under another contour stays visible); 0: none.

    Returns:
        A new RGB PIL image of the same size.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    rgb = _rgb_array(image).astype(np.float32)
    h, w = rgb.shape[:2]
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (h, w):
            raise ValueError(f"mask: expected shape {(h, w)} (the image's), got {mask.shape}")
        if alpha > 0.0:
            rgb[mask] = (1.0 - alpha) * rgb[mask] + alpha * np.asarray(mask_color, dtype=np.float32)
        band = mask_outline(mask, max(2, round(max(h, w) / 100)) if outline is None else outline)
        if hatch > 0:
            rows, cols = np.indices((h, w))
            band = band | (mask & ((rows + cols) % int(hatch) == 0))
        rgb[band] = np.asarray(mask_color, dtype=np.float32)
    out = PILImage.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(out)
    width = max(1, round(max(h, w) / 300))
    if box is not None:
        x1, y1, x2, y2 = (float(v) for v in box)
        draw.rectangle((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), outline=BOX_COLOR, width=width)
    radius = max(3, round(max(h, w) / 120))
    for k, (x, y) in enumerate(points):
        color = POINT_COLORS[k % len(POINT_COLORS)]
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color, outline=(0, 0, 0), width=1)
    return out


def mask_outline(mask: np.ndarray, width: int) -> np.ndarray:
    """The pixels of a bool ``(H, W)`` mask within ``width`` pixels (4-neighbour steps) of its edge,
    the image border counting as outside; all False for ``width`` 0."""
    mask = np.asarray(mask, dtype=bool)
    inner = mask.copy()
    for _ in range(max(0, int(width))):
        if not inner.any():
            break
        padded = np.pad(inner, 1, constant_values=False)
        inner = inner & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner if width > 0 else np.zeros_like(mask)


def mask_image(mask: np.ndarray) -> Image.Image:
    """A bool ``(H, W)`` mask as a black-and-white PIL image (mode ``"L"``, 255 inside, 0 outside)."""
    from PIL import Image as PILImage

    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"mask: expected a 2-D (H, W) array, got shape {array.shape}")
    return PILImage.fromarray(np.where(array.astype(bool), 255, 0).astype(np.uint8), mode="L")
