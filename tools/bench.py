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

    from reenact.cli import DEMO_PORTRAIT
    from reenact.io.images import read_image
    from reenact.io.writer import write_video

    image = read_image(DEMO_PORTRAIT)

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


def bench_end_to_end(clip: Path, source: Path, out_dir: Path, repeats: int) -> tuple[float, dict, int]:
    """The whole warp-engine job, cache off: landmarks, tracking, alignment, warp, H.264 writing."""
    from reenact import Reenactor

    reenactor = Reenactor(engine="warp", overrides=["run.cache=false"])
    times, cpu, stages = [], [], []
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = reenactor.run(source, clip, out_dir / f"e2e{i}.mp4")
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)   # all threads of this process: robust to other jobs
        stages.append(result.timings)
    k = int(np.argsort(times)[len(times) // 2])
    stages[k]["cpu_seconds_median"] = statistics.median(cpu)
    return result.frames / statistics.median(times), stages[k], result.frames


def bench_tracking(clip: Path, repeats: int, flame_files: dict | None) -> list[tuple[str, float, int]]:
    """Landmarks + fitting per backend (the issue-3 target: faster than real time)."""
    from reenact.config import load_config
    from reenact.faces import detect_in_file
    from reenact.tracking import make_tracker

    rows = []
    backends = [("mesh", [])]
    if flame_files:
        backends.append(("flame", [f"flame.model_file={flame_files['model']}",
                                   f"flame.landmark_embedding={flame_files['landmark_embedding']}"]))
    for backend, overrides in backends:
        tracker = make_tracker(backend, load_config(overrides=overrides))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            faces = detect_in_file(clip)
            tracker.track(faces)
            times.append(time.perf_counter() - start)
        rows.append((backend, len(faces) / statistics.median(times), len(faces)))
    return rows


def machine() -> str:
    import torch

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--only", choices=["landmarks", "track", "e2e"], default=None)
    args = ap.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "astronaut_512.mp4", args.frames)
        if args.only in (None, "landmarks"):
            fps, n = bench_landmarks(clip, args.repeats)
            print(f"| landmarks (decode + MediaPipe 478 + crops), 512x512, {n} frames | {fps:.1f} frames/s "
                  f"| median of {args.repeats} |")
        if args.only in (None, "track"):
            # FLAME itself cannot ship; the synthetic FLAME-format test head has the same fitting cost
            from tests.synthetic_head import write_head_once

            for backend, fps, n in bench_tracking(clip, args.repeats, write_head_once(Path(tmp))):
                print(f"| tracking = landmarks + {backend} fit, 512x512, {n} frames | {fps:.1f} frames/s "
                      f"| median of {args.repeats} |")
        if args.only in (None, "e2e"):
            from reenact.cli import DEMO_PORTRAIT

            source = DEMO_PORTRAIT
            fps, stages, n = bench_end_to_end(clip, source, Path(tmp), args.repeats)
            cpu = stages.pop("cpu_seconds_median")
            split = ", ".join(f"{k} {v / n * 1000:.1f} ms" for k, v in stages.items())
            split += f"; CPU time {cpu / n * 1000:.1f} ms/frame ({n / cpu:.1f} frames per CPU-second)"
            print(f"| end to end, warp engine, 512x512 source and driving, {n} frames, cache off | "
                  f"{fps:.1f} frames/s | median of {args.repeats}; per frame: {split} |")


if __name__ == "__main__":
    main()
