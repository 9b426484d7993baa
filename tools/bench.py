#!/usr/bin/env python
"""Stage benchmarks on this machine: median of several runs, printed as Markdown rows for BENCHMARKS.md.

    python tools/bench.py [--repeats 5] [--frames 120] [--only landmarks]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_clip(path: Path, frames: int) -> Path:
    """A 512x512 clip of the public-domain astronaut portrait swaying and nodding."""
    import cv2
    from skimage import data

    from reenact.io.writer import write_video

    image = data.astronaut()

    def gen():
        for t in range(frames):
            m = cv2.getRotationMatrix2D((256, 200), 8 * np.sin(t / 9), 1 + 0.05 * np.sin(t / 13))
            m[:, 2] += (10 * np.sin(t / 7), 6 * np.cos(t / 11))
            yield cv2.warpAffine(image, m, (512, 512), borderMode=cv2.BORDER_REFLECT)

    return write_video(path, gen(), fps=25, crf=18)


def bench_landmarks(clip: Path, repeats: int) -> tuple[float, int]:
    from reenact.faces import detect_in_file

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        track = detect_in_file(clip)
        times.append(time.perf_counter() - start)
    return len(track) / statistics.median(times), len(track)


def machine() -> str:
    import torch

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--only", choices=["landmarks"], default=None)
    args = ap.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "astronaut_512.mp4", args.frames)
        fps, n = bench_landmarks(clip, args.repeats)
        print(f"| landmarks (decode + MediaPipe 478 + crops), 512x512, {n} frames | {fps:.1f} frames/s "
              f"| median of {args.repeats} |")


if __name__ == "__main__":
    main()
