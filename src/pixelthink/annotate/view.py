"""What an annotation judge sees of a sample: the image in the judge frame, the target drawn on it.

The image is resized to the judge frame (``resolution``: a square side such as 840, as Seg-Zero feeds
Qwen2.5-VL, or None for the native size) with :class:`~pixelthink.frames.FrameTransform`, and the target is
shown as ``show_target`` says (drawn with :func:`pixelthink.viz.overlay`):

======== ==========================================================================================
both     the mask tinted red and its box outlined in green (default)
overlay  the mask tinted red
box      the box outlined in green
none     nothing drawn; the prompt gives the box corners only
======== ==========================================================================================

The prompt's ``$target`` field says the same in words, with the box corners in pixels of the image sent
(the judge frame), so judges that read coordinates better than colours are served too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pixelthink.frames import FrameTransform

__all__ = ["SHOW_TARGET", "JudgeView", "judge_view"]

SHOW_TARGET: tuple[str, ...] = ("both", "overlay", "box", "none")


@dataclass
class JudgeView:
    """One sample as the judge sees it.

    Attributes:
        image: RGB PIL image in the judge frame, with the target drawn as requested.
        frame: original <-> judge frame transform (the judge answers in the judge frame).
        target: the ``$target`` text of the prompt.
    """

    image: Any
    frame: FrameTransform
    target: str

    @property
    def width(self) -> int:
        return self.frame.model_w

    @property
    def height(self) -> int:
        return self.frame.model_h


def judge_view(
    image: Any, sample: Any, *, resolution: int | tuple[int, int] | None = 840, show_target: str = "both"
) -> JudgeView:
    """The judge's view of ``sample`` (its ``image`` in the original frame, PIL RGB).

    Raises:
        ValueError: an unknown ``show_target``.
    """
    from PIL import Image

    from pixelthink.viz import overlay

    if show_target not in SHOW_TARGET:
        raise ValueError(f"show_target: expected one of {SHOW_TARGET}, got {show_target!r}")
    frame = FrameTransform.for_size(image.size[0], image.size[1], resolution)
    model_image = frame.image_to_model(image)
    box = None if sample.bbox is None else frame.box_to_model(sample.bbox)
    corners = (
        "an empty region"
        if box is None
        else f"({round(box[0])}, {round(box[1])}) to ({round(box[2])}, {round(box[3])}) [x1, y1, x2, y2]"
    )
    mask = None
    if show_target in ("both", "overlay"):
        small = Image.fromarray(sample.mask_array().astype(np.uint8) * 255).resize(
            frame.model_size, Image.NEAREST
        )
        mask = np.asarray(small) > 127
    drawn_box = box if show_target in ("both", "box") else None
    if mask is not None or drawn_box is not None:
        model_image = overlay(model_image, mask, drawn_box, alpha=0.45)
    target = {
        "both": f"tinted red in the image and outlined by the green box with corners {corners}",
        "overlay": f"tinted red in the image; its bounding box has corners {corners}",
        "box": f"inside the green box drawn in the image, with corners {corners}",
        "none": f"the object whose bounding box has corners {corners} (not drawn in the image)",
    }[show_target]
    return JudgeView(image=model_image, frame=frame, target=target)
