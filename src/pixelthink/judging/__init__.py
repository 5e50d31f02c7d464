"""LLM judges' plumbing shared by annotation (``pixelthink annotate``) and RScore (``pixelthink eval``).

* :mod:`~pixelthink.judging.templates`: versioned prompt templates (package data in ``prompts/``) and
  ``--prompt FILE`` replacements; :attr:`PromptTemplate.id` goes into cache keys and outputs.
* :mod:`~pixelthink.judging.replies`: lenient parsing of the judge's JSON reply (never raises).
* :mod:`~pixelthink.judging.ask`: ask many questions through a chat model, re-ask failed ones.
* :mod:`~pixelthink.judging.cache`: the resumable, crash-safe JSONL cache of answers.

Layer 0: nothing here imports models, torch or an HTTP client; the chat model is passed in.
"""

from __future__ import annotations

from pixelthink.judging.ask import Asked, ChatModel, ask
from pixelthink.judging.cache import JudgeCache, read_cache_records
from pixelthink.judging.replies import JudgeReply, ReplyField, parse_judge_reply
from pixelthink.judging.templates import BUILTIN_PROMPTS, TASK_FIELDS, PromptTemplate, load_prompt

__all__ = [
    "BUILTIN_PROMPTS",
    "TASK_FIELDS",
    "Asked",
    "ChatModel",
    "JudgeCache",
    "JudgeReply",
    "PromptTemplate",
    "ReplyField",
    "ask",
    "load_prompt",
    "parse_judge_reply",
    "read_cache_records",
]
