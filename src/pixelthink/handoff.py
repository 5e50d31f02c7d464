"""Handing results from worker threads to the consumer's thread: a queue of items closed by :data:`END`,
with a worker's exception carried as :class:`Raised` and re-raised on the consumer's side."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

__all__ = ["END", "Raised", "receive"]

#: put on the queue after the last item
END = object()


class Raised:
    """An exception of a worker thread, put on the queue to be raised in the consumer's thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def receive(channel: queue.Queue[Any]) -> Iterator[Any]:
    """The items put on ``channel`` until :data:`END`; a :class:`Raised` item raises its exception."""
    while True:
        item = channel.get()
        if item is END:
            return
        if isinstance(item, Raised):
            raise item.exc
        yield item
