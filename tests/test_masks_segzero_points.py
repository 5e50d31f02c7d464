"""``points_from_mask`` / ``box_from_mask`` against Seg-Zero's ground-truth preparation.

Source followed: ``get_two_representative_points`` and the box cell of
``prepare_dataset/training_data_prepare_toturial.ipynb`` in Seg-Zero (copy read: GitHub
``Schiffer116/Seg-Zero``, commit 664bd231293e7b3e31a9cd69aab6dcaebd77a1a7).

``_reference_points`` / ``_reference_box`` below are a TEST-ONLY REFERENCE TRANSCRIPTION of that notebook
(rewritten step by step, same library calls: scipy's EDT, ``np.median``, ``np.argmax``), kept here only to
check that our own implementation (cv2 EDT + exact integer refinement, cropped) gives identical output.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from pixelthink.masks import box_from_mask, points_from_mask

# ------------------------------------------------------------------- reference transcription (test only)


def _reference_box(m: np.ndarray) -> list[int]:
    """Seg-Zero notebook, step 3: [left, top, right, bottom] = min/max of the mask's x and y (inclusive)."""
    ys, xs = np.where(m == 1)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def _reference_points(m: np.ndarray) -> tuple[list[int], list[int]] | tuple[None, None]:
    """Seg-Zero notebook, ``get_two_representative_points(m)`` (reference transcription, test only)."""
    y_idx, x_idx = np.where(m == 1)
    if len(x_idx) == 0:
        return None, None
    dist = ndimage.distance_transform_edt(m)  # no padding
    y1, x1 = np.unravel_index(dist.argmax(), dist.shape)
    cy, cx = int(np.mean(y_idx)), int(np.mean(x_idx))
    pts = np.column_stack((y_idx, x_idx))
    d_first = ((pts[:, 0] - y1) ** 2 + (pts[:, 1] - x1) ** 2) ** 0.5
    far = pts[d_first > np.median(d_first)]
    if len(far) > 0:
        y2, x2 = far[np.argmax(dist[far[:, 0], far[:, 1]])]
    else:
        oy, ox = max(0, cy - 10), max(0, cx - 10)
        region = dist[oy : min(m.shape[0], cy + 10), ox : min(m.shape[1], cx + 10)]
        ly, lx = np.unravel_index(region.argmax(), region.shape)
        y2, x2 = ly + oy, lx + ox
    if m[y1, x1] == 0:
        k = np.argmin((x_idx - x1) ** 2 + (y_idx - y1) ** 2)
        x1, y1 = int(x_idx[k]), int(y_idx[k])
    if m[y2, x2] == 0:
        k = np.argmin((x_idx - x2) ** 2 + (y_idx - y2) ** 2)
        x2, y2 = int(x_idx[k]), int(y_idx[k])
    return [int(x1), int(y1)], [int(x2), int(y2)]


def _assert_same_as_reference(mask: np.ndarray) -> None:
    m = mask.astype(np.uint8)  # the notebook's masks are uint8 0/1
    ref1, ref2 = _reference_points(m)
    ours = points_from_mask(mask)
    assert ours == [(float(ref1[0]), float(ref1[1])), (float(ref2[0]), float(ref2[1]))], mask.shape
    assert box_from_mask(mask) == tuple(float(v) for v in _reference_box(m))


# ----------------------------------------------------------------------------- random mask strategies


