"""Prediction loops over many samples: the streaming loop (``pixelthink predict``'s default) and the
sequential one it replaced (kept as the reference and the benchmark's baseline).

:func:`stream_predictions` (a :class:`StreamRunner`) keeps the reasoner busy and hides segmentation behind
it. It is built from the pipeline's stages (:mod:`pixelthink.pipeline.core`: prepare -> reason -> parse ->
segment -> finish), one method of the runner per thread, handing samples on through queues:

1. a *feeder* thread (:meth:`StreamRunner.feed`: the prepare stage) checks each query and loads its image
   (the last few images are kept by ``image_key``, so several queries on one image decode it once);
2. a *generation* thread (:meth:`StreamRunner.generate`: reason, then parse) keeps a bounded window of
   samples at the reasoner: ``generate_stream`` of the built-in backends (OpenAI-compatible servers:
   ``concurrency`` requests in flight, a new one sent as soon as a reply arrives; transformers: batches of
   similar prompt length cut from a read-ahead of ``concurrency`` samples); any other reasoner gets
   ``generate`` calls of ``batch_size``. Answers are parsed as they arrive;
3. a *segmentation* thread (:meth:`StreamRunner.segment`: segment, then finish) masks the parsed answers
   while the next ones are generated: answers on the same image go through one ``set_image`` and one
   ``predict_many`` (SAM-family models decode same-shaped prompts in one batch), and the segmenter's
   per-image state (a SAM-family embedding) is kept until the last query on that image is done, so each
   image is encoded once when its queries are near each other in the input (as benchmarks store them).
   Process-safe segmenters (GrabCut) run in a pool of ``seg_workers`` processes instead, one task per
   image; the workers end when this process dies, ``kill -9`` included (they are started from the caller's
   thread, all at once, so the kernel's parent-death signal, which follows the thread that started them,
   fires only when the process ends);
4. the caller's thread (:meth:`StreamRunner.run`) receives ``(key, Result)`` in completion order (not
   input order).

At most ``concurrency + backlog`` samples are between the feeder and the caller at any time, so memory
stays bounded when segmentation is the slower stage. Per-sample failures are results with ``error``
set, as in :meth:`Pipeline.run_many`; a failure of the reasoner itself (e.g. an unreachable server)
is raised in the caller's thread after the samples that completed before it were yielded.

Timings: each stage records its own seconds as :meth:`Pipeline.run_many` does (for batched local
generation, the sample's share of its batch); ``timings["queue"]`` is the time the sample waited
between stages (for a place at the reasoner, for its batch, for the segmenter), not counted in
``total``. For OpenAI servers ``decode`` (= ``request``) is the request's round trip, which includes
any queueing inside the server.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pixelthink.handoff import END, SEG_WORKERS_PER_CORE, Raised, max_seg_workers, receive, usable_cores
from pixelthink.pipeline.core import (
    ImageSource,
    Pipeline,
    Result,
    apply_masks,
    prompted,
    segment_prompts,
)

if TYPE_CHECKING:
    from PIL import Image

    from pixelthink.models.reasoners import Generation

__all__ = [
    "DEFAULT_CONCURRENCY",
    "StreamItem",
    "StreamRunner",
    "StreamStats",
    "seg_workers",
    "sequential_predictions",
    "stream_predictions",
    "usable_cores",
]

logger = logging.getLogger(__name__)

#: samples in flight at the reasoner by default: enough to keep a vLLM / SGLang server's batch full
DEFAULT_CONCURRENCY = 64

#: prctl option: the signal a process gets when its parent dies (linux/prctl.h)
_PR_SET_PDEATHSIG = 1

#: images kept decoded by the feeder (several queries on one image load it once)
_IMAGE_CACHE = 4


@dataclass(frozen=True)
class StreamItem:
    """One sample to predict.

    Attributes:
        key: returned with the sample's result (e.g. the sample id).
        image_key: names the image (e.g. its path in the benchmark); samples with the same key share one
            decoded image and one segmenter state.
        source: the image (original frame): a PIL image, a path, or a loader callable.
        query: the question.
    """

    key: Any
    image_key: Hashable
    source: ImageSource
    query: str


@dataclass
class StreamStats:
    """Counters of a streaming run (for logs and the benchmark)."""

    samples: int = 0
    generated: int = 0
    #: ``set_image`` calls made by the segmentation thread (pool workers not counted)
    images_set: int = 0
    #: segmentation tasks sent to the process pool
    pool_tasks: int = 0


@dataclass
class _Sample:
    item: StreamItem
    result: Result
    image: Image.Image | None = None
    ready: float = 0.0  # perf_counter when loaded (ready for the reasoner)
    pulled: float = 0.0  # ... when the reasoner took it
    generated: float = 0.0  # ... when its generation arrived
    extra_queue: float = field(default=0.0)


_POLL = 0.2  # seconds between checks of the stop flag while a stage waits


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    """``q.get()`` that gives ``END`` once ``stop`` is set."""
    while not stop.is_set():
        try:
            return q.get(timeout=_POLL)
        except queue.Empty:
            continue
    return END


def _exit_with_parent(parent: int) -> None:
    """Pool worker initializer: end this worker when the process that started it dies, ``kill -9``
    included (a worker blocked on its task pipe would otherwise live on). On Linux the kernel kills it
    (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); everywhere a daemon thread checks every second that the
    parent is still this worker's parent, and exits otherwise."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="pixelthink-parent-watch", daemon=True).start()


