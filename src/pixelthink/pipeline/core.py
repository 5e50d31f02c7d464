"""Image + query -> reasoning, prompts and mask: the reasoning model followed by a prompted segmenter.

Every sample goes through five stages, the contract both runners are built from (the batch runner
:meth:`Pipeline.run_many` here, the streaming runner :mod:`pixelthink.pipeline.streaming`):

1. **prepare** (:meth:`Pipeline.prepare`): check the query, load the image (original frame);
2. **reason** (:meth:`Pipeline.reason`, or :meth:`Pipeline.reason_stream` for a stream of samples): the
   reasoner's generation, in the model frame;
3. **parse** (:meth:`Pipeline.parse`): the lenient answer parser, box and points mapped to the original frame;
4. **segment** (:meth:`Pipeline.segment`, or its parts :func:`prompted` -> :func:`segment_prompts` ->
   :func:`apply_masks` when the runner places them itself: a process pool, kept segmenter states): the mask;
5. **finish** (:meth:`Pipeline.finish`): the stage timings completed.

:class:`Pipeline` runs a :class:`~pixelthink.models.reasoners.Reasoner` (which writes
``<think>...</think><answer>{"bbox": ..., "points_1": ..., "points_2": ...}</answer>`` about the image in
its *model* frame), parses the answer leniently, maps box and points back to the *original* frame with
the generation's :class:`~pixelthink.frames.FrameTransform`, and asks a
:class:`~pixelthink.models.segmenters.Segmenter` for the mask (original frame).

Failures of a sample never stop a run: an unreadable or over-large image (``max_pixels``), a query
over ``max_query_chars``, a generation the reasoner marks as failed (``Generation.error``: a malformed
server reply), an answer without a usable box or point, or a segmenter error gives a :class:`Result`
with an empty (or no) mask, ``error`` set and ``error_stage`` naming the stage (:data:`ERROR_STAGES`).
Exceptions raised by the reasoner itself (a model or server failure, which affects every sample alike)
propagate, so that a resumable job stops and can be re-run rather than record a whole benchmark of
failures.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from pixelthink.answer import DEFAULT_MAX_QUERY_CHARS, parse_lenient, query_problem
from pixelthink.frames import Box, FrameTransform, Point
from pixelthink.images import DEFAULT_MAX_PIXELS, decode_image, frame_size_problem

if TYPE_CHECKING:
    from PIL import Image

    from pixelthink.models.reasoners import Generation, Reasoner, TextCallback
    from pixelthink.models.segmenters import Segmenter
    from pixelthink.predictions import Prediction

__all__ = ["ERROR_STAGES", "STAGES", "ImageSource", "Pipeline", "Result", "load_image"]

ImageSource = Union["Image.Image", str, os.PathLike, Callable[[], "Image.Image"]]
"""A PIL image, an image file path, or a zero-argument callable returning a PIL image (lazy loading)."""

STAGES: tuple[str, ...] = ("load", "preprocess", "prefill", "decode", "parse", "segment", "total")
"""Keys of :attr:`Result.timings` (seconds). ``total`` is the sum of the other stages."""

ERROR_STAGES: tuple[str, ...] = ("query", "image", "reasoner", "answer", "segmenter")
"""Values of :attr:`Result.error_stage`: where a sample failed (its ``error`` starts with ``"STAGE: "``)."""


def load_image(source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Load an image source as PIL RGB (original frame).

    A path is decoded with :func:`pixelthink.images.decode_image` (its size is checked against
    ``max_pixels`` from the header, before any pixel is decoded); a callable is called (it applies its
    own limit, e.g. ``Benchmark.load_image``); a PIL image is used as it is.

    Raises:
        FileNotFoundError: a path that does not exist.
        ImageTooLargeError: the image declares more than ``max_pixels`` pixels (a ValueError).
        ValueError: a file that cannot be decoded as an image (names the path).
    """
    from PIL import Image

    if isinstance(source, Image.Image):
        return source if source.mode == "RGB" else source.convert("RGB")
    if isinstance(source, str | os.PathLike):
        return decode_image(Path(source), max_pixels=max_pixels)
    if callable(source):
        image = source()
        if not isinstance(image, Image.Image):
            raise TypeError(f"image loader returned {type(image).__name__}, expected a PIL image")
        return image if image.mode == "RGB" else image.convert("RGB")
    raise TypeError(f"image must be a PIL image, a path or a loader callable, not {type(source).__name__}")


