"""Benchmark the tracker backends: fitting frames per second, from synthetic landmarks.

Measures fitting only (the face stage's landmark time is measured separately): a 512 px clip of
the synthetic test head (tools/make_test_head.py) moving, talking and turning, with 1 px noise,
tracked by each backend several times; prints the median. The FLAME fit's cost depends on the
number of landmarks, not on the mesh size (landmarks are precomputed linear maps), so the test
head times the real FLAME fit too. The dense case uses SMIRK's 105-point MediaPipe embedding.

    python tools/bench_tracking.py [--frames 250] [--runs 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.benchlib import cpu_name  # noqa: E402

from reenact.flame.head import FlameHead  # noqa: E402
from reenact.flame.landmarks import MediaPipeEmbedding  # noqa: E402
from reenact.tracking.flame_tracker import FlameFitSettings, FlameTracker  # noqa: E402
from reenact.tracking.mesh_tracker import MeshTracker  # noqa: E402
from tests.synthetic_head import load_head, make_face_track, random_motion, write_head_once  # noqa: E402

# SMIRK's mediapipe_landmark_embedding.npz landmark_indices (see shared docs, guidance-maps.md section 9).
SMIRK_105 = [276, 282, 283, 285, 293, 295, 296, 300, 334, 336, 46, 52, 53, 55, 63, 65, 66, 70, 105, 107, 249, 263,
             362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466, 7, 33, 133, 144, 145, 153, 154,
             155, 157, 158, 159, 160, 161, 163, 173, 246, 168, 6, 197, 195, 5, 4, 129, 98, 97, 2, 326, 327, 358, 0,
             13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267, 269, 270,
             291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415]




def with_smirk_subset(head: FlameHead) -> FlameHead:
    mp = head.mediapipe
    keep = np.isin(mp.landmark_indices, SMIRK_105)
    return FlameHead(head.model, head.landmarks,
                     MediaPipeEmbedding(mp.faces[keep], mp.bary[keep], mp.landmark_indices[keep], "SMIRK 105 subset"))


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up: imports, allocator, first-call overheads
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=250, help="clip length (250 = 10 s at 25 fps)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        head = load_head(write_head_once(Path(tmp)))
    face_track, _ = make_face_track(head, random_motion(args.frames, seed=11), noise_px=1.0, seed=11)
    cases = {
        "flame, 68 landmarks": FlameTracker(head, FlameFitSettings(use_dense=False, device=args.device)),
        "flame, 68 + 105 dense": FlameTracker(with_smirk_subset(head), FlameFitSettings(device=args.device)),
        "mesh (MediaPipe, no FLAME)": MeshTracker(),
    }
    print(f"{args.frames} frames, 512 px crop, {args.runs} runs after a warm-up; {cpu_name()}, "
          f"{torch.get_num_threads()} torch threads available, torch {torch.__version__}, "
          f"device {args.device}")
    print("| backend | median fps | min-max fps | median s/clip |")
    print("|---|---|---|---|")
    for name, tracker in cases.items():
        times = timed(lambda t=tracker: t.track(face_track), args.runs)
        fps = [args.frames / t for t in times]
        print(f"| {name} | {statistics.median(fps):.0f} | {min(fps):.0f}-{max(fps):.0f} | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