def _warm_up(segmenter: Any) -> None:
    """A pool worker's first task: unpickling the segmenter imports its module; GrabCut imports OpenCV
    only when it first segments, so import it now, before the first answers arrive."""
    from pixelthink.models.segmenters import GrabCutSegmenter

    if isinstance(segmenter, GrabCutSegmenter):
        import cv2  # noqa: F401


def seg_workers(requested: int | None, segmenter: object) -> int:
    """Segmentation processes for :func:`stream_predictions`: ``requested``, or one per usable core
    (:func:`~pixelthink.handoff.usable_cores`) for a process-safe segmenter (GrabCut); 0 (the
    segmentation thread) for the others."""
    if not getattr(segmenter, "process_safe", False):
        return 0
    return usable_cores() if requested is None else requested


class StreamRunner:
    """The streaming runner: one method per thread (:meth:`feed`, :meth:`generate`, :meth:`segment`), the
    caller's thread in :meth:`run`; each follows the pipeline's stage contract (prepare, reason + parse,
    segment + finish). One instance runs once. Arguments as :func:`stream_predictions`'."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        seg_workers: int = 0,
        backlog: int | None = None,
        state_cache: int = 16,
        stats: StreamStats | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if seg_workers < 0:
            raise ValueError(f"seg_workers must be >= 0, got {seg_workers}")
        if seg_workers > max_seg_workers() and getattr(pipeline.segmenter, "process_safe", False):
            raise ValueError(
                f"seg_workers: {seg_workers} segmentation processes for {usable_cores()} usable CPU cores; at "
                f"most {max_seg_workers()} ({SEG_WORKERS_PER_CORE} per core): each is a process with its own "
                "copy of the segmenter, and GrabCut gains nothing past one per core"
            )
        self.pipeline = pipeline
        self.segmenter = pipeline.segmenter
        self.concurrency = concurrency
        self.seg_workers = seg_workers
        self.state_cache = state_cache
        self.stats = stats if stats is not None else StreamStats()
        backlog = concurrency if backlog is None else max(int(backlog), 0)
        self._admit = threading.BoundedSemaphore(concurrency + backlog + 1)
        self._stop = threading.Event()
        self._to_reasoner: queue.Queue[Any] = queue.Queue()
        self._to_segmenter: queue.Queue[Any] = queue.Queue()
        self._out: queue.Queue[Any] = queue.Queue()
        # per image: samples admitted and not yet segmented (a segmenter state is dropped when it reaches
        # 0 and the feeder has moved on to another image)
        self._waiting: dict[Hashable, int] = {}
        self._lock = threading.Lock()
        self._feeder_at: Hashable = None
        self._pool: ProcessPoolExecutor | None = None
        self._pool_slots = threading.Semaphore(2 * max(seg_workers, 1))
        self._tasks: set[Future[Any]] = set()

    # ------------------------------------------------------------------ the caller's thread
    def run(self, items: Iterable[StreamItem]) -> Iterator[tuple[Any, Result]]:
        """Start the stages over ``items``; yield ``(item.key, Result)`` as each sample completes."""
        if self.seg_workers > 0 and getattr(self.segmenter, "process_safe", False):
            self._start_pool()
        threads = [
            threading.Thread(target=self.feed, args=(items,), name="pixelthink-feeder", daemon=True),
            threading.Thread(target=self.generate, name="pixelthink-generation", daemon=True),
            threading.Thread(target=self.segment, name="pixelthink-segmentation", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            for sample in receive(self._out):
                self._admit.release()
                yield sample.item.key, sample.result
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=10)
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def _start_pool(self) -> None:
        # spawn: worker processes must not inherit this process's threads (torch, httpx) mid-flight
        self._pool = ProcessPoolExecutor(
            max_workers=self.seg_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,  # no worker outlives this process (kill -9 included)
            initargs=(os.getpid(),),
        )
        for _ in range(self.seg_workers):  # start the workers (imports) while the reasoner works
            self._pool.submit(_warm_up, self.segmenter)

    # ------------------------------------------------------------------ thread 1: prepare
    def feed(self, items: Iterable[StreamItem]) -> None:
        """The feeder thread: admit samples (at most ``concurrency + backlog`` in flight), prepare each
        (query check, image load; the last few images kept by ``image_key``) and hand it to the reasoner."""
        images: OrderedDict[Hashable, Image.Image] = OrderedDict()
        try:
            for item in items:
                while not self._admit.acquire(timeout=_POLL):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                self.stats.samples += 1
                sample = _Sample(item, Result(query=item.query))
                cached = images.get(item.image_key)
                sample.image = self.pipeline.prepare(
                    cached if cached is not None else item.source, sample.result
                )
                if sample.image is None:  # query over the limit, unreadable image: done already
                    self.pipeline.finish(sample.result)
                    self._out.put(sample)
                    continue
                if cached is None:
                    images[item.image_key] = sample.image
                    while len(images) > _IMAGE_CACHE:
                        images.popitem(last=False)
                else:
                    images.move_to_end(item.image_key)
                with self._lock:
                    self._waiting[item.image_key] = self._waiting.get(item.image_key, 0) + 1
                    self._feeder_at = item.image_key
                sample.ready = time.perf_counter()
                self._to_reasoner.put(sample)
        except BaseException as exc:  # e.g. a benchmark file that fails mid-way: stops the run
            self._out.put(Raised(exc))
        finally:
            with self._lock:
                self._feeder_at = None
            self._to_reasoner.put(END)

    # ------------------------------------------------------------------ thread 2: reason + parse
    def generate(self) -> None:
        """The generation thread: keep ``concurrency`` samples at the reasoner
        (:meth:`Pipeline.reason_stream`), parse each generation as it arrives, hand it to the segmenter."""
        taken: dict[int, _Sample] = {}
        stream: Iterator[tuple[int, Generation]] | None = None
        try:
            stream = self.pipeline.reason_stream(self._requests(taken), window=self.concurrency)
            for index, gen in stream:
                if self._stop.is_set():  # the caller stopped: closing the stream cancels what is in flight
                    break
                sample = taken.pop(index)
                sample.generated = time.perf_counter()
                sample.extra_queue = sample.pulled - sample.ready
                self.pipeline.parse(sample.result, gen)
                self.stats.generated += 1
                self._to_segmenter.put(sample)
        except BaseException as exc:  # the reasoner failed: what was generated is still segmented
            self._stop.set()
            self._to_segmenter.put(Raised(exc))
        finally:
            if stream is not None and hasattr(stream, "close"):
                stream.close()
            self._to_segmenter.put(END)

    def _requests(self, taken: dict[int, _Sample]) -> Iterator[tuple[int, Image.Image, str]]:
        """The prepared samples as ``(index, image, query)`` requests, each remembered in ``taken``."""
        for index in itertools.count():
            sample = _get(self._to_reasoner, self._stop)
            if sample is END:
                return
            sample.pulled = time.perf_counter()
            taken[index] = sample
            yield index, sample.image, sample.item.query

    # ------------------------------------------------------------------ thread 3: segment + finish
    def segment(self) -> None:
        """The segmentation thread: mask what has been parsed, one group per image (one ``set_image``,
        one ``predict_many``; SAM-family states kept per image), or hand the group to the process pool."""
        states: OrderedDict[Hashable, Any] = OrderedDict()
        failure: Raised | None = None
        try:
            finished = False
            while not finished:
                groups, finished, raised = self._next_groups()
                failure = raised or failure
                for image_key, group in groups.items():
                    todo = prompted([s.result for s in group])
                    if todo and self._pool is not None:
                        self._submit(group, todo)
                        continue
                    start = time.perf_counter()
                    if todo:
                        self._segment_here(image_key, group, todo, states)
                    self._emit(group, [start - s.generated for s in group])
                    self._release(image_key, len(group), states)
        except BaseException as exc:
            failure = Raised(exc)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=failure is None, cancel_futures=failure is not None)
            if failure is not None:
                self._out.put(failure)
            self._out.put(END)

    def _next_groups(self) -> tuple[OrderedDict[Hashable, list[_Sample]], bool, Raised | None]:
        """What the generation thread has handed on (waits for one): the samples grouped by image, whether
        the end came, and the reasoner's failure if it came."""
        batch = [self._to_segmenter.get()]
        while True:
            try:
                batch.append(self._to_segmenter.get_nowait())
            except queue.Empty:
                break
        groups: OrderedDict[Hashable, list[_Sample]] = OrderedDict()
        finished, failure = False, None
        for sample in batch:
            if sample is END:
                finished = True
            elif isinstance(sample, Raised):
                failure = sample
            else:
                groups.setdefault(sample.item.image_key, []).append(sample)
        return groups, finished, failure

    def _segment_here(
        self,
        image_key: Hashable,
        group: list[_Sample],
        todo: list[Result],
        states: OrderedDict[Hashable, Any],
    ) -> None:
        """Segment one image's prompted results in this thread, restoring (or keeping) its segmenter state."""
        segmenter = self.segmenter
        can_keep = hasattr(segmenter, "image_state") and hasattr(segmenter, "restore_image_state")
        state = states.get(image_key) if can_keep else None
        image = None
        if state is not None:
            segmenter.restore_image_state(state)  # type: ignore[attr-defined]
            states.move_to_end(image_key)
        else:
            image = np.asarray(group[0].image, dtype=np.uint8)
            self.stats.images_set += 1
        outputs, set_s, predict_s = segment_prompts(segmenter, image, [(r.bbox, r.points) for r in todo])
        if image is not None and can_keep and not all(isinstance(o, Exception) for o in outputs):
            states[image_key] = segmenter.image_state()  # type: ignore[attr-defined]
        apply_masks(todo, outputs, set_s, predict_s, segmenter)

    def _submit(self, group: list[_Sample], todo: list[Result]) -> None:
        """Send one image's prompted results to the process pool; the callback finishes them."""
        assert self._pool is not None
        image = np.asarray(group[0].image, dtype=np.uint8)
        prompts = [(r.bbox, r.points) for r in todo]
        while not self._pool_slots.acquire(timeout=_POLL):
            if self._stop.is_set() and not self._tasks:
                return
        self.stats.pool_tasks += 1
        future = self._pool.submit(segment_prompts, self.segmenter, image, prompts)
        self._tasks.add(future)
        future.add_done_callback(lambda f: self._pool_done(f, group, todo))

    def _pool_done(self, future: Future[Any], group: list[_Sample], todo: list[Result]) -> None:
        finished = time.perf_counter()
        try:
            outputs, set_s, predict_s = future.result()
        except BaseException as exc:  # the pool broke (a worker died): stop the run
            self._out.put(Raised(exc))
        else:
            apply_masks(todo, outputs, set_s, predict_s, self.segmenter)
            self._emit(group, [finished - s.generated - set_s - predict_s for s in group])
        finally:
            self._pool_slots.release()
            self._tasks.discard(future)
            image_key = group[0].item.image_key
            with self._lock:
                self._waiting[image_key] -= len(group)
                if self._waiting[image_key] <= 0:
                    del self._waiting[image_key]

    def _emit(self, samples: list[_Sample], queued: list[float]) -> None:
        """Finish the samples' timings (``queue``: the waits between stages) and hand them to the caller."""
        for sample, wait in zip(samples, queued, strict=True):
            timings = sample.result.timings
            timings["queue"] = timings.get("queue", 0.0) + sample.extra_queue + max(wait, 0.0)
            self.pipeline.finish(sample.result)
            self._out.put(sample)

    def _release(self, image_key: Hashable, count: int, states: OrderedDict[Hashable, Any]) -> None:
        """``count`` samples of an image are done: drop its segmenter state once none is left (and the
        feeder has moved on), and keep at most ``state_cache`` states."""
        with self._lock:
            left = self._waiting[image_key] = self._waiting[image_key] - count
            if left <= 0:
                del self._waiting[image_key]
                if self._feeder_at != image_key:
                    states.pop(image_key, None)
        while len(states) > self.state_cache:
            states.popitem(last=False)


