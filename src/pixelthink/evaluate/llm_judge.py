"""RScore from an LLM judge: the judge grades a prediction's reasoning against the sample's references.

``pixelthink eval --judge llm:http://HOST:8000/v1?model=NAME`` (any OpenAI-compatible server, e.g. vLLM
serving Qwen2.5-VL-72B-Instruct) or ``--judge llm:/path/to/checkpoint`` (a local transformers model).
Per judged sample the judge receives the prompt ``rscore`` (:mod:`pixelthink.judging.templates`; replace it
with ``--judge-prompt FILE``): the query, the reference chains (``reasoning_short`` / ``reasoning_long``)
and the prediction's ``<think>`` text, plus the sample's image resized to ``resolution`` (``image=False``
for text-only judges). It answers ``{"score": 0..10}``; **RScore = score / 10**, in [0, 1], the unit
SAT / RST / URSS take. An empty think is 0 without asking (the rubric's "empty").

Parsing is lenient (:func:`pixelthink.judging.replies.parse_judge_reply`); a reply without a usable score
is asked again up to ``retries`` times, then recorded as a judge failure: the sample gets no RScore (it is
left out of the mean and counted in the report), the evaluation goes on.

Cache: every answer (score, reply, errors) is appended to a JSONL file, one line per judged text, keyed
by a hash of the sample id, query, references and reasoning; the file name holds the judge model and the
prompt id (``name@vVERSION+HASH``). Re-evaluating the same predictions asks nothing; changed reasoning is
asked anew. Default file: ``$PIXELTHINK_CACHE/judges/rscore.<model>.<prompt id>.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pixelthink.judging import JudgeCache, ReplyField, ask, load_prompt, parse_judge_reply
from pixelthink.judging.ask import ChatModel

__all__ = ["RSCORE_FIELDS", "RSCORE_SCALE", "LLMJudge", "default_cache_path"]

RSCORE_SCALE = 10.0
#: what the judge's reply must hold
RSCORE_FIELDS = (ReplyField("score", 0.0, RSCORE_SCALE, aliases=("rscore", "rating", "grade")),)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@+-]+", "_", text).strip("_")[:80] or "judge"


def default_cache_path(model_name: str, prompt_id: str) -> Path:
    """``$PIXELTHINK_CACHE/judges/rscore.<model>.<prompt id>.jsonl`` (``~/.cache/pixelthink`` by default)."""
    from pixelthink.data.resolve import cache_root

    return cache_root().parent / "judges" / f"rscore.{_slug(model_name)}.{_slug(prompt_id)}.jsonl"


def format_references(refs: Sequence[tuple[str, str]]) -> str:
    """The references as the prompt shows them: ``[short] ...`` / ``[long] ...``, one paragraph each."""
    return "\n\n".join(f"[{label}] {text.strip()}" for label, text in refs)


def _labelled_references(sample: Any) -> list[tuple[str, str]]:
    out = []
    for label, field in (("short", "reasoning_short"), ("long", "reasoning_long")):
        value = getattr(sample, field, None)
        if isinstance(value, str) and value.strip():
            out.append((label, value))
    return out


def _parse_score(text: str) -> tuple[float | None, str | None]:
    reply = parse_judge_reply(text, RSCORE_FIELDS)
    return (reply.values["score"], None) if reply.ok else (None, reply.error)


class LLMJudge:
    """An RScore judge backed by a chat model (see the module docstring).

    Args:
        chat_model: anything with ``chat(images, prompts, temperature=, max_new_tokens=)``
            (:class:`~pixelthink.judging.ask.ChatModel`; both reasoner backends).
        model_name: the judge model's name (reports, cache file name).
        backend: where it runs (the URL or the checkpoint path), for the report.
        prompt: a prompt file, a shipped prompt name, or None (``rscore``).
        cache: the JSONL cache file; None = :func:`default_cache_path`; False = no cache (in memory).
        retries: extra attempts for a reply without a usable score.
        temperature, max_new_tokens: decoding of the judge (greedy by default).
        image: send the sample's image (resized to ``resolution``, no highlight) with the prompt.
        resolution: side of the square frame the image is resized to (None = native size).
        retry_failed: ask again for texts whose earlier answer was a failure (they are dropped from
            the cache first).
    """

    requires_references = True

    def __init__(
        self,
        chat_model: ChatModel,
        *,
        model_name: str,
        backend: str = "",
        prompt: str | os.PathLike[str] | None = None,
        cache: str | os.PathLike[str] | bool | None = None,
        retries: int = 2,
        temperature: float = 0.0,
        max_new_tokens: int = 256,
        image: bool = True,
        resolution: int | None = 840,
        retry_failed: bool = False,
    ) -> None:
        self.chat_model = chat_model
        self.model_name = model_name
        self.backend = backend
        self.prompt = load_prompt(prompt, "rscore")
        self.name = f"llm:{model_name}"
        self.retries = retries
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.image = image
        self.resolution = resolution
        self.retry_failed = retry_failed
        self.failures = 0
        self.asked = 0
        self._bench: Any = None
        self.cache_path: Path | None = None
        if cache is None or cache is True:
            self.cache_path = default_cache_path(model_name, self.prompt.id)
        elif cache is not False:
            self.cache_path = Path(cache)
        self._cache: JudgeCache | None = None  # opened on first use
        self._memory: dict[str, dict[str, Any]] = {}  # the records when there is no cache file

    # ------------------------------------------------------------------ construction from a spec
    @classmethod
    def from_spec(
        cls,
        spec: str | None,
        *,
        model: str | None = None,
        concurrency: int = 8,
        timeout: float = 300.0,
        api_key: str | None = None,
        device: str = "auto",
        **options: Any,
    ) -> LLMJudge:
        """A judge from ``http(s)://HOST[:PORT][/v1]?model=NAME`` (OpenAI-compatible server) or a local
        checkpoint directory (transformers), through :func:`pixelthink.models.registry.load_chat_model`.
        ``options`` are the constructor's keyword arguments."""
        if not spec:
            raise ValueError(
                "judge 'llm' needs a model: llm:http://HOST:PORT/v1?model=NAME (an OpenAI-compatible server) "
                "or llm:/path/to/checkpoint (a local transformers model)"
            )
        from pixelthink.models.registry import load_chat_model

        chat, name, backend = load_chat_model(
            spec,
            model=model,
            max_new_tokens=int(options.get("max_new_tokens", 256)),
            concurrency=concurrency,
            timeout=timeout,
            api_key=api_key,
            device=device,
        )
        return cls(chat, model_name=name, backend=backend, **options)

    # ------------------------------------------------------------------ report
    def describe(self) -> dict[str, Any]:
        """What the report records about the judge."""
        return {
            "name": self.name,
            "model": self.model_name,
            "backend": self.backend,
            "prompt": self.prompt.describe(),
            "scale": f"RScore = score / {RSCORE_SCALE:g} (the judge answers 0..{RSCORE_SCALE:g})",
            "image": self.image,
            "resolution": self.resolution,
            "temperature": self.temperature,
            "max_new_tokens": self.max_new_tokens,
            "retries": self.retries,
            "cache": None if self.cache_path is None else str(self.cache_path),
            "asked": self.asked,
            "failures": self.failures,
        }

    # ------------------------------------------------------------------ cache
    def _store(self) -> dict[str, dict[str, Any]]:
        if self.cache_path is None:
            return self._memory
        if self._cache is None:
            self._cache = JudgeCache(self.cache_path)
            if self.retry_failed:
                self._cache.drop([k for k, r in self._cache.records.items() if r.get("score") is None])
        return self._cache.records

    def _write(self, key: str, record: dict[str, Any]) -> None:
        if self.cache_path is None:
            self._memory[key] = {"key": key, **record}
        else:
            self._store()
            assert self._cache is not None
            self._cache.write(key, record)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def key(self, reasoning: str, sample: Any) -> str:
        """The cache key of one judged text: a hash of sample id, query, references and reasoning."""
        payload = json.dumps(
            [
                getattr(sample, "id", ""),
                getattr(sample, "query", ""),
                _labelled_references(sample),
                reasoning,
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]

    # ------------------------------------------------------------------ judging
    def _image(self, sample: Any) -> Any:
        if not self.image:
            return None
        if self._bench is None:
            raise ValueError(
                f"judge {self.name}: sends the sample image, so it needs the benchmark: call "
                "prepare(benchmark, items) first (evaluate() does), or build it with image=False"
            )
        from pixelthink.frames import FrameTransform

        image = self._bench.load_image(sample)
        return FrameTransform.for_size(image.size[0], image.size[1], self.resolution).image_to_model(image)

    def prepare(
        self,
        benchmark: Any,
        items: Sequence[tuple[str, Any]],
        *,
        progress: bool = False,
        chunk: int = 64,
    ) -> None:
        """Judge every ``(reasoning, sample)`` not cached yet, ``chunk`` requests at a time (concurrently on
        a server), appending each answer to the cache. ``benchmark`` loads the images."""
        self._bench = benchmark
        store = self._store()
        todo: dict[str, tuple[str, Any]] = {}
        for reasoning, sample in items:
            if not reasoning.strip():
                continue
            key = self.key(reasoning, sample)
            if key not in store:
                todo.setdefault(key, (reasoning, sample))
        from tqdm import tqdm

        keys = list(todo)
        with tqdm(total=len(keys), desc=f"judge {self.model_name}", unit="text", disable=not progress) as bar:
            for start in range(0, len(keys), chunk):
                batch = keys[start : start + chunk]
                self._judge([(k, *todo[k]) for k in batch])
                bar.update(len(batch))

    def _judge(self, batch: Sequence[tuple[str, str, Any]]) -> None:
        images = [self._image(sample) for _key, _reasoning, sample in batch]
        prompts = [
            self.prompt.render(
                query=sample.query,
                references=format_references(_labelled_references(sample)),
                reasoning=reasoning,
            )
            for _key, reasoning, sample in batch
        ]
        results = ask(
            self.chat_model,
            images,
            prompts,
            _parse_score,
            retries=self.retries,
            temperature=self.temperature,
            max_new_tokens=self.max_new_tokens,
        )
        for (key, _reasoning, sample), result in zip(batch, results, strict=True):
            self.asked += 1
            score = None if result.value is None else float(result.value)
            self._write(
                key,
                {
                    "id": sample.id,
                    "score": score,
                    "rscore": None if score is None else score / RSCORE_SCALE,
                    "judge": self.name,
                    "prompt": self.prompt.id,
                    **result.to_record(),
                },
            )

    def score(self, response_think: str, sample: Any) -> float | None:
        """RScore in [0, 1] of one reasoning text, or None when the judge failed on it (recorded)."""
        if not (response_think or "").strip():
            return 0.0
        key = self.key(response_think, sample)
        record = self._store().get(key)
        if record is None:
            self._judge([(key, response_think, sample)])
            record = self._store()[key]
        if record.get("score") is None:
            self.failures += 1
            return None
        return float(record["score"]) / RSCORE_SCALE


def llm_judge_factory(spec: str | None = None, **options: Any) -> LLMJudge:
    """Registry factory of ``llm:SPEC`` (see :meth:`LLMJudge.from_spec`)."""
    return LLMJudge.from_spec(spec, **options)
