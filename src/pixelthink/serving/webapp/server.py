"""The FastAPI application of ``pixelthink app``: the page, the segmentation API and the run browser.

Endpoints (OpenAPI schema at ``/openapi.json``, interactive docs at ``/docs``; docs/APP.md):

* ``GET /`` the page; ``GET /health``; ``GET /v1/models`` the models, the segmenter (its SAM family) and the
  segmenters ``--segmenter`` accepts, and the limits.
* ``POST /v1/segment``: an image (multipart ``image`` file, or JSON ``image`` as base64 / data URL, or
  ``example`` naming an embedded example) and a ``query`` -> :class:`SegmentResponse`. A model answer
  that cannot be used is HTTP 200 with ``ok: false`` and ``error`` saying why, never a 500.
* ``POST /v1/segment/stream``: the same request; the answer is a stream of server-sent events:
  ``token`` (``{"text"}``, a new piece of the reasoning as it is generated), then ``result`` (the
  :class:`SegmentResponse`) or ``error`` (an OpenAI-style error body).
* ``GET /v1/examples``, ``GET /v1/examples/{name}.png``: the embedded example images.
* ``GET /v1/run``, ``GET /v1/run/samples``, ``GET /v1/run/image``: the run browser (when the app was
  started with ``--run-data`` / ``--run-predictions``).

Every request goes through :mod:`pixelthink.serving.httpsafety` (token, body size, pixel limit, bounded queue,
JSON errors). The pipeline runs on one worker thread, in arrival order: non-streaming requests waiting
for the same model are batched (``Pipeline.run_many``, up to ``batch_size``); a streamed one runs alone.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import io
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from pixelthink.answer import (
    DEFAULT_MAX_QUERY_CHARS,  # longest query accepted; longer ones get 400
    check_query,
)
from pixelthink.masks import encode_rle
from pixelthink.serving.httpsafety import (
    DEFAULT_APP_MAX_QUEUE,
    Gate,
    HTTPError,
    ServerLimits,
    decode_base64_image,
    decode_upload,
    error_body,
    install,
    internal_error,
    read_json,
)
from pixelthink.serving.webapp.examples import Example
from pixelthink.serving.webapp.runs import FAILED_CHOICES, RunBrowser, RunFilter
from pixelthink.viz import mask_image, overlay

__all__ = ["DEFAULT_MAX_QUERY_CHARS", "ModelSlot", "SegmentRequest", "SegmentResponse", "create_app"]

logger = logging.getLogger(__name__)


@dataclass
class ModelSlot:
    """One model of the app: its key (``a`` / ``b``), what to call it, and its pipeline.

    ``embedded``: the model is the tiny one shipped in the package (a miniature for the shapes world): the
    page then says so and points to how to run a real checkpoint."""

    key: str
    name: str
    spec: str
    pipeline: Any  # pixelthink.pipeline.Pipeline
    backend: str = "transformers"
    embedded: bool = False


# ------------------------------------------------------------------------------------------- schema
class SegmentRequest(BaseModel):
    """JSON body of ``POST /v1/segment`` (multipart forms take the same fields, ``image`` as a file)."""

    query: str = Field(description="what to segment: a phrase or a question")
    image: str | None = Field(
        None,
        description="the image bytes, base64 or a data:image/...;base64 URL (URLs and paths are refused)",
    )
    example: str | None = Field(None, description="name of an embedded example instead of an image")
    model: str = Field("a", description="which model: 'a' (--reasoner) or 'b' (--reasoner-b)")
    mask_png: bool = Field(False, description="also return the mask as a base64 PNG (255 = target)")
    overlay_png: bool = Field(
        False, description="also return base64 PNG pictures: overlay (with mask) and overlay_plain (without)"
    )


class Tokens(BaseModel):
    reasoning: int | None = Field(description="generated tokens inside <think>")
    answer: int | None = Field(description="the other generated tokens")


class SegmentResponse(BaseModel):
    """Answer of ``POST /v1/segment``. Coordinates are pixels of the image as sent (original frame)."""

    ok: bool = Field(description="false when the sample failed; `error` says why")
    error: str | None = Field(description="why the sample failed (e.g. an answer without a usable box)")
    model: str = Field(description="the model key, 'a' or 'b'")
    model_name: str
    query: str
    response: str | None = Field(description="the model's raw text (model-frame coordinates)")
    think: str | None = Field(description="the reasoning: the text inside <think>...</think>")
    bbox: list[float] | None = Field(description="XYXY box of the answer, original pixels")
    points: list[list[float]] = Field(description="(x, y) points of the answer, original pixels")
    problems: list[str] = Field(description="what the lenient parser repaired or found wrong")
    mask: dict[str, Any] | None = Field(description="COCO RLE {size: [h, w], counts: str}")
    mask_pixels: int | None
    score: float | None = Field(description="the segmenter's confidence, if it gives one")
    uncertainty: float | None = Field(description="U: mean top-2 margin uncertainty of the tokens")
    tokens: Tokens
    difficulty: float | None = Field(description="difficulty 1..10 where known (embedded examples)")
    timings: dict[str, float] = Field(description="seconds per pipeline stage, 'total' their sum")
    server: dict[str, float] = Field(
        description="seconds: queue (waiting for the model), decode, total; batch: requests answered together"
    )
    image_size: list[int] | None = Field(description="[width, height]")
    model_size: list[int] | None = Field(description="[width, height] of the model frame")
    mask_png: str | None = None
    overlay_png: str | None = None
    overlay_plain_png: str | None = None


_MULTIPART = {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/SegmentRequest"}}}
_REQUEST_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SegmentRequest"}}}
        | _MULTIPART,
    }
}


def _settle(future: asyncio.Future, answer: Any) -> None:
    if future.done():
        return
    if isinstance(answer, BaseException):
        future.set_exception(answer)
    else:
        future.set_result(answer)


@dataclass
class _Input:
    image: Any
    query: str
    slot: ModelSlot
    difficulty: float | None
    mask_png: bool
    overlay_png: bool
    decode_s: float


@dataclass
class _Job:
    input: _Input
    on_text: Callable[[str], None] | None
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    queued_at: float


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
        "",
    ):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise HTTPError(400, f"{name}: expected true or false", param=name)


def _png_b64(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class _Service:
    """The app's state and the worker side: request parsing, the queue of jobs and the one worker thread
    that runs them (batched per model), behind the :class:`~pixelthink.serving.httpsafety.Gate`."""

    def __init__(
        self,
        models: list[ModelSlot],
        *,
        limits: ServerLimits,
        examples: list[Example] | None,
        run: RunBrowser | None,
        max_query_chars: int | None,
        batch_size: int,
    ) -> None:
        self.models = models
        self.limits = limits
        self.examples = examples or []
        self.run = run
        self.max_query_chars = max_query_chars
        self.batch_size = batch_size
        self.slots = {m.key: m for m in models}
        self.by_name = {e.name: e for e in self.examples}
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixelthink-app")
        self.pending: collections.deque[_Job] = collections.deque()
        self.pending_lock = threading.Lock()
        self.gate = Gate(limits.max_queue, workers=1)

    # ------------------------------------------------------------------------------ request parsing
    async def read_fields(self, request: Request) -> tuple[dict[str, Any], bytes | None]:
        """The request's fields and its uploaded image file (multipart), or its JSON object."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        upload: bytes | None = None
        if kind != "multipart/form-data":
            fields = await read_json(request)
            if not isinstance(fields, dict):
                raise HTTPError(400, "request body must be a JSON object (see /docs)")
            return fields, upload
        form = await request.form(max_files=1, max_fields=16, max_part_size=256 * 1024)
        fields = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            elif key == "image":
                upload = await value.read()
            else:
                raise HTTPError(400, f"unexpected file field {key!r} (send the image as 'image')", param=key)
        return fields, upload

    def checked_query(self, fields: dict[str, Any]) -> str:
        query = fields.get("query")
        if not isinstance(query, str) or not query.strip():
            raise HTTPError(400, "query: expected a non-empty string", param="query")
        if self.max_query_chars is not None and len(query) > self.max_query_chars:
            raise HTTPError(
                400, f"query: {len(query)} characters, the limit is {self.max_query_chars}", param="query"
            )
        try:
            check_query(query, None)
        except ValueError as exc:
            raise HTTPError(400, str(exc), param="query") from None
        return query

    def image_bytes(self, fields: dict[str, Any], upload: bytes | None) -> tuple[bytes, float | None]:
        """The image's encoded bytes (the upload, base64 ``image`` or an ``example``) and its difficulty
        where known (embedded examples)."""
        difficulty = None
        sources = [
            upload is not None,
            fields.get("image") not in (None, ""),
            fields.get("example") not in (None, ""),
        ]
        if sum(sources) != 1:
            raise HTTPError(400, "send exactly one of 'image' (file or base64) and 'example'", param="image")
        if upload is None and fields.get("example"):
            example = self.by_name.get(str(fields["example"]))
            if example is None:
                raise HTTPError(
                    400,
                    f"example: expected one of {sorted(self.by_name)}, got {fields['example']!r}",
                    param="example",
                )
            upload, difficulty = example.png, example.difficulty
        elif upload is None:
            upload = decode_base64_image(fields.get("image"), param="image")
        if not upload:
            raise HTTPError(400, "image: the file is empty", param="image")
        return upload, difficulty

    async def parse_input(self, request: Request) -> _Input:
        fields, upload = await self.read_fields(request)
        query = self.checked_query(fields)
        key = fields.get("model", "a") or "a"
        if not isinstance(key, str) or key not in self.slots:
            raise HTTPError(400, f"model: expected one of {sorted(self.slots)}, got {key!r}", param="model")
        upload, difficulty = self.image_bytes(fields, upload)
        start = time.perf_counter()
        image = await decode_upload(upload, max_pixels=self.limits.max_pixels, param="image")
        return _Input(
            image=image,
            query=query,
            slot=self.slots[key],
            difficulty=difficulty,
            mask_png=_flag(fields.get("mask_png", False), "mask_png"),
            overlay_png=_flag(fields.get("overlay_png", False), "overlay_png"),
            decode_s=time.perf_counter() - start,
        )

    # ------------------------------------------------------------------------------------- running
    def run_next(self) -> None:
        """On the worker thread: the oldest waiting job, batched with the waiting non-streaming jobs
        of the same model (up to ``batch_size``; streaming jobs run alone)."""
        with self.pending_lock:
            if not self.pending:
                return
            batch = [self.pending.popleft()]
            if batch[0].on_text is None:
                for job in list(self.pending):
                    if len(batch) >= self.batch_size:
                        break
                    if job.on_text is None and job.input.slot is batch[0].input.slot:
                        self.pending.remove(job)
                        batch.append(job)
        started = time.perf_counter()
        answers = self.answer_all(batch, started, len(batch))
        service = (time.perf_counter() - started) / len(batch)  # the model's time per request
        batch[0].loop.call_soon_threadsafe(self.gate.observe, service)
        for job, answer in zip(batch, answers, strict=True):
            job.loop.call_soon_threadsafe(_settle, job.future, answer)

    def answer_all(self, batch: list[_Job], started: float, size: int) -> list[Any]:
        """On the worker thread: the payloads of a batch, or per job the exception of the model; when
        the batch fails, each job is run alone, so that only a job that fails alone gets the error."""
        pipeline = batch[0].input.slot.pipeline
        try:
            if batch[0].on_text is not None:
                results = [pipeline.run(batch[0].input.image, batch[0].input.query, on_text=batch[0].on_text)]
            else:
                results = pipeline.run_many([j.input.image for j in batch], [j.input.query for j in batch])
            return [_payload_of(j, r, started, size) for j, r in zip(batch, results, strict=True)]
        except Exception as exc:  # the model itself failed
            if len(batch) == 1:
                return [exc]
            logger.warning(
                "segmentation failed for a batch of %d (%s: %s); running each request alone",
                len(batch),
                type(exc).__name__,
                exc,
            )
        return [answer for job in batch for answer in self.answer_all([job], started, 1)]

    async def admitted(self, request: Request) -> tuple[_Input, float]:
        """Admit (429 when full), parse and decode; the caller must ``gate.leave(started)`` once."""
        started = self.gate.enter()
        try:
            return await self.parse_input(request), started
        except BaseException:
            self.gate.leave(started)
            raise

    def submit(self, job: _Input, started: float, on_text: Callable[[str], None] | None) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        with self.pending_lock:
            self.pending.append(_Job(job, on_text, future, loop, time.perf_counter()))
        self.worker.submit(self.run_next)  # one call per job: every job is taken by some call
        # the request stays admitted until the model is done with it, even if its client went away
        future.add_done_callback(lambda _f: self.gate.leave(started))
        return future