def stream_predictions(
    pipeline: Pipeline,
    items: Iterable[StreamItem],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    seg_workers: int = 0,
    backlog: int | None = None,
    state_cache: int = 16,
    stats: StreamStats | None = None,
) -> Iterator[tuple[Any, Result]]:
    """Run ``pipeline`` over ``items``, yielding ``(item.key, Result)`` as each sample completes
    (a :class:`StreamRunner`).

    Args:
        pipeline: the reasoner + segmenter (its ``max_query_chars`` / ``max_pixels`` apply).
        items: the samples, read lazily; put the queries on one image next to each other so that they
            share its load and its segmenter state.
        concurrency: samples at the reasoner at once (OpenAI-compatible server: requests in flight;
            transformers: the read-ahead that batches are cut from by prompt length).
        seg_workers: processes segmenting in parallel when the segmenter is process-safe (GrabCut);
            0 = segment in the segmentation thread. Other segmenters (the SAM family) always use the thread.
            :func:`seg_workers` gives the default ``pixelthink predict`` uses.
        backlog: generated samples allowed to wait for segmentation (default ``concurrency``).
        state_cache: most per-image segmenter states (SAM-family embeddings) kept at once.
        stats: filled with counters while the run goes on.

    Results are the same as :meth:`Pipeline.run_many`'s on the same samples (greedy decoding); only
    their order and their timings differ. Closing the iterator early stops the stages (requests in
    flight are cancelled).
    """
    runner = StreamRunner(
        pipeline,
        concurrency=concurrency,
        seg_workers=seg_workers,
        backlog=backlog,
        state_cache=state_cache,
        stats=stats,
    )
    return runner.run(items)


def sequential_predictions(
    pipeline: Pipeline, items: Iterable[StreamItem], *, batch_size: int = 8
) -> Iterator[tuple[Any, Result]]:
    """The loop ``pixelthink predict`` ran before the streaming one (``--loop sequential``): batches of
    ``batch_size`` in input order, each generated, then segmented, then yielded, before the next starts.

    Within a batch, samples with the same ``image_key`` share one image source, so consecutive ones share
    the segmenter's ``set_image``. Results in input order.
    """
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, batch_size)):
        sources: dict[Hashable, ImageSource] = {}
        shared = [sources.setdefault(item.image_key, item.source) for item in batch]
        results = pipeline.run_many(shared, [item.query for item in batch])
        yield from zip((item.key for item in batch), results, strict=True)
