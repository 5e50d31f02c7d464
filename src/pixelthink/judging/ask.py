"""Ask a chat model many questions at once, re-asking those whose reply does not parse.

:func:`ask` sends every (image, prompt) pair through ``chat_model.chat`` (both reasoner backends have it:
:meth:`pixelthink.models.reasoner_openai.OpenAIReasoner.chat` with its concurrency, retries and timeouts,
and :meth:`pixelthink.models.reasoner_hf.TransformersReasoner.chat`), parses each reply, and asks again
only for the items whose reply failed (a request error or a reply the parser refused), up to
``retries`` more times. What failed every time is returned as a failure with the reason of each attempt:
it is recorded, never raised, so one bad sample does not stop a run of thousands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Asked", "ChatModel", "ask"]

#: at most this many characters of a raw reply are kept in a record
MAX_REPLY_CHARS = 4000


@runtime_checkable
class ChatModel(Protocol):
    """Anything that answers free-form prompts: one reply text (or the exception of that request) per item.

    ``images[i]`` is a PIL image sent as it is (no resizing), or None for a text-only request.
    Errors that concern the whole call (server unreachable, unknown model) raise instead.
    """

    def chat(
        self,
        images: Sequence[Any],
        prompts: Sequence[str],
        *,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
    ) -> list[str | Exception]: ...


@dataclass
class Asked:
    """The outcome of one question.

    Attributes:
        value: what the parser returned for the accepted reply (None when every attempt failed).
        reply: the accepted reply, or the last failed one ("" after a request error), at most
            :data:`MAX_REPLY_CHARS` characters.
        errors: why each failed attempt failed, in order.
        attempts: how many times it was asked.
        failure: what the last failed attempt failed at: ``"request"`` (no reply) or ``"reply"`` (a reply
            the parser refused); None when no attempt failed.
    """

    value: Any = None
    reply: str = ""
    errors: list[str] = field(default_factory=list)
    attempts: int = 0
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None

    def to_record(self) -> dict[str, Any]:
        """JSON-ready ``{"ok", "reply", "errors", "attempts"}`` (the value is the caller's to record)."""
        return {"ok": self.ok, "reply": self.reply, "errors": list(self.errors), "attempts": self.attempts}


Parser = Callable[[str], tuple[Any, str | None]]
"""``parse(reply) -> (value, None)`` when the reply is usable, ``(None, reason)`` otherwise; never raises."""


def ask(
    chat_model: ChatModel,
    images: Sequence[Any],
    prompts: Sequence[str],
    parse: Parser | Sequence[Parser],
    *,
    retries: int = 2,
    temperature: float | None = None,
    max_new_tokens: int | None = None,
) -> list[Asked]:
    """Ask every (image, prompt) pair; re-ask the failed ones up to ``retries`` more times.

    Args:
        chat_model: see :class:`ChatModel`.
        images, prompts: the questions (same length; an image may be None for a text-only request).
        parse: one parser for every item, or one per item (see :data:`Parser`).
        retries: extra attempts for an item whose request failed or whose reply did not parse.
        temperature, max_new_tokens: passed to ``chat`` (None: the model's own setting).

    Returns:
        One :class:`Asked` per item, in order.
    """
    n = len(prompts)
    if len(images) != n:
        raise ValueError(f"ask: got {len(images)} images but {n} prompts")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    parsers = [parse] * n if callable(parse) else list(parse)
    if len(parsers) != n:
        raise ValueError(f"ask: got {len(parsers)} parsers for {n} prompts")
    results = [Asked() for _ in range(n)]
    pending = list(range(n))
    for _attempt in range(retries + 1):
        if not pending:
            break
        replies = chat_model.chat(
            [images[i] for i in pending],
            [prompts[i] for i in pending],
            temperature=temperature,
            max_new_tokens=max_new_tokens,
        )
        if len(replies) != len(pending):
            raise RuntimeError(f"chat model returned {len(replies)} replies for {len(pending)} prompts")
        still: list[int] = []
        for i, reply in zip(pending, replies, strict=True):
            result = results[i]
            result.attempts += 1
            if isinstance(reply, BaseException):
                result.errors.append(f"request: {type(reply).__name__}: {reply}"[:500])
                result.failure = "request"
                result.reply = ""
                still.append(i)
                continue
            text = reply if isinstance(reply, str) else str(reply)
            result.reply = text[:MAX_REPLY_CHARS]
            try:
                value, reason = parsers[i](text)
            except Exception as exc:  # a parser must not raise; if one does, the item fails, not the run
                value, reason = None, f"parser error: {type(exc).__name__}: {exc}"
            if value is None:
                result.errors.append(reason or "reply not usable")
                result.failure = "reply"
                still.append(i)
            else:
                result.value = value
        pending = still
    return results
