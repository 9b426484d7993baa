"""Items made in a background thread: the source's order, items and errors; an early stop stops it."""

import threading

import pytest

from reenact.io.prefetch import prefetched


def test_items_come_in_order_and_all_of_them():
    assert list(prefetched(range(100), depth=3)) == list(range(100))
    assert list(prefetched([], depth=3)) == []


def test_the_producer_runs_ahead_of_the_consumer():
    made = []
    enough = threading.Event()

    def source():
        for i in range(10):
            made.append(i)
            if len(made) == 4:
                enough.set()
            yield i

    items = prefetched(source(), depth=3)
    assert next(items) == 0
    # with the consumer holding item 0, the thread goes on: 1-3 wait in the queue, 4 in its hand
    assert enough.wait(timeout=10.0)
    assert list(items) == list(range(1, 10))


def test_an_error_while_making_an_item_reaches_the_consumer_at_its_place():
    def source():
        yield 1
        yield 2
        raise ValueError("frame 3 is damaged")

    got = []
    with pytest.raises(ValueError, match="frame 3 is damaged"):
        for item in prefetched(source()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_and_closes_the_source():
    closed = threading.Event()
    made = []

    def source():
        try:
            for i in range(10_000):
                made.append(i)
                yield i
        finally:
            closed.set()                      # a decoder's file, a writer's lock: released

    for item in prefetched(source(), depth=2, name="test-prefetch"):
        if item == 5:
            break
    assert closed.wait(timeout=10.0)
    assert len(made) < 20                     # stopped a few items on, not run to the end
    assert not any(t.name == "test-prefetch" and t.is_alive() for t in threading.enumerate())
