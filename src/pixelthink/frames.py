"""Coordinate frames: the *original* image and the *model* frame the MLLM sees.

Seg-Zero and PixelThink feed the reasoning model an image resized to 840x840 with bilinear
interpolation, **without keeping the aspect ratio**, and map the answer coordinates back to the
original image with ``x * W / 840`` and ``y * H / 840``. :class:`FrameTransform` is the only
object in pixelthink that converts coordinates between the two frames; every other module takes
and returns coordinates in one named frame.

Frames
------
* *original*: the image as stored on disk, ``orig_w x orig_h`` pixels.
* *model*: the image the MLLM saw, ``model_w x model_h`` pixels (840x840 by default, or the
  original size when the model runs at native resolution).

Boxes are ``(x1, y1, x2, y2)`` (XYXY) and points ``(x, y)``, in pixels. Coordinates are scaled
as continuous values (no +0.5 pixel-centre shift), exactly like Seg-Zero's ``x * W / 840``.

This module imports PIL lazily (only :meth:`FrameTransform.image_to_model` needs it).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from PIL.Image import Image

__all__ = ["DEFAULT_RESOLUTION", "Box", "FrameTransform", "Point"]

Box = tuple[float, float, float, float]
"""XYXY box in pixels: (x1, y1) top-left, (x2, y2) bottom-right. The frame is named by each API."""

Point = tuple[float, float]
"""(x, y) point in pixels. The frame is named by each API."""

DEFAULT_RESOLUTION = 840
"""Seg-Zero / PixelThink model-frame side length (images are resized to 840x840)."""


def _positive_int(value: object, name: str) -> int:
    """A positive int from an int, an integral float or a numpy integer; ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"FrameTransform: {name} must be a positive integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif math.isfinite(float(value)) and float(value).is_integer():
        out = int(float(value))
    else:
        raise ValueError(f"FrameTransform: {name} must be a positive integer, got {value!r}")
    if out <= 0:
        raise ValueError(f"FrameTransform: {name} must be a positive integer, got {value!r}")
    return out


