"""Reasoners and segmenters by name: the registries behind ``--reasoner`` and ``--segmenter``.

:data:`REASONERS` (:func:`load_reasoner`):

- ``PATH``: a local checkpoint directory -> :class:`~pixelthink.models.reasoner_hf.TransformersReasoner`;
- ``http(s)://HOST[:PORT][/v1][?model=NAME]`` -> :class:`~pixelthink.models.reasoner_openai.OpenAIReasoner`.

:data:`SEGMENTERS` (:func:`load_segmenter`):

- ``sam:PATH`` (or the bare ``PATH`` of a directory): any promptable SAM-family checkpoint in transformers'
  format, its family read from ``config.json`` (:data:`pixelthink.models.sam.FAMILIES`: SAM, SAM-HQ,
  SAM2 / SAM2.1, SAM 3 tracker; EdgeTAM is recognised and refused with the reason);
- ``sam2:PATH``: SAM2 / SAM2.1 checkpoints only;
- ``grabcut``: :class:`~pixelthink.models.segmenters.GrabCutSegmenter` (no weights);
- ``box``: :class:`~pixelthink.models.segmenters.BoxSegmenter` (the box itself, a lower bound).

This module is the only one that imports the backends' modules, so the interfaces
(:mod:`~pixelthink.models.reasoners`, :mod:`~pixelthink.models.segmenters`) and the backends importing
them form no circle. Backends load lazily (torch, transformers and HTTP clients on first use).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pixelthink.backends import Backend, Registry
from pixelthink.models.reasoners import Reasoner, parse_openai_spec, resolve_resolution
from pixelthink.models.segmenters import BoxSegmenter, GrabCutSegmenter, Segmenter

__all__ = [
    "REASONERS",
    "SEGMENTERS",
    "list_segmenters",
    "load_chat_model",
    "load_reasoner",
    "load_segmenter",
    "reasoner_backend",
]

_HTTP = re.compile(r"^https?://", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------ segmenters
def _make_sam(arg: str | None, **options: Any) -> Segmenter:
    if not arg:
        raise ValueError("segmenter 'sam' needs a model directory: 'sam:PATH'")
    from pixelthink.models.sam import SamSegmenter

    return SamSegmenter.from_pretrained(arg, **options)


def _make_sam2(arg: str | None, **options: Any) -> Segmenter:
    if not arg:
        raise ValueError("segmenter 'sam2' needs a model directory: 'sam2:PATH'")
    from pixelthink.models.sam import Sam2Segmenter

    return Sam2Segmenter.from_pretrained(arg, **options)


def _make_grabcut(arg: str | None, **options: Any) -> Segmenter:
    if arg:
        raise ValueError(f"segmenter 'grabcut' takes no argument, got 'grabcut:{arg}'")
    return GrabCutSegmenter(**options)


def _make_box(arg: str | None, **options: Any) -> Segmenter:
    if arg:
        raise ValueError(f"segmenter 'box' takes no argument, got 'box:{arg}'")
    if options:
        raise ValueError(f"segmenter 'box' takes no options, got {sorted(options)}")
    return BoxSegmenter()


def _detect_segmenter(spec: str) -> tuple[str, str] | None:
    """A bare directory is ``sam:PATH`` (its ``config.json`` says which family)."""
    return ("sam", spec) if Path(spec).expanduser().is_dir() else None


SEGMENTERS = Registry("segmenter", detect=_detect_segmenter)
"""Segmenters by name (see the module docstring)."""
for _backend in (
    Backend("sam", "sam:PATH", "any promptable SAM-family checkpoint (transformers format; family from its "
            "config.json: SAM, SAM-HQ, SAM2 / SAM2.1, SAM 3 tracker); a bare PATH is the same", _make_sam,
            ("device",)),
    Backend("sam2", "sam2:PATH", "a SAM2 / SAM2.1 checkpoint only", _make_sam2, ("device",)),
    Backend("grabcut", "grabcut", "OpenCV GrabCut seeded by the box and points (no weights)", _make_grabcut),
    Backend("box", "box", "the box itself as the mask (a lower bound)", _make_box),
):  # fmt: skip
    SEGMENTERS.register(_backend)


def load_segmenter(spec: str, **options: Any) -> Segmenter:
    """Build a segmenter from ``"sam:PATH"`` (or a bare directory), ``"sam2:PATH"``, ``"grabcut"`` or
    ``"box"``; ``options`` go to its constructor (``device=`` for the SAM family).

    Raises ``ValueError`` naming the valid specs for an unknown name.
    """
    return SEGMENTERS.load(spec, **options)


def list_segmenters(roots: Sequence[str | Path] = ()) -> list[dict[str, Any]]:
    """What ``--segmenter`` accepts: one row per backend and per SAM family, then the SAM-family checkpoints
    found under ``roots`` (directories, searched two levels deep; only ``config.json`` files are read).

    Rows: ``{"spec", "kind": "backend" | "family" | "checkpoint", "title", "available", "note"}``.
    """
    from pixelthink.models.sam import FAMILIES, find_checkpoints

    rows: list[dict[str, Any]] = [
        {"spec": b.syntax, "kind": "backend", "title": b.name, "available": True, "note": b.summary}
        for b in SEGMENTERS
    ]
    for family in FAMILIES.values():
        rows.append({
            "spec": "sam:PATH", "kind": "family", "title": family.title, "available": family.unavailable is None,
            "note": f"config.json model_type {' | '.join(family.model_types)}"
            + ("" if family.unavailable is None else f"; not available: {family.unavailable}"),
        })  # fmt: skip
    for path, family in find_checkpoints(roots):
        rows.append({
            "spec": f"sam:{path}", "kind": "checkpoint", "title": family.title,
            "available": family.unavailable is None, "note": f"{family.name} family",
        })  # fmt: skip
    return rows


# ------------------------------------------------------------------------------------------------ reasoners
def _make_transformers(arg: str | None, **options: Any) -> Reasoner:
    spec = arg or ""
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"reasoner {spec!r}: no such directory (expected a local checkpoint directory or "
            "http(s)://HOST:PORT/v1?model=NAME)"
        )
    if not path.is_dir():
        raise FileNotFoundError(f"reasoner {spec!r}: is a file; expected a checkpoint directory")
    from pixelthink.models.reasoner_hf import TransformersReasoner

    return TransformersReasoner.from_pretrained(path, **options)


def _make_openai(arg: str | None, **options: Any) -> Reasoner:
    from pixelthink.models.reasoner_openai import OpenAIReasoner

    spec = arg or ""
    base_url, name = parse_openai_spec(spec, options.pop("model", None))
    if "resolution" in options:  # "auto": Seg-Zero's frame for a server's model
        options["resolution"] = resolve_resolution(spec, options["resolution"])
    return OpenAIReasoner(base_url, name, **options)


def _detect_reasoner(spec: str) -> tuple[str, str]:
    return ("openai", spec) if _HTTP.match(spec) else ("transformers", spec)


REASONERS = Registry("reasoner", detect=_detect_reasoner)
"""Reasoners: a URL is an OpenAI-compatible server, anything else a local checkpoint directory."""
REASONERS.register(Backend(
    "transformers", "PATH", "local checkpoint directory (Qwen2.5-VL / Qwen3-VL, transformers)", _make_transformers,
    ("device", "answer_frame", "batch_size"),
))  # fmt: skip
REASONERS.register(Backend(
    "openai", "http(s)://HOST:PORT/v1[?model=NAME]", "OpenAI-compatible server (vLLM, SGLang, pixelthink serve)",
    _make_openai, ("model", "max_retries", "api_key", "concurrency"),
))  # fmt: skip


def reasoner_backend(spec: str) -> str:
    """``"openai"`` for a server URL, ``"transformers"`` for a local directory."""
    return REASONERS.resolve(spec)[0].name


def load_reasoner(spec: str, **options: Any) -> Reasoner:
    """Build a reasoner from a spec string.

    Args:
        spec: a local checkpoint directory -> :class:`TransformersReasoner`;
            ``http(s)://HOST[:PORT][/v1][?model=NAME]`` -> :class:`OpenAIReasoner`.
        **options: keyword arguments of ``TransformersReasoner.from_pretrained`` or ``OpenAIReasoner``
            (for a URL, ``model=NAME`` may replace the ``?model=`` query). ``resolution="auto"``
            means the checkpoint's training resolution (local) or 840 (URL). ``prompt_preset`` (a name
            of :data:`pixelthink.answer.PROMPT_PRESETS`) appends its sentence to the prompt template
            the reasoner uses (the checkpoint's own, or the one given), then ``prompt_suffix`` (text).

    Raises:
        FileNotFoundError: ``spec`` is neither a URL nor an existing directory.
        ValueError: a URL without a model name.
    """
    from pixelthink.answer import apply_prompt_preset

    preset = options.pop("prompt_preset", "default")
    suffix = str(options.pop("prompt_suffix", "") or "").replace("{", "{{").replace("}", "}}")
    apply_prompt_preset("", preset)  # an unknown name fails before a model is loaded
    reasoner = REASONERS.load(spec, **options)
    reasoner.prompt_template = apply_prompt_preset(reasoner.prompt_template, preset) + suffix
    return reasoner


def load_chat_model(
    spec: str,
    *,
    model: str | None = None,
    max_new_tokens: int = 1024,
    concurrency: int = 8,
    timeout: float = 300.0,
    max_retries: int = 4,
    api_key: str | None = None,
    device: str = "auto",
    batch_size: int = 8,
) -> tuple[Any, str, str]:
    """A chat model for LLM judges: ``(model, name, backend)``, where ``model.chat(images, prompts, ...)``
    answers free-form prompts (:meth:`OpenAIReasoner.chat` / :meth:`TransformersReasoner.chat`).

    Args:
        spec: ``http(s)://HOST[:PORT][/v1][?model=NAME]`` (an OpenAI-compatible server: requests run
            ``concurrency`` at a time with retries and ``timeout``) or a local checkpoint directory.
        model: the served model's name (wins over ``?model=``); for a local directory, only a label.
        max_new_tokens: default reply length (``chat`` may override it per call).

    Returns:
        The chat model, its name (the served model, or the directory name) and its backend (the base URL
        or the directory).
    """
    if reasoner_backend(spec) == "openai":
        base_url, name = parse_openai_spec(spec, model)
        chat = load_reasoner(
            base_url,
            model=name,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
            max_new_tokens=max_new_tokens,
            top_logprobs=0,
            api_key=api_key,
        )
        return chat, name, base_url
    chat = load_reasoner(spec, max_new_tokens=max_new_tokens, device=device, batch_size=batch_size)
    return chat, model or Path(spec).expanduser().name, str(spec)
