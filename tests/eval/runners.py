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
