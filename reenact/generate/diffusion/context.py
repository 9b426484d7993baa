"""Context windows: which frames each denoising-UNet call sees, for videos longer than one window.

`size` consecutive frames start every `size - overlap` frames, the same windows at every step (the
official "uniform" schedule at step index 0). Two ways to end the clip:

* open (the default, for clips that do not loop): the last window is moved back so it ends on the
  last frame; no window holds frames from both ends, so the start of a clip never sees its end;
* closed loop (the official behaviour, `closed_loop=True` or `--official`): windows wrap around the
  end, so the last window holds the first frames ([99, 0..10] for 100 frames).

With `stride` > 1 the official schedule adds windows of every 2nd, 4th, ... frame (default off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ContextSettings:
    frames: int = 12
    overlap: int = 1
    stride: int = 1
    closed_loop: bool = False        # True: the official wrap-around windows

    def __post_init__(self) -> None:
        if self.frames < 1 or not 0 <= self.overlap < self.frames or self.stride < 1:
            raise ValueError("context windows need frames >= 1, 0 <= overlap < frames and stride >= 1")


OFFICIAL_CONTEXT = ContextSettings(closed_loop=True)


def uniform_windows(num_frames: int, settings: ContextSettings = ContextSettings()) -> list[list[int]]:
    """Frame indices of each window, in call order; every window has min(num_frames, frames) frames."""
    size = settings.frames
    if num_frames <= size:
        return [list(range(num_frames))]
    levels = min(settings.stride, int(math.ceil(math.log2(num_frames / size))) + 1)
    windows = []
    for level in range(levels):
        step = 1 << level
        span = size * step
        hop = span - settings.overlap
        if settings.closed_loop:
            for start in range(0, num_frames, hop):
                windows.append([i % num_frames for i in range(start, start + span, step)])
            continue
        if span > num_frames:        # a strided level longer than the clip cannot stay inside it
            continue
        starts = list(range(0, num_frames - span + 1, hop))
        if starts[-1] + span < num_frames:
            starts.append(num_frames - span)       # the last window ends on the last frame
        for start in starts:
            windows.append(list(range(start, start + span, step)))
    return windows