async def _finished(future: asyncio.Future) -> dict[str, Any]:
    try:
        return await asyncio.shield(future)
    except Exception as exc:  # the reasoner itself failed (e.g. its server is down): not the client's
        raise internal_error(502, "the model failed", exc) from None


def _payload_of(job: _Job, result: Any, started: float, batch: int) -> dict[str, Any]:
    """The JSON answer of one finished job (pictures drawn here, on the worker thread)."""
    out = result.to_json()
    payload: dict[str, Any] = {
        "ok": result.error is None,
        "error": result.error,
        "model": job.input.slot.key,
        "model_name": job.input.slot.name,
        "query": job.input.query,
        "response": out["response"],
        "think": out["think"],
        "bbox": out["bbox"],
        "points": out["points"],
        "problems": out["problems"],
        "mask": None if result.mask is None else encode_rle(result.mask),
        "mask_pixels": out["mask_pixels"],
        "score": out["score"],
        "uncertainty": out["uncertainty"],
        "tokens": {"reasoning": out["reasoning_tokens"], "answer": out["answer_tokens"]},
        "difficulty": job.input.difficulty,
        "timings": out["timings"],
        "image_size": out["image_size"],
        "model_size": out["model_size"],
    }
    image = job.input.image
    if job.input.mask_png and result.mask is not None:
        payload["mask_png"] = _png_b64(mask_image(result.mask))
    if job.input.overlay_png:
        payload["overlay_png"] = _png_b64(overlay(image, result.mask, result.bbox, result.points))
        payload["overlay_plain_png"] = _png_b64(overlay(image, None, result.bbox, result.points))
    payload["server"] = {
        "queue": started - job.queued_at,
        "decode": job.input.decode_s,
        "total": time.perf_counter() - job.queued_at + job.input.decode_s,
        "batch": batch,
    }
    return payload


