"""Pipeline: answer parsing and frame mapping, per-sample failures, batching, tiny models end to end.

``ScriptedReasoner`` below is a third-party reasoner written against the public ``Reasoner`` protocol
(it returns fixed texts, so the success path can be checked with exact coordinates); every pixelthink
module used here (answer parsing, frames, segmenters, masks, predictions) is the real one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from pixelthink.frames import FrameTransform
from pixelthink.masks import decode_rle
from pixelthink.models.reasoners import Generation
from pixelthink.models.segmenters import BoxSegmenter, GrabCutSegmenter
from pixelthink.pipeline import STAGES, Pipeline, Result, load_image


class ScriptedReasoner:
    """Answers each query with a fixed text; model frame = ``resolution`` (set by the pipeline)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.resolution: int | tuple[int, int] | None = None
        self.seen_sizes: list[tuple[int, int]] = []

    def generate(self, images: Sequence[Image.Image], queries: Sequence[str]) -> list[Generation]:
        out = []
        for image, query in zip(images, queries, strict=True):
            self.seen_sizes.append(image.size)
            frame = FrameTransform.for_size(image.size[0], image.size[1], getattr(self, "resolution", None))
            out.append(
                Generation(
                    text=self.answers[query],
                    reasoning_tokens=7,
                    answer_tokens=30,
                    uncertainty=0.25,
                    frame=frame,
                    timings={"preprocess": 0.001, "prefill": 0.01, "decode": 0.02, "batch_size": len(images)},
                )
            )
        return out


