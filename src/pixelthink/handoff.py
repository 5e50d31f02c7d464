"""Handing results from worker threads to the consumer's thread: a queue of items closed by :data:`END`,
with a worker's exception carried as :class:`Raised` and re-raised on the consumer's side; and how many
workers this process may run (:func:`usable_cores`)."""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from typing import Any

__all__ = ["END", "SEG_WORKERS_PER_CORE", "Raised", "max_seg_workers", "receive", "usable_cores"]

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


#: Most segmentation processes per usable core that the streaming runner starts (a mistyped
#: ``--seg-workers 100000`` would otherwise spawn that many processes, each importing numpy and OpenCV).
SEG_WORKERS_PER_CORE = 4


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. under ``taskset``)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def max_seg_workers() -> int:
    """The most segmentation processes a run may start: :data:`SEG_WORKERS_PER_CORE` per usable core."""
    return SEG_WORKERS_PER_CORE * usable_cores()
