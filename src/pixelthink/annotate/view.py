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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixelthink.annotate.records import failed_record
from pixelthink.frames import FrameTransform

__all__ = ["SHOW_TARGET", "JudgeView", "Question", "ask_about_samples", "judge_view"]

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
        model_image = overlay(
            model_image, mask, drawn_box, alpha=0.45, outline=0
        )  # tint only, as the prompts say
    target = {
        "both": f"tinted red in the image and outlined by the green box with corners {corners}",
        "overlay": f"tinted red in the image; its bounding box has corners {corners}",
        "box": f"inside the green box drawn in the image, with corners {corners}",
        "none": f"the object whose bounding box has corners {corners} (not drawn in the image)",
    }[show_target]
    return JudgeView(image=model_image, frame=frame, target=target)


Question = tuple[str, Callable[[str], tuple[Any, str | None]]]
"""A prompt for the judge and the parser of its reply (see :func:`pixelthink.judging.ask`)."""


def ask_about_samples(
    chat_model: Any,
    samples: Sequence[Any],
    bench: Any,
    questions: Callable[[Any, JudgeView], list[Question] | dict[str, Any]],
    *,
    resolution: int | tuple[int, int] | None,
    show_target: str,
    retries: int,
    temperature: float,
    max_new_tokens: int,
) -> list[dict[str, Any] | list[Any]]:
    """Ask the judge about a batch of samples, all requests at once (concurrently on a server).

    ``questions(sample, view)`` returns the sample's questions, or a failed record (a dict) when the
    sample cannot be asked. Returns, per sample in order, that failed record, a failed record for an
    image that cannot be read, or the :class:`~pixelthink.judging.ask.Asked` results of its questions.
    """
    from pixelthink.judging import ask

    images: list[Any] = []
    prompts: list[str] = []
    parsers: list[Any] = []
    slots: list[dict[str, Any] | int] = []  # a failed record, or how many questions the sample has
    for sample in samples:
        try:
            view = judge_view(
                bench.load_image(sample), sample, resolution=resolution, show_target=show_target
            )
        except (OSError, ValueError) as exc:
            slots.append(failed_record("image", [f"image: {exc}"]))
            continue
        asked = questions(sample, view)
        if isinstance(asked, dict):
            slots.append(asked)
            continue
        slots.append(len(asked))
        for prompt, parser in asked:
            images.append(view.image)
            prompts.append(prompt)
            parsers.append(parser)
    results = ask(
        chat_model,
        images,
        prompts,
        parsers,
        retries=retries,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
    )
    out: list[dict[str, Any] | list[Any]] = []
    pos = 0
    for slot in slots:
        if isinstance(slot, dict):
            out.append(slot)
        else:
            out.append(results[pos : pos + slot])
            pos += slot
    return out
