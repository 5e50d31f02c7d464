"""Tests of pixelthink.masks: RLE, polygons, box/points from a mask, I/U."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pixelthink.masks import (
    IGNORE_VALUE,
    TARGET_VALUE,
    box_from_mask,
    decode_rle,
    encode_rle,
    intersection_union,
    mask_from_box,
    points_from_mask,
    polygon_area,
    rasterize_polygons,
    rle_area,
    rle_problem,
    split_label_map,
    target_and_ignore_from_polygons,
)

RECT_BIG = np.array([[2, 2], [12, 2], [12, 10], [2, 10]], dtype=float)  # x 2..12, y 2..10
RECT_SMALL = np.array([[5, 5], [8, 5], [8, 7], [5, 7]], dtype=float)  # x 5..8, y 5..7


# --------------------------------------------------------------------------------------------- RLE


def test_encode_rle_is_json_safe_and_roundtrips():
    m = np.zeros((4, 5), dtype=bool)
    m[1:3, 2:4] = True
    rle = encode_rle(m)
    assert rle["size"] == [4, 5]
    assert isinstance(rle["counts"], str)
    again = json.loads(json.dumps(rle))
    out = decode_rle(again)
    assert out.dtype == bool and out.shape == (4, 5)
    assert np.array_equal(out, m)
    assert rle_area(rle) == 4


def test_decode_uncompressed_counts_column_major():
    # size 2x3, runs [1 zero, 2 ones, 3 zeros] in column-major order:
    # pixels (y,x): (0,0)=0, (1,0)=1, (0,1)=1, (1,1)=0, (0,2)=0, (1,2)=0
    out = decode_rle({"size": [2, 3], "counts": [1, 2, 3]})
    expected = np.array([[0, 1, 0], [1, 0, 0]], dtype=bool)
    assert np.array_equal(out, expected)


def test_encode_accepts_numeric_masks():
    m = np.array([[0, 3], [0, 0]], dtype=np.int64)
    assert np.array_equal(decode_rle(encode_rle(m)), m != 0)


def test_encode_rejects_non_2d():
    with pytest.raises(ValueError, match="2-D"):
        encode_rle(np.zeros((2, 2, 3), dtype=bool))


def test_rle_problem_detects_size_mismatch_and_bad_runs():
    rle = encode_rle(np.ones((3, 4), dtype=bool))
    assert rle_problem(rle, 3, 4) is None
    assert "does not match" in rle_problem(rle, 4, 3)
    # runs covering 0 of 20 pixels
    assert "cover 0 pixels" in rle_problem({"size": [4, 5], "counts": "0"})
    assert "size" in rle_problem({"size": [4], "counts": "0"})
    assert "counts" in rle_problem({"size": [2, 2], "counts": 5})
    assert rle_problem("not a dict") is not None
    with pytest.raises(ValueError, match="cover"):
        decode_rle({"size": [4, 5], "counts": "0"})


def test_empty_size_rle():
    m = np.zeros((0, 3), dtype=bool)
    rle = encode_rle(m)
    assert decode_rle(rle).shape == (0, 3)


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_property_rle_roundtrip(mask):
    rle = encode_rle(mask)
    assert rle_problem(rle, mask.shape[0], mask.shape[1]) is None
    assert np.array_equal(decode_rle(json.loads(json.dumps(rle))), mask)
    assert rle_area(rle) == int(mask.sum())


# ---------------------------------------------------------------------------------------- polygons


def test_polygon_area_counts_outline_and_fill():
    # x 2..12 inclusive = 11 columns, y 2..10 inclusive = 9 rows -> 99 pixels
    assert polygon_area(RECT_BIG, 16, 16) == 99
    # x 5..8 = 4, y 5..7 = 3 -> 12
    assert polygon_area(RECT_SMALL, 16, 16) == 12


def test_rasterize_smaller_overwrites_larger_regardless_of_order():
    for polys in (
        [(RECT_BIG, TARGET_VALUE), (RECT_SMALL, IGNORE_VALUE)],
        [(RECT_SMALL, IGNORE_VALUE), (RECT_BIG, TARGET_VALUE)],
    ):
        label = rasterize_polygons(polys, 16, 16)
        assert label.dtype == np.uint8
        target, ignore = split_label_map(label)
        assert ignore.sum() == 12
        assert target.sum() == 99 - 12  # = 87
        assert ignore[5, 5] and not target[5, 5]


def test_target_inside_ignore_stays_target():
    target, ignore = target_and_ignore_from_polygons(
        [(RECT_BIG, IGNORE_VALUE), (RECT_SMALL, TARGET_VALUE)], 16, 16
    )
    assert target.sum() == 12 and ignore.sum() == 87


def test_rasterize_truncates_float_vertices_like_lisa():
    # 2.9 -> 2 and 4.9 -> 4 (int32 cast): x 2..4, y 2..4 -> 9 pixels
    poly = np.array([[2.9, 2.9], [4.9, 2.9], [4.9, 4.9], [2.9, 4.9]])
    label = rasterize_polygons([(poly, 1)], 8, 8)
    assert label.sum() == 9 and label[2, 2] == 1 and label[5, 5] == 0


def test_rasterize_rejects_bad_polygons():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        rasterize_polygons([(np.zeros((3, 3)), 1)], 4, 4)
    with pytest.raises(ValueError, match=r"0\.\.255"):
        rasterize_polygons([(RECT_SMALL, 300)], 16, 16)


# ------------------------------------------------------------------------------------ box / points


def test_box_from_mask_inclusive_extremes():
    m = np.zeros((10, 12), dtype=bool)
    m[3, 4] = True
    assert box_from_mask(m) == (4.0, 3.0, 4.0, 3.0)
    m[7, 9] = True
    assert box_from_mask(m) == (4.0, 3.0, 9.0, 7.0)
    assert box_from_mask(np.zeros((3, 3), dtype=bool)) is None


def test_points_single_pixel_and_empty():
    m = np.zeros((5, 5), dtype=bool)
    m[2, 3] = True
    assert points_from_mask(m) == [(3.0, 2.0), (3.0, 2.0)]
    with pytest.raises(ValueError, match="empty"):
        points_from_mask(np.zeros((5, 5), dtype=bool))


def test_points_full_square():
    # 5x5 mask filling the image: no background pixel, so Seg-Zero's scipy distance_transform_edt measures
    # the distance to the virtual pixel (row -1, col 0): D^2 = (y+1)^2 + x^2, maximum at (x4, y4) = 25+16 = 41.
    # Squared gaps to (4,4) are a^2+b^2, a, b in 0..4; sorted, the 13th of 25 is 10, so the median is sqrt(10)
    # and "far" means a^2+b^2 > 10. Largest D^2 among far pixels: (x0, y4) with 25 (next: (x4, y0) with 17).
    m = np.ones((5, 5), dtype=bool)
    assert points_from_mask(m) == [(4.0, 4.0), (0.0, 4.0)]


def test_points_two_components():
    # big 9x9 square (rows/cols 1..9): centre (5,5), D = 5; small 5x5 square rows 1..5, cols 15..19:
    # centre (17,3), D = 3. Gaps to (5,5): the 81 big-square values a^2+b^2 (a, b in -4..4) put the 53rd and
    # 54th of the 106 sorted gaps at 17 (cumulative counts ..., 16 -> 49, 17 -> 57), so far = gap^2 > 17:
    # big-square far pixels have D <= 2, the small square (gap^2 >= 100) has its centre at D = 3.
    m = np.zeros((12, 22), dtype=bool)
    m[1:10, 1:10] = True
    m[1:6, 15:20] = True
    assert points_from_mask(m) == [(5.0, 5.0), (17.0, 3.0)]


def test_points_thin_line():
    m = np.zeros((3, 7), dtype=bool)
    m[1, 1:6] = True  # x 1..5 on row 1, every radius 1
    p1, p2 = points_from_mask(m)
    assert p1 == (1.0, 1.0)  # first maximum in row-major order (D = 1 everywhere)
    # gaps to p1: 0, 1, 2, 3, 4 -> median 2; far = x 4 and 5, both D = 1: the first one, x = 4
    assert p2 == (4.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 14), st.integers(1, 14))))
def test_property_box_and_points_inside_mask(mask):
    if not mask.any():
        assert box_from_mask(mask) is None
        return
    x1, y1, x2, y2 = box_from_mask(mask)
    ys, xs = np.nonzero(mask)
    assert (x1, y1, x2, y2) == (xs.min(), ys.min(), xs.max(), ys.max())
    pts = points_from_mask(mask)
    assert len(pts) == 2
    for x, y in pts:
        assert float(x).is_integer() and float(y).is_integer()
        assert mask[int(y), int(x)]
        assert x1 <= x <= x2 and y1 <= y <= y2


def test_mask_from_box():
    m = mask_from_box((1, 2, 3, 4), 6, 6)
    assert m.dtype == bool and m.sum() == 9  # 3 columns x 3 rows
    assert m[2, 1] and m[4, 3] and not m[5, 3]
    assert box_from_mask(m) == (1.0, 2.0, 3.0, 4.0)
    clipped = mask_from_box((-5, -5, 100, 1), 4, 4)
    assert clipped.sum() == 8  # rows 0..1, all 4 columns
    assert not mask_from_box((3, 3, 1, 1), 4, 4).any()
    with pytest.raises(ValueError):
        mask_from_box((1, 2, 3), 4, 4)


# -------------------------------------------------------------------------------------------- I / U


def test_intersection_union():
    gt = np.zeros((4, 4), dtype=bool)
    gt[0:2, 0:2] = True  # 4 px
    pred = np.zeros((4, 4), dtype=bool)
    pred[1:3, 1:3] = True  # 4 px, overlap only (1,1)
    assert intersection_union(pred, gt) == (1, 7)  # I = 1, U = 4 + 4 - 1
    ignore = np.zeros((4, 4), dtype=bool)
    ignore[1, 1] = True
    ignore[2, 2] = True
    assert intersection_union(pred, gt, ignore) == (0, 5)  # both ignored pixels leave I and U
    assert intersection_union(None, gt) == (0, 4)
    with pytest.raises(ValueError, match="shape"):
        intersection_union(np.zeros((3, 3), bool), gt)
