"""Tests of pixelthink.frames.FrameTransform."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pixelthink.frames import FrameTransform


def test_for_size_resolutions():
    t = FrameTransform.for_size(1680, 420)
    assert (t.orig_w, t.orig_h, t.model_w, t.model_h) == (1680, 420, 840, 840)
    assert FrameTransform.for_size(1680, 420, (640, 480)).model_size == (640, 480)
    ident = FrameTransform.for_size(1680, 420, None)
    assert ident.model_size == (1680, 420) and ident.is_identity
    assert FrameTransform.identity(5, 6) == FrameTransform(5, 6, 5, 6)
    # numpy integers (e.g. from array shapes or dataset columns) and integral floats are accepted
    assert FrameTransform.for_size(np.int64(100), 50.0, (np.int32(8), 8)) == FrameTransform(100, 50, 8, 8)


def test_golden_segzero_mapping():
    t = FrameTransform.for_size(1680, 420)
    # x * W / 840 = x * 2, y * H / 840 = y * 0.5
    assert t.box_to_original((100, 200, 420, 840)) == (200.0, 100.0, 840.0, 420.0)
    assert t.points_to_original([(10, 10), (839, 1)]) == [(20.0, 5.0), (1678.0, 0.5)]
    assert t.box_to_model((200, 100, 840, 420)) == (100.0, 200.0, 420.0, 840.0)
    assert t.points_to_model([(20, 5)]) == [(10.0, 10.0)]
    assert (t.x_factor, t.y_factor) == (2.0, 0.5)


def test_identity_leaves_coordinates_unchanged():
    t = FrameTransform.for_size(333, 777, None)
    assert t.box_to_original((1.5, 2, 3, 4.25)) == (1.5, 2.0, 3.0, 4.25)
    assert t.points_to_model([(7.5, 8)]) == [(7.5, 8.0)]


def test_segzero_rounding():
    # Seg-Zero evaluation: round(int(v) * W/840). W = 420 -> factor 0.5:
    # v = 1.9 -> int 1 -> 0.5 -> round half to even -> 0; v = 3 -> 1.5 -> 2; v = 5 -> 2.5 -> 2.
    t = FrameTransform.for_size(420, 840)
    assert t.box_to_original((1.9, 3, 5, 7), segzero_rounding=True) == (0.0, 3.0, 2.0, 7.0)
    assert t.points_to_original([(3, 1)], segzero_rounding=True) == [(2.0, 1.0)]
    # Seg-Zero training GT: int(v * 840 / W + 0.5). W = 1680: v = 3 -> 1.5 + 0.5 = 2; v = 1 -> 0.5 + 0.5 = 1;
    # H = 840 -> y unchanged.
    t2 = FrameTransform.for_size(1680, 840)
    assert t2.box_to_model((3, 4, 1, 9), segzero_rounding=True) == (2.0, 4.0, 1.0, 9.0)
    assert t2.points_to_model([(5, 2)], segzero_rounding=True) == [(3.0, 2.0)]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5000),
    st.integers(1, 5000),
    st.one_of(st.none(), st.integers(1, 2000), st.tuples(st.integers(1, 2000), st.integers(1, 2000))),
    st.lists(st.floats(-1e4, 1e4), min_size=4, max_size=4),
)
def test_round_trip(w, h, resolution, box):
    t = FrameTransform.for_size(w, h, resolution)
    back = t.box_to_model(t.box_to_original(box))
    assert back == pytest.approx(tuple(box), rel=1e-9, abs=1e-9)
    pts = [(box[0], box[1]), (box[2], box[3])]
    flat = [c for p in t.points_to_original(t.points_to_model(pts)) for c in p]
    assert flat == pytest.approx(list(box), rel=1e-9, abs=1e-9)


def test_image_to_model():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, size=(30, 50), dtype=np.uint8)
    img = Image.fromarray(arr, mode="L")
    t = FrameTransform.for_size(50, 30, 84)
    out = t.image_to_model(img)
    assert out.size == (84, 84) and out.mode == "RGB"
    expected = img.convert("RGB").resize((84, 84), Image.Resampling.BILINEAR)
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    ident = FrameTransform.for_size(50, 30, None).image_to_model(img)
    assert ident.size == (50, 30) and np.array_equal(np.asarray(ident)[..., 0], arr)
    with pytest.raises(ValueError, match=r"does not match the original frame \(40, 30\)"):
        FrameTransform.for_size(40, 30).image_to_model(img)


def test_validation():
    with pytest.raises(ValueError, match="width"):
        FrameTransform.for_size(0, 10)
    with pytest.raises(ValueError, match="resolution"):
        FrameTransform.for_size(10, 10, (1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model_w"):
        FrameTransform(10, 10, -1, 10)
    with pytest.raises(ValueError, match="4 values"):
        FrameTransform.for_size(10, 10).box_to_original((1, 2, 3))
    with pytest.raises(ValueError, match="point 1"):
        FrameTransform.for_size(10, 10).points_to_model([(1, 2), (3,)])
    with pytest.raises(ValueError, match="numbers"):
        FrameTransform.for_size(10, 10).box_to_model(("a", 2, 3, 4))


def test_dict_roundtrip_and_clip():
    t = FrameTransform.for_size(100, 50)
    assert FrameTransform.from_dict(t.to_dict()) == t
    with pytest.raises(ValueError, match="model_h"):
        FrameTransform.from_dict({"orig_w": 1, "orig_h": 1, "model_w": 1})
    assert t.clip_box((-3, 10, 120, 60)) == (0.0, 10.0, 99.0, 49.0)
    assert t.clip_box((-3, 10, 900, 860), frame="model") == (0.0, 10.0, 839.0, 839.0)
