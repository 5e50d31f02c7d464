"""Short and long reference reasoning chains from an MLLM (``pixelthink annotate references``).

Per sample the judge is asked twice (prompt ``reference``, :mod:`pixelthink.judging.templates`): once for a
short chain (about ``short_words`` words: the decisive fact) and once for a long one (about
``long_words`` words: the relevant objects, the comparison, the conclusion), each ending in the PixelThink
answer ``<think>...</think><answer>{"bbox": ..., "points_1": ..., "points_2": ...}</answer>`` in pixels of
the image it was sent. A chain is kept only when

1. the reply has a non-empty ``<think>`` block (:func:`pixelthink.answer.extract_think`),
2. its length is within ``length_tolerance`` times the target (between ``words / tolerance`` and
   ``words * tolerance`` whitespace words), and
3. the answer's box hits the target (:func:`~pixelthink.annotate.difficulty.hits_target`: the reward's IoU
   term, box IoU > 0.5, strict JSON answer as the reward reads it);

otherwise it is asked again (sampled at ``temperature``, so a retry can differ), up to ``retries`` more
times, then recorded as a failure with the reason of each attempt. The think text is stored as
``reasoning_short`` / ``reasoning_long``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pixelthink.annotate.difficulty import hits_target
from pixelthink.annotate.records import failed_record
from pixelthink.annotate.run import job_key
from pixelthink.annotate.view import ask_about_samples
from pixelthink.answer import extract_think
from pixelthink.data.format import Benchmark, Sample
from pixelthink.judging import load_prompt
from pixelthink.judging.ask import ChatModel

__all__ = ["STYLES", "JudgeReferences", "check_reference"]

#: the ``$style`` text of each chain
STYLES: dict[str, str] = {
    "short": "only the decisive fact that singles out the target, in one or two sentences.",
    "long": "describe the relevant objects in the image, compare the candidates the query could mean, "
    "and conclude which one is the target and why.",
}


def check_reference(
    reply: str, sample: Sample, frame: Any, *, words: int, tolerance: float
) -> tuple[str | None, str | None]:
    """``(think text, None)`` when ``reply`` is an acceptable reference for ``sample``, else ``(None, reason)``.

    ``frame`` maps the original image to the image the judge saw (its answer's frame).
    """
    think = extract_think(reply)
    if not think:
        return None, "format: no <think>...</think> text"
    n = len(think.split())
    if n > words * tolerance or n < words / tolerance:
        return (
            None,
            f"length: {n} words, target {words} (accepted {words / tolerance:.0f}..{words * tolerance:.0f})",
        )
    if not hits_target(reply, sample, frame):
        return None, "answer: the box does not hit the target (box IoU <= 0.5, or no strict JSON bbox)"
    return think, None


class JudgeReferences:
    """Reference chains from an MLLM (see the module docstring).

    Args:
        chat_model: the judge (``chat(images, prompts, ...)``; both reasoner backends).
        model_name: its name (cache key, outputs).
        prompt: a prompt file, a shipped prompt name, or None (``reference``).
        short_words, long_words: length targets in words.
        length_tolerance: accepted length factor around the target (>= 1).
        retries: re-asks of a rejected chain.
        temperature, max_new_tokens: the judge's decoding (> 0 so that a retry can give another chain).
        resolution, show_target: the judge's view (:func:`pixelthink.annotate.view.judge_view`).
    """

    task = "references"

    def __init__(
        self,
        chat_model: ChatModel,
        *,
        model_name: str,
        backend: str = "",
        prompt: str | None = None,
        short_words: int = 25,
        long_words: int = 100,
        length_tolerance: float = 2.0,
        retries: int = 3,
        temperature: float = 0.7,
        max_new_tokens: int = 1024,
        resolution: int | tuple[int, int] | None = 840,
        show_target: str = "both",
    ) -> None:
        if short_words < 1 or long_words < 1:
            raise ValueError(f"length targets must be >= 1 word, got {short_words} and {long_words}")
        if length_tolerance < 1:
            raise ValueError(f"length_tolerance must be >= 1, got {length_tolerance}")
        self.chat_model = chat_model
        self.prompt = load_prompt(prompt, "reference")
        self.words = {"short": short_words, "long": long_words}
        self.length_tolerance = length_tolerance
        self.retries = retries
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.resolution = resolution
        self.show_target = show_target
        answers = {
            "short_words": short_words,
            "long_words": long_words,
            "length_tolerance": length_tolerance,
            "temperature": temperature,
            "max_new_tokens": max_new_tokens,
            "resolution": resolution,
            "show_target": show_target,
        }
        self.settings: dict[str, Any] = {
            "method": "judge",
            "judge": model_name,
            "backend": backend,
            "prompt": self.prompt.describe(),
            "retries": retries,
            **answers,
        }
        self.key = job_key("judge", model_name, self.prompt.id, settings=answers)

    def _questions(self, sample: Sample, view: Any) -> list[Any] | dict[str, Any]:
        if sample.bbox is None or len(sample.points) != 2:
            return failed_record("target", ["target: empty mask"])
        questions = []
        for kind in ("short", "long"):
            words = self.words[kind]
            prompt = self.prompt.render(
                query=sample.query,
                target=view.target,
                width=view.width,
                height=view.height,
                words=words,
                style=STYLES[kind],
            )

            def parse(reply: str, words: int = words) -> tuple[str | None, str | None]:
                return check_reference(
                    reply, sample, view.frame, words=words, tolerance=self.length_tolerance
                )

            questions.append((prompt, parse))
        return questions

    def annotate(self, samples: Sequence[Sample], bench: Benchmark) -> list[dict[str, Any]]:
        answers = ask_about_samples(
            self.chat_model,
            samples,
            bench,
            self._questions,
            resolution=self.resolution,
            show_target=self.show_target,
            retries=self.retries,
            temperature=self.temperature,
            max_new_tokens=self.max_new_tokens,
        )
        out: list[dict[str, Any]] = []
        for answer in answers:
            if isinstance(answer, dict):
                out.append(answer)
                continue
            short, long = answer
            entry: dict[str, Any] = {"judge": self.settings["judge"], "prompt": self.prompt.id}
            errors: list[str] = []
            for kind, result in (("short", short), ("long", long)):
                entry[f"reasoning_{kind}"] = result.value
                entry[kind] = result.to_record()
                errors.extend(f"{kind}: {e}" for e in result.errors if not result.ok)
            entry["status"] = "ok" if short.ok and long.ok else "failed"
            if not (short.ok and long.ok):  # what the first failed question failed at
                entry["failure"] = next(r.failure for r in (short, long) if not r.ok) or "reply"
            if errors:
                entry["errors"] = errors
            out.append(entry)
        return out
