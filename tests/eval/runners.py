"""Fake generators for the evaluation tests: `runner(source, driving, output, max_frames)` writing
outputs whose scores are known. Importable on its own (`--runner tests.eval.runners:copy_driving`)."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_driving(source: Path, driving: Path, output: Path, max_frames) -> None:
    """A perfect self-reenactment: the output is the driving clip itself, byte for byte."""
    shutil.copyfile(driving, output)


def still_source(source: Path, driving: Path, output: Path, max_frames) -> None:
    """A generator that ignores the motion: the source portrait, frozen, for as long as the clip."""
    from reenact.io.images import read_image
    from reenact.io.video import probe_video
    from reenact.io.writer import write_video

    image = read_image(source)
    n = probe_video(driving).frame_count if max_frames is None else min(max_frames, probe_video(driving).frame_count)
    write_video(output, [image] * n, 25.0, crf=12)


# The frame times of a variable-frame-rate clip: 25 a second for 1 s, then one every 120 ms (on the
# writer's 40 ms grid; no 25 fps moment falls halfway between two frames)
VFR_TIMES_MS = [*range(0, 1000, 40), *range(1000, 2000, 120)]


def nearest_moments(source: Path, driving: Path, output: Path, max_frames) -> None:
    """The output reenact makes of a perfect self-reenactment of a clip with VFR_TIMES_MS: at 25
    fps, each frame the clip's frame nearest its moment (2 s: 50 frames of the clip's 34)."""
    import numpy as np

    from reenact.io.video import iter_frames
    from reenact.io.writer import write_video

    frames = list(iter_frames(driving))
    times = np.asarray(VFR_TIMES_MS[:len(frames)], np.float64)
    write_video(output, [frames[int(np.argmin(np.abs(times - 40 * j)))] for j in range(50)], 25.0, crf=4)