class PlainReasoner(ScriptedReasoner):
    """A reasoner without a ``resolution`` attribute: it sees what it is given (identity frame)."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__(answers)
        del self.resolution


def _scene() -> tuple[Image.Image, np.ndarray]:
    """160x120 noisy background with a bright rectangle x 30..99, y 40..89 (inclusive)."""
    rng = np.random.default_rng(0)
    h, w = 120, 160
    image = rng.normal(60, 15, (h, w, 3))
    obj = np.zeros((h, w), bool)
    obj[40:90, 30:100] = True
    image[obj] = rng.normal([200, 90, 50], 15, (int(obj.sum()), 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)), obj


# Original 160x120 -> model 840x840: x * 840/160 = x * 5.25, y * 840/120 = y * 7.
# Box (30, 40, 99, 89) -> (157.5, 280, 519.75, 623); points (64, 64) -> (336, 448), (50, 80) -> (262.5, 560).
GOOD = (
    "<think>The bright block in the middle.</think>"
    '<answer>{"bbox": [157.5, 280, 519.75, 623], "points_1": [336, 448], "points_2": [262.5, 560]}</answer>'
)
BAD = "<think>I am not sure</think><answer>somewhere on the left</answer>"


def test_pipeline_maps_the_answer_to_the_original_frame_and_segments() -> None:
    image, obj = _scene()
    reasoner = ScriptedReasoner({"block": GOOD})
    pipe = Pipeline(reasoner, GrabCutSegmenter(), resolution=840)
    assert reasoner.resolution == 840  # the pipeline sets the reasoner's working resolution
    result = pipe.run(image, "block")
    assert result.error is None and result.problems == []
    assert result.think == "The bright block in the middle."
    assert result.bbox == pytest.approx((30.0, 40.0, 99.0, 89.0))
    assert np.allclose(result.points, [(64.0, 64.0), (50.0, 80.0)])
    assert result.frame == FrameTransform(160, 120, 840, 840)
    assert result.mask is not None and result.mask.shape == (120, 160)
    iou = (result.mask & obj).sum() / (result.mask | obj).sum()
    assert iou > 0.8
    assert (result.reasoning_tokens, result.answer_tokens, result.uncertainty) == (7, 30, 0.25)
    assert set(result.timings) == set(STAGES)
    assert result.timings["prefill"] == 0.01 and result.timings["decode"] == 0.02
    assert result.timings["total"] == pytest.approx(sum(result.timings[s] for s in STAGES[:-1]))
    assert result.meta == {"batch_size": 1}

    pred = result.to_prediction("sample-1", meta={"run": "t"})
    assert pred.id == "sample-1" and pred.error is None
    assert np.array_equal(decode_rle(pred.mask), result.mask)
    assert pred.bbox == pytest.approx((30.0, 40.0, 99.0, 89.0))
    assert pred.latency == result.timings
    assert pred.meta["problems"] == [] and pred.meta["run"] == "t" and pred.meta["model_size"] == [840, 840]
    assert pred.to_line()  # serialisable


def test_unparseable_answer_gives_an_empty_mask_and_a_recorded_failure() -> None:
    image, _ = _scene()
    result = Pipeline(ScriptedReasoner({"q": BAD}), GrabCutSegmenter()).run(image, "q")
    assert result.error is not None and result.error.startswith("answer: no usable box or points")
    assert result.bbox is None and result.points == []
    assert result.mask is not None and result.mask.shape == (120, 160) and not result.mask.any()
    assert result.response == BAD and result.think == "I am not sure"
    pred = result.to_prediction("x")
    assert pred.error == result.error and not decode_rle(pred.mask).any()
    assert pred.meta["problems"]  # the parser said what was wrong


def test_corrupt_and_missing_images_fail_alone(tmp_path) -> None:
    image, _ = _scene()
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    reasoner = ScriptedReasoner({"block": GOOD})
    results = Pipeline(reasoner, GrabCutSegmenter()).run_many(
        [corrupt, image, tmp_path / "missing.jpg"], ["block", "block", "block"]
    )
    assert results[0].error is not None and "cannot decode image" in results[0].error
    assert str(corrupt) in results[0].error and results[0].mask is None and results[0].response is None
    assert results[1].error is None and results[1].mask is not None and results[1].mask.any()
    assert results[2].error is not None and "image file not found" in results[2].error
    assert len(reasoner.seen_sizes) == 1  # only the readable image reached the reasoner
    pred = results[0].to_prediction("c")
    assert pred.mask is None and "cannot decode image" in pred.error


def test_reasoner_without_resolution_gets_resized_images_and_composed_frames() -> None:
    image, _ = _scene()
    reasoner = PlainReasoner({"block": GOOD})
    result = Pipeline(reasoner, BoxSegmenter(), resolution=840).run(image, "block")
    assert reasoner.seen_sizes == [(840, 840)]
    # identity frame on the 840x840 image composed with the 160x120 -> 840x840 resize
    assert result.frame == FrameTransform(160, 120, 840, 840)
    assert result.bbox == pytest.approx((30.0, 40.0, 99.0, 89.0))
    assert result.mask is not None and result.mask.sum() == 70 * 50  # inclusive box 30..99 x 40..89


def test_reasoner_protocols_name_what_the_pipeline_uses() -> None:
    """FramedReasoner (resolution) and StreamingReasoner (on_text, generate_stream) are declared, and the
    pipeline picks its path by them: both built-in backends stream, a scripted one is framed only, a plain
    one is a bare Reasoner."""
    from pixelthink.models.reasoner_openai import OpenAIReasoner
    from pixelthink.models.reasoners import FramedReasoner, Reasoner, StreamingReasoner

    server = OpenAIReasoner("http://127.0.0.1:9/v1", "m", check_model=False)  # no request is made
    framed, plain = ScriptedReasoner({}), PlainReasoner({})
    assert isinstance(server, StreamingReasoner)
    assert isinstance(framed, FramedReasoner) and not isinstance(framed, StreamingReasoner)
    assert isinstance(plain, Reasoner) and not isinstance(plain, FramedReasoner)
    assert Pipeline(framed, BoxSegmenter(), resolution=(320, 240)).reasoner_resizes
    assert framed.resolution == (320, 240)
    assert not Pipeline(plain, BoxSegmenter()).reasoner_resizes


class CountingBox(BoxSegmenter):
    def __init__(self) -> None:
        super().__init__()
        self.set_calls = 0

    def set_image(self, image: np.ndarray) -> None:
        self.set_calls += 1
        super().set_image(image)


def test_run_many_sets_each_image_once_and_keeps_order() -> None:
    image, _ = _scene()
    other = Image.fromarray(np.zeros((120, 160, 3), np.uint8))
    seg = CountingBox()
    reasoner = ScriptedReasoner({"a": GOOD, "b": BAD, "c": GOOD})
    results = Pipeline(reasoner, seg).run_many([image, image, image, other], ["a", "b", "c", "a"])
    assert [r.query for r in results] == ["a", "b", "c", "a"]
    assert seg.set_calls == 2  # one for the three uses of `image`, one for `other`
    assert [r.error is None for r in results] == [True, False, True, True]
    assert all(r.meta["batch_size"] == 4 for r in results)


class FailingBox(BoxSegmenter):
    def predict(self, box, points):
        raise ValueError("kaboom")


def test_segmenter_failure_is_recorded() -> None:
    image, _ = _scene()
    result = Pipeline(ScriptedReasoner({"a": GOOD}), FailingBox()).run(image, "a")
    assert result.error == "segmenter: ValueError: kaboom"
    assert result.mask is not None and not result.mask.any()


def test_run_many_checks_lengths_and_load_image_errors(tmp_path) -> None:
    pipe = Pipeline(ScriptedReasoner({}), BoxSegmenter())
    with pytest.raises(ValueError, match="2 images but 1 queries"):
        pipe.run_many(["a", "b"], ["q"])
    with pytest.raises(FileNotFoundError, match="image file not found"):
        load_image(tmp_path / "nope.png")
    gray = Image.new("L", (4, 3), 7)
    assert load_image(gray).mode == "RGB" and load_image(lambda: gray).size == (4, 3)


# ------------------------------------------------------------------------------ tiny models end to end
def test_tiny_qwen_and_sam2_end_to_end(tiny_models) -> None:
    qwen, sam2 = tiny_models
    pipe = Pipeline.from_specs(
        str(qwen),
        f"sam2:{sam2}",
        resolution=112,
        reasoner_options={"max_new_tokens": 12, "device": "cpu"},
        segmenter_options={"device": "cpu"},
    )
    image, _ = _scene()
    results = pipe.run_many([image, image.resize((90, 70))], ["the block", "what is red?"])
    for result, size in zip(results, [(160, 120), (90, 70)], strict=True):
        assert isinstance(result, Result) and result.image_size == size
        assert result.frame is not None and result.frame.original_size == size
        assert isinstance(result.response, str)
        assert 1 <= result.reasoning_tokens + result.answer_tokens <= 12
        assert result.uncertainty is not None and 0.0 <= result.uncertainty <= 1.0
        assert result.timings["decode"] > 0 and result.timings["total"] > 0
        assert result.mask is not None and result.mask.shape == (size[1], size[0])
        if result.error is None:  # random weights: an answer is possible but not expected
            assert result.bbox is not None or result.points
        else:
            assert result.error.startswith("answer: ") and not result.mask.any()
        assert result.to_prediction("id").to_line()


def test_streaming_with_a_reasoner_that_cannot_stream_hands_over_the_whole_text() -> None:
    pipe = Pipeline(ScriptedReasoner({"a": GOOD, "b": BAD}), BoxSegmenter(), resolution=840)
    image, _ = _scene()
    seen: list[tuple[int, str]] = []
    results = pipe.run_many(
        ["/no/such/image.png", image, image], ["a", "a", "b"], on_text=lambda i, t: seen.append((i, t))
    )
    assert seen == [(1, GOOD), (2, BAD)]  # indices of the inputs, the failed load skipped
    pieces: list[str] = []
    assert pipe.run(image, "a", on_text=pieces.append).response == GOOD == "".join(pieces)
    assert results[1].response == GOOD


def test_tiny_qwen_streams_the_same_text_it_returns(tiny_models) -> None:
    qwen, _ = tiny_models
    pipe = Pipeline.from_specs(str(qwen), "box", resolution=112, reasoner_options={"max_new_tokens": 12})
    image, _ = _scene()
    pieces: list[str] = []
    streamed = pipe.run(image, "the block", on_text=pieces.append)
    assert streamed.response == "".join(pieces)
    assert streamed.response == pipe.run(image, "the block").response  # streaming changes nothing
