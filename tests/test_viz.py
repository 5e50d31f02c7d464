"""``viz.overlay``: the mask is outlined (and sparsely hatched), not tinted, so a shape keeps its colour."""

from __future__ import annotations

import numpy as np

from pixelthink.viz import MASK_COLOR, mask_outline, overlay


def _scene() -> tuple[np.ndarray, np.ndarray]:
    image = np.full((60, 60, 3), 200, dtype=np.uint8)
    image[10:50, 10:50] = (30, 160, 40)  # a green square
    mask = np.zeros((60, 60), dtype=bool)
    mask[10:50, 10:50] = True
    return image, mask


def test_the_mask_is_an_outline_and_the_shape_keeps_its_colour() -> None:
    image, mask = _scene()
    drawn = np.asarray(overlay(image, mask))
    band = mask_outline(mask, 2)
    assert band[10, 10:50].all() and band[11, 10:50].all() and not band[12, 12:48].any()  # 2 px inside
    assert (drawn[band] == MASK_COLOR).all()
    inside = mask & ~band
    unchanged = (drawn[inside] == (30, 160, 40)).all(axis=1)
    assert unchanged.mean() > 0.85  # only the hatching (one pixel in 10 diagonals) touches the inside
    assert (drawn[~mask] == 200).all()  # nothing outside the mask
    # the old default (a 0.5 tint) changed every pixel of the shape; a tint is still available
    tinted = np.asarray(overlay(image, mask, alpha=0.5, outline=0, hatch=0))
    assert not (tinted[mask] == (30, 160, 40)).all(axis=1).any()


def test_outline_of_thin_and_border_masks() -> None:
    mask = np.zeros((5, 5), dtype=bool)
    mask[:, 0] = True  # one pixel wide, on the image border: all of it is edge
    assert (mask_outline(mask, 1) == mask).all()
    assert not mask_outline(mask, 0).any()
    full = np.ones((6, 6), dtype=bool)  # the image border counts as outside
    band = mask_outline(full, 1)
    assert band[0].all() and band[:, 0].all() and not band[1:5, 1:5].any()