@st.composite
def _shape_masks(draw: st.DrawFn) -> np.ndarray:
    """Unions of 1..4 rectangles / ellipses (possibly clipped by the border, possibly disjoint)."""
    h = draw(st.integers(1, 48))
    w = draw(st.integers(1, 48))
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), dtype=bool)
    for _ in range(draw(st.integers(1, 4))):
        cy = draw(st.floats(-3, h + 3, allow_nan=False))
        cx = draw(st.floats(-3, w + 3, allow_nan=False))
        ry = draw(st.floats(0.3, h, allow_nan=False))
        rx = draw(st.floats(0.3, w, allow_nan=False))
        if draw(st.booleans()):
            mask |= (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        else:
            mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    if not mask.any():
        mask[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = True
    return mask


@settings(max_examples=300, deadline=None)
@given(_shape_masks())
def test_matches_reference_on_rectangles_ellipses_and_unions(mask):
    _assert_same_as_reference(mask)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 30),
    st.floats(0.05, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_matches_reference_on_noise_masks(h, w, density, seed):
    # speckle masks: many ties, many components, masks touching or filling the image
    mask = np.random.default_rng(seed).random((h, w)) < density
    if not mask.any():
        mask[0, 0] = True
    _assert_same_as_reference(mask)


@pytest.mark.parametrize(
    ("h", "w", "box"),
    [
        (40, 60, (0, 0, 60, 40)),  # full image: scipy's no-background artefact
        (40, 60, (0, 0, 60, 1)),  # one full row
        (40, 60, (59, 0, 60, 40)),  # last column
        (1, 1, (0, 0, 1, 1)),  # 1x1 image
        (50, 70, (10, 5, 60, 45)),  # plateau of exact ties along a ridge
    ],
)
def test_matches_reference_on_edge_rectangles(h, w, box):
    x0, y0, x1, y1 = box
    mask = np.zeros((h, w), dtype=bool)
    mask[y0:y1, x0:x1] = True
    _assert_same_as_reference(mask)


def test_matches_reference_on_a_large_mask_small_in_a_large_image():
    # radii in the hundreds (float32 EDT no longer exact in d^2) and a mask far from the image border
    h, w = 700, 900
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((yy - 380) / 290.0) ** 2 + ((xx - 430) / 400.0) ** 2 <= 1.0
    mask |= (yy >= 30) & (yy < 120) & (xx >= 700) & (xx < 880)
    mask[600:690, 20:30] = True
    _assert_same_as_reference(mask)


# -------------------------------------------------------------------------------- hand-checked cases


def test_hand_rectangle_touching_the_border_is_not_padded():
    # 3x6 image, mask = columns 0..2. No padding: the image border is not background, so D = 3, 2, 1 for
    # columns 0, 1, 2 (distance to column 3). p1 = first maximum in row-major order = (x0, y0).
    # Squared gaps to (0,0): a^2+b^2, a, b in 0..2 -> sorted 0,1,1,2,4,4,5,5,8, median (5th) = 4.
    # Far (> 4): (x1,y2) 5 with D=2, (x2,y1) 5 with D=1, (x2,y2) 8 with D=1 -> p2 = (x1, y2).
    m = np.zeros((3, 6), dtype=bool)
    m[:, 0:3] = True
    assert points_from_mask(m) == [(0.0, 0.0), (1.0, 2.0)]
    assert box_from_mask(m) == (0.0, 0.0, 2.0, 2.0)


def test_hand_two_diagonal_pixels():
    # pixels (0,0) and (2,2) of a 3x3 image: both D = 1 (a background neighbour), p1 = (0,0) (first);
    # gaps 0 and sqrt(8), median sqrt(8)/2, far = {(2,2)} -> p2 = (2,2). Box: x 0..2, y 0..2 inclusive.
    m = np.zeros((3, 3), dtype=bool)
    m[0, 0] = m[2, 2] = True
    assert points_from_mask(m) == [(0.0, 0.0), (2.0, 2.0)]
    assert box_from_mask(m) == (0.0, 0.0, 2.0, 2.0)


def test_hand_single_pixel_uses_the_centroid_window():
    # one pixel at (x3, y2) of 5x5: gaps = [0], median 0, nothing is far -> the window around the
    # centroid (cx, cy) = (3, 2): rows 0..4, cols 0..4 (clipped); its D maximum is the pixel itself (D = 1).
    m = np.zeros((5, 5), dtype=np.uint8)
    m[2, 3] = 255  # any non-zero value is foreground
    assert points_from_mask(m) == [(3.0, 2.0), (3.0, 2.0)]
    assert box_from_mask(m) == (3.0, 2.0, 3.0, 2.0)


def test_hand_far_half_excludes_the_median_itself():
    # 1x5 row image fully covered except x=4: mask x 0..3, D = 4, 3, 2, 1 (distance to x=4).
    # p1 = (0,0); gaps 0,1,2,3, median 1.5 -> far = x 2, 3 with D 2, 1 -> p2 = (2, 0).
    m = np.zeros((1, 5), dtype=bool)
    m[0, 0:4] = True
    assert points_from_mask(m) == [(0.0, 0.0), (2.0, 0.0)]


def test_empty_mask_raises_clear_error():
    with pytest.raises(ValueError, match="empty"):
        points_from_mask(np.zeros((4, 4), dtype=bool))
    assert box_from_mask(np.zeros((4, 4), dtype=bool)) is None
    assert _reference_points(np.zeros((4, 4), dtype=np.uint8)) == (None, None)
