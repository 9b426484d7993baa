"""Giving freed frame buffers back to the OS during long streams.

A decoded or generated frame is a large block; glibc serves such blocks from its heap once a few
have been freed, and the small per-frame records a run keeps for the whole clip (landmarks,
parameters) pin the heap between them. Freed frames then stay resident and peak memory creeps
with clip length. `release_free_heap` (glibc's malloc_trim) returns those free pages; the video
reader and writer call it every few hundred frames, which costs well under a millisecond each time.
"""

from __future__ import annotations

import ctypes
import sys

TRIM_EVERY = 256  # frames between two trims


def blocks(n: int, size: int) -> list[slice]:
    """Slices of at most `size` covering range(n): a long clip's per-frame algebra runs a block at
    a time, so its working copies stay a few MB however long the clip."""
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]

_libc = None


def release_free_heap() -> None:
    """Return the free pages of the C heap to the OS (glibc only; a no-op elsewhere)."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                _libc = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):  # musl and others: nothing to trim
                pass
    if _libc:
        _libc(0)