# ---------------------------------------------------------------------------------------- endpoints
def _info_routes(service: _Service, segmenter: str) -> APIRouter:
    """``/`` (the page), ``/health`` and ``/v1/models``."""
    from pixelthink.models.registry import list_segmenters

    models, limits = service.models, service.limits
    # what --segmenter accepts (backends and SAM families), and the family of the one loaded
    segmenters = [r for r in list_segmenters() if r["kind"] != "checkpoint"]
    loaded_family = getattr(getattr(models[0].pipeline, "segmenter", None), "family", None)
    segmenter_family = getattr(loaded_family, "title", None)
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        html = resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @router.get("/health")
    async def health() -> dict[str, Any]:
        gate = service.gate
        return {
            "status": "ok",
            "queued": gate.inside,
            "waiting": len(service.pending),
            "queue_limit": gate.capacity,
        }

    @router.get("/v1/models")
    async def model_info() -> dict[str, Any]:
        return {
            "models": [
                {
                    "id": m.key,
                    "name": m.name,
                    "backend": m.backend,
                    "resolution": m.pipeline.resolution,
                    "embedded": m.embedded,
                }
                for m in models
            ],
            "segmenter": segmenter,
            "segmenter_family": segmenter_family,
            "segmenters": segmenters,
            "limits": {
                "max_body_bytes": limits.max_body_bytes,
                "max_pixels": limits.max_pixels,
                "max_queue": limits.max_queue,
                "max_query_chars": service.max_query_chars,
                # GrabCut: larger images are segmented scaled down to this, the mask scaled back up
                "segmenter_max_pixels": getattr(models[0].pipeline.segmenter, "max_pixels", None),
            },
            "token_required": limits.api_key is not None,
            "run_browser": service.run is not None,
        }

    return router


