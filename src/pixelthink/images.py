"""Decoding untrusted image files and bytes with a pixel limit (decompression bombs).

Layer 0: imports nothing from pixelthink. Every place that turns a file or uploaded bytes into a
PIL image goes through :func:`decode_image`, so one limit and one error message hold everywhere.

The size is read from the header **before** any pixel is decoded: a 48 KB PNG that declares
20000x20000 is refused without allocating its 1.2 GB of pixels.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Default limit on decoded pixels (width x height): 40 MP, e.g. 8000x5000. Large enough for every
#: public reasoning-segmentation benchmark (ReasonSeg's largest images are under 30 MP), small
#: enough that one image costs at most ~120 MB as RGB. ``None`` or ``0`` disables the check.
DEFAULT_MAX_PIXELS = 40_000_000


class ImageDecodeError(ValueError):
    """An image that cannot be decoded; the message names its source."""


class ImageTooLargeError(ImageDecodeError):
    """An image whose declared size exceeds the pixel limit; the message names source, size and limit."""

    def __init__(self, message: str, *, width: int | None, height: int | None, max_pixels: int) -> None:
        super().__init__(message)
        self.width = width
        self.height = height
        self.max_pixels = max_pixels


def check_pixels(width: int, height: int, max_pixels: int | None, name: str = "image") -> None:
    """Raise :class:`ImageTooLargeError` when ``width * height`` exceeds ``max_pixels``."""
    if max_pixels and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
            "pixels (raise it with --max-pixels)",
            width=width,
            height=height,
            max_pixels=max_pixels,
        )


def frame_size_problem(resolution: int | Sequence[int] | None) -> str | None:
    """Why a model frame (``840``, ``(w, h)``, None = native) is too large to resize an image to, or None.

    A frame is held as an RGB image before the reasoner sees it, so it has the decode limit of an input
    image, :data:`DEFAULT_MAX_PIXELS` (a mistyped ``--resolution 99999x99999`` would otherwise end in a
    MemoryError inside the resize)."""
    if resolution is None:
        return None
    w, h = (resolution, resolution) if isinstance(resolution, int) else (resolution[0], resolution[1])
    if w * h > DEFAULT_MAX_PIXELS:
        return (
            f"a model frame of {w}x{h} = {w * h:,} pixels is over the limit of {DEFAULT_MAX_PIXELS:,} "
            "pixels (the input image limit); Qwen-VL models see 840x840 in Seg-Zero and PixelThink"
        )
    return None


def _open(source: str | os.PathLike[str] | bytes) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(source) if isinstance(source, bytes | bytearray) else Path(source))


def image_size(
    source: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> tuple[int, int]:
    """``(width, height)`` read from the header only, after the pixel-limit check.

    Raises:
        FileNotFoundError: ``source`` is a path that does not exist.
        ImageTooLargeError: the declared size exceeds ``max_pixels``.
        ImageDecodeError: not an image.
    """
    return _decode(source, max_pixels=max_pixels, name=name, load=False)[1]


def decode_image(
    source: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> Any:
    """A fully decoded PIL RGB image from a path or bytes, after the pixel-limit check.

    Args:
        source: a file path or the encoded bytes (PNG, JPEG, ...).
        max_pixels: the largest ``width * height`` accepted; ``None``/``0`` for no limit (Pillow's
            own decompression-bomb guard is then the only one).
        name: how errors name the image (default: the path, or ``"image"`` for bytes).

    Raises:
        FileNotFoundError: ``source`` is a path that does not exist.
        ImageTooLargeError: the declared size exceeds ``max_pixels`` (nothing decoded).
        ImageDecodeError: not an image, truncated or corrupt.
    """
    return _decode(source, max_pixels=max_pixels, name=name, load=True)[0]


def _decode(
    source: str | os.PathLike[str] | bytes, *, max_pixels: int | None, name: str | None, load: bool
) -> tuple[Any, tuple[int, int]]:
    from PIL import Image, UnidentifiedImageError

    is_bytes = isinstance(source, bytes | bytearray)
    label = name or ("image" if is_bytes else str(source))
    if not is_bytes and not Path(source).is_file():  # type: ignore[arg-type]
        raise FileNotFoundError(f"image file not found: {source}")
    with warnings.catch_warnings():
        # our own limit replaces Pillow's warning; its hard error (2x its limit) is reported as ours
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with _open(source) as im:
                size = (int(im.size[0]), int(im.size[1]))
                check_pixels(*size, max_pixels, label)
                if not load:
                    return None, size
                im.load()
                return im.convert("RGB"), size
        except ImageTooLargeError:
            raise
        except Image.DecompressionBombError as exc:
            # Pillow refuses > 2x its MAX_IMAGE_PIXELS inside Image.open, before we see the size
            found = re.search(r"\((\d+) pixels\)", str(exc))
            declared = f"{int(found.group(1)):,} pixels" if found else "its size"
            limit = min(max_pixels or Image.MAX_IMAGE_PIXELS * 2, Image.MAX_IMAGE_PIXELS * 2)
            raise ImageTooLargeError(
                f"{label}: {declared} exceeds the limit of {limit:,} pixels (a decompression bomb?)",
                width=None,
                height=None,
                max_pixels=limit,
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageDecodeError(f"cannot decode image {label}: {exc}") from None
