"""Models: torchvision-free processor loading, reasoners (and segmenters).

Light names are imported eagerly (no torch import); the transformers backend and the OpenAI backend
are imported lazily on first attribute access, so ``import pixelthink.models`` is cheap. The tiny
builders live in the miniature wing (:mod:`pixelthink.miniature.model`), the server of ``pixelthink
serve`` in :mod:`pixelthink.serving.openai_server`.
Segmenters live in :mod:`pixelthink.models.segmenters` / :mod:`pixelthink.models.sam` (also lazy here); both
kinds of backend are chosen by name in :mod:`pixelthink.models.registry`.
"""

from __future__ import annotations

import importlib
from typing import Any

from pixelthink.models.reasoners import Generation, Reasoner, count_reasoning_tokens

_LAZY = {
    "TransformersReasoner": "pixelthink.models.reasoner_hf",
    "OpenAIReasoner": "pixelthink.models.reasoner_openai",
    "ReasonerServerError": "pixelthink.models.reasoner_openai",
    "load_processor": "pixelthink.models.processors",
    "processed_image_size": "pixelthink.models.processors",
    "Segmenter": "pixelthink.models.segmenters",
    "load_segmenter": "pixelthink.models.registry",
    "load_reasoner": "pixelthink.models.registry",
    "load_chat_model": "pixelthink.models.registry",
    "list_segmenters": "pixelthink.models.registry",
    "GrabCutSegmenter": "pixelthink.models.segmenters",
    "BoxSegmenter": "pixelthink.models.segmenters",
    "Sam2Segmenter": "pixelthink.models.sam",
    "SamSegmenter": "pixelthink.models.sam",
}

__all__ = [
    "BoxSegmenter",
    "Generation",
    "GrabCutSegmenter",
    "OpenAIReasoner",
    "Reasoner",
    "ReasonerServerError",
    "Sam2Segmenter",
    "SamSegmenter",
    "Segmenter",
    "TransformersReasoner",
    "count_reasoning_tokens",
    "list_segmenters",
    "load_chat_model",
    "load_processor",
    "load_reasoner",
    "load_segmenter",
    "processed_image_size",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pixelthink.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
