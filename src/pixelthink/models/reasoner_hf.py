"""Local transformers backend for Qwen2.5-VL / Qwen3-VL reasoners (batched, left-padded generation).

Model frame (``answer_frame``): the pixel frame the model's answer coordinates are in.

* ``"input"`` (default): the image handed to the processor, i.e. the original image resized
  (bilinear, aspect not kept, by :class:`FrameTransform`) to the working resolution, 840x840 by default.
  This is how Seg-Zero / PixelThink training data is built: the authors resize images to 840x840 and
  write ground truth in that frame, also for Qwen3-VL, whose processor then snaps 840 to 832 internally
  (multiples of ``patch_size * merge_size`` = 32); the model still answers in the 840 frame.
* ``"vision"``: the grid the vision encoder actually receives, the working resolution snapped by the
  processor's own ``smart_resize`` (:func:`processed_image_size`; multiples of 28 for Qwen2.5-VL, 32 for
  Qwen3-VL). Stock Qwen2.5-VL grounding answers in this frame, so use it for stock checkpoints at
  ``resolution=None`` (native). For Qwen2.5-VL at 840 both frames coincide (840 = 30 * 28).

In both modes the processor's grid is checked against the size predicted by ``smart_resize``.

Uncertainty: a logits processor (:class:`TopKRecorder`) records, at every step, the top-k (k = 2 by
default) log-probabilities of the next-token distribution (after the checkpoint's own logits
processors such as repetition penalty, before temperature / top-p; for greedy decoding this equals
``output_scores``). Only [B, k] numbers per step are kept, instead of the [B, V] scores of
``output_scores=True`` (V = 152k for Qwen: gigabytes for a batch of long responses). U is then computed
with :func:`uncertainty.margins_from_top_logprobs` / :func:`uncertainty.uncertainty_from_margins` over
the generated tokens up to and including the first end-of-sequence token; the padding steps after it
(batched generation) are excluded.

Timings: ``prefill`` runs from the call to ``generate`` until the first next-token distribution is
available (vision encoder + prompt forward pass, measured with a CUDA synchronise on GPU);
``decode`` is the rest of ``generate``.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import (
    AutoModelForImageTextToText,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    TextStreamer,
)

from pixelthink.answer import DEFAULT_PROMPT_TEMPLATE, build_prompt
from pixelthink.frames import FrameTransform
from pixelthink.models.processors import load_processor, processed_image_size
from pixelthink.models.reasoners import (
    Generation,
    TextCallback,
    check_think_budget,
    checkpoint_defaults,
    count_reasoning_tokens,
    resolve_resolution,
    think_budget_close,
)
from pixelthink.uncertainty import margins_from_top_logprobs, uncertainty_from_margins

ANSWER_FRAMES = ("input", "vision")

__all__ = [
    "CallbackStreamer",
    "ChatOutput",
    "TopKRecorder",
    "TransformersReasoner",
    "resolve_device",
    "resolve_dtype",
]

logger = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> ``cuda`` when available, else ``cpu``; anything else is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``"auto"`` -> bfloat16 on CUDA, float32 otherwise; names like ``"float16"`` map to torch dtypes."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    names = {
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
        "float32": torch.float32,
        "fp32": torch.float32,
    }
    if dtype not in names:
        raise ValueError(f"dtype {dtype!r}: expected 'auto' or one of {sorted(names)}")
    return names[dtype]


class TopKRecorder(LogitsProcessor):
    """Logits processor recording per-step log-probs; it leaves the scores unchanged.

    After ``generate`` and :meth:`finish`: ``top_logprobs`` / ``top_ids`` are [T, B, k] (T generated
    steps), ``chosen_logprobs`` is [T, B] (log-prob of the token actually generated at each step), and
    ``first_step_time`` is the ``time.perf_counter()`` at which the first next-token distribution was
    available (end of prefill). Only [B, k] numbers per step and one [B, V] tensor are kept.
    """

    def __init__(self, k: int = 2, *, synchronize: bool = False) -> None:
        if k < 2:
            raise ValueError(f"k must be >= 2 (U needs the top-2 margin), got {k}")
        self.k = k
        self.synchronize = synchronize
        self.first_step_time: float | None = None
        self._values: list[torch.Tensor] = []
        self._ids: list[torch.Tensor] = []
        self._chosen: list[torch.Tensor] = []
        self._previous: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.first_step_time is None:
            if self.synchronize:
                torch.cuda.synchronize(scores.device)
            self.first_step_time = time.perf_counter()
        logprobs = torch.log_softmax(scores.float(), dim=-1)
        if self._previous is not None:  # the token chosen at the previous step is input_ids[:, -1]
            self._chosen.append(self._previous.gather(1, input_ids[:, -1:]).squeeze(1))
        self._previous = logprobs
        top = torch.topk(logprobs, k=min(self.k, logprobs.shape[-1]), dim=-1)
        self._values.append(top.values)
        self._ids.append(top.indices)
        return scores

    def finish(self, last_tokens: torch.Tensor) -> None:
        """Record the log-prob of the last generated token ([B] ids) once generation is over."""
        if self._previous is not None and len(self._chosen) < len(self._values):
            self._chosen.append(self._previous.gather(1, last_tokens.view(-1, 1)).squeeze(1))
        self._previous = None

    @property
    def top_logprobs(self) -> torch.Tensor:
        return torch.stack(self._values).cpu()

    @property
    def top_ids(self) -> torch.Tensor:
        return torch.stack(self._ids).cpu()

    @property
    def chosen_logprobs(self) -> torch.Tensor:
        return torch.stack(self._chosen).cpu()


class ThinkBudgetProcessor(LogitsProcessor):
    """Logits processor ending the reasoning at a token budget (``--max-think-tokens N``, a baseline
    without training: "would truncation do?").

    Per row: once ``budget`` tokens have been generated without a ``</think>``, the next steps are forced
    (every other logit -inf) to the tokens of :func:`~pixelthink.models.reasoners.think_budget_close`
    (``</think><answer>``, with ``<think>`` first when none was opened), then the model writes the answer
    freely. A row that closes its think block itself is left alone. N counts every generated token
    before the forced close (the ``<think>`` tag included), as ``max_tokens`` of the OpenAI backend's
    first request does. Tags are looked for in the decoded last :attr:`WINDOW` tokens at each step.

    Two details keep the forced text on the model's own tokenisation (without them a BPE model that
    learnt ``answer`` + ``>{"`` as tokens stops right after a forced lone ``>``: measured on the shipped
    miniature, 984 of 1,000 answers cut to nothing at a budget of 58): a close the model has begun
    (``... </think`` at the budget) is only completed, and the last forced token is *healed*: any token
    whose text starts with it is allowed (``>`` or ``>{"``), the model choosing among them.
    """

    WINDOW = 16

    def __init__(self, budget: int, tokenizer: Any) -> None:
        check_think_budget(budget)
        self.budget = budget
        self.tokenizer = tokenizer
        self._prompt_len: int | None = None
        self._opened: list[bool] = []
        self._closed: list[bool] = []
        self._forced: list[list[int]] = []
        self._heal: list[list[int] | None] = []

    def _tail(self, ids: torch.Tensor) -> str:
        """The decoded last :attr:`WINDOW` generated tokens of a row."""
        return str(self.tokenizer.decode(ids[-self.WINDOW :].tolist(), skip_special_tokens=True))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._prompt_len is None:
            self._prompt_len = input_ids.shape[1]
            rows = input_ids.shape[0]
            self._opened, self._closed, self._forced = (
                [False] * rows,
                [False] * rows,
                [[] for _ in range(rows)],
            )
            self._heal = [None] * rows
        generated = input_ids[:, self._prompt_len :]
        n = generated.shape[1]
        for b in range(input_ids.shape[0]):
            if self._closed[b]:
                continue
            if not self._forced[b]:
                tail = self._tail(generated[b]) if n else ""
                self._opened[b] = self._opened[b] or "<think>" in tail
                if "</think>" in tail:
                    self._closed[b] = True  # closed by the model itself
                    continue
                if n < self.budget:
                    continue
                # the close less what the tail already ends with ("... </think" -> "><answer>")
                close = think_budget_close(("<think>" if self._opened[b] else "") + tail)
                ids = [int(i) for i in self.tokenizer(close, add_special_tokens=False)["input_ids"]]
                self._forced[b] = ids
                self._heal[b] = _tokens_starting_with(self.tokenizer, self.tokenizer.decode(ids[-1:]))
            token = self._forced[b].pop(0)
            heal = self._heal[b] if not self._forced[b] else None
            row = torch.full_like(scores[b], float("-inf"))
            if heal:  # the last forced token: any token that starts with its text, as the model prefers
                row[heal] = scores[b][heal]
            else:
                row[token] = 0.0
            scores[b] = row
            self._closed[b] = not self._forced[b]  # the whole close is forced: the answer is free
        return scores


_HEAL_CACHE: dict[tuple[int, int, str], list[int]] = {}


def _tokens_starting_with(tokenizer: Any, piece: str) -> list[int]:
    """Ids of the vocabulary's tokens whose text starts with ``piece`` (cached per tokenizer and piece);
    empty when ``piece`` is empty."""
    if not piece:
        return []
    key = (id(tokenizer), len(tokenizer), piece)
    if key not in _HEAL_CACHE:
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        _HEAL_CACHE[key] = [i for i, t in enumerate(texts) if t.startswith(piece)]
    return _HEAL_CACHE[key]


class CallbackStreamer(TextStreamer):
    """transformers' :class:`TextStreamer` (batch size 1) handing each finished piece of text, special
    tokens skipped and the prompt left out, to ``callback(text)`` instead of printing it."""

    def __init__(self, tokenizer: Any, callback: Any) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.callback = callback

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.callback(text)


@dataclass
class ChatOutput:
    """Per-sample result of :meth:`TransformersReasoner.generate_chat` (all positions up to EOS).

    Attributes:
        generation: the :class:`Generation` (``frame`` as passed in).
        token_logprobs: log-prob of each generated token, [T].
        top_logprobs: per generated token, the top-k (token id, log-prob) pairs, best first.
        prompt_tokens: unpadded prompt length in tokens.
        finished: True when an end-of-sequence token was generated (False: hit max_new_tokens).
    """

    generation: Generation
    token_logprobs: list[float]
    top_logprobs: list[list[tuple[int, float]]]
    prompt_tokens: int
    finished: bool


class TransformersReasoner:
    """Qwen2.5-VL / Qwen3-VL (any ``AutoModelForImageTextToText`` with a Qwen processor) on transformers.

    Build it with :meth:`from_pretrained`. ``generate(images, queries)`` processes the inputs in
    batches of ``batch_size`` with left padding and returns one :class:`Generation` per input.
    A :class:`~pixelthink.models.reasoners.StreamingReasoner`: it resizes to ``resolution`` itself, streams
    text (``on_text``) and many samples (:meth:`generate_stream`).
    """

    resolution: int | tuple[int, int] | None

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        resolution: int | tuple[int, int] | None = 840,
        max_new_tokens: int = 1024,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        batch_size: int = 8,
        prompt_template: str = DEFAULT_PROMPT_TEMPLATE,
        name: str = "",
        answer_frame: str = "input",
        max_think_tokens: int | None = None,
    ) -> None:
        check_think_budget(max_think_tokens)
        if answer_frame not in ANSWER_FRAMES:
            raise ValueError(f"answer_frame must be one of {ANSWER_FRAMES}, got {answer_frame!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.resolution = resolution
        self.answer_frame = answer_frame
        self.batch_size = batch_size
        self.prompt_template = prompt_template
        self.name = name
        self.max_think_tokens = max_think_tokens
        self.generation_config = self._generation_config(max_new_tokens, do_sample, temperature, top_p)
        eos = self.generation_config.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if not self.eos_ids and self.tokenizer.eos_token_id is not None:
            self.eos_ids = {int(self.tokenizer.eos_token_id)}
        # Tokens that ``decode(..., skip_special_tokens=True)`` drops: not counted as reasoning/answer.
        added = getattr(self.tokenizer, "added_tokens_decoder", {}) or {}
        self.special_ids: set[int] = (
            set(self.tokenizer.all_special_ids)
            | self.eos_ids
            | {int(i) for i, t in added.items() if t.special}
        )

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        resolution: int | tuple[int, int] | str | None = "auto",
        max_new_tokens: int = 1024,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        dtype: str | torch.dtype = "auto",
        device: str = "auto",
        device_map: str | dict[str, Any] | None = None,
        batch_size: int = 8,
        prompt_template: str | None = None,
        attn_implementation: str | None = None,
        answer_frame: str = "input",
        max_think_tokens: int | None = None,
    ) -> TransformersReasoner:
        """Load model + processor from a local checkpoint directory.

        Args:
            path: checkpoint directory (tiny model or Hub snapshot).
            resolution: working resolution (square int, or (width, height)); None = native size;
                "auto" = the resolution the checkpoint was trained at (:func:`checkpoint_defaults`),
                else 840.
            max_new_tokens, do_sample, temperature, top_p: decoding; greedy by default. Other
                settings of the checkpoint's generation_config.json (e.g. repetition_penalty) are kept.
            dtype: "auto" (bf16 on CUDA, float32 on CPU) or a dtype name.
            device: "auto" | "cpu" | "cuda" | "cuda:1" ...; ignored when ``device_map`` is given.
            device_map: passed to ``from_pretrained`` (e.g. "auto" to shard a large model).
            batch_size: samples per ``generate`` call.
            prompt_template: prompt with a ``{question}`` field (see :mod:`pixelthink.answer`); None =
                the template the checkpoint was trained with (:func:`checkpoint_defaults`), else
                :data:`~pixelthink.answer.DEFAULT_PROMPT_TEMPLATE`.
            attn_implementation: e.g. "sdpa", "flash_attention_2"; None = transformers' default.
            answer_frame: "input" (the working-resolution image, as PixelThink/Seg-Zero are trained) or
                "vision" (the processor's grid, as stock Qwen2.5-VL grounding); see the module docstring.
            max_think_tokens: a think budget (:class:`ThinkBudgetProcessor`); None = none.
        """
        root = Path(path)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: model directory not found")
        trained = checkpoint_defaults(root)
        resolution = resolve_resolution(str(root), resolution, trained)
        if prompt_template is None:
            prompt_template = trained.get("prompt_template") or DEFAULT_PROMPT_TEMPLATE
        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, torch_device)
        processor = load_processor(root)
        kwargs: dict[str, Any] = {"dtype": torch_dtype}
        if device_map is not None:
            kwargs["device_map"] = device_map
        if attn_implementation is not None:
            kwargs["attn_implementation"] = attn_implementation
        model = AutoModelForImageTextToText.from_pretrained(str(root), **kwargs)
        if device_map is None:
            model = model.to(torch_device)
        model.eval()
        return cls(
            model,
            processor,
            resolution=resolution,  # type: ignore[arg-type]
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            temperature=temperature,
            top_p=top_p,
            batch_size=batch_size,
            prompt_template=prompt_template,
            name=root.name,
            answer_frame=answer_frame,
            max_think_tokens=max_think_tokens,
        )

    # ------------------------------------------------------------------ configuration
    def _generation_config(
        self, max_new_tokens: int, do_sample: bool, temperature: float, top_p: float
    ) -> GenerationConfig:
        base = getattr(self.model, "generation_config", None)
        config = GenerationConfig(**base.to_dict()) if base is not None else GenerationConfig()
        config.max_new_tokens = max_new_tokens
        config.do_sample = do_sample
        if do_sample:
            if temperature <= 0:
                raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
            config.temperature = temperature
            config.top_p = top_p
            config.top_k = None  # Qwen checkpoints ship top_k=1, which would make sampling greedy
        else:
            config.temperature = None
            config.top_p = None
            config.top_k = None
        config.return_dict_in_generate = True
        if config.pad_token_id is None:
            config.pad_token_id = self.tokenizer.pad_token_id
        if config.eos_token_id is None:
            config.eos_token_id = self.tokenizer.eos_token_id
        return config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ inputs
    def frame_for(self, width: int, height: int) -> FrameTransform:
        """The original <-> model frame transform for an image of ``width x height`` pixels.

        The model frame is the working resolution (``answer_frame="input"``) or the working resolution
        snapped by the processor's ``smart_resize`` (``"vision"``); see the module docstring.
        """
        if self.resolution is None:
            target_w, target_h = width, height
        elif isinstance(self.resolution, int):
            target_w = target_h = self.resolution
        else:
            target_w, target_h = self.resolution
        if self.answer_frame == "vision":
            target_w, target_h = processed_image_size(self.processor.image_processor, target_w, target_h)
        return FrameTransform.for_size(width, height, (target_w, target_h))

    def messages_for(self, query: str) -> list[dict[str, Any]]:
        """The chat messages of one sample: a user turn with the image and the filled prompt."""
        prompt = build_prompt(query, self.prompt_template)
        return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]

    def build_inputs(
        self, conversations: Sequence[list[dict[str, Any]]], model_images: Sequence[Image.Image] | None
    ) -> Any:
        """Left-padded processor batch on the model's device.

        Args:
            conversations: chat messages per sample, each with exactly one image content part (none
                when ``model_images`` is None).
            model_images: the images, already in the model frame (sizes from :meth:`frame_for`), or
                None for text-only conversations.

        Raises:
            RuntimeError: the processor resized an image (its grid differs from the image size), so
                coordinates would not map back correctly.
        """
        texts = [
            self.processor.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
            for messages in conversations
        ]
        if model_images is None:
            return self.processor(text=texts, padding=True, return_tensors="pt").to(self.device)
        inputs = self.processor(text=texts, images=list(model_images), padding=True, return_tensors="pt")
        grid = inputs["image_grid_thw"]
        image_processor = self.processor.image_processor
        patch = int(image_processor.patch_size)
        for i, image in enumerate(model_images):
            seen = (int(grid[i][2]) * patch, int(grid[i][1]) * patch)
            expected = processed_image_size(image_processor, *image.size)
            if seen != tuple(expected):
                raise RuntimeError(
                    f"processor resized image {i} ({image.size[0]}x{image.size[1]}) to {seen[0]}x{seen[1]}, "
                    f"not to the predicted {expected[0]}x{expected[1]}: coordinates would not map back"
                )
        return inputs.to(self.device)

    # ------------------------------------------------------------------ generation
    def _call_config(
        self, max_new_tokens: int | None, temperature: float | None, top_p: float | None
    ) -> GenerationConfig:
        if max_new_tokens is None and temperature is None and top_p is None:
            return self.generation_config
        config = GenerationConfig(**self.generation_config.to_dict())
        if max_new_tokens is not None:
            if max_new_tokens < 1:
                raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
            config.max_new_tokens = max_new_tokens
        if temperature is not None:
            if temperature < 0:
                raise ValueError(f"temperature must be >= 0, got {temperature}")
            config.do_sample = temperature > 0
            config.temperature = temperature if temperature > 0 else None
            config.top_k = None
            if temperature == 0:
                config.top_p = None
        if top_p is not None and config.do_sample:
            config.top_p = top_p
        return config

    @torch.inference_mode()
    def generate_chat(
        self,
        conversations: Sequence[list[dict[str, Any]]],
        model_images: Sequence[Image.Image] | None,
        frames: Sequence[FrameTransform],
        *,
        top_k: int = 2,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        streamer: Any = None,
        think_budget: bool = False,
    ) -> list[ChatOutput]:
        """Generate for one batch of ready-made chat conversations (no prompt template applied).

        Args:
            conversations: chat messages per sample (one image content part each, none when
                ``model_images`` is None).
            model_images: PIL images already in the model frame, or None (text-only conversations).
            frames: the frame transform of each sample (returned in ``Generation.frame``).
            top_k: number of top log-probs to keep per generated token (>= 2).
            max_new_tokens, temperature, top_p: per-call overrides (temperature 0 = greedy).
            streamer: a transformers streamer (e.g. :class:`CallbackStreamer`; batch size 1 only).
            think_budget: apply ``max_think_tokens`` (:class:`ThinkBudgetProcessor`) when it is set.
        """
        n = len(conversations)
        n_images = n if model_images is None else len(model_images)
        if not (n == n_images == len(frames)):
            raise ValueError(f"got {n} conversations, {n_images} images and {len(frames)} frames")
        if n == 0:
            return []
        t0 = time.perf_counter()
        inputs = self.build_inputs(conversations, model_images)
        on_cuda = self.device.type == "cuda"
        recorder = TopKRecorder(top_k, synchronize=on_cuda)
        if on_cuda:
            torch.cuda.synchronize(self.device)
        t1 = time.perf_counter()
        out = self.model.generate(
            **inputs,
            generation_config=self._call_config(max_new_tokens, temperature, top_p),
            logits_processor=LogitsProcessorList(
                [recorder]  # the model's own distribution (U) is recorded before a forced token
                + (
                    [ThinkBudgetProcessor(self.max_think_tokens, self.tokenizer)]
                    if think_budget and self.max_think_tokens is not None
                    else []
                )
            ),
            streamer=streamer,
        )
        if on_cuda:
            torch.cuda.synchronize(self.device)
        t2 = time.perf_counter()
        prompt_len = inputs["input_ids"].shape[1]
        sequences = out.sequences[:, prompt_len:]
        recorder.finish(sequences[:, -1])
        first = recorder.first_step_time if recorder.first_step_time is not None else t2
        timings = {
            "preprocess": (t1 - t0) / n,
            "prefill": (first - t1) / n,
            "decode": (t2 - first) / n,
            "batch_size": float(n),
        }
        sequences = sequences.cpu()
        top_lp, top_ids, chosen = recorder.top_logprobs, recorder.top_ids, recorder.chosen_logprobs
        prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
        results = []
        for i in range(n):
            ids = sequences[i].tolist()
            length, finished = len(ids), False
            for j, tok in enumerate(ids):
                if tok in self.eos_ids:
                    length, finished = j + 1, True  # the first end-of-sequence token is a generated token
                    break
            ids = ids[:length]
            tops = [
                [(int(top_ids[t, i, r]), float(top_lp[t, i, r])) for r in range(top_ids.shape[2])]
                for t in range(length)
            ]
            # U over the generated tokens (EOS included); padding after EOS excluded.
            margins = margins_from_top_logprobs(
                [[{"token": tid, "logprob": lp} for tid, lp in top] for top in tops]
            )
            uncertainty = float(uncertainty_from_margins(margins)) if length else None
            text_ids = [t for t in ids if t not in self.special_ids]
            reasoning, answer = count_reasoning_tokens([self.tokenizer.decode([t]) for t in text_ids])
            generation = Generation(
                text=self.tokenizer.decode(ids, skip_special_tokens=True),
                reasoning_tokens=reasoning,
                answer_tokens=answer,
                uncertainty=uncertainty,
                frame=frames[i],
                timings=dict(timings),
                token_ids=ids,
                tokens=[self.tokenizer.decode([t]) for t in ids],
            )
            results.append(
                ChatOutput(
                    generation=generation,
                    token_logprobs=[float(v) for v in chosen[:length, i]],
                    top_logprobs=tops,
                    prompt_tokens=int(prompt_lengths[i]),
                    finished=finished,
                )
            )
        return results

    def chat(
        self,
        images: Sequence[Image.Image | None],
        prompts: Sequence[str],
        *,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
    ) -> list[str | Exception]:
        """Free-form prompts (LLM judges): one user turn per item, the image (if any) then the text.

        Images are used as they are (no resizing to the working resolution: the caller chooses the frame
        its prompt describes; the processor may still snap them to its patch grid); ``images[i] = None``
        is a text-only item. No prompt template. Batches of ``batch_size``; ``temperature`` 0 = greedy.

        Returns:
            The reply text of each item, in order (the type leaves room for per-item errors, as
            :meth:`OpenAIReasoner.chat <pixelthink.models.reasoner_openai.OpenAIReasoner.chat>` returns).
        """
        if len(images) != len(prompts):
            raise ValueError(f"got {len(images)} images but {len(prompts)} prompts")
        out: list[str | Exception] = [""] * len(prompts)
        for has_image in (True, False):
            group = [i for i, image in enumerate(images) if (image is not None) == has_image]
            for start in range(0, len(group), self.batch_size):
                idx = group[start : start + self.batch_size]
                conversations = [
                    [
                        {
                            "role": "user",
                            "content": [
                                *([{"type": "image"}] if has_image else []),
                                {"type": "text", "text": prompts[i]},
                            ],
                        }
                    ]
                    for i in idx
                ]
                batch: list[Image.Image] | None = None
                frames = [FrameTransform.for_size(1, 1, None)] * len(idx)  # text only: no coordinates
                if has_image:
                    batch = [images[i].convert("RGB") for i in idx]  # type: ignore[union-attr]
                    frames = [FrameTransform.for_size(im.size[0], im.size[1], None) for im in batch]
                outputs = self.generate_chat(
                    conversations, batch, frames, max_new_tokens=max_new_tokens, temperature=temperature
                )
                for i, output in zip(idx, outputs, strict=True):
                    out[i] = output.generation.text
        return out

    def prompt_length(self, image: Image.Image, query: str) -> int:
        """Tokens of the prompt of one sample (chat template + the image's tokens), without running the
        processor on the image: what left padding pads to in a batch."""
        frame = self.frame_for(*image.size)
        image_processor = self.processor.image_processor
        width, height = processed_image_size(image_processor, frame.model_w, frame.model_h)
        cell = int(image_processor.patch_size) * int(image_processor.merge_size)
        text = self.processor.apply_chat_template(
            self.messages_for(query), tokenize=False, add_generation_prompt=True
        )
        # the chat template holds one image placeholder token, which the processor expands
        return len(self.tokenizer(text)["input_ids"]) - 1 + (width // cell) * (height // cell)

    def generate_stream(
        self, requests: Iterable[tuple[int, Image.Image, str]], *, window: int | None = None
    ) -> Iterator[tuple[int, Generation]]:
        """Generate for a stream of ``(index, image, query)`` requests; yield ``(index, Generation)``
        batch by batch.

        Up to ``window`` requests (default ``4 * batch_size``, at least ``batch_size``) are read ahead,
        sorted by :meth:`prompt_length` and cut into batches of ``batch_size``, so that a batch holds
        prompts of similar length and left padding stays small. Greedy results do not depend on the
        batch a sample lands in (tests/test_streaming.py checks it against one-sample batches).
        ``timings["queue"]``: the seconds a request waited after it was read until its batch started.
        """
        window = max(self.batch_size * 4 if window is None else window, self.batch_size)
        iterator = iter(requests)
        while True:
            chunk = list(itertools.islice(iterator, window))
            if not chunk:
                return
            read = time.perf_counter()
            lengths = [self.prompt_length(image, query) for _, image, query in chunk]
            order = sorted(range(len(chunk)), key=lambda k: lengths[k])
            for start in range(0, len(order), self.batch_size):
                batch = [chunk[k] for k in order[start : start + self.batch_size]]
                waited = time.perf_counter() - read
                generations = self.generate([image for _, image, _ in batch], [q for _, _, q in batch])
                for (index, _, _), generation in zip(batch, generations, strict=True):
                    generation.timings["queue"] = waited
                    yield index, generation

    def generate(
        self,
        images: Sequence[Image.Image],
        queries: Sequence[str],
        *,
        on_text: TextCallback | None = None,
    ) -> list[Generation]:
        """Generate one response per (image, query) pair, in input order, in batches of ``batch_size``.

        Args:
            images: PIL images in the *original* frame (any mode; converted to RGB).
            queries: the questions (filled into the prompt template by ``build_prompt``).
            on_text: ``on_text(i, text)`` receives the response of input ``i`` piece by piece while it is
                generated; samples are then generated one at a time (transformers streams batch size 1).

        Returns:
            One :class:`Generation` per input; coordinates in ``text`` are in the model frame
            ``Generation.frame`` maps back from.
        """
        if len(images) != len(queries):
            raise ValueError(f"got {len(images)} images but {len(queries)} queries")
        results: list[Generation] = []
        step = 1 if on_text is not None else self.batch_size
        for start in range(0, len(images), step):
            batch_images = images[start : start + step]
            batch_queries = queries[start : start + step]
            t0 = time.perf_counter()
            frames = [self.frame_for(*image.size) for image in batch_images]
            model_images = [f.image_to_model(image) for f, image in zip(frames, batch_images, strict=True)]
            resize = (time.perf_counter() - t0) / len(batch_images)
            streamer = None
            if on_text is not None:
                streamer = CallbackStreamer(self.tokenizer, lambda text, i=start: on_text(i, text))
            outputs = self.generate_chat(
                [self.messages_for(q) for q in batch_queries],
                model_images,
                frames,
                streamer=streamer,
                think_budget=True,
            )
            for output in outputs:
                output.generation.timings["preprocess"] += resize
                results.append(output.generation)
        return results
