"""Backends chosen by name: the one mechanism behind ``--reasoner``, ``--segmenter`` and ``--judge``.

A :class:`Registry` maps names to :class:`Backend` entries, in the spirit of segment-anything's
``sam_model_registry``: a spec ``"NAME:ARGUMENT"`` (or ``"NAME"``) calls the entry's factory with the
argument, and a registry may recognise specs without a name (a URL, a directory) with its ``detect``
function. Callers ask the registry which backend a spec names (:meth:`Registry.resolve`) instead of
matching spec strings themselves. The registries themselves live next to what they build:
:mod:`pixelthink.models.registry` (reasoners, segmenters) and :mod:`pixelthink.evaluate.judges` (judges).

This module is layer 0: it imports nothing of pixelthink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Backend", "Registry"]


@dataclass(frozen=True)
class Backend:
    """One backend selectable by name.

    Attributes:
        name: the name in specs (``NAME`` / ``NAME:ARGUMENT``).
        syntax: how a user writes it (``"sam:PATH"``), for help texts and error messages.
        summary: one line for listings (``pixelthink segment --list-segmenters``).
        factory: ``factory(argument, **options)``; ``argument`` is None for a bare ``NAME``.
        options: the command-line options the backend takes (``"device"``, ...), so that a command passes
            only those.
    """

    name: str
    syntax: str
    summary: str
    factory: Callable[..., Any]
    options: tuple[str, ...] = ()


class Registry:
    """Backends of one kind (``"segmenter"``, ``"reasoner"``, ``"judge"``) by name.

    Args:
        kind: what the backends build, for messages.
        detect: ``detect(spec) -> (name, argument) | None`` for specs that name no backend (a URL, a path).
    """

    def __init__(self, kind: str, detect: Callable[[str], tuple[str, str] | None] | None = None) -> None:
        self.kind = kind
        self.detect = detect
        self._backends: dict[str, Backend] = {}

    def register(self, backend: Backend) -> Backend:
        """Add ``backend`` (re-registering a name replaces it)."""
        if not backend.name or ":" in backend.name:
            raise ValueError(f"{self.kind} name: expected a non-empty name without ':', got {backend.name!r}")
        self._backends[backend.name] = backend
        return backend

    def unregister(self, name: str) -> None:
        self._backends.pop(name, None)

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._backends.values())

    def __contains__(self, name: object) -> bool:
        return name in self._backends

    def get(self, name: str) -> Backend | None:
        return self._backends.get(name)

    def syntaxes(self) -> str:
        """``'sam:PATH', 'grabcut', 'box'``: the accepted forms, for messages."""
        return ", ".join(repr(b.syntax) for b in self._backends.values())

    def resolve(self, spec: str) -> tuple[Backend, str | None]:
        """The backend a spec names and its argument (None for a bare ``NAME``).

        ``NAME`` and ``NAME:ARGUMENT`` name a registered backend (the name is case-insensitive); any
        other spec goes to ``detect``. Raises ``ValueError`` naming the accepted forms otherwise.
        """
        text = spec.strip()
        name, sep, argument = text.partition(":")
        backend = self._backends.get(name) or self._backends.get(name.lower())
        if backend is not None:
            return backend, argument if sep else None
        detected = self.detect(text) if self.detect is not None else None
        if detected is not None and detected[0] in self._backends:
            return self._backends[detected[0]], detected[1]
        raise ValueError(f"unknown {self.kind} {spec!r}: expected one of {self.syntaxes()}")

    def load(self, spec: str, **options: Any) -> Any:
        """Build the backend ``spec`` names: ``factory(argument, **options)``."""
        backend, argument = self.resolve(spec)
        return backend.factory(argument, **options)
