"""handoff.py: worker threads hand items to the consumer; a worker's exception is raised on its side."""

from __future__ import annotations

import queue
import threading

import pytest

from pixelthink.handoff import END, Raised, receive


def test_items_until_end_in_order_from_a_worker_thread() -> None:
    channel: queue.Queue = queue.Queue(maxsize=2)  # bounded: the worker waits for the consumer

    def work() -> None:
        for i in range(50):
            channel.put(i)
        channel.put(END)

    t = threading.Thread(target=work)
    t.start()
    assert list(receive(channel)) == list(range(50))
    t.join(timeout=60)
    assert not t.is_alive()


def test_a_workers_exception_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    channel: queue.Queue = queue.Queue()
    for item in (1, 2, Raised(KeyError("boom")), 3):
        channel.put(item)
    got = []
    with pytest.raises(KeyError, match="boom"):
        for item in receive(channel):
            got.append(item)
    assert got == [1, 2] and channel.get_nowait() == 3  # nothing after the exception was consumed
