"""An iterator's items made in a background thread, a few ahead of the loop that takes them.

Decoding video (FFmpeg), MediaPipe, the warp's OpenCV calls and x264 all release the GIL for most
of their work, yet each stage ran them one after the other on one core of the 2-core machine: the
end-to-end run used 1.1 cores. Three places overlap now: decoding a driving clip with MediaPipe
reading the frames before (faces/detect.py), decoding it again with the generator using the frames
before (the warp engine's mouth interiors, generate/warp.py), and making the output frames with
encoding the ones before (pipeline.py).

Order, items and errors are the source's: an exception raised while making an item is raised by
the consumer when it reaches that place. A consumer that stops early (a `break`, an error, Ctrl-C)
stops the producer after the item it is on, and the source is closed in the producer's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

DEPTH = 4             # items made ahead: a few frames (each at most the 8.3 MP output's 25 MB)
_POLL = 0.1           # seconds between looks at the stop flag while the queue is full
_JOIN = 2.0           # seconds a stopped consumer waits for the producer to finish its item


class _Raised:
    """The exception that ended the source, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def prefetched(items: Iterable[T], depth: int = DEPTH, name: str = "prefetch") -> Iterator[T]:
    """`items`, made up to `depth` ahead in a daemon thread called `name`."""
    ahead: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        end: object = _END
        try:
            for item in source:
                if not put(item):
                    break
        except BaseException as error:   # carried to the consumer, which raises it
            end = _Raised(error)
        finally:
            close = getattr(source, "close", None)
            if stop.is_set() and close is not None:
                close()                  # a generator is closed in the thread that runs it
        put(end)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = ahead.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=_JOIN)
