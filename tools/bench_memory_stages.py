"""Peak memory of each stage of `reenact guidance` (mesh backend) against clip length, in-process.

Finds what grows with the clip: detects the face of a driving clip once, tiles that face track
to each requested length, then runs tracking, alignment and the first frames of rendering +
writing, resetting the kernel's peak-RSS mark (VmHWM, /proc/self/clear_refs) before each stage.
Prints each stage's peak over the RSS it started from and, between the shortest and the longest
length, the growth per frame. Linux only.

    nice python tools/bench_memory_stages.py [--frames 600 5000] [--clip ../shared/data/driving/d11.mp4]
        [--source ../shared/data/source/s1.jpg] [--workdir /tmp/reenact-mem-stages]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reenact.config import load_config  # noqa: E402
from reenact.faces import FaceOptions, FaceTrack, detect_faces, detect_in_file  # noqa: E402
from reenact.faces.detect import for_magicportrait  # noqa: E402
from reenact.geometry.align import AlignOptions, align  # noqa: E402
from reenact.geometry.guidance import GuidanceRenderer  # noqa: E402
from reenact.io.images import read_image  # noqa: E402
from reenact.io.memory import release_free_heap  # noqa: E402
from reenact.render.write import write_guidance  # noqa: E402
from reenact.tracking.base import make_tracker  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def stage(name: str, fn, results: dict):
    """Run fn, recording its peak RSS over the RSS it started from (MB)."""
    gc.collect()
    release_free_heap()
    base = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")   # reset VmHWM to the current RSS
    start = time.perf_counter()
    out = fn()
    results[name] = _status_mb("VmHWM") - base
    print(f"  {name:14s} +{results[name]:6.1f} MB over {base:6.1f} MB  ({time.perf_counter() - start:.1f} s)", flush=True)
    return out


def tiled(track: FaceTrack, n: int) -> FaceTrack:
    reps = -(-n // len(track))

    def tile(a):
        a = np.asarray(a)
        return np.concatenate([a] * reps)[:n] if a.ndim and a.shape[0] == len(track) else a

    return FaceTrack(**{f.name: tile(getattr(track, f.name)) for f in dataclasses.fields(track)})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, nargs="+", default=[600, 5000])
    p.add_argument("--clip", type=Path, default=SHARED / "driving" / "d11.mp4")
    p.add_argument("--source", type=Path, default=SHARED / "source" / "s1.jpg")
    p.add_argument("--render-frames", type=int, default=16, help="frames rendered and written per length")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/reenact-mem-stages"))
    args = p.parse_args()
    if not args.clip.is_file() or not args.source.is_file():
        print(f"need {args.clip} and {args.source} (the shared sample data)", file=sys.stderr)
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    cfg = load_config()
    opts = for_magicportrait(FaceOptions.from_config(cfg.faces), True)
    faces_file = args.workdir / f"faces_{args.clip.stem}.npz"
    if not faces_file.is_file():
        detect_in_file(args.clip, dataclasses.replace(opts, face_index=None), None, None).save(faces_file)
    faces = FaceTrack.load(faces_file)
    image = read_image(args.source, float(cfg.run.max_megapixels))
    tracker = make_tracker("mesh", cfg)
    src = tracker.track(detect_faces([image], 0.0, opts, video=False, source_name=str(args.source)))
    renderer = GuidanceRenderer.from_config(cfg, src.geometry)
    options = dataclasses.replace(AlignOptions.from_config(cfg.align), mode="relative")
    results: dict[int, dict[str, float]] = {}
    for n in args.frames:
        print(f"{n} frames (the {len(faces)}-frame face track of {args.clip.name} tiled):")
        results[n] = {}
        driving = tiled(faces, n)
        drv = stage("track", lambda: tracker.track(driving), results[n])
        aligned = stage("align", lambda: align(src, drv, options), results[n])
        total, batches = renderer.batches(src, aligned)
        out = args.workdir / "maps"
        shutil.rmtree(out, ignore_errors=True)
        keep = itertools.islice(batches, max(1, args.render_frames // renderer.batch_size))
        stage("render+write", lambda: write_guidance(out, keep, total=total, overwrite=True), results[n])
        del driving, drv, aligned, batches
    lo, hi = min(args.frames), max(args.frames)
    if hi > lo:
        print(f"\ngrowth per frame, {lo} -> {hi} frames:")
        for name in results[lo]:
            print(f"  {name:14s} {(results[hi][name] - results[lo][name]) / (hi - lo) * 1024:6.1f} KB/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