@dataclass
class Result:
    """The outcome of one (image, query). Geometry in the **original** frame.

    Attributes:
        query: the query as given.
        response: the reasoning model's raw text (model-frame coordinates), or None if not generated.
        think: the text inside ``<think>...</think>``, or None.
        bbox: XYXY box of the answer, original frame, or None.
        points: 0..2 (x, y) points of the answer, original frame.
        mask: bool ``(H, W)`` of the original image; all False on failure; None when the image
            could not be loaded (its size is unknown).
        score: the segmenter's confidence (SAM family: predicted IoU), or None.
        uncertainty: U of the generation (mean top-2 margin uncertainty), or None.
        reasoning_tokens, answer_tokens: generated tokens inside / outside ``<think>``.
        timings: seconds per stage, keys of :data:`STAGES` (batched stages are per-sample shares).
        problems: what the lenient parser repaired or found wrong (empty = clean answer).
        error: why the sample failed (it then scores as a failure), or None; ``"STAGE: detail"``.
        error_stage: the stage that failed (one of :data:`ERROR_STAGES`), or None; set with ``error`` by
            :meth:`fail`.
        image_size: ``(W, H)`` of the original image, or None.
        frame: original <-> model frame transform of the generation, or None.
        meta: extras from the reasoner (e.g. ``batch_size``).
    """

    query: str
    response: str | None = None
    think: str | None = None
    bbox: Box | None = None
    points: list[Point] = field(default_factory=list)
    mask: np.ndarray | None = None
    score: float | None = None
    uncertainty: float | None = None
    reasoning_tokens: int | None = None
    answer_tokens: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    image_size: tuple[int, int] | None = None
    frame: FrameTransform | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    error_stage: str | None = None

    @property
    def ok(self) -> bool:
        """True when the sample did not fail."""
        return self.error is None

    def fail(self, stage: str, detail: str) -> None:
        """Record a failure of ``stage`` (one of :data:`ERROR_STAGES`): ``error = "STAGE: detail"``."""
        if stage not in ERROR_STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(ERROR_STAGES)}")
        self.error = f"{stage}: {detail}"
        self.error_stage = stage

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly summary (original-frame coordinates; the mask as its pixel count)."""
        return {
            "query": self.query,
            "response": self.response,
            "think": self.think,
            "bbox": None if self.bbox is None else [float(v) for v in self.bbox],
            "points": [[float(x), float(y)] for x, y in self.points],
            "mask_pixels": None if self.mask is None else int(self.mask.sum()),
            "score": self.score,
            "uncertainty": self.uncertainty,
            "reasoning_tokens": self.reasoning_tokens,
            "answer_tokens": self.answer_tokens,
            "timings": self.timings,
            "problems": self.problems,
            "error": self.error,
            "error_stage": self.error_stage,
            "image_size": None if self.image_size is None else list(self.image_size),
            "model_size": None if self.frame is None else [self.frame.model_w, self.frame.model_h],
        }

    def to_prediction(self, sample_id: str, meta: dict[str, Any] | None = None) -> Prediction:
        """This result as a :class:`pixelthink.predictions.Prediction` (mask as COCO RLE).

        ``meta`` holds the parse problems, the segmenter score and the model frame size, updated with
        the ``meta`` argument.
        """
        from pixelthink.masks import encode_rle
        from pixelthink.predictions import Prediction

        extra: dict[str, Any] = {"problems": list(self.problems)}
        if self.score is not None:
            extra["score"] = float(self.score)
        if self.frame is not None:
            extra["model_size"] = [self.frame.model_w, self.frame.model_h]
        extra.update(self.meta)
        extra.update(meta or {})
        return Prediction(
            id=sample_id,
            response=self.response,
            mask=None if self.mask is None else encode_rle(self.mask),
            bbox=self.bbox,
            points=list(self.points),
            reasoning_tokens=self.reasoning_tokens,
            answer_tokens=self.answer_tokens,
            uncertainty=self.uncertainty,
            latency=dict(self.timings),
            error=self.error,
            meta=extra,
        )


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Pipeline:
    """Reasoner + segmenter.

    Args:
        reasoner: a :class:`~pixelthink.models.reasoners.Reasoner` (``generate(images, queries)``).
        segmenter: anything with ``set_image`` / ``predict`` (and optionally ``predict_many``).
        resolution: the reasoner's working resolution (model frame): an int ``r`` (``r x r``, Seg-Zero's
            840), a ``(width, height)`` pair, or None for native size. A
            :class:`~pixelthink.models.reasoners.FramedReasoner` (both built-in backends) gets its
            ``resolution`` set to this value and resizes itself; any other reasoner receives images
            already resized to the model frame, and its ``Generation.frame`` is composed with that resize.
            A frame over :data:`~pixelthink.images.DEFAULT_MAX_PIXELS` raises ValueError.
        max_query_chars: longest query sent to the reasoner (default
            :data:`~pixelthink.answer.DEFAULT_MAX_QUERY_CHARS`; ``None``/``0``: no limit). A longer query
            is a per-sample failure (``error`` names the limit); the rest of the batch runs.
        max_pixels: largest image (width x height) decoded from a path (default
            :data:`~pixelthink.images.DEFAULT_MAX_PIXELS`; ``None``/``0``: no limit). A larger one is a
            per-sample failure, refused from its header before any pixel is decoded.
    """

    def __init__(
        self,
        reasoner: Reasoner,
        segmenter: Segmenter,
        *,
        resolution: int | tuple[int, int] | None = 840,
        max_query_chars: int | None = DEFAULT_MAX_QUERY_CHARS,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        problem = frame_size_problem(resolution)
        if problem:
            raise ValueError(f"Pipeline: resolution: {problem}")
        self.reasoner = reasoner
        self.segmenter = segmenter
        self.resolution = resolution
        self.max_query_chars = max_query_chars
        self.max_pixels = max_pixels
        from pixelthink.models.reasoners import FramedReasoner, StreamingReasoner

        self._reasoner_resizes = isinstance(reasoner, FramedReasoner)
        if isinstance(reasoner, FramedReasoner):
            reasoner.resolution = resolution
        self._streaming = reasoner if isinstance(reasoner, StreamingReasoner) else None

    @classmethod
    def from_specs(
        cls,
        reasoner: str,
        segmenter: str | Segmenter = "grabcut",
        *,
        resolution: int | tuple[int, int] | str | None = "auto",
        reasoner_options: dict[str, Any] | None = None,
        segmenter_options: dict[str, Any] | None = None,
        max_query_chars: int | None = DEFAULT_MAX_QUERY_CHARS,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> Pipeline:
        """Build from spec strings: ``load_reasoner(reasoner, resolution=..., **reasoner_options)`` and
        ``load_segmenter(segmenter, **segmenter_options)`` (see those functions for the syntax); an
        already loaded segmenter object is used as it is (e.g. one SAM model shared by two pipelines);
        ``max_query_chars`` and ``max_pixels`` as in the constructor.

        ``resolution="auto"``: the resolution a local checkpoint was trained at (its
        ``pixelthink_recipe.yaml``), else 840."""
        from pixelthink.models.reasoners import resolve_resolution
        from pixelthink.models.registry import load_reasoner, load_segmenter

        resolved = resolve_resolution(reasoner, resolution)
        seg = (
            load_segmenter(segmenter, **(segmenter_options or {}))
            if isinstance(segmenter, str)
            else segmenter
        )
        rsn = load_reasoner(reasoner, resolution=resolved, **(reasoner_options or {}))
        return cls(rsn, seg, resolution=resolved, max_query_chars=max_query_chars, max_pixels=max_pixels)

    # ------------------------------------------------------------------ public API
    def run(self, image: ImageSource, query: str, *, on_text: Callable[[str], None] | None = None) -> Result:
        """Run one image (original frame) and query; never raises for a per-sample failure.

        ``on_text(text)`` receives the response piece by piece while it is generated (streaming).
        """
        callback = None if on_text is None else (lambda _i, text: on_text(text))
        return self.run_many([image], [query], on_text=callback)[0]

    def run_many(
        self,
        images: Sequence[ImageSource],
        queries: Sequence[str],
        *,
        on_text: TextCallback | None = None,
    ) -> list[Result]:
        """Run a batch: one ``reasoner.generate`` call; the segmenter sets each distinct image once.

        Consecutive entries given the *same* source object (e.g. one path with several queries) share
        one ``set_image``. Returns one :class:`Result` per input, in order. ``on_text(i, text)`` receives
        the response of input ``i`` piece by piece while it is generated: a
        :class:`~pixelthink.models.reasoners.StreamingReasoner` (both built-in backends) streams; for
        others the whole text comes at once.

        The batch runner of the stage contract: every sample is prepared, then all are reasoned in one
        call, parsed, segmented and finished.
        """
        if len(images) != len(queries):
            raise ValueError(f"run_many: got {len(images)} images but {len(queries)} queries")
        results = [Result(query=q) for q in queries]
        loaded = [self.prepare(source, result) for source, result in zip(images, results, strict=True)]

        todo = [i for i, image in enumerate(loaded) if image is not None]
        if todo:
            stream = None if on_text is None else (lambda k, text: on_text(todo[k], text))
            generations = self.reason([loaded[i] for i in todo], [queries[i] for i in todo], stream)  # type: ignore[misc]
            for i, gen in zip(todo, generations, strict=True):
                self.parse(results[i], gen)
            self._segment(images, loaded, results, todo)

        for result in results:
            self.finish(result)
        return results

    # ------------------------------------------------------------------ stages
    def prepare(self, source: ImageSource, result: Result) -> Image.Image | None:
        """Stage 1, *prepare*: check the sample's query, load its image (original frame).

        Returns the image, or None with ``result.error`` set (query over the limit, image unreadable or
        over ``max_pixels``); records ``timings["load"]`` and ``image_size``.
        """
        problem = query_problem(result.query, self.max_query_chars)
        if problem is not None:  # refused before its image is read or a prompt is built
            result.fail("query", problem)
            return None
        start = time.perf_counter()
        try:
            image = load_image(source, max_pixels=self.max_pixels)
        except (FileNotFoundError, ValueError, OSError, TypeError) as exc:
            image = None
            result.fail("image", _error_text(exc))
        result.timings["load"] = time.perf_counter() - start
        if image is not None:
            result.image_size = (int(image.size[0]), int(image.size[1]))
        return image

    def _call_reasoner(
        self, images: list[Image.Image], queries: list[str], on_text: TextCallback | None
    ) -> list[Generation]:
        if on_text is None:
            return list(self.reasoner.generate(images, queries))
        if self._streaming is not None:
            return list(self._streaming.generate(images, queries, on_text=on_text))
        generations = list(self.reasoner.generate(images, queries))
        for i, gen in enumerate(generations):
            on_text(i, gen.text)
        return generations

    def reason(
        self, images: list[Image.Image], queries: list[str], on_text: TextCallback | None = None
    ) -> list[Generation]:
        """Stage 2, *reason*: one ``reasoner.generate`` call (images in the original frame); without
        reasoner-side resizing, resize here and compose the frames."""
        if self._reasoner_resizes:
            generations = self._call_reasoner(images, queries, on_text)
        else:
            frames = [FrameTransform.for_size(im.size[0], im.size[1], self.resolution) for im in images]
            model_images = [f.image_to_model(im) for f, im in zip(frames, images, strict=True)]
            generations = self._call_reasoner(model_images, queries, on_text)
            for gen, pre in zip(generations, frames, strict=False):
                # Both transforms are axis scalings, so their composition maps the reasoner's frame
                # straight to the original image.
                gen.frame = FrameTransform(pre.orig_w, pre.orig_h, gen.frame.model_w, gen.frame.model_h)
        if len(generations) != len(images):
            raise RuntimeError(
                f"reasoner {type(self.reasoner).__name__} returned {len(generations)} generations "
                f"for {len(images)} inputs"
            )
        return generations

    def reason_stream(
        self, requests: Iterator[tuple[int, Image.Image, str]], *, window: int
    ) -> Iterator[tuple[int, Generation]]:
        """Stage 2 for a stream of ``(index, image, query)`` requests (images in the original frame):
        ``(index, Generation)`` in completion order. A
        :class:`~pixelthink.models.reasoners.StreamingReasoner` keeps ``window`` samples at once
        (``generate_stream``); any other reasoner gets :meth:`reason` calls of its ``batch_size``
        (default 8), in request order. Close the iterator to stop early."""
        if self._streaming is not None:
            return self._streaming.generate_stream(requests, window=window)
        return self._batched(requests, int(getattr(self.reasoner, "batch_size", 8)))

    def _batched(
        self, requests: Iterator[tuple[int, Image.Image, str]], batch_size: int
    ) -> Iterator[tuple[int, Generation]]:
        while batch := list(itertools.islice(requests, batch_size)):
            generations = self.reason([b[1] for b in batch], [b[2] for b in batch])
            for (index, _, _), generation in zip(batch, generations, strict=True):
                yield index, generation

    @property
    def reasoner_resizes(self) -> bool:
        """True when the reasoner resizes images to the model frame itself (both built-in backends)."""
        return self._reasoner_resizes

    @staticmethod
    def parse(result: Result, gen: Generation) -> None:
        """Stage 3, *parse*: fill a result from a generation: parse the answer and map it to the original
        frame."""
        for key, value in gen.timings.items():
            if key == "batch_size":
                result.meta["batch_size"] = int(value)
            else:
                result.timings[key] = float(value)
        result.frame = gen.frame
        error = getattr(gen, "error", None)  # a per-sample failure of the backend (malformed reply...)
        if error is not None:
            result.response = gen.text if isinstance(gen.text, str) and gen.text else None
            result.fail("reasoner", str(error))
            return
        result.response = gen.text
        result.reasoning_tokens = int(gen.reasoning_tokens)
        result.answer_tokens = int(gen.answer_tokens)
        result.uncertainty = None if gen.uncertainty is None else float(gen.uncertainty)
        start = time.perf_counter()
        parsed = parse_lenient(gen.text, gen.frame.model_size)
        result.think = parsed.think
        result.problems = list(parsed.problems)
        if parsed.bbox is not None:
            result.bbox = tuple(float(v) for v in gen.frame.box_to_original(parsed.bbox))  # type: ignore[assignment]
        result.points = [(float(x), float(y)) for x, y in gen.frame.points_to_original(parsed.points)]
        if result.bbox is None and not result.points:
            detail = "; ".join(parsed.problems) or "no box or points found"
            result.fail("answer", f"no usable box or points ({detail})")
        result.timings["parse"] = time.perf_counter() - start

    def segment(self, image: np.ndarray | None, results: Sequence[Result]) -> None:
        """Stage 4, *segment*: masks for the parsed results on one image (:func:`segment_results`)."""
        segment_results(self.segmenter, image, results)

    @staticmethod
    def finish(result: Result) -> None:
        """Stage 5, *finish*: complete the stage timings (:func:`finish_timings`)."""
        finish_timings(result)

    def _segment(
        self,
        sources: Sequence[ImageSource],
        loaded: list[Image.Image | None],
        results: list[Result],
        todo: list[int],
    ) -> None:
        """Masks for the loaded samples; each run of consecutive identical sources sets the image once."""
        groups: list[list[int]] = []
        for i in todo:
            if groups and sources[groups[-1][-1]] is sources[i] and groups[-1][-1] == i - 1:
                groups[-1].append(i)
            else:
                groups.append([i])
        for group in groups:
            image = loaded[group[0]]
            assert image is not None
            self.segment(np.asarray(image, dtype=np.uint8), [results[i] for i in group])


def segment_prompts(
    segmenter: Segmenter, image: np.ndarray | None, prompts: Sequence[tuple[Box | None, Sequence[Point]]]
) -> tuple[list[tuple[np.ndarray, float] | Exception], float, float]:
    """Masks for prompts on one image: ``set_image(image)`` (skipped when ``image`` is None: the
    segmenter already holds it), then ``predict_many`` (or ``predict`` per prompt).

    Box and points in the original frame. Returns one ``(mask, score)`` or exception per prompt (a
    failure is recorded per sample, never raised), and the seconds spent setting the image and
    predicting. A module-level function, so that a process pool can run it (GrabCut across cores).
    """
    start = time.perf_counter()
    if image is not None:
        try:
            segmenter.set_image(image)
        except Exception as exc:  # recorded per sample, never silent
            return [exc] * len(prompts), time.perf_counter() - start, 0.0
    set_seconds = time.perf_counter() - start
    start = time.perf_counter()
    outputs: list[tuple[np.ndarray, float] | Exception]
    try:
        predict_many = getattr(segmenter, "predict_many", None)
        if predict_many is not None:
            outputs = list(predict_many(list(prompts)))
        else:
            outputs = [segmenter.predict(box, pts) for box, pts in prompts]
    except Exception as exc:  # recorded per sample, never silent
        outputs = [exc] * len(prompts)
    return outputs, set_seconds, time.perf_counter() - start


def prompted(results: Sequence[Result]) -> list[Result]:
    """The results that need a mask: generated and parsed without error (an empty mask is set on all)."""
    for result in results:
        if result.image_size is not None and result.mask is None:
            width, height = result.image_size
            result.mask = np.zeros((height, width), dtype=bool)
    return [r for r in results if r.error is None]


def apply_masks(
    results: Sequence[Result],
    outputs: Sequence[tuple[np.ndarray, float] | Exception],
    set_seconds: float,
    predict_seconds: float,
    segmenter: Segmenter | None = None,
) -> None:
    """Store :func:`segment_prompts`' outputs in the prompted ``results`` (same order); each gets an
    equal share of the set-image and predict seconds as ``timings["segment"]``, and the segmenter's
    ``input_note`` for the image (e.g. GrabCut's scaled-down copy) in its ``problems``."""
    each = (set_seconds + predict_seconds) / max(len(results), 1)
    for result, out in zip(results, outputs, strict=True):
        result.timings["segment"] = each
        if isinstance(out, Exception):
            result.fail("segmenter", _error_text(out))
            continue
        assert result.image_size is not None
        width, height = result.image_size
        mask, score = out
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (height, width):
            result.fail("segmenter", f"returned a mask of shape {mask.shape}, expected {(height, width)}")
            continue
        result.mask = mask
        result.score = float(score)
        note = getattr(segmenter, "input_note", None)
        said = note(width, height) if note is not None else None
        if said:
            result.problems.append(said)


def segment_results(segmenter: Segmenter, image: np.ndarray | None, results: Sequence[Result]) -> None:
    """Masks for results on one image (``(H, W, 3)`` uint8, original frame; None: already set in the
    segmenter): an empty mask for every result, then one ``set_image`` and ``predict_many`` for the
    prompted ones."""
    todo = prompted(results)
    if todo:
        apply_masks(
            todo, *segment_prompts(segmenter, image, [(r.bbox, r.points) for r in todo]), segmenter=segmenter
        )


def finish_timings(result: Result) -> None:
    """Fill the missing :data:`STAGES` with 0 and set ``total``, the sum of the others (``queue``, the
    time the sample waited between stages, is reported apart and not counted in ``total``)."""
    for stage in STAGES[:-1]:
        result.timings.setdefault(stage, 0.0)
    result.timings["total"] = float(sum(result.timings[s] for s in STAGES[:-1]))
