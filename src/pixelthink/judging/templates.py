"""Versioned prompt templates of the LLM judges (annotation and RScore), and how to load your own.

Each template is a YAML file (the shipped ones are package data in ``pixelthink/judging/prompts/``:
``difficulty.yaml``, ``reference.yaml``, ``rscore.yaml``) with the keys

=============  ============================================================================================
name           short name, e.g. ``difficulty``
task           which job fills it: ``difficulty`` | ``reference`` | ``rscore`` (:data:`TASK_FIELDS`)
version        a version string or integer; bump it whenever the text changes
description    one paragraph: what the prompt asks
fields         documentation of the ``$fields`` the template uses (mapping name -> text)
reply          documentation of the reply the judge must give
template       the text, a :class:`string.Template`: ``$query`` / ``${query}`` are filled in, ``$$`` is a
               literal dollar sign; JSON braces need no escaping
=============  ============================================================================================

:attr:`PromptTemplate.id` (``name@vVERSION+HASH``, HASH = the first 8 hex digits of the SHA-256 of the
template text) goes into every cache key and every output, so an edited template never reuses the
answers of another text, even when its version was not bumped.

Layer 0: imports nothing from pixelthink.
"""

from __future__ import annotations

import hashlib
import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BUILTIN_PROMPTS", "PROMPTS_DIR", "TASK_FIELDS", "PromptTemplate", "load_prompt"]

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"

#: the $fields each task fills (a template may use any subset, nothing else)
TASK_FIELDS: dict[str, frozenset[str]] = {
    "difficulty": frozenset({"query", "target", "width", "height", "is_sentence"}),
    "reference": frozenset({"query", "target", "width", "height", "words", "style"}),
    "rscore": frozenset({"query", "references", "reasoning"}),
}

#: shipped template of each task (``src/pixelthink.judging/<name>.yaml``)
BUILTIN_PROMPTS: dict[str, str] = {"difficulty": "difficulty", "reference": "reference", "rscore": "rscore"}


@dataclass(frozen=True)
class PromptTemplate:
    """One loaded prompt template (see the module docstring for the file format).

    Attributes:
        name, task, version, description: from the file.
        text: the template text (``string.Template`` syntax).
        source: where it came from (``builtin:NAME`` or the file path).
        fields: documentation of the fields, from the file.
    """

    name: str
    task: str
    version: str
    text: str
    source: str
    description: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """First 8 hex digits of the SHA-256 of the template text."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:8]

    @property
    def id(self) -> str:
        """``name@vVERSION+HASH``: what cache keys and reports record."""
        return f"{self.name}@v{self.version}+{self.digest}"

    def placeholders(self) -> set[str]:
        """The ``$fields`` used by the text."""
        found: set[str] = set()
        for match in string.Template.pattern.finditer(self.text):
            name = match.group("named") or match.group("braced")
            if name:
                found.add(name)
            elif match.group("invalid") is not None:
                line = self.text[: match.start()].count("\n") + 1
                raise ValueError(
                    f"{self.source}: template line {line}: a '$' that starts no field (write $$ for a "
                    "literal dollar sign)"
                )
        return found

    def render(self, **values: Any) -> str:
        """The text with every ``$field`` replaced by ``str(value)``.

        Raises:
            ValueError: a field the template uses has no value (message names the template's source).
        """
        missing = sorted(self.placeholders() - set(values))
        if missing:
            raise ValueError(f"{self.source}: no value for template field(s) {missing}")
        return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})

    def describe(self) -> dict[str, Any]:
        """``{"id", "name", "version", "digest", "source"}`` for reports and cache headers."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "source": self.source,
        }


def _from_mapping(data: Any, source: str, task: str | None) -> PromptTemplate:
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a YAML mapping with name, task, version and template")
    for key in ("name", "task", "version", "template"):
        if key not in data or data[key] is None or data[key] == "":
            raise ValueError(f"{source}: field '{key}': missing")
    name, file_task, version, text = data["name"], data["task"], data["version"], data["template"]
    if not isinstance(name, str) or not isinstance(text, str):
        raise ValueError(f"{source}: fields 'name' and 'template' must be strings")
    if isinstance(version, bool) or not isinstance(version, str | int | float):
        raise ValueError(f"{source}: field 'version': expected a string or a number, got {version!r}")
    if file_task not in TASK_FIELDS:
        raise ValueError(f"{source}: field 'task': expected one of {sorted(TASK_FIELDS)}, got {file_task!r}")
    if task is not None and file_task != task:
        raise ValueError(f"{source}: a {file_task!r} prompt, but this job needs a {task!r} prompt")
    fields = data.get("fields") or {}
    if not isinstance(fields, Mapping):
        raise ValueError(f"{source}: field 'fields': expected a mapping of field name -> description")
    template = PromptTemplate(
        name=name,
        task=str(file_task),
        version=str(version),
        text=text,
        source=source,
        description=str(data.get("description") or ""),
        fields={str(k): str(v) for k, v in fields.items()},
    )
    unknown = sorted(template.placeholders() - TASK_FIELDS[template.task])
    if unknown:
        raise ValueError(
            f"{source}: template uses unknown field(s) {['$' + u for u in unknown]}; the {template.task} task "
            f"fills {sorted('$' + f for f in TASK_FIELDS[template.task])} (write $$ for a literal dollar sign)"
        )
    return template


def load_prompt(spec: str | os.PathLike[str] | None, task: str) -> PromptTemplate:
    """Load a prompt template for ``task``.

    Args:
        spec: None (the shipped template of ``task``), the name of a shipped template, or the path of a
            YAML file in the format above.
        task: ``difficulty`` | ``reference`` | ``rscore``; the file's ``task`` must match.

    Raises:
        FileNotFoundError: no such file. ValueError: invalid YAML, a missing key, a task mismatch or a
            ``$field`` the task does not fill (messages name the file).
    """
    import yaml

    if task not in TASK_FIELDS:
        raise ValueError(f"prompt task: expected one of {sorted(TASK_FIELDS)}, got {task!r}")
    if spec is None:
        spec = BUILTIN_PROMPTS[task]
    text_spec = str(spec)
    if text_spec in BUILTIN_PROMPTS.values() and not Path(text_spec).exists():
        path, source = PROMPTS_DIR / f"{text_spec}.yaml", f"builtin:{text_spec}"
    else:
        path, source = Path(spec), str(spec)
        if not path.is_file():
            raise FileNotFoundError(
                f"prompt {text_spec!r}: no such file (expected a YAML prompt file or one of "
                f"{sorted(BUILTIN_PROMPTS.values())})"
            )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from None
    return _from_mapping(data, source, task)
