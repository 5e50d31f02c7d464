"""Reasoner interface: image + query -> ``<think>...</think><answer>...</answer>`` text, token counts, U.

Two backends implement :class:`Reasoner`:

* :class:`pixelthink.models.reasoner_hf.TransformersReasoner`: a local checkpoint directory run with
  transformers (batched, left-padded generation; greedy by default).
* :class:`pixelthink.models.reasoner_openai.OpenAIReasoner`: any OpenAI-compatible chat-completions
  server (vLLM, SGLang, or ``pixelthink serve``), many requests in flight.

:func:`pixelthink.models.registry.load_reasoner` picks one from a spec string. This module does not import torch.

Conventions shared by both backends:

* The image is resized to the *model frame* with :meth:`FrameTransform.image_to_model` before it is
  sent; ``Generation.frame`` maps the model's coordinates back to the original image.
* ``Generation.text`` is decoded with special tokens skipped.
* ``reasoning_tokens`` counts the generated tokens that :func:`uncertainty.reasoning_token_mask`
  marks as inside ``<think>``; ``answer_tokens`` the other generated tokens. The end-of-sequence
  token is not counted in either.
* ``generate(images, queries, on_text=callback)`` streams: ``callback(i, text)`` receives each new
  piece of the response of input ``i`` as it is generated (local backend: transformers' streamer
  interface, one sample at a time; OpenAI backend: ``stream=true``). The returned generations are the
  same as without streaming.
* ``uncertainty`` is U = mean over the generated tokens (the end-of-sequence token included, padding
  excluded) of ``clamp(1 - (p1 - p2), 0, 1)``, p1 and p2 the two largest next-token probabilities.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pixelthink.frames import DEFAULT_RESOLUTION, FrameTransform

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "TRAINED_RECIPE_FILE",
    "FramedReasoner",
    "Generation",
    "Reasoner",
    "StreamingReasoner",
    "TextCallback",
    "checkpoint_defaults",
    "count_reasoning_tokens",
    "parse_openai_spec",
    "resolve_resolution",
]


@dataclass
class Generation:
    """One generated response.

    Attributes:
        text: raw decoded response (special tokens skipped); coordinates in it are in the *model* frame.
        reasoning_tokens: generated tokens inside ``<think>...</think>``.
        answer_tokens: the other generated tokens (end-of-sequence token excluded).
        uncertainty: U in [0, 1] from the top-2 margins of the generated tokens; None when the backend
            returned no per-token probabilities.
        frame: original <-> model frame transform of this sample's image.
        timings: seconds per stage for this sample: ``preprocess`` (image resize + processor),
            ``prefill`` (vision encoder + prompt forward up to the first generated token), ``decode``
            (the remaining tokens); for batched backends, the batch's times divided by the batch size
            (``batch_size`` records it), so that sums over samples equal wall time. The OpenAI backend
            reports ``request`` (round trip) as ``decode`` and ``prefill`` = 0.
        token_ids: generated token ids up to and including the end-of-sequence token (local backend
            only; empty for the OpenAI backend).
        tokens: generated token texts, one per entry of the per-token statistics (same length as the
            tokens U averages over).
        error: why this sample has no usable generation (e.g. a malformed server reply), or None. A
            backend reports per-sample failures here and raises only for failures of the whole backend
            (unreachable server, persistent HTTP 5xx); :class:`~pixelthink.pipeline.Pipeline` records
            the sample as failed (``"reasoner: ..."``) and goes on.
    """

    text: str
    reasoning_tokens: int
    answer_tokens: int
    uncertainty: float | None
    frame: FrameTransform
    timings: dict[str, float]
    token_ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    error: str | None = None


#: ``callback(index, text)``: a new piece of the response of input ``index``, as it is generated.
TextCallback = Callable[[int, str], None]


@runtime_checkable
class Reasoner(Protocol):
    """Anything that turns images and queries into :class:`Generation` objects (same order, same length).

    The minimum a reasoner must have. :class:`~pixelthink.pipeline.Pipeline` resizes the images of such a
    reasoner to the model frame itself and hands ``on_text`` the whole response at once; a reasoner that
    also has what :class:`FramedReasoner` or :class:`StreamingReasoner` declare is used through those.
    """

    def generate(self, images: Sequence[Image.Image], queries: Sequence[str]) -> list[Generation]: ...


@runtime_checkable
class FramedReasoner(Reasoner, Protocol):
    """A reasoner that resizes images to its model frame itself (it receives the original images).

    ``resolution`` is that frame (an int ``r``: ``r x r``; ``(width, height)``; None: native size); the
    pipeline sets it to its own resolution when it is built.
    """

    resolution: int | tuple[int, int] | None


@runtime_checkable
class StreamingReasoner(FramedReasoner, Protocol):
    """What both built-in backends offer: their own resizing, text streamed while it is generated, and
    many samples streamed through a bounded window (:mod:`pixelthink.pipeline.streaming` uses it)."""

    def generate(
        self, images: Sequence[Image.Image], queries: Sequence[str], *, on_text: TextCallback | None = None
    ) -> list[Generation]:
        """As :meth:`Reasoner.generate`; ``on_text(i, text)`` receives the response of input ``i`` piece by
        piece while it is generated (the generations returned are the same as without it)."""
        ...

    def generate_stream(
        self, requests: Iterable[tuple[int, Image.Image, str]], *, window: int | None = None
    ) -> Iterator[tuple[int, Generation]]:
        """Generate for a stream of ``(index, image, query)`` requests, yielding ``(index, Generation)``
        in completion order with up to ``window`` of them at the reasoner; closing the iterator stops it."""
        ...


THINK_CLOSE = "</think><answer>"
"""What a think budget forces once the reasoning reaches ``max_think_tokens`` (``--max-think-tokens``)."""


def think_budget_close(generated: str) -> str:
    """The text forced at the end of a think budget: ``</think><answer>``, preceded by ``<think>`` when
    the generation has not opened a think block yet (a budget of 0: an empty think, NoThinking), less
    what ``generated`` already ends with (:func:`unwritten_part`: ``... </think`` -> ``><answer>``)."""
    return unwritten_part(generated, THINK_CLOSE if "<think>" in generated else "<think>" + THINK_CLOSE)


def unwritten_part(written: str, close: str) -> str:
    """What is left of ``close`` after ``written``: ``close`` without the longest proper prefix of it that
    ``written`` ends with (a close the model began itself when its budget ran out)."""
    for k in range(len(close) - 1, 0, -1):
        if written.endswith(close[:k]):
            return close[k:]
    return close


def check_think_budget(max_think_tokens: int | None) -> None:
    """ValueError unless ``max_think_tokens`` is None (no budget) or >= 0."""
    if max_think_tokens is not None and (isinstance(max_think_tokens, bool) or max_think_tokens < 0):
        raise ValueError(f"max_think_tokens must be >= 0 (or None for no budget), got {max_think_tokens!r}")


def count_reasoning_tokens(token_texts: Sequence[str]) -> tuple[int, int]:
    """(reasoning_tokens, answer_tokens) of a response given its token texts (no special tokens)."""
    from pixelthink.uncertainty import reasoning_token_mask

    if not token_texts:
        return 0, 0
    mask = reasoning_token_mask(list(token_texts))
    reasoning = int(mask.sum())
    return reasoning, len(token_texts) - reasoning


_HTTP = re.compile(r"^https?://", re.IGNORECASE)


def parse_openai_spec(spec: str, model: str | None = None) -> tuple[str, str]:
    """Split ``http(s)://HOST[:PORT][/v1][?model=NAME]`` into (base_url ending in /v1, model name).

    ``model`` (an option) wins over the ``?model=`` query. Raises ValueError when no model is named.
    """
    parts = urlsplit(spec)
    query = parse_qs(parts.query)
    name = model or (query.get("model") or [None])[0]
    if not name:
        raise ValueError(
            f"reasoner spec {spec!r}: no model name; use {spec.rstrip('/')}?model=NAME or pass --model NAME (CLI) / model=NAME (Python)"
        )
    if not parts.netloc:
        raise ValueError(f"reasoner spec {spec!r}: expected http(s)://HOST[:PORT][/v1]")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path = f"{path}/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), name


#: written next to the weights by ``pixelthink train`` (the recipe the checkpoint was trained with)
TRAINED_RECIPE_FILE = "pixelthink_recipe.yaml"


def checkpoint_defaults(path: str | Path) -> dict[str, Any]:
    """Inference settings a checkpoint was trained with: ``{"resolution", "prompt_template"}``.

    Read from ``pixelthink_recipe.yaml`` (written by ``pixelthink train``; its ``data.resolution`` and
    ``data.prompt_template``). Keys are absent when the file or the value is (e.g. a Hub checkpoint,
    or a recipe that kept the default template).

    Raises:
        ValueError: the file exists but is not a YAML mapping.
    """
    import yaml  # lazily: this module stays light

    f = Path(path) / TRAINED_RECIPE_FILE
    if not f.is_file():
        return {}
    try:
        recipe = yaml.safe_load(f.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{f}: not valid YAML: {exc}") from exc
    data = recipe.get("data") if isinstance(recipe, dict) else None
    if not isinstance(data, dict):
        raise ValueError(f"{f}: expected a recipe mapping with a 'data' section")
    out: dict[str, Any] = {}
    res = data.get("resolution", DEFAULT_RESOLUTION)
    out["resolution"] = tuple(res) if isinstance(res, list) else res
    if isinstance(data.get("prompt_template"), str):
        out["prompt_template"] = data["prompt_template"]
    return out


def resolve_resolution(
    spec: str,
    resolution: int | tuple[int, int] | str | None,
    trained: dict[str, Any] | None = None,
) -> int | tuple[int, int] | None:
    """``resolution`` with ``"auto"`` replaced: a local checkpoint's training resolution
    (:func:`checkpoint_defaults`, or ``trained`` when the caller has read them already), else 840
    (URLs, checkpoints not trained by pixelthink)."""
    if resolution != "auto":
        if isinstance(resolution, str):
            raise ValueError(
                f"resolution must be an int, (width, height), None or 'auto', got {resolution!r}"
            )
        return resolution
    if trained is None:
        if _HTTP.match(spec) or not Path(spec).expanduser().is_dir():
            return DEFAULT_RESOLUTION
        trained = checkpoint_defaults(Path(spec).expanduser())
    return trained.get("resolution", DEFAULT_RESOLUTION)