def _coords(values: Sequence[float], n: int, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a sequence of {n} numbers, got {values!r}") from exc
    if len(out) != n:
        raise ValueError(f"{what} must have {n} values, got {len(out)}: {values!r}")
    return out


@dataclass(frozen=True)
class FrameTransform:
    """Mapping between the *original* image frame and the *model* frame.

    Attributes:
        orig_w, orig_h: size in pixels of the original image (as stored on disk).
        model_w, model_h: size in pixels of the image given to the model.

    The mapping is an axis-aligned scaling: ``x_model = x_orig * model_w / orig_w`` and
    ``y_model = y_orig * model_h / orig_h`` (and the inverse). With ``model == orig`` it is the
    identity.
    """

    orig_w: int
    orig_h: int
    model_w: int
    model_h: int

    def __post_init__(self) -> None:
        for name in ("orig_w", "orig_h", "model_w", "model_h"):
            object.__setattr__(self, name, _positive_int(getattr(self, name), name))

    # ------------------------------------------------------------------ construction
    @classmethod
    def for_size(
        cls, width: int, height: int, resolution: int | tuple[int, int] | None = DEFAULT_RESOLUTION
    ) -> FrameTransform:
        """Transform for an original image of ``width x height`` pixels.

        Args:
            width, height: original image size in pixels.
            resolution: model-frame size. An int ``r`` means ``r x r`` (Seg-Zero: 840, aspect
                ratio not kept); a ``(w, h)`` tuple gives the model width and height; ``None``
                means native resolution (the identity transform).
        """
        width = _positive_int(width, "width")
        height = _positive_int(height, "height")
        if resolution is None:
            return cls(width, height, width, height)
        if isinstance(resolution, tuple | list):
            if len(resolution) != 2:
                raise ValueError(
                    f"FrameTransform: resolution must be an int, a (width, height) pair or None, "
                    f"got {resolution!r}"
                )
            mw = _positive_int(resolution[0], "resolution[0] (model width)")
            mh = _positive_int(resolution[1], "resolution[1] (model height)")
            return cls(width, height, mw, mh)
        side = _positive_int(resolution, "resolution")
        return cls(width, height, side, side)

    @classmethod
    def identity(cls, width: int, height: int) -> FrameTransform:
        """Identity transform (model frame == original frame), e.g. for native-resolution models."""
        return cls.for_size(width, height, None)

    # ------------------------------------------------------------------ properties
    @property
    def original_size(self) -> tuple[int, int]:
        """(width, height) of the original frame in pixels."""
        return (self.orig_w, self.orig_h)

    @property
    def model_size(self) -> tuple[int, int]:
        """(width, height) of the model frame in pixels."""
        return (self.model_w, self.model_h)

    @property
    def is_identity(self) -> bool:
        """True when both frames have the same size (coordinates are unchanged)."""
        return self.orig_w == self.model_w and self.orig_h == self.model_h

    @property
    def x_factor(self) -> float:
        """Model -> original scale along x (Seg-Zero's ``x_factor = W / 840``)."""
        return self.orig_w / self.model_w

    @property
    def y_factor(self) -> float:
        """Model -> original scale along y (Seg-Zero's ``y_factor = H / 840``)."""
        return self.orig_h / self.model_h

    def to_dict(self) -> dict[str, int]:
        """JSON-friendly description (used in prediction metadata)."""
        return {
            "orig_w": self.orig_w,
            "orig_h": self.orig_h,
            "model_w": self.model_w,
            "model_h": self.model_h,
        }

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> FrameTransform:
        """Inverse of :meth:`to_dict`; raises ValueError naming a missing field."""
        missing = [k for k in ("orig_w", "orig_h", "model_w", "model_h") if k not in data]
        if missing:
            raise ValueError(f"FrameTransform.from_dict: missing field(s) {missing} in {data!r}")
        return cls(data["orig_w"], data["orig_h"], data["model_w"], data["model_h"])

    # ------------------------------------------------------------------ images
    def image_to_model(self, image: Image) -> Image:
        """Resize an *original*-frame PIL image to the *model* frame.

        The image is converted to RGB and resized with bilinear interpolation to exactly
        ``model_w x model_h`` (aspect ratio not kept), as Seg-Zero does. For the identity
        transform an RGB copy is returned.

        Raises:
            ValueError: if ``image.size`` is not ``(orig_w, orig_h)`` (a frame mix-up).
        """
        from PIL import Image as PILImage

        if tuple(image.size) != self.original_size:
            raise ValueError(
                f"FrameTransform.image_to_model: image size {tuple(image.size)} does not match the "
                f"original frame {self.original_size}"
            )
        rgb = image.convert("RGB")
        if self.is_identity:
            return rgb.copy() if rgb is image else rgb
        return rgb.resize(self.model_size, PILImage.Resampling.BILINEAR)

    # ------------------------------------------------------------------ boxes
    def box_to_original(self, box: Sequence[float], *, segzero_rounding: bool = False) -> Box:
        """Map a *model*-frame XYXY box to the *original* frame.

        ``x -> x * orig_w / model_w``, ``y -> y * orig_h / model_h``. With
        ``segzero_rounding=True`` each coordinate is computed as Seg-Zero's evaluation does,
        ``round(int(v) * factor)`` (truncate, scale, banker's rounding), returned as floats.
        """
        x1, y1, x2, y2 = _coords(box, 4, "box (model frame)")
        fx, fy = self.x_factor, self.y_factor
        if segzero_rounding:
            return (
                float(round(int(x1) * fx)),
                float(round(int(y1) * fy)),
                float(round(int(x2) * fx)),
                float(round(int(y2) * fy)),
            )
        if self.is_identity:
            return (x1, y1, x2, y2)
        return (
            x1 * self.orig_w / self.model_w,
            y1 * self.orig_h / self.model_h,
            x2 * self.orig_w / self.model_w,
            y2 * self.orig_h / self.model_h,
        )

    def box_to_model(self, box: Sequence[float], *, segzero_rounding: bool = False) -> Box:
        """Map an *original*-frame XYXY box to the *model* frame.

        ``x -> x * model_w / orig_w``, ``y -> y * model_h / orig_h``. With
        ``segzero_rounding=True`` each coordinate is ``int(v * model / orig + 0.5)``, the rounding
        Seg-Zero used to build its 840x840 training ground truth, returned as floats.
        """
        x1, y1, x2, y2 = _coords(box, 4, "box (original frame)")
        if segzero_rounding:
            return (
                float(int(x1 * self.model_w / self.orig_w + 0.5)),
                float(int(y1 * self.model_h / self.orig_h + 0.5)),
                float(int(x2 * self.model_w / self.orig_w + 0.5)),
                float(int(y2 * self.model_h / self.orig_h + 0.5)),
            )
        if self.is_identity:
            return (x1, y1, x2, y2)
        return (
            x1 * self.model_w / self.orig_w,
            y1 * self.model_h / self.orig_h,
            x2 * self.model_w / self.orig_w,
            y2 * self.model_h / self.orig_h,
        )

    # ------------------------------------------------------------------ points
    def points_to_original(
        self, pts: Sequence[Sequence[float]], *, segzero_rounding: bool = False
    ) -> list[Point]:
        """Map *model*-frame (x, y) points to the *original* frame (see :meth:`box_to_original`)."""
        out: list[Point] = []
        fx, fy = self.x_factor, self.y_factor
        for i, p in enumerate(pts):
            x, y = _coords(p, 2, f"point {i} (model frame)")
            if segzero_rounding:
                out.append((float(round(int(x) * fx)), float(round(int(y) * fy))))
            elif self.is_identity:
                out.append((x, y))
            else:
                out.append((x * self.orig_w / self.model_w, y * self.orig_h / self.model_h))
        return out

    def points_to_model(
        self, pts: Sequence[Sequence[float]], *, segzero_rounding: bool = False
    ) -> list[Point]:
        """Map *original*-frame (x, y) points to the *model* frame (see :meth:`box_to_model`)."""
        out: list[Point] = []
        for i, p in enumerate(pts):
            x, y = _coords(p, 2, f"point {i} (original frame)")
            if segzero_rounding:
                out.append(
                    (
                        float(int(x * self.model_w / self.orig_w + 0.5)),
                        float(int(y * self.model_h / self.orig_h + 0.5)),
                    )
                )
            elif self.is_identity:
                out.append((x, y))
            else:
                out.append((x * self.model_w / self.orig_w, y * self.model_h / self.orig_h))
        return out

    # ------------------------------------------------------------------ helpers
    def clip_box(self, box: Sequence[float], frame: str = "original") -> Box:
        """Clip an XYXY box to the pixel extent ``[0, w-1] x [0, h-1]`` of ``frame``.

        Args:
            frame: ``"original"`` or ``"model"``: the frame the box is in.
        """
        w, h = self._frame_size(frame)
        x1, y1, x2, y2 = _coords(box, 4, f"box ({frame} frame)")
        return (_clip(x1, w - 1), _clip(y1, h - 1), _clip(x2, w - 1), _clip(y2, h - 1))

    def _frame_size(self, frame: str) -> tuple[int, int]:
        if frame == "original":
            return self.original_size
        if frame == "model":
            return self.model_size
        raise ValueError(f"frame must be 'original' or 'model', got {frame!r}")


def _clip(v: float, hi: float) -> float:
    if math.isnan(v):
        return v
    return min(max(v, 0.0), float(hi))
