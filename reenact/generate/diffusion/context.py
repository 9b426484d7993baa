"""Context windows: which frames each denoising-UNet call sees, for videos longer than one window.

The official pipeline uses the "uniform" schedule at step index 0 for every step, so the windows are
the same at all steps: `size` consecutive frames starting every `size - overlap` frames, wrapping
around the end of the clip when `closed_loop` is on (the last window then holds the first frames).
With `stride` > 1 it adds windows of every 2nd, 4th, ... frame (the official option, default off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ContextSettings:
    frames: int = 12
    overlap: int = 1
    stride: int = 1
    closed_loop: bool = True

    def __post_init__(self) -> None:
        if self.frames < 1 or not 0 <= self.overlap < self.frames or self.stride < 1:
            raise ValueError("context windows need frames >= 1, 0 <= overlap < frames and stride >= 1")


def uniform_windows(num_frames: int, settings: ContextSettings = ContextSettings()) -> list[list[int]]:
    """Frame indices of each window, in call order."""
    size = settings.frames
    if num_frames <= size:
        return [list(range(num_frames))]
    levels = min(settings.stride, int(math.ceil(math.log2(num_frames / size))) + 1)
    windows = []
    for level in range(levels):
        step = 1 << level
        end = num_frames if settings.closed_loop else num_frames - settings.overlap
        for start in range(0, end, size * step - settings.overlap):
            windows.append([i % num_frames for i in range(start, start + size * step, step)])
    return windows
