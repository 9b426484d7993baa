"""A driving clip's motion on an even clock.

The output is written at one frame rate, one driving frame a tick. A clip whose frames came at a
variable rate (a phone's in low light, a screen recording, a messenger's re-encode) played so
runs ahead where its frames were sparse and behind where they were dense, and drifts from its
own sound: 10 s at 30 fps and 10 s at 15 fps, played at their 22.5 average, put the second half's
words up to 3.3 s late. The same holds for an output rate asked for (`--fps`) that is not the
clip's. Each tick of the output clock shows the frame the clip shows at that moment instead: a
frame repeated where the clip's were sparse, one left out where they were dense.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from ..io.video import is_variable_rate

# an output rate this close (relative) to an even clip's own plays it frame by frame
SAME_RATE = 0.01


def even_clock(times: np.ndarray | None, fps: float) -> np.ndarray | None:
    """(N,) the index of the clip's frame nearest each tick of an even `fps` clock over its span
    (`times`: each decoded frame's time, seconds; its last frame lasts the median interval);
    None where the clip plays frame by frame at `fps` already: its frames evenly spaced at
    that rate, or no usable times (fewer than two, not increasing)."""
    if times is None or len(times) < 2 or fps <= 0:
        return None
    t = np.asarray(times, np.float64)
    intervals = np.diff(t)
    if not (intervals > 0).all():
        return None
    step = float(np.median(intervals))
    if not is_variable_rate(t) and abs(1.0 / step - fps) <= SAME_RATE * fps:
        return None
    ticks = t[0] + np.arange(max(int(round((t[-1] - t[0] + step) * fps)), 1)) / fps
    later = np.clip(np.searchsorted(t, ticks), 1, len(t) - 1)
    return np.where(ticks - t[later - 1] <= t[later] - ticks, later - 1, later)


def frames_on_clock(frames: Iterable[np.ndarray], clock: np.ndarray) -> Iterator[np.ndarray]:
    """The clip's decoded `frames` in `clock`'s order (indices never decreasing: frames repeat or
    are left out); a clip that ends early (damage) repeats its last frame."""
    decoded = enumerate(frames)
    index, frame = -1, None
    for wanted in clock:
        while index < wanted and (following := next(decoded, None)) is not None:
            index, frame = following
        if frame is not None:
            yield frame