def _segment_routes(service: _Service) -> APIRouter:
    """``POST /v1/segment`` and ``POST /v1/segment/stream`` (server-sent events)."""
    router = APIRouter()

    @router.post("/v1/segment", response_model=SegmentResponse, openapi_extra=_REQUEST_DOC)
    async def segment(request: Request) -> dict[str, Any]:
        job, started = await service.admitted(request)
        return await _finished(service.submit(job, started, None))

    @router.post("/v1/segment/stream", openapi_extra=_REQUEST_DOC, response_class=StreamingResponse)
    async def segment_stream(request: Request) -> StreamingResponse:
        job, started = await service.admitted(request)
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str] = asyncio.Queue()

        def on_text(text: str) -> None:  # on the worker thread
            loop.call_soon_threadsafe(pieces.put_nowait, text)

        future = service.submit(job, started, on_text)
        return StreamingResponse(
            _events(job, future, pieces, service.gate),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


async def _events(
    job: _Input, future: asyncio.Future, pieces: asyncio.Queue[str], gate: Gate
) -> AsyncIterator[bytes]:
    """The server-sent events of a streamed request: ``start``, ``token`` pieces as they are generated,
    then ``result`` or ``error``."""
    yield _sse("start", {"model": job.slot.key, "queued": gate.inside})
    while True:
        getter = asyncio.ensure_future(pieces.get())
        await asyncio.wait({getter, future}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            yield _sse("token", {"text": getter.result()})
            continue
        getter.cancel()
        while not pieces.empty():
            yield _sse("token", {"text": pieces.get_nowait()})
        try:
            yield _sse("result", await _finished(future))
        except HTTPError as exc:
            yield _sse("error", error_body(exc.status, exc.message, code=exc.code))
        return


def _example_routes(service: _Service) -> APIRouter:
    """``GET /v1/examples`` and ``GET /v1/examples/{name}.png``."""
    router = APIRouter()

    @router.get("/v1/examples")
    async def example_list() -> dict[str, Any]:
        return {
            "examples": [
                {
                    "name": e.name,
                    "query": e.query,
                    "difficulty": e.difficulty,
                    "width": e.width,
                    "height": e.height,
                }
                for e in service.examples
            ]
        }

    @router.get("/v1/examples/{name}.png", response_class=Response)
    async def example_image(name: str) -> Response:
        example = service.by_name.get(name)
        if example is None:
            raise HTTPError(404, f"no example {name!r}; GET /v1/examples lists them")
        return Response(example.png, media_type="image/png")

    return router


def _run_routes(service: _Service) -> APIRouter:
    """The run browser: ``GET /v1/run``, ``/v1/run/samples`` and ``/v1/run/image`` (404 without a run)."""
    router = APIRouter()

    def need_run() -> RunBrowser:
        if service.run is None:
            raise HTTPError(404, "no run loaded: start the app with --run-data and --run-predictions")
        return service.run

    @router.get("/v1/run")
    async def run_summary() -> dict[str, Any]:
        return need_run().summary()

    @router.get("/v1/run/samples")
    async def run_samples(
        bucket: Literal["all", "easy", "medium", "hard", "unrated"] = "all",
        iou_min: float = Query(0.0, ge=0.0, le=1.0),
        iou_max: float = Query(1.0, ge=0.0, le=1.0),
        failed: Literal[FAILED_CHOICES] = "any",  # type: ignore[valid-type]
        offset: int = Query(0, ge=0),
        limit: int = Query(24, ge=1, le=200),
    ) -> dict[str, Any]:
        browser = need_run()
        if iou_min > iou_max:
            raise HTTPError(400, f"iou_min {iou_min} > iou_max {iou_max}", param="iou_min")
        rule = RunFilter(None if bucket == "all" else bucket, iou_min, iou_max, failed)
        total, items = browser.select(rule, offset, limit)
        return {"total": total, "offset": offset, "items": items}

    @router.get("/v1/run/image", response_class=Response)
    async def run_image(id: str = Query(..., max_length=1000)) -> Response:
        browser = need_run()
        if id not in browser.by_id:
            raise HTTPError(404, f"no sample {id!r} in the run", param="id")
        try:
            data = await asyncio.get_running_loop().run_in_executor(service.worker, browser.picture, id)
        except (OSError, ValueError) as exc:
            raise internal_error(500, f"cannot draw sample {id!r}", exc) from None
        return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    return router


def create_app(
    models: list[ModelSlot],
    *,
    segmenter: str,
    limits: ServerLimits | None = None,
    examples: list[Example] | None = None,
    run: RunBrowser | None = None,
    max_query_chars: int | None = DEFAULT_MAX_QUERY_CHARS,
    batch_size: int = 8,
) -> FastAPI:
    """The app serving ``models`` (one or two :class:`ModelSlot`, keys ``a`` and ``b``).

    Args:
        models: the models, in the order the page shows them.
        segmenter: the segmenter spec (shown by ``/v1/models``, with its SAM family if it is one and the
            segmenters ``--segmenter`` accepts).
        limits: body size, pixel limit, queue bound and token (the page's and the API's).
        examples: embedded example images (:func:`pixelthink.serving.webapp.examples.make_examples`).
        run: the run browser's run, or None.
        max_query_chars: longest query accepted (None: no limit).
        batch_size: most waiting ``/v1/segment`` requests of one model run as one batch
            (``Pipeline.run_many``); streamed requests run alone.
    """
    if not models:
        raise ValueError("the app needs at least one model")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    limits = limits or ServerLimits(max_queue=DEFAULT_APP_MAX_QUEUE, query_token=True)
    service = _Service(
        models,
        limits=limits,
        examples=examples,
        run=run,
        max_query_chars=max_query_chars,
        batch_size=batch_size,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.worker.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="pixelthink app",
        summary="Reasoning segmentation: image + query -> reasoning, box, points, mask",
        lifespan=lifespan,
        docs_url=None,  # the offline /docs page of httpsafety.install (FastAPI's loads a CDN)
        redoc_url=None,
    )
    install(app, limits)
    for router in (
        _info_routes(service, segmenter),
        _segment_routes(service),
        _example_routes(service),
        _run_routes(service),
    ):
        app.include_router(router)
    return app
