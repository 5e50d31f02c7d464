"""images.decode_image: the pixel limit is checked from the header, before any pixel is decoded."""

from __future__ import annotations

import io

import pytest
from _servers import png_header_only as _png_header_only
from PIL import Image

from pixelthink.images import ImageDecodeError, ImageTooLargeError, decode_image, image_size


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height), 7).save(buf, format="PNG")
    return buf.getvalue()


def test_decodes_bytes_and_paths_as_rgb(tmp_path):
    data = _png(5, 3)
    (tmp_path / "a.png").write_bytes(data)
    for source in (data, tmp_path / "a.png", str(tmp_path / "a.png")):
        im = decode_image(source)
        assert im.mode == "RGB" and im.size == (5, 3)
        assert im.getpixel((0, 0)) == (7, 7, 7)
    assert image_size(data) == (5, 3)


@pytest.mark.parametrize("width,height", [(20000, 20000), (12000, 12000)])
def test_a_bomb_is_refused_from_its_header(width, height, tmp_path):
    bomb = _png_header_only(width, height)
    assert len(bomb) < 100
    with pytest.raises(ImageTooLargeError, match=f"{width * height:,} pixels exceeds the limit") as info:
        decode_image(bomb, name="upload.png")
    assert "upload.png" in str(info.value)
    (tmp_path / "bomb.png").write_bytes(bomb)
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png"):
        image_size(tmp_path / "bomb.png")


def test_the_limit_is_configurable_and_can_be_disabled():
    data = _png(100, 100)
    with pytest.raises(ImageTooLargeError, match="10,000 pixels exceeds the limit of 9,999"):
        decode_image(data, max_pixels=9_999)
    assert decode_image(data, max_pixels=10_000).size == (100, 100)
    assert decode_image(data, max_pixels=None).size == (100, 100)


def test_pillows_own_bomb_error_is_reported_as_too_large():
    # with our limit disabled, Pillow's hard limit (2x its MAX_IMAGE_PIXELS) still holds, with our error type
    with pytest.raises(ImageTooLargeError):
        decode_image(_png_header_only(20000, 20000), max_pixels=None)


def test_garbage_and_truncated_images_name_their_source(tmp_path):
    with pytest.raises(ImageDecodeError, match="cannot decode image upload"):
        decode_image(b"not an image", name="upload")
    truncated = _png(64, 64)[:60]
    (tmp_path / "t.png").write_bytes(truncated)
    with pytest.raises(ImageDecodeError, match=r"t\.png"):
        decode_image(tmp_path / "t.png")
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        decode_image(tmp_path / "missing.png")
